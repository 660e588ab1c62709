//! Identity: accounts, sign-in, sessions.

pub mod api;
pub mod types;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod landing;

#[cfg(feature = "ssr")]
pub mod server;
