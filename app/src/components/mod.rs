//! Domain-free UI pieces.

mod error_panel;
mod layout;
mod not_found;
mod time;

pub use error_panel::ErrorPanel;
pub use layout::Layout;
pub use not_found::NotFound;
pub use time::{age, format_utc, now_ms, utc_day_start_ms};
