//! Where e-mail goes and how: the agency's SMTP relay, the sender's address, the link base,
//! the pace of delivery and of the digests.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, required (port 587). Nothing, not even the
    /// credentials, is sent if the relay cannot upgrade.
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption: a relay on the same host or a test server only.
    None,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailSettings {
    /// Write e-mail at all. Off: each change's notice is discarded once read.
    pub enabled: bool,
    /// Run the planner and the sender in this process (any number of instances may).
    pub send: bool,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    /// With a password, authenticate (PLAIN or LOGIN, over TLS only).
    #[serde(default)]
    pub username: String,
    #[serde(default = "empty_secret")]
    pub password: SecretString,
    /// A private CA's certificate (PEM) the relay's certificate chains to, besides the
    /// system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The sender, e.g. `Clearway <clearway@agency.example>`.
    pub from: String,
    /// Where the web page is, for the links in messages, e.g. `https://clearway.agency.example`.
    pub public_url: String,
    /// The language of messages to people who named none (`en`, `fr`).
    pub default_language: String,
    /// The hour (UTC, 0-23) daily digests go out.
    pub digest_hour_utc: u32,
    pub poll_interval_ms: u64,
    pub batch: u32,
    /// Messages sent at once, each on its own connection to the relay (kept open between
    /// messages). Relays limit connections per client: stay under the relay's limit.
    pub connections: u32,
    /// Per message, connection included.
    pub timeout_ms: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    /// Then the message is marked failed (an admin sees it in `GET /v1/mail`).
    pub max_attempts: u32,
    /// Sent messages are kept this many days for `GET /v1/mail`, then forgotten.
    pub keep_days: u32,
}

fn empty_secret() -> SecretString {
    SecretString::from(String::new())
}

impl MailSettings {
    pub fn check(&self) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        crate::domain::person::Language::parse("", &self.default_language)
            .map_err(|e| anyhow::anyhow!("mail.default_language: {}", e.detail))?;
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| anyhow::anyhow!("mail.from `{}` is not a mailbox: {e}", self.from))?;
        let url = url::Url::parse(&self.public_url)
            .map_err(|e| anyhow::anyhow!("mail.public_url is not an absolute URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("mail.public_url must be http(s)");
        }
        if self.smtp_host.is_empty() {
            anyhow::bail!("mail.smtp_host is empty");
        }
        if !(1..=3650).contains(&self.keep_days) {
            anyhow::bail!("mail.keep_days is 1 to 3650");
        }
        if self.digest_hour_utc > 23 {
            anyhow::bail!("mail.digest_hour_utc is an hour, 0 to 23");
        }
        use secrecy::ExposeSecret;
        if self.tls == SmtpTls::None && !self.password.expose_secret().is_empty() {
            anyhow::bail!(
                "mail.password is set with mail.tls = \"none\": credentials are only sent over TLS"
            );
        }
        Ok(())
    }

    /// The link to a request on the web page.
    pub fn request_link(&self, id: uuid::Uuid) -> String {
        format!("{}/#request={id}", self.public_url.trim_end_matches('/'))
    }
}
