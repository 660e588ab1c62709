//! Snapshots on the server: KubeVirt's kinds, the bodies Wukong creates, cluster calls, the
//! requests with their checks, quota and audit, and the rows the pages list.

pub mod body;
pub mod cluster;
pub mod kinds;
pub mod requests;
pub mod summary;

/// The annotation that keeps a snapshot's description.
pub const DESCRIPTION: &str = "wukong.io/description";
