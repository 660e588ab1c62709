use leptos::prelude::*;

/// The fallback of an error boundary. Errors reaching it are `AppError`s, whose text is
/// written for users (internal causes stay in the server log).
#[component]
pub fn ErrorPanel(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <div class="error-panel" role="alert">
            <h2>"Something went wrong"</h2>
            <ul>
                {move || {
                    errors
                        .get()
                        .into_iter()
                        .map(|(_, error)| view! { <li>{error.to_string()}</li> })
                        .collect_view()
                }}
            </ul>
        </div>
    }
}
