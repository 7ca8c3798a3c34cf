//! E-mail: notices written with each change, the messages planned from them, their
//! delivery and the digests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::SqliteStore;
use super::rows::{parse_ts, ts};
use crate::domain::audit::AuditDraft;
use crate::domain::notice::notice_for;
use crate::domain::request::RequestRecord;
use crate::store::mail::{
    DueMail, DueNotice, HeldMail, MailState, MailStore, MailView, NewMail, SentMail,
};
use crate::store::{RequestChange, StoreError};

/// The mail notice of each change that calls for one, in the changes' own transaction (no
/// message is lost to a crash between a change and its planning), in one statement.
pub(super) async fn enqueue_notices(
    tx: &mut SqliteConnection,
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
    sqlx::query("INSERT INTO mail_notices (payload, created_at) SELECT value, ? FROM json_each(?)")
        .bind(ts(now))
        .bind(serde_json::to_string(&notices)?)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The same, for the group writer's own connection.
pub(super) fn enqueue_notice_sync(
    conn: &rusqlite::Connection,
    record: &RequestRecord,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let Some(notice) = notice_for(record, audit, now) else {
        return Ok(());
    };
    conn.prepare_cached("INSERT INTO mail_notices (payload, created_at) VALUES (?, ?)")?
        .execute(rusqlite::params![serde_json::to_string(&notice)?, ts(now)])?;
    Ok(())
}

fn state_text(state: MailState) -> &'static str {
    match state {
        MailState::Pending => "pending",
        MailState::Held => "held",
    }
}

fn attempts(row: &SqliteRow) -> Result<u32, StoreError> {
    Ok(row
        .try_get::<i64, _>("attempts")?
        .try_into()
        .unwrap_or(u32::MAX))
}

