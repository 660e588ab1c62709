use crate::{
    auth::types::CurrentUser,
    authz::server::{AdminCap, ProjectRow},
    db::Db,
    quotas::types::ProjectQuota,
    AppError,
};

pub async fn project_quota(_db: &Db, _project: &ProjectRow) -> Result<ProjectQuota, AppError> {
    Err(AppError::internal("pending"))
}

pub async fn overview(_db: &Db, _admin: &AdminCap) -> Result<Vec<ProjectQuota>, AppError> {
    Err(AppError::internal("pending"))
}

pub async fn mine(_db: &Db, _user: &CurrentUser) -> Result<Vec<ProjectQuota>, AppError> {
    Err(AppError::internal("pending"))
}
