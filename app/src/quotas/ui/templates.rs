//! `/admin/quotas`: the quota templates, for global admins: listed, created, edited,
//! applied to the projects that use them, and deleted while no project does.

use super::limits::{limit_error, LimitsFields};
use crate::resource::wire_resource;
use crate::{
    projects::ui::other_message,
    quotas::{
        api::{
            apply_quota_template, delete_quota_template, list_quota_templates, save_quota_template,
        },
        types::{Amounts, LimitsForm, QuotaTemplate, QuotaTemplateForm, Resource as Quantity},
    },
    vms::ui::ConfirmDialog,
    AppError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// Every limit in one line: "4 vCPUs · 8192 MiB memory · …".
pub fn limits_text(limits: &Amounts) -> String {
    Quantity::ALL
        .into_iter()
        .map(|resource| {
            format!(
                "{} {}",
                resource.amount(limits.get(resource)),
                resource.label()
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// "Apply to the N projects that use it", once for each count.
fn apply_label(projects: i64) -> String {
    match projects {
        1 => "Apply to the 1 project that uses it".to_owned(),
        count => format!("Apply to the {count} projects that use it"),
    }
}

type Save = Action<(String, QuotaTemplateForm), Result<QuotaTemplate, AppError>>;

/// The template being edited: `None` for a new one.
#[derive(Clone)]
struct Editing(Option<QuotaTemplate>);

#[component]
pub fn QuotaTemplatesPage() -> impl IntoView {
    let save: Save = Action::new(|(id, form): &(String, QuotaTemplateForm)| {
        save_quota_template(id.clone(), form.clone())
    });
    let apply = Action::new(|id: &String| apply_quota_template(id.clone()));
    let delete = Action::new(|id: &String| delete_quota_template(id.clone()));
    let templates = wire_resource(
        move || {
            (
                save.version().get(),
                apply.version().get(),
                delete.version().get(),
            )
        },
        |_| list_quota_templates(),
    );
    let editing = RwSignal::new(Editing(None));
    let deleting = RwSignal::new(None::<QuotaTemplate>);
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            editing.set(Editing(None));
        }
    });
    let delete_error = move || {
        delete
            .value()
            .get()
            .and_then(Result::err)
            .map(|error| error.to_string())
    };
    view! {
        <Title text="Quota templates" />
        <section class="page">
            <p class="breadcrumb"><A href="/admin">"Admin"</A></p>
            <h1>"Quota templates"</h1>
            <p class="lead">
                "A project's quota is taken from a template or set by hand on its page. The default template is given to new projects. "
                <A href="/admin/quota-usage">"Every project's usage"</A>
            </p>
            <p class="form-error" role="alert">{delete_error}</p>
            <Transition fallback=|| view! { <p class="loading">"Loading templates…"</p> }>
                {move || Suspend::new(async move {
                    let templates = templates.await?;
                    if templates.is_empty() {
                        return Ok::<_, AppError>(view! {
                            <div class="empty-state"><h2>"No templates yet"</h2><p>"Add one below."</p></div>
                        }.into_any());
                    }
                    Ok(view! {
                        <div class="table-scroll">
                            <table class="users" data-testid="quota-templates">
                                <thead><tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Limits"</th>
                                    <th scope="col">"Projects"</th>
                                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                </tr></thead>
                                <tbody>
                                    {templates.into_iter().map(|template| {
                                        let (edited, deleted) = (template.clone(), template.clone());
                                        view! {
                                            <tr data-template=template.name.clone()>
                                                <td>
                                                    <strong>{template.name.clone()}</strong>
                                                    {template.is_default.then(|| view! { " " <span class="badge">"Default"</span> })}
                                                    <p class="hint">{template.description.clone()}</p>
                                                </td>
                                                <td>{limits_text(&template.limits)}</td>
                                                <td>{template.projects}</td>
                                                <td class="row-actions">
                                                    <button type="button" aria-label=format!("Edit {}", template.name)
                                                        on:click=move |_| editing.set(Editing(Some(edited.clone())))>"Edit"</button>
                                                    <button type="button" class="danger" aria-label=format!("Delete {}", template.name)
                                                        on:click=move |_| deleting.set(Some(deleted.clone()))>"Delete"</button>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any())
                })}
            </Transition>
            <ApplyOffer save apply />
            {move || {
                let Editing(template) = editing.get();
                view! { <TemplateForm save template on_cancel=Callback::new(move |()| editing.set(Editing(None))) /> }
            }}
            {move || deleting.get().map(|template| {
                let id = template.id.clone();
                view! {
                    <ConfirmDialog
                        question=format!("Delete the template {}?", template.name)
                        confirm_label="Delete".to_owned()
                        on_confirm=Callback::new(move |()| {
                            deleting.set(None);
                            delete.dispatch(id.clone());
                        })
                        on_cancel=Callback::new(move |()| deleting.set(None))
                    >
                        <p>"Projects keep their limits; a template that projects use cannot be deleted."</p>
                    </ConfirmDialog>
                }
            })}
        </section>
    }
    .into_any()
}

/// After a template that projects use is saved: the offer to give them its new limits.
#[component]
fn ApplyOffer(save: Save, apply: Action<String, Result<u64, AppError>>) -> impl IntoView {
    let applied_for = RwSignal::new(None::<String>);
    // A new save makes a new offer, even for the template applied before.
    Effect::new(move |_| {
        save.version().track();
        applied_for.set(None);
    });
    let offer = move || match save.value().get() {
        Some(Ok(template)) if template.projects > 0 => Some(template),
        _ => None,
    };
    let applied = move || match apply.value().get() {
        Some(Ok(count)) => Some(match count {
            1 => "Applied to 1 project.".to_owned(),
            count => format!("Applied to {count} projects."),
        }),
        Some(Err(error)) => Some(error.to_string()),
        None => None,
    };
    move || {
        offer().map(|template| {
            let id = template.id.clone();
            let done = applied_for.with(|applied| applied.as_deref() == Some(template.id.as_str()));
            view! {
                <div class="notice" role="status" data-testid="apply-template">
                    <p>{format!("Saved {}. Projects that use it keep their limits until it is applied to them.", template.name)}</p>
                    {if done {
                        view! { <p>{applied}</p> }.into_any()
                    } else {
                        view! {
                            <button type="button" class="primary" disabled=move || apply.pending().get()
                                on:click=move |_| {
                                    applied_for.set(Some(id.clone()));
                                    apply.dispatch(id.clone());
                                }>
                                {apply_label(template.projects)}
                            </button>
                        }.into_any()
                    }}
                </div>
            }
        })
    }
}

/// Creating a template (`template` none) or editing one.
#[component]
fn TemplateForm(
    save: Save,
    template: Option<QuotaTemplate>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let editing = template.is_some();
    let template = template.unwrap_or(QuotaTemplate {
        id: String::new(),
        name: String::new(),
        description: String::new(),
        limits: Amounts::default(),
        is_default: false,
        projects: 0,
    });
    let name = RwSignal::new(template.name.clone());
    let description = RwSignal::new(template.description.clone());
    let is_default = RwSignal::new(template.is_default);
    let limits = RwSignal::new(if editing {
        LimitsForm::from_amounts(&template.limits)
    } else {
        LimitsForm::default()
    });
    let local = RwSignal::new(None::<(&'static str, String)>);
    let error = Callback::new(move |field: &'static str| {
        limit_error(local.get(), save.value().get(), field)
    });
    let other_error = move || other_message(save.value().get());
    let id = template.id.clone();
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let form = QuotaTemplateForm {
            name: name.get_untracked(),
            description: description.get_untracked(),
            limits: limits.get_untracked(),
            is_default: is_default.get_untracked(),
        };
        if let Err(problem) = form.limits.parse() {
            local.set(Some(problem));
            return;
        }
        local.set(None);
        save.dispatch((id.clone(), form));
    };
    view! {
        <div class="card">
            <h2>{if editing { format!("Edit {}", template.name) } else { "Add a template".to_owned() }}</h2>
            <form class="form" novalidate on:submit=on_submit>
                <label for="template-name">"Name"</label>
                <input id="template-name" type="text" required maxlength="60" prop:value=name
                    on:input=move |event| name.set(event_target_value(&event)) />
                <p class="field-error" role="alert">{move || error.run("name")}</p>
                <label for="template-description">"Description"</label>
                <textarea id="template-description" maxlength="500" prop:value=description
                    on:input=move |event| description.set(event_target_value(&event))></textarea>
                <p class="field-error" role="alert">{move || error.run("description")}</p>
                <LimitsFields limits id_prefix="template" error />
                <label class="checkbox">
                    <input type="checkbox" prop:checked=is_default
                        on:change=move |event| is_default.set(event_target_checked(&event)) />
                    "Default for new projects"
                </label>
                <button type="submit" class="primary" disabled=move || save.pending().get()>"Save template"</button>
                {editing.then(|| view! { <button type="button" on:click=move |_| on_cancel.run(())>"Cancel"</button> })}
                <p class="form-error" role="alert">{other_error}</p>
            </form>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::{apply_label, limits_text};
    use crate::quotas::types::Amounts;

    #[test]
    fn limits_read_as_one_line_and_the_offer_counts_projects() {
        assert_eq!(
            limits_text(&Amounts::vm(4, 8192, 100)),
            "4 vCPUs · 8192 MiB memory · 100 GiB disk · 1 VMs · 0 snapshots · 0 GiB snapshot space"
        );
        assert_eq!(apply_label(1), "Apply to the 1 project that uses it");
        assert_eq!(apply_label(3), "Apply to the 3 projects that use it");
    }
}
