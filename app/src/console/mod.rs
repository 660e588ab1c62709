//! Browser consoles: a VM's screen (VNC) and serial console, through Wukong.

pub mod api;
pub mod types;
pub mod ui;
