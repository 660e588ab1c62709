//! The role matrix of design.md, one test per cell: each action in a project, by a user of
//! another project, each project role, and a global admin who is not a member. A refusal is
//! 404 for whoever is not a member (nothing about the project is confirmed) and 403 for a
//! member whose role does not allow it; an allowed action has its effect, a refused one
//! none.

use super::{json, Tenancy, Who, NEWCOMER, VM};
use crate::support::form;
use app::snapshots::server::kinds::{
    VirtualMachineClone, VirtualMachineRestore, VirtualMachineSnapshot,
};
use axum::http::StatusCode;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Forbidden,
    NotFound,
}
use Outcome::{Allowed as Ok_, Forbidden as No, NotFound as Hidden};

#[derive(Clone, Copy, Debug)]
enum Act {
    ViewVm,
    ListVms,
    OperateVm,
    CreateVm,
    DeleteVm,
    ResizeVm,
    UseConsole,
    ListSnapshots,
    TakeSnapshot,
    DeleteSnapshot,
    RestoreSnapshot,
    CloneVm,
    ViewQuota,
    SetQuota,
    ViewProject,
    ListMembers,
    EditProject,
    AddMember,
    ChangeRole,
    RemoveMember,
    MakeOwner,
    DeleteProject,
}

fn outcome(status: StatusCode, body: &str) -> Outcome {
    match status {
        StatusCode::OK => Outcome::Allowed,
        StatusCode::FORBIDDEN => Outcome::Forbidden,
        StatusCode::NOT_FOUND => Outcome::NotFound,
        other => panic!("unexpected answer {other}: {body}"),
    }
}

