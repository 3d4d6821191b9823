//! No server-side request forgery through `api_post` jobs (S4): a job whose owner is below
//! operator may not reach this machine or its private networks: loopback, private,
//! link-local, unique-local, carrier-grade NAT, multicast and reserved addresses.
//!
//! Where it is checked:
//! - at enqueue, a URL whose host *is* such an address is a 422 at once;
//! - at run time, the guarded client resolves every host name itself and drops forbidden
//!   addresses before connecting, for the first request and every redirect alike (so a
//!   name that resolves to 127.0.0.1, or changes to it later, is refused too);
//! - a redirect to a forbidden address literal is refused by the redirect policy (hyper
//!   does not resolve literals).
//!
//! `API_POST_ALLOWED_HOSTS` names hosts (names or address literals, compared without
//! case) that are exempt, e.g. an internal service users may call.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// Why `ip` may not be called, if it may not: "loopback", "private", …
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_kind(v4);
            }
            let s = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("unique-local")
            } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
                Some("link-local")
            } else if s[0] & 0xff00 == 0xff00 {
                Some("multicast")
            } else if s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[0..6] == [0, 0, 0, 0, 0, 0] {
                // NAT64, and the deprecated IPv4-compatible form (`::127.0.0.1`): the IPv4
                // address in the last 32 bits.
                v4_kind(v4_of(s[6], s[7]))
            } else if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
                // Local-use NAT64 (64:ff9b:1::/48): a translator inside this network.
                Some("local NAT64")
            } else if s[0] == 0x2002 {
                // 6to4: the IPv4 address in bits 16-48.
                v4_kind(v4_of(s[1], s[2]))
            } else {
                None
            }
        }
    }
}

fn v4_of(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
        Some("multicast or reserved")
    } else {
        None
    }
}

/// The hosts exempt from the rule, lower-cased.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Arc<Vec<String>>);

impl AllowedHosts {
    pub fn new(hosts: &[String]) -> AllowedHosts {
        AllowedHosts(Arc::new(
            hosts
                .iter()
                .map(|h| {
                    h.trim()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase()
                })
                .filter(|h| !h.is_empty())
                .collect(),
        ))
    }

    pub fn contains(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.0.contains(&host)
    }
}

/// The refusal for `url`'s host, when the host is a forbidden address literal and not
/// allowed. (Names, `localhost` included, are checked once resolved.)
pub fn literal_refusal(url: &reqwest::Url, allowed: &AllowedHosts) -> Option<String> {
    let host = url.host_str()?;
    if allowed.contains(host) {
        return None;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let kind = forbidden_kind(bare.parse::<IpAddr>().ok()?)?;
    Some(refusal(host, kind))
}

fn refusal(host: &str, kind: &str) -> String {
    format!(
        "{host} is a {kind} address: only superusers and operators may call those \
         (or list the host in API_POST_ALLOWED_HOSTS)"
    )
}

/// Resolves names with the system resolver and keeps only the addresses allowed.
struct GuardedResolver {
    allowed: AllowedHosts,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let exempt = self.allowed.contains(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match (exempt, forbidden_kind(a.ip())) {
                    (false, Some(kind)) => {
                        refused = Some(kind);
                        false
                    }
                    _ => true,
                })
                .collect();
            if kept.is_empty() {
                let why = match refused {
                    Some(kind) => format!(
                        "{host} resolves to a {kind} address: only superusers and operators may \
                         call those (or list the host in API_POST_ALLOWED_HOSTS)"
                    ),
                    None => format!("{host} has no address"),
                };
                return Err(why.into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client for the jobs of users below operator.
pub fn guarded_client(user_agent: &str, allowed: AllowedHosts) -> reqwest::Client {
    let in_policy = allowed.clone();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 10 {
            attempt.error("too many redirects")
        } else if let Some(why) = literal_refusal(attempt.url(), &in_policy) {
            let to = attempt.url().to_string();
            attempt.error(format!("redirected to {to}: {why}"))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .user_agent(user_agent)
        .redirect(policy)
        .dns_resolver(Arc::new(GuardedResolver { allowed }))
        // No proxy from the environment: it would resolve names where this guard cannot see.
        .no_proxy()
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_local_addresses_are_forbidden_public_ones_are_not() {
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.9.9.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("224.0.0.1", "multicast or reserved"),
            ("255.255.255.255", "multicast or reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::7f00:1", "loopback"),
            ("::127.0.0.1", "loopback"),
            ("::10.0.0.1", "private"),
            ("64:ff9b:1::a00:1", "local NAT64"),
            ("2002:7f00:1::", "loopback"),
            ("2002:c0a8:101::1", "private"),
        ] {
            assert_eq!(forbidden_kind(ip.parse().unwrap()), Some(kind), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "64:ff9b::101:101",
            "2002:808:808::1",
        ] {
            assert_eq!(forbidden_kind(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn literals_and_localhost_are_refused_unless_allowed() {
        let none = AllowedHosts::default();
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(literal_refusal(&url("http://127.0.0.1:9/x"), &none).is_some());
        assert!(literal_refusal(&url("http://[::1]/"), &none).is_some());
        // Names are left to the resolver.
        assert!(literal_refusal(&url("http://localhost/"), &none).is_none());
        assert!(literal_refusal(&url("http://example.com/"), &none).is_none());
        assert!(literal_refusal(&url("http://8.8.8.8/"), &none).is_none());
        let allowed = AllowedHosts::new(&["LOCALHOST".into(), "[::1]".into(), "10.0.0.5".into()]);
        assert!(allowed.contains("localhost") && allowed.contains("[::1]"));
        assert!(literal_refusal(&url("http://[::1]/"), &allowed).is_none());
        assert!(literal_refusal(&url("http://10.0.0.5/"), &allowed).is_none());
        assert!(literal_refusal(&url("http://10.0.0.6/"), &allowed).is_some());
    }
}
