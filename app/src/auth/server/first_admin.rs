//! The password of the admin created on first run reaches the operator through a file in the
//! data directory that only Wukong's own account can read, never through the log (LOG-04),
//! and the file goes once that password no longer works.

use crate::{auth::server::users::FIRST_ADMIN_EMAIL, db::Db, AppError};
use std::{
    io,
    path::{Path, PathBuf},
};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "initial-admin-password";

/// Where the first-run admin password is kept until that admin changes it; nowhere (tests,
/// tools) by default.
#[derive(Clone, Debug, Default)]
pub struct PasswordFile(Option<PathBuf>);

impl PasswordFile {
    /// The file at `path` (`FILE_NAME` in the data directory).
    pub fn at(path: PathBuf) -> Self {
        PasswordFile(Some(path))
    }

    /// Removes the file, if there is one: called once the password in it stopped working.
    /// A failure is logged, not returned: the change that made the file stale has happened.
    pub fn remove(&self) {
        let Some(path) = &self.0 else {
            return;
        };
        match std::fs::remove_file(path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed the first-run admin password file: its password no longer works");
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "cannot remove the first-run admin password file; remove it by hand");
            }
        }
    }

    /// At start-up: removes a file left while the admin changed the password where this
    /// process could not see it (through another server sharing the database, or a crash
    /// between the change and the removal). The file stays while the admin must still change
    /// the generated password.
    pub async fn remove_if_stale(&self, db: &Db) -> Result<(), AppError> {
        if self.0.as_deref().is_some_and(Path::exists) && !must_change_password(db).await? {
            self.remove();
        }
        Ok(())
    }
}

/// Whether the first-run admin exists and must still replace the generated password.
async fn must_change_password(db: &Db) -> Result<bool, AppError> {
    let flag: Option<i64> =
        sqlx::query_scalar("SELECT must_change_password FROM users WHERE email = $1")
            .bind(FIRST_ADMIN_EMAIL)
            .fetch_optional(db.pool())
            .await?;
    Ok(flag == Some(1))
}
