//! Personal check-in links: an incident's ask reaches each person with a link that lets them,
//! and only them, answer for themselves in that incident, without an account. The link names
//! the roll-call entry and carries a MAC of it under the service's verification key, so
//! entry ids seen elsewhere (the board, webhooks, logs) open nothing, and nothing need be
//! stored to check it. It grants nothing else and dies with the incident.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// 128 bits: what a guesser must find, per person and incident.
const TAG_BYTES: usize = 16;

fn entry_mac(key: &[u8], entry: Uuid) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    // Keeps these tags apart from the verification links' under the same key.
    mac.update(b"clearway incident check-in v1, entry:");
    mac.update(entry.as_bytes());
    mac
}

/// The link's token for roll-call entry `entry`: `<entry>.<tag>`.
pub fn seal(key: &[u8], entry: Uuid) -> String {
    let tag = entry_mac(key, entry).finalize().into_bytes();
    format!("{entry}.{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
}

/// The entry a token names, if its tag is right (compared in constant time).
pub fn open(key: &[u8], token: &str) -> Option<Uuid> {
    let (raw, tag) = token.split_once('.')?;
    let entry = Uuid::parse_str(raw).ok()?;
    // One spelling per entry: the hyphenated one the service wrote.
    if entry.hyphenated().to_string() != raw {
        return None;
    }
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if tag.len() != TAG_BYTES {
        return None;
    }
    entry_mac(key, entry).verify_truncated_left(&tag).ok()?;
    Some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a verification key of thirty-two bytes!";

    #[test]
    fn a_link_opens_its_entry_with_its_key_only() {
        let entry = Uuid::new_v4();
        let token = seal(KEY, entry);
        assert_eq!(open(KEY, &token), Some(entry));
        assert_eq!(open(b"another key of thirty-two bytes, too", &token), None);
        let other = Uuid::new_v4();
        let (_, tag) = token.split_once('.').unwrap();
        assert_eq!(
            open(KEY, &format!("{other}.{tag}")),
            None,
            "a tag is for its entry"
        );
        assert_eq!(open(KEY, &token.to_uppercase()), None, "one spelling");
        assert_eq!(open(KEY, &format!("{token}A")), None);
        assert_eq!(open(KEY, &token[..token.len() - 1]), None);
        assert_eq!(open(KEY, "not-a-token"), None);
    }
}
