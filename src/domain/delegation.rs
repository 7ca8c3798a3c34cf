//! Delegation: an approver on leave hands their stage authority to a named colleague for a
//! range of days. A delegate may hand it on, but chains are short and never loop, so every
//! act can be traced to the approver whose authority it is. Pure.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Invalid;
use super::policy::Stage;
use crate::error_code::Code;

/// The most hands authority may pass through: the approver, a delegate, and one more.
pub const MAX_CHAIN: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delegation {
    pub id: Uuid,
    pub stage: Stage,
    /// Whose authority it is: the subject of their tokens.
    pub delegator: String,
    /// Who may act with it.
    pub delegate: String,
    /// The first and last day (UTC) it holds, both included.
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Set when it was revoked before its end.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Delegation {
    pub fn holds_on(&self, day: NaiveDate) -> bool {
        self.revoked_at.is_none() && self.from <= day && day <= self.until
    }

    fn overlaps(&self, other: &Delegation) -> bool {
        self.stage == other.stage
            && self.revoked_at.is_none()
            && other.revoked_at.is_none()
            && self.from <= other.until
            && other.from <= self.until
    }
}

/// Checks a new delegation against those of its stage already given: not to oneself, a range
/// that does not end before it starts, no loop, and no chain longer than [`MAX_CHAIN`] links
/// on any day they share.
pub fn check(new: &Delegation, existing: &[Delegation]) -> Result<(), Invalid> {
    if new.delegate == new.delegator {
        return Err(Invalid::new(
            "/delegate",
            Code::DelegationToSelf,
            "one cannot delegate to oneself",
        ));
    }
    if new.until < new.from {
        return Err(Invalid::new(
            "/until",
            Code::InvalidDateRange,
            format!(
                "the delegation ends ({}) before it starts ({})",
                new.until, new.from
            ),
        ));
    }
    let live: Vec<&Delegation> = existing.iter().filter(|d| d.overlaps(new)).collect();
    // Downstream: where authority goes from the delegate on; a path back to the delegator
    // is a loop.
    let downstream = longest(
        &new.delegate,
        &live,
        &new.delegator,
        |d| &d.delegator,
        |d| &d.delegate,
    )?;
    // Upstream: whose authority the delegator already holds.
    let upstream = longest(
        &new.delegator,
        &live,
        &new.delegate,
        |d| &d.delegate,
        |d| &d.delegator,
    )?;
    if upstream + 1 + downstream > MAX_CHAIN {
        return Err(Invalid::new(
            "/delegate",
            Code::DelegationChainTooLong,
            format!(
                "authority may pass through at most {MAX_CHAIN} delegations; this one would make a chain of {}",
                upstream + 1 + downstream
            ),
        ));
    }
    Ok(())
}

/// The longest run of delegations from `start`, following `from` -> `to`; a loop if it
/// reaches `closing`.
fn longest<'a>(
    start: &str,
    live: &[&'a Delegation],
    closing: &str,
    from: impl Fn(&'a Delegation) -> &'a String + Copy,
    to: impl Fn(&'a Delegation) -> &'a String + Copy,
) -> Result<usize, Invalid> {
    fn walk<'a>(
        at: &str,
        live: &[&'a Delegation],
        closing: &str,
        seen: &mut Vec<String>,
        from: impl Fn(&'a Delegation) -> &'a String + Copy,
        to: impl Fn(&'a Delegation) -> &'a String + Copy,
    ) -> Result<usize, Invalid> {
        let mut best = 0;
        for d in live.iter().filter(|d| from(d) == at) {
            let next = to(d);
            if next == closing || seen.contains(next) {
                return Err(Invalid::new(
                    "/delegate",
                    Code::DelegationLoop,
                    format!(
                        "{next} already holds this authority through a delegation: it would loop"
                    ),
                ));
            }
            seen.push(next.clone());
            best = best.max(1 + walk(next, live, closing, seen, from, to)?);
            seen.pop();
        }
        Ok(best)
    }
    walk(start, live, closing, &mut vec![start.to_owned()], from, to)
}

/// For whom `subject` may act at `stage` on `day`: the approver at the root of the
/// delegations that reach them, if any do.
pub fn principal<'a>(
    subject: &str,
    stage: &str,
    day: NaiveDate,
    delegations: &'a [Delegation],
) -> Option<&'a str> {
    via(subject, stage, day, delegations).last().copied()
}

/// Whose hands the authority `subject` holds at `stage` on `day` passed through, nearest
/// first: the approver at the root is last. Empty if no delegation reaches them.
pub fn via<'a>(
    subject: &str,
    stage: &str,
    day: NaiveDate,
    delegations: &'a [Delegation],
) -> Vec<&'a str> {
    let mut at = subject;
    let mut hands = Vec::new();
    for _ in 0..=MAX_CHAIN {
        let Some(d) = delegations
            .iter()
            .find(|d| d.stage == stage && d.delegate == at && d.holds_on(day))
        else {
            break;
        };
        at = &d.delegator;
        hands.push(d.delegator.as_str());
    }
    hands
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(from_who: &str, to_who: &str, from: u32, until: u32) -> Delegation {
        Delegation {
            id: Uuid::now_v7(),
            stage: "dg".into(),
            delegator: from_who.into(),
            delegate: to_who.into(),
            from: NaiveDate::from_ymd_opt(2027, 1, from).unwrap(),
            until: NaiveDate::from_ymd_opt(2027, 1, until).unwrap(),
            created_by: "admin".into(),
            created_at: Utc::now(),
            revoked_at: None,
        }
    }

    fn code(new: &Delegation, existing: &[Delegation]) -> Option<Code> {
        check(new, existing).err().map(|e| e.code)
    }

    #[test]
    fn self_delegation_reversed_ranges_loops_and_long_chains_are_refused() {
        assert_eq!(
            code(&d("ana", "ana", 1, 5), &[]),
            Some(Code::DelegationToSelf)
        );
        assert_eq!(
            code(&d("ana", "ben", 5, 1), &[]),
            Some(Code::InvalidDateRange)
        );
        assert_eq!(code(&d("ana", "ben", 1, 5), &[]), None);
        // Back to the delegator, directly or through someone.
        assert_eq!(
            code(&d("ben", "ana", 3, 4), &[d("ana", "ben", 1, 5)]),
            Some(Code::DelegationLoop)
        );
        assert_eq!(
            code(
                &d("cai", "ana", 3, 4),
                &[d("ana", "ben", 1, 5), d("ben", "cai", 1, 5)]
            ),
            Some(Code::DelegationLoop)
        );
        // Days that do not overlap make no loop.
        assert_eq!(code(&d("ben", "ana", 6, 9), &[d("ana", "ben", 1, 5)]), None);
        // Two links are allowed; a third, at either end, is not.
        let two = [d("ana", "ben", 1, 5), d("ben", "cai", 1, 5)];
        assert_eq!(code(&d("ben", "cai", 1, 5), &[d("ana", "ben", 1, 5)]), None);
        assert_eq!(
            code(&d("cai", "dee", 2, 3), &two),
            Some(Code::DelegationChainTooLong)
        );
        assert_eq!(
            code(&d("zed", "ana", 2, 3), &two),
            Some(Code::DelegationChainTooLong)
        );
        // A revoked delegation counts for nothing.
        let mut revoked = d("ana", "ben", 1, 5);
        revoked.revoked_at = Some(Utc::now());
        assert_eq!(code(&d("ben", "ana", 1, 5), &[revoked]), None);
    }

    #[test]
    fn a_delegate_acts_for_the_approver_at_the_root_while_it_holds() {
        let all = [d("ana", "ben", 1, 5), d("ben", "cai", 3, 4)];
        let day = |n| NaiveDate::from_ymd_opt(2027, 1, n).unwrap();
        assert_eq!(principal("ben", "dg", day(2), &all), Some("ana"));
        assert_eq!(principal("cai", "dg", day(3), &all), Some("ana"));
        assert_eq!(principal("cai", "dg", day(5), &all), None);
        assert_eq!(principal("ben", "hq", day(2), &all), None);
        assert_eq!(principal("ana", "dg", day(2), &all), None);
        assert_eq!(via("cai", "dg", day(3), &all), ["ben", "ana"]);
    }
}
