//! The HTML document, the router and the page chrome.

use crate::{
    audit::ui::{AuditPage, ProjectAuditPage},
    auth::ui::{
        AccountPage, AdminOidcPage, AdminUsersPage, LoginPage, MfaChallengePage, MfaSettingsPage,
        PasswordPage,
    },
    components::{Layout, NotFound},
    console::ui::{SerialConsolePage, VncConsolePage},
    projects::ui::{ProjectPage, ProjectsPage},
    quotas::ui::{QuotaTemplatesPage, QuotaUsagePage},
    system::ui::{AdminPage, DashboardPage},
    vms::ui::{NewVmPage, VmListPage, VmPage},
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    lazy_route, path, Lazy, LazyRoute,
};

/// The whole HTML document, rendered on the server around [`App`].
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    crate::csp::set_page_policy(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <BundleTags options />
                <leptos_meta::MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The stylesheet and the hydration of the page, from the addresses of this build's
/// bundle (plain ones where no application state is at hand). The WASM and the split loader
/// are preloaded beside the glue module so that all download at once.
#[cfg(feature = "ssr")]
#[component]
fn BundleTags(options: LeptosOptions) -> impl IntoView {
    let bundle = use_context::<crate::context::AppState>()
        .map(|state| state.bundle)
        .unwrap_or_else(|| {
            std::sync::Arc::new(crate::assets::Bundle::load(
                std::path::Path::new(options.site_root.as_ref()),
                &options.site_pkg_dir,
                &options.output_name,
                false,
            ))
        });
    let hydrate = format!(
        "import({js:?}).then(async (glue) => {{ await glue.default({{ module_or_path: {wasm:?} }}); glue.hydrate(); }});",
        js = bundle.js,
        wasm = bundle.wasm,
    );
    view! {
        <link rel="stylesheet" id="leptos" href=bundle.css.clone() />
        <link rel="modulepreload" href=bundle.js.clone() />
        {bundle.split_loader.clone().map(|loader| view! { <link rel="modulepreload" href=loader /> })}
        <link rel="preload" href=bundle.wasm.clone() r#as="fetch" r#type="application/wasm" crossorigin="" />
        <script type="module" nonce=leptos::nonce::use_nonce()>
            {hydrate}
        </script>
    }
}

/// The application: routes inside the page chrome, plus the bare sign-in page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|page: String| format!("{page} · Wukong") />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/login/mfa") view=MfaChallengePage />
                <ParentRoute path=path!("") view=Layout>
                    <Route path=path!("") view=DashboardPage />
                    <Route path=path!("vms") view=VmListPage />
                    <Route path=path!("vms/new") view=NewVmPage />
                    <Route path=path!("projects/:slug/vms/:name") view={Lazy::<VmPageRoute>::new()} />
                    <Route path=path!("projects/:slug/vms/:name/console") view={Lazy::<VncConsolePageRoute>::new()} />
                    <Route path=path!("projects/:slug/vms/:name/serial") view={Lazy::<SerialConsolePageRoute>::new()} />
                    <Route path=path!("projects") view=ProjectsPage />
                    <Route path=path!("projects/:slug") view=ProjectPage />
                    <Route path=path!("audit") view={Lazy::<AuditPageRoute>::new()} />
                    <Route path=path!("projects/:slug/audit") view={Lazy::<ProjectAuditPageRoute>::new()} />
                    <Route path=path!("admin") view={Lazy::<AdminPageRoute>::new()} />
                    <Route path=path!("admin/users") view={Lazy::<AdminUsersPageRoute>::new()} />
                    <Route path=path!("admin/oidc") view={Lazy::<AdminOidcPageRoute>::new()} />
                    <Route path=path!("admin/quotas") view={Lazy::<QuotaTemplatesPageRoute>::new()} />
                    <Route path=path!("admin/quota-usage") view={Lazy::<QuotaUsagePageRoute>::new()} />
                    <Route path=path!("account") view={Lazy::<AccountPageRoute>::new()} />
                    <Route path=path!("account/password") view={Lazy::<PasswordPageRoute>::new()} />
                    <Route path=path!("account/mfa") view={Lazy::<MfaSettingsPageRoute>::new()} />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Pages few users open, or (a VM's page) open from another page first, as routes whose
/// code the browser fetches the first time one is shown: `cargo leptos build --split` takes
/// it out of the main bundle.
macro_rules! lazy_pages {
    ($($page:ident => $route:ident),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(this: Self) -> AnyView {
                let _ = this;
                view! { <$page /> }.into_any()
            }
        }
    )*};
}

lazy_pages! {
    VmPage => VmPageRoute,
    VncConsolePage => VncConsolePageRoute,
    SerialConsolePage => SerialConsolePageRoute,
    AuditPage => AuditPageRoute,
    ProjectAuditPage => ProjectAuditPageRoute,
    AdminPage => AdminPageRoute,
    AdminUsersPage => AdminUsersPageRoute,
    AdminOidcPage => AdminOidcPageRoute,
    QuotaTemplatesPage => QuotaTemplatesPageRoute,
    QuotaUsagePage => QuotaUsagePageRoute,
    AccountPage => AccountPageRoute,
    PasswordPage => PasswordPageRoute,
    MfaSettingsPage => MfaSettingsPageRoute,
}
