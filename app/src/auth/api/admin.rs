//! Server functions of user administration (admins only; the check is in `server::admin`).

use crate::{
    auth::types::{CreatedUser, UserPage, UserSummary},
    AppError,
};
use leptos::prelude::*;

/// What admins can do to one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UserAction {
    Disable,
    Enable,
    Unlock,
    ResetMfa,
    MakeAdmin,
    MakeUser,
}

/// One page of users whose email or name contains `search`.
#[server(endpoint = "admin/users")]
pub async fn list_users(search: String, page: u32) -> Result<UserPage, AppError> {
    use crate::{
        auth::server::admin,
        context::{require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    admin::list_users(&state.db, &admin, &search, page)
        .await
        .map_err(respond)
}

/// Creates a local account with a generated password the user must change at first sign-in.
#[server(endpoint = "admin/users/create")]
pub async fn create_user(
    email: String,
    display_name: String,
    is_admin: Option<String>,
) -> Result<CreatedUser, AppError> {
    use crate::{
        auth::server::admin::{self, Operator, UserRequest},
        context::{requester, require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    let request = UserRequest {
        email,
        display_name,
        password: None,
        is_admin: is_admin.is_some(),
    };
    let (user, password) = admin::create_user(
        &state.db,
        &state.auth.hasher,
        &requester(),
        Operator::Admin(&admin),
        request,
    )
    .await
    .map_err(respond)?;
    Ok(CreatedUser { user, password })
}

/// Applies `action` to the account `user_id`.
#[server(endpoint = "admin/users/update")]
pub async fn update_user(user_id: String, action: UserAction) -> Result<UserSummary, AppError> {
    use crate::{
        auth::server::admin::{self, Operator},
        context::{requester, require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    let (db, requester, operator) = (&state.db, &requester(), Operator::Admin(&admin));
    let id = user_id.as_str();
    match action {
        UserAction::Disable => admin::set_disabled(db, requester, operator, id, true).await,
        UserAction::Enable => admin::set_disabled(db, requester, operator, id, false).await,
        UserAction::Unlock => admin::unlock(db, requester, operator, id).await,
        UserAction::ResetMfa => admin::reset_mfa(db, requester, operator, id).await,
        UserAction::MakeAdmin => admin::set_role(db, requester, operator, id, true).await,
        UserAction::MakeUser => admin::set_role(db, requester, operator, id, false).await,
    }
    .map_err(respond)
}
