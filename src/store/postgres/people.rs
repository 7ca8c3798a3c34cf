//! The people directory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::domain::person::{EmailAddress, Language, Person};
use crate::domain::request::{OrgId, TravellerId};
use crate::store::{PeopleStore, StoreError};

const COLUMNS: &str = "subject, name, email, language, stages::text AS stages, org, notifications, updated_at, updated_by";

fn person_from_row(row: &PgRow) -> Result<Person, StoreError> {
    let corrupt = |what: &str, why: String| StoreError::Corrupt(format!("person {what}: {why}"));
    let subject: String = row.try_get("subject")?;
    let email: String = row.try_get("email")?;
    let language: String = row.try_get("language")?;
    let org: Option<String> = row.try_get("org")?;
    let notifications: String = row.try_get("notifications")?;
    Ok(Person {
        subject: TravellerId::parse("", &subject).map_err(|e| corrupt("subject", e.detail))?,
        name: row.try_get("name")?,
        email: EmailAddress::parse("", &email).map_err(|e| corrupt("email", e.detail))?,
        language: Language::parse("", &language).map_err(|e| corrupt("language", e.detail))?,
        stages: serde_json::from_str(&row.try_get::<String, _>("stages")?)?,
        org: org
            .map(|o| OrgId::parse("", &o).map_err(|e| corrupt("org", e.detail)))
            .transpose()?,
        notifications: notifications
            .parse()
            .map_err(|e| corrupt("notifications", e))?,
        updated_at: row.try_get::<DateTime<Utc>, _>("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

#[async_trait]
impl PeopleStore for PostgresStore {
    #[tracing::instrument(name = "store.put_person", level = "debug", skip_all)]
    async fn put_person(&self, p: &Person) -> Result<bool, StoreError> {
        // `xmax = 0` only on a row this statement inserted.
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO people (subject, name, email, language, stages, org, notifications, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9) \
             ON CONFLICT (subject) DO UPDATE SET name = excluded.name, email = excluded.email, \
             language = excluded.language, stages = excluded.stages, org = excluded.org, \
             notifications = excluded.notifications, updated_at = excluded.updated_at, updated_by = excluded.updated_by \
             RETURNING (xmax = 0)",
        )
        .bind(p.subject.as_str())
        .bind(&p.name)
        .bind(p.email.as_str())
        .bind(p.language.as_str())
        .bind(serde_json::to_string(&p.stages)?)
        .bind(p.org.as_ref().map(OrgId::as_str))
        .bind(p.notifications.as_str())
        .bind(p.updated_at)
        .bind(&p.updated_by)
        .fetch_one(&self.pool)
        .await?;
        Ok(inserted)
    }

    #[tracing::instrument(name = "store.get_person", level = "debug", skip_all)]
    async fn get_person(&self, subject: &str) -> Result<Option<Person>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM people WHERE subject = $1"))
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(person_from_row)
            .transpose()
    }

    #[tracing::instrument(name = "store.list_people", level = "debug", skip_all)]
    async fn list_people(&self) -> Result<Vec<Person>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM people ORDER BY subject COLLATE \"C\""
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(person_from_row)
        .collect()
    }

    #[tracing::instrument(name = "store.delete_person", level = "debug", skip_all)]
    async fn delete_person(&self, subject: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM people WHERE subject = $1")
            .bind(subject)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
