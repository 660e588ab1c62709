//! The HTTP proxy for the API server, from `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (either
//! case), as client-go takes them through Go's `http.ProxyFromEnvironment`
//! (`golang.org/x/net/http/httpproxy`): loopback hosts never go through a proxy, `NO_PROXY`
//! lists hosts, domains (with or without a leading dot), IP addresses, CIDR ranges, or `*`.
//! A kubeconfig's own `proxy-url` comes first.

use std::net::IpAddr;

/// The proxy for `cluster`, reading the environment through `var`.
pub fn from_environment(
    cluster: &http::Uri,
    var: impl Fn(&str) -> Option<String>,
) -> Option<http::Uri> {
    let either = |name: &str| {
        var(name)
            .or_else(|| var(&name.to_lowercase()))
            .filter(|value| !value.is_empty())
    };
    let proxy = match cluster.scheme_str() {
        Some("https") => either("HTTPS_PROXY"),
        _ => either("HTTP_PROXY"),
    }?;
    let host = cluster
        .host()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let ip = host.parse::<IpAddr>().ok();
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return None;
    }
    let exempt = either("NO_PROXY").is_some_and(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .any(|entry| exempts(entry, host, ip))
    });
    if exempt {
        return None;
    }
    // A proxy given without a scheme is an HTTP proxy, as Go reads it.
    let proxy = if proxy.contains("://") {
        proxy
    } else {
        format!("http://{proxy}")
    };
    proxy.parse().ok()
}

fn exempts(entry: &str, host: &str, ip: Option<IpAddr>) -> bool {
    if entry == "*" {
        return true;
    }
    if let Some((network, bits)) = entry.split_once('/') {
        return match (network.parse::<IpAddr>(), bits.parse::<u32>(), ip) {
            (Ok(IpAddr::V4(network)), Ok(bits @ 0..=32), Some(IpAddr::V4(ip))) => {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (Ok(IpAddr::V6(network)), Ok(bits @ 0..=128), Some(IpAddr::V6(ip))) => {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        };
    }
    // An entry may carry a port; the cluster's port does not decide here.
    let name = match entry.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => entry,
    };
    if let (Ok(exempt), Some(ip)) = (name.parse::<IpAddr>(), ip) {
        return exempt == ip;
    }
    let domain = name.trim_start_matches('.').to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

#[cfg(test)]
mod tests {
    use super::from_environment;

    fn proxy_for(url: &str, vars: &[(&str, &str)]) -> Option<String> {
        let url: http::Uri = url.parse().expect("url");
        from_environment(&url, |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
        .map(|proxy| proxy.to_string())
    }

    #[test]
    fn the_proxy_follows_the_environment_as_client_go_does() {
        let proxy = [("HTTPS_PROXY", "http://proxy.corp:3128")];
        assert_eq!(
            proxy_for("https://api.example.test:6443", &proxy).as_deref(),
            Some("http://proxy.corp:3128/")
        );
        assert_eq!(
            proxy_for(
                "https://api.example.test:6443",
                &[("https_proxy", "proxy.corp:3128")]
            )
            .as_deref(),
            Some("http://proxy.corp:3128/")
        );
        assert_eq!(
            proxy_for("http://api.example.test", &proxy),
            None,
            "HTTPS_PROXY is for https only"
        );
        assert_eq!(
            proxy_for("https://127.0.0.1:6443", &proxy),
            None,
            "loopback goes direct"
        );
        assert_eq!(proxy_for("https://localhost:6443", &proxy), None);
        for no_proxy in [
            "example.test",
            ".example.test",
            "api.example.test:6443",
            "*",
            "10.0.0.0/8,other",
        ] {
            let vars = [proxy[0], ("NO_PROXY", no_proxy)];
            let host = if no_proxy.starts_with("10.") {
                "https://10.1.2.3:6443"
            } else {
                "https://api.example.test:6443"
            };
            assert_eq!(proxy_for(host, &vars), None, "NO_PROXY={no_proxy}");
        }
        let vars = [proxy[0], ("NO_PROXY", "xample.test,10.0.0.0/8")];
        assert!(
            proxy_for("https://api.example.test", &vars).is_some(),
            "a suffix is not a domain"
        );
        assert!(proxy_for("https://11.0.0.1", &vars).is_some());
    }
}
