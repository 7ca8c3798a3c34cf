//! Working the escalation queue: approvers list their stage, claim an item (a lease),
//! and decide it; every step is checked by the pure chain rules and stored with its audit entry.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, Utc};

use crate::domain::delegation::{principal, via};
use uuid::Uuid;

use super::ports::{QueueEventKind, QueueEventSink, RequestChanged};
use super::precondition::Expected;
use crate::app::AppError;
use crate::app::clearing::{changed_meanwhile, not_pending};
use crate::domain::approval::{Escalation, Outcome, Verdict};
use crate::domain::audit::{AuditAction, AuditDraft};
use crate::domain::caller::{Caller, Role};
use crate::domain::request::{RequestRecord, RequestStatus};
use crate::store::{QueuePosition, RequestChange, Store, StoreError};

mod team_decisions;
pub use team_decisions::Exception;

#[derive(Debug, Clone, Deserialize)]
pub struct ApprovalSettings {
    /// How long a claim on an escalation lasts unless released or renewed.
    pub lease_seconds: i64,
    /// The role that decides each stage named in the policy's approval chains.
    pub stage_roles: BTreeMap<String, String>,
    /// How long each stage has to decide (`24h`, `90m`, `2d`): its approvers are reminded
    /// at half of it and when it has passed, and `escalation_contact` is told then.
    #[serde(default)]
    pub response_time: BTreeMap<String, String>,
    /// Who hears of a stage's overdue item (an address); none if empty.
    #[serde(default)]
    pub escalation_contact: String,
    /// How often the clocks are read: expiry of pending requests, reminders.
    #[serde(default = "default_clock_interval")]
    pub clock_interval_secs: u64,
}

fn default_clock_interval() -> u64 {
    60
}

impl ApprovalSettings {
    /// Each stage's response time, checked: a number and a unit (s, m, h, d).
    pub fn response_times(&self) -> Result<BTreeMap<String, Duration>, String> {
        self.response_time
            .iter()
            .map(|(stage, raw)| {
                parse_span(raw).map(|d| (stage.clone(), d)).ok_or_else(|| {
                    format!("approval.response_time.{stage}: `{raw}` is not like 24h, 90m or 2d")
                })
            })
            .collect()
    }
}

/// `24h`, `90m`, `2d`, `30s`: a positive whole number and its unit, a year at most.
pub(crate) fn parse_span(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let unit = raw.chars().last()?;
    let n: i64 = raw[..raw.len() - unit.len_utf8()]
        .parse()
        .ok()
        .filter(|n| *n > 0)?;
    match unit {
        's' => Duration::try_seconds(n),
        'm' => Duration::try_minutes(n),
        'h' => Duration::try_hours(n),
        'd' => Duration::try_days(n),
        _ => None,
    }
    // A year at most: more is a typo, and would carry deadlines past any calendar.
    .filter(|d| *d <= Duration::days(366))
}

pub struct Approvals {
    /// Each stage's response time, for the deadline of its queue's items.
    response_times: BTreeMap<String, Duration>,
    store: Arc<dyn Store>,
    lease: Duration,
    stage_roles: BTreeMap<String, Role>,
    events: Arc<dyn QueueEventSink>,
}

/// What an approver did to an item, for the audit trail and the live queue.
enum Step {
    Claim,
    Release,
    Decide(Verdict, String),
}

impl Approvals {
    pub fn new(
        store: Arc<dyn Store>,
        lease: Duration,
        stage_roles: BTreeMap<String, Role>,
        events: Arc<dyn QueueEventSink>,
    ) -> Self {
        Self {
            response_times: BTreeMap::new(),
            store,
            lease,
            stage_roles,
            events,
        }
    }

    /// With each stage's response time.
    pub fn with_response_times(mut self, times: BTreeMap<String, Duration>) -> Self {
        self.response_times = times;
        self
    }

    /// When the stage `record` waits at should have decided: its response time after the
    /// request entered the stage; none without a response time or outside the chain.
    pub fn due(&self, record: &RequestRecord) -> Option<chrono::DateTime<Utc>> {
        let escalation = record.escalation.as_ref()?;
        let time = self.response_times.get(escalation.stage())?;
        escalation.stage_since.checked_add_signed(*time)
    }

    /// Approvers see the stages their roles decide; admins see every stage.
    pub fn may_watch(&self, caller: &Caller, stage: &str) -> bool {
        caller.has(Role::Admin) || self.stage_roles.get(stage).is_some_and(|r| caller.has(*r))
    }