/// Does `act` as `who`; what came of it, checked against its effect.
async fn attempt(t: &Tenancy, act: Act, who: Who) -> Outcome {
    let slug = form(&t.alpha.slug);
    let member = t.member_id.clone();
    let vm = json!({"project": t.alpha.slug, "name": VM});
    let (status, body) = match act {
        Act::ViewVm => {
            t.post(who, "vms/get", &format!("project={slug}&name={VM}"))
                .await
        }
        Act::ListVms => {
            let (status, body) = t
                .post(
                    who,
                    "vms/list",
                    &json!({"query": {"name": "", "status": null,
                    "sort": "Name", "descending": false, "page": 0}})
                    .to_string(),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let listed = json(&body)["items"]
                .as_array()
                .expect("items")
                .iter()
                .any(|vm| vm["name"] == VM && vm["project"] == t.alpha.slug);
            return if listed {
                Outcome::Allowed
            } else {
                Outcome::NotFound
            };
        }
        Act::OperateVm => {
            let mut start = vm.clone();
            start["action"] = json!("Start");
            t.post(who, "vms/action", &start.to_string()).await
        }
        Act::CreateVm => {
            let body = json!({"form": {"name": "made", "project": t.alpha.slug, "cpus": "1",
                "memory_mib": "256", "image": "cirros", "image_url": "", "disk_gib": "",
                "ssh_key": "", "user_data": "", "run_strategy": "Halted"}});
            t.post(who, "vms/create", &body.to_string()).await
        }
        Act::DeleteVm => {
            let mut removal = vm.clone();
            removal["disks"] = json!("Delete");
            t.post(who, "vms/delete", &removal.to_string()).await
        }
        Act::ResizeVm => {
            let mut resize = vm.clone();
            resize["cpus"] = json!("2");
            resize["memory_mib"] = json!("256");
            stopped(t).await;
            t.post(who, "vms/resize", &resize.to_string()).await
        }
        Act::UseConsole => {
            crate::console::start_alpha_vm(t).await;
            let body = format!("project={slug}&vm={VM}&kind=vnc&take_over=false");
            t.post(who, "console_ticket", &body).await
        }
        Act::ListSnapshots => {
            t.post(who, "snapshots/list", &format!("project={slug}&vm={VM}"))
                .await
        }
        Act::TakeSnapshot => {
            let body = json!({"project": t.alpha.slug, "name": VM, "snapshot": "made-snap",
                "description": ""});
            t.post(who, "snapshots/take", &body.to_string()).await
        }
        Act::DeleteSnapshot => {
            crate::snapshots::ready_snapshot(t, "old-snap").await;
            let body = json!({"project": t.alpha.slug, "snapshot": "old-snap"});
            t.post(who, "snapshots/delete", &body.to_string()).await
        }
        Act::RestoreSnapshot => {
            crate::snapshots::ready_snapshot(t, "old-snap").await;
            let body = json!({"project": t.alpha.slug, "snapshot": "old-snap"});
            t.post(who, "snapshots/restore", &body.to_string()).await
        }
        Act::CloneVm => {
            let body = json!({"project": t.alpha.slug, "source": {"Vm": VM}, "target": "cloned"});
            t.post(who, "snapshots/clone", &body.to_string()).await
        }
        Act::ViewQuota => t.post(who, "quotas/project", &format!("slug={slug}")).await,
        Act::SetQuota => {
            let limits = json!({"vcpus": "7", "memory_mib": "1", "disk_gib": "1",
                "vm_count": "1", "snapshot_count": "1", "snapshot_gib": "1"});
            let body = json!({"slug": t.alpha.slug, "choice": {"Custom": limits}});
            t.post(who, "quotas/project/set", &body.to_string()).await
        }
        Act::ViewProject => t.post(who, "projects/get", &format!("slug={slug}")).await,
        Act::ListMembers => {
            t.post(who, "projects/members", &format!("slug={slug}"))
                .await
        }
        Act::EditProject => {
            let body = format!("slug={slug}&name=Renamed&description=Changed");
            t.post(who, "projects/update", &body).await
        }
        Act::AddMember => {
            let body = format!("slug={slug}&email={}&role=viewer", form(NEWCOMER));
            t.post(who, "projects/members/add", &body).await
        }
        Act::ChangeRole => {
            let body = format!("slug={slug}&user_id={member}&role=operator");
            t.post(who, "projects/members/role", &body).await
        }
        Act::RemoveMember => {
            let body = format!("slug={slug}&user_id={member}");
            t.post(who, "projects/members/remove", &body).await
        }
        Act::MakeOwner => {
            let body = format!("slug={slug}&user_id={member}&role=owner");
            t.post(who, "projects/members/role", &body).await
        }
        Act::DeleteProject => {
            let body = format!("slug={slug}&confirm_name=Alpha");
            t.post(who, "projects/delete", &body).await
        }
    };
    let outcome = outcome(status, &body);
    if outcome != Outcome::Allowed {
        // A refusal says nothing about the object beyond what the caller may know.
        assert!(!body.contains(&t.alpha.namespace), "{body}");
    }
    if let Some(done) = effect(t, act).await {
        assert_eq!(
            done,
            outcome == Outcome::Allowed,
            "{act:?} by {who:?}: the effect does not match the answer {status}: {body}"
        );
    }
    outcome
}

/// Whether `act` has had its effect; `None` for reads, which have none.
async fn effect(t: &Tenancy, act: Act) -> Option<bool> {
    match act {
        Act::ViewVm
        | Act::ViewProject
        | Act::ListMembers
        | Act::ListVms
        | Act::ViewQuota
        | Act::ListSnapshots => None,
        Act::TakeSnapshot => Some(alpha_has::<VirtualMachineSnapshot>(t, "made-snap").await),
        Act::DeleteSnapshot => {
            let snapshots = kube::Api::<VirtualMachineSnapshot>::namespaced(
                t.state.cluster.client.clone(),
                &t.alpha.namespace,
            );
            let left = snapshots.get_opt("old-snap").await.expect("read");
            Some(left.is_none_or(|snapshot| snapshot.metadata.deletion_timestamp.is_some()))
        }
        Act::RestoreSnapshot => Some(!alpha_all::<VirtualMachineRestore>(t).await.is_empty()),
        Act::CloneVm => Some(!alpha_all::<VirtualMachineClone>(t).await.is_empty()),
        Act::ResizeVm => {
            let vms = kube::Api::<app::vms::server::kubevirt::VirtualMachine>::namespaced(
                t.state.cluster.client.clone(),
                &t.alpha.namespace,
            );
            Some(vms.get(VM).await.expect("VM").cpus() == 2)
        }
        Act::UseConsole => {
            let tickets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM console_tickets")
                .fetch_one(t.test.db.pool())
                .await
                .expect("tickets");
            Some(tickets > 0)
        }
        Act::SetQuota => {
            let vcpus: i64 =
                sqlx::query_scalar("SELECT vcpus FROM resource_quotas WHERE project_id = $1")
                    .bind(&t.alpha.id)
                    .fetch_one(t.test.db.pool())
                    .await
                    .expect("quota");
            Some(vcpus == 7)
        }
        Act::OperateVm => {
            let vms = kube::Api::<app::vms::server::kubevirt::VirtualMachine>::namespaced(
                t.state.cluster.client.clone(),
                &t.alpha.namespace,
            );
            let vm = vms.get(VM).await.expect("VM");
            Some(vm.run_strategy() == "Always")
        }
        Act::CreateVm => {
            let vms = kube::Api::<app::vms::server::kubevirt::VirtualMachine>::namespaced(
                t.state.cluster.client.clone(),
                &t.alpha.namespace,
            );
            Some(vms.get_opt("made").await.expect("read").is_some())
        }
        Act::DeleteVm => {
            let vms = kube::Api::<app::vms::server::kubevirt::VirtualMachine>::namespaced(
                t.state.cluster.client.clone(),
                &t.alpha.namespace,
            );
            Some(vms.get_opt(VM).await.expect("read").is_none())
        }
        Act::EditProject => {
            let name: String = sqlx::query_scalar("SELECT name FROM projects WHERE id = $1")
                .bind(&t.alpha.id)
                .fetch_one(t.test.db.pool())
                .await
                .expect("name");
            Some(name == "Renamed")
        }
        Act::AddMember => Some(t.role_of(&t.alpha, &t.newcomer_id).await.is_some()),
        Act::ChangeRole => {
            Some(t.role_of(&t.alpha, &t.member_id).await.as_deref() == Some("operator"))
        }
        Act::RemoveMember => Some(t.role_of(&t.alpha, &t.member_id).await.is_none()),
        Act::MakeOwner => Some(t.role_of(&t.alpha, &t.member_id).await.as_deref() == Some("owner")),
        Act::DeleteProject => {
            let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE id = $1")
                .bind(&t.alpha.id)
                .fetch_one(t.test.db.pool())
                .await
                .expect("count");
            let namespace = app::vms::names::Namespace::parse(&t.alpha.namespace).expect("name");
            let exists = app::projects::server::namespace::exists(&t.state.cluster, &namespace)
                .await
                .expect("read");
            assert_eq!(
                left == 0,
                !exists,
                "the project and its namespace go together"
            );
            Some(left == 0)
        }
    }
}

/// Alpha's objects of kind `K`.
async fn alpha_all<K>(t: &Tenancy) -> Vec<K>
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let objects = kube::Api::<K>::namespaced(t.state.cluster.client.clone(), &t.alpha.namespace);
    objects.list(&Default::default()).await.expect("list").items
}

