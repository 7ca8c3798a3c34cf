//! Who may do what: the roles each action needs (the table the HTTP guards read), and who
//! may submit or read which clearance request. Pure rules over the caller and the record.

use crate::app::AppError;
use crate::domain::caller::{Caller, Role};
use crate::domain::request::{OrgId, RequestRecord, RequestStatus, Traveller, TravellerId};
use crate::error_code::Code;
use crate::store::RequestScope;

/// What a guarded endpoint lets its caller do. Requests and escalations have finer rules
/// below (whose request, which stage); these are decided by role alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    RegisterAreas,
    SuspendAreas,
    /// The crisis locator: who holds a clearance for an area on a day.
    LocatePersonnel,
    /// Draft, endorse, approve, publish and withdraw SRAs.
    ManageSras,
    ReadSras,
    FollowRescreening,
    /// Register and remove the organisation's webhooks and read their deliveries.
    ManageWebhooks,
    /// Keep the people directory: approvers' stages, addresses, languages.
    ManagePeople,
    /// Open and close incidents.
    ManageIncidents,
    /// Keep the air operator list: each operator's assessment and its dates.
    ManageAirOperators,
}

impl Action {
    /// The roles that may, any one of them enough.
    pub const fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Action::RegisterAreas | Action::LocatePersonnel => &[SecurityAnalyst, Admin],
            Action::FollowRescreening => &[SecurityAnalyst, Admin, AviationRisk],
            Action::SuspendAreas | Action::ManageSras | Action::ManageIncidents => {
                &[SecurityAnalyst]
            }
            Action::ReadSras => &[SecurityAnalyst, Admin, ApproverHq, ApproverDg],
            Action::ManageWebhooks => &[TravelUnit],
            Action::ManagePeople => &[Admin],
            Action::ManageAirOperators => &[AviationRisk],
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Action::RegisterAreas => {
                "registering areas requires the security-analyst or admin role"
            }
            Action::SuspendAreas => "suspending areas requires the security-analyst role",
            Action::LocatePersonnel => "the crisis locator is for security analysts and admins",
            Action::ManageSras => "SRAs are managed by the security-analyst role",
            Action::ReadSras => "reading SRAs requires a security, approver or admin role",
            Action::FollowRescreening => {
                "re-screening jobs are for security analysts, aviation risk officers and admins"
            }
            Action::ManageWebhooks => {
                "webhooks are managed by a travel unit, with its organisation in the token"
            }
            Action::ManagePeople => "the people directory is kept by admins",
            Action::ManageIncidents => "incidents are opened and closed by security analysts",
            Action::ManageAirOperators => "the air operator list is kept by the aviation-risk role",
        }
    }
}

/// Whether the caller's roles allow `action` (and, for webhooks, the token names the
/// organisation they belong to).
pub fn permits(caller: &Caller, action: Action) -> Result<(), AppError> {
    let org_needed = action == Action::ManageWebhooks && caller.org.is_none();
    if caller.has_any(action.roles()) && !org_needed {
        Ok(())
    } else {
        Err(AppError::forbidden(action.refusal()))
    }
}

/// Webhooks belong to a travel unit's organisation: the one its token names.
pub fn webhook_owner(caller: &Caller) -> Result<OrgId, AppError> {
    permits(caller, Action::ManageWebhooks)?;
    caller
        .org
        .clone()
        .ok_or_else(|| AppError::forbidden(Action::ManageWebhooks.refusal()))
}

/// A traveller submits for themselves, in the organisation their token names; a travel
/// unit for travellers of its own organisation. The same rule covers withdrawing and amending.
pub fn may_submit(caller: &Caller, traveller: &Traveller) -> Result<(), AppError> {
    let same_org = caller.org.as_ref() == Some(&traveller.org);
    if caller.has(Role::TravelUnit) && same_org {
        return Ok(());
    }
    if caller.has(Role::Traveller) {
        if traveller.id.as_str() != caller.subject {
            return Err(
                AppError::forbidden("a traveller may submit only their own requests")
                    .at("/traveller/id"),
            );
        }
        if caller.org.is_none() {
            return Err(org_required());
        }
        if !same_org {
            return Err(AppError::forbidden(
                "the traveller's organisation differs from the token's",
            )
            .at("/traveller/org"));
        }
        return Ok(());
    }
    if caller.has(Role::TravelUnit) {
        if caller.org.is_none() {
            return Err(org_required());
        }
        return Err(AppError::forbidden(
            "a travel unit may submit only for travellers of its organisation",
        )
        .at("/traveller/org"));
    }
    Err(AppError::forbidden(
        "submitting requires the traveller or travel-unit role",
    ))
}

