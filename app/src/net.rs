//! Which address a request comes from, when Wukong runs behind reverse proxies.
//!
//! The TCP peer is the client unless it is one of the configured trusted proxies. Only then
//! is the proxies' header read, from the right: each proxy appends the address it received
//! the request from, so the right-most address that is not itself a trusted proxy is the
//! client; anything to its left was sent by the client and proves nothing.

use http::HeaderMap;
use std::{fmt, net::IpAddr, str::FromStr};

/// An address range, `192.0.2.0/24` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                mask(u128::from(u32::from(ip)), 32, self.prefix) == u128::from(u32::from(network))
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                mask(u128::from(ip), 128, self.prefix) == u128::from(network)
            }
            _ => false,
        }
    }
}

fn mask(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u32::from(width - prefix);
    (bits >> keep) << keep
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, what a dual-stack socket reports) as the
/// IPv4 address they are.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Why a range did not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address range like 10.0.0.0/8 or 2001:db8::/32")]
pub struct BadCidr(String);

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadCidr(text.to_owned());
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let address = canonical(address.parse::<IpAddr>().map_err(|_| bad())?);
        let width = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) if prefix.bytes().all(|b| b.is_ascii_digit()) => {
                prefix.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None => width,
        };
        if prefix > width {
            return Err(bad());
        }
        let bits = match address {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        if mask(bits, width, prefix) != bits {
            return Err(bad());
        }
        Ok(Cidr {
            network: address,
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Which header the trusted proxies write the client address into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`
    Forwarded,
}

/// The proxies whose word on the client address is taken, and where they put it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    pub ranges: Vec<Cidr>,
    pub header: ForwardedHeader,
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|range| range.contains(ip))
    }

    /// The client address of a request from `peer` with `headers`.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => header_values(headers, "x-forwarded-for")
                .flat_map(|value| value.split(','))
                .map(str::to_owned)
                .collect::<Vec<_>>(),
            ForwardedHeader::Forwarded => header_values(headers, "forwarded")
                .flat_map(|value| value.split(','))
                .filter_map(forwarded_for)
                .collect(),
        };
        for hop in hops.iter().rev() {
            let Some(ip) = hop_address(hop) else {
                // A hop a trusted proxy could not name: the proxy is the last we know.
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

fn header_values<'h>(headers: &'h HeaderMap, name: &str) -> impl Iterator<Item = &'h str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
}

/// The `for=` parameter of one `Forwarded` element.
fn forwarded_for(element: &str) -> Option<String> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The address of one hop: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`, `[2001:db8::1]:80`.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    let host = match hop.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None => hop.rsplit_once(':')?.0,
    };
    host.parse::<IpAddr>().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    fn proxies(ranges: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies {
            ranges: ranges
                .iter()
                .map(|range| range.parse().expect("range"))
                .collect(),
            header,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn ranges_parse_and_match() {
        let range: Cidr = "10.0.0.0/8".parse().expect("range");
        assert!(range.contains(ip("10.1.2.3")));
        assert!(range.contains(ip("::ffff:10.1.2.3")));
        assert!(!range.contains(ip("11.0.0.1")));
        let v6: Cidr = "2001:db8::/32".parse().expect("range");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert_eq!(
            "127.0.0.1".parse::<Cidr>().expect("bare").to_string(),
            "127.0.0.1/32"
        );
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .expect("all")
            .contains(ip("203.0.113.9")));
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0.0/-1",
            "nonsense",
            "10.0.0.0/8x",
            "",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_are_ignored_unless_the_peer_is_a_trusted_proxy() {
        let forged = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(
            TrustedProxies::default().client_address(ip("203.0.113.5"), &forged),
            ip("203.0.113.5")
        );
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(
            trusted.client_address(ip("203.0.113.5"), &forged),
            ip("203.0.113.5")
        );
        assert_eq!(
            trusted.client_address(ip("10.0.0.2"), &forged),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = proxies(
            &["10.0.0.0/8", "2001:db8::/32"],
            ForwardedHeader::XForwardedFor,
        );
        let chain = headers(&[
            ("x-forwarded-for", "1.1.1.1, 198.51.100.7:5123"),
            ("x-forwarded-for", "10.0.0.9, [2001:db8::4]:80"),
        ]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &chain),
            ip("198.51.100.7")
        );
        let all_trusted = headers(&[("x-forwarded-for", "10.9.9.9, 10.0.0.9")]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &all_trusted),
            ip("10.9.9.9")
        );
        let garbage = headers(&[("x-forwarded-for", "198.51.100.7, unknown, 10.0.0.9")]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &garbage),
            ip("10.0.0.9"),
            "an unreadable hop stops the walk at the proxy that wrote it"
        );
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_forwarded_header_is_read_when_configured() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let chain = headers(&[
            (
                "forwarded",
                "for=1.1.1.1, for=\"[2001:db8:cafe::17]:4711\";proto=https",
            ),
            ("forwarded", "For=10.0.0.3;by=10.0.0.1"),
            ("x-forwarded-for", "203.0.113.99"),
        ]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &chain),
            ip("2001:db8:cafe::17")
        );
    }
}
