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
    realtime::{types::LiveEvent, ui::use_live_feed},
    vms::{
        api::{delete_vm, get_vm},
        types::{DiskDisposal, VmAction, VmDetail},
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
    if let Some(feed) = use_live_feed() {
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
    let role_label = detail
        .project
        .standing
        .role
        .map_or("Global admin", |role| role.label());
    let vm_name = vm.name.clone();
    view! {
        <div class="card">
            {(may_operate || may_delete).then(|| view! {
                <div class="vm-actions" role="group" aria-label="Actions">
                    {may_operate.then(|| VmAction::ALL.into_iter().map(|action| runner.button(&vm, action)).collect_view())}
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
