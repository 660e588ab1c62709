//! Choosing the cluster: `--kubeconfig`, then `KUBECONFIG`, then `~/.kube/config`, then the
//! in-cluster service account; with none of them, the built-in simulated cluster.

use crate::{config::Settings, simcluster::SimCluster, startup::StartupError};
use app::cluster::{Cluster, ClusterSource};
use kube::{
    config::{KubeConfigOptions, Kubeconfig},
    Client, Config,
};
use std::path::PathBuf;

/// The kubeconfig file to use, if any is configured or present.
fn kubeconfig_path(settings: &Settings) -> Option<PathBuf> {
    if let Some(path) = &settings.kubeconfig {
        return Some(path.clone());
    }
    let from_env = std::env::var_os("KUBECONFIG")
        .and_then(|paths| std::env::split_paths(&paths).find(|path| !path.as_os_str().is_empty()));
    if from_env.is_some() {
        return from_env;
    }
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".kube/config"))
        .filter(|path| path.is_file())
}

fn failed(reason: impl std::fmt::Display) -> StartupError {
    StartupError::Cluster(reason.to_string())
}

/// Connects to the configured cluster, or starts the simulated one (returned too, so it
/// lives as long as the server) with a new token, which the kubeconfig
/// `<data-dir>/simcluster.kubeconfig` hands to the machine's owner for kubectl.
pub async fn connect(settings: &Settings) -> Result<(Cluster, Option<SimCluster>), StartupError> {
    let (config, source, simulated) = if let Some(path) = kubeconfig_path(settings) {
        let kubeconfig = Kubeconfig::read_from(&path)
            .map_err(|error| failed(format!("kubeconfig {}: {error}", path.display())))?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|error| failed(format!("kubeconfig {}: {error}", path.display())))?;
        (config, ClusterSource::Kubeconfig(path), None)
    } else if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        let config =
            Config::incluster().map_err(|error| failed(format!("in-cluster config: {error}")))?;
        (config, ClusterSource::InCluster, None)
    } else {
        let state = settings.data_dir.join("simcluster.json");
        let sim = SimCluster::start(Some(&state))
            .await
            .map_err(|error| failed(format!("simulated cluster: {error}")))?;
        let kubeconfig = settings.data_dir.join("simcluster.kubeconfig");
        sim.write_kubeconfig(&kubeconfig).map_err(|error| {
            failed(format!(
                "simulated cluster: cannot write {}: {error}",
                kubeconfig.display()
            ))
        })?;
        tracing::info!(
            path = %kubeconfig.display(),
            "the simulated cluster answers `kubectl --kubeconfig {}`",
            kubeconfig.display()
        );
        (
            sim.client_config(),
            ClusterSource::Simulated(sim.url()),
            Some(sim),
        )
    };
    let client = Client::try_from(config).map_err(failed)?;
    Ok((Cluster::new(client, source), simulated))
}
