//! Choosing the cluster: `--kubeconfig`, then `KUBECONFIG`, then `~/.kube/config`, then the
//! in-cluster service account; with none of them, the built-in simulated cluster.

use crate::{config::Settings, simcluster::SimCluster, startup::StartupError};
use app::cluster::{Cluster, ClusterSource};
use kube::{
    config::{KubeConfigOptions, Kubeconfig},
    Client, Config,
};
use std::path::PathBuf;

mod proxy;

/// The kubeconfig files to use, if any are configured or present: `--kubeconfig`; else every
/// file `KUBECONFIG` lists that exists, merged as kubectl merges them (the first to set a
/// value wins); else `~/.kube/config`.
fn kubeconfig_paths(settings: &Settings) -> Vec<PathBuf> {
    if let Some(path) = &settings.kubeconfig {
        return vec![path.clone()];
    }
    let listed: Vec<PathBuf> = std::env::var_os("KUBECONFIG")
        .map(|paths| {
            std::env::split_paths(&paths)
                .filter(|path| path.is_file())
                .collect()
        })
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed;
    }
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".kube/config"))
        .filter(|path| path.is_file())
        .into_iter()
        .collect()
}

/// The kubeconfig files merged, and the configuration they give.
async fn from_kubeconfigs(paths: &[PathBuf]) -> Result<Config, StartupError> {
    let mut merged = Kubeconfig::default();
    for path in paths {
        let next = Kubeconfig::read_from(path)
            .map_err(|error| failed(format!("kubeconfig {}: {error}", path.display())))?;
        merged = merged
            .merge(next)
            .map_err(|error| failed(format!("kubeconfig {}: {error}", path.display())))?;
    }
    let own_proxy = kubeconfig_proxy(&merged);
    let mut config = Config::from_custom_kubeconfig(merged, &KubeConfigOptions::default())
        .await
        .map_err(|error| failed(format!("kubeconfig {}: {error}", paths[0].display())))?;
    // kube-rs reads HTTPS_PROXY itself but checks NO_PROXY against the proxy's address, not
    // the API server's (kube-client 5, config/file_loader.rs, `proxy_url`), and proxies
    // loopback too: unless the kubeconfig names a proxy, Wukong decides as client-go does.
    if !own_proxy {
        config.proxy_url =
            proxy::from_environment(&config.cluster_url, |name| std::env::var(name).ok());
    }
    Ok(config)
}

/// Whether the current context's cluster names its own `proxy-url`.
fn kubeconfig_proxy(kubeconfig: &Kubeconfig) -> bool {
    let cluster = kubeconfig
        .current_context
        .as_ref()
        .and_then(|current| {
            kubeconfig
                .contexts
                .iter()
                .find(|named| &named.name == current)
        })
        .and_then(|named| named.context.as_ref())
        .map(|context| context.cluster.as_str());
    kubeconfig
        .clusters
        .iter()
        .filter(|named| Some(named.name.as_str()) == cluster)
        .filter_map(|named| named.cluster.as_ref())
        .any(|cluster| {
            cluster
                .proxy_url
                .as_deref()
                .is_some_and(|url| !url.is_empty())
        })
}

fn failed(reason: impl std::fmt::Display) -> StartupError {
    StartupError::Cluster(reason.to_string())
}

/// Connects to the configured cluster, or starts the simulated one (returned too, so it
/// lives as long as the server) with a new token, which the kubeconfig
/// `<data-dir>/simcluster.kubeconfig` hands to the machine's owner for kubectl.
pub async fn connect(settings: &Settings) -> Result<(Cluster, Option<SimCluster>), StartupError> {
    let paths = kubeconfig_paths(settings);
    let (config, source, simulated) = if let Some(first) = paths.first() {
        let config = from_kubeconfigs(&paths).await?;
        (config, ClusterSource::Kubeconfig(first.clone()), None)
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
