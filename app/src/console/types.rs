//! The console wire types (provisional copy of the contract; the server branch owns it).

use serde::{Deserialize, Serialize};

pub use crate::realtime::types::{CLOSE_SESSION_ENDED, CLOSE_SESSION_REPLACED};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleKind {
    Vnc,
    Serial,
}

impl ConsoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleKind::Vnc => "vnc",
            ConsoleKind::Serial => "serial",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleTicket {
    pub ticket: String,
    pub path: String,
}

pub const CLOSE_ROLE_LOST: u16 = 4403;
pub const CLOSE_VM_NOT_RUNNING: u16 = 4404;
pub const CLOSE_IN_USE: u16 = 4409;
pub const CLOSE_TAKEN_OVER: u16 = 4410;
