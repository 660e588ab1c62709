//! Identity: sign-in, sessions and multi-factor authentication.

pub mod ui;
