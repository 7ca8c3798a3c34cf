//! Who is calling: bearer JWTs fully validated (signature, algorithm, exp, nbf, iss, aud) into a caller.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use claims::{ClaimMapping, Signer};
use oidc::Issuer;
use serde_json::{Map, Value};

pub use crate::domain::caller::{Caller, Role};
pub use settings::AuthSettings;

pub mod claims;
pub mod oidc;
pub mod settings;

/// Longer tokens are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Distinct tokens remembered as verified, and for how long at most: a few megabytes.
const VERIFIED_TOKENS: u64 = 10_000;
const VERIFIED_FOR: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token in the Authorization header")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub iss: String,
    /// One audience, or several (RFC 7519 section 4.1.3).
    pub aud: Value,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Verifies tokens: those of an identity provider found by OIDC discovery with its current
/// keys, the others with the keys the settings name. Each key accepts exactly one algorithm,
/// so an HS256 token can never be checked against an RSA public key.
///
/// A client sends the same token with every request, and checking its signature and parsing
/// its header and claims costs more than the rest of authentication. So a token that passed
/// every check is remembered by its exact text (signature included: any other text is a
/// miss and is checked in full). What its text proves cannot change while the keys stay the
/// same (a provider that withdraws a key makes its tokens be checked again); its time-bound
/// claims, `exp` and `nbf`, are checked again on every use.
pub struct TokenVerifier {
    keys: Vec<(Algorithm, DecodingKey, Validation)>,
    issuers: Vec<Arc<Issuer>>,
    claims: ClaimMapping,
    leeway: i64,
    verified: moka::sync::Cache<Box<str>, Arc<Verified>>,
}

/// A token that passed every check, and the window in which it stays valid.
struct Verified {
    caller: Caller,
    nbf: i64,
    exp: i64,
    /// The provider's index and key generation it was verified under, if it was one's.
    issuer: Option<(usize, u64)>,
}

/// Only the issuer, read before verification to pick the provider whose keys apply.
#[derive(Deserialize)]
struct IssuerOnly {
    #[serde(default)]
    iss: Option<String>,
}