/// Whether Alpha has the object `name` of kind `K`.
async fn alpha_has<K>(t: &Tenancy, name: &str) -> bool
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    alpha_all::<K>(t)
        .await
        .iter()
        .any(|object| object.meta().name.as_deref() == Some(name))
}

/// Waits until the cluster says Alpha's VM is stopped, as resizing needs.
async fn stopped(t: &Tenancy) {
    for _ in 0..500 {
        let vm = t.state.live.vm(&t.alpha.namespace, VM);
        if vm.as_deref().and_then(|vm| vm.printable_status()) == Some("Stopped") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{VM} never stopped");
}

async fn cell(act: Act, who: Who, expected: Outcome) {
    let t = Tenancy::start().await;
    assert_eq!(attempt(&t, act, who).await, expected, "{act:?} by {who:?}");
}

/// One module per action, one test per column: outsider, viewer, operator, admin, owner,
/// global admin.
macro_rules! matrix {
    ($($module:ident: $act:ident => [$o:expr, $v:expr, $op:expr, $a:expr, $ow:expr, $g:expr];)*) => {$(
        mod $module {
            use super::*;
            #[tokio::test]
            async fn outsider() { cell(Act::$act, Who::Outsider, $o).await }
            #[tokio::test]
            async fn viewer() { cell(Act::$act, Who::Viewer, $v).await }
            #[tokio::test]
            async fn operator() { cell(Act::$act, Who::Operator, $op).await }
            #[tokio::test]
            async fn admin() { cell(Act::$act, Who::Admin, $a).await }
            #[tokio::test]
            async fn owner() { cell(Act::$act, Who::Owner, $ow).await }
            #[tokio::test]
            async fn global_admin() { cell(Act::$act, Who::GlobalAdmin, $g).await }
        }
    )*};
}

matrix! {
    view_vm: ViewVm => [Hidden, Ok_, Ok_, Ok_, Ok_, Ok_];
    list_vms: ListVms => [Hidden, Ok_, Ok_, Ok_, Ok_, Ok_];
    operate_vm: OperateVm => [Hidden, No, Ok_, Ok_, Ok_, Ok_];
    create_vm: CreateVm => [Hidden, No, Ok_, Ok_, Ok_, Ok_];
    delete_vm: DeleteVm => [Hidden, No, Ok_, Ok_, Ok_, Ok_];
    resize_vm: ResizeVm => [Hidden, No, Ok_, Ok_, Ok_, Ok_];
    use_console: UseConsole => [Hidden, No, Ok_, Ok_, Ok_, Ok_];
    list_snapshots: ListSnapshots => [Hidden, Ok_, Ok_, Ok_, Ok_, Ok_];
    take_snapshot: TakeSnapshot => [Hidden, No, Ok_, Ok_, Ok_, Ok_];
    delete_snapshot: DeleteSnapshot => [Hidden, No, Ok_, Ok_, Ok_, Ok_];
    restore_snapshot: RestoreSnapshot => [Hidden, No, Ok_, Ok_, Ok_, Ok_];
    clone_vm: CloneVm => [Hidden, No, Ok_, Ok_, Ok_, Ok_];
    view_quota: ViewQuota => [Hidden, Ok_, Ok_, Ok_, Ok_, Ok_];
    // Only global admins set quotas; to everyone else the answer is the same for every
    // project, so it gives nothing away.
    set_quota: SetQuota => [No, No, No, No, No, Ok_];
    view_project: ViewProject => [Hidden, Ok_, Ok_, Ok_, Ok_, Ok_];
    list_members: ListMembers => [Hidden, Ok_, Ok_, Ok_, Ok_, Ok_];
    edit_project: EditProject => [Hidden, No, No, Ok_, Ok_, Ok_];
    add_member: AddMember => [Hidden, No, No, Ok_, Ok_, Ok_];
    change_role: ChangeRole => [Hidden, No, No, Ok_, Ok_, Ok_];
    remove_member: RemoveMember => [Hidden, No, No, Ok_, Ok_, Ok_];
    make_owner: MakeOwner => [Hidden, No, No, No, Ok_, Ok_];
    delete_project: DeleteProject => [Hidden, No, No, No, Ok_, Ok_];
}
