//! What the identity component needs to know: issuers, keys and the claims that carry who
//! the caller is.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The HS256 secret shipped in `config/development.toml`. It is public, so the service
/// refuses to run with it anywhere but in development.
pub const DEVELOPMENT_SECRET: &str = "clearway-development-secret-not-for-production-use";

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub leeway_secs: u64,
    #[serde(default)]
    pub hs256_secret: Option<SecretString>,
    #[serde(default)]
    pub rs256_public_key_file: Option<PathBuf>,
    #[serde(default)]
    pub es256_public_key_file: Option<PathBuf>,
    /// Lifetime of tokens minted by `clearway token`.
    pub dev_token_ttl_minutes: i64,
    /// Which claims carry the caller's identity, organisation and roles.
    #[serde(default)]
    pub claims: ClaimSettings,
    /// Identity providers found by OpenID Connect discovery; their keys are fetched and
    /// refreshed, so a key rotation needs no restart.
    #[serde(default)]
    pub oidc: Vec<OidcIssuerSettings>,
}

/// Where a token carries who the caller is. Defaults suit Microsoft Entra ID (app roles in
/// `roles`) and Keycloak (realm roles in `realm_access.roles`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ClaimSettings {
    pub subject: String,
    pub org: String,
    /// Claims whose names are taken together (arrays, or space-separated strings); a dotted
    /// name reaches into nested objects.
    pub roles: Vec<String>,
    /// The identity provider's role or group names to clearway's role names. Empty: the
    /// roles claims carry clearway's names themselves.
    pub role_map: BTreeMap<String, String>,
}

impl Default for ClaimSettings {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            org: "org".into(),
            roles: vec!["roles".into(), "realm_access.roles".into()],
            role_map: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct OidcIssuerSettings {
    /// The issuer identifier, exactly as tokens' `iss` spells it; discovery reads
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The `aud` tokens of this issuer must carry; defaults to `auth.audience`.
    #[serde(default)]
    pub audience: Option<String>,
    /// The organisations this provider may speak for: a token of it naming another is
    /// invalid. Empty: any (one provider for the whole system). With several providers,
    /// give each its own, so one agency's administrators cannot act as another's.
    #[serde(default)]
    pub orgs: Vec<String>,
    /// How often the keys are fetched again.
    #[serde(default = "defaults::oidc_refresh_secs")]
    pub refresh_secs: u64,
    /// A token naming an unknown `kid` fetches the keys at once, but not more often than
    /// this: garbage `kid`s cannot make clearway hammer the identity provider.
    #[serde(default = "defaults::oidc_min_refresh_secs")]
    pub min_refresh_secs: u64,
    /// Keys not confirmed by a fetch for this long are no longer trusted.
    #[serde(default = "defaults::oidc_max_key_age_secs")]
    pub max_key_age_secs: u64,
    #[serde(default = "defaults::oidc_timeout_ms")]
    pub timeout_ms: u64,
}

mod defaults {
    pub fn oidc_refresh_secs() -> u64 {
        3600
    }
    pub fn oidc_min_refresh_secs() -> u64 {
        30
    }
    pub fn oidc_max_key_age_secs() -> u64 {
        86_400
    }
    pub fn oidc_timeout_ms() -> u64 {
        5_000
    }
}

impl AuthSettings {
    /// Refuses a public or short HMAC secret, no key at all, and providers that could speak
    /// for each other's organisations.
    pub fn check(&self, development: bool, environment: &str) -> anyhow::Result<()> {
        if let Some(secret) = &self.hs256_secret {
            let secret = secret.expose_secret();
            if secret == DEVELOPMENT_SECRET && !development {
                bail!(
                    "the development JWT secret is configured in the `{environment}` environment; set auth.hs256_secret to a secret of your own, or use RS256/ES256 keys"
                );
            }
            if secret.len() < 32 {
                bail!("auth.hs256_secret must be at least 32 bytes");
            }
        }
        let has_key = self.hs256_secret.is_some()
            || self.rs256_public_key_file.is_some()
            || self.es256_public_key_file.is_some()
            || !self.oidc.is_empty();
        if !has_key {
            bail!(
                "no token verification key: name an identity provider ([[auth.oidc]] issuer), or set auth.rs256_public_key_file, auth.es256_public_key_file or auth.hs256_secret"
            );
        }
        for idp in &self.oidc {
            super::oidc::check_issuer_url(&idp.issuer)
                .map_err(|e| anyhow::anyhow!("auth.oidc issuer {}: {e}", idp.issuer))?;
            if idp.min_refresh_secs == 0 || idp.refresh_secs < idp.min_refresh_secs {
                bail!(
                    "auth.oidc issuer {}: min_refresh_secs must be at least 1 and at most refresh_secs",
                    idp.issuer
                );
            }
            // Keys that expire before the next scheduled fetch would leave an idle instance
            // without keys between fetches.
            if idp.max_key_age_secs <= idp.refresh_secs || idp.timeout_ms == 0 {
                bail!(
                    "auth.oidc issuer {}: max_key_age_secs must exceed refresh_secs, and timeout_ms must be above 0",
                    idp.issuer
                );
            }
        }
        if self.oidc.len() > 1 && self.oidc.iter().any(|idp| idp.orgs.is_empty()) {
            bail!(
                "several auth.oidc providers: give each the organisations it may speak for (orgs = [...]), so that one cannot assert another's"
            );
        }
        Ok(())
    }
}
