//! Templates and project limits as admins set them, what members are told, and resize.

use super::{quota_of, room_for, session, set_limits, small, small_vm};
use crate::tenancy::{json, Tenancy, Who};
use app::quotas::server::mirror;
use app::vms::server::kubevirt::VirtualMachine;
use app::{
    auth::server::session::Requester,
    quotas::types::{Amounts, LimitsForm, QuotaTemplateForm},
    vms::{new_vm::VmSize, server::requests},
    AppError,
};
use kube::api::Api;
use serde_json::json;
use std::time::Duration;

fn template_form(name: &str, limits: &Amounts) -> QuotaTemplateForm {
    QuotaTemplateForm {
        name: name.to_owned(),
        description: "For tests.".to_owned(),
        limits: LimitsForm::from_amounts(limits),
        is_default: false,
    }
}

async fn save(t: &Tenancy, who: Who, id: &str, form: &QuotaTemplateForm) -> (u16, String) {
    let body = json!({"id": id, "form": form});
    let (status, answer) = t
        .post(who, "quotas/templates/save", &body.to_string())
        .await;
    (status.as_u16(), answer)
}

#[tokio::test]
async fn sensible_templates_are_there_from_the_start_and_new_projects_get_the_default() {
    let t = Tenancy::start().await;
    let (status, body) = t.post(Who::GlobalAdmin, "quotas/templates", "").await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<(String, bool)> = json(&body)
        .as_array()
        .expect("list")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["is_default"] == true,
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("small".to_owned(), true),
            ("medium".to_owned(), false),
            ("large".to_owned(), false)
        ]
    );
    let alpha = quota_of(&t, &t.alpha).await;
    assert_eq!(alpha.template.map(|t| t.name).as_deref(), Some("small"));
    assert_eq!(alpha.limits.vm_count, 5);
}

#[tokio::test]
async fn only_global_admins_see_or_change_templates_and_limits() {
    let t = Tenancy::start().await;
    let form = template_form("tiny", &small());
    for who in [Who::Owner, Who::Admin, Who::Outsider] {
        let (status, _) = t.post(who, "quotas/templates", "").await;
        assert_eq!(status, 403, "{who:?}");
        assert_eq!(save(&t, who, "", &form).await.0, 403, "{who:?}");
        let body = json!({"slug": t.alpha.slug,
            "choice": {"Custom": LimitsForm::from_amounts(&small())}});
        let (status, _) = t.post(who, "quotas/project/set", &body.to_string()).await;
        assert_eq!(status, 403, "{who:?}");
        let (status, _) = t.post(who, "quotas/overview", "").await;
        assert_eq!(status, 403, "{who:?}");
    }
    // Members read their project's quota; others get 404 as for any project of others.
    let slug = format!("slug={}", t.alpha.slug);
    assert_eq!(t.post(Who::Viewer, "quotas/project", &slug).await.0, 200);
    assert_eq!(t.post(Who::Outsider, "quotas/project", &slug).await.0, 404);
}

