//! The VM pages: list, detail and create.

mod create;
mod detail;
mod list;
mod status;

pub use create::NewVmPage;
pub use detail::VmPage;
pub use list::VmListPage;
pub use status::{ConfirmDialog, StatusBadge};
