//! Projects: the tenancy unit. Each has members with roles and its own Kubernetes namespace.

pub mod api;
pub mod types;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;
