use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// The page for any path that matches no route; answered with status 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Page not found" />
        <section class="page not-found">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. It may have been moved or deleted."</p>
            <p>
                <A href="/">"Back to the dashboard"</A>
            </p>
        </section>
    }
}
