//! KubeVirt's validating admission webhooks for VirtualMachines, snapshots, restores and
//! clones, served by the stand-in as virt-api serves them: registered as virt-operator
//! registers them, called by the API server on creates and updates, and refusing as KubeVirt
//! refuses (`rules` for VMs, `lifecycle::admission` for the others).
//!
//! The API server reaches it through the same `virt-api` Service as the aggregated API: for a
//! webhook's `clientConfig.service`, kube-apiserver dials the address its service resolver
//! gives (`staging/src/k8s.io/apiserver/pkg/util/webhook/client.go`, `HookClient`), which is
//! the aggregator's resolver (`cmd/kube-apiserver/app/server.go`, `buildServiceResolver`),
//! so an ExternalName Service resolves to `externalName:port` with the webhook's own port
//! (`staging/src/k8s.io/apiserver/pkg/util/proxy/proxy.go`, `ResolveCluster`). That port is
//! therefore the stand-in's, where virt-operator names the Service's 443. The certificate is
//! checked for `virt-api.kubevirt.svc`, as for the aggregated API.

mod rules;

use super::{NAMESPACE, SERVICE};
use crate::lifecycle::admission;
use axum::{
    body::Bytes,
    extract::State,
    http::{header::CONTENT_TYPE, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use kube::{
    api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams},
    Client,
};
use rules::Cause;
use serde_json::{json, Value};
use std::time::Duration;

/// `VMValidatePath` (kubevirt `pkg/virt-operator/resource/generate/components/webhooks.go`).
pub const PATH: &str = "/virtualmachines-validate";
/// `VirtAPIValidatingWebhookName`, the configuration virt-operator installs (webhooks.go).
const CONFIGURATION: &str = "virt-api-validator";
const WEBHOOK: &str = "virtualmachine-validator.kubevirt.io";
/// The kinds whose webhooks `review_storage` answers, at their paths (`admission::webhook`).
pub const STORAGE_PLURALS: [&str; 3] = [
    "virtualmachinesnapshots",
    "virtualmachinerestores",
    "virtualmachineclones",
];

/// Answers an `AdmissionReview` as virt-api's `Serve` does
/// (kubevirt `pkg/util/webhooks/validating-webhooks/validating-webhook.go`): 400 without a
/// body unless it is one in JSON, else the review back with the response for its `uid`.
pub async fn review(headers: HeaderMap, body: Bytes) -> Response {
    match decoded(&headers, &body) {
        Some(review) => answer(&review, admit(&review["request"])),
        None => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// `VMsAdmitter.Admit` (kubevirt `pkg/virt-api/webhooks/validating-webhook/admitters/vms-admitter.go`).
fn admit(request: &Value) -> Value {
    let resource = &request["resource"];
    let is_vm = resource["group"] == "kubevirt.io"
        && resource["resource"] == "virtualmachines"
        && matches!(resource["version"].as_str(), Some("v1" | "v1alpha3"));
    if !is_vm {
        // `ToAdmissionResponseError` (pkg/util/webhooks/webhooks.go).
        return json!({"allowed": false, "status": {
            "message": "expect resource to be 'virtualmachines'", "code": 400}});
    }
    let vm = &request["object"];
    // KubeVirt lets a VM being deleted through, not to hold up its deletion.
    if !vm["metadata"]["deletionTimestamp"].is_null() {
        return json!({"allowed": true});
    }
    let causes = rules::causes(vm);
    if !causes.is_empty() {
        return refusal(causes);
    }
    let old = Some(&request["oldObject"]).filter(|_| request["operation"] == "UPDATE");
    if let Some(message) = old.and_then(|old| rules::storage_status(vm, old)) {
        let cause = admission::Cause {
            kind: "FieldValueNotSupported",
            field: "spec".to_owned(),
            message,
        };
        return json!({"allowed": false, "status": admission::refusal_status(vec![cause])});
    }
    let mut allowed = json!({"allowed": true});
    if !vm["spec"]["running"].is_null() {
        allowed["warnings"] =
            json!(["spec.running is deprecated, please use spec.runStrategy instead."]);
    }
    allowed
}

/// `ToAdmissionResponse` (kubevirt `pkg/util/webhooks/webhooks.go`) of the VM rules' causes.
fn refusal(causes: Vec<Cause>) -> Value {
    let causes = causes
        .into_iter()
        .map(|cause| admission::invalid(&cause.field, cause.message))
        .collect();
    json!({"allowed": false, "status": admission::refusal_status(causes)})
}

/// Answers an `AdmissionReview` for a snapshot, restore or clone, as virt-api's admitters of
/// them do (`lifecycle::admission`).
pub async fn review_storage(
    State(server): State<super::Aggregated>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(review) = decoded(&headers, &body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let request = &review["request"];
    let plural = request["resource"]["resource"].as_str().unwrap_or_default();
    let namespace = request["namespace"].as_str().unwrap_or_default();
    let restores = if plural == "virtualmachinerestores" {
        let restores = Api::<DynamicObject>::namespaced_with(
            server.remote.client.clone(),
            namespace,
            &storage_resource("virtualmachinerestores"),
        );
        match restores.list(&Default::default()).await {
            Ok(list) => list
                .items
                .into_iter()
                .filter_map(|restore| serde_json::to_value(restore).ok())
                .collect(),
            Err(error) => {
                let message = error.to_string();
                return answer(
                    &review,
                    json!({"allowed": false,
                    "status": {"message": message, "code": 400}}),
                );
            }
        }
    } else {
        Vec::new()
    };
    let old = Some(&request["oldObject"]).filter(|_| request["operation"] == "UPDATE");
    let causes = admission::causes(plural, &request["object"], old, &restores);
    let response = if causes.is_empty() {
        json!({"allowed": true})
    } else {
        json!({"allowed": false, "status": admission::refusal_status(causes)})
    };
    answer(&review, response)
}

/// The review in `body`, if it is one in JSON.
fn decoded(headers: &HeaderMap, body: &[u8]) -> Option<Value> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .is_some_and(|value| value == "application/json");
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(|review| is_json && review["request"].is_object())
}

/// The review back with `response` for its request's `uid`.
fn answer(review: &Value, mut response: Value) -> Response {
    response["uid"] = review["request"]["uid"].clone();
    Json(
        json!({"apiVersion": review["apiVersion"], "kind": "AdmissionReview",
        "response": response}),
    )
    .into_response()
}

fn storage_resource(plural: &str) -> ApiResource {
    let (group, kind) = match plural {
        "virtualmachineclones" => ("clone.kubevirt.io", "VirtualMachineClone"),
        "virtualmachinerestores" => ("snapshot.kubevirt.io", "VirtualMachineRestore"),
        _ => ("snapshot.kubevirt.io", "VirtualMachineSnapshot"),
    };
    ApiResource {
        group: group.to_owned(),
        version: "v1beta1".to_owned(),
        api_version: format!("{group}/v1beta1"),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.to_owned(),
        version: "v1".to_owned(),
        api_version: format!("{group}/v1"),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

/// Registers the VM validator of virt-operator's `NewVirtAPIValidatingWebhookConfiguration`
/// (webhooks.go) on the stand-in's `port`, trusting `certificate_pem`, and returns once the
/// API server calls it.
pub async fn register(
    client: &Client,
    port: u16,
    certificate_pem: &str,
) -> Result<(), kube::Error> {
    use base64::{engine::general_purpose::STANDARD, Engine as _};
    let configurations: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource(
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
        ),
    );
    let webhook = |name: &str, path: &str, rule: Value| {
        json!({
            "name": name,
            "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
            "sideEffects": "None",
            "rules": [rule],
            "clientConfig": {
                "service": {"namespace": NAMESPACE, "name": SERVICE, "path": path, "port": port},
                "caBundle": STANDARD.encode(certificate_pem),
            },
        })
    };
    let mut webhooks = vec![webhook(
        WEBHOOK,
        PATH,
        json!({"operations": ["CREATE", "UPDATE"], "apiGroups": ["kubevirt.io"],
            "apiVersions": ["v1alpha3", "v1"], "resources": ["virtualmachines"]}),
    )];
    for plural in STORAGE_PLURALS {
        if let Some((name, path, on_update)) = admission::webhook(plural) {
            let operations = if on_update {
                json!(["CREATE", "UPDATE"])
            } else {
                json!(["CREATE"])
            };
            let group = storage_resource(plural).group;
            webhooks.push(webhook(
                name,
                path,
                json!({"operations": operations, "apiGroups": [group],
                    "apiVersions": ["v1beta1"], "resources": [plural]}),
            ));
        }
    }
    configurations
        .patch(
            CONFIGURATION,
            &PatchParams::apply("wukong-kubevirt-stand-in").force(),
            &Patch::Apply(json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": CONFIGURATION},
                "webhooks": webhooks,
            })),
        )
        .await?;
    called(client).await
}

/// The API server learns of webhook configurations from a watch, so a VM created right after
/// the registration may not meet the webhook yet. A dry run of a VM it refuses (a disk
/// without a volume) is repeated until the webhook's refusal comes back.
async fn called(client: &Client) -> Result<(), kube::Error> {
    let vms: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &resource("kubevirt.io", "VirtualMachine", "virtualmachines"),
    );
    let probe: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": "webhook-probe"},
        "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": {
            "devices": {"disks": [{"name": "probe", "disk": {}}]}}}}},
    }))
    .map_err(kube::Error::SerdeError)?;
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let refused = format!("admission webhook \"{WEBHOOK}\" denied the request");
    for _ in 0..300 {
        match vms.create(&dry_run, &probe).await {
            Err(kube::Error::Api(status)) if status.message.starts_with(&refused) => return Ok(()),
            // Admitted without the webhook, or its call failed: its Service is not known yet.
            Ok(_) | Err(kube::Error::Api(_)) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(other) => return Err(other),
        }
    }
    Err(kube::Error::Service(
        format!("the API server did not call the webhook {WEBHOOK} within 30 s").into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::admit;
    use serde_json::{json, Value};

    fn review(vm: Value) -> Value {
        let resource =
            json!({"group": "kubevirt.io", "version": "v1", "resource": "virtualmachines"});
        admit(&json!({"resource": resource, "object": vm}))
    }

    /// A VM with `disks` disks and no volumes, each disk one cause.
    fn without_volumes(disks: usize) -> Value {
        let disks: Vec<Value> = (0..disks)
            .map(|index| json!({"name": format!("d{index}"), "disk": {}}))
            .collect();
        json!({"spec": {"runStrategy": "Halted",
            "template": {"spec": {"domain": {"devices": {"disks": disks}}}}}})
    }

    /// `ToAdmissionResponse` shows ten causes and counts the rest.
    #[test]
    fn past_ten_causes_the_rest_are_counted() {
        let answer = review(without_volumes(12));
        let message = answer["status"]["message"].as_str().expect("message");
        assert!(message
            .starts_with("spec.template.spec.domain.devices.disks[0].Name 'd0' not found., "));
        assert!(message.ends_with("disks[9].Name 'd9' not found., and 2 more validation errors"));
        assert_eq!(
            answer["status"]["details"]["causes"]
                .as_array()
                .map(Vec::len),
            Some(10)
        );
        assert_eq!(answer["status"]["code"], 422);
    }

    #[test]
    fn an_empty_cd_rom_a_deleted_vm_and_base64_user_data_are_judged_as_kubevirt_does() {
        let mut cd_rom = without_volumes(1);
        cd_rom["spec"]["template"]["spec"]["domain"]["devices"]["disks"][0] =
            json!({"name": "cd", "cdrom": {}});
        assert_eq!(review(cd_rom), json!({"allowed": true}));
        let mut deleted = without_volumes(1);
        deleted["metadata"] = json!({"deletionTimestamp": "2026-01-01T00:00:00Z"});
        assert_eq!(review(deleted), json!({"allowed": true}));
        use base64::{engine::general_purpose::STANDARD, Engine as _};
        let user_data = |length: usize| {
            json!({"spec": {"runStrategy": "Halted", "template": {"spec": {
                "domain": {"devices": {"disks": [{"name": "ci"}]}},
                "volumes": [{"name": "ci", "cloudInitConfigDrive":
                    {"userDataBase64": STANDARD.encode("#".repeat(length))}}]}}}})
        };
        assert_eq!(review(user_data(2048)), json!({"allowed": true}));
        assert_eq!(
            review(user_data(2049))["status"]["message"],
            "spec.template.spec.volumes[0].cloudInitConfigDrive userdata exceeds 2048 byte \
             limit. Should use UserDataSecretRef for larger data."
        );
        let mut receiver = without_volumes(0);
        receiver["spec"]["runStrategy"] = json!("WaitAsReceiver");
        assert_eq!(
            review(receiver)["status"]["message"],
            "Invalid RunStrategy (WaitAsReceiver), DecentralizedLiveMigration feature gate is \
             not enabled in kubevirt resource"
        );
    }

    /// `AdmitStatus` (vm-storage-status.go): no new volumes while a snapshot is taken, no
    /// new run strategy while a restore runs; other changes pass.
    #[test]
    fn a_vm_being_snapshotted_or_restored_keeps_its_volumes_or_run_strategy() {
        let resource =
            json!({"group": "kubevirt.io", "version": "v1", "resource": "virtualmachines"});
        let update = |old: &Value, new: &Value| {
            admit(&json!({"resource": resource, "operation": "UPDATE",
                "object": new, "oldObject": old}))
        };
        let mut old = without_volumes(0);
        old["status"] = json!({"snapshotInProgress": "snap"});
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["volumes"] =
            json!([{"name": "extra", "emptyDisk": {"capacity": "1Gi"}}]);
        let answer = update(&old, &new);
        assert_eq!(
            answer["status"]["message"],
            "Cannot update vm disks or volumes until snapshot \"snap\" completes"
        );
        assert_eq!(answer["status"]["code"], 422);
        assert_eq!(
            answer["status"]["details"]["causes"][0]["reason"],
            "FieldValueNotSupported"
        );
        let mut old = without_volumes(0);
        old["status"] = json!({"restoreInProgress": "back"});
        let mut started = old.clone();
        started["spec"]["runStrategy"] = json!("Always");
        assert_eq!(
            update(&old, &started)["status"]["message"],
            "Cannot update VM runStrategy until restore \"back\" completes"
        );
        let mut relabelled = old.clone();
        relabelled["spec"]["template"]["metadata"] = json!({"labels": {"a": "b"}});
        assert_eq!(update(&old, &relabelled), json!({"allowed": true}));
    }

    #[test]
    fn other_resources_are_refused_as_virt_api_refuses_them() {
        let answer = admit(&json!({"resource":
            {"group": "kubevirt.io", "version": "v1", "resource": "virtualmachineinstances"}}));
        assert_eq!(
            answer,
            json!({"allowed": false, "status":
                {"message": "expect resource to be 'virtualmachines'", "code": 400}})
        );
    }
}
