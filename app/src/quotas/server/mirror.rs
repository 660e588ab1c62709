//! The project quota mirrored into the project's namespace as a Kubernetes `ResourceQuota`:
//! a second line behind Wukong's own check, for whatever reaches the cluster without
//! Wukong (kubectl, a restore, a bug), sized so that it never refuses what Wukong's quota
//! allows.
//!
//! A VM's launcher pod asks the cluster for more than the VM's vCPUs and memory: virt-launcher,
//! libvirt and QEMU need memory of their own, and the pod has helper containers. The mirror
//! adds, for every VM the quota allows, KubeVirt's own estimate of that overhead for a VM as
//! Wukong builds it (`vms::server::body`: one socket, virtio disks, masquerade pod network,
//! the default graphics device and serial console, amd64, no dedicated CPUs, memory request
//! equal to the guest memory, no CPU request):
//!
//! - Memory of the `compute` container: the request (the VM's memory) plus
//!   `GetMemoryOverhead` (KubeVirt `pkg/hypervisor/kvm/hypervisorbackend.go`, formerly
//!   `pkg/virt-controller/services/renderresources.go`): page tables of 1/512 of the memory,
//!   computed on the request rounded up to kB; 240 MiB of processes (virt-launcher-monitor
//!   25, virt-launcher 100, virtlogd 25, virtqemud 40, QEMU 50); 8 MiB per vCPU; 8 MiB for
//!   the IOThread; 32 MiB of video RAM (graphics are attached unless disabled). Masquerade
//!   adds no network overhead (`pkg/network/resources/memory.go`).
//! - CPU of the `compute` container: vCPUs / `cpuAllocationRatio` (10 by default;
//!   `WithoutDedicatedCPU` in `renderresources.go`): 100m per vCPU.
//! - The `guest-console-log` container, a native sidecar (restartable init container,
//!   `pkg/virt-controller/services/serialconsolelog.go`): 5m CPU and 35M memory, counted with
//!   the containers. The serial console log is on unless the cluster disables it.
//! - For a container disk root, the `volumerootdisk` container: 1m CPU and 1M memory
//!   (`getMinimalInitContainerDiskResources`, `pkg/container-disk/container-disk.go`). Its
//!   init containers (`container-disk-binary`, `volumerootdisk-init`) ask for less than the
//!   containers, and a pod is charged the larger of its containers' sum and each init
//!   container's need (Kubernetes `PodRequests`,
//!   `staging/src/k8s.io/component-helpers/resource/helpers.go`, used by the quota's pod
//!   evaluator, `pkg/quota/v1/evaluator/core/pods.go`).
//!
//! So one VM of `v` vCPUs and `m` MiB asks for `100m × v + 6m` CPU and
//! `m + m/512 + 8v + 280` MiB plus 36,000,000 bytes (plus at most one byte of page-table
//! rounding): 2 vCPUs and 2048 MiB ask for 206m CPU and 2348 MiB + 36 MB = 2,498,056,448
//! bytes. Every term is linear in `v` and `m` plus a constant per VM, so the most that VMs
//! within the limits (vCPUs `V`, memory `M` MiB, `N` VMs) can ask for together is the bound
//! with `V`, `M` and `N` VMs' constants; the mirror is that bound rounded up to MiB.
//!
//! A root disk imported into a DataVolume is a PVC whose size CDI raises by the filesystem
//! overhead (`GetRequiredSpace` in CDI's `pkg/controller/common/util.go`: the size over
//! 1 − 0.055 by default, rounded up), so `requests.storage` is the disk limit over 0.945
//! plus a byte per VM, rounded up to MiB.
//!
//! Not covered: a live migration runs a second launcher pod for the same VM until it ends,
//! which this quota does not leave room for (Wukong does not migrate; a cluster that evicts
//! VMs by live migration needs the largest VM's pod of headroom), and a CDI import that needs
//! scratch space holds a second PVC of the disk's size while it runs.

use crate::{
    cluster::Cluster,
    quotas::types::Amounts,
    vms::{
        names::Namespace,
        server::{body::PROJECT_LABEL, kubevirt::MANAGED_BY},
    },
    AppError,
};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::collections::BTreeMap;

/// The mirror's name in every project namespace.
pub const QUOTA_NAME: &str = "wukong-quota";

/// The field manager of Wukong's server-side applies.
const FIELD_MANAGER: &str = "wukong";

const MIB: i128 = 1 << 20;
const GIB: i128 = 1 << 30;

