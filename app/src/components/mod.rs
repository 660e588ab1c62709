//! Domain-free UI pieces.

mod error_panel;
mod layout;
mod not_found;
mod section_page;
mod time;

pub use error_panel::ErrorPanel;
pub use layout::Layout;
pub use not_found::NotFound;
pub use section_page::{Section, SectionPage};
pub use time::{age, format_utc, now_ms};
