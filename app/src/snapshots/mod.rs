//! Snapshots of VMs, restores of a VM to one of its snapshots, and clones of a VM or a
//! snapshot into a new VM: KubeVirt's `snapshot.kubevirt.io` and `clone.kubevirt.io` kinds.

pub mod api;
pub mod types;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;
