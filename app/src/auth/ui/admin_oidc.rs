use crate::resource::wire_resource;
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
    let providers = wire_resource(move || save.version().get(), |_| list_oidc_providers());
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
            <p class="lead">"OpenID Connect providers users can sign in with. When a provider allows new users, a first sign-in creates the user's account and a personal project."</p>
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
                                        <th scope="col">"New users"</th>
                                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                    </tr></thead>
                                    <tbody>
                                        {list.providers.into_iter().map(|provider| {
                                            let chosen = provider.clone();
                                            let sign_up = sign_up_summary(&provider);
                                            view! {
                                                <tr>
                                                    <td>{provider.name.clone()}</td>
                                                    <td>{provider.issuer_url}</td>
                                                    <td>{provider.client_id}</td>
                                                    <td>{if provider.is_enabled { "Enabled" } else { "Disabled" }}</td>
                                                    <td>{sign_up}</td>
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

/// Who may sign up through `provider`, in a few words.
fn sign_up_summary(provider: &OidcProviderSummary) -> String {
    if !provider.allow_new_users {
        return "Not allowed".to_owned();
    }
    let mut limits = Vec::new();
    if !provider.allowed_email_domains.is_empty() {
        limits.push(format!("emails at {}", provider.allowed_email_domains));
    }
    if !provider.required_claim.is_empty() {
        limits.push(format!(
            "{} has {}",
            provider.required_claim, provider.required_claim_value
        ));
    }
    if limits.is_empty() {
        "Allowed".to_owned()
    } else {
        format!("Allowed: {}", limits.join("; "))
    }
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
        allow_new_users: false,
        allowed_email_domains: String::new(),
        required_claim: String::new(),
        required_claim_value: String::new(),
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
                <fieldset>
                    <legend>"Who may sign up"</legend>
                    <p class="hint">"These apply when someone signs in through this provider for the first time, which creates their account. Users already linked keep signing in."</p>
                    <label class="checkbox">
                        <input name="allow_new_users" type="checkbox" value="on" checked=provider.allow_new_users />
                        "New users allowed"
                    </label>
                    <label for="oidc-domains">"Allowed email domains (optional, comma separated)"</label>
                    <input id="oidc-domains" name="allowed_email_domains" type="text" placeholder="example.com, example.org" value=provider.allowed_email_domains.clone() />
                    <p class="field-error" role="alert">{error_for("allowed_email_domains")}</p>
                    <label for="oidc-claim">"Required claim (optional, e.g. groups)"</label>
                    <input id="oidc-claim" name="required_claim" type="text" maxlength="64" value=provider.required_claim.clone() />
                    <p class="field-error" role="alert">{error_for("required_claim")}</p>
                    <label for="oidc-claim-value">"Value the claim must hold (a string, or one of a list)"</label>
                    <input id="oidc-claim-value" name="required_claim_value" type="text" maxlength="256" value=provider.required_claim_value.clone() />
                    <p class="field-error" role="alert">{error_for("required_claim_value")}</p>
                </fieldset>
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
