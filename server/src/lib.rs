//! The Wukong server: configuration, start-up, and the HTTP surface around the `app` crate.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod data_dir;
pub mod http;
pub mod simcluster;
pub mod startup;
pub mod telemetry;
