//! The simulated cluster's tests, in one binary: its API (`cluster`), checked through kube-rs
//! and kubectl as Wukong and people call it, and its VNC and serial consoles (`console`,
//! through `console_client`).

mod cluster;
mod console;
mod console_client;
mod support;
