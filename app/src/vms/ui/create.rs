//! `/vms/new`: the create form, checked in the browser as the user types and again on the
//! server, with each problem shown at its field.

use crate::resource::wire_resource;
use crate::{
    quotas::{
        types::{Amounts, Resource as Quantity},
        ui::{ProjectRoom, Room},
    },
    vms::{
        api::{create_vm, vm_projects},
        new_vm::{
            FieldError, ImagePreset, NewVmForm, RunStrategy, MAX_CPUS, MAX_DISK_GIB,
            MAX_MEMORY_MIB, MIN_MEMORY_MIB,
        },
    },
    AppError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_query_map},
    NavigateOptions,
};

fn text_field(
    form: RwSignal<NewVmForm>,
    get: fn(&NewVmForm) -> &String,
    set: fn(&mut NewVmForm, String),
) -> (
    impl Fn() -> String + Copy,
    impl Fn(leptos::ev::Event) + Copy,
) {
    (
        move || form.with(|form| get(form).clone()),
        move |event| {
            let value = event_target_value(&event);
            form.update(|form| set(form, value));
        },
    )
}

/// What the quota counts of the VM typed so far: none while a number does not parse. Only
/// an imported image takes a disk; a container disk lives in the node's storage.
fn demand(form: &NewVmForm) -> Option<Amounts> {
    let number = |text: &str| text.trim().parse::<i64>().ok().filter(|n| *n >= 0);
    let disk = if form.image == "url" {
        number(&form.disk_gib)?
    } else {
        0
    };
    Some(Amounts::vm(
        number(&form.cpus)?,
        number(&form.memory_mib)?,
        disk,
    ))
}

/// The resources a new VM takes.
const ROOM: [Quantity; 4] = [
    Quantity::Vcpus,
    Quantity::MemoryMib,
    Quantity::DiskGib,
    Quantity::VmCount,
];

