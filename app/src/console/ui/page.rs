//! `/projects/{slug}/vms/{name}/console` (the screen, through noVNC) and `…/serial` (the
//! serial console, through xterm.js): the status line and the controls around it.

use super::session::{Command, ConsoleSession};
use crate::{console::types::ConsoleKind, vms::types::vm_href};
use leptos::{html::Div, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

#[component]
pub fn VncConsolePage() -> impl IntoView {
    console_page(ConsoleKind::Vnc)
}

#[component]
pub fn SerialConsolePage() -> impl IntoView {
    console_page(ConsoleKind::Serial)
}

/// The page of the VM the address names; another VM's is a new page, with its own
/// connection.
fn console_page(kind: ConsoleKind) -> AnyView {
    let params = use_params_map();
    let target = move || {
        params.with(|params| {
            (
                params.get("slug").unwrap_or_default(),
                params.get("name").unwrap_or_default(),
            )
        })
    };
    (move || {
        let (project, vm) = target();
        view! { <ConsoleFrame kind project vm /> }
    })
    .into_any()
}

/// Key combinations the browser or the local desktop would keep for themselves.
const KEY_COMBOS: [(&str, &str); 10] = [
    ("ctrl-alt-delete", "Ctrl+Alt+Del"),
    ("ctrl-alt-backspace", "Ctrl+Alt+Backspace"),
    ("ctrl-alt-f1", "Ctrl+Alt+F1"),
    ("ctrl-alt-f2", "Ctrl+Alt+F2"),
    ("ctrl-alt-f7", "Ctrl+Alt+F7"),
    ("alt-tab", "Alt+Tab"),
    ("alt-f4", "Alt+F4"),
    ("super", "Windows / Super"),
    ("print", "Print Screen"),
    ("escape", "Escape"),
];

/// The guest keyboard layouts pasted text can be typed with.
const LAYOUTS: [(&str, &str); 2] = [("us", "English (US)"), ("de", "German")];

#[component]
fn ConsoleFrame(kind: ConsoleKind, project: String, vm: String) -> impl IntoView {
    let screen = NodeRef::<Div>::new();
    let session = ConsoleSession::new(kind, project.clone(), vm.clone(), screen);
    let (title, screen_label) = match kind {
        ConsoleKind::Vnc => ("Console", "Screen of"),
        ConsoleKind::Serial => ("Serial console", "Serial console of"),
    };
    let controls = match kind {
        ConsoleKind::Vnc => vnc_controls(session).into_any(),
        ConsoleKind::Serial => serial_controls(session).into_any(),
    };
    let heading = format!("{title}: {vm}");
    let screen_label = format!("{screen_label} {vm}");
    let back = vm_href(&project, &vm);
    view! {
        <Title text=heading.clone() />
        <section class="page console-page">
            <p class="breadcrumb"><A href=back>{vm}</A></p>
            <h1>{heading}</h1>
            <div class="console-bar">
                <StatusLine session />
                <div class="console-controls" role="group" aria-label="Console controls">
                    {controls}
                    <button type="button" class="small" on:click=move |_| session.run(Command::FullScreen)>
                        "Full screen"
                    </button>
                </div>
            </div>
            <div
                class="console-screen"
                class:serial=kind == ConsoleKind::Serial
                node_ref=screen
                role="region"
                aria-label=screen_label
                aria-busy=move || (!session.connected()).to_string()
                data-testid="console-screen"
            ></div>
            {(kind == ConsoleKind::Vnc).then(|| view! { <PasteAsKeys session /> })}
        </section>
    }
}

/// The connection's state, and the button that takes the console over where someone else
/// has it.
#[component]
fn StatusLine(session: ConsoleSession) -> impl IntoView {
    let status = session.status;
    view! {
        <p class="console-status" role="status" data-testid="console-status" data-state=move || status.with(|s| s.key())>
            <span>{move || status.with(|s| s.text())}</span>
            {move || status.with(|s| s.take_over_label()).map(|label| view! {
                <button type="button" class="small primary" on:click=move |_| session.run(Command::TakeOver)>
                    {label}
                </button>
            })}
        </p>
    }
}

fn vnc_controls(session: ConsoleSession) -> impl IntoView {
    let combo = RwSignal::new(KEY_COMBOS[0].0);
    let off = move || !session.connected();
    view! {
        <label class="inline">
            "Scale "
            <select on:change=move |event| session.run(Command::Fit(event_target_value(&event) == "fit"))>
                <option value="fit" selected=true>"Fit to page"</option>
                <option value="1">"1:1"</option>
            </select>
        </label>
        <button type="button" class="small" disabled=off on:click=move |_| session.run(Command::Keys("ctrl-alt-delete"))>
            "Ctrl+Alt+Del"
        </button>
        <label class="inline">
            "Keys "
            {choice(&KEY_COMBOS, combo)}
        </label>
        <button type="button" class="small" disabled=off on:click=move |_| session.run(Command::Keys(combo.get_untracked()))>
            "Send keys"
        </button>
    }
}

/// A list to pick one of `options` (name, label) from, kept in `chosen`.
fn choice(
    options: &'static [(&'static str, &'static str)],
    chosen: RwSignal<&'static str>,
) -> impl IntoView {
    view! {
        <select on:change=move |event| {
            let value = event_target_value(&event);
            if let Some((name, _)) = options.iter().find(|(name, _)| *name == value) {
                chosen.set(name);
            }
        }>
            {options.iter().map(|(name, label)| view! { <option value=*name>{*label}</option> }).collect_view()}
        </select>
    }
}

fn serial_controls(session: ConsoleSession) -> impl IntoView {
    let off = move || !session.connected();
    view! {
        <button type="button" class="small" on:click=move |_| session.run(Command::CopySelection)>
            "Copy selection"
        </button>
        <button type="button" class="small" disabled=off on:click=move |_| session.run(Command::Paste)>
            "Paste"
        </button>
    }
}

/// Text typed into the VM key by key, as a keyboard with the guest's layout would: what a
/// guest without a clipboard shared with the browser can still receive.
#[component]
fn PasteAsKeys(session: ConsoleSession) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let layout = RwSignal::new(LAYOUTS[0].0);
    view! {
        <details class="card console-paste">
            <summary>"Paste text as keystrokes"</summary>
            <form on:submit=move |event| {
                event.prevent_default();
                session.run(Command::Type { text: text.get_untracked(), layout: layout.get_untracked() });
            }>
                <label>
                    "Text"
                    <textarea rows="4" prop:value=move || text.get() on:input=move |event| text.set(event_target_value(&event))></textarea>
                </label>
                <label>
                    "Guest keyboard layout"
                    {choice(&LAYOUTS, layout)}
                </label>
                <button type="submit" class="small" disabled=move || !session.connected()>"Type it"</button>
            </form>
        </details>
    }
}