impl TokenVerifier {
    pub fn from_settings(
        auth: &AuthSettings,
        resolve: impl Fn(&std::path::Path) -> std::path::PathBuf,
    ) -> anyhow::Result<Self> {
        let validation = |alg| {
            let mut v = Validation::new(alg);
            v.set_issuer(&[&auth.issuer]);
            v.set_audience(&[&auth.audience]);
            v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
            v.validate_nbf = true;
            v.leeway = auth.leeway_secs;
            v
        };
        let mut keys = Vec::new();
        if let Some(secret) = &auth.hs256_secret {
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                validation(Algorithm::HS256),
            ));
        }
        if let Some(file) = &auth.rs256_public_key_file {
            let pem = std::fs::read(resolve(file))
                .with_context(|| format!("reading {}", file.display()))?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .context("auth.rs256_public_key_file is not an RSA public key")?;
            keys.push((Algorithm::RS256, key, validation(Algorithm::RS256)));
        }
        if let Some(file) = &auth.es256_public_key_file {
            let pem = std::fs::read(resolve(file))
                .with_context(|| format!("reading {}", file.display()))?;
            let key = DecodingKey::from_ec_pem(&pem)
                .context("auth.es256_public_key_file is not an EC public key")?;
            keys.push((Algorithm::ES256, key, validation(Algorithm::ES256)));
        }
        let issuers = auth
            .oidc
            .iter()
            .map(|idp| Issuer::new(idp, &auth.audience).map(Arc::new))
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(
            !keys.is_empty() || !issuers.is_empty(),
            "no token verification key configured"
        );
        Ok(Self {
            keys,
            issuers,
            claims: ClaimMapping::from_settings(&auth.claims)?,
            leeway: i64::try_from(auth.leeway_secs).unwrap_or(i64::MAX),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_TOKENS)
                .time_to_live(VERIFIED_FOR)
                .build(),
        })
    }

    /// The identity providers, whose keys `Issuer::keep_fresh` keeps current.
    pub fn issuers(&self) -> &[Arc<Issuer>] {
        &self.issuers
    }

    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        self.verify_at(token, Utc::now().timestamp()).await
    }

    /// `now` applies to a remembered token; a new one is checked against the system clock.
    async fn verify_at(&self, token: &str, now: i64) -> Result<Caller, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("token too long".into()));
        }
        if let Some(known) = self.verified.get(token).filter(|k| self.still_keyed(k)) {
            // The same comparisons, and the same leeway, as the full check.
            if known.exp < now.saturating_sub(self.leeway) {
                return Err(AuthError::Expired);
            }
            if known.nbf > now.saturating_add(self.leeway) {
                return Err(AuthError::Invalid("token not valid yet".into()));
            }
            return Ok(known.caller.clone());
        }
        let verified = self.verify_in_full(token).await?;
        let caller = verified.caller.clone();
        self.verified.insert(token.into(), Arc::new(verified));
        Ok(caller)
    }

    /// Whether the key a remembered token was verified with is still the provider's, and
    /// still confirmed by a recent fetch.
    fn still_keyed(&self, known: &Verified) -> bool {
        known.issuer.is_none_or(|(i, generation)| {
            let idp = &self.issuers[i];
            idp.generation() == generation && idp.keys_fresh()
        })
    }

    /// Whether tokens signed with static keys (settings, or the development secret) are
    /// accepted beside the providers'.
    pub fn has_static_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    async fn verify_in_full(&self, token: &str) -> Result<Verified, AuthError> {
        // `alg: none` and unknown algorithms fail here: the header type has no such variant.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("malformed token".into()))?;
        // The issuer is read unverified only to choose the keys; the signature check below
        // then requires that same issuer.
        let iss = jsonwebtoken::dangerous::insecure_decode::<IssuerOnly>(token)
            .ok()
            .and_then(|data| data.claims.iss);
        let provider = self
            .issuers
            .iter()
            .enumerate()
            .find(|(_, idp)| Some(&idp.issuer) == iss.as_ref());
        let Some((index, idp)) = provider else {
            let (_, key, validation) = self
                .keys
                .iter()
                .find(|(alg, _, _)| *alg == header.alg)
                .ok_or_else(|| {
                    AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg))
                })?;
            let claims = decode(token, key, validation)?;
            return self.verified(claims, Signer::StaticKey, None);
        };
        let generation = idp.generation();
        let key = idp.key(header.kid.as_deref()).await.ok_or_else(|| {
            AuthError::Invalid(
                "no current key of the identity provider has this token's `kid`".into(),
            )
        })?;
        if key.algorithm != header.alg {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not the key's",
                header.alg
            )));
        }
        let validation = idp.validation(
            key.algorithm,
            self.claims.subject_claim(),
            u64::try_from(self.leeway).unwrap_or(0),
        );
        let claims = decode(token, &key.key, &validation)?;
        let verified = self.verified(claims, Signer::Provider, Some((index, generation)))?;
        if let Some(org) = &verified.caller.org
            && !idp.may_speak_for(org.as_str())
        {
            return Err(AuthError::Invalid(format!(
                "this identity provider may not speak for the organisation {}",
                org.as_str()
            )));
        }
        Ok(verified)
    }

    fn verified(
        &self,
        claims: Map<String, Value>,
        signer: Signer,
        issuer: Option<(usize, u64)>,
    ) -> Result<Verified, AuthError> {
        let time = |name| claims.get(name).and_then(Value::as_f64).map(|t| t as i64);
        let exp = time("exp").unwrap_or(i64::MIN);
        let mut caller = self.claims.caller(&claims, signer)?;
        caller.valid_until = exp.saturating_add(self.leeway);
        Ok(Verified {
            caller,
            nbf: time("nbf").unwrap_or(i64::MIN),
            exp,
            issuer,
        })
    }
}

