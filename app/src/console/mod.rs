//! Browser consoles of VMs, VNC and serial, proxied by Wukong: a single-use ticket from a
//! server fn opens the console WebSocket, which Wukong splices to KubeVirt's.

pub mod api;
#[cfg(feature = "ssr")]
pub mod server;
pub mod types;
pub mod ui;
