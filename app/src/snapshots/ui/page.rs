//! `/projects/{slug}/snapshots`: every snapshot, restore and clone of a project.

use super::section::SnapshotsSection;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

#[component]
pub fn ProjectSnapshotsPage() -> impl IntoView {
    let params = use_params_map();
    let slug = Signal::derive(move || params.with(|params| params.get("slug").unwrap_or_default()));
    view! {
        <Title text="Project snapshots" />
        <section class="page">
            <p class="breadcrumb"><A href=move || format!("/projects/{}", slug.get())>"Project"</A></p>
            <h1>"Snapshots"</h1>
            <SnapshotsSection project=slug vm=None />
        </section>
    }
}
