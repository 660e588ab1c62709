//! The launcher pod virt-controller creates for a VMI, with the resources KubeVirt asks for
//! (`pkg/virt-controller/services/template.go`, `renderLaunchManifest`), which is what a
//! namespace's resource quotas charge for a running VM:
//!
//! - `compute`: the VMI's memory request (or its guest memory) plus KubeVirt's memory
//!   overhead (`GetMemoryOverhead`, `pkg/hypervisor/kvm/hypervisorbackend.go`; earlier in
//!   `pkg/virt-controller/services/renderresources.go`), a CPU request of the vCPUs over
//!   the default `cpuAllocationRatio` of 10 (`WithoutDedicatedCPU`) unless the VMI asks for
//!   one, 50M of ephemeral storage (`WithEphemeralStorageRequest`), and the KVM, TUN and
//!   vhost-net devices (`getRequiredResources`).
//! - One container per container disk, 1m CPU and 1M memory (`getMinimalInitContainerDiskResources`,
//!   `pkg/container-disk/container-disk.go`), and for them the `container-disk-binary` init
//!   container (10m, 1M; `initContainerMinimalRequests`) and one init container per disk.
//! - `guest-console-log`, a sidecar (init container that restarts always) of 5m CPU and 35M
//!   memory (`pkg/virt-controller/services/serialconsolelog.go`), unless the serial console
//!   is not attached or its log is off.

use super::{array_at, text};
use crate::quantity::{self, Format};
use serde_json::{json, Map, Value};

const MIB: u64 = 1 << 20;
const LAUNCHER_IMAGE: &str = "quay.io/kubevirt/virt-launcher:v1.9.0";

/// `GetNumberOfVCPUs` (`pkg/util/hardware/hw_utils.go`): sockets × cores × threads, each
/// counted only when set; without a topology, the CPU limit or request; at least 1.
fn vcpus(vmi: &Value) -> u64 {
    let domain = &vmi["spec"]["domain"];
    let topology = ["sockets", "cores", "threads"]
        .iter()
        .filter_map(|field| domain["cpu"][field].as_u64().filter(|count| *count > 0))
        .product::<u64>();
    let from_resources = || {
        ["limits", "requests"].iter().find_map(|field| {
            let cpu = domain["resources"][field]["cpu"].as_str()?;
            Some(super::quantity_bytes(cpu)?.max(1))
        })
    };
    let count = if domain.get("cpu").is_some_and(Value::is_object) {
        topology
    } else {
        from_resources().unwrap_or(1)
    };
    count.max(1)
}

fn is_false(value: &Value) -> bool {
    value.as_bool() == Some(false)
}

/// KubeVirt's estimate of what a VMI's launcher needs beyond the guest's memory, in bytes,
/// for `memory` bytes of memory request.
fn memory_overhead(vmi: &Value, memory: u64) -> u64 {
    let domain = &vmi["spec"]["domain"];
    // One bit per 512 bytes of RAM for page tables, on the request rounded up to kB.
    let mut overhead = memory.div_ceil(1000) * 1000 / 512;
    // virt-launcher-monitor, virt-launcher, virtlogd, virtqemud and QEMU.
    overhead += (25 + 100 + 25 + 40 + 50) * MIB;
    overhead += 8 * MIB * vcpus(vmi);
    // The IOThread.
    overhead += 8 * MIB;
    if !is_false(&domain["devices"]["autoattachGraphicsDevice"]) {
        overhead += 32 * MIB;
    }
    if text(vmi, "/spec/architecture") == "arm64" {
        overhead += 128 * MIB;
    }
    let exec = |probe: &str| vmi["spec"][probe]["exec"].is_object();
    let probes = [exec("livenessProbe"), exec("readinessProbe")];
    let probe_count = probes.iter().filter(|on| **on).count() as u64;
    overhead += 10 * MIB * probe_count;
    if probe_count > 0 {
        overhead += 100 * MIB;
    }
    let tpm = &domain["devices"]["tpm"];
    if tpm.is_object() && !is_false(&tpm["enabled"]) {
        overhead += 53 * MIB;
    }
    if domain["cpu"]["dedicatedCpuPlacement"].as_bool() == Some(true) {
        overhead += 100 * MIB;
    }
    overhead
}

/// The compute container's requests and limits.
fn compute_resources(vmi: &Value) -> (Map<String, Value>, Map<String, Value>) {
    let resources = &vmi["spec"]["domain"]["resources"];
    let quantity = |value: &Value| value.as_str().and_then(super::quantity_bytes);
    let memory = quantity(&resources["requests"]["memory"])
        .or_else(|| quantity(&resources["limits"]["memory"]))
        .or_else(|| quantity(&vmi["spec"]["domain"]["memory"]["guest"]))
        .unwrap_or(0);
    let overhead = memory_overhead(vmi, memory);
    let charged = if resources["overcommitGuestOverhead"].as_bool() == Some(true) {
        memory
    } else {
        memory + overhead
    };
    let devices = [
        ("devices.kubevirt.io/kvm", "1"),
        ("devices.kubevirt.io/tun", "1"),
        ("devices.kubevirt.io/vhost-net", "1"),
    ];
    let mut requests = Map::new();
    let cpu = match resources["requests"]["cpu"].as_str() {
        Some(cpu) => cpu.to_owned(),
        // `%g` of vCPUs / 10: exactly 100m per vCPU.
        None => format!("{}m", vcpus(vmi) * 100),
    };
    requests.insert("cpu".to_owned(), json!(cpu));
    requests.insert("memory".to_owned(), json!(binary(charged)));
    requests.insert("ephemeral-storage".to_owned(), json!("50M"));
    let mut limits = Map::new();
    for (device, count) in devices {
        requests.insert(device.to_owned(), json!(count));
        limits.insert(device.to_owned(), json!(count));
    }
    if let Some(limit) = quantity(&resources["limits"]["memory"]) {
        limits.insert("memory".to_owned(), json!(binary(limit + overhead)));
    }
    if let Some(cpu) = resources["limits"]["cpu"].as_str() {
        limits.insert("cpu".to_owned(), json!(cpu));
    }
    (requests, limits)
}

