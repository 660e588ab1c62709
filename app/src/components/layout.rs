use super::ErrorPanel;
use crate::resource::wire_resource;
use crate::{
    auth::{api::get_current_user, ui::UserMenu},
    projects::ui::ProjectSwitcher,
    system::ui::SimulatedClusterBanner,
};
use leptos::{ev::MouseEvent, prelude::*};
use leptos_router::components::{Outlet, A};

/// The navigation entries, in display order; admins also get "Admin".
const NAV: [(&str, &str); 4] = [
    ("/", "Dashboard"),
    ("/vms", "Virtual machines"),
    ("/projects", "Projects"),
    ("/audit", "Audit log"),
];

/// The page chrome: top bar, main navigation, and the routed page inside an error boundary.
#[component]
pub fn Layout() -> impl IntoView {
    crate::realtime::ui::LiveFeed::provide();
    let user = wire_resource(|| (), |_| get_current_user());
    let (menu_open, set_menu_open) = signal(false);
    let close_menu = move |_| set_menu_open.set(false);
    let main = NodeRef::<leptos::html::Main>::new();
    // The client router would treat "#main" as a navigation; move the focus instead.
    let skip_to_main = move |event: MouseEvent| {
        if let Some(main) = main.get() {
            event.prevent_default();
            let _ = main.focus();
        }
    };
    view! {
        <a class="skip-link" href="#main" on:click=skip_to_main>
            "Skip to content"
        </a>
        <header class="topbar">
            <A href="/" attr:class="brand">
                <img src="/favicon.svg" alt="" width="28" height="28" />
                <span>"Wukong"</span>
            </A>
            <button
                class="menu-toggle"
                type="button"
                aria-controls="primary-nav"
                aria-expanded=move || menu_open.get().to_string()
                on:click=move |_| set_menu_open.update(|open| *open = !*open)
            >
                "Menu"
            </button>
            <nav id="primary-nav" class="primary-nav" class:open=menu_open aria-label="Main">
                <ul>
                    {NAV
                        .into_iter()
                        .map(|(href, label)| {
                            view! {
                                <li on:click=close_menu>
                                    <A href=href exact=true>
                                        {label}
                                    </A>
                                </li>
                            }
                        })
                        .collect_view()}
                    // The server refuses admin pages to others whatever the menu shows.
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            user.await.ok().filter(|user| user.is_admin).map(|_| view! {
                                <li on:click=close_menu>
                                    <A href="/admin" exact=true>"Admin"</A>
                                </li>
                            })
                        })}
                    </Suspense>
                </ul>
            </nav>
            <ProjectSwitcher />
            <UserMenu />
        </header>
        <SimulatedClusterBanner />
        <crate::realtime::ui::ClusterWatchBanner />
        <main id="main" class="content" tabindex="-1" node_ref=main>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                <Outlet />
            </ErrorBoundary>
        </main>
    }
}
