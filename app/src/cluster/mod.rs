//! The Kubernetes cluster Wukong runs virtual machines on: one `kube::Client` per process.

use std::{path::PathBuf, sync::Arc};

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
}

impl Cluster {
    pub fn new(client: kube::Client, source: ClusterSource) -> Self {
        Cluster {
            client,
            source: Arc::new(source),
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
