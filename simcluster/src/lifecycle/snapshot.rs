//! The VM snapshot controller, as virt-controller's (`pkg/storage/snapshot/snapshot.go`,
//! `source.go`, `util.go`): a VirtualMachineSnapshot is InProgress while its source VM is
//! locked (`status.snapshotInProgress` and a finalizer on the VM, once the VM's DataVolumes are
//! populated) and its VirtualMachineSnapshotContent, a copy of the VM and a volume backup per
//! DataVolume or PVC, is taken; Succeeded and ready to use once the content is, after which the
//! VM is unlocked. A snapshot of a running VM says so in its indications (Online, and
//! GuestAgent or NoGuestAgent from the VMI's AgentConnected condition, or Paused).
//!
//! A snapshot whose source does not exist stays InProgress ("Source does not exist") until its
//! failure deadline (`spec.failureDeadline`, five minutes by default) passes, and then
//! Failed. Deadlines pass in transition delays, one per five seconds of them. Deleting a
//! snapshot deletes its content (unless `deletionPolicy` is Retain and the content is ready)
//! and unlocks the VM, then its finalizer goes.
//!
//! The CSI VolumeSnapshots are not simulated: each volume's snapshot is ready one transition
//! delay after the content is created.

use super::{
    array_at, condition, events::Event, is_deleting, merge_patch, now, runtime::Context,
    runtime::Work, set_finalizer, text, with_condition, Kind, Objects, Part,
};
use serde_json::{json, Map, Value};

const FINALIZER: &str = "snapshot.kubevirt.io/vmsnapshot-protection";
const CONTENT_FINALIZER: &str = "snapshot.kubevirt.io/vmsnapshotcontent-protection";
const SOURCE_FINALIZER: &str = "snapshot.kubevirt.io/snapshot-source-protection";
const COMPONENT: &str = "snapshot-controller";
/// `DefaultFailureDeadline` (staging/src/kubevirt.io/api/snapshot/v1beta1/types.go).
pub(super) const DEFAULT_DEADLINE_SECONDS: u64 = 300;

/// `newReadyCondition`, `newProgressingCondition`, `newFailureCondition` (util.go), for
/// snapshots, restores and clones alike.
pub(super) fn snapshot_condition(kind: &str, status: bool, reason: &str) -> Value {
    json!({"type": kind, "status": if status { "True" } else { "False" }, "reason": reason,
        "lastProbeTime": null, "lastTransitionTime": now()})
}

/// `conditions` after `updateCondition` (util.go) with each of `new`.
pub(super) fn conditions_with(object: &Value, new: Vec<Value>) -> Value {
    let mut conditions = array_at(object, "/status/conditions");
    for condition in new {
        conditions = with_condition(&conditions, condition);
    }
    Value::Array(conditions)
}

/// Transition delays for a deadline of `seconds` (at least one).
pub(super) fn deadline_steps(seconds: u64) -> u32 {
    u32::try_from(seconds.div_ceil(5).max(1)).unwrap_or(u32::MAX)
}

/// Seconds of a Go duration such as `5m`, `1h30m` or `45s`; none if it is not one.
pub(super) fn duration_seconds(text: &str) -> Option<u64> {
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        total += value
            * match unit.as_str() {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                _ => return None,
            };
    }
    number.is_empty().then_some(total.ceil() as u64)
}

/// `GetVMSnapshotContentName`.
fn content_name(snapshot: &Value) -> String {
    match snapshot
        .pointer("/status/virtualMachineSnapshotContentName")
        .and_then(Value::as_str)
    {
        Some(name) => name.to_owned(),
        None => format!("vmsnapshot-content-{}", text(snapshot, "/metadata/uid")),
    }
}

fn phase(snapshot: &Value) -> &str {
    text(snapshot, "/status/phase")
}

/// `vmSnapshotProgressing`.
fn progressing(snapshot: &Value) -> bool {
    !matches!(phase(snapshot), "Failed" | "Succeeded")
}

