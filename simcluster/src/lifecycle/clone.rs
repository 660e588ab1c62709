//! The VM clone controller, as virt-controller's (`pkg/virt-controller/watch/clone/clone.go`,
//! `util.go`, `vm-target.go`): a VirtualMachineClone of a VM takes a snapshot of it
//! (`tmp-snapshot-<clone uid>`, phase SnapshotInProgress), restores that snapshot to a new VM
//! (`tmp-restore-<clone uid>`, phase RestoreInProgress), and once the restore created the
//! target (CreatingTargetVM) is Succeeded and deletes the restore, and the snapshot it took.
//! A clone of a VirtualMachineSnapshot restores that snapshot. The new VM is stopped, as any
//! VM a restore creates, with the source's labels and annotations (the clone's filters, none
//! by default, would take some out), interfaces without MAC addresses and firmware without
//! serial or UUID (`generatePatches`).
//!
//! A clone whose source does not exist stays pending, without a phase, saying so in its
//! conditions and a SourceDoesNotExist event, and goes on if the source appears; a clone
//! whose snapshot went away fails. A clone that succeeded goes when its target VM does.

use super::{
    events::Event, is_deleting, runtime::Context, runtime::Work, snapshot,
    snapshot::conditions_with, text, Kind, Objects, Part,
};
use serde_json::{json, Value};

const COMPONENT: &str = "clone-controller";

/// What this look at the clone found (`syncInfoType`).
#[derive(Default)]
struct Sync {
    snapshot_name: Option<String>,
    snapshot_ready: bool,
    restore_name: Option<String>,
    restore_ready: bool,
    target_name: Option<String>,
    target_created: bool,
    cleaned_up: bool,
    /// Why the clone waits for its source, or why it failed.
    pending: Option<String>,
    failing: Option<String>,
}

/// One clone being looked at.
struct Clone<'a, O> {
    context: &'a Context<O>,
    objects: &'a O,
    clone: Value,
    work: Work,
}

pub(super) async fn reconcile<O: Objects>(context: &Context<O>, namespace: &str, name: &str) {
    let objects = &context.objects;
    let Some(clone) = objects
        .get(Kind::VirtualMachineClone, namespace, name)
        .await
    else {
        return;
    };
    let step = Clone {
        context,
        objects,
        work: Work::new(Kind::VirtualMachineClone, namespace, name),
        clone,
    };
    step.execute().await;
}

fn phase(clone: &Value) -> &str {
    text(clone, "/status/phase")
}

