//! The console pages (a VM's screen through noVNC, its serial console through xterm.js) and
//! the buttons leading to them.

#[cfg(feature = "hydrate")]
mod connection;
mod links;
mod page;
#[cfg(any(feature = "hydrate", test))]
mod retry;
mod session;
mod status;

pub use links::{console_href, console_links};
pub use page::{SerialConsolePage, VncConsolePage};