/// `PersistentVolumeClaims` of the source: the claim of each DataVolume or PVC volume.
fn claims(vm: &Value) -> Vec<(String, String)> {
    array_at(vm, "/spec/template/spec/volumes")
        .iter()
        .filter_map(|volume| {
            let claim = volume
                .pointer("/dataVolume/name")
                .or_else(|| volume.pointer("/persistentVolumeClaim/claimName"))?;
            Some((text(volume, "/name").to_owned(), claim.as_str()?.to_owned()))
        })
        .collect()
}

/// What the source looks like (`UpdateSourceState`).
struct Source {
    vm: Value,
    online: bool,
    paused: bool,
    guest_agent: bool,
    locked: bool,
}

async fn source<O: Objects>(objects: &O, snapshot: &Value) -> Option<Source> {
    if text(snapshot, "/spec/source/kind") != "VirtualMachine" {
        return None;
    }
    let namespace = text(snapshot, "/metadata/namespace");
    let name = text(snapshot, "/spec/source/name");
    let vm = objects.get(Kind::VirtualMachine, namespace, name).await?;
    let vmi = objects
        .get(Kind::VirtualMachineInstance, namespace, name)
        .await;
    let in_progress = text(&vm, "/status/snapshotInProgress");
    let locked = in_progress == text(snapshot, "/metadata/name")
        && array_at(&vm, "/metadata/finalizers")
            .iter()
            .any(|finalizer| finalizer == SOURCE_FINALIZER);
    Some(Source {
        online: vmi.is_some(),
        paused: vmi
            .as_ref()
            .and_then(|vmi| condition(vmi, "Paused"))
            .is_some_and(|paused| paused["status"] == "True"),
        guest_agent: vmi
            .as_ref()
            .is_some_and(|vmi| condition(vmi, "AgentConnected").is_some()),
        vm,
        locked,
    })
}

impl Source {
    fn lock_message(&self) -> &'static str {
        if self.locked {
            "Source locked and operation in progress"
        } else {
            "Source not locked"
        }
    }

    /// `updateSnapshotSourceIndications`: sorted, as `sets.List` gives them.
    fn indications(&self) -> Vec<&'static str> {
        if !self.online {
            return Vec::new();
        }
        let second = if self.paused {
            "Paused"
        } else if self.guest_agent {
            "GuestAgent"
        } else {
            "NoGuestAgent"
        };
        let mut indications = vec!["Online", second];
        indications.sort_unstable();
        indications
    }
}

/// `snapshotIndicationMessages`.
fn indication_message(indication: &str) -> &'static str {
    match indication {
        "Online" => {
            "Snapshot taken while the VM was running. Consistency depends on guest-agent quiescing."
        }
        "GuestAgent" => {
            "Guest agent was active and attempted to quiesce the filesystem for application \
             consistency."
        }
        "NoGuestAgent" => {
            "Guest agent was not available. Snapshot is crash-consistent and may not be \
             application-consistent."
        }
        "Paused" => {
            "Snapshot taken while the VM was paused. Snapshot is crash-consistent and may not be \
             application-consistent."
        }
        _ => "Unknown indication",
    }
}

