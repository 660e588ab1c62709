use serde::{Deserialize, Serialize};

/// What the dashboard shows about the running instance; only served while its database
/// answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: String,
    /// The database engine in use, e.g. "SQLite".
    pub database: String,
    /// "Kubernetes", or "Simulated cluster" when no kubeconfig was found.
    pub cluster: String,
}
