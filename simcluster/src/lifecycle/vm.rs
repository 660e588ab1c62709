//! The VM controller, as virt-controller's (`pkg/virt-controller/watch/vm/vm.go`): `sync`
//! creates the VM's DataVolumes (`handleDataVolumes`) and holds any start until they are
//! imported, applies the run strategy (`syncRunStrategy`), and writes the VM's status
//! (`updateStatus`: `isTrimFirstChangeRequestNeeded`, `syncConditions`,
//! `setPrintableStatus`).

use super::{
    array_at, condition, condition_is, events::Event, instance, is_deleting, runtime::Context,
    text, with_condition, Kind, Objects, Part,
};
use serde_json::{json, Map, Value};

pub(super) const COMPONENT: &str = "virtualmachine-controller";

/// `VirtualMachine.RunStrategy()` (staging/src/kubevirt.io/api/core/v1/types.go):
/// `spec.runStrategy`, or Always or Halted from the deprecated `spec.running`.
pub(crate) fn run_strategy(vm: &Value) -> &str {
    match vm.pointer("/spec/runStrategy").and_then(Value::as_str) {
        Some(strategy) => strategy,
        None if vm.pointer("/spec/running").and_then(Value::as_bool) == Some(true) => "Always",
        None => "Halted",
    }
}

pub(super) fn change_requests(vm: &Value) -> &[Value] {
    vm.pointer("/status/stateChangeRequests")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Only the first request counts (`hasStartRequest`).
fn has_start_request(vm: &Value) -> bool {
    change_requests(vm)
        .first()
        .is_some_and(|request| request["action"] == "Start")
}

/// `hasStopRequestForVMI`: the first request stops this very instance.
fn has_stop_request_for(vm: &Value, vmi: &Value) -> bool {
    change_requests(vm).first().is_some_and(|request| {
        request["action"] == "Stop" && request["uid"] == vmi["metadata"]["uid"]
    })
}

/// The VMI of `name` counts only if `vm` controls it.
fn owned_by(vmi: &Value, vm: &Value) -> bool {
    vmi.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners
                .iter()
                .any(|owner| owner["uid"] == vm["metadata"]["uid"])
        })
}

/// `metav1.NewControllerRef(vm, VirtualMachineGroupVersionKind)`.
pub(super) fn controller_reference(vm: &Value) -> Value {
    json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "name": vm["metadata"]["name"], "uid": vm["metadata"]["uid"],
        "controller": true, "blockOwnerDeletion": true,
    })
}

/// The VM `name` and the instance it controls, if any.
async fn vm_and_instance<O: Objects>(
    objects: &O,
    namespace: &str,
    name: &str,
) -> Option<(Value, Option<Value>)> {
    let vm = objects.get(Kind::VirtualMachine, namespace, name).await?;
    let vmi = objects
        .get(Kind::VirtualMachineInstance, namespace, name)
        .await
        .filter(|vmi| owned_by(vmi, &vm));
    Some((vm, vmi))
}

/// The metadata of an object `name` in the VM's namespace that the VM controls.
fn controlled_metadata(vm: &Value, name: &Value, labels: Value) -> Value {
    json!({
        "name": name,
        "namespace": vm["metadata"]["namespace"],
        "labels": labels,
        "ownerReferences": [controller_reference(vm)],
    })
}

pub(super) async fn reconcile<O: Objects>(context: &Context<O>, namespace: &str, name: &str) {
    let objects = &context.objects;
    let Some((vm, vmi)) = vm_and_instance(objects, namespace, name).await else {
        return;
    };
    if is_deleting(&vm) {
        if let Some(vmi) = &vmi {
            stop(objects, &vm, vmi).await;
        }
    } else {
        let strategy = run_strategy(&vm);
        // "not sure why we allow to proceed when halted but preserving legacy behavior"
        if data_volumes_ready(objects, &vm).await || strategy == "Halted" {
            sync_run_strategy(objects, &vm, vmi.as_ref(), strategy).await;
        }
    }
    write_status(objects, namespace, name).await;
}

