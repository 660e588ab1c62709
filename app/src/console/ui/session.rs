//! One console page's connection as its controls see it: the status to show, and the
//! commands they give. In the browser, `connection` does the work.

use super::status::Status;
use crate::console::types::ConsoleKind;
use leptos::{html::Div, prelude::*};

/// What a control asks of the console.
#[derive(Clone, Debug)]
#[cfg_attr(
    not(feature = "hydrate"),
    expect(dead_code, reason = "only the browser carries commands out")
)]
pub enum Command {
    FullScreen,
    /// Scale the screen to fit the page (`true`) or show it 1:1.
    Fit(bool),
    /// A key combination by the name the driver knows it under.
    Keys(&'static str),
    /// Type the text with the guest's keyboard layout.
    Type {
        text: String,
        layout: &'static str,
    },
    CopySelection,
    Paste,
    /// Connect, displacing whoever has the console.
    TakeOver,
}

#[derive(Clone, Copy)]
pub struct ConsoleSession {
    pub status: RwSignal<Status>,
    #[cfg(feature = "hydrate")]
    pub(super) live: super::connection::Live,
}

impl ConsoleSession {
    /// The console of `vm` in `project`, shown in `screen` once it is on the page, until the
    /// calling component goes.
    pub fn new(kind: ConsoleKind, project: String, vm: String, screen: NodeRef<Div>) -> Self {
        let session = ConsoleSession {
            status: RwSignal::new(Status::Loading),
            #[cfg(feature = "hydrate")]
            live: super::connection::Live::new(kind, project, vm),
        };
        #[cfg(feature = "hydrate")]
        super::connection::start(session, screen);
        #[cfg(not(feature = "hydrate"))]
        let _ = (kind, project, vm, screen);
        session
    }

    pub fn connected(&self) -> bool {
        self.status.with(|status| *status == Status::Connected)
    }

    pub fn run(&self, command: Command) {
        #[cfg(feature = "hydrate")]
        super::connection::run(*self, command);
        #[cfg(not(feature = "hydrate"))]
        let _ = command;
    }
}