#[component]
pub fn NewVmPage() -> impl IntoView {
    let form = RwSignal::new(NewVmForm {
        cpus: "1".to_owned(),
        memory_mib: "2048".to_owned(),
        image: ImagePreset::Fedora.key().to_owned(),
        disk_gib: "20".to_owned(),
        run_strategy: RunStrategy::Always.as_str().to_owned(),
        ..NewVmForm::default()
    });
    let submitted = RwSignal::new(false);
    let projects = wire_resource(|| (), |_| vm_projects());
    let project = Memo::new(move |_| form.with(|form| form.project.clone()));
    let watched = Callback::new(move |namespace: String| {
        let slug = project.get_untracked();
        projects.with_untracked(|choices| {
            matches!(choices, Some(Ok(choices)) if choices
                .iter()
                .any(|choice| choice.slug == slug && choice.namespace == namespace))
        })
    });
    let vm_demand = Signal::derive(move || form.with(demand));
    let create = Action::new(|form: &NewVmForm| create_vm(form.clone()));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(href)) = create.value().get() {
            navigate(&href, NavigateOptions::default());
        }
    });
    // Browser-side problems show once the user has tried to submit; the server's answer
    // adds its own (a name already taken, a namespace not offered).
    let local_errors = move || {
        if submitted.get() {
            form.with(|form| form.parse().err().unwrap_or_default())
        } else {
            Vec::new()
        }
    };
    let error_for = move |field: &'static str| {
        move || {
            local_errors()
                .into_iter()
                .find(|error: &FieldError| error.field == field)
                .map(|error| error.message)
                .or_else(|| match create.value().get() {
                    Some(Err(AppError::Invalid {
                        field: failed,
                        message,
                    })) if failed == field => Some(message),
                    _ => None,
                })
        }
    };
    let other_error = move || match create.value().get() {
        Some(Err(AppError::Invalid { field, message })) if field.is_empty() => Some(message),
        Some(Err(AppError::Invalid { .. })) | Some(Ok(_)) | None => None,
        Some(Err(error)) => Some(error.to_string()),
    };
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        submitted.set(true);
        if form.with(|form| form.parse().is_ok()) {
            create.dispatch(form.get());
        }
    };
    let (name, set_name) = text_field(form, |f| &f.name, |f, v| f.name = v);
    let (cpus, set_cpus) = text_field(form, |f| &f.cpus, |f, v| f.cpus = v);
    let (memory, set_memory) = text_field(form, |f| &f.memory_mib, |f, v| f.memory_mib = v);
    let (image_url, set_image_url) = text_field(form, |f| &f.image_url, |f, v| f.image_url = v);
    let (disk, set_disk) = text_field(form, |f| &f.disk_gib, |f, v| f.disk_gib = v);
    let (ssh_key, set_ssh_key) = text_field(form, |f| &f.ssh_key, |f, v| f.ssh_key = v);
    let (user_data, set_user_data) = text_field(form, |f| &f.user_data, |f, v| f.user_data = v);
    let (_, set_image) = text_field(form, |f| &f.image, |f, v| f.image = v);
    let (_, set_run_strategy) = text_field(form, |f| &f.run_strategy, |f, v| f.run_strategy = v);
    let (_, set_project) = text_field(form, |f| &f.project, |f, v| f.project = v);
    let from_url = move || form.with(|form| form.image == "url");
    view! {
        <Title text="Create a virtual machine" />
        <section class="page">
            <p class="breadcrumb"><A href="/vms">"Virtual machines"</A></p>
            <h1>"Create a virtual machine"</h1>
            <form class="card form" novalidate on:submit=on_submit>
                <label for="vm-name">"Name"</label>
                <input id="vm-name" type="text" required maxlength="63" autocomplete="off" prop:value=name on:input=set_name
                    aria-describedby="vm-name-hint vm-name-error" />
                <p id="vm-name-hint" class="hint">"Lowercase letters, digits and '-'; it becomes the VM's host name."</p>
                <p id="vm-name-error" class="field-error" role="alert">{error_for("name")}</p>

                <label for="vm-project">"Project"</label>
                <Transition fallback=|| view! { <p class="loading">"Loading projects…"</p> }>
                    {move || Suspend::new(async move {
                        let choices = projects.await?;
                        if choices.is_empty() {
                            return Ok::<_, AppError>(view! {
                                <p class="notice" role="status">
                                    "You may not create virtual machines in any project: operators, project admins and owners can."
                                </p>
                            }.into_any());
                        }
                        let wanted = use_query_map().with_untracked(|query| query.get("project").unwrap_or_default());
                        if form.with_untracked(|form| form.project.is_empty()) {
                            let chosen = choices
                                .iter()
                                .find(|choice| choice.slug == wanted)
                                .or(choices.first());
                            if let Some(chosen) = chosen {
                                form.update(|form| form.project = chosen.slug.clone());
                            }
                        }
                        Ok(view! {
                            <select id="vm-project" on:change=set_project>
                                {choices.into_iter().map(|choice| {
                                    let selected = form.with_untracked(|form| form.project == choice.slug);
                                    view! {
                                        <option value=choice.slug.clone() selected=selected>{choice.name.clone()}</option>
                                    }
                                }).collect_view()}
                            </select>
                        }.into_any())
                    })}
                </Transition>
                <p class="field-error" role="alert">{error_for("project")}</p>

                <label for="vm-cpus">"vCPUs"</label>
                <input id="vm-cpus" type="number" min="1" max=MAX_CPUS step="1" prop:value=cpus on:input=set_cpus />
                <p class="field-error" role="alert">{error_for("cpus")}</p>

                <label for="vm-memory">"Memory (MiB)"</label>
                <input id="vm-memory" type="number" min=MIN_MEMORY_MIB max=MAX_MEMORY_MIB step="128" prop:value=memory on:input=set_memory />
                <p class="field-error" role="alert">{error_for("memory_mib")}</p>

                <label for="vm-image">"Image"</label>
                <select id="vm-image" on:change=set_image>
                    {ImagePreset::ALL.into_iter().map(|preset| view! {
                        <option value=preset.key() selected=preset == ImagePreset::Fedora>{preset.label()}</option>
                    }).collect_view()}
                    <option value="url">"Import a disk image from a URL"</option>
                </select>
                <p class="hint">
                    {move || if from_url() {
                        "The image is imported into a persistent disk (a CDI DataVolume) of the size below."
                    } else {
                        "A container disk: the VM boots from the image; changes to its root disk are lost when it stops."
                    }}
                </p>
                <p class="field-error" role="alert">{error_for("image")}</p>
                <Show when=from_url>
                    <label for="vm-image-url">"Image URL"</label>
                    <input id="vm-image-url" type="url" placeholder="https://…/disk.qcow2" prop:value=image_url on:input=set_image_url />
                    <p class="field-error" role="alert">{error_for("image_url")}</p>
                    <label for="vm-disk">"Disk size (GiB)"</label>
                    <input id="vm-disk" type="number" min="1" max=MAX_DISK_GIB step="1" prop:value=disk on:input=set_disk />
                    <p class="field-error" role="alert">{error_for("disk_gib")}</p>
                </Show>

                <label for="vm-ssh-key">"SSH public key (optional)"</label>
                <input id="vm-ssh-key" type="text" autocomplete="off" placeholder="ssh-ed25519 AAAA… you@laptop" prop:value=ssh_key on:input=set_ssh_key />
                <p class="field-error" role="alert">{error_for("ssh_key")}</p>

                <label for="vm-user-data">"Cloud-init user data (optional)"</label>
                <textarea id="vm-user-data" rows="6" placeholder="#cloud-config" prop:value=user_data on:input=set_user_data></textarea>
                <p class="field-error" role="alert">{error_for("user_data")}</p>

                <label for="vm-run-strategy">"When it runs"</label>
                <select id="vm-run-strategy" on:change=set_run_strategy>
                    {RunStrategy::CHOICES.into_iter().map(|strategy| view! {
                        <option value=strategy.as_str() selected=strategy == RunStrategy::Always>{strategy.label()}</option>
                    }).collect_view()}
                </select>
                <p class="field-error" role="alert">{error_for("run_strategy")}</p>

                <ProjectRoom room=Room {
                    slug: project.into(),
                    refresh: Signal::stored(0),
                    watched,
                    resources: &ROOM,
                    demand: vm_demand,
                    after: "After this VM",
                } />

                <button type="submit" class="primary" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create VM" }}
                </button>
                <p class="form-error" role="alert">{other_error}</p>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::demand;
    use crate::{quotas::types::Amounts, vms::new_vm::NewVmForm};

    #[test]
    fn only_an_imported_image_takes_disk_from_the_quota() {
        let mut form = NewVmForm {
            cpus: "2".into(),
            memory_mib: "4096".into(),
            image: "fedora".into(),
            disk_gib: "30".into(),
            ..NewVmForm::default()
        };
        assert_eq!(demand(&form), Some(Amounts::vm(2, 4096, 0)));
        form.image = "url".into();
        assert_eq!(demand(&form), Some(Amounts::vm(2, 4096, 30)));
        form.memory_mib = "lots".into();
        assert_eq!(demand(&form), None);
    }
}
