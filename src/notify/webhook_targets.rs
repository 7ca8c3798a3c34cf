//! Where a webhook may be delivered, checked against the network: the URL's scheme and
//! literal address, and every address its host resolves to, at registration and at every
//! connection of a delivery (`CheckedResolver`), since DNS may change between the two.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::app::ports::WebhookTargets;
use crate::domain::webhook_target::TargetPolicy;

/// Checks `url` now; `Err` says why it may not be a webhook's target.
pub async fn check_target(policy: &TargetPolicy, url: &str) -> Result<(), String> {
    let parsed = Url::parse(url).map_err(|e| format!("not an absolute URL: {e}"))?;
    if parsed.scheme() != "https" && !(policy.allow_http && parsed.scheme() == "http") {
        return Err("webhooks are delivered over https only".into());
    }
    match parsed.host() {
        Some(Host::Ipv4(ip)) => refuse_address(policy, ip.into()),
        Some(Host::Ipv6(ip)) => refuse_address(policy, ip.into()),
        Some(Host::Domain(host)) if policy.host_allowed(host) => Ok(()),
        Some(Host::Domain(host)) => {
            let port = parsed.port_or_known_default().unwrap_or(443);
            let addresses = resolve(host, port)
                .await
                .map_err(|_| format!("{host} does not resolve"))?;
            checked(policy, host, addresses).map(drop)
        }
        None => Err("the URL has no host".into()),
    }
}

fn refuse_address(policy: &TargetPolicy, ip: std::net::IpAddr) -> Result<(), String> {
    match policy.refuses(ip) {
        Some(why) => Err(format!("{ip} is {why}")),
        None => Ok(()),
    }
}

async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((host, port)).await?.collect())
}

/// Every address, or the first that may not be reached.
fn checked(
    policy: &TargetPolicy,
    host: &str,
    addresses: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, String> {
    if addresses.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    if let Some((ip, why)) = addresses
        .iter()
        .find_map(|a| policy.refuses(a.ip()).map(|why| (a.ip(), why)))
    {
        return Err(format!("{host} resolves to {ip}, {why}"));
    }
    Ok(addresses)
}

/// The deliverer's DNS: a host that resolves to an address the policy refuses is not
/// connected to at all.
pub struct CheckedResolver {
    pub policy: Arc<TargetPolicy>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses = resolve(&host, 0).await?;
            let addresses = if policy.host_allowed(&host) {
                addresses
            } else {
                checked(&policy, &host, addresses)?
            };
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

#[async_trait::async_trait]
impl WebhookTargets for TargetPolicy {
    async fn check(&self, url: &str) -> Result<(), String> {
        check_target(self, url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outside_development_only_https_to_public_addresses_is_a_target() {
        let policy = TargetPolicy::new(&[], false).unwrap();
        assert!(
            check_target(&policy, "https://93.184.216.34/hooks")
                .await
                .is_ok()
        );
        let plain = check_target(&policy, "http://93.184.216.34/hooks").await;
        assert!(plain.unwrap_err().contains("https"));
        let inside = check_target(&policy, "https://[::ffff:10.0.0.1]/").await;
        assert!(inside.unwrap_err().contains("private"));
        let development = TargetPolicy::new(&[], true).unwrap();
        assert!(
            check_target(&development, "http://93.184.216.34/")
                .await
                .is_ok()
        );
    }
}
