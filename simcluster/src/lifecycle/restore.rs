//! The VM restore controller, as virt-controller's (`pkg/storage/snapshot/restore.go`,
//! `updateVMRestore`): a VirtualMachineRestore takes its target VM (owning the restore and
//! marked with `status.restoreInProgress`), waits for the target to be stopped as its
//! `targetReadinessPolicy` says, and for its snapshot to be ready, then restores each volume
//! backup to a new claim (`status.restores`), rewrites the target's spec from the snapshot's
//! copy of the VM (keeping the target's run strategy; a target that does not exist is created
//! stopped), deletes the DataVolumes the target no longer uses, gives the target the restored
//! ones (which the VM controller adopts in KubeVirt), and completes.
//!
//! What keeps it waiting or stops it is in its conditions and events, word for word: a
//! running target (`WaitGracePeriod`, the default, fails after five minutes, which pass in
//! transition delays as a snapshot's deadline does), a snapshot missing, failed or not ready,
//! or a different VM of the target's name. Each step takes a transition delay; restored
//! DataVolumes are pre-populated (`cdi.kubevirt.io/storage.prePopulated`), so CDI does not
//! import them again.

use super::{
    array_at,
    events::Event,
    is_deleting, merge_patch, now,
    runtime::Context,
    runtime::Work,
    set_finalizer,
    snapshot::{conditions_with, deadline_steps, snapshot_condition, DEFAULT_DEADLINE_SECONDS},
    text, vm, Kind, Objects, Part,
};
use serde_json::{json, Value};

const FINALIZER: &str = "snapshot.kubevirt.io/vmrestore-protection";
const COMPONENT: &str = "restore-controller";
const LAST_RESTORE: &str = "restore.kubevirt.io/lastRestoreUID";
/// `RestoreNameAnnotation`.
const RESTORE_NAME: &str = "restore.kubevirt.io/name";
/// CDI's `AnnPrePopulated`.
pub(super) const PRE_POPULATED: &str = "cdi.kubevirt.io/storage.prePopulated";

const WAIT_GRACE_PERIOD: &str = "Waiting for target VM to be powered off. Please stop the restore \
                                 target to proceed with restore, or the operation will fail after \
                                 5m0s";
const WAIT_EVENTUALLY: &str = "Waiting for target VM to be powered off. Please stop the restore \
                               target to proceed with restore";
const VMI_EXISTS: &str = "Restore target VMI still exists, please stop the restore target to \
                          proceed with restore";
const STOP_TARGET: &str = "Automatically stopping restore target for restore operation";
const GRACE_PERIOD_EXCEEDED: &str = "Restore target failed to be ready within 5m0s. Please power \
                                     off the target VM before attempting restore";
const NOT_READY_FAILURE: &str = "Restore target VMI must be powered off before restore operation";
const EXISTING_TARGET: &str =
    "restore source and restore target are different but restore target already exists";

fn complete(restore: &Value) -> bool {
    restore.pointer("/status/complete") == Some(&json!(true))
}

fn failed(restore: &Value) -> bool {
    super::condition(restore, "Failure").is_some()
}

/// `getRestoreAnnotationValue`.
fn restore_mark(restore: &Value) -> String {
    format!(
        "{}-{}",
        text(restore, "/metadata/name"),
        text(restore, "/metadata/uid")
    )
}

/// `hasLastRestoreAnnotation`.
fn restored(restore: &Value, vm: &Value) -> bool {
    vm.pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(LAST_RESTORE))
        .and_then(Value::as_str)
        == Some(restore_mark(restore).as_str())
}

/// One restore being looked at.
struct Restore<'a, O> {
    context: &'a Context<O>,
    objects: &'a O,
    restore: Value,
    work: Work,
}

pub(super) async fn reconcile<O: Objects>(context: &Context<O>, namespace: &str, name: &str) {
    let objects = &context.objects;
    let Some(restore) = objects
        .get(Kind::VirtualMachineRestore, namespace, name)
        .await
    else {
        return;
    };
    let work = Work::new(Kind::VirtualMachineRestore, namespace, name);
    let step = Restore {
        context,
        objects,
        restore,
        work,
    };
    step.update().await;
}

