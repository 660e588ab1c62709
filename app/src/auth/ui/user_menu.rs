use crate::resource::wire_resource;
use crate::{
    auth::api::{get_current_user, Logout},
    realtime::ui::use_live_feed,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_router::components::A;

/// The signed-in user and the sign-out button, in the top bar.
#[component]
pub fn UserMenu() -> impl IntoView {
    let user = wire_resource(|| (), |_| get_current_user());
    let logout = ServerAction::<Logout>::new();
    // From the moment the user signs out, pages stop refetching what the live feed reports.
    Effect::new(move |_| {
        if logout.pending().get() {
            if let Some(feed) = use_live_feed() {
                feed.end();
            }
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            let _ = window().location().set_href("/login");
        }
    });
    view! {
        <div class="user-menu">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    user.await.ok().map(|user| view! {
                        <A href="/account" attr:class="user-email">{user.email}</A>
                    })
                })}
            </Suspense>
            <ActionForm action=logout>
                <button type="submit">"Sign out"</button>
            </ActionForm>
        </div>
    }
}
