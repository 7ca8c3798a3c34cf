//! From a verified token's claims to a caller: which claim names the subject, the
//! organisation and the roles, and how an identity provider's role or group names map to
//! clearway's. Pure: no keys, no clock.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::settings::ClaimSettings;
use super::{AuthError, Caller, Role};
use crate::domain::request::OrgId;

/// Who signed a token, which says how its role names are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// A static key or the development secret: the token names clearway's roles, and an
    /// unknown name (a typo in a hand-made token) makes it invalid.
    StaticKey,
    /// An identity provider (OIDC): names go through `role_map` when there is one; names
    /// neither mapped nor clearway's are the provider's own (Keycloak's `offline_access`,
    /// Entra ID's roles for other apps) and grant nothing here.
    Provider,
}

#[derive(Debug, Clone)]
pub struct ClaimMapping {
    subject: String,
    org: String,
    roles: Vec<String>,
    /// For providers' tokens. Empty: the roles claims hold clearway's own names. Otherwise
    /// only these names count, so an IdP role that happens to be called `admin` grants
    /// nothing unless mapped.
    role_map: HashMap<String, Role>,
}

impl ClaimMapping {
    pub fn from_settings(settings: &ClaimSettings) -> anyhow::Result<Self> {
        let mut role_map = HashMap::new();
        for (idp_name, ours) in &settings.role_map {
            let role = ours
                .parse::<Role>()
                .map_err(|e| anyhow::anyhow!("auth.claims.role_map.{idp_name}: {e}"))?;
            role_map.insert(idp_name.clone(), role);
        }
        anyhow::ensure!(
            !settings.subject.is_empty() && !settings.org.is_empty(),
            "auth.claims.subject and auth.claims.org must name a claim"
        );
        Ok(Self {
            subject: settings.subject.clone(),
            org: settings.org.clone(),
            roles: settings.roles.clone(),
            role_map,
        })
    }

    /// The claim that names the subject (`sub` unless configured otherwise).
    pub fn subject_claim(&self) -> &str {
        &self.subject
    }

    pub fn caller(&self, claims: &Map<String, Value>, signer: Signer) -> Result<Caller, AuthError> {
        let subject = claim(claims, &self.subject)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if subject.is_empty() || subject.len() > 128 || subject.chars().any(char::is_control) {
            return Err(AuthError::Invalid(format!(
                "missing or malformed `{}`",
                self.subject
            )));
        }
        let mut roles = Vec::new();
        for name in self.roles.iter().flat_map(|c| names(claim(claims, c))) {
            let mapped = signer == Signer::Provider && !self.role_map.is_empty();
            let role = if mapped {
                self.role_map.get(name).copied()
            } else {
                name.parse::<Role>().ok()
            };
            match (role, signer) {
                (Some(role), _) if !roles.contains(&role) => roles.push(role),
                (Some(_), _) | (None, Signer::Provider) => {}
                (None, Signer::StaticKey) => {
                    return Err(AuthError::Invalid(format!("unknown role `{name}`")));
                }
            }
        }
        let org = match claim(claims, &self.org) {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_str()
                    .and_then(|o| OrgId::parse("org", o).ok())
                    .ok_or_else(|| AuthError::Invalid(format!("malformed `{}`", self.org)))?,
            ),
        };
        Ok(Caller {
            subject: subject.to_owned(),
            roles,
            org,
            // Set from `exp` by the verifier.
            valid_until: i64::MAX,
        })
    }
}

/// A claim by its name, or by a dotted path into nested objects (Keycloak's
/// `realm_access.roles`); a name that exists as it is wins (claim names may be URIs).
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Role names from an array of strings or a space-separated string (as `scope` is).
fn names(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(text)) => text.split_whitespace().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn mapping(roles: &[&str], role_map: &[(&str, &str)]) -> ClaimMapping {
        ClaimMapping::from_settings(&ClaimSettings {
            subject: "sub".into(),
            org: "org".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            role_map: role_map
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        })
        .unwrap()
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn keycloak_realm_roles_are_read_by_path_and_mapped() {
        let map = mapping(
            &["roles", "realm_access.roles"],
            &[("clearway-approver-hq", "approver-hq")],
        );
        let token = claims(json!({
            "sub": "hana", "org": "UNDSS",
            "realm_access": {"roles": ["offline_access", "clearway-approver-hq", "admin"]},
        }));
        let caller = map.caller(&token, Signer::Provider).unwrap();
        // `admin` is not mapped: with a map, only mapped names count.
        assert_eq!(caller.roles, vec![Role::ApproverHq]);
        assert_eq!(caller.org.unwrap().as_str(), "UNDSS");
        assert!(map.caller(&token, Signer::StaticKey).is_err());
    }

    #[test]
    fn static_key_tokens_name_clearways_roles_whatever_the_map() {
        let map = mapping(&["roles"], &[("Clearway.HQ", "approver-hq")]);
        let token = claims(json!({"sub": "sam", "roles": ["security-analyst"]}));
        let caller = map.caller(&token, Signer::StaticKey).unwrap();
        assert_eq!(caller.roles, vec![Role::SecurityAnalyst]);
        assert!(
            map.caller(&token, Signer::Provider)
                .unwrap()
                .roles
                .is_empty()
        );
    }

    #[test]
    fn without_a_map_the_claim_holds_clearways_names() {
        let map = mapping(&["scp"], &[]);
        let token = claims(json!({"sub": "tu", "scp": "travel-unit other traveller"}));
        let caller = map.caller(&token, Signer::Provider).unwrap();
        assert_eq!(caller.roles, vec![Role::TravelUnit, Role::Traveller]);
        assert_eq!(caller.org, None);
    }

    #[test]
    fn a_claim_named_with_dots_wins_over_the_path() {
        let map = mapping(&["https://example.org/roles"], &[]);
        let token = claims(json!({"sub": "a", "https://example.org/roles": ["admin"]}));
        let caller = map.caller(&token, Signer::StaticKey).unwrap();
        assert_eq!(caller.roles, vec![Role::Admin]);
    }

    #[test]
    fn subject_and_org_must_be_well_formed() {
        let map = mapping(&["roles"], &[]);
        for bad in [
            json!({"roles": []}),
            json!({"sub": "", "roles": []}),
            json!({"sub": 7, "roles": []}),
            json!({"sub": "a\nb", "roles": []}),
            json!({"sub": "a", "org": 5}),
        ] {
            assert!(
                map.caller(&claims(bad.clone()), Signer::Provider).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_unknown_role_in_the_map_is_a_setting_error() {
        let settings = ClaimSettings {
            role_map: BTreeMap::from([("x".to_string(), "superuser".to_string())]),
            ..ClaimSettings::default()
        };
        assert!(ClaimMapping::from_settings(&settings).is_err());
    }
}
