//! The snapshot pages: the VM page's snapshots section and a project's snapshots page. Both
//! are reached only through lazy routes, so their code is fetched with those pages.

mod page;
mod section;
mod tables;

pub use page::ProjectSnapshotsPage;
pub use section::{SnapshotsSection, VmState};