pub(super) async fn reconcile<O: Objects>(context: &Context<O>, namespace: &str, name: &str) {
    let objects = &context.objects;
    let Some(snapshot) = objects
        .get(Kind::VirtualMachineSnapshot, namespace, name)
        .await
    else {
        return;
    };
    let work = Work::new(Kind::VirtualMachineSnapshot, namespace, name);
    let uid = text(&snapshot, "/metadata/uid").to_owned();
    let deadline_passed = progressing(&snapshot) && {
        let seconds = match snapshot.pointer("/spec/failureDeadline") {
            Some(Value::String(deadline)) => duration_seconds(deadline),
            _ => Some(DEFAULT_DEADLINE_SECONDS),
        };
        // A zero deadline is none.
        seconds
            .filter(|seconds| *seconds > 0)
            .is_some_and(|seconds| {
                context.waited(format!("{uid}/deadline"), deadline_steps(seconds), &work)
            })
    };
    let terminating = is_deleting(&snapshot) || phase(&snapshot) == "Failed" || deadline_passed;
    if !terminating
        && !set_finalizer(
            objects,
            Kind::VirtualMachineSnapshot,
            &snapshot,
            FINALIZER,
            true,
        )
        .await
    {
        return;
    }
    let source = source(objects, &snapshot).await;
    let content = objects
        .get(
            Kind::VirtualMachineSnapshotContent,
            namespace,
            &content_name(&snapshot),
        )
        .await;
    // `canRemoveFinalizer`: not while the source stays locked for this snapshot.
    let mut keeps_finalizer = false;
    if let (Some(source), true) = (&source, snapshot.get("status").is_some()) {
        if progressing(&snapshot) && !terminating {
            if !source.locked {
                let token = format!("{uid}/lock");
                if context.waited(token.clone(), 1, &work) {
                    if lock(objects, &snapshot, source).await {
                        create_content(objects, &snapshot, source).await;
                    } else {
                        // Tried again one delay later, as upstream retries every 5 s.
                        context.wait(token, 1, &work);
                    }
                }
            } else if content.is_none() {
                create_content(objects, &snapshot, source).await;
            }
            keeps_finalizer = true;
        } else {
            // `canUnlockSource`.
            let content_gone = content
                .as_ref()
                .is_none_or(|content| !should_delete_content(&snapshot, content));
            keeps_finalizer = if !progressing(&snapshot) || content_gone {
                !unlock(objects, &snapshot, &source.vm).await
            } else {
                source.locked
            };
        }
    }
    if let Some(content) = &content {
        if terminating {
            if should_delete_content(&snapshot, content) {
                set_finalizer(
                    objects,
                    Kind::VirtualMachineSnapshotContent,
                    content,
                    CONTENT_FINALIZER,
                    false,
                )
                .await;
                let content_name = text(content, "/metadata/name");
                if !is_deleting(content) {
                    objects
                        .delete(Kind::VirtualMachineSnapshotContent, namespace, content_name)
                        .await;
                }
            }
        } else {
            update_content(context, content, &work).await;
        }
    }
    let Some(snapshot) = write_status(objects, &snapshot, source.as_ref(), deadline_passed).await
    else {
        return;
    };
    if is_deleting(&snapshot) && !keeps_finalizer {
        set_finalizer(
            objects,
            Kind::VirtualMachineSnapshot,
            &snapshot,
            FINALIZER,
            false,
        )
        .await;
    }
}

/// `shouldDeleteContent`.
fn should_delete_content(snapshot: &Value, content: &Value) -> bool {
    text(snapshot, "/spec/deletionPolicy") != "Retain"
        || content.pointer("/status/readyToUse") != Some(&json!(true))
}

/// Why `Lock` cannot lock the source now, in the words it adds to the lock message: a
/// DataVolume missing or not populated, or another snapshot in progress.
async fn lock_problem<O: Objects>(objects: &O, snapshot: &Value, vm: &Value) -> Option<String> {
    let (namespace, name) = super::names(vm);
    for (_, claim) in claims(vm) {
        let problem = match objects.get(Kind::DataVolume, &namespace, &claim).await {
            None => "volume doesnt exist",
            Some(volume) if is_deleting(&volume) => "volume is being deleted",
            Some(volume) if text(&volume, "/status/phase") != "Succeeded" => "volume not populated",
            Some(_) => continue,
        };
        return Some(format!(" source {namespace}/{name} {problem}: {claim}"));
    }
    let in_progress = text(vm, "/status/snapshotInProgress");
    (!in_progress.is_empty() && in_progress != text(snapshot, "/metadata/name"))
        .then(|| format!(" snapshot \"{in_progress}\" in progress"))
}

