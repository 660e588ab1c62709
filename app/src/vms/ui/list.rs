//! The VM list: filtered, sorted and paged on the server, kept current by live events.

use super::status::{confirmation_text, ConfirmDialog, StatusBadge};
use crate::resource::wire_resource;
use crate::{
    authz,
    components::{age, format_utc, now_ms},
    console::ui::console_links,
    projects::types::ProjectScope,
    realtime::{
        types::LiveEvent,
        ui::{fetch_soon, use_live_feed, LiveState},
    },
    vms::{
        api::{list_vms, run_vm_action},
        types::{vm_href, VmAction, VmQuery, VmSort, VmStatus, VmSummary, VM_PAGE_SIZE},
    },
    AppError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

/// Memory as people read it: "512 MiB", "4 GiB", "1.5 GiB".
pub fn memory_text(mib: u64) -> String {
    if mib < 1024 {
        format!("{mib} MiB")
    } else if mib.is_multiple_of(1024) {
        format!("{} GiB", mib / 1024)
    } else {
        format!("{:.1} GiB", mib as f64 / 1024.0)
    }
}

/// A VM action waiting for the user to confirm it.
#[derive(Clone)]
struct Pending {
    vm: VmSummary,
    action: VmAction,
}

/// Runs VM actions for a page: the request, its error, and the confirmation first.
#[derive(Clone, Copy)]
pub struct ActionRunner {
    run: Action<(String, String, VmAction), Result<(), AppError>>,
    asking: RwSignal<Option<Pending>>,
}

impl ActionRunner {
    pub fn new() -> Self {
        ActionRunner {
            run: Action::new(|(project, name, action): &(String, String, VmAction)| {
                run_vm_action(project.clone(), name.clone(), *action)
            }),
            asking: RwSignal::new(None),
        }
    }

    /// Runs `action` now, or asks first when it interrupts the guest.
    pub fn request(&self, vm: VmSummary, action: VmAction) {
        if action.needs_confirmation() {
            self.asking.set(Some(Pending { vm, action }));
        } else {
            self.run.dispatch((vm.project, vm.name, action));
        }
    }

    pub fn busy(&self) -> bool {
        self.run.pending().get()
    }

    pub fn error(&self) -> Option<String> {
        self.run
            .value()
            .get()
            .and_then(Result::err)
            .map(|error| error.to_string())
    }

    /// The confirmation dialog, when one is open.
    pub fn dialog(&self) -> impl IntoView + use<> {
        let runner = *self;
        move || {
            runner.asking.get().map(|pending| {
                let Pending { vm, action } = pending;
                let question = confirmation_text(action, &vm.name);
                let on_confirm = Callback::new(move |()| {
                    runner.asking.set(None);
                    runner
                        .run
                        .dispatch((vm.project.clone(), vm.name.clone(), action));
                });
                view! {
                    <ConfirmDialog
                        question
                        confirm_label=action.label().to_owned()
                        on_confirm
                        on_cancel=Callback::new(move |()| runner.asking.set(None))
                    />
                }
            })
        }
    }

    /// A button for `action` on `vm`, enabled only when its run strategy and status allow it.
    pub fn button(&self, vm: &VmSummary, action: VmAction) -> impl IntoView + use<> {
        let runner = *self;
        let allowed = vm.allows(action);
        let vm = vm.clone();
        let label = format!("{} {}", action.label(), vm.name);
        view! {
            <button
                type="button"
                class="small"
                aria-label=label
                disabled=move || !allowed || runner.busy()
                on:click=move |_| runner.request(vm.clone(), action)
            >
                {action.label()}
            </button>
        }
    }
}

/// Shows the live connection's state next to the heading.
#[component]
pub fn LiveIndicator() -> impl IntoView {
    let state = move || use_live_feed().map_or(LiveState::Connecting, |feed| feed.state.get());
    view! {
        <span class="live-indicator" role="status" data-state=move || format!("{:?}", state())>
            {move || match state() {
                LiveState::Live => "Live",
                LiveState::Connecting => "Connecting…",
                LiveState::Reconnecting => "Reconnecting…",
                LiveState::Ended => "Signed out",
            }}
        </span>
    }
}

fn sort_header(query: RwSignal<VmQuery>, sort: VmSort, label: &'static str) -> impl IntoView {
    let active = move || query.with(|query| query.sort == sort);
    let aria_sort = move || match (active(), query.with(|query| query.descending)) {
        (false, _) => "none",
        (true, false) => "ascending",
        (true, true) => "descending",
    };
    view! {
        <th scope="col" aria-sort=aria_sort>
            <button
                type="button"
                class="sort"
                on:click=move |_| {
                    query.update(|query| {
                        query.descending = query.sort == sort && !query.descending;
                        query.sort = sort;
                        query.page = 0;
                    })
                }
            >
                {label}
                <span aria-hidden="true">
                    {move || match aria_sort() {
                        "ascending" => " ▲",
                        "descending" => " ▼",
                        _ => "",
                    }}
                </span>
            </button>
        </th>
    }
}

/// One row; `may_operate` and `may_console` say whether the user's role in the VM's project
/// allows actions and consoles.
fn row(
    vm: VmSummary,
    (may_operate, may_console): (bool, bool),
    runner: ActionRunner,
    now: i64,
) -> impl IntoView {
    let href = vm_href(&vm.project, &vm.name);
    let name = vm.name.clone();
    let key = vm.name.clone();
    let actions = may_operate.then(|| {
        view! {
            {runner.button(&vm, VmAction::Start)}
            {runner.button(&vm, VmAction::Stop)}
        }
    });
    let consoles = console_links(&vm, may_console);
    view! {
        <tr data-vm=key data-project=vm.project.clone()>
            <th scope="row"><A href=href>{name}</A></th>
            <td class="project">{vm.project_name.clone()}</td>
            <td><StatusBadge status=vm.status /></td>
            <td class="number">{vm.cpus}</td>
            <td class="number">{memory_text(vm.memory_mib)}</td>
            <td>{vm.ip.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td>{vm.node.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td title=format_utc(vm.created_ms)>{age(vm.created_ms, now)}</td>
            <td class="actions">{actions}{consoles}</td>
        </tr>
    }
}

/// `/vms`: every VM the user may see.
#[component]
pub fn VmListPage() -> impl IntoView {
    // `?project=` (from a project's page) starts the list filtered to that project.
    let project = use_query_map().with_untracked(|query| query.get("project").unwrap_or_default());
    let query = RwSignal::new(VmQuery {
        project,
        ..VmQuery::default()
    });
    let refresh = RwSignal::new(0u32);
    // Fetches caused by a pushed change are the page's doing, not the user's: the server does
    // not count them as activity, so a page left open does not keep the session alive.
    let pushed = StoredValue::new(false);
    let page = wire_resource(
        move || (query.get(), refresh.get()),
        move |(query, _)| {
            list_vms(
                query,
                pushed.try_update_value(std::mem::take).unwrap_or(false),
            )
        },
    );
    let rows = RwSignal::new(Vec::<VmSummary>::new());
    let projects = RwSignal::new(Vec::<ProjectScope>::new());
    let runner = ActionRunner::new();
    // A change to a VM not on this page may still move it onto the page (or change the
    // count): fetch again, at most a few times a second however many events arrive.
    let feed = use_live_feed();
    let refetch_soon = fetch_soon(feed, move || {
        pushed.set_value(true);
        refresh.update(|count| *count += 1);
    });
    if let Some(feed) = feed {
        feed.listen(move |event| match event {
            LiveEvent::VmChanged { vm } => {
                let shown = rows.try_update(|rows| {
                    rows.iter_mut()
                        .find(|row| row.namespace == vm.namespace && row.name == vm.name)
                        .map(|row| {
                            // Events do not name the project: the row keeps its own.
                            *row = VmSummary {
                                project: std::mem::take(&mut row.project),
                                project_name: std::mem::take(&mut row.project_name),
                                ..vm.clone()
                            }
                        })
                        .is_some()
                });
                if shown != Some(true) {
                    refetch_soon();
                }
            }
            LiveEvent::VmRemoved { .. } | LiveEvent::Resync | LiveEvent::AccessChanged => {
                refetch_soon()
            }
            // The feed shows watch failures itself; the list shows no snapshots.
            LiveEvent::ClusterWatch { .. } | LiveEvent::SnapshotsChanged => {}
        });
    }
    let status_options = VmStatus::ALL
        .into_iter()
        .map(|status| view! { <option value=status.as_str()>{status.as_str()}</option> })
        .collect_view();
    view! {
        <Title text="Virtual machines" />
        <section class="page">
            <div class="page-heading">
                <h1>"Virtual machines"</h1>
                <LiveIndicator />
                <A href="/vms/new" attr:class="button primary">"Create VM"</A>
            </div>
            <div class="card filters">
                <label for="vm-filter-name">"Name contains"</label>
                <input
                    id="vm-filter-name"
                    type="search"
                    prop:value=move || query.with(|query| query.name.clone())
                    on:input=move |event| {
                        let name = event_target_value(&event);
                        query.update(|query| {
                            query.name = name;
                            query.page = 0;
                        });
                    }
                />
                <label for="vm-filter-project">"Project"</label>
                <select
                    id="vm-filter-project"
                    on:change=move |event| {
                        let slug = event_target_value(&event);
                        query.update(|query| {
                            query.project = slug;
                            query.page = 0;
                        });
                    }
                >
                    <option value="">"All my projects"</option>
                    <For
                        each=move || projects.get()
                        key=|project| project.slug.clone()
                        children=move |project| {
                            let selected = query.with_untracked(|query| query.project == project.slug);
                            view! { <option value=project.slug.clone() selected=selected>{project.name.clone()}</option> }
                        }
                    />
                </select>
                <label for="vm-filter-status">"Status"</label>
                <select
                    id="vm-filter-status"
                    on:change=move |event| {
                        let value = event_target_value(&event);
                        query.update(|query| {
                            query.status = VmStatus::ALL.into_iter().find(|s| s.as_str() == value);
                            query.page = 0;
                        });
                    }
                >
                    <option value="">"Any"</option>
                    {status_options}
                </select>
            </div>
            <p class="form-error" role="alert">{move || runner.error()}</p>
            {runner.dialog()}
            <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading virtual machines…"</p> }>
                {move || Suspend::new(async move {
                    let result = match page.await {
                        Ok(result) => result,
                        // Shown in place, under the heading, rather than replacing the page.
                        Err(error) => return view! { <p class="form-error" role="alert">{error.to_string()}</p> }.into_any(),
                    };
                    rows.set(result.items.clone());
                    projects.set(result.projects.clone());
                    let first = result.page * VM_PAGE_SIZE;
                    let shown = result.items.len();
                    let filtered = query.with_untracked(|query| {
                        !query.name.is_empty() || query.status.is_some() || !query.project.is_empty()
                    });
                    if result.total == 0 {
                        let text = if result.projects.is_empty() {
                            "You are not a member of any project yet. Ask a project's owner to add you."
                        } else if filtered {
                            "No virtual machines match this filter."
                        } else {
                            "No virtual machines yet. Create one to get started."
                        };
                        return view! { <p class="empty-state">{text}</p> }.into_any();
                    }
                    let has_next = first + shown < result.total;
                    let current = result.page;
                    view! {
                        <div class="table-scroll">
                            <table class="vms">
                                <thead>
                                    <tr>
                                        {sort_header(query, VmSort::Name, "Name")}
                                        {sort_header(query, VmSort::Project, "Project")}
                                        {sort_header(query, VmSort::Status, "Status")}
                                        {sort_header(query, VmSort::Cpus, "vCPUs")}
                                        {sort_header(query, VmSort::Memory, "Memory")}
                                        <th scope="col">"IP address"</th>
                                        <th scope="col">"Node"</th>
                                        {sort_header(query, VmSort::Age, "Age")}
                                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {move || {
                                        let now = now_ms();
                                        let may = |vm: &VmSummary, action| {
                                            projects.with(|projects| {
                                                projects.iter().any(|project| {
                                                    project.namespace == vm.namespace
                                                        && project.may(action)
                                                })
                                            })
                                        };
                                        rows.get()
                                            .into_iter()
                                            .map(|vm| {
                                                let allowed = (
                                                    may(&vm, authz::Action::OperateVms),
                                                    may(&vm, authz::Action::UseConsole),
                                                );
                                                row(vm, allowed, runner, now)
                                            })
                                            .collect_view()
                                    }}
                                </tbody>
                            </table>
                        </div>
                        <nav class="pager" aria-label="Pages">
                            <span>{format!("{}–{} of {}", first + 1, first + shown, result.total)}</span>
                            <button type="button" disabled=current == 0 on:click=move |_| query.update(|query| query.page = current.saturating_sub(1))>
                                "Previous"
                            </button>
                            <button type="button" disabled=!has_next on:click=move |_| query.update(|query| query.page = current + 1)>
                                "Next"
                            </button>
                        </nav>
                    }
                    .into_any()
                })}
            </Transition>
        </section>
    }
}
