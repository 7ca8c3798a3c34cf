//! Typed settings: `config/default.toml`, then `config/$CLEARWAY_ENV.toml`, then `CLEARWAY__*`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::domain::criticality::ProgrammeCriticality;
use crate::domain::policy::PolicyRules;
use crate::domain::risk::{RiskLevel, RiskMatrix};

/// The HS256 secret shipped in `config/development.toml`. It is public, so the service
/// refuses to run with it anywhere but in development.
pub const DEVELOPMENT_SECRET: &str = "clearway-development-secret-not-for-production-use";

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(skip, default)]
    pub environment: String,
    #[serde(skip, default)]
    pub config_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub cache: CacheSettings,
    pub auth: AuthSettings,
    pub policy: PolicySettings,
    pub approval: ApprovalSettings,
    pub webhooks: WebhookSettings,
    pub rescreening: RescreenSettings,
    pub idempotency: IdempotencySettings,
    pub rate_limits: crate::rate_limits::RateLimitSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// A bearer token that may read `/metrics` (for Prometheus); empty: admin tokens only.
    pub bearer_token: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencySettings {
    /// How long a key is remembered; a retry after that is a new request.
    pub window_secs: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RescreenSettings {
    /// Work re-screening jobs in this process.
    pub run: bool,
    pub poll_interval_ms: u64,
    pub batch: u32,
    pub lease_seconds: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    /// Run the deliverer in this process.
    pub deliver: bool,
    pub poll_interval_ms: u64,
    pub timeout_ms: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    pub max_attempts: u32,
    pub batch: u32,
    /// Hosts (`hooks.example.org`) or ranges (`10.1.0.0/16`) a webhook may target although
    /// they are internal; none by default.
    #[serde(default)]
    pub allowed_targets: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApprovalSettings {
    /// How long a claim on an escalation lasts unless released or renewed.
    pub lease_seconds: i64,
    /// The role that decides each stage named in the policy's approval chains.
    pub stage_roles: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    pub max_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
    /// How long a client has to send a request's head before the connection is closed.
    pub client_request_timeout_ms: u64,
    /// How long a client has to send a request's body once its head has arrived.
    pub body_timeout_ms: u64,
    /// How long an idle keep-alive connection is kept open.
    pub keep_alive_secs: u64,
    /// Open connections per worker; beyond it, new ones wait in the accept queue.
    pub max_connections_per_worker: usize,
    /// Origins whose browser pages may call the API; empty: no cross-origin access.
    pub cors_allowed_origins: Vec<String>,
}

/// Longest accepted commit window: beyond it a request alone would wait visibly for company.
const MAX_COMMIT_WINDOW_US: u64 = 100_000;
/// Largest traveller-index batch: the writer holds up to two batches of entries in memory.
const MAX_TRAVELLER_INDEX_BATCH: usize = 1_000_000;
/// Longest a traveller entry may wait in memory: entries still there at a crash are indexed
/// again at the next start, from the rows after the last batch.
const MAX_TRAVELLER_INDEX_WAIT_MS: u64 = 600_000;

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    /// SQLite `synchronous` pragma: `full` (durable on power loss) or `normal`.
    pub synchronous: String,
    pub busy_timeout_ms: u64,
    /// SQLite: how long a new request may wait for others to share its commit.
    pub commit_window_us: u64,
    /// SQLite: how many new requests' traveller entries the writer gathers before it moves
    /// them into the requests-by-traveller table, in key order...
    #[serde(default = "default_traveller_index_batch")]
    pub traveller_index_batch: usize,
    /// ...or how long the oldest waits for the others.
    #[serde(default = "default_traveller_index_wait_ms")]
    pub traveller_index_wait_ms: u64,
}

fn default_traveller_index_batch() -> usize {
    32_768
}

fn default_traveller_index_wait_ms() -> u64 {
    2_000
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// Empty disables Redis: the in-process tier reads through to the store.
    pub url: String,
    pub key_prefix: String,
    pub entry_ttl_secs: u64,
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
    pub reconnect_interval_ms: u64,
    /// While Redis is up it is pinged this often, so `/readyz` knows within seconds that it
    /// went away even when no request needed it.
    pub health_check_interval_ms: u64,
    /// For `rediss://` with a private certificate authority: its certificate (PEM). Without
    /// it the system's trusted roots apply.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    pub local_ttl_ms: u64,
    pub local_capacity: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub leeway_secs: u64,
    #[serde(default)]
    pub hs256_secret: Option<String>,
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

#[derive(Debug, Clone, Deserialize)]
pub struct PolicySettings {
    /// The risk matrix, acceptance limits and approval chains, relative to the config directory.
    pub file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log shippers.
    pub format: String,
    pub filter: String,
}

impl Settings {
    /// Loads the layered settings for `environment` from `config_dir`.
    pub fn load(config_dir: &Path, environment: &str) -> anyhow::Result<Settings> {
        let raw = config::Config::builder()
            .add_source(config::File::from(config_dir.join("default.toml")))
            .add_source(
                config::File::from(config_dir.join(format!("{environment}.toml"))).required(false),
            )
            .add_source(
                config::Environment::with_prefix("CLEARWAY")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // CLEARWAY__SERVER__CORS_ALLOWED_ORIGINS="https://a.example,https://b.example"
                    .list_separator(",")
                    .with_list_parse_key("server.cors_allowed_origins"),
            )
            .build()
            .with_context(|| format!("reading settings from {}", config_dir.display()))?;
        let mut settings: Settings = raw.try_deserialize().context("invalid settings")?;
        settings.environment = environment.to_owned();
        settings.config_dir = config_dir.to_owned();
        settings.check()?;
        Ok(settings)
    }

    /// Loads from `CLEARWAY_CONFIG_DIR` (default `./config`) for `CLEARWAY_ENV` (default development).
    pub fn from_env() -> anyhow::Result<Settings> {
        let dir = std::env::var_os("CLEARWAY_CONFIG_DIR")
            .map_or_else(|| PathBuf::from("config"), PathBuf::from);
        let environment = std::env::var("CLEARWAY_ENV").unwrap_or_else(|_| "development".into());
        Self::load(&dir, &environment)
    }

    pub fn is_development(&self) -> bool {
        self.environment == "development"
    }

    /// Refuses settings that would be unsafe to run with.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(secret) = &self.auth.hs256_secret {
            if secret == DEVELOPMENT_SECRET && !self.is_development() {
                bail!(
                    "the development JWT secret is configured in the `{}` environment; set auth.hs256_secret to a secret of your own, or use RS256/ES256 keys",
                    self.environment
                );
            }
            if secret.len() < 32 {
                bail!("auth.hs256_secret must be at least 32 bytes");
            }
        }
        let has_key = self.auth.hs256_secret.is_some()
            || self.auth.rs256_public_key_file.is_some()
            || self.auth.es256_public_key_file.is_some()
            || !self.auth.oidc.is_empty();
        if !has_key {
            bail!(
                "no token verification key: name an identity provider ([[auth.oidc]] issuer), or set auth.rs256_public_key_file, auth.es256_public_key_file or auth.hs256_secret"
            );
        }
        for idp in &self.auth.oidc {
            crate::auth::oidc::check_issuer_url(&idp.issuer)
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
        if self.auth.oidc.len() > 1 && self.auth.oidc.iter().any(|idp| idp.orgs.is_empty()) {
            bail!(
                "several auth.oidc providers: give each the organisations it may speak for (orgs = [...]), so that one cannot assert another's"
            );
        }
        if !matches!(
            self.database.synchronous.as_str(),
            "full" | "normal" | "extra"
        ) {
            bail!("database.synchronous must be full, extra or normal");
        }
        // A window past the clock's range would stop the writer.
        if self.database.commit_window_us > MAX_COMMIT_WINDOW_US {
            bail!("database.commit_window_us must be at most {MAX_COMMIT_WINDOW_US} (100 ms)");
        }
        if !(1..=MAX_TRAVELLER_INDEX_BATCH).contains(&self.database.traveller_index_batch) {
            bail!("database.traveller_index_batch must be from 1 to {MAX_TRAVELLER_INDEX_BATCH}");
        }
        if self.database.traveller_index_wait_ms > MAX_TRAVELLER_INDEX_WAIT_MS {
            bail!(
                "database.traveller_index_wait_ms must be at most {MAX_TRAVELLER_INDEX_WAIT_MS} (10 minutes)"
            );
        }
        Ok(())
    }

    /// A file named in the settings, relative to the config directory unless absolute.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.config_dir.join(path)
        }
    }

    pub fn load_policy(&self) -> anyhow::Result<PolicyRules> {
        let path = self.resolve(&self.policy.file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        parse_policy(&text).with_context(|| format!("invalid policy in {}", path.display()))
    }
}

