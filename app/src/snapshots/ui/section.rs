//! The snapshots of a VM, on its page, with the forms to take one and to clone, or those of
//! every VM of its project; kept current by the live feed; restore and delete from each row.

use super::tables::{size_text, status_text, taken_text, CloneRows, RestoreRows};
use crate::{
    components::format_utc,
    projects::ui::{field_message, other_message},
    realtime::{
        types::LiveEvent,
        ui::{fetch_soon, use_live_feed},
    },
    resource::wire_resource,
    snapshots::{
        api::{clone_vm, delete_snapshot, list_snapshots, restore_snapshot, take_snapshot},
        types::{CloneSource, SnapshotList, SnapshotSummary},
    },
    vms::{
        api::run_vm_action,
        types::{VmAction, VmStatus},
        ui::ConfirmDialog,
    },
    AppError,
};
use leptos::prelude::*;
use leptos_router::components::A;

/// The VM page the section is on: its project's slug, its name, its status as last pushed,
/// and whether the user may take, restore, clone and delete.
#[derive(Clone, Copy)]
pub struct VmState {
    pub project: Signal<String>,
    pub name: Signal<String>,
    pub status: Signal<Option<VmStatus>>,
    pub may_manage: Signal<bool>,
}

/// A restore the user confirmed: of `snapshot`, once the VM has stopped when `stop_first`.
#[derive(Clone, Debug, PartialEq)]
struct Restoring {
    snapshot: String,
    stop_first: bool,
}

#[component]
pub fn SnapshotsSection(vm: VmState) -> impl IntoView {
    let project = vm.project;
    let vm_name = move || vm.name.get();
    let whole_project = RwSignal::new(false);
    let refresh = RwSignal::new(0u32);
    let pushed = StoredValue::new(false);
    let list = wire_resource(
        move || {
            let shown = if whole_project.get() {
                String::new()
            } else {
                vm_name()
            };
            (project.get(), shown, refresh.get())
        },
        move |(project, vm, _)| {
            list_snapshots(
                project,
                vm,
                pushed.try_update_value(std::mem::take).unwrap_or(false),
            )
        },
    );
    let feed = use_live_feed();
    let refetch = fetch_soon(feed, move || {
        pushed.set_value(true);
        refresh.update(|count| *count += 1);
    });
    if let Some(feed) = feed {
        feed.listen(move |event| {
            if matches!(
                event,
                LiveEvent::SnapshotsChanged | LiveEvent::Resync | LiveEvent::AccessChanged
            ) {
                refetch();
            }
        });
    }
    let delete = Action::new(|(project, snapshot): &(String, String)| {
        delete_snapshot(project.clone(), snapshot.clone())
    });
    let restore = Action::new(|(project, snapshot): &(String, String)| {
        restore_snapshot(project.clone(), snapshot.clone())
    });
    let stop = Action::new(|(project, name): &(String, String)| {
        run_vm_action(project.clone(), name.clone(), VmAction::Stop)
    });
    let asking_delete = RwSignal::new(None::<String>);
    let asking_restore = RwSignal::new(None::<Restoring>);
    let waiting = RwSignal::new(None::<String>);
    // A restore that waits for the VM to stop goes ahead once the page hears it stopped.
    Effect::new(move |_| {
        let stopped = vm.status.get() == Some(VmStatus::Stopped);
        if stopped {
            if let Some(snapshot) = waiting.get() {
                waiting.set(None);
                restore.dispatch((project.get_untracked(), snapshot));
            }
        }
    });
    let confirm_restore = Callback::new(move |()| {
        let Some(chosen) = asking_restore.get_untracked() else {
            return;
        };
        asking_restore.set(None);
        if chosen.stop_first {
            waiting.set(Some(chosen.snapshot));
            stop.dispatch((project.get_untracked(), vm_name()));
        } else {
            restore.dispatch((project.get_untracked(), chosen.snapshot));
        }
    });
    let confirm_delete = Callback::new(move |()| {
        if let Some(snapshot) = asking_delete.get_untracked() {
            asking_delete.set(None);
            delete.dispatch((project.get_untracked(), snapshot));
        }
    });
    // One line says what the row actions came to: a refusal, or a restore waiting for the
    // VM to stop.
    let outcome = move || {
        let waits = waiting
            .get()
            .map(|_| "Stopping the VM to restore it…".to_owned());
        [
            other_message(delete.value().get()),
            other_message(restore.value().get()),
            other_message(stop.value().get()),
            waits,
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
    };
    let row_actions = RowActions {
        may_manage: vm.may_manage,
        vm: vm.name,
        asking_delete,
        asking_restore,
        stopped: Signal::derive(move || vm.status.get() == Some(VmStatus::Stopped)),
    };
    view! {
        <section class="card" aria-labelledby="snapshots-heading">
            <h2 id="snapshots-heading">"Snapshots"</h2>
            <TakeForm project vm />
            <label class="checkbox">
                <input type="checkbox" prop:checked=whole_project on:change=move |event| whole_project.set(event_target_checked(&event)) />
                "Every VM of the project"
            </label>
            <p class="form-error" role="alert">{outcome}</p>
            <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let found: SnapshotList = list.await?;
                    let slug = project.get_untracked();
                    let ready: Vec<String> = found
                        .snapshots
                        .iter()
                        .filter(|snapshot| snapshot.ready)
                        .map(|snapshot| snapshot.name.clone())
                        .collect();
                    Ok::<_, AppError>(view! {
                        <SnapshotRows snapshots=found.snapshots show_vm=whole_project.get_untracked() actions=row_actions />
                        <RestoreRows project=slug.clone() restores=found.restores />
                        <CloneRows project=slug clones=found.clones />
                        <CloneForm project vm ready />
                    })
                })}
            </Transition>
        </section>
        {move || asking_restore.get().map(|chosen| {
            let vm = vm_name();
            let stop = if chosen.stop_first { " It is stopped first." } else { "" };
            let question = format!("Restore {vm} to snapshot {}?{stop}", chosen.snapshot);
            view! {
                <ConfirmDialog
                    question
                    confirm_label="Restore".to_owned()
                    on_confirm=confirm_restore
                    on_cancel=Callback::new(move |()| asking_restore.set(None))
                />
            }
        })}
        {move || asking_delete.get().map(|snapshot| view! {
            <ConfirmDialog
                question=format!("Delete snapshot {snapshot}?")
                confirm_label="Delete".to_owned()
                on_confirm=confirm_delete
                on_cancel=Callback::new(move |()| asking_delete.set(None))
            />
        })}
    }
}

