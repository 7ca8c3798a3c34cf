//! E-mail: each change's notice (written with the change) is planned into messages for the
//! people concerned, held for a digest or sent over SMTP, retried until the relay takes
//! it. Every step is a lease in the store, so any number of instances share the work and a
//! restart resumes where it stopped; a message's unique key stops it being planned twice.

pub mod asks;
pub mod plan;
pub mod settings;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use chrono::{Timelike, Utc};
use futures_util::future::join_all;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::domain::notice::Notice;
use crate::domain::person::Language;
use crate::domain::webhook::retry_delay;
use crate::shutdown::{Shutdown, every};
use crate::store::mail::{DueMail, MailState, NewMail, SendResult, SentMail};
use crate::store::{Store, StoreError};
use settings::{MailSettings, SmtpTls};

/// The approval clocks the mailer reminds people of.
#[derive(Debug, Clone, Default)]
pub struct Reminders {
    /// Each stage's response time.
    pub times: std::collections::BTreeMap<String, chrono::Duration>,
    /// Told of every item still undecided when its stage's time has passed.
    pub contact: Option<crate::domain::person::EmailAddress>,
    /// How often the queues are read for reminders.
    pub every: Duration,
}

pub struct Mailer {
    store: Arc<dyn Store>,
    settings: MailSettings,
    reminders: Reminders,
    /// When the queues were last read for reminders.
    reminded: std::sync::Mutex<Option<std::time::Instant>>,
    /// When sent messages were last pruned.
    pruned: std::sync::Mutex<Option<std::time::Instant>>,
    /// `None` when mail is off: notices are read and dropped.
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<Mailbox>,
    /// Makes the personal links incidents' asks carry; `None` without a verification key.
    links: Option<crate::app::incidents::CheckInLinks>,
}

impl Mailer {
    pub fn new(
        store: Arc<dyn Store>,
        settings: MailSettings,
        reminders: Reminders,
        links: Option<crate::app::incidents::CheckInLinks>,
    ) -> anyhow::Result<Self> {
        let (transport, from) = if settings.enabled {
            (Some(transport(&settings)?), Some(settings.from.parse()?))
        } else {
            (None, None)
        };
        Ok(Self {
            store,
            settings,
            reminders,
            reminded: std::sync::Mutex::new(None),
            pruned: std::sync::Mutex::new(None),
            transport,
            from,
            links,
        })
    }

    /// Plans, digests and sends until shutdown; a failed round is logged and retried.
    pub async fn run(self, shutdown: Shutdown) {
        let interval = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        let this = &self;
        every(interval, shutdown, || async move {
            match this.round().await {
                // A full batch: more may be waiting (a re-screening or an incident writes
                // thousands at once), so the next round starts now.
                Ok(more) => more,
                Err(e) => {
                    tracing::warn!(error = %e, "mail round failed; retrying");
                    false
                }
            }
        })
        .await;
    }

    /// One round: plan the new notices, post the digests that are due, send what is due.
    /// Returns whether a step found a full batch.
    pub async fn round(&self) -> Result<bool, StoreError> {
        let batch = self.settings.batch.max(1) as usize;
        let mut full = self.plan_notices().await? >= batch;
        if self.transport.is_some() {
            self.remind().await?;
            full |= self.mail_asks().await? >= batch;
            self.post_digests().await?;
            full |= self.send_due().await? >= batch;
        }
        self.prune().await?;
        Ok(full)
    }