/// `Lock`: the source named in its status and held by a finalizer, unless there is a
/// [`lock_problem`]; whether it is locked.
async fn lock<O: Objects>(objects: &O, snapshot: &Value, source: &Source) -> bool {
    if lock_problem(objects, snapshot, &source.vm).await.is_some() {
        return false;
    }
    let name = text(snapshot, "/metadata/name");
    let in_progress = text(&source.vm, "/status/snapshotInProgress");
    if in_progress.is_empty() {
        let status = json!({"snapshotInProgress": name});
        if !objects
            .patch_of(Kind::VirtualMachine, &source.vm, Part::Status, status)
            .await
        {
            return false;
        }
    }
    set_finalizer(
        objects,
        Kind::VirtualMachine,
        &source.vm,
        SOURCE_FINALIZER,
        true,
    )
    .await
}

/// `Unlock`; whether the source is not locked for this snapshot any more.
async fn unlock<O: Objects>(objects: &O, snapshot: &Value, vm: &Value) -> bool {
    if text(vm, "/status/snapshotInProgress") != text(snapshot, "/metadata/name") {
        return true;
    }
    let status = json!({"snapshotInProgress": null});
    set_finalizer(objects, Kind::VirtualMachine, vm, SOURCE_FINALIZER, false).await
        && objects
            .patch_of(Kind::VirtualMachine, vm, Part::Status, status)
            .await
}

