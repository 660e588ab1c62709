use crate::{
    auth::{
        api::oidc::{list_oidc_providers, SaveOidcProvider},
        types::OidcProviderSummary,
    },
    AppError,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

/// Admins: the OIDC providers users can sign in with.
#[component]
pub fn AdminOidcPage() -> impl IntoView {
    let save = ServerAction::<SaveOidcProvider>::new();
    let providers = Resource::new(move || save.version().get(), |_| list_oidc_providers());
    let editing = RwSignal::new(None::<OidcProviderSummary>);
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            editing.set(None);
        }
    });
    view! {
        <Title text="Sign-in providers" />
        <section class="page">
            <h1>"Sign-in providers"</h1>
            <p class="lead">"OpenID Connect providers users can sign in with. A user's first sign-in creates their account and a personal project."</p>
            <Suspense fallback=|| view! { <p class="loading">"Loading providers…"</p> }>
                {move || Suspend::new(async move {
                    let list = providers.await?;
                    Ok::<_, AppError>(view! {
                        <p>"Register this redirect URI with each provider: " <code id="redirect-uri" class="secret">{list.redirect_uri}</code></p>
                        {if list.providers.is_empty() {
                            view! { <div class="empty-state"><h2>"No providers yet"</h2><p>"Add one below."</p></div> }.into_any()
                        } else {
                            view! {
                                <table class="users">
                                    <thead><tr>
                                        <th scope="col">"Name"</th>
                                        <th scope="col">"Issuer"</th>
                                        <th scope="col">"Client id"</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                    </tr></thead>
                                    <tbody>
                                        {list.providers.into_iter().map(|provider| {
                                            let chosen = provider.clone();
                                            view! {
                                                <tr>
                                                    <td>{provider.name.clone()}</td>
                                                    <td>{provider.issuer_url}</td>
                                                    <td>{provider.client_id}</td>
                                                    <td>{if provider.is_enabled { "Enabled" } else { "Disabled" }}</td>
                                                    <td>
                                                        <button type="button" aria-label=format!("Edit {}", provider.name) on:click=move |_| editing.set(Some(chosen.clone()))>
                                                            "Edit"
                                                        </button>
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                    })
                })}
            </Suspense>
            {move || view! { <ProviderForm save provider=editing.get() on_cancel=move || editing.set(None) /> }}
        </section>
    }
    .into_any()
}

#[component]
fn ProviderForm(
    save: ServerAction<SaveOidcProvider>,
    provider: Option<OidcProviderSummary>,
    on_cancel: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let editing = provider.is_some();
    let provider = provider.unwrap_or(OidcProviderSummary {
        id: String::new(),
        name: String::new(),
        issuer_url: String::new(),
        client_id: String::new(),
        scopes: "openid email profile".to_owned(),
        is_enabled: true,
    });
    let error_for = move |field: &'static str| {
        move || match save.value().get() {
            Some(Err(AppError::Invalid {
                field: failed,
                message,
            })) if failed == field => Some(message),
            _ => None,
        }
    };
    let other_error = move || match save.value().get() {
        Some(Err(AppError::Invalid { .. })) | Some(Ok(_)) | None => None,
        Some(Err(error)) => Some(error.to_string()),
    };
    view! {
        <div class="card">
            <h2>{if editing { format!("Edit {}", provider.name) } else { "Add a provider".to_owned() }}</h2>
            <ActionForm action=save attr:class="form">
                <input type="hidden" name="id" value=provider.id.clone() />
                <label for="oidc-name">"Name (shown on the sign-in button)"</label>
                <input id="oidc-name" name="name" type="text" maxlength="60" required value=provider.name.clone() />
                <p class="field-error" role="alert">{error_for("name")}</p>
                <label for="oidc-issuer">"Issuer URL"</label>
                <input id="oidc-issuer" name="issuer_url" type="url" required value=provider.issuer_url.clone() />
                <p class="field-error" role="alert">{error_for("issuer_url")}</p>
                <label for="oidc-client-id">"Client id"</label>
                <input id="oidc-client-id" name="client_id" type="text" required value=provider.client_id.clone() />
                <p class="field-error" role="alert">{error_for("client_id")}</p>
                <label for="oidc-client-secret">{if editing { "Client secret (leave empty to keep the current one)" } else { "Client secret" }}</label>
                <input id="oidc-client-secret" name="client_secret" type="password" autocomplete="off" required=!editing />
                <p class="field-error" role="alert">{error_for("client_secret")}</p>
                <label for="oidc-scopes">"Scopes"</label>
                <input id="oidc-scopes" name="scopes" type="text" value=provider.scopes.clone() />
                <label class="checkbox">
                    <input name="is_enabled" type="checkbox" value="on" checked=provider.is_enabled />
                    "Enabled"
                </label>
                <button type="submit" class="primary" disabled=move || save.pending().get()>
                    {move || if save.pending().get() { "Checking the provider…" } else { "Save provider" }}
                </button>
                {editing.then(|| view! { <button type="button" on:click=move |_| on_cancel()>"Cancel"</button> })}
                <p class="form-error" role="alert">{other_error}</p>
            </ActionForm>
        </div>
    }
    .into_any()
}
