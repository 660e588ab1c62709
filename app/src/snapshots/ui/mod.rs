//! The VM page's snapshots section: the VM's snapshots, or every VM's of its project. It is
//! reached only through the VM page, a lazy route, so its code is fetched with that page.

mod section;
mod tables;

pub use section::{SnapshotsSection, VmState};
