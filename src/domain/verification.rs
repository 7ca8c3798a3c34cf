//! Printed clearances carry a link that anyone holding the paper (a checkpoint, a driver, a
//! receiving office) can open without an account, to see whether the clearance still holds.
//! The link names the request and carries a MAC of its id under the service's verification
//! key, so it cannot be made for a request one was not given, and ids seen elsewhere (logs,
//! webhooks) open nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// 128 bits of the HMAC-SHA256 tag: what a guesser must find, per request.
const TAG_BYTES: usize = 16;
/// Keeps these tags apart from any other MAC the same key might be used for.
const CONTEXT: &[u8] = b"clearway clearance verification v1:";

fn mac(key: &[u8], id: Uuid) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(CONTEXT);
    mac.update(id.as_bytes());
    mac
}

/// The link's token for request `id`: `<id>.<tag>`, URL-safe.
pub fn seal(key: &[u8], id: Uuid) -> String {
    let tag = mac(key, id).finalize().into_bytes();
    format!("{id}.{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
}

/// The request a token names, if its tag is right (compared in constant time).
pub fn open(key: &[u8], token: &str) -> Option<Uuid> {
    let (raw, tag) = token.split_once('.')?;
    let id = Uuid::parse_str(raw).ok()?;
    // A hyphenated id only: the same request has one token, not one per spelling.
    if id.hyphenated().to_string() != raw {
        return None;
    }
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if tag.len() != TAG_BYTES {
        return None;
    }
    mac(key, id).verify_truncated_left(&tag).ok()?;
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a verification key of thirty-two bytes!";

    #[test]
    fn a_sealed_id_opens_with_its_key_only() {
        let id = Uuid::now_v7();
        let token = seal(KEY, id);
        assert_eq!(open(KEY, &token), Some(id));
        assert_eq!(open(b"another key of thirty-two bytes!!", &token), None);
    }

    #[test]
    fn a_changed_token_opens_nothing() {
        let id = Uuid::now_v7();
        let token = seal(KEY, id);
        let other = Uuid::now_v7();
        let (_, tag) = token.split_once('.').unwrap();
        for forged in [
            format!("{other}.{tag}"),
            format!("{id}.{}", &tag[1..]),
            format!("{id}.{tag}A"),
            format!("{}.{tag}", id.simple()),
            format!("{}.{tag}", id.hyphenated().to_string().to_uppercase()),
            id.to_string(),
            format!("{id}."),
            String::new(),
            ".".into(),
        ] {
            assert_eq!(open(KEY, &forged), None, "{forged}");
        }
    }
}
