//! The one error type that crosses the server-function boundary.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// Every server fn returns `Result<T, AppError>`.
///
/// Its `Display` text is shown to users as it is, so no variant carries internal detail:
/// the cause of an `Internal` error is logged on the server and reaches the browser only as
/// an opaque reference id that an operator can search the logs for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in to continue.")]
    Unauthorized,
    #[error("The email or password is incorrect.")]
    BadCredentials,
    #[error("Too many attempts. Try again in {retry_after_secs} seconds.")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("You do not have permission to do that.")]
    Forbidden,
    #[error("{what} was not found.")]
    NotFound { what: String },
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// More input than Wukong accepts for `field`; refused before any work was done.
    #[error("{message}")]
    TooLong { field: String, message: String },
    /// The state changed under the request (someone else acted, or the status does not
    /// allow it); the message says which.
    #[error("{message}")]
    Conflict { message: String },
    /// A quota (the project's own, or the cluster's mirror of it) has no room; `message`
    /// names the resource, the request, what is free and the limit.
    #[error("{message}. Delete or shrink a VM, or ask an administrator for a larger quota.")]
    QuotaExceeded { message: String },
    #[error("The cluster could not be reached or did not answer in time. Try again shortly.")]
    ClusterUnavailable,
    /// The cluster refused Wukong's own account; `permission` says what it lacks, as the
    /// cluster named it (`create "virtualmachines" (kubevirt.io) in namespace team-a`), or
    /// "do that" when it did not.
    #[error("Wukong's cluster account is not allowed to {permission}. Ask an administrator to grant it (deploy/ lists what Wukong needs).")]
    ClusterDenied { permission: String },
    /// Wukong could not obtain its own credentials for the cluster; `reason` is one of the
    /// fixed sentences of `cluster::credentials_failure`.
    #[error("Wukong has no working credentials for the cluster: {reason}. An administrator must renew them; the server log says why they failed.")]
    ClusterCredentials { reason: String },
    #[error("Something went wrong on the server (reference {id}).")]
    Internal { id: String },
    #[error("The request could not be completed ({0}).")]
    ServerFn(ServerFnErrorErr),
}

impl AppError {
    /// `field` (named `what` for people) is longer than `limit` characters.
    pub fn too_long(field: &str, what: &str, limit: usize) -> Self {
        AppError::TooLong {
            field: field.to_owned(),
            message: format!("{what} is too long: at most {limit} characters."),
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::ServerFn(value)
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Logs `cause` with a fresh reference id and returns the opaque error that carries it.
    pub fn internal(cause: impl std::fmt::Debug) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        tracing::error!(error.id = %id, error.cause = ?cause, "internal error");
        AppError::Internal { id }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            AppError::Unauthorized | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict { .. } | AppError::QuotaExceeded { .. } => StatusCode::CONFLICT,
            AppError::ClusterUnavailable | AppError::ClusterCredentials { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::ClusterDenied { .. } => StatusCode::BAD_GATEWAY,
            AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::TooLong { .. } | AppError::ServerFn(_) => StatusCode::BAD_REQUEST,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        AppError::internal(error)
    }
}