fn decode(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<Map<String, Value>, AuthError> {
    jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::Invalid("token not valid yet".into()),
            ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer".into()),
            ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience".into()),
            ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
            ErrorKind::InvalidAlgorithm => AuthError::Invalid("algorithm not accepted".into()),
            ErrorKind::MissingRequiredClaim(claim) => {
                AuthError::Invalid(format!("missing claim `{claim}`"))
            }
            _ => AuthError::Invalid("malformed token".into()),
        })
}

/// Mints an HS256 token with the configured secret: for development and tests only.
pub fn issue_development_token(
    auth: &AuthSettings,
    subject: &str,
    roles: &[Role],
    org: Option<&str>,
    ttl_minutes: i64,
) -> anyhow::Result<String> {
    let secret = auth.hs256_secret.as_ref().context(
        "no auth.hs256_secret configured: development tokens need one (CLEARWAY_ENV=development)",
    )?;
    let now = Utc::now().timestamp();
    let unique: HashSet<&str> = roles.iter().map(|r| r.as_str()).collect();
    let claims = Claims {
        sub: subject.to_owned(),
        roles: unique.into_iter().map(str::to_owned).collect(),
        org: org.map(str::to_owned),
        iss: auth.issuer.clone(),
        aud: Value::String(auth.audience.clone()),
        iat: now,
        nbf: now,
        exp: now + ttl_minutes * 60,
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AuthSettings {
        AuthSettings {
            issuer: "https://issuer.test".into(),
            audience: "clearway-test".into(),
            leeway_secs: 30,
            hs256_secret: Some("a-test-secret-of-sufficient-length".into()),
            rs256_public_key_file: None,
            es256_public_key_file: None,
            dev_token_ttl_minutes: 10,
            claims: Default::default(),
            oidc: Vec::new(),
        }
    }

    fn verifier() -> TokenVerifier {
        TokenVerifier::from_settings(&settings(), |p| p.to_owned()).unwrap()
    }

    fn token() -> (String, Claims) {
        let token = issue_development_token(
            &settings(),
            "unit-1",
            &[Role::TravelUnit],
            Some("UNICEF"),
            10,
        )
        .unwrap();
        let claims = jsonwebtoken::dangerous::insecure_decode::<Claims>(&token)
            .unwrap()
            .claims;
        (token, claims)
    }

    #[tokio::test]
    async fn a_remembered_token_still_expires() {
        let (verifier, (token, claims)) = (verifier(), token());
        assert_eq!(verifier.verify(&token).await.unwrap().subject, "unit-1");
        assert!(verifier.verified.contains_key(token.as_str()));
        // Within the leeway it is still good; one second past it, it has expired.
        assert!(verifier.verify_at(&token, claims.exp + 30).await.is_ok());
        assert_eq!(
            verifier.verify_at(&token, claims.exp + 31).await,
            Err(AuthError::Expired)
        );
        assert_eq!(
            verifier.verify_at(&token, claims.nbf - 31).await,
            Err(AuthError::Invalid("token not valid yet".into()))
        );
    }

    #[tokio::test]
    async fn only_the_exact_text_is_remembered() {
        let (verifier, (token, _)) = (verifier(), token());
        verifier.verify(&token).await.unwrap();
        // The same header and claims under another signature are checked in full, and fail.
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{signed}.{first}{}", &signature[1..]);
        assert!(matches!(
            verifier.verify(&forged).await,
            Err(AuthError::Invalid(_))
        ));
        assert!(!verifier.verified.contains_key(forged.as_str()));
        // A refused token is not remembered either.
        assert!(verifier.verify("not.a.token").await.is_err());
        assert!(!verifier.verified.contains_key("not.a.token"));
    }
}