    /// The stages the caller may watch: by role, or by a delegation that holds today.
    pub async fn watchable(&self, caller: &Caller) -> Result<Vec<String>, AppError> {
        let delegated = self.delegated_stages(caller).await?;
        Ok(self
            .stages()
            .filter(|s| self.may_watch(caller, s) || delegated.contains(s))
            .cloned()
            .collect())
    }

    /// The stages whose authority reaches the caller through delegations today.
    async fn delegated_stages(&self, caller: &Caller) -> Result<Vec<String>, AppError> {
        let today = Utc::now().date_naive();
        let all = self.store.delegations_on(None, today).await?;
        Ok(self
            .stages()
            .filter(|s| principal(&caller.subject, s, today, &all).is_some())
            .cloned()
            .collect())
    }

    /// Whose hands the caller's authority at `stage` passed through: none for their own
    /// role; else the delegators that reach them today, the approver at the root last.
    async fn authority(&self, caller: &Caller, stage: &str) -> Result<Vec<String>, AppError> {
        if self.stage_roles.get(stage).is_some_and(|r| caller.has(*r)) {
            return Ok(Vec::new());
        }
        let today = Utc::now().date_naive();
        let delegations = self.store.delegations_on(Some(stage), today).await?;
        let hands = via(&caller.subject, stage, today, &delegations);
        if hands.is_empty() {
            return Err(AppError::forbidden(format!(
                "the {stage} stage is decided by its own approvers"
            )));
        }
        Ok(hands.into_iter().map(str::to_owned).collect())
    }

    pub fn stages(&self) -> impl Iterator<Item = &String> {
        self.stage_roles.keys()
    }

