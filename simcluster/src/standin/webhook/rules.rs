//! The rules of KubeVirt's VM validation (v1.9.0) the stand-in enforces, each giving
//! KubeVirt's cause word for word: a disk without its volume, inline cloud-init user data
//! over KubeVirt's limit, a missing, doubled or unknown run strategy, and (`storage_status`)
//! volumes or a run strategy changed while a snapshot or restore is in progress.
//!
//! `ValidateVirtualMachineSpec` (kubevirt `pkg/virt-api/webhooks/validating-webhook/admitters/vms-admitter.go`)
//! checks the template's instance spec first (`ValidateVirtualMachineInstanceSpec` in
//! `vmi-create-admitter.go` of the same directory), then the VM's own fields; [`causes`]
//! keeps that order, which is the order of the messages the user reads.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::Value;
use std::collections::HashSet;

/// A `metav1.StatusCause`; every rule here gives the type `FieldValueInvalid`.
#[derive(Debug, PartialEq, Eq)]
pub struct Cause {
    pub field: String,
    pub message: String,
}

/// KubeVirt's `cloudInitUserMaxLen` (vmi-create-admitter.go), in bytes.
const USER_DATA_LIMIT: usize = 2048;

/// `validRunStrategies` (vms-admitter.go).
const RUN_STRATEGIES: [&str; 5] = ["Halted", "Manual", "Always", "RerunOnFailure", "Once"];

/// Why KubeVirt refuses the VM `vm`, in KubeVirt's order; none if it admits it.
pub fn causes(vm: &Value) -> Vec<Cause> {
    let spec = &vm["spec"];
    let template = &spec["template"]["spec"];
    let mut causes = disks_without_volumes(template);
    causes.extend(long_user_data(template));
    causes.extend(run_strategy(spec));
    causes
}

/// A field that is set: Go's non-nil pointer.
fn present(value: &Value) -> Option<&Value> {
    (!value.is_null()).then_some(value)
}

fn list<'a>(object: &'a Value, pointer: &str) -> &'a [Value] {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `validateBootOrder` (vmi-create-admitter.go): each disk needs the volume of its name,
/// except an empty CD-ROM, which the DeclarativeHotplugVolumes feature gate allows (Beta, so
/// on unless a cluster turns it off).
fn disks_without_volumes(template: &Value) -> Vec<Cause> {
    let volumes: HashSet<&str> = list(template, "/volumes")
        .iter()
        .filter_map(|volume| volume["name"].as_str())
        .collect();
    list(template, "/domain/devices/disks")
        .iter()
        .enumerate()
        .filter_map(|(index, disk)| {
            let name = disk["name"].as_str().unwrap_or_default();
            if volumes.contains(name) || present(&disk["cdrom"]).is_some() {
                return None;
            }
            let field = format!("spec.template.spec.domain.devices.disks[{index}]");
            Some(Cause {
                message: format!("{field}.Name '{name}' not found."),
                field: format!("{field}.name"),
            })
        })
        .collect()
}

/// `validateVolumes` (vmi-create-admitter.go): inline user data, plain or base64 (counted
/// decoded; plain wins when both are set), of at most 2048 bytes.
fn long_user_data(template: &Value) -> Vec<Cause> {
    list(template, "/volumes")
        .iter()
        .enumerate()
        .filter_map(|(index, volume)| {
            let (source, data) = ["cloudInitNoCloud", "cloudInitConfigDrive"]
                .into_iter()
                .find_map(|source| present(&volume[source]).map(|data| (source, data)))?;
            let length = match data["userData"].as_str() {
                Some(text) if !text.is_empty() => text.len(),
                _ => data["userDataBase64"]
                    .as_str()
                    .and_then(|encoded| STANDARD.decode(encoded).ok())
                    .map_or(0, |decoded| decoded.len()),
            };
            (length > USER_DATA_LIMIT).then(|| {
                let field = format!("spec.template.spec.volumes[{index}].{source}");
                Cause {
                    message: format!(
                        "{field} userdata exceeds {USER_DATA_LIMIT} byte limit. Should use \
                         UserDataSecretRef for larger data."
                    ),
                    field,
                }
            })
        })
        .collect()
}

/// `validateRunStrategy` (vms-admitter.go). `WaitAsReceiver` needs the
/// DecentralizedLiveMigration feature gate, Alpha and so off unless a cluster turns it on.
fn run_strategy(spec: &Value) -> Vec<Cause> {
    let cause = |field: &str, message: String| Cause {
        field: field.to_owned(),
        message,
    };
    let running = present(&spec["running"]);
    let strategy = present(&spec["runStrategy"]).map(|value| value.as_str().unwrap_or_default());
    let mut causes = Vec::new();
    match (running, strategy) {
        (Some(_), Some(_)) => causes.push(cause(
            "spec.running",
            "Running and RunStrategy are mutually exclusive. Note that Running is deprecated, \
             please use RunStrategy instead"
                .to_owned(),
        )),
        (None, None) => causes.push(cause(
            "spec.running",
            "RunStrategy must be specified".to_owned(),
        )),
        _ => {}
    }
    match strategy {
        Some("WaitAsReceiver") => causes.push(cause(
            "spec.runStrategy",
            "Invalid RunStrategy (WaitAsReceiver), DecentralizedLiveMigration feature gate is \
             not enabled in kubevirt resource"
                .to_owned(),
        )),
        Some(strategy) if !RUN_STRATEGIES.contains(&strategy) => causes.push(cause(
            "spec.runStrategy",
            format!("Invalid RunStrategy ({strategy})"),
        )),
        _ => {}
    }
    causes
}

/// `AdmitStatus` (kubevirt `pkg/storage/admitters/vm-storage-status.go`) on an update of
/// `old` to `vm`: while a snapshot is in progress its disks and volumes stay, and while a
/// restore is, its run strategy. The message of the refusal, if any.
pub fn storage_status(vm: &Value, old: &Value) -> Option<String> {
    let snapshot = present(&vm["status"]["snapshotInProgress"]);
    // `compareVolumes`: none and an empty list are the same.
    let volumes = |vm: &Value| list(vm, "/spec/template/spec/volumes").to_vec();
    if let Some(snapshot) = snapshot.filter(|_| volumes(vm) != volumes(old)) {
        let snapshot = snapshot.as_str().unwrap_or_default();
        return Some(format!(
            "Cannot update vm disks or volumes until snapshot \"{snapshot}\" completes"
        ));
    }
    let restore = present(&vm["status"]["restoreInProgress"])?;
    let strategy_changed = vm["spec"] != old["spec"]
        && crate::lifecycle::run_strategy(vm) != crate::lifecycle::run_strategy(old);
    strategy_changed.then(|| {
        let restore = restore.as_str().unwrap_or_default();
        format!("Cannot update VM runStrategy until restore \"{restore}\" completes")
    })
}