/// The memory of one launcher pod beyond the VM's memory, its page tables and its
/// per-vCPU share: KubeVirt's 240 MiB of processes, 8 MiB IOThread and 32 MiB video RAM.
const POD_MEMORY_MIB: i128 = 240 + 8 + 32;
/// The helper containers' memory: `guest-console-log` (35M) and the container disk's (1M).
const HELPERS_MEMORY_BYTES: i128 = 36_000_000;
/// The helper containers' CPU in nanocores: 5m and 1m.
const HELPERS_CPU_NANOS: i128 = 6_000_000;
/// `cpuAllocationRatio`'s default: a vCPU asks for a tenth of a core.
const CPU_ALLOCATION_RATIO: i128 = 10;

/// The `spec.hard` of the mirror of `limits`: what any VMs within them ask of the cluster
/// together, at most (see the module's documentation for the formula). Only requests are
/// limited: a quota that names `limits.cpu` or `limits.memory` makes the API server refuse
/// every pod without limits, and KubeVirt sets limits on launcher pods only with its
/// AutoResourceLimits feature, at twice the memory request; pods are charged for requests
/// whatever their limits are, so requests are what bounds what the project takes.
pub fn hard(limits: &Amounts) -> BTreeMap<String, String> {
    let vcpus = i128::from(limits.vcpus.max(0));
    let memory_mib = i128::from(limits.memory_mib.max(0));
    let disk_gib = i128::from(limits.disk_gib.max(0));
    let vms = i128::from(limits.vm_count.max(0));
    let cpu_nanos = vcpus * 1_000_000_000 / CPU_ALLOCATION_RATIO + vms * HELPERS_CPU_NANOS;
    let page_tables_bytes = memory_mib * MIB / 512 + vms;
    let memory_bytes = memory_mib * MIB
        + page_tables_bytes
        + vcpus * 8 * MIB
        + vms * (POD_MEMORY_MIB * MIB + HELPERS_MEMORY_BYTES);
    let storage_bytes = ceil_div(disk_gib * GIB * 1000, 945) + vms;
    BTreeMap::from([
        (
            "requests.cpu".to_owned(),
            decimal_quantity(ceil_div(cpu_nanos, 1_000_000)),
        ),
        (
            "requests.memory".to_owned(),
            binary_quantity(ceil_div(memory_bytes, MIB) * MIB),
        ),
        (
            "requests.storage".to_owned(),
            binary_quantity(ceil_div(storage_bytes, MIB) * MIB),
        ),
        (
            "count/virtualmachines.kubevirt.io".to_owned(),
            decimal_quantity(vms * 1000),
        ),
    ])
}

fn ceil_div(value: i128, by: i128) -> i128 {
    (value + by - 1).div_euclid(by)
}

/// `millis` thousandths as the API server writes a decimal quantity back: the largest
/// power of 1000 that divides it as the suffix ("206m", "2", "3k").
fn decimal_quantity(millis: i128) -> String {
    if millis == 0 {
        return "0".to_owned();
    }
    let mut value = millis;
    let mut suffix = 0;
    const SUFFIXES: [&str; 8] = ["m", "", "k", "M", "G", "T", "P", "E"];
    while value % 1000 == 0 && suffix + 1 < SUFFIXES.len() {
        value /= 1000;
        suffix += 1;
    }
    format!("{value}{}", SUFFIXES[suffix])
}

/// `bytes` as the API server writes a binary quantity back: the largest power of 1024 that
/// divides it as the suffix ("2383Mi", "3Gi").
fn binary_quantity(bytes: i128) -> String {
    if bytes == 0 {
        return "0".to_owned();
    }
    let mut value = bytes;
    let mut suffix = 0;
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    while value % 1024 == 0 && suffix + 1 < SUFFIXES.len() {
        value /= 1024;
        suffix += 1;
    }
    format!("{value}{}", SUFFIXES[suffix])
}

/// The mirror of `limits` for the namespace of the project `project_id`, labelled as
/// Wukong's and the project's like every object Wukong makes.
pub fn resource_quota(
    namespace: &Namespace,
    project_id: &str,
    limits: &Amounts,
) -> Result<ResourceQuota, AppError> {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": QUOTA_NAME,
            "namespace": namespace,
            "labels": {MANAGED_BY: "wukong", PROJECT_LABEL: project_id},
        },
        "spec": {"hard": hard(limits)},
    }))
    .map_err(AppError::internal)
}

