use crate::{
    auth::server::session::Requester,
    authz::server::AdminCap,
    context::AppState,
    quotas::types::{ProjectQuota, QuotaChoice},
    AppError,
};

pub async fn set(
    _state: &AppState,
    _admin: &AdminCap,
    _requester: &Requester,
    _slug: &str,
    _choice: &QuotaChoice,
) -> Result<ProjectQuota, AppError> {
    Err(AppError::internal("pending"))
}
