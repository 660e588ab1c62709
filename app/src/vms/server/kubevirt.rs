//! Typed views of KubeVirt's VirtualMachine and VirtualMachineInstance.
//!
//! Only what Wukong reads is modelled; every other field is kept in a `rest` map at its
//! level, so an object read and written back loses nothing that a newer KubeVirt or another
//! tool put there. Conditions keep their times as sent, because KubeVirt sends `null` times
//! that `k8s_openapi`'s `Condition` refuses.

use crate::vms::types::{GuestOs, VmInterface};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields not modelled, kept as they came.
pub type Rest = Map<String, Value>;

pub const GROUP: &str = "kubevirt.io";
pub const VERSION: &str = "v1";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The selector of every object Wukong creates, and of its watches.
pub const MANAGED_BY_WUKONG: &str = "app.kubernetes.io/managed-by=wukong";

/// `kube::Resource` for a namespaced KubeVirt kind, by hand (no `schemars`, no derive).
macro_rules! kubevirt_resource {
    ($type:ident, $kind:literal, $plural:literal) => {
        kubevirt_resource!(
            $type,
            $crate::vms::server::kubevirt::GROUP,
            $crate::vms::server::kubevirt::VERSION,
            $kind,
            $plural
        );
    };
    ($type:ident, $group:expr, $version:expr, $kind:literal, $plural:literal) => {
        impl kube::Resource for $type {
            type DynamicType = ();
            type Scope = kube::core::NamespaceResourceScope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($kind)
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($group)
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($version)
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($plural)
            }
            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(
                &mut self,
            ) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(crate) use kubevirt_resource;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualMachine {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: VmSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VmStatusView>,
    /// `apiVersion`, `kind` and anything else at the top level.
    #[serde(flatten)]
    pub rest: Rest,
}
kubevirt_resource!(VirtualMachine, "VirtualMachine", "virtualmachines");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_strategy: Option<String>,
    /// The deprecated alternative to `runStrategy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_volume_templates: Option<Vec<DataVolumeTemplate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<VmiTemplate>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataVolumeTemplate {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VmiTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<VmiSpec>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VmiSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// A quantity: the schema allows a string (`2Gi`) or a number of bytes
    /// (`x-kubernetes-int-or-string`), and kubectl users write both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<Value>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_disk: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_volume: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmStatusView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printable_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// A KubeVirt condition; its times stay in `rest`, null or not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualMachineInstance {
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<VmiStatusView>,
    #[serde(flatten)]
    pub rest: Rest,
}
kubevirt_resource!(
    VirtualMachineInstance,
    "VirtualMachineInstance",
    "virtualmachineinstances"
);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmiStatusView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<Vec<Interface>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    #[serde(
        default,
        rename = "guestOSInfo",
        skip_serializing_if = "Option::is_none"
    )]
    pub guest_os_info: Option<GuestOsInfo>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// KubeVirt's `VirtualMachineInstanceNetworkInterface` (kubevirt.io/api `core/v1/types.go`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    /// The network's name in the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The name inside the guest, reported by the guest agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// KubeVirt's `VirtualMachineInstanceGuestOSInfo`, filled in by virt-handler from the guest
/// agent (`pkg/virt-handler/vm.go`); empty without an agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestOsInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_release: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// Bytes of a quantity as JSON holds it: a string (`2Gi`) or a plain number of bytes.
pub fn quantity_value_bytes(value: &Value) -> Option<u64> {
    match value {
        Value::String(text) => quantity_bytes(text),
        Value::Number(number) => number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|bytes| *bytes >= 0.0)
                .map(|bytes| bytes as u64)
        }),
        _ => None,
    }
}

/// Bytes in a Kubernetes quantity such as "2Gi", "512M" or "1073741824".
pub fn quantity_bytes(text: &str) -> Option<u64> {
    const SUFFIXES: [(&str, u64); 10] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("Pi", 1 << 50),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
    ];
    let text = text.trim();
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<u64>().ok()?.checked_mul(factor);
        }
    }
    text.parse().ok()
}

impl VirtualMachine {
    fn domain(&self) -> Option<&Domain> {
        self.spec.template.as_ref()?.spec.as_ref()?.domain.as_ref()
    }

    /// vCPUs: sockets × cores × threads, each defaulting to 1 as KubeVirt does.
    pub fn cpus(&self) -> u32 {
        let cpu = self.domain().and_then(|domain| domain.cpu.as_ref());
        let part = |value: Option<u32>| value.unwrap_or(1).max(1);
        cpu.map_or(1, |cpu| {
            part(cpu.sockets)
                .saturating_mul(part(cpu.cores))
                .saturating_mul(part(cpu.threads))
        })
    }

