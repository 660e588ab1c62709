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
    /// A snapshot, restore or clone of one of the user's projects was made, changed or
    /// removed: the snapshot lists must be fetched again. It names nothing (the lists are
    /// short and fetched whole), which keeps its decoder out of the first page's code.
    SnapshotsChanged,
    /// Events were lost (the client fell behind, or the cluster watch started over):
    /// everything shown must be fetched again.
    Resync,
    /// The user's projects or roles changed: what they may see and do must be fetched
    /// again.
    AccessChanged,
    /// Why the cluster's watches fail, one sentence per kind; empty once they work again.
    /// Sent to every socket when this changes, and to a socket that opens while they fail:
    /// statuses shown meanwhile may be out of date.
    ClusterWatch {
        failures: Vec<String>,
    },
}

/// Where the browser connects.
pub const EVENTS_PATH: &str = "/ws/events";

/// The close code of a socket whose session ended (signed out, here or elsewhere): the page
/// goes to sign in rather than reconnecting (RFC 6455's policy violation).
pub const CLOSE_SESSION_ENDED: u16 = 1008;

/// The close code of a socket whose session the same browser replaced (a new sign-in, a new
/// token after setting up MFA): the page reconnects with its new cookie.
pub const CLOSE_SESSION_REPLACED: u16 = 4000;