/// `handleDataVolumes`: creates each DataVolume of `spec.dataVolumeTemplates` that does not
/// exist (`CreateDataVolumeManifest`, pkg/virt-controller/watch/util/util.go); whether all
/// are ready for the VM to start.
async fn data_volumes_ready<O: Objects>(objects: &O, vm: &Value) -> bool {
    let namespace = text(vm, "/metadata/namespace");
    let templates = array_at(vm, "/spec/dataVolumeTemplates");
    let mut ready = true;
    for template in templates {
        let name = text(&template, "/metadata/name");
        match objects.get(Kind::DataVolume, namespace, name).await {
            Some(volume) => {
                ready &= matches!(
                    text(&volume, "/status/phase"),
                    "Succeeded" | "WaitForFirstConsumer" | "PendingPopulation"
                );
            }
            None => {
                ready = false;
                let created = objects
                    .create(Kind::DataVolume, data_volume(vm, &template))
                    .await;
                if created.is_ok() {
                    let message = format!("Created DataVolume {name}");
                    let event = Event::normal(vm, "SuccessfulDataVolumeCreate", message);
                    objects.record_event(event.from(COMPONENT)).await;
                }
            }
        }
    }
    ready
}

/// A DataVolume from its template (`GenerateDataVolumeFromTemplate`,
/// pkg/storage/types/dv.go), labelled with and controlled by its VM.
fn data_volume(vm: &Value, template: &Value) -> Value {
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    labels["kubevirt.io/created-by"] = vm["metadata"]["uid"].clone();
    let mut annotations = template
        .pointer("/metadata/annotations")
        .cloned()
        .unwrap_or_else(|| json!({}));
    annotations["cdi.kubevirt.io/allowClaimAdoption"] = json!("true");
    let mut metadata = controlled_metadata(vm, &template["metadata"]["name"], labels);
    metadata["annotations"] = annotations;
    json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

async fn sync_run_strategy<O: Objects>(
    objects: &O,
    vm: &Value,
    vmi: Option<&Value>,
    strategy: &str,
) {
    match (strategy, vmi) {
        ("Always", Some(vmi)) if has_stop_request_for(vm, vmi) || instance::is_final(vmi) => {
            stop(objects, vm, vmi).await;
        }
        ("RerunOnFailure", Some(vmi)) => {
            let failed = text(vmi, "/status/phase") == "Failed";
            let succeeded = text(vmi, "/status/phase") == "Succeeded";
            if !is_deleting(vmi) && (has_stop_request_for(vm, vmi) || failed || succeeded) {
                stop(objects, vm, vmi).await;
                // Only a failure is run again: a guest that shut itself down stays down.
                if failed {
                    let mut requests = change_requests(vm).to_vec();
                    requests.push(json!({"action": "Start"}));
                    let status = json!({"stateChangeRequests": requests});
                    objects
                        .patch_of(Kind::VirtualMachine, vm, Part::Status, status)
                        .await;
                }
            }
        }
        // `shouldStartRerunOnFailure`: on a start request, or when the strategy just
        // became RerunOnFailure.
        ("RerunOnFailure", None)
            if has_start_request(vm) || text(vm, "/status/runStrategy") != strategy =>
        {
            start(objects, vm).await;
        }
        ("Manual", Some(vmi)) if has_stop_request_for(vm, vmi) => stop(objects, vm, vmi).await,
        ("Manual", None) if has_start_request(vm) => start(objects, vm).await,
        ("Halted", Some(vmi)) => stop(objects, vm, vmi).await,
        ("Always" | "Once", None) => start(objects, vm).await,
        _ => {}
    }
}

/// `startVMI`: the instance from the VM's template (`SetupVMIFromVM`), controlled by the VM
/// and held by the VMI controller's finalizer until it is gone.
async fn start<O: Objects>(objects: &O, vm: &Value) {
    let labels = vm
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let generation = vm
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut metadata = controlled_metadata(vm, &vm["metadata"]["name"], labels);
    metadata["annotations"] = json!({"kubevirt.io/vm-generation": generation.to_string()});
    metadata["finalizers"] = json!([instance::FINALIZER]);
    let vmi = json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": metadata,
        "spec": vm.pointer("/spec/template/spec").cloned().unwrap_or_else(|| json!({})),
    });
    if let Ok(created) = objects.create(Kind::VirtualMachineInstance, vmi).await {
        let message = format!(
            "Started the virtual machine by creating the new virtual machine instance {}",
            text(&created, "/metadata/name")
        );
        let event = Event::normal(vm, "SuccessfulCreate", message);
        objects.record_event(event.from(COMPONENT)).await;
    }
}

