//! Wukong's shared crate: the UI, the server-function surface and the wire types, compiled
//! once for the server (`ssr`) and once for the browser (`hydrate`).

pub mod audit;
pub mod auth;
pub mod authz;
pub mod components;
pub mod console;
pub mod error;
pub mod projects;
pub mod quotas;
pub mod realtime;
pub mod resource;
pub mod shell;
pub mod snapshots;
pub mod system;
pub mod url;
pub mod vms;

#[cfg(feature = "ssr")]
pub mod assets;
#[cfg(feature = "ssr")]
pub mod cluster;
#[cfg(feature = "ssr")]
pub mod context;
#[cfg(feature = "ssr")]
pub mod csp;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod net;
#[cfg(feature = "ssr")]
pub mod settings;

pub use error::AppError;
#[cfg(feature = "ssr")]
pub use shell::shell;
pub use shell::App;
