//! The audit log: who did what, when, from where, and how it ended.

#[cfg(feature = "ssr")]
pub mod server;
