//! Which addresses a webhook may be delivered to: never the service's own network (loopback,
//! private, link-local and cloud metadata, unique-local, multicast, unspecified), in any
//! spelling, unless the operator allowed a host or range by name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The operator's exceptions (`webhooks.allowed_targets`), and whether plain http is allowed
/// (development only).
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    hosts: Vec<String>,
    ranges: Vec<(IpAddr, u8)>,
    pub allow_http: bool,
}

impl TargetPolicy {
    /// `allowed`: host names (`receiver.example.org`) or ranges (`10.1.0.0/16`, `127.0.0.1`).
    pub fn new(allowed: &[String], allow_http: bool) -> Result<Self, String> {
        let mut policy = TargetPolicy {
            allow_http,
            ..Self::default()
        };
        for entry in allowed {
            let (address, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry.as_str(), None),
            };
            match address.parse::<IpAddr>() {
                Ok(ip) => {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    let bits = match bits {
                        None => max,
                        Some(b) => b
                            .parse::<u8>()
                            .ok()
                            .filter(|b| *b <= max)
                            .ok_or_else(|| format!("`{entry}`: a prefix of 0 to {max} bits"))?,
                    };
                    policy.ranges.push((ip, bits));
                }
                Err(_) if bits.is_none() && !address.is_empty() => {
                    policy.hosts.push(address.to_ascii_lowercase());
                }
                Err(_) => return Err(format!("`{entry}` is neither a host nor an address range")),
            }
        }
        Ok(policy)
    }

    /// A host the operator allowed by name: its addresses are not checked.
    pub fn host_allowed(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Why `ip` may not be a webhook's address, if it may not.
    pub fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = canonical(ip);
        if self
            .ranges
            .iter()
            .any(|&(net, bits)| contains(net, bits, ip))
        {
            return None;
        }
        internal(ip)
    }
}

/// IPv4-mapped IPv6 (`::ffff:169.254.169.254`) is the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_private() {
        "a private address"
    } else if ip.is_link_local() {
        "a link-local address (cloud metadata lives there)"
    } else if ip.is_unspecified() || a == 0 {
        "an unspecified address"
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        "a multicast, broadcast or reserved address"
    } else if a == 100 && (64..128).contains(&b) {
        "a carrier-grade NAT address"
    } else {
        return None;
    })
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_unspecified() {
        "an unspecified address"
    } else if first & 0xfe00 == 0xfc00 {
        "a unique-local address"
    } else if first & 0xffc0 == 0xfe80 {
        "a link-local address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else {
        return None;
    })
}

fn contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (canonical(net), ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &TargetPolicy, ip: &str) -> bool {
        policy.refuses(ip.parse().unwrap()).is_some()
    }

    #[test]
    fn internal_addresses_are_refused_in_every_spelling() {
        let policy = TargetPolicy::default();
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
        ] {
            assert!(refused(&policy, ip), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            assert!(!refused(&policy, ip), "{ip}");
        }
    }

    #[test]
    fn the_operator_allows_named_hosts_and_ranges() {
        let policy = TargetPolicy::new(
            &[
                "127.0.0.1".into(),
                "10.1.0.0/16".into(),
                "Hooks.Example.org".into(),
            ],
            false,
        )
        .unwrap();
        assert!(!refused(&policy, "127.0.0.1"));
        assert!(!refused(&policy, "::ffff:127.0.0.1"));
        assert!(refused(&policy, "127.0.0.2"));
        assert!(!refused(&policy, "10.1.200.3"));
        assert!(refused(&policy, "10.2.0.1"));
        assert!(policy.host_allowed("hooks.example.org"));
        assert!(!policy.host_allowed("example.org"));
        assert!(TargetPolicy::new(&["10.0.0.0/33".into()], false).is_err());
        assert!(TargetPolicy::new(&["".into()], false).is_err());
    }
}