impl<O: Objects> Clone<'_, O> {
    fn namespace(&self) -> &str {
        text(&self.clone, "/metadata/namespace")
    }

    fn name(&self) -> &str {
        text(&self.clone, "/metadata/name")
    }

    fn uid(&self) -> &str {
        text(&self.clone, "/metadata/uid")
    }

    /// `logAndRecord`.
    async fn record(&self, reason: &'static str, message: String) {
        let event = Event::normal(&self.clone, reason, message);
        self.objects.record_event(event.from(COMPONENT)).await;
    }

    fn again(&self) {
        self.context
            .again(format!("{}/again", self.uid()), &self.work);
    }

    async fn get(&self, kind: Kind, name: &str) -> Option<Value> {
        self.objects.get(kind, self.namespace(), name).await
    }

    /// `execute`.
    async fn execute(&self) {
        if phase(&self.clone) == "Succeeded" {
            let target = text(&self.clone, "/status/targetName");
            if self.get(Kind::VirtualMachine, target).await.is_none() {
                if !is_deleting(&self.clone) {
                    let (namespace, name) = (self.namespace(), self.name());
                    self.objects
                        .delete(Kind::VirtualMachineClone, namespace, name)
                        .await;
                }
                return;
            }
        }
        let sync = self.sync().await;
        self.update_status(&sync).await;
    }

    /// `sync` and `syncTargetVM`.
    async fn sync(&self) -> Sync {
        let mut sync = Sync::default();
        let kind = text(&self.clone, "/spec/source/kind");
        let source_name = text(&self.clone, "/spec/source/name");
        let source_kind = match kind {
            "VirtualMachine" => Kind::VirtualMachine,
            "VirtualMachineSnapshot" => Kind::VirtualMachineSnapshot,
            _ => return sync,
        };
        let Some(source) = self.get(source_kind, source_name).await else {
            let namespace = self.namespace();
            sync.pending = Some(format!(
                "Source doesnt exist: {kind} {namespace}/{source_name}"
            ));
            // Informers would bring the source's arrival; here it is looked for again.
            self.again();
            return sync;
        };
        let from_vm = source_kind == Kind::VirtualMachine;
        let mut snapshot_name = match from_vm {
            true => text(&self.clone, "/status/snapshotName").to_owned(),
            false => source_name.to_owned(),
        };
        let phase = phase(&self.clone);
        if matches!(phase, "" | "SnapshotInProgress") {
            if from_vm && snapshot_name.is_empty() {
                snapshot_name = self.snapshot_of(&source).await;
                sync.snapshot_name = Some(snapshot_name);
                return sync;
            }
            match self.get(Kind::VirtualMachineSnapshot, &snapshot_name).await {
                None => {
                    self.again();
                    return sync;
                }
                Some(snapshot) if snapshot.pointer("/status/readyToUse") != Some(&json!(true)) => {
                    if !from_vm {
                        self.again();
                    }
                    return sync;
                }
                Some(_) => {
                    let message = format!(
                        "snapshot {snapshot_name} for clone {} is ready to use",
                        self.name()
                    );
                    self.record("SnapshotReady", message).await;
                    sync.snapshot_ready = true;
                }
            }
        }
        if matches!(phase, "" | "SnapshotInProgress" | "RestoreInProgress") {
            let Some(snapshot) = self.get(Kind::VirtualMachineSnapshot, &snapshot_name).await
            else {
                sync.failing = Some(format!("snapshot {snapshot_name} does not exist anymore"));
                return sync;
            };
            let Some(restore_name) = self.restore_name() else {
                sync.restore_name = self.restore_from(&snapshot, &snapshot_name).await;
                return sync;
            };
            let restore = self.get(Kind::VirtualMachineRestore, &restore_name).await;
            let complete = restore
                .as_ref()
                .is_some_and(|restore| restore.pointer("/status/complete") == Some(&json!(true)));
            if !complete {
                return sync;
            }
            let message = format!(
                "restore {restore_name} for clone {} is ready to use",
                self.name()
            );
            self.record("RestoreReady", message).await;
            sync.restore_ready = true;
            sync.target_name = restore
                .as_ref()
                .map(|restore| text(restore, "/spec/target/name").to_owned());
        }
        if matches!(
            phase,
            "" | "SnapshotInProgress" | "RestoreInProgress" | "CreatingTargetVM"
        ) {
            let target = sync.target_name.clone().unwrap_or_else(|| {
                let named = text(&self.clone, "/status/targetName");
                let named = if named.is_empty() {
                    text(&self.clone, "/spec/target/name")
                } else {
                    named
                };
                named.to_owned()
            });
            if self.get(Kind::VirtualMachine, &target).await.is_none() {
                self.again();
                return sync;
            }
            let message = format!("created target VM {target} for clone {}", self.name());
            self.record("TargetVMCreated", message).await;
            sync.target_created = true;
        }
        if let Some(restore_name) = self.restore_name() {
            let message = format!("all PVC for clone {} are bound", self.name());
            self.record("PVCBound", message).await;
            let namespace = self.namespace();
            self.objects
                .delete(Kind::VirtualMachineRestore, namespace, &restore_name)
                .await;
            if from_vm {
                self.objects
                    .delete(Kind::VirtualMachineSnapshot, namespace, &snapshot_name)
                    .await;
            }
            sync.cleaned_up = true;
        }
        sync
    }

    fn restore_name(&self) -> Option<String> {
        let name = text(&self.clone, "/status/restoreName");
        (!name.is_empty()).then(|| name.to_owned())
    }

    /// `createSnapshotFromVm`: its name.
    async fn snapshot_of(&self, vm: &Value) -> String {
        let name = format!("tmp-snapshot-{}", self.uid());
        let snapshot = json!({
            "apiVersion": "snapshot.kubevirt.io/v1beta1", "kind": "VirtualMachineSnapshot",
            "metadata": {"name": name, "namespace": self.namespace(),
                "ownerReferences": [self.owner_reference()]},
            "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine",
                "name": vm["metadata"]["name"]}},
        });
        if self
            .objects
            .create(Kind::VirtualMachineSnapshot, snapshot)
            .await
            .is_ok()
        {
            let message = format!("created snapshot {name} for clone {}", self.name());
            self.record("SnapshotCreated", message).await;
        }
        name
    }

    /// `getCloneOwnerReference`.
    fn owner_reference(&self) -> Value {
        json!({"apiVersion": "clone.kubevirt.io/v1beta1", "kind": "VirtualMachineClone",
            "name": self.name(), "uid": self.uid(), "controller": true,
            "blockOwnerDeletion": true})
    }

    /// `createRestoreFromVm`, with the VM the snapshot holds: the restore's name, once created.
    async fn restore_from(&self, snapshot: &Value, snapshot_name: &str) -> Option<String> {
        let content_name = text(snapshot, "/status/virtualMachineSnapshotContentName");
        let content = self
            .get(Kind::VirtualMachineSnapshotContent, content_name)
            .await?;
        let vm = &content["spec"]["source"]["virtualMachine"];
        let mut target = self.clone["spec"]
            .get("target")
            .cloned()
            .unwrap_or_else(|| json!({"apiGroup": "kubevirt.io", "kind": "VirtualMachine"}));
        if text(&target, "/name").is_empty() {
            // `generateVMName`: the source's name, "clone" and five random characters.
            let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..5].to_owned();
            target["name"] = json!(format!("{}-clone-{suffix}", text(vm, "/metadata/name")));
        }
        let name = format!("tmp-restore-{}", self.uid());
        let mut spec = json!({"target": target, "virtualMachineSnapshotName": snapshot_name});
        let patches = patches(vm, &self.clone["spec"]);
        if !patches.is_empty() {
            spec["patches"] = json!(patches);
        }
        let restore = json!({
            "apiVersion": "snapshot.kubevirt.io/v1beta1", "kind": "VirtualMachineRestore",
            "metadata": {"name": name, "namespace": self.namespace(),
                "ownerReferences": [self.owner_reference()]},
            "spec": spec,
        });
        match self
            .objects
            .create(Kind::VirtualMachineRestore, restore)
            .await
        {
            Ok(_) => {
                let message = format!("created restore {name} for clone {}", self.name());
                self.record("RestoreCreated", message).await;
                Some(name)
            }
            Err(error) => {
                let message = format!(
                    "failed creating restore {name} for clone {}: {error}",
                    self.name()
                );
                let event = Event::warning(&self.clone, "RestoreCreationFailed", message);
                self.objects.record_event(event.from(COMPONENT)).await;
                self.again();
                None
            }
        }
    }

    /// `updateStatus`.
    async fn update_status(&self, sync: &Sync) {
        let current = self.clone.get("status").cloned().unwrap_or(json!({}));
        let mut status = current.clone();
        let condition = snapshot::snapshot_condition;
        let conditions = if let Some(reason) = &sync.pending {
            self.record("SourceDoesNotExist", reason.clone()).await;
            vec![
                condition("Progressing", false, "Pending"),
                condition("Ready", false, reason),
            ]
        } else if let Some(reason) = &sync.failing {
            self.record("SnapshotDeleted", reason.clone()).await;
            status["phase"] = json!("Failed");
            vec![
                condition("Progressing", false, "Failed"),
                condition("Ready", false, reason),
            ]
        } else {
            vec![
                condition("Progressing", true, "Still processing"),
                condition("Ready", false, "Still processing"),
            ]
        };
        let mut conditions = conditions;
        let in_phase = |status: &Value, phase: &str| text(status, "/phase") == phase;
        if in_phase(&status, "") && sync.pending.is_none() {
            status["phase"] = json!("SnapshotInProgress");
        }
        if in_phase(&status, "SnapshotInProgress") {
            if let Some(name) = &sync.snapshot_name {
                status["snapshotName"] = json!(name);
            }
            if sync.snapshot_ready {
                status["phase"] = json!("RestoreInProgress");
            }
        }
        if in_phase(&status, "RestoreInProgress") {
            if let Some(name) = &sync.restore_name {
                status["restoreName"] = json!(name);
            }
            if sync.restore_ready {
                status["phase"] = json!("CreatingTargetVM");
            }
        }
        if in_phase(&status, "CreatingTargetVM") {
            if let Some(name) = &sync.target_name {
                status["targetName"] = json!(name);
            }
            if sync.target_created {
                status["phase"] = json!("Succeeded");
            }
        }
        if in_phase(&status, "Succeeded") {
            conditions = vec![
                condition("Progressing", false, "Ready"),
                condition("Ready", true, "Ready"),
            ];
        }
        if sync.cleaned_up {
            status["snapshotName"] = Value::Null;
            status["restoreName"] = Value::Null;
        }
        status["conditions"] = conditions_with(&self.clone, conditions);
        if let Some(patch) = super::merge_patch(&current, &status) {
            self.objects
                .patch_of(Kind::VirtualMachineClone, &self.clone, Part::Status, patch)
                .await;
        }
    }
}

