//! The audit log pages: the whole log (global admins), a project's, and a VM's section on
//! its page. One component shows a scope with its filters, keyset paging and export links.

use super::{
    api::list_audit,
    types::{AuditCursor, AuditFilter, AuditScope},
};
use crate::resource::wire_resource;
use crate::{
    components::{format_utc, utc_day_start_ms},
    projects::api::list_projects,
    url::percent_encode,
    AppError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

const DAY_MS: i64 = 86_400_000;

/// The export address for `scope` and `filter` in `format` (`csv` or `jsonl`).
fn export_href(scope: &AuditScope, filter: &AuditFilter, format: &str) -> String {
    let mut pairs: Vec<(&str, String)> = vec![("format", format.to_owned())];
    match scope {
        AuditScope::Everything => {}
        AuditScope::Project { slug } => pairs.push(("project", slug.clone())),
        AuditScope::Vm { project, name } => {
            pairs.push(("project", project.clone()));
            pairs.push(("vm", name.clone()));
        }
    }
    for (key, value) in [
        ("actor", &filter.actor),
        ("event", &filter.event),
        ("outcome", &filter.outcome),
        ("severity", &filter.severity),
        ("target", &filter.target),
    ] {
        if !value.is_empty() {
            pairs.push((key, value.clone()));
        }
    }
    if let Some(from) = filter.from_ms {
        pairs.push(("from_ms", from.to_string()));
    }
    if let Some(until) = filter.until_ms {
        pairs.push(("until_ms", until.to_string()));
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", percent_encode(value)))
        .collect();
    format!("/audit/export?{}", query.join("&"))
}

/// A text filter input bound to one field of the filter.
fn text_filter(
    filter: RwSignal<AuditFilter>,
    id: &'static str,
    label: &'static str,
    field: fn(&mut AuditFilter) -> &mut String,
) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <input
            id=id
            type="search"
            maxlength="256"
            on:change=move |event| {
                let value = event_target_value(&event);
                filter.update(|filter| *field(filter) = value);
            }
        />
    }
}

/// A choice filter bound to one field of the filter.
fn choice_filter(
    filter: RwSignal<AuditFilter>,
    id: &'static str,
    label: &'static str,
    choices: &'static [&'static str],
    field: fn(&mut AuditFilter) -> &mut String,
) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <select id=id on:change=move |event| {
            let value = event_target_value(&event);
            filter.update(|filter| *field(filter) = value);
        }>
            <option value="">"Any"</option>
            {choices.iter().map(|choice| view! { <option value=*choice>{*choice}</option> }).collect_view()}
        </select>
    }
}

