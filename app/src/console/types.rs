//! What the console pages and the console WebSocket agree on: the kinds, the ticket, the
//! subprotocols and the close codes.

use serde::{Deserialize, Serialize};

pub use crate::realtime::types::{CLOSE_SESSION_ENDED, CLOSE_SESSION_REPLACED};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleKind {
    /// The screen, as RFB (noVNC).
    Vnc,
    /// The serial console, as raw terminal bytes (xterm.js).
    Serial,
}

impl ConsoleKind {
    pub const ALL: [ConsoleKind; 2] = [ConsoleKind::Vnc, ConsoleKind::Serial];

    /// The name in paths, tickets and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleKind::Vnc => "vnc",
            ConsoleKind::Serial => "serial",
        }
    }

    pub fn parse(text: &str) -> Option<ConsoleKind> {
        ConsoleKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    /// Where the browser opens the console's WebSocket.
    pub fn path(self) -> String {
        format!("{CONSOLE_PATH}/{}", self.as_str())
    }
}

/// A single-use permission to open one console, valid for a few seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleTicket {
    /// Offered as the subprotocol `wukong.ticket.<ticket>`, never in a URL.
    pub ticket: String,
    /// `/console/vnc` or `/console/serial`.
    pub path: String,
}

/// The route of the console WebSockets, followed by `/{kind}`.
pub const CONSOLE_PATH: &str = "/console";

/// The subprotocol the server answers with; the browser offers it with the ticket's.
pub const CONSOLE_PROTOCOL: &str = "wukong.console";

/// The subprotocol that carries the ticket: a browser cannot set headers on a WebSocket,
/// and a URL would put the ticket in logs.
pub const TICKET_PROTOCOL_PREFIX: &str = "wukong.ticket.";

/// The largest message the browser may send (keys, pointer moves, pasted text); larger
/// ones close the console with [`CLOSE_TOO_BIG`].
pub const MAX_BROWSER_MESSAGE: usize = 64 * 1024;

/// The server is shutting down: reconnect with backoff.
pub const CLOSE_SHUTTING_DOWN: u16 = 1001;
/// The browser sent a message larger than [`MAX_BROWSER_MESSAGE`].
pub const CLOSE_TOO_BIG: u16 = 1009;
/// The cluster's end failed or refused: reconnect with backoff.
pub const CLOSE_UPSTREAM_ERROR: u16 = 1011;
/// The user may no longer use this console: no reconnect.
pub const CLOSE_ROLE_LOST: u16 = 4403;
/// The VM stopped, restarts or is gone: reconnect with backoff until it runs again.
pub const CLOSE_VM_NOT_RUNNING: u16 = 4404;
/// Someone else has the console open; the reason names them. The page offers to take over.
pub const CLOSE_IN_USE: u16 = 4409;
/// Someone took the console over; the reason names them. The page offers to take it back.
pub const CLOSE_TAKEN_OVER: u16 = 4410;
