//! The people directory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::domain::person::Person;
use crate::domain::request::OrgId;
use crate::store::encoding::{PersonColumns, person};
use crate::store::{PeopleStore, StoreError};

const COLUMNS: &str = "subject, name, email, language, stages::text AS stages, org, notifications, updated_at, updated_by";

fn person_from_row(row: &PgRow) -> Result<Person, StoreError> {
    person(PersonColumns {
        subject: row.try_get("subject")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        language: row.try_get("language")?,
        stages: row.try_get("stages")?,
        org: row.try_get("org")?,
        notifications: row.try_get("notifications")?,
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
        .bind(p.follows_org.as_ref().map(OrgId::as_str))
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