/// Creates or updates the mirror of `limits` in `namespace` (which must exist): one
/// server-side apply, so that a quota changed behind Wukong's back is set right again and
/// nothing else of it is touched.
pub async fn apply(
    cluster: &Cluster,
    namespace: &Namespace,
    project_id: &str,
    limits: &Amounts,
) -> Result<(), AppError> {
    let object = resource_quota(namespace, project_id, limits)?;
    let quotas: Api<ResourceQuota> = Api::namespaced(cluster.client.clone(), namespace.as_str());
    let (params, patch) = (
        PatchParams::apply(FIELD_MANAGER).force(),
        Patch::Apply(&object),
    );
    let applied = quotas.patch(QUOTA_NAME, &params, &patch);
    let what = format!("the quota of namespace \"{namespace}\"");
    cluster.call(&what, applied).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::{binary_quantity, decimal_quantity, hard};
    use crate::quotas::types::Amounts;

    fn limits(vcpus: i64, memory_mib: i64, disk_gib: i64, vm_count: i64) -> Amounts {
        Amounts {
            vcpus,
            memory_mib,
            disk_gib,
            vm_count,
            ..Amounts::default()
        }
    }

    /// One launcher pod's requests as KubeVirt renders them, worked by hand from the
    /// sources the module cites: (nanocores, bytes).
    fn pod(vcpus: i128, memory_mib: i128) -> (i128, i128) {
        let kilobytes = (memory_mib * (1 << 20) + 999) / 1000;
        let page_tables = kilobytes * 1000 / 512;
        let memory = memory_mib * (1 << 20)
            + page_tables
            + (240 + 8 * vcpus + 8 + 32) * (1 << 20)
            + 36_000_000;
        (vcpus * 100_000_000 + 6_000_000, memory)
    }

    fn parse(quantity: &str) -> i128 {
        let split = quantity
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(quantity.len());
        let (number, suffix) = quantity.split_at(split);
        let number: i128 = number.parse().unwrap();
        match suffix {
            "m" => number * 1_000_000,
            "" => number * 1_000_000_000,
            "Mi" => number << 20,
            "Gi" => number << 30,
            other => panic!("unexpected suffix {other}"),
        }
    }

    #[test]
    fn two_vcpus_and_2_gib_for_one_vm() {
        let hard = hard(&limits(2, 2048, 10, 1));
        assert_eq!(hard["requests.cpu"], "206m");
        // 2048 + 4 + 16 + 280 MiB + 36 MB (34.33 MiB) + one byte, rounded up.
        assert_eq!(hard["requests.memory"], "2383Mi");
        // 10 GiB / 0.945 = 10.582 GiB, rounded up to MiB.
        assert_eq!(hard["requests.storage"], "10836Mi");
        assert_eq!(hard["count/virtualmachines.kubevirt.io"], "1");
        let (cpu, memory) = pod(2, 2048);
        assert_eq!((cpu, memory), (206_000_000, 2_498_056_448));
        assert!(cpu <= parse(&hard["requests.cpu"]));
        assert!(memory <= parse(&hard["requests.memory"]));
        // A MiB more of guest memory no longer fits.
        assert!(pod(2, 2049).1 > parse(&hard["requests.memory"]));
    }

    /// Any split of the limits among up to `vm_count` VMs fits: the pods' sum is at most
    /// the mirror, for every way of sharing the vCPUs and memory.
    #[test]
    fn any_vms_within_the_limits_fit() {
        for (vcpus, memory_mib, vm_count) in
            [(8, 16384, 4), (7, 3001, 3), (3, 1000, 2), (16, 65536, 16)]
        {
            let hard = hard(&limits(vcpus, memory_mib, 0, vm_count));
            let (cpu_limit, memory_limit) = (
                parse(&hard["requests.cpu"]),
                parse(&hard["requests.memory"]),
            );
            for count in 1..=i128::from(vm_count) {
                for first_vcpus in 1..=i128::from(vcpus) - (count - 1) {
                    let rest_vcpus = i128::from(vcpus) - first_vcpus;
                    let first_memory = i128::from(memory_mib) * first_vcpus / i128::from(vcpus);
                    let rest_memory = i128::from(memory_mib) - first_memory;
                    let mut total = pod(first_vcpus, first_memory);
                    for index in 1..count {
                        let share = |amount: i128| {
                            amount / (count - 1) + i128::from(index <= amount % (count - 1))
                        };
                        let one = pod(share(rest_vcpus), share(rest_memory));
                        total = (total.0 + one.0, total.1 + one.1);
                    }
                    assert!(total.0 <= cpu_limit, "{vcpus}/{memory_mib}/{count}: cpu");
                    assert!(
                        total.1 <= memory_limit,
                        "{vcpus}/{memory_mib}/{count}: memory"
                    );
                }
            }
        }
    }

    #[test]
    fn no_room_mirrors_as_zero() {
        let hard = hard(&Amounts::default());
        assert!(hard.values().all(|value| value == "0"), "{hard:?}");
    }

    #[test]
    fn quantities_are_written_as_the_api_server_writes_them_back() {
        assert_eq!(decimal_quantity(2000), "2");
        assert_eq!(decimal_quantity(2_000_000), "2k");
        assert_eq!(decimal_quantity(1601), "1601m");
        assert_eq!(binary_quantity(3 << 30), "3Gi");
        assert_eq!(binary_quantity(2383 << 20), "2383Mi");
        assert_eq!(binary_quantity(1000), "1000");
    }
}
