//! How a VM's status looks, and the confirmation before an action that interrupts it.

use crate::vms::types::{StatusTone, VmAction, VmStatus};
use leptos::{ev::KeyboardEvent, prelude::*};

/// The status with a colour and an icon; the icon is decoration, the text says it.
#[component]
pub fn StatusBadge(status: VmStatus) -> impl IntoView {
    let (class, icon) = match status.tone() {
        StatusTone::Running => ("status status-running", "●"),
        StatusTone::Changing => ("status status-changing", "◐"),
        StatusTone::Stopped => ("status status-stopped", "○"),
        StatusTone::Paused => ("status status-paused", "❚❚"),
        StatusTone::Failing => ("status status-failing", "▲"),
    };
    view! {
        <span class=class data-status=status.as_str()>
            <span class="status-icon" aria-hidden="true">{icon}</span>
            {status.as_str()}
        </span>
    }
}

/// What asking before `action` on `name` says.
pub fn confirmation_text(action: VmAction, name: &str) -> String {
    match action {
        VmAction::Stop => format!("Stop {name}? The guest is asked to shut down."),
        VmAction::ForceStop => {
            format!(
                "Force stop {name}? It is turned off at once; unsaved work in the guest is lost."
            )
        }
        VmAction::Restart => format!("Restart {name}? The guest is rebooted."),
        other => format!("{} {name}?", other.label()),
    }
}

/// A modal question with a confirm and a cancel button; Escape cancels. The confirm button
/// takes the focus, so Enter confirms and Tab reaches Cancel.
#[component]
pub fn ConfirmDialog(
    question: String,
    confirm_label: String,
    on_confirm: Callback<()>,
    on_cancel: Callback<()>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    // `autofocus` does not apply to elements added after the page loaded.
    let confirm = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = confirm.get() {
            let _ = button.focus();
        }
    });
    let on_keydown = move |event: KeyboardEvent| {
        if event.key() == "Escape" {
            on_cancel.run(());
        }
    };
    view! {
        <div class="dialog-backdrop">
            <div class="dialog card" role="alertdialog" aria-modal="true" aria-labelledby="dialog-question" on:keydown=on_keydown>
                <p id="dialog-question">{question}</p>
                {children.map(|children| children())}
                <div class="dialog-buttons">
                    <button type="button" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                    <button type="button" class="danger" node_ref=confirm on:click=move |_| on_confirm.run(())>
                        {confirm_label}
                    </button>
                </div>
            </div>
        </div>
    }
}
