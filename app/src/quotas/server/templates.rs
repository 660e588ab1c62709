use crate::{
    auth::server::session::Requester,
    authz::server::AdminCap,
    context::AppState,
    db::Db,
    quotas::types::{QuotaTemplate, QuotaTemplateForm},
    AppError,
};

pub async fn list(_db: &Db, _admin: &AdminCap) -> Result<Vec<QuotaTemplate>, AppError> {
    Err(AppError::internal("pending"))
}

pub async fn save(
    _state: &AppState,
    _admin: &AdminCap,
    _requester: &Requester,
    _id: &str,
    _form: &QuotaTemplateForm,
) -> Result<QuotaTemplate, AppError> {
    Err(AppError::internal("pending"))
}

pub async fn apply(
    _state: &AppState,
    _admin: &AdminCap,
    _requester: &Requester,
    _id: &str,
) -> Result<u64, AppError> {
    Err(AppError::internal("pending"))
}

pub async fn delete(
    _db: &Db,
    _admin: &AdminCap,
    _requester: &Requester,
    _id: &str,
) -> Result<(), AppError> {
    Err(AppError::internal("pending"))
}