fn uuid_column(row: &SqliteRow, name: &str) -> Result<Option<Uuid>, StoreError> {
    row.try_get::<Option<String>, _>(name)?
        .map(|raw| Uuid::parse_str(&raw).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

pub(super) async fn insert_mail(
    tx: &mut SqliteConnection,
    mail: &NewMail,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO mail_messages (key, request_id, recipient, person, language, subject, text_body, html_body, \
         status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&mail.key)
    .bind(mail.request_id.map(|id| id.to_string()))
    .bind(&mail.recipient)
    .bind(&mail.person)
    .bind(&mail.language)
    .bind(&mail.subject)
    .bind(&mail.text)
    .bind(&mail.html)
    .bind(state_text(mail.state))
    .bind(ts(now))
    .bind(ts(now))
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

#[async_trait]
impl MailStore for SqliteStore {
    #[tracing::instrument(name = "store.claim_notices", level = "debug", skip_all)]
    async fn claim_notices(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<DueNotice>, StoreError> {
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "UPDATE mail_notices SET locked_until = ?3 WHERE id IN ( \
               SELECT id FROM mail_notices WHERE locked_until IS NULL OR locked_until <= ?1 ORDER BY id LIMIT ?2) \
             RETURNING id, payload",
        )
        .bind(ts(now))
        .bind(i64::from(limit))
        .bind(ts(now + lease))
        .fetch_all(&mut *tx)
        .await?;
        turn.commit(tx).await?;
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
        let turn = self.turn().await?;
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        for m in mail {
            insert_mail(&mut tx, m, now).await?;
        }
        for id in notices {
            sqlx::query("DELETE FROM mail_notices WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        turn.commit(tx).await
    }

    #[tracing::instrument(name = "store.claim_due_mail", level = "debug", skip_all)]
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<DueMail>, StoreError> {
        let turn = self.turn().await?;
        let until = now + lease;
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "UPDATE mail_messages SET locked_until = ?3 WHERE id IN ( \
               SELECT id FROM mail_messages WHERE status = 'pending' AND next_attempt_at <= ?1 \
               AND (locked_until IS NULL OR locked_until <= ?1) ORDER BY id LIMIT ?2) \
             RETURNING id, key, attempts, recipient, subject, text_body, html_body, created_at",
        )
        .bind(ts(now))
        .bind(i64::from(limit))
        .bind(ts(until))
        .fetch_all(&mut *tx)
        .await?;
        turn.commit(tx).await?;
        rows.iter()
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
                    created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
                })
            })
            .collect()
    }

    #[tracing::instrument(name = "store.finish_mail", level = "debug", skip_all)]
    async fn finish_mail(&self, results: &[SentMail]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        // The round's results as one JSON array: one statement, one commit.
        let rows = results
            .iter()
            .map(|sent| {
                let (status, next, error) = sent.outcome();
                serde_json::json!([sent.id, ts(sent.lease), status, next.map(ts), error])
            })
            .collect::<Vec<_>>();
        let turn = self.turn().await?;
        sqlx::query(
            "UPDATE mail_messages AS m SET status = t.status, attempts = m.attempts + 1, \
             next_attempt_at = COALESCE(t.next, m.next_attempt_at), last_error = t.error, locked_until = NULL, \
             sent_at = CASE WHEN t.status = 'sent' THEN ?2 ELSE m.sent_at END \
             FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS lease, \
                          json_extract(value, '$[2]') AS status, json_extract(value, '$[3]') AS next, \
                          json_extract(value, '$[4]') AS error FROM json_each(?1)) AS t \
             WHERE m.id = t.id AND m.locked_until = t.lease",
        )
        .bind(serde_json::to_string(&rows)?)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(|e| turn.judge(e))?;
        Ok(())
    }

    #[tracing::instrument(name = "store.held_mail", level = "debug", skip_all)]
    async fn held_mail(&self) -> Result<Vec<(String, Vec<HeldMail>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, person, recipient, language, request_id, subject, created_at FROM mail_messages \
             WHERE status = 'held' ORDER BY person, id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(String, Vec<HeldMail>)> = Vec::new();
        for row in &rows {
            let person: Option<String> = row.try_get("person")?;
            let Some(person) = person else { continue };
            let held = HeldMail {
                id: row.try_get("id")?,
                recipient: row.try_get("recipient")?,
                language: row.try_get("language")?,
                request_id: uuid_column(row, "request_id")?,
                subject: row.try_get("subject")?,
                created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
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
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        if !insert_mail(&mut tx, digest, Utc::now()).await? {
            return Ok(false);
        }
        for id in held {
            sqlx::query(
                "UPDATE mail_messages SET status = 'digested' WHERE id = ? AND status = 'held'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        turn.commit(tx).await?;
        Ok(true)
    }

    #[tracing::instrument(name = "store.prune_mail", level = "debug", skip_all)]
    async fn prune_mail(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let turn = self.turn().await?;
        let done = sqlx::query(
            // A reminder's key is what stops it being sent again: kept while its request waits.
            "DELETE FROM mail_messages WHERE status IN ('sent', 'digested') AND created_at < ? \
             AND NOT (key LIKE 'reminder/%' AND request_id IN \
                      (SELECT id FROM clearance_requests WHERE status = 'escalated'))",
        )
        .bind(ts(before))
        .execute(&self.pool)
        .await
        .map_err(|e| turn.judge(e))?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(name = "store.list_mail", level = "debug", skip_all)]
    async fn list_mail(
        &self,
        request_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<MailView>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM mail_messages WHERE ?1 IS NULL OR request_id = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .bind(request_id.map(|id| id.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MailView {
                    id: row.try_get("id")?,
                    request_id: uuid_column(row, "request_id")?,
                    recipient: row.try_get("recipient")?,
                    person: row.try_get("person")?,
                    language: row.try_get("language")?,
                    subject: row.try_get("subject")?,
                    status: row.try_get("status")?,
                    attempts: attempts(row)?,
                    last_error: row.try_get("last_error")?,
                    created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
                    sent_at: row
                        .try_get::<Option<String>, _>("sent_at")?
                        .map(|raw| parse_ts(&raw))
                        .transpose()?,
                })
            })
            .collect()
    }
}
