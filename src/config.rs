//! Typed settings: `config/default.toml`, then `config/$CLEARWAY_ENV.toml`, then `CLEARWAY__*`.

//!
//! Each component owns its settings (`auth::settings`, `store::settings`, ...); this module
//! only combines them, loads the layers and checks them together at startup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

pub use crate::app::approvals::ApprovalSettings;
pub use crate::app::rescreening::RescreenSettings;
pub use crate::auth::settings::{
    AuthSettings, ClaimSettings, DEVELOPMENT_SECRET, OidcIssuerSettings,
};
pub use crate::cache::settings::{CacheSettings, RedisSettings};
use crate::domain::criticality::ProgrammeCriticality;
use crate::domain::policy::PolicyRules;
use crate::domain::risk::{RiskLevel, RiskMatrix};
pub use crate::http::idempotency::IdempotencySettings;
pub use crate::http::metrics::MetricsSettings;
pub use crate::notify::mail::settings::MailSettings;
pub use crate::notify::settings::WebhookSettings;
pub use crate::rate_limits::RateLimitSettings;
pub use crate::store::settings::DatabaseSettings;
pub use crate::telemetry::LogSettings;

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
    pub mail: MailSettings,
    #[serde(default)]
    pub incidents: crate::app::incidents::IncidentSettings,
    pub rescreening: RescreenSettings,
    pub idempotency: IdempotencySettings,
    pub rate_limits: RateLimitSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
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
    /// The key printed clearances' verification links are signed with (at least 32 bytes);
    /// without it, printed clearances carry no public link.
    #[serde(default)]
    pub verification_key: Option<secrecy::SecretString>,
}

/// The verification key `config/development.toml` sets; refused in any other environment.
pub const DEVELOPMENT_VERIFICATION_KEY: &str =
    "clearway-development-verification-key-not-for-production-use";

