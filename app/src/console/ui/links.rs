//! The console buttons of a VM, on the VM list and the VM page.

use crate::{
    console::types::ConsoleKind,
    vms::types::{vm_href, VmStatus, VmSummary},
};
use leptos::prelude::*;

/// The address of `vm`'s console page of `kind`.
pub fn console_href(project: &str, vm: &str, kind: ConsoleKind) -> String {
    let page = match kind {
        ConsoleKind::Vnc => "console",
        ConsoleKind::Serial => "serial",
    };
    format!("{}/{page}", vm_href(project, vm))
}

/// Links to `vm`'s consoles while it runs, disabled buttons while it does not; nothing
/// unless the user's role allows consoles (`allowed`).
pub fn console_links(vm: &VmSummary, allowed: bool) -> impl IntoView + use<> {
    let running = vm.status == VmStatus::Running;
    let links = [(ConsoleKind::Vnc, "Console"), (ConsoleKind::Serial, "Serial")].map(
        |(kind, label)| {
            let name = format!("{label} of {}", vm.name);
            if running {
                let href = console_href(&vm.project, &vm.name, kind);
                view! { <a class="button small" href=href aria-label=name>{label}</a> }.into_any()
            } else {
                view! {
                    <button type="button" class="small" disabled=true aria-label=name title="The VM is not running">
                        {label}
                    </button>
                }
                .into_any()
            }
        },
    );
    allowed.then(|| links.into_iter().collect_view())
}
