//! The six limit fields, shared by the template form and a project's custom quota.

use crate::{
    projects::ui::field_message,
    quotas::types::{LimitsForm, Resource as Quantity},
    AppError,
};
use leptos::prelude::*;

/// A field's label: the resource with its unit.
fn field_label(resource: Quantity) -> &'static str {
    match resource {
        Quantity::Vcpus => "vCPUs",
        Quantity::MemoryMib => "Memory (MiB)",
        Quantity::DiskGib => "Disk (GiB)",
        Quantity::VmCount => "Virtual machines",
        Quantity::SnapshotCount => "Snapshots",
        Quantity::SnapshotGib => "Snapshot space (GiB)",
    }
}

/// The message for `field`: the browser's own check first, then the server's answer.
pub fn limit_error<T>(
    local: Option<(&'static str, String)>,
    answer: Option<Result<T, AppError>>,
    field: &str,
) -> Option<String> {
    match local {
        Some((failed, message)) if failed == field => Some(message),
        _ => field_message(answer, field),
    }
}

/// One number field per resource, editing `limits`; `error(field)` gives a field's message.
#[component]
pub fn LimitsFields(
    limits: RwSignal<LimitsForm>,
    /// Makes the fields' ids unique on the page.
    id_prefix: &'static str,
    error: Callback<&'static str, Option<String>>,
) -> impl IntoView {
    view! {
        <fieldset class="limits">
            <legend>"Limits"</legend>
            {Quantity::ALL.into_iter().map(|resource| {
                let id = format!("{id_prefix}-{}", resource.key());
                let error_id = format!("{id}-error");
                view! {
                    <label for=id.clone()>{field_label(resource)}</label>
                    <input
                        id=id
                        type="number"
                        min="0"
                        step="1"
                        required
                        aria-describedby=error_id.clone()
                        prop:value=move || limits.with(|limits| limits.text(resource).to_owned())
                        on:input=move |event| {
                            let text = event_target_value(&event);
                            limits.update(|limits| limits.set(resource, text));
                        }
                    />
                    <p id=error_id class="field-error" role="alert">{move || error.run(resource.key())}</p>
                }
            }).collect_view()}
        </fieldset>
    }
}