/// `bytes` as a binary quantity: KubeVirt adds the overhead to the memory request, whose
/// format (`2048Mi`) the sum keeps.
fn binary(bytes: u64) -> String {
    quantity::format(i128::from(bytes) * 1_000_000_000, Format::Binary)
}

fn container(name: &str, image: &str, requests: Value, limits: Value) -> Value {
    json!({"name": name, "image": image, "resources": {"requests": requests, "limits": limits}})
}

fn disk_container(name: &str, image: &str) -> Value {
    container(
        name,
        image,
        json!({"cpu": "1m", "memory": "1M", "ephemeral-storage": "50M"}),
        json!({"cpu": "10m", "memory": "40M"}),
    )
}

/// `isSerialConsoleLogEnabled`, with the cluster's default (the log on).
fn logs_serial_console(vmi: &Value) -> bool {
    let devices = &vmi["spec"]["domain"]["devices"];
    !is_false(&devices["autoattachSerialConsole"]) && !is_false(&devices["logSerialConsole"])
}

/// The launcher pod `name` for `vmi`, owned by it.
pub(super) fn pod(vmi: &Value, name: &str) -> Value {
    let (requests, limits) = compute_resources(vmi);
    let mut containers = vec![container(
        "compute",
        LAUNCHER_IMAGE,
        Value::Object(requests),
        Value::Object(limits),
    )];
    let mut init_containers = Vec::new();
    if logs_serial_console(vmi) {
        let mut log = container(
            "guest-console-log",
            LAUNCHER_IMAGE,
            json!({"cpu": "5m", "memory": "35M"}),
            json!({"cpu": "15m", "memory": "60M"}),
        );
        log["restartPolicy"] = json!("Always");
        init_containers.push(log);
    }
    let disks: Vec<(String, String)> = array_at(vmi, "/spec/volumes")
        .iter()
        .filter_map(|volume| {
            let image = volume.pointer("/containerDisk/image")?.as_str()?;
            Some((format!("volume{}", text(volume, "/name")), image.to_owned()))
        })
        .collect();
    if !disks.is_empty() {
        init_containers.push(container(
            "container-disk-binary",
            LAUNCHER_IMAGE,
            json!({"cpu": "10m", "memory": "1M"}),
            json!({"cpu": "100m", "memory": "40M"}),
        ));
    }
    for (container_name, image) in &disks {
        init_containers.push(disk_container(&format!("{container_name}-init"), image));
        containers.push(disk_container(container_name, image));
    }
    let mut labels = vmi["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert("kubevirt.io".to_owned(), json!("virt-launcher"));
    labels.insert(
        "kubevirt.io/created-by".to_owned(),
        vmi["metadata"]["uid"].clone(),
    );
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": vmi["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "name": vmi["metadata"]["name"], "uid": vmi["metadata"]["uid"],
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": containers,
            "initContainers": init_containers,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::pod;
    use serde_json::json;

    /// A VMI as Wukong's VMs make them: 2 vCPUs, 2048Mi, a container disk, cloud-init.
    #[test]
    fn the_launcher_asks_for_the_vm_and_kubevirts_overhead() {
        let vmi = json!({
            "metadata": {"name": "web-1", "namespace": "team-a", "uid": "u-1"},
            "spec": {
                "domain": {
                    "cpu": {"sockets": 1, "cores": 2, "threads": 1},
                    "memory": {"guest": "2048Mi"},
                    "resources": {"requests": {"memory": "2048Mi"}},
                },
                "volumes": [
                    {"name": "rootdisk", "containerDisk": {"image": "quay.io/containerdisks/fedora:43"}},
                    {"name": "cloudinitdisk", "cloudInitNoCloud": {"userData": "#cloud-config"}},
                ],
            },
        });
        let pod = pod(&vmi, "virt-launcher-web-1-abcde");
        let compute = &pod["spec"]["containers"][0]["resources"]["requests"];
        // 2048Mi + 4Mi page tables + 240Mi + 2 × 8Mi + 8Mi + 32Mi.
        assert_eq!(compute["memory"], "2348Mi");
        assert_eq!(compute["cpu"], "200m");
        let names: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(pod["spec"]["initContainers"].as_array().unwrap())
            .map(|container| container["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "compute",
                "volumerootdisk",
                "guest-console-log",
                "container-disk-binary",
                "volumerootdisk-init"
            ]
        );
    }
}