    /// Forgets messages sent more than `keep_days` ago, once an hour.
    async fn prune(&self) -> Result<(), StoreError> {
        {
            let mut last = self.pruned.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < Duration::from_secs(3600)) {
                return Ok(());
            }
            *last = Some(std::time::Instant::now());
        }
        let before = Utc::now() - chrono::Duration::days(i64::from(self.settings.keep_days));
        let gone = self.store.prune_mail(before).await?;
        if gone > 0 {
            tracing::info!(
                messages = gone,
                "sent e-mail forgotten after mail.keep_days"
            );
        }
        Ok(())
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.settings.timeout_ms as i64 * 2 + 5000)
    }

    /// Plans a batch of notices into messages; returns how many notices it read.
    async fn plan_notices(&self) -> Result<usize, StoreError> {
        let due = self
            .store
            .claim_notices(Utc::now(), self.lease(), self.settings.batch)
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = due.iter().map(|n| n.id).collect();
        let mut mail: Vec<NewMail> = Vec::new();
        if self.settings.enabled {
            let people = self.store.list_people().await?;
            let delegations = self
                .store
                .delegations_on(None, Utc::now().date_naive())
                .await?;
            for notice in &due {
                match serde_json::from_str::<Notice>(&notice.payload) {
                    Ok(notice) => {
                        mail.extend(plan::plan(&notice, &people, &delegations, &self.settings))
                    }
                    Err(e) => {
                        tracing::error!(notice = notice.id, error = %e, "unreadable notice dropped")
                    }
                }
            }
        }
        self.store.plan_mail(&ids, &mail).await?;
        Ok(due.len())
    }

    /// Incidents' asks (the first and each reminder) not yet written as e-mail; returns how
    /// many it read.
    async fn mail_asks(&self) -> Result<usize, StoreError> {
        let due = self.store.asks_to_mail(self.settings.batch).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let people = self.store.list_people().await?;
        let mail: Vec<NewMail> = due
            .iter()
            .filter_map(|(incident, entry)| {
                asks::ask(
                    incident,
                    entry,
                    &people,
                    self.links.as_ref(),
                    &self.settings,
                )
            })
            .collect();
        // Those without an address are recorded too: nothing more can be done by e-mail.
        let asked: Vec<(uuid::Uuid, i32)> = due.iter().map(|(_, e)| (e.id, e.asks)).collect();
        self.store.mail_asks(&asked, &mail).await?;
        Ok(due.len())
    }

    /// Reminders for the items of each stage's queue that have waited half their stage's
    /// response time, or all of it; each is keyed by its item's entry into the stage, so it
    /// goes once whichever instance writes it first.
    async fn remind(&self) -> Result<(), StoreError> {
        if self.reminders.times.is_empty() {
            return Ok(());
        }
        {
            let mut last = self.reminded.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < self.reminders.every) {
                return Ok(());
            }
            *last = Some(std::time::Instant::now());
        }
        let now = Utc::now();
        let people = self.store.list_people().await?;
        let delegations = self.store.delegations_on(None, now.date_naive()).await?;
        let audience = plan::Audience {
            people: &people,
            delegations: &delegations,
            contact: self.reminders.contact.as_ref(),
        };
        let mut mail = Vec::new();
        for (stage, time) in &self.reminders.times {
            // The queues are short (items wait hours, not weeks): read each whole.
            let queue = self.store.escalation_queue(stage, None, 10_000).await?;
            for record in &queue {
                mail.extend(plan::reminders(
                    record,
                    stage,
                    *time,
                    now,
                    &audience,
                    &self.settings,
                ));
            }
        }
        if mail.is_empty() {
            return Ok(());
        }
        self.store.plan_mail(&[], &mail).await
    }

    /// Each person's held messages, once a day from the digest hour.
    async fn post_digests(&self) -> Result<(), StoreError> {
        let now = Utc::now();
        if now.hour() < self.settings.digest_hour_utc {
            return Ok(());
        }
        let held = self.store.held_mail().await?;
        if held.is_empty() {
            return Ok(());
        }
        let people = self.store.list_people().await?;
        for (subject, items) in held {
            // Someone who left the directory still gets what was planned for them, where and
            // in the language it was planned.
            let first = &items[0];
            let (name, recipient, language) =
                match people.iter().find(|p| p.subject.as_str() == subject) {
                    Some(p) => (p.name.as_str(), p.email.as_str(), p.language),
                    None => (
                        subject.as_str(),
                        first.recipient.as_str(),
                        Language::parse("", &first.language).unwrap_or(Language::ENGLISH),
                    ),
                };
            let letter = plan::digest_letter(name, language, &items, &self.settings);
            let digest = NewMail {
                key: format!("digest/{subject}/{}", now.date_naive()),
                request_id: None,
                recipient: recipient.to_owned(),
                person: Some(subject.clone()),
                language: language.as_str().to_owned(),
                subject: letter.subject.clone(),
                text: letter.text(),
                html: letter.html(language),
                state: MailState::Pending,
            };
            let ids: Vec<i64> = items.iter().map(|h| h.id).collect();
            self.store.post_digest(&digest, &ids).await?;
        }
        Ok(())
    }

    /// Sends up to a batch, `connections` messages at a time: each group is leased, sent
    /// at once (one connection each) and recorded together. A lease covers one send (bounded
    /// by `timeout_ms`), so a slow relay never lets another instance take over a message
    /// this one is still sending. Returns how many it sent or tried.
    async fn send_due(&self) -> Result<usize, StoreError> {
        let batch = self.settings.batch.max(1) as usize;
        let connections = self
            .settings
            .connections
            .clamp(1, self.settings.batch.max(1));
        let mut done = 0;
        while done < batch {
            let group = connections.min((batch - done) as u32);
            let due = self
                .store
                .claim_due_mail(Utc::now(), self.lease(), group)
                .await?;
            if due.is_empty() {
                break;
            }
            let sends = due.iter().map(|mail| async move {
                let result = self.send(mail).await;
                if let SendResult::RetryAt(_, why) | SendResult::GiveUp(why) = &result {
                    tracing::warn!(mail = mail.id, attempts = mail.attempts + 1, error = %why, "e-mail not sent");
                }
                SentMail {
                    id: mail.id,
                    lease: mail.lease,
                    result,
                }
            });
            let results = join_all(sends).await;
            self.store.finish_mail(&results).await?;
            done += results.len();
            if results.len() < group as usize {
                break;
            }
        }
        Ok(done)
    }

    async fn send(&self, mail: &DueMail) -> SendResult {
        let (Some(transport), Some(from)) = (&self.transport, &self.from) else {
            return SendResult::GiveUp("mail is off".into());
        };
        let message = match message(from, mail) {
            Ok(m) => m,
            Err(why) => return SendResult::GiveUp(why),
        };
        let limit = Duration::from_millis(self.settings.timeout_ms.max(1));
        let sent = match tokio::time::timeout(limit, transport.send(message)).await {
            Ok(sent) => sent.map_err(|e| (e.is_permanent(), e.to_string())),
            Err(_) => Err((
                false,
                format!("no answer within {} ms", self.settings.timeout_ms),
            )),
        };
        match sent {
            Ok(_) => SendResult::Sent,
            Err((true, e)) => SendResult::GiveUp(e),
            Err((_, e)) if mail.attempts + 1 >= self.settings.max_attempts => SendResult::GiveUp(e),
            Err((_, e)) => {
                let delay = retry_delay(
                    mail.attempts + 1,
                    chrono::Duration::milliseconds(self.settings.backoff_base_ms as i64),
                    chrono::Duration::seconds(self.settings.backoff_max_secs as i64),
                );
                SendResult::RetryAt(Utc::now() + delay, e)
            }
        }
    }
}