/// The PVC a DataVolume's `spec.storage` (or `spec.pvc`) asks for, as CDI makes it.
fn claim_of(volume: &Value) -> Value {
    let storage = volume
        .pointer("/spec/storage")
        .or_else(|| volume.pointer("/spec/pvc"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut spec = Map::new();
    spec.insert(
        "accessModes".to_owned(),
        storage
            .get("accessModes")
            .cloned()
            .unwrap_or_else(|| json!(["ReadWriteOnce"])),
    );
    spec.insert(
        "resources".to_owned(),
        storage
            .get("resources")
            .cloned()
            .unwrap_or_else(|| json!({})),
    );
    spec.insert(
        "volumeMode".to_owned(),
        storage
            .get("volumeMode")
            .cloned()
            .unwrap_or_else(|| json!("Filesystem")),
    );
    if let Some(class) = storage.get("storageClassName") {
        spec.insert("storageClassName".to_owned(), class.clone());
    }
    spec.insert(
        "volumeName".to_owned(),
        json!(format!("pvc-{}", text(volume, "/metadata/uid"))),
    );
    let name = text(volume, "/metadata/name");
    json!({
        "metadata": {"name": name, "namespace": volume["metadata"]["namespace"],
            "labels": volume.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "ownerReferences": [{"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
                "name": name, "uid": volume["metadata"]["uid"], "controller": true,
                "blockOwnerDeletion": true}]},
        "spec": spec,
    })
}

/// `createContent`: the VM (`Spec`, without its status and managed fields) and a volume backup
/// per claim that exists.
async fn create_content<O: Objects>(objects: &O, snapshot: &Value, source: &Source) {
    let namespace = text(snapshot, "/metadata/namespace");
    let snapshot_uid = text(snapshot, "/metadata/uid");
    let mut backups = Vec::new();
    for (volume_name, claim) in claims(&source.vm) {
        let Some(volume) = objects.get(Kind::DataVolume, namespace, &claim).await else {
            continue;
        };
        backups.push(json!({
            "volumeName": volume_name,
            "persistentVolumeClaim": claim_of(&volume),
            "volumeSnapshotName": format!("vmsnapshot-{snapshot_uid}-volume-{volume_name}"),
        }));
    }
    let mut metadata = source.vm["metadata"].clone();
    if let Some(fields) = metadata.as_object_mut() {
        fields.remove("managedFields");
    }
    let name = content_name(snapshot);
    let content = json!({
        "apiVersion": "snapshot.kubevirt.io/v1beta1",
        "kind": "VirtualMachineSnapshotContent",
        "metadata": {"name": name, "namespace": namespace, "finalizers": [CONTENT_FINALIZER]},
        "spec": {
            "virtualMachineSnapshotName": snapshot["metadata"]["name"],
            "source": {"virtualMachine": {"metadata": metadata, "spec": source.vm["spec"],
                "status": {}}},
            "volumeBackups": backups,
        },
    });
    if objects
        .create(Kind::VirtualMachineSnapshotContent, content)
        .await
        .is_ok()
    {
        let message = format!("Successfully created VirtualMachineSnapshotContent {name}");
        let event = Event::normal(
            snapshot,
            "SuccessfulVirtualMachineSnapshotContentCreate",
            message,
        );
        objects.record_event(event.from(COMPONENT)).await;
    }
}

/// `updateVMSnapshotContent`: the volume snapshots are taken at once and ready one delay
/// later, when the content is created and ready to use.
async fn update_content<O: Objects>(context: &Context<O>, content: &Value, work: &Work) {
    let objects = &context.objects;
    if content.pointer("/status/creationTime").is_some() || is_deleting(content) {
        return;
    }
    let names: Vec<Value> = array_at(content, "/spec/volumeBackups")
        .iter()
        .map(|backup| backup["volumeSnapshotName"].clone())
        .collect();
    let taken = content.get("status").is_some();
    if !taken {
        for name in &names {
            let message = format!(
                "Successfully created VolumeSnapshot {}",
                name.as_str().unwrap_or_default()
            );
            let event = Event::normal(content, "SuccessfulVolumeSnapshotCreate", message);
            objects.record_event(event.from(COMPONENT)).await;
        }
    } else if !context.waited(
        format!("{}/volumes", text(content, "/metadata/uid")),
        1,
        work,
    ) {
        return;
    }
    // Taken at once, ready one delay later.
    let ready = taken;
    let time = ready.then(now);
    let statuses: Vec<Value> = names
        .iter()
        .map(|name| {
            let mut status = json!({"volumeSnapshotName": name, "readyToUse": ready});
            if let Some(time) = &time {
                status["creationTime"] = json!(time);
            }
            status
        })
        .collect();
    let mut status = json!({"readyToUse": ready, "volumeSnapshotStatus": statuses});
    if let Some(time) = time {
        status["creationTime"] = json!(time);
    }
    objects
        .patch_of(
            Kind::VirtualMachineSnapshotContent,
            content,
            Part::Status,
            status,
        )
        .await;
}

/// `updateSnapshotSnapshotableVolumes`: the VM copy's volumes, backed up or not.
fn snapshot_volumes(content: &Value) -> Value {
    let backed_up: Vec<Value> = array_at(content, "/spec/volumeBackups")
        .iter()
        .map(|backup| backup["volumeName"].clone())
        .collect();
    let (included, excluded): (Vec<Value>, Vec<Value>) = array_at(
        content,
        "/spec/source/virtualMachine/spec/template/spec/volumes",
    )
    .iter()
    .map(|volume| volume["name"].clone())
    .partition(|name| backed_up.contains(name));
    let mut lists = Map::new();
    for (key, names) in [("includedVolumes", included), ("excludedVolumes", excluded)] {
        if !names.is_empty() {
            lists.insert(key.to_owned(), Value::Array(names));
        }
    }
    Value::Object(lists)
}

/// `updateSnapshotStatus`; the snapshot as written, none if the write failed.
async fn write_status<O: Objects>(
    objects: &O,
    snapshot: &Value,
    source: Option<&Source>,
    deadline_passed: bool,
) -> Option<Value> {
    let namespace = text(snapshot, "/metadata/namespace");
    let content = objects
        .get(
            Kind::VirtualMachineSnapshotContent,
            namespace,
            &content_name(snapshot),
        )
        .await;
    let current = snapshot.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut status = current.clone();
    if status.get("readyToUse").is_none() {
        status["readyToUse"] = json!(false);
    }
    if let Some(source) = source {
        status["sourceUID"] = source.vm["metadata"]["uid"].clone();
    }
    if let Some((content, content_status)) = content
        .as_ref()
        .and_then(|content| Some((content, content.get("status")?)))
    {
        status["virtualMachineSnapshotContentName"] = content["metadata"]["name"].clone();
        for field in ["creationTime", "readyToUse"] {
            match content_status.get(field) {
                Some(value) => status[field] = value.clone(),
                None => remove(&mut status, field),
            }
        }
    }
    let mut changed = Vec::new();
    if phase(snapshot) == "Failed" || deadline_passed {
        status["phase"] = json!("Failed");
        changed.push(snapshot_condition(
            "Failure",
            true,
            "snapshot deadline exceeded",
        ));
        changed.push(snapshot_condition("Progressing", false, "Operation failed"));
    } else if phase(snapshot) == "Succeeded" || status.get("creationTime").is_some() {
        status["phase"] = json!("Succeeded");
        changed.push(snapshot_condition(
            "Progressing",
            false,
            "Operation complete",
        ));
        if let Some(content) = &content {
            status["snapshotVolumes"] = snapshot_volumes(content);
        }
    } else {
        status["phase"] = json!("InProgress");
        match source {
            Some(source) => {
                let mut message = source.lock_message().to_owned();
                if !source.locked {
                    let problem = lock_problem(objects, snapshot, &source.vm).await;
                    message.push_str(&problem.unwrap_or_default());
                }
                changed.push(snapshot_condition("Progressing", source.locked, &message));
                let indications = source.indications();
                if indications.is_empty() {
                    remove(&mut status, "indications");
                    remove(&mut status, "sourceIndications");
                } else {
                    status["sourceIndications"] = indications
                        .iter()
                        .map(|indication| {
                            json!({"indication": indication,
                                "message": indication_message(indication)})
                        })
                        .collect();
                    status["indications"] = json!(indications);
                }
            }
            None => changed.push(snapshot_condition(
                "Progressing",
                false,
                "Source does not exist",
            )),
        }
        if is_deleting(snapshot) {
            status["phase"] = json!("Deleting");
            changed.push(snapshot_condition(
                "Progressing",
                false,
                "VM snapshot is deleting",
            ));
        }
    }
    let ready = status["readyToUse"] == json!(true);
    let reason = if ready { "Ready" } else { "Not ready" };
    changed.push(snapshot_condition("Ready", ready, reason));
    status["conditions"] = conditions_with(snapshot, changed);
    let Some(patch) = merge_patch(&current, &status) else {
        return Some(snapshot.clone());
    };
    let mut written = snapshot.clone();
    written["status"] = status;
    objects
        .patch_of(Kind::VirtualMachineSnapshot, snapshot, Part::Status, patch)
        .await
        .then_some(written)
}

fn remove(object: &mut Value, field: &str) {
    if let Some(fields) = object.as_object_mut() {
        fields.remove(field);
    }
}

/// The snapshot a content belongs to.
pub(super) fn owner_of_content(content: &Value) -> &str {
    text(content, "/spec/virtualMachineSnapshotName")
}

#[cfg(test)]
mod tests {
    use super::{deadline_steps, duration_seconds};

    /// `spec.failureDeadline` is a Go duration (`metav1.Duration`).
    #[test]
    fn failure_deadlines_read_as_go_durations() {
        assert_eq!(duration_seconds("5m"), Some(300));
        assert_eq!(duration_seconds("1h30m"), Some(5400));
        assert_eq!(duration_seconds("1m30.5s"), Some(91));
        assert_eq!(duration_seconds("1500ms"), Some(2));
        assert_eq!(duration_seconds("0s"), Some(0));
        assert_eq!(duration_seconds("5"), None);
        assert_eq!(duration_seconds("5d"), None);
        assert_eq!(deadline_steps(300), 60);
        assert_eq!(deadline_steps(1), 1);
    }
}
