//! Facts about the running Wukong instance.

pub mod api;
pub mod types;
pub mod ui;
