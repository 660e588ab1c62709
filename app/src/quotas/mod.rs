//! Quotas: templates, each project's limits, and the usage reserved against them, so that
//! concurrent creates can never overcommit a project.

pub mod api;
pub mod types;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;
