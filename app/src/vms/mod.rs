//! Virtual machines: the list, the VM page, the create form and lifecycle actions.

pub mod api;
pub mod names;
pub mod new_vm;
pub mod types;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;
