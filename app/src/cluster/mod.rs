//! The Kubernetes cluster Wukong runs virtual machines on: one `kube::Client` per process.

mod credentials;
mod refusals;

pub use credentials::credentials_failure;
pub use refusals::{missing_permission, quota_refusal};

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

/// How long one request to the cluster may take before the user is told it timed out.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the cluster connection came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterSource {
    Kubeconfig(PathBuf),
    InCluster,
    /// The built-in simulated cluster, at this URL.
    Simulated(String),
}

/// The cluster connection shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    pub source: Arc<ClusterSource>,
    timeout: Duration,
}

impl Cluster {
    pub fn new(client: kube::Client, source: ClusterSource) -> Self {
        Cluster {
            client,
            source: Arc::new(source),
            timeout: REQUEST_TIMEOUT,
        }
    }

    /// The same connection with another request timeout.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Cluster { timeout, ..self }
    }

    /// Runs one request about `what` (e.g. `VM "web-1"`) within the request timeout, its
    /// error turned into one the user can read.
    pub async fn call<T>(
        &self,
        what: &str,
        request: impl Future<Output = kube::Result<T>>,
    ) -> Result<T, crate::AppError> {
        self.call_in(None, what, request).await
    }

    /// [`Cluster::call`] for a request in the namespace of a project, which a quota refusal
    /// names as Wukong's own refusals do (`project`: its namespace or slug).
    pub async fn call_in<T>(
        &self,
        project: Option<&str>,
        what: &str,
        request: impl Future<Output = kube::Result<T>>,
    ) -> Result<T, crate::AppError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(result) => result.map_err(|error| user_error(error, what, project)),
            Err(_) => {
                tracing::warn!(%what, timeout = ?self.timeout, "the cluster did not answer in time");
                Err(crate::AppError::ClusterUnavailable)
            }
        }
    }

    pub fn is_simulated(&self) -> bool {
        matches!(*self.source, ClusterSource::Simulated(_))
    }

    /// A short description for logs and the UI.
    pub fn label(&self) -> String {
        match &*self.source {
            ClusterSource::Kubeconfig(path) => format!("kubeconfig {}", path.display()),
            ClusterSource::InCluster => "in-cluster service account".to_owned(),
            ClusterSource::Simulated(url) => format!("simulated cluster at {url}"),
        }
    }

    /// Whether the API server answers (its `/version`).
    pub async fn ping(&self) -> Result<(), kube::Error> {
        self.client.apiserver_version().await.map(|_| ())
    }
}

/// A cluster error as the user should read it. `what` names the object, e.g. `VM "web-1"`.
///
/// The API server's own message is shown only for conflicts and refused requests, where it
/// says what to change (KubeVirt's "VM is already running"); everything else is logged here
/// with its cause and reaches the browser as a fixed sentence or an opaque id.
fn user_error(error: kube::Error, what: &str, project: Option<&str>) -> crate::AppError {
    use crate::AppError;
    if let Some(reason) = credentials_failure(&error) {
        tracing::warn!(%what, %error, "Wukong's credentials for the cluster failed");
        return AppError::ClusterCredentials {
            reason: reason.to_owned(),
        };
    }
    match error {
        kube::Error::Api(status) => match status.code {
            403 if let Some(refusal) = refusals::from_admission(&status, what, project) => refusal,
            404 => AppError::NotFound {
                what: what.to_owned(),
            },
            409 | 500 if let Some(refusal) = refusals::from_kubevirt(&status.message, what) => {
                refusal
            }
            409 if status.reason == "AlreadyExists" => AppError::Conflict {
                message: format!("{what} already exists. Choose another name."),
            },
            409 if status.message.contains("has been modified") => AppError::Conflict {
                message: format!(
                    "{what} was changed by someone else at the same time. Reload it and try again."
                ),
            },
            409 => AppError::Conflict {
                message: format!("{what}: {}", status.message),
            },
            401 | 403 => {
                tracing::warn!(%what, message = %status.message, "the cluster refused Wukong's credentials");
                AppError::ClusterDenied {
                    permission: refusals::missing_permission(&status.message)
                        .unwrap_or_else(|| "do that".to_owned()),
                }
            }
            400 | 422 => AppError::Invalid {
                field: String::new(),
                message: format!(
                    "The cluster refused {what}: {}",
                    refusals::webhook_reason(&status.message)
                ),
            },
            500.. => {
                tracing::warn!(%what, code = status.code, message = %status.message, "the cluster failed");
                AppError::ClusterUnavailable
            }
            _ => AppError::internal(status),
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            tracing::warn!(%what, %error, "the cluster is unreachable");
            AppError::ClusterUnavailable
        }
        other => AppError::internal(other),
    }
}
