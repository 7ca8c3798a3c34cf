//! Printed clearances carry a link that anyone holding the paper (a checkpoint, a driver, a
//! receiving office) can open without an account, to see whether the clearance still holds.
//! The link names the request and carries two MACs under the service's verification key:
//! one of the id, so it cannot be made for a request one was not given and ids seen elsewhere
//! (logs, webhooks) open nothing; one of the itinerary as printed, so a paper whose request
//! was amended since (held, changed, cleared again) is told apart from the current one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use super::itinerary::Leg;

/// 128 bits of HMAC-SHA256: what a guesser must find, per request.
const ID_TAG_BYTES: usize = 16;
/// 64 bits: only tells an itinerary changed; the id's tag is the authority.
const LEGS_TAG_BYTES: usize = 8;

fn mac(key: &[u8], context: &[u8], id: Uuid) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    // Keeps these tags apart from each other and from any other MAC under the same key.
    mac.update(context);
    mac.update(id.as_bytes());
    mac
}

fn id_mac(key: &[u8], id: Uuid) -> Hmac<Sha256> {
    mac(key, b"clearway clearance verification v1, id:", id)
}

fn legs_mac(key: &[u8], id: Uuid, legs: &[Leg]) -> Hmac<Sha256> {
    let mut mac = mac(key, b"clearway clearance verification v1, legs:", id);
    for leg in legs {
        // Fixed-width dates and a separator no area code contains: one encoding per itinerary.
        mac.update(format!("{}|{}|{};", leg.area, leg.arrival, leg.departure).as_bytes());
    }
    mac
}

/// The link's token for request `id` with itinerary `legs`: `<id>.<id tag>.<legs tag>`.
pub fn seal(key: &[u8], id: Uuid, legs: &[Leg]) -> String {
    let id_tag = id_mac(key, id).finalize().into_bytes();
    let legs_tag = legs_mac(key, id, legs).finalize().into_bytes();
    format!(
        "{id}.{}.{}",
        URL_SAFE_NO_PAD.encode(&id_tag[..ID_TAG_BYTES]),
        URL_SAFE_NO_PAD.encode(&legs_tag[..LEGS_TAG_BYTES])
    )
}

/// A token this service made: the request it names, and what it says of the itinerary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub id: Uuid,
    legs_tag: Vec<u8>,
}

impl Opened {
    /// Whether `legs` is the itinerary the token was made for (compared in constant time).
    pub fn printed_with(&self, key: &[u8], legs: &[Leg]) -> bool {
        legs_mac(key, self.id, legs)
            .verify_truncated_left(&self.legs_tag)
            .is_ok()
    }
}

/// The request a token names, if its id tag is right (compared in constant time); `None`
/// for anything else, however close.
pub fn open(key: &[u8], token: &str) -> Option<Opened> {
    let mut parts = token.split('.');
    let (raw, id_tag, legs_tag) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let id = Uuid::parse_str(raw).ok()?;
    // A hyphenated id only: the same request has one token, not one per spelling.
    if id.hyphenated().to_string() != raw {
        return None;
    }
    let id_tag = URL_SAFE_NO_PAD.decode(id_tag).ok()?;
    let legs_tag = URL_SAFE_NO_PAD.decode(legs_tag).ok()?;
    if id_tag.len() != ID_TAG_BYTES || legs_tag.len() != LEGS_TAG_BYTES {
        return None;
    }
    id_mac(key, id).verify_truncated_left(&id_tag).ok()?;
    Some(Opened { id, legs_tag })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::area::AreaCode;
    use chrono::NaiveDate;

    const KEY: &[u8] = b"a verification key of thirty-two bytes!";

    fn legs(departure: u32) -> Vec<Leg> {
        let day = |d| NaiveDate::from_ymd_opt(2027, 3, d).unwrap();
        vec![Leg::stay(
            AreaCode::parse("", "SOM-MOG").unwrap(),
            day(2),
            day(departure),
        )]
    }

    #[test]
    fn a_sealed_id_opens_with_its_key_only_and_knows_its_itinerary() {
        let id = Uuid::now_v7();
        let token = seal(KEY, id, &legs(9));
        let opened = open(KEY, &token).expect("its own token opens");
        assert_eq!(opened.id, id);
        assert!(opened.printed_with(KEY, &legs(9)));
        assert!(
            !opened.printed_with(KEY, &legs(10)),
            "an amended itinerary passes"
        );
        assert_eq!(open(b"another key of thirty-two bytes!!", &token), None);
    }

    #[test]
    fn a_changed_token_opens_nothing() {
        let id = Uuid::now_v7();
        let token = seal(KEY, id, &legs(9));
        let other = Uuid::now_v7();
        let (_, tags) = token.split_once('.').unwrap();
        let (id_tag, legs_tag) = tags.split_once('.').unwrap();
        for forged in [
            format!("{other}.{tags}"),
            format!("{id}.{}.{legs_tag}", &id_tag[1..]),
            format!("{id}.{id_tag}A.{legs_tag}"),
            format!("{id}.{id_tag}"),
            format!("{id}.{tags}.x"),
            format!("{}.{tags}", id.simple()),
            format!("{}.{tags}", id.hyphenated().to_string().to_uppercase()),
            id.to_string(),
            String::new(),
            "..".into(),
        ] {
            assert_eq!(open(KEY, &forged), None, "{forged}");
        }
    }
}
