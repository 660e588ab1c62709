//! A console page's connection in the browser: a new single-use ticket for every attempt,
//! the socket and the screen or terminal in `console.js`, and trying again with a growing
//! wait while the VM restarts or the network is away.

use super::{
    retry::{after_close, after_refusal, retry_delay, retry_reason},
    session::{Command, ConsoleSession},
    status::Status,
};
use crate::console::{api::console_ticket, types::ConsoleKind};
use leptos::{html::Div, prelude::*};
use std::time::Duration;
use wasm_bindgen::{closure::Closure, prelude::*};

#[wasm_bindgen(module = "/src/console/ui/console.js")]
extern "C" {
    /// A `VncConsole` or a `SerialConsole` of `console.js`: each takes the commands of its
    /// page's controls.
    type Driver;

    #[wasm_bindgen(js_name = vncConsole)]
    fn vnc_console(target: &JsValue, on_connect: &JsValue, on_close: &JsValue) -> Driver;
    #[wasm_bindgen(js_name = serialConsole)]
    fn serial_console(target: &JsValue, on_connect: &JsValue, on_close: &JsValue) -> Driver;
    #[wasm_bindgen(method)]
    fn connect(this: &Driver, path: &str, ticket: &str);
    #[wasm_bindgen(method)]
    fn dispose(this: &Driver);
    #[wasm_bindgen(method, js_name = fullScreen)]
    fn full_screen(this: &Driver);
    #[wasm_bindgen(method, js_name = setFit)]
    fn set_fit(this: &Driver, fit: bool);
    #[wasm_bindgen(method, js_name = sendCombo)]
    fn send_combo(this: &Driver, combo: &str);
    #[wasm_bindgen(method, js_name = typeText)]
    fn type_text(this: &Driver, text: &str, layout: &str);
    #[wasm_bindgen(method, js_name = copySelection)]
    fn copy_selection(this: &Driver);
    #[wasm_bindgen(method, js_name = pasteClipboard)]
    fn paste_clipboard(this: &Driver);
}

struct State {
    kind: ConsoleKind,
    /// The project's slug and the VM's name.
    target: (String, String),
    driver: Option<Driver>,
    /// Counts attempts: a ticket, timer or socket event of an earlier one is ignored.
    attempt: u32,
    /// Attempts failed in a row.
    failures: u32,
    /// The page has gone.
    ended: bool,
}

#[derive(Clone, Copy)]
pub(super) struct Live(StoredValue<State, LocalStorage>);

impl Live {
    pub(super) fn new(kind: ConsoleKind, project: String, vm: String) -> Self {
        Live(StoredValue::new_local(State {
            kind,
            target: (project, vm),
            driver: None,
            attempt: 0,
            failures: 0,
            ended: false,
        }))
    }

    fn next_attempt(&self) -> Option<u32> {
        self.0
            .try_update_value(|state| {
                state.attempt += 1;
                (!state.ended).then_some(state.attempt)
            })
            .flatten()
    }

    fn current(&self, attempt: u32) -> bool {
        self.0
            .try_with_value(|state| !state.ended && state.attempt == attempt)
            .unwrap_or(false)
    }

    fn with_driver(&self, use_driver: impl FnOnce(&Driver)) {
        self.0
            .try_with_value(|state| state.driver.as_ref().map(use_driver));
    }
}

/// Creates the screen or terminal in `screen` once it is on the page, and connects.
pub(super) fn start(session: ConsoleSession, screen: NodeRef<Div>) {
    let live = session.live;
    on_cleanup(move || {
        live.0.try_update_value(|state| {
            state.ended = true;
            if let Some(driver) = state.driver.take() {
                driver.dispose();
            }
        });
    });
    screen.on_load(move |element| {
        let on_connect = Closure::<dyn Fn()>::new(move || {
            live.0.try_update_value(|state| state.failures = 0);
            session.status.try_set(Status::Connected);
        });
        let on_close =
            Closure::<dyn Fn(u16, String)>::new(
                move |code: u16, reason: String| match after_close(code, &reason) {
                    Some(status) => {
                        session.status.try_set(status);
                    }
                    None => retry(session, retry_reason(code)),
                },
            );
        let create = match live.0.with_value(|state| state.kind) {
            ConsoleKind::Vnc => vnc_console,
            ConsoleKind::Serial => serial_console,
        };
        let driver = create(
            &element,
            &on_connect.into_js_value(),
            &on_close.into_js_value(),
        );
        live.0.update_value(|state| state.driver = Some(driver));
        connect(session, false);
    });
}

pub(super) fn run(session: ConsoleSession, command: Command) {
    if let Command::TakeOver = command {
        session.live.0.update_value(|state| state.failures = 0);
        connect(session, true);
        return;
    }
    session.live.with_driver(|driver| match command {
        Command::FullScreen => driver.full_screen(),
        Command::Fit(fit) => driver.set_fit(fit),
        Command::Keys(combo) => driver.send_combo(combo),
        Command::Type { text, layout } => driver.type_text(&text, layout),
        Command::CopySelection => driver.copy_selection(),
        Command::Paste => driver.paste_clipboard(),
        Command::TakeOver => {}
    });
}

/// Asks for a ticket and connects with it.
fn connect(session: ConsoleSession, take_over: bool) {
    let Some(attempt) = session.live.next_attempt() else {
        return;
    };
    session.status.set(Status::Connecting);
    let (kind, (project, vm)) = session
        .live
        .0
        .with_value(|state| (state.kind, state.target.clone()));
    leptos::task::spawn_local(async move {
        let ticket = console_ticket(project, vm, kind, take_over).await;
        if !session.live.current(attempt) {
            return;
        }
        match ticket {
            Ok(ticket) => session
                .live
                .with_driver(|driver| driver.connect(&ticket.path, &ticket.ticket)),
            Err(error) => match after_refusal(&error) {
                Some(status) => session.status.set(status),
                None => retry(session, error.to_string()),
            },
        }
    });
}

/// Counts down the wait before the next attempt on the status line, then connects.
fn retry(session: ConsoleSession, why: String) {
    let Some(attempt) = session.live.next_attempt() else {
        return;
    };
    let failures = session
        .live
        .0
        .try_update_value(|state| {
            state.failures += 1;
            state.failures - 1
        })
        .unwrap_or(0);
    count_down(session, attempt, retry_delay(failures), why);
}

fn count_down(session: ConsoleSession, attempt: u32, seconds: u32, why: String) {
    if seconds == 0 {
        connect(session, false);
        return;
    }
    session.status.set(Status::Reconnecting {
        seconds,
        why: why.clone(),
    });
    set_timeout(
        move || {
            if session.live.current(attempt) {
                count_down(session, attempt, seconds - 1, why);
            }
        },
        Duration::from_secs(1),
    );
}