/// What each row's buttons do.
#[derive(Clone, Copy)]
struct RowActions {
    may_manage: Signal<bool>,
    /// The VM of the page: only its snapshots restore here.
    vm: Signal<String>,
    asking_delete: RwSignal<Option<String>>,
    asking_restore: RwSignal<Option<Restoring>>,
    stopped: Signal<bool>,
}

#[component]
fn SnapshotRows(
    snapshots: Vec<SnapshotSummary>,
    show_vm: bool,
    actions: RowActions,
) -> impl IntoView {
    if snapshots.is_empty() {
        return view! { <p class="empty-state">"No snapshots yet."</p> }.into_any();
    }
    view! {
        <table>
            <thead><tr>
                <th scope="col">"Name"</th>
                {show_vm.then(|| view! { <th scope="col">"VM"</th> })}
                <th scope="col">"Status"</th><th scope="col">"Taken"</th><th scope="col">"Size"</th>
                <th scope="col">"Created"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
            </tr></thead>
            <tbody>
                {snapshots.into_iter().map(|snapshot| {
                    let name = snapshot.name.clone();
                    let restorable = snapshot.ready && snapshot.vm == actions.vm.get_untracked();
                    let (for_restore, for_delete) = (name.clone(), name.clone());
                    view! {
                        <tr data-testid=format!("snapshot-{name}")>
                            <td>
                                {name.clone()}
                                {(!snapshot.description.is_empty()).then(|| view! { <p class="hint">{snapshot.description.clone()}</p> })}
                            </td>
                            {show_vm.then(|| view! { <td>{snapshot.vm.clone()}</td> })}
                            <td data-testid="snapshot-status">
                                {status_text(&snapshot)}
                                {snapshot.error.clone().map(|error| view! { <p class="form-error">{error}</p> })}
                            </td>
                            <td>{taken_text(&snapshot)}</td>
                            <td>{size_text(snapshot.size_bytes)}</td>
                            <td>{snapshot.taken_at.clone().unwrap_or_else(|| format_utc(snapshot.created_ms))}</td>
                            <td>
                                {actions.may_manage.get_untracked().then(|| view! {
                                    {restorable.then(|| {
                                        let snapshot = for_restore.clone();
                                        view! {
                                            <button type="button" class="small" on:click=move |_| actions.asking_restore.set(Some(Restoring {
                                                snapshot: snapshot.clone(),
                                                stop_first: !actions.stopped.get_untracked(),
                                            }))>"Restore"</button>
                                        }
                                    })}
                                    {
                                        let snapshot = for_delete.clone();
                                        view! {
                                            <button type="button" class="small danger" on:click=move |_| actions.asking_delete.set(Some(snapshot.clone()))>"Delete"</button>
                                        }
                                    }
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// Taking a snapshot of the VM, running or stopped.
#[component]
fn TakeForm(project: Signal<String>, vm: VmState) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let take = Action::new(
        |(project, vm, name, description): &(String, String, String, String)| {
            take_snapshot(
                project.clone(),
                vm.clone(),
                name.clone(),
                description.clone(),
            )
        },
    );
    Effect::new(move |_| {
        if matches!(take.value().get(), Some(Ok(()))) {
            name.set(String::new());
            description.set(String::new());
        }
    });
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        take.dispatch((
            project.get_untracked(),
            vm.name.get_untracked(),
            name.get_untracked(),
            description.get_untracked(),
        ));
    };
    view! {
        {vm.may_manage.get_untracked().then(|| view! {
            <form class="form" novalidate on:submit=on_submit>
                <label for="snapshot-name">"Snapshot name"</label>
                <input id="snapshot-name" required prop:value=name on:input=move |event| name.set(event_target_value(&event)) />
                <p class="field-error" role="alert">{move || field_message(take.value().get(), "snapshot")}</p>
                <label for="snapshot-description">"Description"</label>
                <input id="snapshot-description" prop:value=description on:input=move |event| description.set(event_target_value(&event)) />
                <p class="field-error" role="alert">{move || field_message(take.value().get(), "description")}</p>
                <button type="submit" class="primary" disabled=move || take.pending().get()>"Take snapshot"</button>
                <p class="form-error" role="alert">{move || other_message(take.value().get())}</p>
            </form>
        })}
    }
}

/// Cloning the VM, or one of its ready snapshots, into a new VM of the project.
#[component]
fn CloneForm(project: Signal<String>, vm: VmState, ready: Vec<String>) -> impl IntoView {
    let target = RwSignal::new(String::new());
    // Empty: the VM itself; else a snapshot's name.
    let source = RwSignal::new(String::new());
    let clone = Action::new(
        |(project, source, target): &(String, CloneSource, String)| {
            clone_vm(project.clone(), source.clone(), target.clone())
        },
    );
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let from = match source.get_untracked() {
            snapshot if !snapshot.is_empty() => CloneSource::Snapshot(snapshot),
            _ => CloneSource::Vm(vm.name.get_untracked()),
        };
        clone.dispatch((project.get_untracked(), from, target.get_untracked()));
    };
    let made = move || {
        clone.value().get().and_then(Result::ok).map(|href: String| view! {
            <p class="notice" role="status">"Cloning into " <A href=href.clone()>{href.rsplit('/').next().unwrap_or_default().to_owned()}</A> "."</p>
        })
    };
    view! {
        {vm.may_manage.get_untracked().then(|| view! {
            <h3>"Clone"</h3>
            <form class="form" novalidate on:submit=on_submit>
                <label for="clone-source">"From"</label>
                <select id="clone-source" on:change=move |event| source.set(event_target_value(&event))>
                    <option value="">"This VM"</option>
                    {ready.iter().map(|name| view! { <option value=name.clone()>{name.clone()}</option> }).collect_view()}
                </select>
                <label for="clone-target">"New VM name"</label>
                <input id="clone-target" required prop:value=target on:input=move |event| target.set(event_target_value(&event)) />
                <p class="field-error" role="alert">{move || field_message(clone.value().get(), "target")}</p>
                <button type="submit" class="primary" disabled=move || clone.pending().get()>"Clone"</button>
                <p class="form-error" role="alert">{move || other_message(clone.value().get())}</p>
                {made}
            </form>
        })}
    }
}