/// A travel unit submits a team of its organisation's travellers; a traveller submits a
/// team they lead: they travel in it, and every member is of their organisation. `field`
/// points at the list of travellers.
pub fn may_lead(caller: &Caller, field: &str, members: &[&Traveller]) -> Result<(), AppError> {
    let leads =
        caller.has(Role::Traveller) && members.iter().any(|t| t.id.as_str() == caller.subject);
    if !leads {
        // As for a request of one's own: the first member the caller may not submit for says why.
        for (i, t) in members.iter().enumerate() {
            may_submit(caller, t).map_err(|e| e.under(&format!("{field}/{i}")))?;
        }
        return Ok(());
    }
    if caller.org.is_none() {
        return Err(org_required());
    }
    match members
        .iter()
        .position(|t| caller.org.as_ref() != Some(&t.org))
    {
        Some(i) => Err(AppError::forbidden(
            "a traveller leads a team of their own organisation's travellers",
        )
        .at(format!("{field}/{i}/org"))),
        None => Ok(()),
    }
}

/// Whether the caller is the traveller who submitted the team `record` is a member of: a
/// traveller of the member's organisation (a subject is unique only within one) who
/// submitted it.
pub fn leads(caller: &Caller, record: &RequestRecord) -> bool {
    record.team.is_some()
        && caller.has(Role::Traveller)
        && record.submitted_by == caller.subject
        && caller.org.as_ref() == Some(&record.request.traveller.org)
}

/// Who may withdraw or amend a stored request: as `may_submit` says for its traveller, or
/// the traveller who led the team it was submitted in.
pub fn may_change(caller: &Caller, record: &RequestRecord) -> Result<(), AppError> {
    if leads(caller, record) {
        return Ok(());
    }
    may_submit(caller, &record.request.traveller)
}

/// Which requests a caller may list: `Ok(None)` when no role of theirs reads requests, an
/// error when the role does but the token names no organisation to bind it to.
pub fn read_scope(caller: &Caller) -> Result<Option<RequestScope>, AppError> {
    if caller.has(Role::Admin) {
        return Ok(Some(RequestScope::All));
    }
    if !caller.has_any(&[Role::TravelUnit, Role::Traveller]) {
        return Ok(None);
    }
    let org = caller.org.clone().ok_or_else(org_required)?;
    if caller.has(Role::TravelUnit) {
        return Ok(Some(RequestScope::Org(org)));
    }
    let id = TravellerId::parse("sub", &caller.subject).map_err(|_| {
        AppError::forbidden("the token's `sub` is not a traveller id (at most 128 characters)")
    })?;
    Ok(Some(RequestScope::Traveller(org, id)))
}

/// Whether a request lies in a caller's scope: their organisation's, or their own.
pub fn in_scope(caller: &Caller, scope: &RequestScope, record: &RequestRecord) -> bool {
    let traveller = &record.request.traveller;
    let own = caller.has(Role::Traveller)
        && caller.org.as_ref() == Some(&traveller.org)
        && caller.subject == traveller.id.as_str();
    own || match scope {
        RequestScope::All => true,
        RequestScope::Org(org) => *org == traveller.org,
        RequestScope::Traveller(org, id) => *org == traveller.org && *id == traveller.id,
    }
}

/// Whether a request of `org`'s traveller `traveller` lies in `scope`.
pub fn covers(scope: &RequestScope, org: &OrgId, traveller: &TravellerId) -> bool {
    match scope {
        RequestScope::All => true,
        RequestScope::Org(o) => o == org,
        RequestScope::Traveller(o, id) => o == org && id == traveller,
    }
}

