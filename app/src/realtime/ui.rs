//! The live-event connection of the browser.
