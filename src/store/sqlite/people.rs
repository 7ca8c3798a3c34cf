//! The people directory.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::rows::{parse_ts, ts};
use crate::domain::person::Person;
use crate::domain::request::OrgId;
use crate::store::encoding::{PersonColumns, person};
use crate::store::{PeopleStore, StoreError};

fn person_from_row(row: &SqliteRow) -> Result<Person, StoreError> {
    person(PersonColumns {
        subject: row.try_get("subject")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        language: row.try_get("language")?,
        stages: row.try_get("stages")?,
        org: row.try_get("org")?,
        notifications: row.try_get("notifications")?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
        updated_by: row.try_get("updated_by")?,
    })
}

#[async_trait]
impl PeopleStore for SqliteStore {
    #[tracing::instrument(name = "store.put_person", level = "debug", skip_all)]
    async fn put_person(&self, p: &Person) -> Result<bool, StoreError> {
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        let existed: Option<i64> = sqlx::query_scalar("SELECT 1 FROM people WHERE subject = ?")
            .bind(p.subject.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO people (subject, name, email, language, stages, org, notifications, updated_at, updated_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (subject) DO UPDATE SET name = excluded.name, email = excluded.email, \
             language = excluded.language, stages = excluded.stages, org = excluded.org, \
             notifications = excluded.notifications, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(p.subject.as_str())
        .bind(&p.name)
        .bind(p.email.as_str())
        .bind(p.language.as_str())
        .bind(serde_json::to_string(&p.stages)?)
        .bind(p.follows_org.as_ref().map(OrgId::as_str))
        .bind(p.notifications.as_str())
        .bind(ts(p.updated_at))
        .bind(&p.updated_by)
        .execute(&mut *tx)
        .await?;
        turn.commit(tx).await?;
        Ok(existed.is_none())
    }

    #[tracing::instrument(name = "store.get_person", level = "debug", skip_all)]
    async fn get_person(&self, subject: &str) -> Result<Option<Person>, StoreError> {
        sqlx::query("SELECT * FROM people WHERE subject = ?")
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(person_from_row)
            .transpose()
    }

    #[tracing::instrument(name = "store.list_people", level = "debug", skip_all)]
    async fn list_people(&self) -> Result<Vec<Person>, StoreError> {
        sqlx::query("SELECT * FROM people ORDER BY subject")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(person_from_row)
            .collect()
    }

    #[tracing::instrument(name = "store.delete_person", level = "debug", skip_all)]
    async fn delete_person(&self, subject: &str) -> Result<bool, StoreError> {
        let turn = self.turn().await?;
        let done = sqlx::query("DELETE FROM people WHERE subject = ?")
            .bind(subject)
            .execute(&self.pool)
            .await
            .map_err(|e| turn.judge(e))?;
        Ok(done.rows_affected() > 0)
    }
}