/// The policy file's shape: one row of the matrix per likelihood, columns by impact.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    matrix: MatrixRows,
    acceptance: BTreeMap<String, RiskLevel>,
    approval_chains: BTreeMap<String, Vec<String>>,
    mission_sra_required_from: RiskLevel,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixRows {
    very_unlikely: [RiskLevel; 5],
    unlikely: [RiskLevel; 5],
    moderately_likely: [RiskLevel; 5],
    likely: [RiskLevel; 5],
    very_likely: [RiskLevel; 5],
}

pub fn parse_policy(text: &str) -> anyhow::Result<PolicyRules> {
    let file: PolicyFile = toml::from_str(text)?;
    let m = file.matrix;
    let matrix = RiskMatrix::new([
        m.very_unlikely,
        m.unlikely,
        m.moderately_likely,
        m.likely,
        m.very_likely,
    ])
    .map_err(anyhow::Error::msg)?;
    let acceptance = file
        .acceptance
        .iter()
        .map(|(pc, level)| {
            Ok((
                pc.parse::<ProgrammeCriticality>()
                    .map_err(anyhow::Error::msg)?,
                *level,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let chains = file
        .approval_chains
        .iter()
        .map(|(level, stages)| {
            Ok((
                level.parse::<RiskLevel>().map_err(anyhow::Error::msg)?,
                stages.clone(),
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    PolicyRules::new(matrix, acceptance, chains, file.mission_sra_required_from)
        .map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    #[test]
    fn the_shipped_settings_and_policy_load() {
        let settings = Settings::load(&shipped(), "development").unwrap();
        assert_eq!(
            settings.auth.hs256_secret.as_deref(),
            Some(DEVELOPMENT_SECRET)
        );
        let policy = settings.load_policy().unwrap();
        assert_eq!(policy.chain_for(RiskLevel::VeryHigh), ["hq", "dg"]);
        assert!(policy.chain_for(RiskLevel::High).is_empty());
        assert_eq!(
            policy.accepted_risk(ProgrammeCriticality::Pc2),
            RiskLevel::High
        );
    }

    #[test]
    fn the_development_secret_is_refused_outside_development() {
        let mut settings = Settings::load(&shipped(), "development").unwrap();
        settings.environment = "production".into();
        let err = settings.check().unwrap_err().to_string();
        assert!(err.contains("development JWT secret"), "{err}");
        settings.auth.hs256_secret = None;
        assert!(
            settings.check().is_err(),
            "no key at all must be refused too"
        );
    }

    #[test]
    fn store_timings_the_background_tasks_cannot_run_with_are_refused() {
        let settings = Settings::load(&shipped(), "development").unwrap();
        assert!(settings.check().is_ok());
        let refused = |change: fn(&mut DatabaseSettings)| {
            let mut s = settings.clone();
            change(&mut s.database);
            s.check().unwrap_err().to_string()
        };
        assert!(refused(|d| d.commit_window_us = u64::MAX).contains("commit_window_us"));
        assert!(refused(|d| d.traveller_index_batch = 0).contains("traveller_index_batch"));
        assert!(
            refused(|d| d.traveller_index_batch = MAX_TRAVELLER_INDEX_BATCH + 1)
                .contains("traveller_index_batch")
        );
        assert!(
            refused(|d| d.traveller_index_wait_ms = MAX_TRAVELLER_INDEX_WAIT_MS + 1)
                .contains("traveller_index_wait_ms")
        );
        let mut edge = settings.clone();
        edge.database.commit_window_us = MAX_COMMIT_WINDOW_US;
        edge.database.traveller_index_batch = 1;
        edge.database.traveller_index_wait_ms = 0;
        assert!(edge.check().is_ok());
    }

    #[test]
    fn a_policy_that_accepts_unacceptable_risk_is_refused() {
        let text = std::fs::read_to_string(shipped().join("risk-policy.toml")).unwrap();
        assert!(parse_policy(&text).is_ok());
        let lax = text.replace("PC1 = \"very_high\"", "PC1 = \"unacceptable\"");
        assert!(parse_policy(&lax).is_err());
        let inverted = text.replace("PC4 = \"medium\"", "PC4 = \"high\"");
        assert!(parse_policy(&inverted).is_err());
    }
}