/// `stopVMI`: deletes the instance, unless it is being deleted already.
async fn stop<O: Objects>(objects: &O, vm: &Value, vmi: &Value) {
    if is_deleting(vmi) {
        return;
    }
    let (namespace, name) = super::names(vmi);
    objects
        .delete(Kind::VirtualMachineInstance, &namespace, &name)
        .await;
    let message = format!(
        "Stopped the virtual machine by deleting the virtual machine instance {}",
        text(vmi, "/metadata/uid")
    );
    let event = Event::normal(vm, "SuccessfulDelete", message);
    objects.record_event(event.from(COMPONENT)).await;
}

/// The DataVolumes the VM's volumes name (`HasDataVolumeErrors`,
/// `HasDataVolumeProvisioning` in pkg/storage/types/dv.go look at those).
async fn volumes_of<O: Objects>(objects: &O, vm: &Value) -> Vec<Value> {
    let namespace = text(vm, "/metadata/namespace");
    let volumes = array_at(vm, "/spec/template/spec/volumes");
    let mut found = Vec::new();
    for volume in volumes {
        let name = text(&volume, "/dataVolume/name");
        if name.is_empty() {
            continue;
        }
        if let Some(data_volume) = objects.get(Kind::DataVolume, namespace, name).await {
            found.push(data_volume);
        }
    }
    found
}

/// `HasDataVolumeErrors`: failed, or its importer stopped on an error.
fn has_error(data_volume: &Value) -> bool {
    let running = condition(data_volume, "Running");
    text(data_volume, "/status/phase") == "Failed"
        || running.is_some_and(|running| {
            running["status"] == "False"
                && matches!(
                    running["reason"].as_str(),
                    Some("Error" | "ImagePullFailed")
                )
        })
}

/// `HasDataVolumeProvisioning`.
fn is_provisioning(data_volume: &Value) -> bool {
    let phase = text(data_volume, "/status/phase");
    !matches!(phase, "Succeeded" | "PendingPopulation")
        && (condition_is(data_volume, "Bound", "True") || phase != "WaitForFirstConsumer")
}

/// `setPrintableStatus`: the first that holds, in KubeVirt's order (those it has for
/// migrations, PVCs, image pulls, crash loops and receivers are not simulated).
fn printable_status(vm: &Value, vmi: Option<&Value>, volumes: &[Value]) -> &'static str {
    let phase = vmi.map_or("", |vmi| text(vmi, "/status/phase"));
    let final_ = vmi.is_some_and(instance::is_final);
    let paused = vmi.is_some_and(|vmi| condition_is(vmi, "Paused", "True"));
    let unschedulable = vmi
        .and_then(|vmi| condition(vmi, "PodScheduled"))
        .is_some_and(|c| c["status"] == "False" && c["reason"] == "Unschedulable");
    if is_deleting(vm) {
        "Terminating"
    } else if vmi.is_some_and(|vmi| !final_ && is_deleting(vmi)) {
        "Stopping"
    } else if phase == "Running" && paused {
        "Paused"
    } else if phase == "Running" {
        "Running"
    } else if volumes.iter().any(has_error) {
        "DataVolumeError"
    } else if unschedulable {
        "ErrorUnschedulable"
    } else if volumes.iter().any(is_provisioning) {
        "Provisioning"
    } else if vmi.is_some() && matches!(phase, "" | "Pending" | "Scheduling" | "Scheduled") {
        "Starting"
    } else if vmi.is_none() || final_ {
        "Stopped"
    } else {
        "Unknown"
    }
}