/// The log of `scope`: filters, a page of entries newest first, older and newer pages, and
/// the export of everything the filters match.
#[component]
pub fn AuditLog(scope: AuditScope) -> impl IntoView {
    let filter = RwSignal::new(AuditFilter::default());
    // The cursors of the pages before this one; the last is where this page starts.
    let cursors = RwSignal::new(Vec::<Option<AuditCursor>>::new());
    let fetch_scope = scope.clone();
    let page = wire_resource(
        move || {
            (
                filter.get(),
                cursors.with(|cursors| cursors.last().cloned().flatten()),
            )
        },
        move |(filter, after)| list_audit(fetch_scope.clone(), filter, after),
    );
    // A new filter starts again from the newest entry.
    Effect::watch(
        move || filter.get(),
        move |_, _, _| cursors.set(Vec::new()),
        false,
    );
    let date_filter = move |id: &'static str, label: &'static str, end: bool| {
        view! {
            <label for=id>{label}</label>
            <input id=id type="date" on:change=move |event| {
                let day = utc_day_start_ms(&event_target_value(&event));
                filter.update(|filter| {
                    if end {
                        filter.until_ms = day.map(|start| start + DAY_MS);
                    } else {
                        filter.from_ms = day;
                    }
                });
            } />
        }
    };
    let export_scope = scope.clone();
    let export = move |format: &'static str| {
        let scope = export_scope.clone();
        move || filter.with(|filter| export_href(&scope, filter, format))
    };
    view! {
        <div class="card filters audit-filters">
            {text_filter(filter, "audit-actor", "Actor's email", |f| &mut f.actor)}
            {text_filter(filter, "audit-event", "Event type", |f| &mut f.event)}
            {choice_filter(filter, "audit-outcome", "Outcome", &["success", "failure", "denied"], |f| &mut f.outcome)}
            {choice_filter(filter, "audit-severity", "Severity", &["info", "notice", "warning", "critical"], |f| &mut f.severity)}
            {date_filter("audit-from", "From (UTC)", false)}
            {date_filter("audit-until", "Until (UTC, inclusive)", true)}
            {text_filter(filter, "audit-target", "Target contains", |f| &mut f.target)}
            <p class="exports">
                "Export what matches: "
                <a href=export("csv") download="wukong-audit.csv">"CSV"</a>
                " · "
                <a href=export("jsonl") download="wukong-audit.jsonl">"JSON lines"</a>
            </p>
        </div>
        <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading the audit log…"</p> }>
            {move || Suspend::new(async move {
                let result = page.await?;
                let next = result.next.clone();
                let has_newer = cursors.with(|cursors| !cursors.is_empty());
                let table = if result.entries.is_empty() {
                    view! { <p class="empty-state">"No audit events match."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-scroll">
                            <table class="audit">
                                <thead>
                                    <tr>
                                        <th scope="col">"Time"</th>
                                        <th scope="col">"Actor"</th>
                                        <th scope="col">"Event"</th>
                                        <th scope="col">"Target"</th>
                                        <th scope="col">"Outcome"</th>
                                        <th scope="col">"Severity"</th>
                                        <th scope="col">"Details"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {result.entries.into_iter().map(|entry| view! {
                                        <tr>
                                            <td>{format_utc(entry.occurred_ms)}</td>
                                            <td>{entry.actor.unwrap_or_else(|| "—".to_owned())}</td>
                                            <td>{entry.event}</td>
                                            <td>{entry.target.unwrap_or_default()}</td>
                                            <td>{entry.outcome}</td>
                                            <td>{entry.severity}</td>
                                            <td><code>{entry.details}</code></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any()
                };
                Ok::<_, AppError>(view! {
                    {table}
                    <nav class="pager" aria-label="Pages">
                        <button type="button" disabled=!has_newer on:click=move |_| cursors.update(|cursors| { cursors.pop(); })>
                            "Newer"
                        </button>
                        <button type="button" disabled=next.is_none() on:click=move |_| {
                            let next = next.clone();
                            cursors.update(|cursors| cursors.push(next));
                        }>
                            "Older"
                        </button>
                    </nav>
                })
            })}
        </Transition>
    }
}

/// `/audit`: the whole log for global admins; for everyone, each of their projects' logs.
#[component]
pub fn AuditPage() -> impl IntoView {
    let projects = wire_resource(|| (), |_| list_projects());
    let user = wire_resource(|| (), |_| crate::auth::api::get_current_user());
    view! {
        <Title text="Audit log" />
        <section class="page">
            <h1>"Audit log"</h1>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let user = user.await?;
                    let projects = projects.await?;
                    let everything = user.is_admin.then(|| view! { <AuditLog scope=AuditScope::Everything /> });
                    let links = (!user.is_admin).then(|| {
                        if projects.is_empty() {
                            view! { <p class="empty-state">"You are not a member of any project, so there is no audit log to show you."</p> }.into_any()
                        } else {
                            view! {
                                <p>"The log of each of your projects:"</p>
                                <ul class="link-cards">
                                    {projects.into_iter().map(|project| view! {
                                        <li class="card"><A href=format!("/projects/{}/audit", project.slug)>{project.name}</A></li>
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }
                    });
                    Ok::<_, AppError>(view! { {everything} {links} })
                })}
            </Transition>
        </section>
    }
}

/// `/projects/{slug}/audit`: one project's log, for its members.
#[component]
pub fn ProjectAuditPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.with(|params| params.get("slug").unwrap_or_default());
    view! {
        <Title text="Project audit log" />
        <section class="page">
            <p class="breadcrumb"><A href=move || format!("/projects/{}", slug())>"Project"</A></p>
            <h1>"Project audit log"</h1>
            {move || view! { <AuditLog scope=AuditScope::Project { slug: slug() } /> }}
        </section>
    }
}