impl<O: Objects> Restore<'_, O> {
    fn namespace(&self) -> &str {
        text(&self.restore, "/metadata/namespace")
    }

    fn uid(&self) -> &str {
        text(&self.restore, "/metadata/uid")
    }

    /// Writes the restore's status with `changes` and the conditions Progressing and Ready.
    async fn write(&self, changes: Value, progressing: bool, ready: bool, reason: &str) {
        let conditions = vec![
            snapshot_condition("Progressing", progressing, reason),
            snapshot_condition("Ready", ready, reason),
        ];
        self.write_conditions(changes, conditions).await;
    }

    /// Writes the restore's status with `changes` and `conditions` (`updateRestoreCondition`).
    async fn write_conditions(&self, mut changes: Value, conditions: Vec<Value>) {
        changes["conditions"] = conditions_with(&self.restore, conditions);
        let current = self.restore.get("status").cloned().unwrap_or(json!({}));
        let mut desired = current.clone();
        if let (Some(desired), Some(changes)) = (desired.as_object_mut(), changes.as_object()) {
            desired.extend(changes.clone());
        }
        if let Some(patch) = merge_patch(&current, &desired) {
            self.objects
                .patch_of(
                    Kind::VirtualMachineRestore,
                    &self.restore,
                    Part::Status,
                    patch,
                )
                .await;
        }
    }

    async fn record(&self, event: Event) {
        self.objects.record_event(event.from(COMPONENT)).await;
    }

    /// `doUpdateErrorWithFailure`: the reason in the conditions (and a Failure condition
    /// when `fail`), a warning event; the restore is looked at again a delay later unless it
    /// failed.
    async fn error(&self, message: &str, fail: bool) {
        let mut conditions = vec![
            snapshot_condition("Progressing", false, message),
            snapshot_condition("Ready", false, message),
        ];
        let event = if fail {
            conditions.push(snapshot_condition("Failure", true, message));
            let text = format!("VirtualMachineRestore failed {message}");
            Event::warning(&self.restore, "Operation failed", text)
        } else {
            self.again();
            let text = format!("VirtualMachineRestore encountered error {message}");
            Event::warning(&self.restore, "VirtualMachineRestoreError", text)
        };
        self.record(event).await;
        self.write_conditions(json!({}), conditions).await;
    }

    fn again(&self) {
        self.context
            .again(format!("{}/again", self.uid()), &self.work);
    }

    async fn target(&self) -> Option<Value> {
        let name = text(&self.restore, "/spec/target/name");
        self.objects
            .get(Kind::VirtualMachine, self.namespace(), name)
            .await
    }

    /// `updateVMRestore`.
    async fn update(&self) {
        if self.restore.get("status").is_none() {
            let reason = "Initializing VirtualMachineRestore";
            self.write(json!({"complete": false}), true, false, reason)
                .await;
            return;
        }
        let target = self.target().await;
        if is_deleting(&self.restore) {
            self.delete(target.as_ref()).await;
            return;
        }
        if complete(&self.restore) || failed(&self.restore) {
            return;
        }
        if !self.own(target.as_ref()).await {
            return;
        }
        if let Some(vm) = &target {
            let name = text(vm, "/metadata/name");
            let running = self
                .objects
                .get(Kind::VirtualMachineInstance, self.namespace(), name)
                .await
                .is_some();
            if running {
                self.target_not_ready(vm).await;
                return;
            }
        }
        let Some(snapshot) = self.snapshot().await else {
            return;
        };
        if let Some(vm) = &target {
            let different = snapshot
                .pointer("/status/sourceUID")
                .is_some_and(|uid| *uid != vm["metadata"]["uid"]);
            if !restored(&self.restore, vm) && different {
                self.error(EXISTING_TARGET, false).await;
                return;
            }
            if !self.mark_in_progress(vm).await {
                return;
            }
        }
        let content_name = text(&snapshot, "/status/virtualMachineSnapshotContentName");
        let Some(content) = self
            .objects
            .get(
                Kind::VirtualMachineSnapshotContent,
                self.namespace(),
                content_name,
            )
            .await
        else {
            let message = format!(
                "VirtualMachineSnapshotContent {}/{content_name} does not exist",
                self.namespace()
            );
            self.error(&message, false).await;
            return;
        };
        if self.restore_volumes(&content).await {
            return;
        }
        if let Some(updated) = self.reconcile_target(target.as_ref(), &content).await {
            if updated {
                self.write(json!({}), true, false, "Updating target spec")
                    .await;
            }
            // What it waits for (DataVolumes, the target's change) does not requeue it.
            self.again();
            return;
        }
        self.finish(target.as_ref()).await;
    }

    /// `handleVMRestoreDeletion`.
    async fn delete(&self, target: Option<&Value>) {
        if !array_at(&self.restore, "/metadata/finalizers")
            .iter()
            .any(|finalizer| finalizer == FINALIZER)
        {
            return;
        }
        if let Some(vm) = target {
            self.done(vm).await;
        }
        let reason = "VM restore is deleting";
        let deleting =
            super::condition(&self.restore, "Ready").is_some_and(|ready| ready["reason"] == reason);
        if !deleting {
            self.write(json!({}), false, false, reason).await;
            return;
        }
        set_finalizer(
            self.objects,
            Kind::VirtualMachineRestore,
            &self.restore,
            FINALIZER,
            false,
        )
        .await;
    }

    /// `Own` and the finalizer; whether they are in place.
    async fn own(&self, target: Option<&Value>) -> bool {
        let mut metadata = json!({});
        let owned = array_at(&self.restore, "/metadata/ownerReferences");
        if let (Some(vm), true) = (target, owned.is_empty()) {
            metadata["ownerReferences"] = json!([{
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                "name": vm["metadata"]["name"], "uid": vm["metadata"]["uid"],
                "controller": true, "blockOwnerDeletion": true,
            }]);
        }
        let finalizers = array_at(&self.restore, "/metadata/finalizers");
        if !finalizers.iter().any(|finalizer| finalizer == FINALIZER) {
            let mut finalizers = finalizers;
            finalizers.push(json!(FINALIZER));
            metadata["finalizers"] = Value::Array(finalizers);
        }
        if metadata == json!({}) {
            return true;
        }
        let patch = json!({ "metadata": metadata });
        self.objects
            .patch_of(
                Kind::VirtualMachineRestore,
                &self.restore,
                Part::Object,
                patch,
            )
            .await
    }

    /// `handleVMRestoreTargetNotReady`, by `targetReadinessPolicy`.
    async fn target_not_ready(&self, vm: &Value) {
        let policy = self
            .restore
            .pointer("/spec/targetReadinessPolicy")
            .and_then(Value::as_str)
            .unwrap_or("WaitGracePeriod");
        let reason = match policy {
            "WaitEventually" => WAIT_EVENTUALLY,
            "StopTarget" => {
                self.record(Event::warning(
                    &self.restore,
                    "RestoreTargetNotReady",
                    STOP_TARGET,
                ))
                .await;
                self.write(json!({}), false, false, STOP_TARGET).await;
                self.stop(vm).await;
                self.again();
                return;
            }
            "FailImmediate" => {
                self.error(NOT_READY_FAILURE, true).await;
                return;
            }
            _ => {
                let token = format!("{}/grace", self.uid());
                let steps = deadline_steps(DEFAULT_DEADLINE_SECONDS);
                if self.context.waited(token, steps, &self.work) {
                    self.error(GRACE_PERIOD_EXCEEDED, true).await;
                    return;
                }
                WAIT_GRACE_PERIOD
            }
        };
        self.record(Event::warning(
            &self.restore,
            "RestoreTargetNotReady",
            VMI_EXISTS,
        ))
        .await;
        self.write(json!({}), false, false, reason).await;
        self.again();
    }

    /// `Stop`: virtctl's stop, as virt-api carries it out.
    async fn stop(&self, vm: &Value) {
        let name = text(vm, "/metadata/name");
        if let Err(refusal) = super::act(
            self.objects,
            "virtualmachines",
            self.namespace(),
            name,
            "stop",
            &json!({}),
        )
        .await
        {
            self.error(&refusal.message, false).await;
        }
    }

    /// `getVMSnapshot`: the snapshot, if ready to restore from.
    async fn snapshot(&self) -> Option<Value> {
        let name = text(&self.restore, "/spec/virtualMachineSnapshotName");
        let key = format!("{}/{name}", self.namespace());
        let snapshot = self
            .objects
            .get(Kind::VirtualMachineSnapshot, self.namespace(), name)
            .await;
        let problem = match &snapshot {
            None => format!("VMSnapshot {key} does not exist"),
            Some(snapshot) if text(snapshot, "/status/phase") == "Failed" => {
                format!("VMSnapshot {key} failed and is invalid to use")
            }
            Some(snapshot) if snapshot.pointer("/status/readyToUse") != Some(&json!(true)) => {
                format!("VMSnapshot {key} not ready")
            }
            Some(snapshot)
                if snapshot
                    .pointer("/status/virtualMachineSnapshotContentName")
                    .is_none() =>
            {
                format!("no snapshot content name in {key}")
            }
            Some(_) => return snapshot,
        };
        self.error(&problem, false).await;
        None
    }

    /// `UpdateRestoreInProgress`; whether the target is marked (or need not be).
    async fn mark_in_progress(&self, vm: &Value) -> bool {
        if restored(&self.restore, vm) {
            return true;
        }
        let name = text(&self.restore, "/metadata/name");
        match text(vm, "/status/restoreInProgress") {
            "" => {
                let status = json!({"restoreInProgress": name});
                self.objects
                    .patch_of(Kind::VirtualMachine, vm, Part::Status, status)
                    .await
            }
            current if current == name => true,
            other => {
                self.error(&format!("vm restore {other} in progress"), false)
                    .await;
                false
            }
        }
    }

    /// `reconcileVolumeRestores`: a claim per volume backup, restored one delay after the
    /// restores are written; whether it is still at it.
    async fn restore_volumes(&self, content: &Value) -> bool {
        let current = array_at(&self.restore, "/status/restores");
        let restores: Vec<Value> = array_at(content, "/spec/volumeBackups")
            .iter()
            .map(|backup| {
                let volume = text(backup, "/volumeName");
                current
                    .iter()
                    .find(|restore| restore["volumeName"] == volume)
                    .cloned()
                    .unwrap_or_else(|| {
                        json!({
                            "volumeName": volume,
                            "persistentVolumeClaim": format!("restore-{}-{volume}", self.uid()),
                            "volumeSnapshotName": backup["volumeSnapshotName"],
                        })
                    })
            })
            .collect();
        if restores != current {
            let changes = json!({"restores": restores});
            self.write(changes, true, false, "Creating new PVCs").await;
            return true;
        }
        let token = format!("{}/claims", self.uid());
        !restores.is_empty() && !self.context.waited(token, 1, &self.work)
    }

    /// `Reconcile` of the target: none once it is restored, else whether it changed.
    async fn reconcile_target(&self, target: Option<&Value>, content: &Value) -> Option<bool> {
        if target.is_some_and(|vm| restored(&self.restore, vm)) {
            return None;
        }
        let copy = &content["spec"]["source"]["virtualMachine"];
        let mut restores = array_at(&self.restore, "/status/restores");
        let templates = array_at(copy, "/spec/dataVolumeTemplates");
        let mut updated_restores = false;
        for restore in &mut restores {
            let claim = restore["persistentVolumeClaim"].clone();
            let volume = text(restore, "/volumeName").to_owned();
            let from_template = array_at(copy, "/spec/template/spec/volumes")
                .iter()
                .find(|candidate| candidate["name"] == volume.as_str())
                .and_then(|candidate| candidate.pointer("/dataVolume/name").cloned())
                .is_some_and(|name| templates.iter().any(|t| t["metadata"]["name"] == name));
            if from_template && restore.get("dataVolumeName") != Some(&claim) {
                restore["dataVolumeName"] = claim;
                updated_restores = true;
            }
        }
        if updated_restores {
            let changes = json!({"restores": restores});
            self.write(changes, true, false, "Updating target spec")
                .await;
            return Some(false);
        }
        let restored_vm = self.restored_vm(target, copy, &restores);
        if self.restore_data_volumes(&restored_vm).await {
            return Some(true);
        }
        if let Some(vm) = target {
            let obsolete: Vec<Value> = array_at(vm, "/spec/dataVolumeTemplates")
                .iter()
                .map(|template| template["metadata"]["name"].clone())
                .filter(|name| {
                    !array_at(&restored_vm, "/spec/dataVolumeTemplates")
                        .iter()
                        .any(|template| template["metadata"]["name"] == *name)
                })
                .collect();
            let current = self.restore.pointer("/status/deletedDataVolumes");
            let listed = current.cloned().unwrap_or(json!([]));
            if listed != Value::Array(obsolete.clone()) {
                let changes = json!({"deletedDataVolumes": obsolete});
                self.write(changes, true, false, "Updating target spec")
                    .await;
                return Some(false);
            }
        }
        let written = match target {
            Some(vm) => match merge_patch(vm, &restored_vm) {
                Some(patch) => {
                    self.objects
                        .patch_of(Kind::VirtualMachine, vm, Part::Object, patch)
                        .await
                }
                None => true,
            },
            None => {
                let mut restored_vm = restored_vm;
                let patches = array_at(&self.restore, "/spec/patches");
                if let Err(error) = apply_patches(&mut restored_vm, &patches) {
                    let name = text(&restored_vm, "/metadata/name");
                    let message = format!("error patching VM {name}: {error}");
                    self.error(&message, false).await;
                    return Some(false);
                }
                self.objects
                    .create(Kind::VirtualMachine, restored_vm)
                    .await
                    .is_ok()
            }
        };
        Some(written)
    }

    /// `generateRestoredVMSpec`: the copy's spec with the restored claims, and the target's
    /// run strategy (or Halted for a new VM), marked as restored by this restore.
    fn restored_vm(&self, target: Option<&Value>, copy: &Value, restores: &[Value]) -> Value {
        let mut spec = copy["spec"].clone();
        let restore_of = |volume: &str| {
            restores
                .iter()
                .find(|restore| restore["volumeName"] == volume)
        };
        let mut volumes = array_at(copy, "/spec/template/spec/volumes");
        let mut templates = array_at(copy, "/spec/dataVolumeTemplates");
        for volume in &mut volumes {
            let Some(restore) = restore_of(text(volume, "/name")) else {
                continue;
            };
            if let Some(name) = restore.get("dataVolumeName") {
                let old = text(volume, "/dataVolume/name").to_owned();
                for template in &mut templates {
                    if template["metadata"]["name"] == old.as_str() {
                        template["metadata"]["name"] = name.clone();
                    }
                }
                volume["dataVolume"]["name"] = name.clone();
            } else {
                let name = text(volume, "/name").to_owned();
                *volume = json!({"name": name, "persistentVolumeClaim":
                    {"claimName": restore["persistentVolumeClaim"]}});
            }
        }
        if spec.get("dataVolumeTemplates").is_some() {
            spec["dataVolumeTemplates"] = Value::Array(templates);
        }
        spec["template"]["spec"]["volumes"] = Value::Array(volumes);
        let mut vm = match target {
            Some(vm) => {
                let mut vm = vm.clone();
                if vm.pointer("/spec/running").is_some() {
                    spec["running"] = json!(false);
                    spec.as_object_mut().map(|spec| spec.remove("runStrategy"));
                } else {
                    spec["runStrategy"] = json!(vm::run_strategy(&vm));
                    spec.as_object_mut().map(|spec| spec.remove("running"));
                }
                vm["spec"] = spec;
                vm
            }
            None => {
                if spec.get("running").is_some() {
                    spec["running"] = json!(false);
                } else {
                    spec["runStrategy"] = json!("Halted");
                }
                json!({
                    "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                    "metadata": {
                        "name": self.restore["spec"]["target"]["name"],
                        "namespace": self.namespace(),
                        "labels": copy["metadata"].get("labels").cloned().unwrap_or(json!({})),
                        "annotations":
                            copy["metadata"].get("annotations").cloned().unwrap_or(json!({})),
                    },
                    "spec": spec,
                })
            }
        };
        vm["metadata"]["annotations"][LAST_RESTORE] = json!(restore_mark(&self.restore));
        vm
    }

    /// `reconcileDataVolumes`: the restored DataVolumes, pre-populated from their claims;
    /// whether one was created or is not ready yet.
    async fn restore_data_volumes(&self, restored_vm: &Value) -> bool {
        let mut busy = false;
        for template in array_at(restored_vm, "/spec/dataVolumeTemplates") {
            let name = text(&template, "/metadata/name");
            if let Some(volume) = self
                .objects
                .get(Kind::DataVolume, self.namespace(), name)
                .await
            {
                busy |= !matches!(
                    text(&volume, "/status/phase"),
                    "Succeeded" | "WaitForFirstConsumer" | "PendingPopulation"
                );
                continue;
            }
            let mut metadata = template["metadata"].clone();
            metadata["namespace"] = json!(self.namespace());
            metadata["annotations"][RESTORE_NAME] = self.restore["metadata"]["name"].clone();
            metadata["annotations"][PRE_POPULATED] = json!("true");
            let volume = json!({
                "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
                "metadata": metadata,
                "spec": template.get("spec").cloned().unwrap_or(json!({})),
            });
            if let Err(error) = self.objects.create(Kind::DataVolume, volume).await {
                let message = format!("Error creating restore DataVolume {name}: {error}");
                let event = Event::warning(&self.restore, "RestoreDataVolumeCreateError", message);
                self.record(event).await;
            }
            busy = true;
        }
        busy
    }

    /// `deleteObsoleteVolumes`, `UpdateDoneRestore` and the completion.
    async fn finish(&self, target: Option<&Value>) {
        for name in array_at(&self.restore, "/status/deletedDataVolumes") {
            if let Some(name) = name.as_str() {
                self.objects
                    .delete(Kind::DataVolume, self.namespace(), name)
                    .await;
            }
        }
        let Some(vm) = target else {
            // The new target is created; it is looked at again once the change arrives.
            self.again();
            return;
        };
        self.adopt_data_volumes(vm).await;
        if !self.done(vm).await {
            return;
        }
        let name = text(&self.restore, "/metadata/name");
        let message = format!("Successfully completed VirtualMachineRestore {name}");
        self.record(Event::normal(
            &self.restore,
            "VirtualMachineRestoreComplete",
            message,
        ))
        .await;
        let changes = json!({"complete": true, "restoreTime": now()});
        self.write(changes, false, true, "Operation complete").await;
    }

    /// The restored DataVolumes become the target's, as the VM controller adopts the
    /// DataVolumes of its templates, so that they go with it.
    async fn adopt_data_volumes(&self, vm: &Value) {
        for template in array_at(vm, "/spec/dataVolumeTemplates") {
            let name = text(&template, "/metadata/name");
            let Some(volume) = self
                .objects
                .get(Kind::DataVolume, self.namespace(), name)
                .await
            else {
                continue;
            };
            if array_at(&volume, "/metadata/ownerReferences").is_empty() {
                let owners = json!({"metadata":
                    {"ownerReferences": [vm::controller_reference(vm)]}});
                self.objects
                    .patch_of(Kind::DataVolume, &volume, Part::Object, owners)
                    .await;
            }
        }
    }

    /// `UpdateDoneRestore`; whether the target is not marked any more.
    async fn done(&self, vm: &Value) -> bool {
        if text(vm, "/status/restoreInProgress") != text(&self.restore, "/metadata/name") {
            return true;
        }
        let status = json!({"restoreInProgress": null});
        self.objects
            .patch_of(Kind::VirtualMachine, vm, Part::Status, status)
            .await
    }
}

