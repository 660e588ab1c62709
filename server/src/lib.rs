//! The Wukong server: configuration, start-up, and the HTTP surface around the `app` crate.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod data_dir;
pub mod http;
pub mod startup;
pub mod telemetry;

/// The simulated cluster, built in: the default when no kubeconfig is found.
pub use simcluster;
