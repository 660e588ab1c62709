//! The quota section of a project's page: the usage bars, where the limits come from, and
//! for global admins the choice of a template or custom limits.

use super::{
    bars::UsageBars,
    limits::{limit_error, LimitsFields},
};
use crate::resource::wire_resource;
use crate::{
    projects::ui::other_message,
    quotas::{
        api::{get_project_quota, list_quota_templates, set_project_quota},
        types::{LimitsForm, ProjectQuota, QuotaChoice},
    },
    AppError,
};
use leptos::{lazy, prelude::*};

/// Where a quota's limits come from, in words.
fn source_text(quota: &ProjectQuota) -> String {
    match &quota.template {
        None => "Custom limits".to_owned(),
        Some(template) if template.current => format!("Template {}", template.name),
        Some(template) => format!(
            "Template {}, changed since: its new limits are not applied to this project",
            template.name
        ),
    }
}

/// The value of the choice that stands for custom limits; template ids are UUIDs.
const CUSTOM: &str = "custom";

/// The project's quota and usage; `admin` (a global admin) may change the quota.
#[component]
pub fn ProjectQuotaSection(slug: String, admin: bool) -> impl IntoView {
    let saved = RwSignal::new(0u32);
    let editing = RwSignal::new(false);
    let quota = wire_resource(
        move || (slug.clone(), saved.get()),
        |(slug, _)| get_project_quota(slug),
    );
    view! {
        <section class="card" aria-labelledby="quota-heading" data-testid="project-quota">
            <h2 id="quota-heading">"Quota"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading the quota…"</p> }>
                {move || Suspend::new(async move {
                    let quota = match quota.await {
                        Ok(quota) => quota,
                        Err(error) => return view! {
                            <p class="form-error">{format!("The quota could not be loaded: {error}")}</p>
                        }.into_any(),
                    };
                    let over = quota.over_quota().then(|| view! {
                        <p class="notice quota-over" role="status">
                            "This project is over its quota: nothing is deleted, but it cannot grow until its usage is back within the limits."
                        </p>
                    });
                    view! {
                        <p id="quota-source">{source_text(&quota)}</p>
                        {over}
                        <UsageBars quota=quota.clone() />
                        {admin.then(|| view! { <EditorToggle quota saved editing /> })}
                    }.into_any()
                })}
            </Transition>
        </section>
    }
}

/// The button that opens the editor. The editor's code is fetched at the first click: only
/// global admins use it, so it stays out of the main bundle.
#[component]
fn EditorToggle(
    quota: ProjectQuota,
    saved: RwSignal<u32>,
    editing: RwSignal<bool>,
) -> impl IntoView {
    view! {
        <button type="button" class="small quota-edit" aria-expanded=move || editing.get().to_string()
            on:click=move |_| editing.update(|open| *open = !*open)>
            "Change the quota"
        </button>
        {move || editing.get().then(|| {
            let quota = quota.clone();
            view! {
                <Suspense fallback=|| view! { <p class="loading">"Loading the editor…"</p> }>
                    {move || {
                        let quota = quota.clone();
                        Suspend::new(async move { quota_editor(quota, saved, editing).await })
                    }}
                </Suspense>
            }
        })}
    }
}

#[lazy]
fn quota_editor(quota: ProjectQuota, saved: RwSignal<u32>, editing: RwSignal<bool>) -> AnyView {
    view! { <QuotaEditor quota saved editing /> }.into_any()
}

/// A global admin's choice: one of the templates, or custom limits. Lowering a limit below
/// the usage is allowed; the bars then show the project over quota.
#[component]
fn QuotaEditor(
    quota: ProjectQuota,
    saved: RwSignal<u32>,
    editing: RwSignal<bool>,
) -> impl IntoView {
    let set = Action::new(|(slug, choice): &(String, QuotaChoice)| {
        set_project_quota(slug.clone(), choice.clone())
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = set.value().get() {
            editing.set(false);
            saved.update(|count| *count += 1);
        }
    });
    let templates = wire_resource(|| (), |_| list_quota_templates());
    let choice = RwSignal::new(
        quota
            .template
            .as_ref()
            .map_or_else(|| CUSTOM.to_owned(), |template| template.id.clone()),
    );
    let limits = RwSignal::new(LimitsForm::from_amounts(&quota.limits));
    let local = RwSignal::new(None::<(&'static str, String)>);
    let error = Callback::new(move |field: &'static str| {
        limit_error(local.get(), set.value().get(), field)
    });
    let other_error = move || other_message(set.value().get());
    let slug = quota.project_slug.clone();
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let chosen = choice.get_untracked();
        let choice = if chosen == CUSTOM {
            let typed = limits.get_untracked();
            if let Err((field, message)) = typed.parse() {
                local.set(Some((field, message)));
                return;
            }
            QuotaChoice::Custom(typed)
        } else {
            QuotaChoice::Template(chosen)
        };
        local.set(None);
        set.dispatch((slug.clone(), choice));
    };
    view! {
        <div class="quota-editor">
            <form class="form" novalidate on:submit=on_submit>
                <label for="quota-choice">"Limits"</label>
                <Transition fallback=|| view! { <p class="loading">"Loading templates…"</p> }>
                    {move || Suspend::new(async move {
                        let templates = templates.await?;
                        let chosen = choice.get_untracked();
                        Ok::<_, AppError>(view! {
                            <select id="quota-choice" on:change=move |event| choice.set(event_target_value(&event))>
                                {templates.into_iter().map(|template| {
                                    let selected = template.id == chosen;
                                    view! { <option value=template.id.clone() selected=selected>{format!("Template {}", template.name)}</option> }
                                }).collect_view()}
                                <option value=CUSTOM selected=chosen == CUSTOM>"Custom limits"</option>
                            </select>
                        })
                    })}
                </Transition>
                <Show when=move || choice.with(|choice| choice == CUSTOM)>
                    <LimitsFields limits id_prefix="quota" error />
                </Show>
                <p class="hint">"Limits below the current usage are allowed: nothing is deleted, and the project cannot grow until it is back within them."</p>
                <button type="submit" class="primary" disabled=move || set.pending().get()>"Save quota"</button>
                <p class="form-error" role="alert">{other_error}</p>
            </form>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::source_text;
    use crate::quotas::types::{Amounts, ProjectQuota, TemplateRef};

    #[test]
    fn a_quota_says_where_its_limits_come_from() {
        let mut quota = ProjectQuota {
            project_slug: "ml-lab".into(),
            project_name: "ML lab".into(),
            template: None,
            limits: Amounts::default(),
            usage: Amounts::default(),
        };
        assert_eq!(source_text(&quota), "Custom limits");
        quota.template = Some(TemplateRef {
            id: "1".into(),
            name: "small".into(),
            current: true,
        });
        assert_eq!(source_text(&quota), "Template small");
        quota.template.as_mut().unwrap().current = false;
        assert!(source_text(&quota).contains("not applied"));
    }
}
