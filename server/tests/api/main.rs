//! Wukong's integration tests: one binary, one module per area.
//!
//! Database tests run on SQLite, and on PostgreSQL when `WUKONG_TEST_POSTGRES` names a
//! server (the README's test command starts a private one and runs this binary again).
//! `clustercheck`, `controlplane`, `quota_mirror` and `vms` never open the application's
//! database, and `cli` only an SQLite file of its own but for `cli::with_postgresql_…`, so
//! that second pass leaves them out (scripts/test.sh): database tests belong in other modules.

mod admin;
mod auth;
mod cli;
mod clustercheck;
mod console;
mod controlplane;
mod db;
mod deadline;
mod http;
mod live;
mod mfa;
mod migrations;
mod oidc;
mod quota_mirror;
mod quotas;
mod redirects;
mod sign_in_limits;
mod snapshots;
mod sockets;
mod support;
mod tenancy;
mod vms;
