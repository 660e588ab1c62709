//! Quotas on the server (work in progress: the lead replaces these signatures).

pub mod limits;
pub mod mirror;
pub mod templates;
pub mod usage;
