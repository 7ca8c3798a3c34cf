//! E-mail: notices written with each change, the messages planned from them, their
//! delivery and the digests. Several instances share these tables: every lease is taken
//! with `FOR UPDATE SKIP LOCKED`, and a message's unique key stops a second planning.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{PostgresStore, commit};
use crate::domain::notice::notice_for;
use crate::store::mail::{
    DueMail, DueNotice, HeldMail, MailState, MailStore, MailView, NewMail, SentMail,
};
use crate::store::{RequestChange, StoreError};

/// The mail notice of each change that calls for one, in the changes' own transaction (no
/// message is lost to a crash between a change and its planning), in one statement.
pub(super) async fn enqueue_notices(
    tx: &mut PgConnection,
    changes: &[RequestChange<'_>],
) -> Result<(), StoreError> {
    let now = Utc::now();
    let notices = changes
        .iter()
        .filter_map(|c| notice_for(c.record, &c.audit, now))
        .map(|n| serde_json::to_string(&n))
        .collect::<Result<Vec<_>, _>>()?;
    if notices.is_empty() {
        return Ok(());
    }
    sqlx::query("INSERT INTO mail_notices (payload, created_at) SELECT unnest($1::text[]), $2")
        .bind(&notices)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn state_text(state: MailState) -> &'static str {
    match state {
        MailState::Pending => "pending",
        MailState::Held => "held",
    }
}

fn attempts(row: &PgRow) -> Result<u32, StoreError> {
    Ok(row
        .try_get::<i32, _>("attempts")?
        .try_into()
        .unwrap_or(u32::MAX))
}

pub(super) async fn insert_mail(
    tx: &mut PgConnection,
    mail: &NewMail,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO mail_messages (key, request_id, recipient, person, language, subject, text_body, html_body, \
         status, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(&mail.key)
    .bind(mail.request_id)
    .bind(&mail.recipient)
    .bind(&mail.person)
    .bind(&mail.language)
    .bind(&mail.subject)
    .bind(&mail.text)
    .bind(&mail.html)
    .bind(state_text(mail.state))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

#[async_trait]
impl MailStore for PostgresStore {
    #[tracing::instrument(name = "store.claim_notices", level = "debug", skip_all)]
    async fn claim_notices(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<DueNotice>, StoreError> {
        let rows = sqlx::query(
            "UPDATE mail_notices SET locked_until = $3 WHERE id IN ( \
               SELECT id FROM mail_notices WHERE locked_until IS NULL OR locked_until <= $1 \
               ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING id, payload",
        )
        .bind(now)
        .bind(i64::from(limit))
        .bind(now + lease)
        .fetch_all(&self.pool)
        .await?;
        let mut due: Vec<DueNotice> = rows
            .iter()
            .map(|row| {
                Ok(DueNotice {
                    id: row.try_get("id")?,
                    payload: row.try_get("payload")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        due.sort_by_key(|n| n.id);
        Ok(due)
    }

    #[tracing::instrument(name = "store.plan_mail", level = "debug", skip_all)]
    async fn plan_mail(&self, notices: &[i64], mail: &[NewMail]) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        for m in mail {
            insert_mail(&mut tx, m, now).await?;
        }
        sqlx::query("DELETE FROM mail_notices WHERE id = ANY($1)")
            .bind(notices)
            .execute(&mut *tx)
            .await?;
        commit(tx).await
    }

    #[tracing::instrument(name = "store.claim_due_mail", level = "debug", skip_all)]
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<DueMail>, StoreError> {
        // Microseconds, as the column keeps them: the lease compares equal when finished.
        let until = (now + lease).trunc_subsecs(6);
        let rows = sqlx::query(
            "UPDATE mail_messages SET locked_until = $3 WHERE id IN ( \
               SELECT id FROM mail_messages WHERE status = 'pending' AND next_attempt_at <= $1 \
               AND (locked_until IS NULL OR locked_until <= $1) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING id, key, attempts, recipient, subject, text_body, html_body, created_at",
        )
        .bind(now)
        .bind(i64::from(limit))
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        let mut due: Vec<DueMail> = rows
            .iter()
            .map(|row| {
                Ok(DueMail {
                    id: row.try_get("id")?,
                    lease: until,
                    key: row.try_get("key")?,
                    attempts: attempts(row)?,
                    recipient: row.try_get("recipient")?,
                    subject: row.try_get("subject")?,
                    text: row.try_get("text_body")?,
                    html: row.try_get("html_body")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        due.sort_by_key(|m| m.id);
        Ok(due)
    }

    #[tracing::instrument(name = "store.finish_mail", level = "debug", skip_all)]
    async fn finish_mail(&self, results: &[SentMail]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(results.len());
        let mut leases = Vec::with_capacity(results.len());
        let mut statuses = Vec::with_capacity(results.len());
        let mut nexts = Vec::with_capacity(results.len());
        let mut errors = Vec::with_capacity(results.len());
        for sent in results {
            let (status, next, error) = sent.outcome();
            ids.push(sent.id);
            leases.push(sent.lease);
            statuses.push(status);
            nexts.push(next);
            errors.push(error);
        }
        // The round's results as columns of arrays: one statement, one commit.
        sqlx::query(
            "UPDATE mail_messages AS m SET status = t.status, attempts = m.attempts + 1, \
             next_attempt_at = COALESCE(t.next, m.next_attempt_at), last_error = t.error, locked_until = NULL, \
             sent_at = CASE WHEN t.status = 'sent' THEN now() ELSE m.sent_at END \
             FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::timestamptz[], $5::text[]) \
               AS t(id, lease, status, next, error) \
             WHERE m.id = t.id AND m.locked_until = t.lease",
        )
        .bind(&ids)
        .bind(&leases)
        .bind(&statuses)
        .bind(&nexts)
        .bind(&errors)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.held_mail", level = "debug", skip_all)]
    async fn held_mail(&self) -> Result<Vec<(String, Vec<HeldMail>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, person, recipient, language, request_id, subject, created_at FROM mail_messages \
             WHERE status = 'held' AND person IS NOT NULL ORDER BY person, id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(String, Vec<HeldMail>)> = Vec::new();
        for row in &rows {
            let person: String = row.try_get("person")?;
            let held = HeldMail {
                id: row.try_get("id")?,
                recipient: row.try_get("recipient")?,
                language: row.try_get("language")?,
                request_id: row.try_get::<Option<Uuid>, _>("request_id")?,
                subject: row.try_get("subject")?,
                created_at: row.try_get("created_at")?,
            };
            match out.last_mut() {
                Some((p, items)) if *p == person => items.push(held),
                _ => out.push((person, vec![held])),
            }
        }
        Ok(out)
    }

    #[tracing::instrument(name = "store.post_digest", level = "debug", skip_all)]
    async fn post_digest(&self, digest: &NewMail, held: &[i64]) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !insert_mail(&mut tx, digest, Utc::now()).await? {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE mail_messages SET status = 'digested' WHERE id = ANY($1) AND status = 'held'",
        )
        .bind(held)
        .execute(&mut *tx)
        .await?;
        commit(tx).await?;
        Ok(true)
    }

    #[tracing::instrument(name = "store.prune_mail", level = "debug", skip_all)]
    async fn prune_mail(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            // A reminder's key is what stops it being sent again: kept while its request waits.
            "DELETE FROM mail_messages WHERE status IN ('sent', 'digested') AND created_at < $1 \
             AND NOT (key LIKE 'reminder/%' AND request_id IN \
                      (SELECT id FROM clearance_requests WHERE status = 'escalated'))",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(name = "store.list_mail", level = "debug", skip_all)]
    async fn list_mail(
        &self,
        request_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<MailView>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM mail_messages WHERE $1::uuid IS NULL OR request_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(request_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MailView {
                    id: row.try_get("id")?,
                    request_id: row.try_get("request_id")?,
                    recipient: row.try_get("recipient")?,
                    person: row.try_get("person")?,
                    language: row.try_get("language")?,
                    subject: row.try_get("subject")?,
                    status: row.try_get("status")?,
                    attempts: attempts(row)?,
                    last_error: row.try_get("last_error")?,
                    created_at: row.try_get("created_at")?,
                    sent_at: row.try_get("sent_at")?,
                })
            })
            .collect()
    }
}
