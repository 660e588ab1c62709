//! `/projects/{slug}/vms/{name}`: one VM, its status kept current, the actions and delete
//! the user's role allows.

use super::{
    list::{memory_text, ActionRunner, LiveIndicator},
    status::{ConfirmDialog, StatusBadge},
};
use crate::resource::wire_resource;
use crate::{
    audit::{types::AuditScope, ui::AuditLog},
    authz,
    components::format_utc,
    console::ui::console_links,
    projects::ui::{field_message, other_message},
    quotas::{
        types::{Amounts, Resource as Quantity},
        ui::{ProjectRoom, Room},
    },
    realtime::{types::LiveEvent, ui::use_live_feed},
    snapshots::ui::{SnapshotsSection, VmState},
    vms::{
        api::{delete_vm, get_vm, resize_vm},
        new_vm::{MAX_CPUS, MAX_MEMORY_MIB, MIN_MEMORY_MIB},
        types::{DiskDisposal, DiskImport, VmAction, VmDetail, VmStatus, VmSummary},
    },
    AppError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map},
    NavigateOptions,
};

/// How often the page looks again at a running import.
const IMPORT_POLL: std::time::Duration = std::time::Duration::from_secs(2);

#[component]
pub fn VmPage() -> impl IntoView {
    let params = use_params_map();
    let names = |params: &leptos_router::params::ParamsMap| {
        (
            params.get("slug").unwrap_or_default(),
            params.get("name").unwrap_or_default(),
        )
    };
    let target = move || params.with(names);
    let refresh = RwSignal::new(0u32);
    let removed = RwSignal::new(false);
    // Events name VMs by namespace, which the page learns with the VM.
    let namespace = StoredValue::new(String::new());
    // Every refresh here follows a pushed change: not the user's activity (see the list).
    let pushed = StoredValue::new(false);
    let detail = wire_resource(
        move || (target(), refresh.get()),
        move |((project, name), _)| {
            get_vm(
                project,
                name,
                pushed.try_update_value(std::mem::take).unwrap_or(false),
            )
        },
    );
    let push_refresh = move || {
        pushed.set_value(true);
        refresh.update(|count| *count += 1);
    };
    // Read here: a timeout runs outside the component, where there is no context.
    let feed = use_live_feed();
    if let Some(feed) = feed {
        feed.listen(move |event| {
            let (_, name) = params.with_untracked(names);
            let here = |ns: &str, n: &str| namespace.with_value(|known| known == ns) && n == name;
            match event {
                LiveEvent::VmChanged { vm } if here(&vm.namespace, &vm.name) => push_refresh(),
                LiveEvent::VmRemoved {
                    namespace: ns,
                    name: n,
                } if here(ns, n) => removed.set(true),
                LiveEvent::Resync | LiveEvent::AccessChanged => push_refresh(),
                _ => {}
            }
        });
    }
    let runner = ActionRunner::new();
    // Shown once the page runs in the browser: the server renders the page before the VM is
    // read, so showing it earlier would make hydration meet markup the server never sent.
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    // What the snapshots section needs of the VM, as last read; it lives outside the
    // detail below, which is rebuilt on every change, so that its forms keep their input.
    let status = RwSignal::new(None::<VmStatus>);
    let may_manage = RwSignal::new(false);
    let snapshots = VmState {
        project: Signal::derive(move || target().0),
        name: Signal::derive(move || target().1),
        status: status.into(),
        may_manage: may_manage.into(),
    };
    view! {
        <Title text=move || target().1 />
        <section class="page">
            <p class="breadcrumb"><A href="/vms">"Virtual machines"</A></p>
            <div class="page-heading">
                <h1>{move || target().1}</h1>
                <LiveIndicator />
            </div>
            <Show when=move || removed.get()>
                <p class="notice" role="status">"This virtual machine has been deleted."</p>
            </Show>
            <p class="form-error" role="alert">{move || runner.error()}</p>
            {runner.dialog()}
            <Transition fallback=|| view! { <p class="loading" aria-busy="true">"Loading the virtual machine…"</p> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Ok(detail) => {
                            namespace.set_value(detail.summary.namespace.clone());
                            may_manage.set(detail.project.may(authz::Action::ManageVms));
                            status.set(Some(detail.summary.status));
                            // CDI's progress is not pushed: look again while an import runs.
                            if detail.imports.iter().any(DiskImport::in_progress) {
                                set_timeout(
                                    move || {
                                        if feed.is_none_or(|feed| feed.active()) {
                                            push_refresh();
                                        }
                                    },
                                    IMPORT_POLL,
                                );
                            }
                            Ok(view! { <Detail detail runner /> }.into_any())
                        }
                        // Deleted, or the user lost access to its project.
                        Err(AppError::NotFound { .. }) => Ok(view! {
                            <p class="notice" role="status" data-testid="vm-unavailable">
                                "This virtual machine is not available: it was deleted, or you are no longer a member of its project."
                            </p>
                        }.into_any()),
                        Err(error) => Err::<AnyView, _>(error),
                    }
                })}
            </Transition>
            <Show when=move || mounted.get() && status.get().is_some()>
                <SnapshotsSection vm=snapshots />
            </Show>
            <section class="card" aria-labelledby="vm-audit-heading">
                <h2 id="vm-audit-heading">"Audit log"</h2>
                {move || {
                    let (project, name) = target();
                    view! { <AuditLog scope=AuditScope::Vm { project, name } /> }.into_any()
                }}
            </section>
        </section>
    }
    .into_any()
}