/// Whether an approver is involved in a request without reading the audit trail: it waits
/// at a stage their role decides, or they hold its claim or decided a stage of this pass.
/// `decides` tells whether the caller's roles decide a stage.
pub fn involved_now(
    caller: &Caller,
    record: &RequestRecord,
    decides: impl Fn(&str) -> bool,
) -> bool {
    let Some(escalation) = &record.escalation else {
        return false;
    };
    (record.status == RequestStatus::Escalated && decides(escalation.stage()))
        || escalation
            .claim
            .as_ref()
            .is_some_and(|c| c.holder == caller.subject)
        || escalation
            .decisions
            .iter()
            .any(|d| d.approver == caller.subject)
}

pub fn is_approver(caller: &Caller) -> bool {
    caller.has_any(&[Role::ApproverHq, Role::ApproverDg])
}

fn org_required() -> AppError {
    AppError::new(
        Code::TokenOrgRequired,
        "the token names no organisation (`org` claim): travellers and travel units act within theirs",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::request::OrgId;

    fn caller(sub: &str, roles: &[Role], org: Option<&str>) -> Caller {
        Caller {
            subject: sub.into(),
            roles: roles.to_vec(),
            org: org.map(|o| OrgId::parse("", o).unwrap()),
            valid_until: i64::MAX,
        }
    }

    fn traveller(id: &str, org: &str) -> Traveller {
        Traveller::new(
            TravellerId::parse("", id).unwrap(),
            "Name",
            OrgId::parse("", org).unwrap(),
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn submission_rules() {
        let alice = traveller("alice", "UNICEF");
        assert_eq!(
            may_submit(&caller("alice", &[Role::Traveller], None), &alice)
                .unwrap_err()
                .code,
            Code::TokenOrgRequired
        );
        assert!(may_submit(&caller("alice", &[Role::Traveller], Some("UNICEF")), &alice).is_ok());
        assert!(may_submit(&caller("alice", &[Role::Traveller], Some("WFP")), &alice).is_err());
        assert!(may_submit(&caller("bob", &[Role::Traveller], None), &alice).is_err());
        assert!(may_submit(&caller("tu", &[Role::TravelUnit], Some("UNICEF")), &alice).is_ok());
        assert!(may_submit(&caller("tu", &[Role::TravelUnit], Some("WFP")), &alice).is_err());
        assert!(may_submit(&caller("tu", &[Role::TravelUnit], None), &alice).is_err());
        assert!(may_submit(&caller("root", &[Role::Admin], None), &alice).is_err());
        assert!(may_submit(&caller("sa", &[Role::SecurityAnalyst], None), &alice).is_err());
    }

    #[test]
    fn scopes_follow_the_broadest_role() {
        let wfp = OrgId::parse("", "WFP").unwrap();
        assert_eq!(
            read_scope(&caller("root", &[Role::Admin, Role::Traveller], None)).unwrap(),
            Some(RequestScope::All)
        );
        assert_eq!(
            read_scope(&caller("tu", &[Role::TravelUnit], Some("WFP"))).unwrap(),
            Some(RequestScope::Org(wfp.clone()))
        );
        assert_eq!(
            read_scope(&caller("alice", &[Role::Traveller], Some("WFP"))).unwrap(),
            Some(RequestScope::Traveller(
                wfp,
                TravellerId::parse("", "alice").unwrap()
            ))
        );
        for no_org in [Role::TravelUnit, Role::Traveller] {
            assert_eq!(
                read_scope(&caller("x", &[no_org], None)).unwrap_err().code,
                Code::TokenOrgRequired
            );
        }
        assert_eq!(
            read_scope(&caller("sa", &[Role::SecurityAnalyst], None)).unwrap(),
            None
        );
    }

    #[test]
    fn a_traveller_id_is_unique_only_within_its_organisation() {
        let unicef_alice = caller("alice", &[Role::Traveller], Some("UNICEF"));
        let wfp_alice = traveller("alice", "WFP");
        assert!(may_submit(&unicef_alice, &wfp_alice).is_err());
        assert!(may_submit(&unicef_alice, &traveller("alice", "UNICEF")).is_ok());
    }
}
