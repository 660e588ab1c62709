use leptos::prelude::*;
use leptos_meta::Title;

/// A section of the dashboard whose features have not shipped yet.
pub struct Section {
    pub title: &'static str,
    pub empty_title: &'static str,
    pub empty_text: &'static str,
}

/// A section page in its empty state: it says what will appear here.
#[component]
pub fn SectionPage(section: &'static Section) -> impl IntoView {
    view! {
        <Title text=section.title />
        <section class="page">
            <h1>{section.title}</h1>
            <div class="empty-state">
                <h2>{section.empty_title}</h2>
                <p>{section.empty_text}</p>
            </div>
        </section>
    }
}
