//! virt-api's webhooks for snapshots, restores and clones (`pkg/storage/admitters/`,
//! `vmclone-admitter.go`), as the API server passes their refusals on: 422 Invalid, the
//! webhook named, KubeVirt's causes word for word.

use crate::{
    clones::{clone, clones},
    cluster::lifecycle::{create_vm, sim},
    kubevirt::create,
    restores::{restore, restores},
    snapshots::{snapshot, snapshots, with_data_volume},
};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

/// The refusal of creating `object` with `api`.
async fn refusal(api: &Api<DynamicObject>, object: Value) -> kube::core::Status {
    let object: DynamicObject = serde_json::from_value(object).expect("an object");
    match api.create(&PostParams::default(), &object).await {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn denied(webhook: &str, message: &str) -> String {
    format!("admission webhook \"{webhook}\" denied the request: {message}")
}

#[tokio::test]
async fn snapshots_restores_and_clones_are_refused_as_virt_api_refuses_them() {
    let (_sim, client, vms) = sim().await;
    create_vm(&vms, &with_data_volume("web", "Halted")).await;

    let mut elsewhere = snapshot("odd", "web");
    elsewhere["spec"]["source"]["apiGroup"] = json!("apps");
    let status = refusal(&snapshots(&client), elsewhere).await;
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    let webhook = "virtualmachinesnapshot-validator.snapshot.kubevirt.io";
    assert_eq!(status.message, denied(webhook, "invalid apiGroup"));
    let causes = status.details.expect("details").causes;
    assert_eq!(causes[0].field, "spec.source.apiGroup");
    assert_eq!(causes[0].reason, "FieldValueInvalid");

    // A snapshot's spec stays as created.
    create(&snapshots(&client), snapshot("kept", "web")).await;
    let other = Patch::Merge(json!({"spec": {"source": {"name": "other"}}}));
    let changed = snapshots(&client)
        .patch("kept", &PatchParams::default(), &other)
        .await;
    match changed {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422);
            assert_eq!(
                status.message,
                denied(webhook, "spec in immutable after creation")
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // One restore of a target at a time.
    create(&restores(&client), restore("first", "web", "kept")).await;
    let status = refusal(&restores(&client), restore("second", "web", "kept")).await;
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        denied(
            "virtualmachinerestore-validator.snapshot.kubevirt.io",
            "VirtualMachineRestore \"first\" in progress"
        )
    );

    // A VM is not cloned onto itself.
    let onto_itself = clone("same", ("kubevirt.io", "VirtualMachine", "web"), "web");
    let status = refusal(&clones(&client), onto_itself).await;
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        denied(
            "vm-clone-validator.kubevirt.io",
            "Target name cannot be equal to source name when both are VirtualMachines"
        )
    );
    let mut wrong_kind = clone("odd", ("apps", "Deployment", "web"), "copy");
    wrong_kind["spec"]["labelFilters"] = json!(["a*b", "!"]);
    let status = refusal(&clones(&client), wrong_kind).await;
    assert_eq!(
        status.message,
        denied(
            "vm-clone-validator.kubevirt.io",
            "spec.labels filter a*b is invalid: cannot contain a wildcard character (*); \
             FilterRules: WildcardChar can be only at the end of the filter, a negation \
             character is not a valid filter, Source kind is not supported"
        )
    );
}