/// `isTrimFirstChangeRequestNeeded`: the first request goes once it is done. A stop is
/// done when its instance is gone; a start once an instance runs (or is on its way).
fn trimmed_requests(vm: &Value, vmi: Option<&Value>) -> Vec<Value> {
    let mut requests = change_requests(vm).to_vec();
    let done = match (requests.first(), vmi) {
        (Some(request), None) if request["action"] == "Stop" => true,
        (Some(request), Some(vmi)) if request["action"] == "Stop" => {
            request["uid"].is_null() || request["uid"] != vmi["metadata"]["uid"]
        }
        (Some(request), Some(vmi)) if request["action"] == "Start" => {
            !is_deleting(vmi) && !instance::is_final(vmi)
        }
        _ => false,
    };
    if done {
        requests.remove(0);
    }
    requests
}

/// `syncConditions`: Ready from the instance's (or that there is none), the instance's
/// other conditions copied, and those it no longer has removed.
fn conditions(vm: &Value, vmi: Option<&Value>) -> Vec<Value> {
    const NOT_COPIED: [&str; 3] = ["Ready", "Failure", "RestartRequired"];
    let current: Vec<Value> = array_at(vm, "/status/conditions");
    let ready = match vmi.and_then(|vmi| condition(vmi, "Ready")) {
        Some(ready) => {
            let mut copied = ready.clone();
            if let Some(fields) = copied.as_object_mut() {
                fields.retain(|key, _| {
                    matches!(
                        key.as_str(),
                        "type"
                            | "status"
                            | "reason"
                            | "message"
                            | "lastProbeTime"
                            | "lastTransitionTime"
                    )
                });
            }
            copied
        }
        None if vmi.is_some() => json!({"type": "Ready", "status": "False",
            "reason": "VMIConditionMissing", "message": "VMI is missing the Ready condition",
            "lastProbeTime": null, "lastTransitionTime": super::now()}),
        None => json!({"type": "Ready", "status": "False", "reason": "VMINotExists",
            "message": "VMI does not exist", "lastProbeTime": null,
            "lastTransitionTime": super::now()}),
    };
    let mut updated = with_condition(&current, ready);
    let Some(vmi) = vmi else {
        return updated;
    };
    let copied: Vec<Value> = vmi
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|condition| !NOT_COPIED.contains(&text(condition, "/type")))
        .cloned()
        .collect();
    updated.retain(|condition| {
        NOT_COPIED.contains(&text(condition, "/type"))
            || copied.iter().any(|kept| kept["type"] == condition["type"])
    });
    for condition in copied {
        updated = with_condition(&updated, condition);
    }
    updated
}

/// `updateStatus`: what the VM's status should say now, written when it says otherwise.
async fn write_status<O: Objects>(objects: &O, namespace: &str, name: &str) {
    let Some((vm, vmi)) = vm_and_instance(objects, namespace, name).await else {
        return;
    };
    let volumes = volumes_of(objects, &vm).await;
    let created = vmi.is_some();
    let mut desired = Map::new();
    desired.insert(
        "printableStatus".to_owned(),
        json!(printable_status(&vm, vmi.as_ref(), &volumes)),
    );
    desired.insert("created".to_owned(), json!(created));
    desired.insert(
        "ready".to_owned(),
        json!(vmi
            .as_ref()
            .is_some_and(|vmi| condition_is(vmi, "Ready", "True"))),
    );
    // Recorded once an instance was created, so RerunOnFailure can tell a VM that ran.
    let recorded_strategy = !text(&vm, "/status/runStrategy").is_empty();
    if recorded_strategy || created {
        desired.insert("runStrategy".to_owned(), json!(run_strategy(&vm)));
    }
    let requests = trimmed_requests(&vm, vmi.as_ref());
    desired.insert(
        "stateChangeRequests".to_owned(),
        if requests.is_empty() {
            Value::Null
        } else {
            Value::Array(requests)
        },
    );
    desired.insert(
        "conditions".to_owned(),
        Value::Array(conditions(&vm, vmi.as_ref())),
    );
    let current = vm.get("status").cloned().unwrap_or_else(|| json!({}));
    let changes: Map<String, Value> = desired
        .into_iter()
        .filter(|(key, value)| current.get(key).unwrap_or(&Value::Null) != value)
        .collect();
    if !changes.is_empty() {
        objects
            .patch_status(
                Kind::VirtualMachine,
                namespace,
                name,
                Value::Object(changes),
            )
            .await;
    }
}
