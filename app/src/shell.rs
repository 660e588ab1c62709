//! The HTML document, the router and the page chrome.

use crate::{
    audit::ui::{AuditPage, ProjectAuditPage},
    auth::ui::{
        AccountPage, AdminOidcPage, AdminUsersPage, LoginPage, MfaChallengePage, MfaSettingsPage,
        PasswordPage,
    },
    components::{Layout, NotFound},
    projects::ui::{ProjectPage, ProjectsPage},
    system::ui::{AdminPage, DashboardPage},
    vms::ui::{NewVmPage, VmListPage, VmPage},
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path,
};

/// The whole HTML document, rendered on the server around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
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
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: routes inside the page chrome, plus the bare sign-in page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/wukong.css" />
        <Title formatter=|page: String| format!("{page} · Wukong") />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/login/mfa") view=MfaChallengePage />
                <ParentRoute path=path!("") view=Layout>
                    <Route path=path!("") view=DashboardPage />
                    <Route path=path!("vms") view=VmListPage />
                    <Route path=path!("vms/new") view=NewVmPage />
                    <Route path=path!("projects/:slug/vms/:name") view=VmPage />
                    <Route path=path!("projects") view=ProjectsPage />
                    <Route path=path!("projects/:slug") view=ProjectPage />
                    <Route path=path!("audit") view=AuditPage />
                    <Route path=path!("projects/:slug/audit") view=ProjectAuditPage />
                    <Route path=path!("admin") view=AdminPage />
                    <Route path=path!("admin/users") view=AdminUsersPage />
                    <Route path=path!("admin/oidc") view=AdminOidcPage />
                    <Route path=path!("account") view=AccountPage />
                    <Route path=path!("account/password") view=PasswordPage />
                    <Route path=path!("account/mfa") view=MfaSettingsPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
