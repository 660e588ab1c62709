use serde::{Deserialize, Serialize};

/// What the dashboard shows about the running instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: String,
    /// The database engine in use, e.g. "SQLite".
    pub database: String,
}