#[component]
fn Detail(detail: VmDetail, runner: ActionRunner) -> impl IntoView {
    let vm = detail.summary.clone();
    let asking_delete = RwSignal::new(false);
    let keep_disks = RwSignal::new(false);
    let delete = Action::new(|(project, name, disks): &(String, String, DiskDisposal)| {
        delete_vm(project.clone(), name.clone(), *disks)
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(delete.value().get(), Some(Ok(()))) {
            navigate("/vms", NavigateOptions::default());
        }
    });
    let delete_error = move || {
        delete
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    let has_disks = !detail.data_volumes.is_empty();
    let disks_text = detail.data_volumes.join(", ");
    let (project, name) = (vm.project.clone(), vm.name.clone());
    let confirm_delete = Callback::new(move |()| {
        asking_delete.set(false);
        let disks = if keep_disks.get_untracked() {
            DiskDisposal::Keep
        } else {
            DiskDisposal::Delete
        };
        delete.dispatch((project.clone(), name.clone(), disks));
    });
    let conditions = detail.conditions.clone();
    let may_operate = detail.project.may(authz::Action::OperateVms);
    let may_delete = detail.project.may(authz::Action::ManageVms);
    let may_console = detail.project.may(authz::Action::UseConsole);
    let role_label = detail
        .project
        .standing
        .role
        .map_or("Global admin", |role| role.label());
    let vm_name = vm.name.clone();
    let resized = vm.clone();
    view! {
        <div class="card">
            {(may_operate || may_delete || may_console).then(|| view! {
                <div class="vm-actions" role="group" aria-label="Actions">
                    {may_operate.then(|| VmAction::ALL.into_iter().map(|action| runner.button(&vm, action)).collect_view())}
                    {console_links(&vm, may_console)}
                    {may_delete.then(|| view! {
                        <button type="button" class="small danger" on:click=move |_| asking_delete.set(true) disabled=move || delete.pending().get()>
                            "Delete"
                        </button>
                    })}
                </div>
            })}
            <p class="form-error" role="alert">{delete_error}</p>
            <dl class="facts">
                <dt>"Status"</dt>
                <dd data-testid="vm-status"><StatusBadge status=vm.status /></dd>
                <dt>"Project"</dt>
                <dd><A href=format!("/projects/{}", vm.project)>{vm.project_name.clone()}</A></dd>
                <dt>"Your role"</dt>
                <dd data-testid="vm-role">{role_label}</dd>
                <dt>"vCPUs"</dt>
                <dd>{vm.cpus}</dd>
                <dt>"Memory"</dt>
                <dd>{memory_text(vm.memory_mib)}</dd>
                <dt>"Run strategy"</dt>
                <dd>{detail.run_strategy.clone()}</dd>
                <dt>"IP address"</dt>
                <dd>{vm.ip.clone().unwrap_or_else(|| "—".to_owned())}</dd>
                <dt>"Node"</dt>
                <dd>{vm.node.clone().unwrap_or_else(|| "—".to_owned())}</dd>
                <dt>"Guest OS"</dt>
                <dd data-testid="vm-guest-os">
                    {detail.guest_os.as_ref().map_or_else(
                        || "— (no guest agent reports)".to_owned(),
                        |os| format!("{} (kernel {})", os.name, os.kernel),
                    )}
                </dd>
                <dt>"Created"</dt>
                <dd>{format_utc(vm.created_ms)}</dd>
                <dt>"Disks"</dt>
                <dd>
                    <ul class="plain">
                        {detail.disks.iter().map(|disk| view! { <li>{disk.clone()}</li> }).collect_view()}
                    </ul>
                </dd>
            </dl>
        </div>
        {may_delete.then(|| view! { <Resize vm=resized /> })}
        <Activity detail=detail.clone() />
        <section class="card" aria-labelledby="conditions-heading">
            <h2 id="conditions-heading">"Conditions"</h2>
            {if conditions.is_empty() {
                view! { <p class="empty-state">"KubeVirt reports no conditions."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th scope="col">"Type"</th><th scope="col">"Status"</th><th scope="col">"Reason"</th><th scope="col">"Message"</th><th scope="col">"Since"</th></tr></thead>
                        <tbody>
                            {conditions.into_iter().map(|condition| view! {
                                <tr>
                                    <td>{condition.kind}</td>
                                    <td>{condition.status}</td>
                                    <td>{condition.reason}</td>
                                    <td>{condition.message}</td>
                                    <td>{condition.last_transition.unwrap_or_default()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        {move || asking_delete.get().then(|| {
            let choice = if has_disks {
                view! {
                    <fieldset>
                        <legend>{format!("Its disks ({disks_text}):")}</legend>
                        <label class="checkbox"><input type="radio" name="disks" checked=true on:change=move |_| keep_disks.set(false) />"Delete them too"</label>
                        <label class="checkbox"><input type="radio" name="disks" on:change=move |_| keep_disks.set(true) />"Keep them"</label>
                    </fieldset>
                }.into_any()
            } else {
                view! { <p>"It has no disks to keep: its root disk is a container image."</p> }.into_any()
            };
            view! {
                <ConfirmDialog
                    question=format!("Delete {}? This cannot be undone.", vm_name)
                    confirm_label="Delete".to_owned()
                    on_confirm=confirm_delete
                    on_cancel=Callback::new(move |()| asking_delete.set(false))
                >
                    {choice}
                </ConfirmDialog>
            }
        })}
    }
}

/// What the VM is doing and why: its network interfaces, the imports of its disks, and the
/// cluster's events about it.
#[component]
fn Activity(detail: VmDetail) -> impl IntoView {
    let interfaces = (!detail.interfaces.is_empty()).then(|| view! {
        <section class="card" aria-labelledby="network-heading">
            <h2 id="network-heading">"Network"</h2>
            <table data-testid="vm-interfaces">
                <thead><tr><th scope="col">"Network"</th><th scope="col">"In the guest"</th><th scope="col">"MAC"</th><th scope="col">"Addresses"</th></tr></thead>
                <tbody>
                    {detail.interfaces.into_iter().map(|interface| view! {
                        <tr>
                            <td>{interface.network}</td>
                            <td>{interface.guest_name.unwrap_or_default()}</td>
                            <td>{interface.mac.unwrap_or_default()}</td>
                            <td>{interface.ips.join(", ")}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    });
    let imports = (!detail.imports.is_empty()).then(|| view! {
        <section class="card" aria-labelledby="imports-heading">
            <h2 id="imports-heading">"Disk imports"</h2>
            <ul class="plain" data-testid="vm-imports">
                {detail.imports.into_iter().map(|import| {
                    let label = format!("Import of {}", import.name);
                    let done = import.percent.map(|percent| format!("{percent}%")).unwrap_or_default();
                    view! {
                        <li>
                            <span>{format!("{}: {} {done}", import.name, import.phase)}</span>
                            {import.percent.map(|percent| view! { <progress max="100" value=percent aria-label=label></progress> })}
                            {import.problem.map(|problem| view! { <p class="form-error">{problem}</p> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    });
    let events = match detail.activity_error {
        Some(error) => view! { <p class="form-error" role="alert">{format!("Events could not be read: {error}")}</p> }.into_any(),
        None if detail.events.is_empty() => view! { <p class="empty-state">"No recent events."</p> }.into_any(),
        None => view! {
            <table data-testid="vm-events">
                <thead><tr><th scope="col">"Last seen"</th><th scope="col">"Object"</th><th scope="col">"Reason"</th><th scope="col">"Message"</th></tr></thead>
                <tbody>
                    {detail.events.into_iter().map(|event| {
                        let count = (event.count > 1).then(|| format!(" (×{})", event.count));
                        view! {
                            <tr class:event-warning=event.warning>
                                <td>{event.last_seen.unwrap_or_default()}</td>
                                <td>{format!("{} {}", event.object_kind, event.object_name)}</td>
                                <td>{event.reason}{count}</td>
                                <td>{event.message}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }.into_any(),
    };
    view! {
        {interfaces}
        {imports}
        <section class="card" aria-labelledby="events-heading">
            <h2 id="events-heading">"Events"</h2>
            {events}
        </section>
    }
}

/// What a resize takes from the project's quota: the growth only, so that shrinking is
/// never refused; none while a number does not parse.
fn resize_demand(vm: &VmSummary, cpus: &str, memory_mib: &str) -> Option<Amounts> {
    let cpus = cpus.trim().parse::<i64>().ok()?;
    let memory_mib = memory_mib.trim().parse::<i64>().ok()?;
    Some(Amounts {
        vcpus: cpus - i64::from(vm.cpus),
        memory_mib: memory_mib - i64::try_from(vm.memory_mib).ok()?,
        ..Amounts::default()
    })
}

/// The resources a resize changes.
const RESIZED: [Quantity; 2] = [Quantity::Vcpus, Quantity::MemoryMib];

/// Changing the vCPUs and memory of a stopped VM, with the project's room shown as on the
/// create form; a running VM would need a restart, so it is stopped first.
#[component]
fn Resize(vm: VmSummary) -> impl IntoView {
    if vm.status != VmStatus::Stopped {
        return view! {
            <section class="card" aria-labelledby="resize-heading">
                <h2 id="resize-heading">"Resize"</h2>
                <p class="hint">"Stop the virtual machine to change its vCPUs and memory."</p>
            </section>
        }
        .into_any();
    }
    let cpus = RwSignal::new(vm.cpus.to_string());
    let memory = RwSignal::new(vm.memory_mib.to_string());
    let resize = Action::new(
        |(project, name, cpus, memory): &(String, String, String, String)| {
            resize_vm(project.clone(), name.clone(), cpus.clone(), memory.clone())
        },
    );
    let watched = {
        let namespace = vm.namespace.clone();
        Callback::new(move |changed: String| changed == namespace)
    };
    let demand = {
        let vm = vm.clone();
        Signal::derive(move || resize_demand(&vm, &cpus.get(), &memory.get()))
    };
    let field_error = move |field: &'static str| move || field_message(resize.value().get(), field);
    let other_error = move || other_message(resize.value().get());
    let (project, name) = (vm.project.clone(), vm.name.clone());
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        resize.dispatch((
            project.clone(),
            name.clone(),
            cpus.get_untracked(),
            memory.get_untracked(),
        ));
    };
    view! {
        <section class="card" aria-labelledby="resize-heading">
            <h2 id="resize-heading">"Resize"</h2>
            <form class="form" novalidate on:submit=on_submit data-testid="resize-form">
                <label for="resize-cpus">"vCPUs"</label>
                <input id="resize-cpus" type="number" min="1" max=MAX_CPUS step="1" prop:value=cpus
                    on:input=move |event| cpus.set(event_target_value(&event)) />
                <p class="field-error" role="alert">{field_error("cpus")}</p>
                <label for="resize-memory">"Memory (MiB)"</label>
                <input id="resize-memory" type="number" min=MIN_MEMORY_MIB max=MAX_MEMORY_MIB step="128" prop:value=memory
                    on:input=move |event| memory.set(event_target_value(&event)) />
                <p class="field-error" role="alert">{field_error("memory_mib")}</p>
                <ProjectRoom room=Room {
                    slug: Signal::stored(vm.project.clone()),
                    refresh: resize.version().into(),
                    watched,
                    resources: &RESIZED,
                    demand,
                    after: "After the resize",
                } />
                <button type="submit" class="primary" disabled=move || resize.pending().get()>
                    {move || if resize.pending().get() { "Resizing…" } else { "Resize" }}
                </button>
                <p class="form-error" role="alert">{other_error}</p>
                <Show when=move || matches!(resize.value().get(), Some(Ok(())))>
                    <p class="notice" role="status">"Resized: the new size applies from its next start."</p>
                </Show>
            </form>
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::resize_demand;
    use crate::{
        quotas::types::Amounts,
        vms::types::{VmStatus, VmSummary},
    };

    #[test]
    fn a_resize_takes_only_its_growth() {
        let vm = VmSummary {
            namespace: "wukong-lab".into(),
            name: "db".into(),
            project: "lab".into(),
            project_name: "Lab".into(),
            status: VmStatus::Stopped,
            run_strategy: None,
            cpus: 2,
            memory_mib: 4096,
            ip: None,
            guest_agent: false,
            node: None,
            created_ms: 0,
        };
        assert_eq!(
            resize_demand(&vm, "4", "2048"),
            Some(Amounts {
                vcpus: 2,
                memory_mib: -2048,
                ..Amounts::default()
            })
        );
        assert_eq!(resize_demand(&vm, "four", "2048"), None);
    }
}
