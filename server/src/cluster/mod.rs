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
    for caveat in oidc_caveats(&config) {
        tracing::warn!(kubeconfig = %paths[0].display(), "{caveat}");
    }
    Ok(config)
}

/// Where the kubeconfig's `oidc` auth provider asks for what client-go's plugin does and
/// kube-rs does not (client-go plugin/pkg/client/auth/oidc/oidc.go; kube-client 5,
/// client/auth/oidc.rs): said at start-up, so that an ID token that cannot be renewed once it
/// expires is no surprise then.
fn oidc_caveats(config: &Config) -> Vec<&'static str> {
    let Some(provider) = config
        .auth_info
        .auth_provider
        .as_ref()
        .filter(|provider| provider.name == "oidc")
    else {
        return Vec::new();
    };
    let has = |key: &str| {
        provider
            .config
            .get(key)
            .is_some_and(|value| !value.is_empty())
    };
    let mut caveats = Vec::new();
    if has("idp-certificate-authority") || has("idp-certificate-authority-data") {
        caveats.push(
            "the kubeconfig's idp-certificate-authority is not used: the OIDC issuer's \
             certificate must be one the system trusts, or be in SSL_CERT_FILE",
        );
    }
    if has("refresh-token") && !has("client-secret") {
        caveats.push(
            "the kubeconfig's OIDC user has no client-secret: its ID token cannot be renewed \
             once it expires",
        );
    }
    if provider
        .config
        .get("idp-issuer-url")
        .is_some_and(|url| !url.starts_with("https://"))
    {
        caveats.push(
            "the kubeconfig's OIDC issuer is not https: its ID token cannot be renewed once it \
             expires",
        );
    }
    caveats
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

#[cfg(test)]
mod tests {
    use super::oidc_caveats;

    fn caveats_of(provider_config: &[(&str, &str)]) -> Vec<&'static str> {
        let mut config = kube::Config::new("https://api.example.test".parse().expect("URL"));
        config.auth_info.auth_provider = Some(kube::config::AuthProviderConfig {
            name: "oidc".to_owned(),
            config: provider_config
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ..Default::default()
        });
        oidc_caveats(&config)
    }

    #[test]
    fn what_kube_rs_does_not_do_for_an_oidc_user_is_said_at_start_up() {
        let complete = [
            ("id-token", "header.claims.signature"),
            ("refresh-token", "r"),
            ("client-id", "kubernetes"),
            ("client-secret", "s"),
            ("idp-issuer-url", "https://issuer.example.test"),
        ];
        assert_eq!(caveats_of(&complete), Vec::<&str>::new());
        let lacking = [
            ("id-token", "header.claims.signature"),
            ("refresh-token", "r"),
            ("client-id", "kubernetes"),
            ("idp-issuer-url", "http://issuer.example.test"),
            ("idp-certificate-authority", "/etc/issuer-ca.pem"),
        ];
        let said = caveats_of(&lacking);
        assert_eq!(said.len(), 3, "{said:?}");
        assert!(said[0].contains("idp-certificate-authority is not used"));
        assert!(said[1].contains("no client-secret"));
        assert!(said[2].contains("not https"));
    }
}
