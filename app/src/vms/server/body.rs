//! The VirtualMachine object Wukong creates for a checked [`NewVm`].

use super::kubevirt::{VirtualMachine, MANAGED_BY};
use crate::vms::{
    names::Namespace,
    new_vm::{ImageSource, NewVm},
};
use serde_json::json;

/// The label naming the project an object belongs to.
pub const PROJECT_LABEL: &str = "wukong.io/project";

/// The most cloud-init user data KubeVirt takes inline; more must come from a Secret
/// (`cloudInitUserMaxLen` in KubeVirt's
/// pkg/virt-api/webhooks/validating-webhook/admitters/vmi-create-admitter.go).
pub const INLINE_USER_DATA_LIMIT: usize = 2048;

/// The Secret holding a VM's user data when it is too long to go inline.
pub fn cloud_init_secret_name(vm_name: &str) -> String {
    format!("{vm_name}-cloudinit")
}

/// The Secret for `vm`'s user data when it is longer than KubeVirt takes inline, owned by the
/// VM (`vm_uid`) so that it is deleted with it. KubeVirt reads the key `userdata`
/// (pkg/cloud-init/cloud-init.go, `resolveNoCloudSecrets`).
pub fn cloud_init_secret(vm: &NewVm, project_id: &str, vm_uid: &str) -> Option<serde_json::Value> {
    let user_data = vm
        .cloud_init()
        .filter(|data| data.len() > INLINE_USER_DATA_LIMIT)?;
    Some(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": cloud_init_secret_name(vm.name.as_str()),
            "labels": {MANAGED_BY: "wukong", PROJECT_LABEL: project_id},
            "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                "name": vm.name, "uid": vm_uid}],
        },
        "type": "Opaque",
        "stringData": {"userdata": user_data},
    }))
}

/// The VM's root disk DataVolume, for URL imports.
pub fn root_data_volume_name(vm_name: &str) -> String {
    format!("{vm_name}-root")
}

/// The complete object to create in `namespace`, the namespace of the project `project_id`.
/// The template's labels reach the VMI (and the launcher pod), which is how the VMI watch
/// finds Wukong's instances.
pub fn virtual_machine(
    vm: &NewVm,
    namespace: &Namespace,
    project_id: &str,
) -> Result<VirtualMachine, serde_json::Error> {
    let labels = json!({
        MANAGED_BY: "wukong",
        PROJECT_LABEL: project_id,
        "kubevirt.io/vm": vm.name,
    });
    let memory = format!("{}Mi", vm.memory_mib);
    let mut disks = vec![json!({"name": "rootdisk", "bootOrder": 1, "disk": {"bus": "virtio"}})];
    let root = match &vm.image {
        ImageSource::Preset(preset) => {
            json!({"name": "rootdisk", "containerDisk": {"image": preset.image()}})
        }
        ImageSource::Url(_) => json!({
            "name": "rootdisk",
            "dataVolume": {"name": root_data_volume_name(vm.name.as_str())},
        }),
    };
    let mut volumes = vec![root];
    if let Some(user_data) = vm.cloud_init() {
        disks.push(json!({"name": "cloudinitdisk", "disk": {"bus": "virtio"}}));
        let source = if user_data.len() > INLINE_USER_DATA_LIMIT {
            json!({"secretRef": {"name": cloud_init_secret_name(vm.name.as_str())}})
        } else {
            json!({"userData": user_data})
        };
        volumes.push(json!({"name": "cloudinitdisk", "cloudInitNoCloud": source}));
    }
    let mut spec = json!({
        "runStrategy": vm.run_strategy.as_str(),
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "domain": {
                    "cpu": {"sockets": 1, "cores": vm.cpus, "threads": 1},
                    "memory": {"guest": memory},
                    "resources": {"requests": {"memory": memory}},
                    "devices": {
                        "disks": disks,
                        "interfaces": [{"name": "default", "masquerade": {}}],
                    },
                },
                "networks": [{"name": "default", "pod": {}}],
                "volumes": volumes,
            },
        },
    });
    if let ImageSource::Url(url) = &vm.image {
        spec["dataVolumeTemplates"] = json!([{
            "metadata": {"name": root_data_volume_name(vm.name.as_str()), "labels": labels},
            "spec": {
                "source": {"http": {"url": url}},
                "storage": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": format!("{}Gi", vm.disk_gib)}},
                },
            },
        }]);
    }
    serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": vm.name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }))
}