impl ServerSettings {
    fn check(&self, development: bool, environment: &str) -> anyhow::Result<()> {
        use secrecy::ExposeSecret;
        if let Some(key) = &self.verification_key {
            let key = key.expose_secret();
            if key == DEVELOPMENT_VERIFICATION_KEY && !development {
                anyhow::bail!(
                    "the development verification key is configured in the `{environment}` environment; set server.verification_key to a secret of your own"
                );
            }
            if key.len() < 32 {
                anyhow::bail!("server.verification_key must be at least 32 bytes");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PolicySettings {
    /// The risk matrix, acceptance limits and approval chains, relative to the config directory.
    pub file: PathBuf,
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
                    .with_list_parse_key("server.cors_allowed_origins")
                    // CLEARWAY__WEBHOOKS__ALLOWED_TARGETS="10.20.0.0/16"
                    .with_list_parse_key("webhooks.allowed_targets"),
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
        self.auth.check(self.is_development(), &self.environment)?;
        self.server
            .check(self.is_development(), &self.environment)?;
        self.database.check()?;
        self.mail.check()?;
        self.approval.response_times().map_err(anyhow::Error::msg)?;
        if !self.approval.escalation_contact.is_empty() {
            crate::domain::person::EmailAddress::parse("", &self.approval.escalation_contact)
                .map_err(|e| anyhow::anyhow!("approval.escalation_contact: {}", e.detail))?;
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
    #[serde(default)]
    lead_times: crate::domain::lead_time::LeadTimes,
    #[serde(default)]
    incidents: IncidentRules,
    #[serde(default)]
    transit: TransitRules,
    #[serde(default)]
    air_operators: AirOperatorRules,
    #[serde(default)]
    headcount: Option<HeadcountRules>,
}

/// `[headcount]`: more than `per_flight` travellers of one organisation on one flight need
/// `stage`'s approval.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadcountRules {
    per_flight: usize,
    stage: String,
}

/// `[air_operators]`: operators a flight may be on whatever the list says of them.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AirOperatorRules {
    #[serde(default)]
    exempt: Vec<String>,
}

/// `[transit]`: whether an airside transit (no leaving the airport) needs clearance.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitRules {
    airside_needs_clearance: bool,
}

impl Default for TransitRules {
    fn default() -> Self {
        Self {
            airside_needs_clearance: true,
        }
    }
}

/// `[incidents]`: whether an open incident holds new requests to its areas.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentRules {
    hold_requests: bool,
}

impl Default for IncidentRules {
    fn default() -> Self {
        Self {
            hold_requests: true,
        }
    }
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
    let mut rules = PolicyRules::new(matrix, acceptance, chains, file.mission_sra_required_from)
        .map_err(anyhow::Error::msg)?;
    rules.lead_times = file.lead_times;
    rules.incident_holds = file.incidents.hold_requests;
    rules.airside_transit_needs_clearance = file.transit.airside_needs_clearance;
    rules.exempt_operators = file
        .air_operators
        .exempt
        .iter()
        .map(|code| {
            crate::domain::air_operator::OperatorCode::parse("", code)
                .map_err(|e| anyhow::anyhow!("air_operators.exempt: {}", e.detail))
        })
        .collect::<anyhow::Result<_>>()?;
    if let Some(h) = file.headcount {
        if h.stage.trim().is_empty() {
            anyhow::bail!("headcount.stage names no stage");
        }
        rules.headcount = Some(crate::domain::team::HeadcountRule {
            per_flight: h.per_flight,
            stage: h.stage,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::settings::limits::{
        MAX_COMMIT_WINDOW_US, MAX_TRAVELLER_INDEX_BATCH, MAX_TRAVELLER_INDEX_WAIT_MS,
    };

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    #[test]
    fn the_shipped_settings_and_policy_load() {
        let settings = Settings::load(&shipped(), "development").unwrap();
        assert_eq!(
            settings
                .auth
                .hs256_secret
                .as_ref()
                .map(secrecy::ExposeSecret::expose_secret),
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
    fn settings_print_without_their_secrets() {
        let mut settings = Settings::load(&shipped(), "development").unwrap();
        settings.database.url = "postgres://clearway:db-password-1@db:5432/clearway".into();
        settings.redis.url = "rediss://:redis-password-2@cache:6380".into();
        settings.metrics.bearer_token = "scrape-token-3-of-at-least-32-characters".into();
        let printed = format!("{settings:?}");
        for secret in [
            "db-password-1",
            "redis-password-2",
            "scrape-token-3",
            DEVELOPMENT_SECRET,
        ] {
            assert!(!printed.contains(secret), "{secret} printed: {printed}");
        }
        assert!(
            printed.contains("db:5432"),
            "the rest still prints: {printed}"
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

    #[test]
    fn the_policy_reads_transit_operator_and_headcount_rules() {
        let text = std::fs::read_to_string(shipped().join("risk-policy.toml")).unwrap();
        let shipped_rules = parse_policy(&text).unwrap();
        assert!(shipped_rules.airside_transit_needs_clearance);
        assert!(shipped_rules.exempt_operators.is_empty());
        assert!(shipped_rules.headcount.is_none());
        let adapted = text
            .replace(
                "airside_needs_clearance = true",
                "airside_needs_clearance = false",
            )
            .replace("exempt = []", "exempt = [\"uno\"]")
            + "\n[headcount]\nper_flight = 30\nstage = \"hq\"\n";
        let rules = parse_policy(&adapted).unwrap();
        assert!(!rules.airside_transit_needs_clearance);
        assert_eq!(
            rules
                .exempt_operators
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>(),
            ["UNO"]
        );
        assert_eq!(
            rules.headcount,
            Some(crate::domain::team::HeadcountRule {
                per_flight: 30,
                stage: "hq".into()
            })
        );
        assert!(parse_policy(&text.replace("exempt = []", "exempt = [\"U1\"]")).is_err());
        assert!(
            parse_policy(&format!(
                "{text}\n[headcount]\nper_flight = 30\nstage = \" \"\n"
            ))
            .is_err()
        );
    }
}