/// The message as sent: text and HTML alternatives, a `Message-ID` that stays the same on
/// every attempt (a relay or reader can drop a repeat), marked as automatic (RFC 3834).
fn message(from: &Mailbox, mail: &DueMail) -> Result<Message, String> {
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|e| format!("recipient {}: {e}", mail.recipient))?;
    let domain = from.email.domain().to_owned();
    let id = hex::encode(&Sha256::digest(mail.key.as_bytes())[..16]);
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{id}@{domain}>")))
        .date(mail.created_at.into())
        .header(AutoSubmitted)
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| e.to_string())
}

/// `Auto-Submitted: auto-generated`: out-of-office replies are not sent back to it.
#[derive(Clone)]
struct AutoSubmitted;

impl header::Header for AutoSubmitted {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

fn transport(settings: &MailSettings) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    crate::tls::install_tls_provider();
    let host = settings.smtp_host.as_str();
    let tls = || -> anyhow::Result<TlsParameters> {
        let mut params = TlsParameters::builder(host.to_owned());
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("mail.ca_file {}: {e}", path.display()))?;
            params = params.add_root_certificate(Certificate::from_pem(&pem)?);
        }
        Ok(params.build_rustls()?)
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(settings.smtp_port)
        .timeout(Some(Duration::from_millis(settings.timeout_ms)))
        // Connections are kept open between messages (a handshake, STARTTLS and AUTH once
        // per connection, not per message), as many as are sent at once.
        .pool_config(PoolConfig::new().max_size(settings.connections.max(1)));
    builder = match settings.tls {
        SmtpTls::Starttls => builder.tls(Tls::Required(tls()?)),
        SmtpTls::Tls => builder.tls(Tls::Wrapper(tls()?)),
        SmtpTls::None => builder.tls(Tls::None),
    };
    if !settings.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            settings.username.clone(),
            settings.password.expose_secret().to_owned(),
        ));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::domain::person::EmailAddress;

    proptest! {
        /// Every address the service accepts is one lettre (the sender) accepts too.
        #[test]
        fn accepted_addresses_are_sendable(
            local in "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[A-Za-z0-9_-]{1,10}){0,2}",
            domain in "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z]{2,6}){1,3}",
        ) {
            let raw = format!("{local}@{domain}");
            let ours = EmailAddress::parse("/email", &raw);
            prop_assert!(ours.is_ok(), "{raw}");
            prop_assert!(raw.parse::<lettre::Address>().is_ok(), "lettre refuses {raw}");
        }
    }
}