#[tokio::test]
async fn a_changed_template_reaches_its_projects_when_applied_and_cannot_go_while_used() {
    let t = Tenancy::start().await;
    let (status, body) = save(&t, Who::GlobalAdmin, "", &template_form("tiny", &small())).await;
    assert_eq!(status, 200, "{body}");
    let id = json(&body)["id"].as_str().expect("id").to_owned();
    assert_eq!(
        save(&t, Who::GlobalAdmin, "", &template_form("tiny", &small()))
            .await
            .0,
        422,
        "a second template of the same name"
    );
    let choose = json!({"slug": t.alpha.slug, "choice": {"Template": id}});
    let (status, body) = t
        .post(Who::GlobalAdmin, "quotas/project/set", &choose.to_string())
        .await;
    assert_eq!(status, 200, "{body}");
    let bigger = small().plus(&small(), 1);
    let (status, body) = save(&t, Who::GlobalAdmin, &id, &template_form("tiny", &bigger)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["projects"], 1);
    // Not applied yet: the project keeps the limits it had, and says so.
    let alpha = quota_of(&t, &t.alpha).await;
    assert_eq!(alpha.limits, small());
    assert_eq!(alpha.template.map(|t| t.current), Some(false));
    let (status, body) = t
        .post(
            Who::GlobalAdmin,
            "quotas/templates/apply",
            &format!("id={id}"),
        )
        .await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "1"));
    assert_eq!(quota_of(&t, &t.alpha).await.limits, bigger);
    let delete_body = format!("id={id}");
    let delete = || t.post(Who::GlobalAdmin, "quotas/templates/delete", &delete_body);
    let (status, body) = delete().await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("1 project uses it"), "{body}");
    set_limits(&t, &t.alpha, &bigger).await;
    let (status, body) = delete().await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_quota_lowered_below_usage_shows_over_quota_and_blocks_only_growth() {
    let t = Tenancy::start().await;
    room_for(&t, &t.alpha, 0).await;
    set_limits(&t, &t.alpha, &Amounts::default()).await;
    let alpha = quota_of(&t, &t.alpha).await;
    assert!(alpha.over_quota());
    assert_eq!(alpha.usage, small(), "nothing was deleted");
    let operator = session(&t, Who::Operator).await;
    let form = small_vm(&t.alpha, "one-more");
    let refused = requests::create(&t.state, &operator, &Requester::default(), &form).await;
    assert!(
        matches!(refused, Err(AppError::QuotaExceeded { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_refusal_names_the_resource_the_request_the_room_and_the_limit_over_http() {
    let t = Tenancy::start().await;
    let mut limits = room_for(&t, &t.alpha, 0).await;
    limits.vcpus += 8;
    limits.vm_count += 1;
    limits.memory_mib = 16384;
    set_limits(&t, &t.alpha, &limits).await;
    let mut form = small_vm(&t.alpha, "too-big");
    form.memory_mib = "16384".to_owned();
    let body = json!({"form": form});
    let (status, answer) = t.post(Who::Operator, "vms/create", &body.to_string()).await;
    assert_eq!(status, 409, "{answer}");
    let free = 16384 - 256;
    let expected = format!(
        "memory: 16384 MiB requested, {free} of 16384 MiB free in project {}",
        t.alpha.slug
    );
    assert!(answer.contains(&expected), "{answer}");
}

/// Waits until the cluster says the VM `name` of Alpha is stopped.
async fn stopped(t: &Tenancy, name: &str) {
    for _ in 0..500 {
        let vm = t.state.live.vm(&t.alpha.namespace, name);
        if vm.as_deref().and_then(|vm| vm.printable_status()) == Some("Stopped") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} never stopped");
}

#[tokio::test]
async fn a_stopped_vm_is_resized_within_the_quota_and_refused_beyond_it() {
    let t = Tenancy::start().await;
    let before = room_for(&t, &t.alpha, 2).await;
    let operator = session(&t, Who::Operator).await;
    let form = small_vm(&t.alpha, "growing");
    requests::create(&t.state, &operator, &Requester::default(), &form)
        .await
        .expect("made");
    stopped(&t, "growing").await;
    let two = VmSize {
        cpus: 2,
        memory_mib: 512,
    };
    requests::resize(
        &t.state,
        &operator,
        &Requester::default(),
        &t.alpha.slug,
        "growing",
        two,
    )
    .await
    .expect("resized within the room");
    assert_eq!(
        quota_of(&t, &t.alpha).await.usage,
        before.plus(&Amounts::vm(2, 512, 0), 1)
    );
    let vms: Api<VirtualMachine> =
        Api::namespaced(t.state.cluster.client.clone(), &t.alpha.namespace);
    let vm = vms.get("growing").await.expect("VM");
    assert_eq!((vm.cpus(), vm.memory_bytes()), (2, 512 << 20));
    let three = VmSize {
        cpus: 3,
        memory_mib: 512,
    };
    let refused = requests::resize(
        &t.state,
        &operator,
        &Requester::default(),
        &t.alpha.slug,
        "growing",
        three,
    )
    .await;
    match refused {
        Err(AppError::QuotaExceeded { message }) => {
            assert!(
                message.starts_with("vCPUs: 1 requested, 0 of "),
                "{message}"
            )
        }
        other => panic!("not refused for quota: {other:?}"),
    }
    assert_eq!(
        quota_of(&t, &t.alpha).await.usage,
        before.plus(&Amounts::vm(2, 512, 0), 1)
    );
}

#[tokio::test]
async fn a_project_quota_set_by_an_admin_reaches_the_namespace_as_its_resource_quota() {
    let t = Tenancy::start().await;
    let limits = Amounts::vm(6, 12288, 40).plus(&Amounts::vm(0, 0, 0), 2);
    set_limits(&t, &t.alpha, &limits).await;
    let mirrored = crate::quota_mirror::quota(&t.state.cluster, &t.alpha.namespace).await;
    let hard = crate::quota_mirror::spec_hard(&mirrored);
    assert_eq!(hard, mirror::hard(&limits));
}
