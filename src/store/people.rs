//! The people directory: whom the service writes to.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::person::Person;

#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Creates or replaces the entry of `person.subject`; true if it was new.
    async fn put_person(&self, person: &Person) -> Result<bool, StoreError>;
    async fn get_person(&self, subject: &str) -> Result<Option<Person>, StoreError>;
    /// Everyone, by subject.
    async fn list_people(&self) -> Result<Vec<Person>, StoreError>;
    /// Removes the entry; false if there was none.
    async fn delete_person(&self, subject: &str) -> Result<bool, StoreError>;
}