/// `generatePatches` (vm-target.go): JSON patches, one string each, that give the new VM
/// interfaces without MAC addresses (or the clone's), firmware without serial and UUID, and
/// take out the labels and annotations the clone's filters leave out.
fn patches(vm: &Value, spec: &Value) -> Vec<String> {
    let mut patches = Vec::new();
    let interfaces = super::array_at(vm, "/spec/template/spec/domain/devices/interfaces");
    for (index, interface) in interfaces.iter().enumerate() {
        let mac = spec
            .pointer(&format!("/newMacAddresses/{}", text(interface, "/name")))
            .cloned()
            .unwrap_or(json!(""));
        let path = format!("/spec/template/spec/domain/devices/interfaces/{index}/macAddress");
        patches.push(json!({"op": "replace", "path": path, "value": mac}));
    }
    if vm.pointer("/spec/template/spec/domain/firmware").is_some() {
        let serial = spec.get("newSMBiosSerial").cloned().unwrap_or(json!(""));
        let path = "/spec/template/spec/domain/firmware/serial";
        patches.push(json!({"op": "replace", "path": path, "value": serial}));
    }
    let filtered = [
        ("/metadata/labels", "/labelFilters"),
        ("/metadata/annotations", "/annotationFilters"),
        ("/spec/template/metadata/labels", "/template/labelFilters"),
        (
            "/spec/template/metadata/annotations",
            "/template/annotationFilters",
        ),
    ];
    for (path, filters) in filtered {
        let Some(filters) = spec.pointer(filters).and_then(Value::as_array) else {
            continue;
        };
        let keys = vm
            .pointer(path)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(key, _)| key.as_str())
            .filter(|key| *key != "restore.kubevirt.io/lastRestoreUID");
        for key in keys.filter(|key| !kept(key, filters)) {
            let escaped = key.replace('~', "~0").replace('/', "~1");
            patches.push(json!({"op": "remove", "path": format!("{path}/{escaped}")}));
        }
    }
    if vm.pointer("/spec/template/spec/domain/firmware").is_some() {
        let path = "/spec/template/spec/domain/firmware/uuid";
        patches.push(json!({"op": "replace", "path": path, "value": ""}));
    }
    let mut patches: Vec<String> = patches.iter().map(Value::to_string).collect();
    patches.extend(
        super::array_at(spec, "/patches")
            .iter()
            .filter_map(|patch| patch.as_str().map(str::to_owned)),
    );
    patches
}