    /// The storage its DataVolume templates request (`storage` or the older `pvc`).
    pub fn disk_bytes(&self) -> u64 {
        let templates = self
            .spec
            .data_volume_templates
            .as_deref()
            .unwrap_or_default();
        templates
            .iter()
            .filter_map(|template| {
                let spec = template.rest.get("spec")?;
                let claim = spec.get("storage").or_else(|| spec.get("pvc"))?;
                claim.pointer("/resources/requests/storage")
            })
            .filter_map(quantity_value_bytes)
            .sum()
    }

    /// Guest memory: `memory.guest`, else the memory request.
    pub fn memory_bytes(&self) -> u64 {
        let domain = self.domain();
        let guest = domain
            .and_then(|domain| domain.memory.as_ref())
            .and_then(|memory| memory.guest.as_ref());
        let requested = domain
            .and_then(|domain| domain.resources.as_ref())
            .and_then(|resources| resources.requests.as_ref())
            .and_then(|requests| requests.get("memory"));
        guest
            .or(requested)
            .and_then(quantity_value_bytes)
            .unwrap_or(0)
    }

    /// KubeVirt's status word; `Terminating` once the VM is being deleted, as KubeVirt
    /// reports it (virt-controller's printable status, pkg/virt-controller/watch/vm/), and
    /// also before KubeVirt has noticed, or while finalizers hold the VM.
    pub fn printable_status(&self) -> Option<&str> {
        if self.metadata.deletion_timestamp.is_some() {
            return Some("Terminating");
        }
        self.status.as_ref()?.printable_status.as_deref()
    }

    /// The run strategy, reading the deprecated `running` flag when that is what is set.
    pub fn run_strategy(&self) -> String {
        match (&self.spec.run_strategy, self.spec.running) {
            (Some(strategy), _) => strategy.clone(),
            (None, Some(true)) => "Always".to_owned(),
            (None, _) => "Halted".to_owned(),
        }
    }

    pub fn volumes(&self) -> &[Volume] {
        self.spec
            .template
            .as_ref()
            .and_then(|template| template.spec.as_ref())
            .and_then(|spec| spec.volumes.as_deref())
            .unwrap_or_default()
    }

    pub fn data_volume_names(&self) -> Vec<String> {
        self.spec
            .data_volume_templates
            .iter()
            .flatten()
            .filter_map(|template| template.metadata.name.clone())
            .collect()
    }
}

impl VirtualMachineInstance {
    /// The first IP address KubeVirt reports.
    pub fn ip(&self) -> Option<String> {
        self.status
            .as_ref()?
            .interfaces
            .iter()
            .flatten()
            .find_map(|interface| interface.ip_address.clone())
            .filter(|ip| !ip.is_empty())
    }

    pub fn node(&self) -> Option<String> {
        self.status.as_ref()?.node_name.clone()
    }

    pub fn interfaces(&self) -> Vec<VmInterface> {
        let reported = self
            .status
            .as_ref()
            .and_then(|status| status.interfaces.as_ref());
        reported
            .into_iter()
            .flatten()
            .map(|interface| {
                let mut ips = interface.ip_addresses.clone().unwrap_or_default();
                if let Some(ip) = interface.ip_address.as_ref().filter(|ip| !ip.is_empty()) {
                    if !ips.contains(ip) {
                        ips.insert(0, ip.clone());
                    }
                }
                VmInterface {
                    network: interface.name.clone().unwrap_or_default(),
                    guest_name: interface.interface_name.clone(),
                    mac: interface.mac.clone(),
                    ips,
                }
            })
            .collect()
    }

    /// Whether virt-handler reports the guest agent connected (condition `AgentConnected`,
    /// `updateGuestAgentConditions` in pkg/virt-handler/vm.go).
    pub fn agent_connected(&self) -> bool {
        self.status
            .as_ref()
            .and_then(|status| status.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|condition| condition.kind == "AgentConnected" && condition.status == "True")
    }

    /// The guest's operating system, when an agent reported one.
    pub fn guest_os(&self) -> Option<GuestOs> {
        let info = self.status.as_ref()?.guest_os_info.as_ref()?;
        let name = info
            .pretty_name
            .clone()
            .or_else(|| {
                let name = info.name.as_deref()?;
                Some(match info.version.as_deref() {
                    Some(version) => format!("{name} {version}"),
                    None => name.to_owned(),
                })
            })
            .filter(|name| !name.is_empty())?;
        Some(GuestOs {
            name,
            kernel: info.kernel_release.clone().unwrap_or_default(),
        })
    }
}
