//! The server side of consoles: tickets in the database, and the registry of open consoles
//! that lets one viewer at a time hold each. The WebSocket itself is the `server` crate's.

pub mod registry;
pub mod tickets;

use crate::{realtime::server::Live, vms::names::VmRef};

/// Whether the live store holds a running instance of `target`: only then does KubeVirt
/// serve its consoles.
pub fn is_running(live: &Live, target: &VmRef) -> bool {
    live.vmi(target.namespace.as_str(), target.name.as_str())
        .is_some_and(|vmi| {
            vmi.status
                .as_ref()
                .and_then(|status| status.phase.as_deref())
                == Some("Running")
        })
}
