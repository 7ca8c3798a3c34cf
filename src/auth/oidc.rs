//! An identity provider found by OpenID Connect Discovery 1.0: its signing keys are read from
//! the `jwks_uri` its configuration names, kept in memory, fetched again on a schedule and
//! when a token names a `kid` not yet seen (at most once per `min_refresh_secs`), so a key
//! rotation at the provider needs no restart here. While the provider cannot be reached the
//! keys last fetched keep working, for `max_key_age_secs` at most.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use super::settings::OidcIssuerSettings;
use crate::shutdown::Shutdown;

/// Public-key algorithms a provider's token may use: never a shared-secret one, whatever
/// its key set says (a JWKS is public, so an HMAC key in it would let anyone sign).
const ACCEPTED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A discovery document or key set larger than this is refused (real ones are a few KiB).
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// A key and the one algorithm it verifies.
#[derive(Clone)]
pub struct SigningKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
    /// The key as published: a `kid` that comes back with other material is a new key.
    published: String,
}

struct Keys {
    by_kid: HashMap<String, SigningKey>,
    /// When a fetch last succeeded; `None` until the first does.
    fetched_at: Option<Instant>,
    last_error: Option<String>,
}

pub struct Issuer {
    pub issuer: String,
    audience: String,
    /// The organisations it may speak for; empty: any.
    orgs: Vec<String>,
    client: reqwest::Client,
    refresh_every: Duration,
    min_refresh: Duration,
    max_key_age: Duration,
    keys: RwLock<Keys>,
    /// Bumped whenever a key is withdrawn (or all expire): tokens remembered as verified
    /// under an earlier generation are checked again.
    generation: AtomicU64,
    /// One fetch at a time; holds when the last one was tried.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

/// What `/readyz` says of a provider.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuerStatus {
    pub issuer: String,
    /// `up` (keys fetched within `refresh_secs`), `stale` (the last fetches failed; the
    /// keys fetched before still verify tokens) or `down` (no usable keys).
    pub state: &'static str,
    pub keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// Discovery and key URLs must be https; plain http only on the loopback interface (a
/// provider run beside clearway for development and tests).
pub fn check_issuer_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("must be an https URL (http only on the loopback interface)".into()),
    }
}

impl Issuer {
    pub fn new(settings: &OidcIssuerSettings, default_audience: &str) -> anyhow::Result<Self> {
        check_issuer_url(&settings.issuer).map_err(anyhow::Error::msg)?;
        crate::tls::install_tls_provider();
        // No redirects: an https URL must not hand the keys over to a plain-http one.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(settings.timeout_ms))
            .user_agent(concat!("clearway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            issuer: settings.issuer.clone(),
            audience: settings
                .audience
                .clone()
                .unwrap_or_else(|| default_audience.to_owned()),
            orgs: settings.orgs.clone(),
            client,
            refresh_every: Duration::from_secs(settings.refresh_secs),
            min_refresh: Duration::from_secs(settings.min_refresh_secs),
            max_key_age: Duration::from_secs(settings.max_key_age_secs),
            keys: RwLock::new(Keys {
                by_kid: HashMap::new(),
                fetched_at: None,
                last_error: None,
            }),
            generation: AtomicU64::new(0),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    /// How a token of this issuer is validated for `algorithm`: `exp`, `iss`, `aud` and the
    /// subject required; `nbf` checked when present (access tokens often carry none).
    pub fn validation(&self, algorithm: Algorithm, subject_claim: &str, leeway: u64) -> Validation {
        let mut v = Validation::new(algorithm);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        let mut required = vec!["exp", "iss", "aud"];
        if subject_claim == "sub" {
            required.push("sub");
        }
        v.set_required_spec_claims(&required);
        v.validate_nbf = true;
        v.leeway = leeway;
        v
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether a token of this provider may name `org`.
    pub fn may_speak_for(&self, org: &str) -> bool {
        self.orgs.is_empty() || self.orgs.iter().any(|o| o == org)
    }

    /// Whether the keys were confirmed by a fetch within `max_key_age_secs`.
    pub fn keys_fresh(&self) -> bool {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.fetched_at
            .is_some_and(|at| at.elapsed() <= self.max_key_age)
    }

    /// The key a token's header names, fetching the keys again if it is unknown (rate
    /// limited). A header without `kid` is accepted only if the provider has a single key.
    pub async fn key(&self, kid: Option<&str>) -> Option<SigningKey> {
        if let Some(key) = self.lookup(kid) {
            return Some(key);
        }
        self.refresh(false).await;
        self.lookup(kid)
    }

    fn lookup(&self, kid: Option<&str>) -> Option<SigningKey> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        if keys
            .fetched_at
            .is_none_or(|at| at.elapsed() > self.max_key_age)
        {
            return None;
        }
        match kid {
            Some(kid) => keys.by_kid.get(kid).cloned(),
            None if keys.by_kid.len() == 1 => keys.by_kid.values().next().cloned(),
            None => None,
        }
    }

    /// Fetches the configuration and the keys. `scheduled` fetches always run; one for an
    /// unknown `kid` runs only if the last was at least `min_refresh` ago. Concurrent callers
    /// wait for the one fetch in flight instead of starting their own.
    pub async fn refresh(&self, scheduled: bool) {
        let mut last = self.fetching.lock().await;
        if !scheduled && last.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(fresh) => self.replace(fresh),
            Err(error) => {
                let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
                let held = keys.by_kid.len();
                tracing::warn!(
                    issuer = %self.issuer, %error, keys_held = held,
                    "could not fetch the identity provider's signing keys; the keys held keep verifying tokens for auth.oidc max_key_age_secs"
                );
                keys.last_error = Some(error);
            }
        }
    }

    fn replace(&self, fresh: HashMap<String, SigningKey>) {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let withdrawn = keys.by_kid.iter().any(|(kid, old)| {
            fresh
                .get(kid)
                .is_none_or(|new| new.published != old.published)
        });
        let added: Vec<&String> = fresh
            .keys()
            .filter(|kid| !keys.by_kid.contains_key(*kid))
            .collect();
        if withdrawn || !added.is_empty() {
            let mut kids: Vec<&String> = fresh.keys().collect();
            kids.sort();
            tracing::info!(issuer = %self.issuer, ?kids, "identity provider keys loaded");
        }
        if withdrawn {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        keys.by_kid = fresh;
        keys.fetched_at = Some(Instant::now());
        keys.last_error = None;
    }

    async fn fetch(&self) -> Result<HashMap<String, SigningKey>, String> {
        let base = self.issuer.trim_end_matches('/');
        let discovery: Discovery = self
            .get_json(&format!("{base}/.well-known/openid-configuration"))
            .await?;
        // OpenID Connect Discovery 1.0, section 4.3: the issuer must be exactly the one asked.
        if discovery.issuer != self.issuer {
            return Err(format!(
                "the discovery document names issuer {}, not {}",
                discovery.issuer, self.issuer
            ));
        }
        check_issuer_url(&discovery.jwks_uri).map_err(|e| format!("jwks_uri {e}"))?;
        let set: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let Some(algorithm) = algorithm_of(jwk) else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                let published = serde_json::to_string(jwk).unwrap_or_default();
                keys.insert(
                    kid,
                    SigningKey {
                        algorithm,
                        key,
                        published,
                    },
                );
            }
        }
        if keys.is_empty() {
            return Err("the key set holds no usable signing key".into());
        }
        Ok(keys)
    }

    /// A JSON document of at most `MAX_DOCUMENT_BYTES`.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
    }

