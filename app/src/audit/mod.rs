//! The audit log: who did what, when, from where, and how it ended.

pub mod api;
pub mod types;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;
