//! The quota pages and the pieces other pages show: usage bars, a project's quota section,
//! the room the VM forms leave, and the admin pages for templates and every project's usage.

mod bars;
mod limits;
mod overview;
mod project;
mod room;
mod templates;

pub use bars::UsageBars;
pub use overview::QuotaUsagePage;
pub use project::ProjectQuotaSection;
pub use room::{ProjectRoom, Room};
pub use templates::QuotaTemplatesPage;