    pub fn status(&self) -> IssuerStatus {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let age = keys.fetched_at.map(|at| at.elapsed());
        let state = match age {
            Some(age) if age > self.max_key_age => "down",
            None => "down",
            Some(_) if keys.last_error.is_some() => "stale",
            Some(age) if age > self.refresh_every * 2 => "stale",
            Some(_) => "up",
        };
        IssuerStatus {
            issuer: self.issuer.clone(),
            state,
            keys: if state == "down" {
                0
            } else {
                keys.by_kid.len()
            },
            last_error: keys.last_error.clone(),
        }
    }

    /// Fetches at once, then every `refresh_secs`; after a failure, again every
    /// `min_refresh_secs` until one succeeds. When the keys expire unconfirmed, tokens
    /// remembered as verified are checked again (and refused). Ends when the verifier that
    /// holds the provider is dropped.
    pub async fn keep_fresh(issuer: std::sync::Weak<Self>, mut shutdown: Shutdown) {
        let mut expired = false;
        while !shutdown.is_requested() {
            let Some(this) = issuer.upgrade() else { return };
            let wait = this.refresh_once(&mut expired).await;
            drop(this);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.requested() => return,
            }
        }
    }

    /// One scheduled fetch; returns how long to wait for the next.
    async fn refresh_once(&self, expired: &mut bool) -> Duration {
        self.refresh(true).await;
        let status = self.status();
        if status.state == "down" && !*expired {
            *expired = true;
            self.generation.fetch_add(1, Ordering::AcqRel);
            tracing::error!(
                issuer = %self.issuer, error = ?status.last_error,
                "no usable keys of this identity provider: its tokens are refused until a fetch succeeds"
            );
        } else if status.state != "down" {
            *expired = false;
        }
        if status.last_error.is_some() {
            self.min_refresh
        } else {
            self.refresh_every
        }
    }
}

/// The algorithm a key verifies: the `alg` it declares, else the one its type implies.
fn algorithm_of(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    let algorithm = match jwk.common.key_algorithm {
        Some(declared) => Algorithm::try_from(declared).ok()?,
        None => match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
            _ => return None,
        },
    };
    ACCEPTED.contains(&algorithm).then_some(algorithm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_urls_are_https_or_loopback() {
        assert!(check_issuer_url("https://login.example.org/realms/un").is_ok());
        assert!(check_issuer_url("http://127.0.0.1:8081").is_ok());
        assert!(check_issuer_url("http://localhost:8081").is_ok());
        assert!(check_issuer_url("http://[::1]:8081").is_ok());
        assert!(check_issuer_url("http://idp.example.org").is_err());
        assert!(check_issuer_url("ftp://idp.example.org").is_err());
        assert!(check_issuer_url("not a url").is_err());
    }

    #[test]
    fn a_shared_secret_in_a_key_set_is_never_used() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "oct", "kid": "s", "k": "c2VjcmV0", "alg": "HS256"},
            {"kty": "oct", "kid": "t", "k": "c2VjcmV0"},
        ]}))
        .unwrap();
        assert!(set.keys.iter().all(|k| algorithm_of(k).is_none()));
    }
}
