//! Status pushed live: cluster watches on the server, one WebSocket per browser.

pub mod types;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod sockets;