    pub async fn queue(
        &self,
        caller: &Caller,
        stage: &str,
        after: Option<QueuePosition>,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, AppError> {
        if !self.stage_roles.contains_key(stage) {
            return Err(AppError::invalid_query(
                "stage",
                format!(
                    "unknown stage; known: {}",
                    self.stages().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if !self.may_watch(caller, stage)
            && !self
                .delegated_stages(caller)
                .await?
                .iter()
                .any(|s| s == stage)
        {
            return Err(AppError::forbidden(format!(
                "the {stage} queue is for its approvers"
            )));
        }
        Ok(self.store.escalation_queue(stage, after, limit).await?)
    }

    pub async fn claim(
        &self,
        caller: &Caller,
        id: Uuid,
        expected: &Expected,
    ) -> Result<RequestRecord, AppError> {
        self.act(caller, id, expected, None, Step::Claim).await
    }

    pub async fn release(
        &self,
        caller: &Caller,
        id: Uuid,
        expected: &Expected,
    ) -> Result<RequestRecord, AppError> {
        self.act(caller, id, expected, None, Step::Release).await
    }

    pub async fn decide(
        &self,
        caller: &Caller,
        id: Uuid,
        expected: &Expected,
        stage: Option<&str>,
        verdict: Verdict,
        comment: String,
    ) -> Result<RequestRecord, AppError> {
        self.act(caller, id, expected, stage, Step::Decide(verdict, comment))
            .await
    }

    /// Reads the item, applies the step with the chain rules, and writes it over the version
    /// read. If another approver's write got there first, the step is judged again on
    /// what they wrote: that is how the loser of a race learns who holds the item. A
    /// caller who named the version they saw gets 412 instead once it has moved on.
    async fn act(
        &self,
        caller: &Caller,
        id: Uuid,
        expected: &Expected,
        stage: Option<&str>,
        step: Step,
    ) -> Result<RequestRecord, AppError> {
        for _ in 0..3 {
            let current = self.item(caller, id).await?;
            expected.check(current.version)?;
            let at = current
                .escalation
                .as_ref()
                .map(|e| e.stage().clone())
                .unwrap_or_default();
            let hands = match current.status {
                RequestStatus::Escalated => self.authority(caller, &at).await?,
                _ => Vec::new(),
            };
            let (next, audit, events) = self.apply(caller, &hands, &current, stage, &step)?;
            let change = RequestChange {
                record: &next,
                legs_changed: false,
                audit,
            };
            match self.store.update_request(change).await {
                Ok(()) => {
                    self.events.request_changed(RequestChanged::of(&next));
                    for (kind, stage) in events {
                        self.events.publish(kind, id, &stage, &caller.subject);
                    }
                    return Ok(next);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(changed_meanwhile(StoreError::Conflict(id.to_string())))
    }

    /// The escalated request behind a queue item, if the caller may act on its stage.
    async fn item(&self, caller: &Caller, id: Uuid) -> Result<RequestRecord, AppError> {
        let approver = self.stage_roles.values().any(|r| caller.has(*r))
            || !self.delegated_stages(caller).await?.is_empty();
        if !approver {
            return Err(AppError::forbidden(
                "working the queue requires an approver role",
            ));
        }
        let record = self
            .store
            .get_request(id)
            .await?
            .ok_or_else(AppError::not_found)?;
        // Requests that never reached the chain are not queue items.
        if record.escalation.is_none() {
            return Err(AppError::not_found());
        }
        Ok(record)
    }

    #[allow(clippy::type_complexity)]
    fn apply(
        &self,
        caller: &Caller,
        hands: &[String],
        current: &RequestRecord,
        stage: Option<&str>,
        step: &Step,
    ) -> Result<(RequestRecord, AuditDraft, Vec<(QueueEventKind, String)>), AppError> {
        let escalation = current
            .escalation
            .as_ref()
            .ok_or_else(AppError::not_found)?;
        if current.status != RequestStatus::Escalated {
            return Err(not_pending(current.status, "decided"));
        }
        let at = escalation.stage().clone();
        let requested = stage.unwrap_or(&at);
        let parties = [
            current.request.traveller.id.as_str(),
            current.submitted_by.as_str(),
        ];
        // Four-eyes holds for every hand a delegate's authority passed through, too; the
        // trail names the approver at its root.
        for hand in hands {
            escalation.check_eligible(hand, &parties)?;
        }
        let on_behalf_of = hands.last().map(String::as_str);
        let now = Utc::now();
        let me = caller.subject.as_str();
        let mut next = current.clone();
        next.version += 1;
        let mut audit = AuditDraft {
            actor: me.to_owned(),
            action: AuditAction::Claimed,
            from: Some(current.status),
            to: current.status,
            stage: Some(at.clone()),
            comment: None,
            on_behalf_of: on_behalf_of.map(str::to_owned),
        };
        let events = match step {
            Step::Claim => {
                next.escalation = Some(escalation.claim(requested, me, &parties, self.lease, now)?);
                vec![(QueueEventKind::Claimed, at)]
            }
            Step::Release => {
                next.escalation = Some(escalation.release(me, now)?);
                audit.action = AuditAction::Released;
                vec![(QueueEventKind::Released, at)]
            }
            Step::Decide(verdict, comment) => {
                let (decision, outcome) = escalation.decide_for(
                    requested,
                    me,
                    on_behalf_of,
                    &parties,
                    *verdict,
                    comment,
                    now,
                )?;
                audit.action = match verdict {
                    Verdict::Approve => AuditAction::Approved,
                    Verdict::Reject => AuditAction::Rejected,
                    Verdict::Return => AuditAction::Returned,
                };
                audit.comment = Some(decision.comment.clone());
                match outcome {
                    Outcome::NextStage(advanced) => {
                        let entered = advanced.stage().clone();
                        next.escalation = Some(advanced);
                        vec![
                            (QueueEventKind::Decided, at),
                            (QueueEventKind::New, entered),
                        ]
                    }
                    Outcome::Final(status) => {
                        let mut concluded: Escalation = escalation.clone();
                        concluded.claim = None;
                        concluded.decisions.push(decision);
                        next.escalation = Some(concluded);
                        // An approval waits for the traveller's acknowledgement of a briefing
                        // like any clearance.
                        next.status = crate::domain::briefing::settle(status, &mut next.decision);
                        vec![(QueueEventKind::Decided, at)]
                    }
                }
            }
        };
        audit.to = next.status;
        Ok((next, audit, events))
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn response_times_are_a_number_and_a_unit() {
        assert_eq!(parse_span("24h"), Some(Duration::hours(24)));
        assert_eq!(parse_span(" 90m "), Some(Duration::minutes(90)));
        assert_eq!(parse_span("2d"), Some(Duration::days(2)));
        assert_eq!(parse_span("4s"), Some(Duration::seconds(4)));
        for bad in [
            "",
            "h",
            "0h",
            "-1h",
            "24",
            "24 h",
            "1.5h",
            "24é",
            "é",
            "99999999999999d",
        ] {
            assert_eq!(parse_span(bad), None, "{bad:?}");
        }
    }
}
