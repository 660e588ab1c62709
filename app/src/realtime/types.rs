//! What `/ws/events` sends to the browser, one JSON text message per event.

use crate::vms::types::VmSummary;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A VM was created or changed, or its instance did.
    VmChanged {
        vm: VmSummary,
    },
    VmRemoved {
        namespace: String,
        name: String,
    },
    /// Events were lost (the client fell behind, or the cluster watch started over):
    /// everything shown must be fetched again.
    Resync,
}

/// Where the browser connects.
pub const EVENTS_PATH: &str = "/ws/events";