/// `patchVM`: the JSON patches (RFC 6902, one a string) applied to `vm` in order; add,
/// replace and remove, which are what a clone asks for.
pub(super) fn apply_patches(vm: &mut Value, patches: &[Value]) -> Result<(), String> {
    for patch in patches.iter().filter_map(Value::as_str) {
        let operation: Value = serde_json::from_str(patch).map_err(|error| error.to_string())?;
        let path = text(&operation, "/path");
        let (parent, last) = path.rsplit_once('/').ok_or("invalid path")?;
        let key = last.replace("~1", "/").replace("~0", "~");
        let missing = || format!("doc is missing path: \"{path}\"");
        let target = vm.pointer_mut(parent).ok_or_else(missing)?;
        match (text(&operation, "/op"), target) {
            ("add" | "replace", Value::Object(fields)) => {
                fields.insert(key, operation["value"].clone());
            }
            ("remove", Value::Object(fields)) => {
                fields.remove(&key).ok_or_else(missing)?;
            }
            ("add", Value::Array(items)) => {
                let index = match key.as_str() {
                    "-" => items.len(),
                    index => index.parse().map_err(|_| missing())?,
                };
                if index > items.len() {
                    return Err(missing());
                }
                items.insert(index, operation["value"].clone());
            }
            ("replace", Value::Array(items)) => {
                let index: usize = key.parse().map_err(|_| missing())?;
                let slot = items.get_mut(index).ok_or_else(missing)?;
                *slot = operation["value"].clone();
            }
            ("remove", Value::Array(items)) => {
                let index: usize = key.parse().map_err(|_| missing())?;
                if index >= items.len() {
                    return Err(missing());
                }
                items.remove(index);
            }
            (op, _) => return Err(format!("Unexpected kind: {op}")),
        }
    }
    Ok(())
}
