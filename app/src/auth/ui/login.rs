use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;

/// The sign-in form. Accounts and sessions arrive with the identity work; until then the
/// form says so instead of sending credentials anywhere.
#[component]
pub fn LoginPage() -> impl IntoView {
    let (show_password, set_show_password) = signal(false);
    let (notice, set_notice) = signal(None::<&'static str>);
    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        set_notice.set(Some(
            "Signing in is not available in this version of Wukong yet.",
        ));
    };
    view! {
        <Title text="Sign in" />
        <main id="main" class="login">
            <form class="login-card" method="post" on:submit=on_submit>
                <div class="login-brand">
                    <img src="/favicon.svg" alt="" width="40" height="40" />
                    <h1>"Sign in to Wukong"</h1>
                </div>
                <label for="login-email">"Email"</label>
                <input id="login-email" name="email" type="email" autocomplete="username" required />
                <label for="login-password">"Password"</label>
                <input
                    id="login-password"
                    name="password"
                    type=move || if show_password.get() { "text" } else { "password" }
                    autocomplete="current-password"
                    required
                />
                <label class="checkbox">
                    <input
                        type="checkbox"
                        prop:checked=show_password
                        on:change=move |event| set_show_password.set(event_target_checked(&event))
                    />
                    "Show password"
                </label>
                <button type="submit" class="primary">
                    "Sign in"
                </button>
                <p class="form-notice" role="status">
                    {move || notice.get()}
                </p>
            </form>
        </main>
    }
}
