//! The people directory: admins keep it (who approves which stage, at which address, in
//! which language); each person reads their own entry and sets how often they are written to.

use std::sync::Arc;

use chrono::Utc;

use super::AppError;
use super::access::{Action, permits};
use crate::domain::caller::Caller;
use crate::domain::person::{EmailAddress, Language, Notifications, Person};
use crate::domain::request::{OrgId, TravellerId};
use crate::store::Store;

/// An entry as an admin writes it, in the types of the domain.
pub struct PersonDraft {
    pub name: String,
    pub email: EmailAddress,
    pub language: Language,
    pub stages: Vec<String>,
    pub follows_org: Option<OrgId>,
    pub notifications: Notifications,
}

pub struct People {
    store: Arc<dyn Store>,
    /// The approval chains' stages, which entries may name.
    stages: Vec<String>,
}

impl People {
    pub fn new(store: Arc<dyn Store>, stages: Vec<String>) -> Self {
        Self { store, stages }
    }

    /// Creates or replaces `subject`'s entry; true if it is new. Admins only.
    pub async fn put(
        &self,
        caller: &Caller,
        subject: &str,
        draft: PersonDraft,
    ) -> Result<(Person, bool), AppError> {
        permits(caller, Action::ManagePeople)?;
        let subject = TravellerId::parse("subject", subject).map_err(|_| AppError::not_found())?;
        let known: Vec<&str> = self.stages.iter().map(String::as_str).collect();
        let person = Person {
            subject,
            name: Person::check_name(&draft.name)?,
            email: draft.email,
            language: draft.language,
            stages: Person::check_stages(&draft.stages, &known)?,
            follows_org: draft.follows_org,
            notifications: draft.notifications,
            updated_at: Utc::now(),
            updated_by: caller.subject.clone(),
        };
        let created = self.store.put_person(&person).await?;
        Ok((person, created))
    }

    /// Everyone, or those who decide `stage`. Admins only.
    pub async fn list(
        &self,
        caller: &Caller,
        stage: Option<&str>,
    ) -> Result<Vec<Person>, AppError> {
        permits(caller, Action::ManagePeople)?;
        if let Some(stage) = stage
            && !self.stages.iter().any(|s| s == stage)
        {
            return Err(AppError::invalid_query(
                "stage",
                format!(
                    "not a stage of the approval chains; they are: {}",
                    self.stages.join(", ")
                ),
            ));
        }
        let mut people = self.store.list_people().await?;
        if let Some(stage) = stage {
            people.retain(|p| p.decides(stage));
        }
        Ok(people)
    }

    /// An entry, for an admin or the person it describes; anyone else finds nothing.
    pub async fn get(&self, caller: &Caller, subject: &str) -> Result<Person, AppError> {
        if !self.may_read(caller, subject) {
            return Err(AppError::not_found());
        }
        self.store
            .get_person(subject)
            .await?
            .ok_or_else(AppError::not_found)
    }

    /// How often and in which language the person is written to: theirs to set, or an admin's.
    pub async fn set_preferences(
        &self,
        caller: &Caller,
        subject: &str,
        notifications: Option<Notifications>,
        language: Option<Language>,
    ) -> Result<Person, AppError> {
        let mut person = self.get(caller, subject).await?;
        if let Some(n) = notifications {
            person.notifications = n;
        }
        if let Some(l) = language {
            person.language = l;
        }
        person.updated_at = Utc::now();
        person.updated_by = caller.subject.clone();
        self.store.put_person(&person).await?;
        Ok(person)
    }

    /// Removes an entry. Admins only.
    pub async fn remove(&self, caller: &Caller, subject: &str) -> Result<(), AppError> {
        permits(caller, Action::ManagePeople)?;
        if self.store.delete_person(subject).await? {
            Ok(())
        } else {
            Err(AppError::not_found())
        }
    }

    /// The latest messages, optionally about one request. Admins only.
    pub async fn mail(
        &self,
        request_id: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<crate::store::mail::MailView>, AppError> {
        Ok(self.store.list_mail(request_id, limit).await?)
    }

    fn may_read(&self, caller: &Caller, subject: &str) -> bool {
        permits(caller, Action::ManagePeople).is_ok() || caller.subject == subject
    }
}
