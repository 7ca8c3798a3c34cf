//! Who may do what with a clearance request. Pure rules over the caller and the record.

use crate::auth::{Caller, Role};
use crate::domain::request::{RequestRecord, Traveller, TravellerId};
use crate::problem::Problem;
use crate::store::RequestScope;

/// A traveller submits for themselves; a travel unit for travellers of its own organisation.
pub fn may_submit(caller: &Caller, traveller: &Traveller) -> Result<(), Problem> {
    let same_org = caller.org.as_ref() == Some(&traveller.org);
    if caller.has(Role::TravelUnit) && same_org {
        return Ok(());
    }
    if caller.has(Role::Traveller) {
        if traveller.id.as_str() != caller.subject {
            return Err(
                Problem::forbidden("a traveller may submit only their own requests")
                    .at("/traveller/id"),
            );
        }
        if caller.org.is_some() && !same_org {
            return Err(Problem::forbidden(
                "the traveller's organisation differs from the token's",
            )
            .at("/traveller/org"));
        }
        return Ok(());
    }
    if caller.has(Role::TravelUnit) {
        return Err(Problem::forbidden(
            "a travel unit may submit only for travellers of its organisation",
        )
        .at("/traveller/org"));
    }
    Err(Problem::forbidden(
        "submitting requires the traveller or travel-unit role",
    ))
}

/// Which requests a caller may list; `None` when the caller has no role that reads requests.
pub fn read_scope(caller: &Caller) -> Option<RequestScope> {
    if caller.has(Role::Admin) {
        Some(RequestScope::All)
    } else if let (true, Some(org)) = (caller.has(Role::TravelUnit), &caller.org) {
        Some(RequestScope::Org(org.clone()))
    } else if caller.has(Role::Traveller) {
        TravellerId::parse("sub", &caller.subject)
            .ok()
            .map(RequestScope::Traveller)
    } else {
        None
    }
}

/// Whether a caller may see this request. Callers who may read requests but not this one
/// are told it does not exist, so ids of others' requests reveal nothing. Approvers read the
/// requests that reached the approval chain.
pub fn may_read(caller: &Caller, record: &RequestRecord) -> Result<(), Problem> {
    let traveller = &record.request.traveller;
    let approver = is_approver(caller);
    if approver && record.escalation.is_some() {
        return Ok(());
    }
    match read_scope(caller) {
        None if approver => Err(Problem::not_found()),
        None => Err(Problem::forbidden(
            "reading requests requires the traveller, travel-unit, approver or admin role",
        )),
        Some(RequestScope::All) => Ok(()),
        Some(RequestScope::Org(org)) if org == traveller.org => Ok(()),
        Some(RequestScope::Traveller(id)) if id == traveller.id => Ok(()),
        // A travel-unit who is also a traveller still sees their own requests.
        Some(_) if caller.has(Role::Traveller) && caller.subject == traveller.id.as_str() => Ok(()),
        Some(_) => Err(Problem::not_found()),
    }
}

pub fn is_approver(caller: &Caller) -> bool {
    caller.has_any(&[Role::ApproverHq, Role::ApproverDg])
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
        assert!(may_submit(&caller("alice", &[Role::Traveller], None), &alice).is_ok());
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
        assert_eq!(
            read_scope(&caller("root", &[Role::Admin, Role::Traveller], None)),
            Some(RequestScope::All)
        );
        assert_eq!(
            read_scope(&caller("tu", &[Role::TravelUnit], Some("WFP"))),
            Some(RequestScope::Org(OrgId::parse("", "WFP").unwrap()))
        );
        assert_eq!(read_scope(&caller("tu", &[Role::TravelUnit], None)), None);
        assert_eq!(
            read_scope(&caller("sa", &[Role::SecurityAnalyst], None)),
            None
        );
    }
}