/// `addRemovePatchesFromFilter`: whether `key` passes `filters` ("*" for all, a trailing "*"
/// for a prefix, "!" to leave out; leaving out wins). KubeVirt matches them as regular
/// expressions; these are the forms its documentation gives.
fn kept(key: &str, filters: &[Value]) -> bool {
    let matches = |filter: &str| match filter.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == filter,
    };
    let mut included = false;
    for filter in filters.iter().filter_map(Value::as_str) {
        match filter.strip_prefix('!') {
            Some(negated) if matches(negated) => return false,
            Some(_) => {}
            None => included |= matches(filter),
        }
    }
    included
}

#[cfg(test)]
mod tests {
    use super::patches;
    use crate::lifecycle::restore::apply_patches;
    use serde_json::{json, Value};

    /// `generatePatches` and the restore's `patchVM`: the clone gets new MAC addresses (the
    /// clone's, or none), no firmware serial or UUID, and only the labels its filters keep.
    #[test]
    fn a_clones_patches_renew_addresses_and_filter_labels() {
        let mut vm = json!({
            "metadata": {"name": "golden", "labels": {"app": "web", "app/internal": "x",
                "tier": "db"}},
            "spec": {"template": {"spec": {"domain": {
                "firmware": {"serial": "s-1", "uuid": "u-1"},
                "devices": {"interfaces": [
                    {"name": "default", "macAddress": "52:54:00:00:00:01"},
                    {"name": "second", "macAddress": "52:54:00:00:00:02"}]}}}}},
        });
        let spec = json!({"newMacAddresses": {"second": "52:54:00:00:00:99"},
            "labelFilters": ["app*", "!app/internal"]});
        let patches: Vec<Value> = patches(&vm, &spec).into_iter().map(Value::from).collect();
        apply_patches(&mut vm, &patches).expect("patches apply");
        let domain = &vm["spec"]["template"]["spec"]["domain"];
        assert_eq!(domain["devices"]["interfaces"][0]["macAddress"], "");
        assert_eq!(
            domain["devices"]["interfaces"][1]["macAddress"],
            "52:54:00:00:00:99"
        );
        assert_eq!(domain["firmware"], json!({"serial": "", "uuid": ""}));
        assert_eq!(vm["metadata"]["labels"], json!({"app": "web"}));
    }
}
