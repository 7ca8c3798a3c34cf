//! Who is written to about a notice, and what: the traveller, the submitter and their
//! organisation's desks on a change of status; a stage's approvers when a request enters
//! their queue. Pure: the directory is passed in.

use crate::domain::delegation::{Delegation, principal};
use crate::domain::notice::Notice;
use crate::domain::person::{Language, Notifications, Person};
use crate::domain::policy::{DecisionCode, Outcome};
use crate::domain::request::{RequestRecord, RequestStatus};
use crate::store::mail::{MailState, NewMail};

use super::settings::MailSettings;
use super::templates::{Block, Letter, Words};

/// Whether `person` decides `stage` on `day`: by the directory, or as the delegate of an
/// approver of it.
fn approves(
    person: &Person,
    stage: &str,
    day: chrono::NaiveDate,
    delegations: &[Delegation],
) -> bool {
    person.decides(stage) || principal(person.subject.as_str(), stage, day, delegations).is_some()
}

/// The messages `notice` gives, each recipient once. `delegations` are those holding today.
pub fn plan(
    notice: &Notice,
    people: &[Person],
    delegations: &[Delegation],
    settings: &MailSettings,
) -> Vec<NewMail> {
    let default = Language::parse("", &settings.default_language).unwrap_or(Language::ENGLISH);
    let record = &notice.record;
    let traveller = &record.request.traveller;
    let mut out: Vec<NewMail> = Vec::new();
    let mut add = |address: &str,
                   person: Option<&Person>,
                   language: Language,
                   state: MailState,
                   letter: Letter| {
        if out
            .iter()
            .any(|m| m.recipient.eq_ignore_ascii_case(address))
        {
            return;
        }
        out.push(NewMail {
            key: format!("{}/{}", notice.id, address.to_ascii_lowercase()),
            request_id: Some(record.id),
            recipient: address.to_owned(),
            person: person.map(|p| p.subject.as_str().to_owned()),
            language: language.as_str().to_owned(),
            subject: letter.subject.clone(),
            text: letter.text(),
            html: letter.html(language),
            state,
        });
    };
    let entry = |subject: &str| people.iter().find(|p| p.subject.as_str() == subject);

    if notice.tells_traveller() {
        // The traveller: the address on the request, or their directory entry's.
        let own = entry(traveller.id.as_str())
            .filter(|p| p.follows_org.as_ref().is_none_or(|o| *o == traveller.org));
        let muted = own.is_some_and(|p| p.notifications == Notifications::Off);
        let address = traveller
            .email
            .as_ref()
            .map(|e| e.as_str())
            .or(own.map(|p| p.email.as_str()));
        if let (Some(address), false) = (address, muted) {
            let language = traveller
                .language
                .or(own.map(|p| p.language))
                .unwrap_or(default);
            let name = traveller.name.clone();
            add(
                address,
                own,
                language,
                MailState::Pending,
                status_letter(notice, &name, language, settings),
            );
        }
        // The submitter (a travel unit's system or desk) and the desks following the
        // organisation, by their own preference.
        let followers = people.iter().filter(|p| {
            p.subject != traveller.id
                && (p.subject.as_str() == record.submitted_by
                    || p.follows_org.as_ref() == Some(&traveller.org))
        });
        for person in followers {
            if let Some(state) = state_for(person) {
                let letter = status_letter(notice, &person.name, person.language, settings);
                add(
                    person.email.as_str(),
                    Some(person),
                    person.language,
                    state,
                    letter,
                );
            }
        }
    }
    if let Some(stage) = notice.entered_stage() {
        let today = notice.occurred_at.date_naive();
        for person in people
            .iter()
            .filter(|p| approves(p, stage, today, delegations))
        {
            if let Some(state) = state_for(person) {
                let letter = queue_letter(record, stage, &person.name, person.language, settings);
                add(
                    person.email.as_str(),
                    Some(person),
                    person.language,
                    state,
                    letter,
                );
            }
        }
    }
    out
}

fn state_for(person: &Person) -> Option<MailState> {
    match person.notifications {
        Notifications::Immediate => Some(MailState::Pending),
        Notifications::DailyDigest => Some(MailState::Held),
        Notifications::Off => None,
    }
}

/// `SOM-MOG, KEN-NBO`: the areas, in the order travelled, each once.
fn areas(record: &RequestRecord) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for leg in record.request.legs.legs() {
        if !seen.contains(&leg.area.as_str()) {
            seen.push(leg.area.as_str());
        }
    }
    seen.join(", ")
}

fn legs(record: &RequestRecord, w: Words) -> Vec<String> {
    record
        .request
        .legs
        .legs()
        .iter()
        .enumerate()
        .map(|(i, leg)| {
            let outcome = record
                .decision
                .legs
                .get(i)
                .map(|d| w.t(&format!("outcome.{}", outcome_key(d.outcome)), &[]))
                .unwrap_or_default();
            w.t(
                "leg",
                &[
                    ("n", &(i + 1).to_string()),
                    ("area", leg.area.as_str()),
                    ("arrival", &w.date(leg.arrival)),
                    ("departure", &w.date(leg.departure)),
                    ("outcome", &outcome),
                ],
            )
        })
        .collect()
}

fn outcome_key(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Cleared => "cleared",
        Outcome::Held => "held",
        Outcome::Refused => "refused",
        Outcome::Escalated => "escalated",
    }
}

/// What to do about a hold, by the code of the leg that holds it.
fn todo_key(code: DecisionCode) -> &'static str {
    match code {
        DecisionCode::NoSraInForce => "todo.no_sra_in_force",
        DecisionCode::AreaSuspended => "todo.area_suspended",
        DecisionCode::AreaInIncident => "todo.area_in_incident",
        DecisionCode::AirOperatorNotAssessed => "todo.air_operator_not_assessed",
        DecisionCode::AirOperatorRestricted => "todo.air_operator_restricted",
        DecisionCode::BsafeMissing => "todo.bsafe_missing",
        DecisionCode::SsafeMissing => "todo.ssafe_missing",
        DecisionCode::MissionSraRequired => "todo.mission_sra_required",
        _ => "todo.other",
    }
}

fn status_letter(
    notice: &Notice,
    name: &str,
    language: Language,
    settings: &MailSettings,
) -> Letter {
    let w = Words::new(language);
    let record = &notice.record;
    let traveller = record.request.traveller.name.as_str();
    let status = record.status;
    let status_word = w.t(&format!("status.{}", status.as_str()), &[]);
    let subject = w.t(
        "subject.status",
        &[
            ("status", &status_word),
            ("traveller", traveller),
            ("areas", &areas(record)),
            ("date", &w.date(record.request.legs.first_arrival())),
        ],
    );
    let mut blocks = vec![Block::Paragraph(w.t("greeting", &[("name", name)]))];
    let reason = record.decision.reason.as_str();
    let main = match status {
        RequestStatus::Escalated => {
            let chain = record
                .escalation
                .as_ref()
                .map(|e| e.chain.join(", "))
                .unwrap_or_else(|| record.decision.approval_chain.join(", "));
            w.t(
                "body.escalated",
                &[("traveller", traveller), ("chain", &chain)],
            )
        }
        other => w.t(
            &format!("body.{}", other.as_str()),
            &[("traveller", traveller), ("reason", reason)],
        ),
    };
    blocks.push(Block::Paragraph(main));
    if status == RequestStatus::Held {
        blocks.push(Block::Paragraph(w.t(todo_key(record.decision.code), &[])));
    }
    if status == RequestStatus::ClearedPendingAcknowledgement {
        let briefings: Vec<String> = crate::domain::briefing::unacknowledged(&record.decision)
            .iter()
            .map(|d| {
                let text = d.briefing.text.as_deref().unwrap_or_default();
                let url = d.briefing.url.as_deref().unwrap_or_default();
                format!("{} (SRA v{}): {text} {url}", d.area, d.sra.version)
                    .trim()
                    .to_owned()
            })
            .collect();
        blocks.push(Block::List(briefings));
    }
    if matches!(
        status,
        RequestStatus::Cleared
            | RequestStatus::Approved
            | RequestStatus::ClearedPendingAcknowledgement
    ) {
        let conditions: Vec<String> = record
            .decision
            .legs
            .iter()
            .flat_map(|l| l.conditions.iter().cloned())
            .collect();
        if !conditions.is_empty() {
            blocks.push(Block::Paragraph(w.t("body.conditions", &[])));
            blocks.push(Block::List(conditions));
        }
    }
    if let Some(comment) = notice.comment.as_deref().filter(|c| !c.trim().is_empty()) {
        blocks.push(Block::Paragraph(
            w.t("body.comment", &[("comment", comment)]),
        ));
    }
    blocks.push(Block::Paragraph(w.t("legs", &[])));
    blocks.push(Block::List(legs(record, w)));
    let url = settings.request_link(record.id);
    blocks.push(Block::Link {
        text: w.t("link", &[("url", &url)]),
        url,
    });
    blocks.push(Block::Paragraph(w.t("footer", &[])));
    Letter { subject, blocks }
}

fn queue_letter(
    record: &RequestRecord,
    stage: &str,
    name: &str,
    language: Language,
    settings: &MailSettings,
) -> Letter {
    let w = Words::new(language);
    let r = &record.request;
    let subject = w.t(
        "subject.queue",
        &[
            ("stage", stage),
            ("traveller", &r.traveller.name),
            ("areas", &areas(record)),
            ("date", &w.date(r.legs.first_arrival())),
        ],
    );
    let url = settings.request_link(record.id);
    let mut blocks = vec![
        Block::Paragraph(w.t("greeting", &[("name", name)])),
        Block::Paragraph(w.t("body.queue", &[("stage", stage)])),
        Block::Paragraph(w.t(
            "body.queue_details",
            &[
                ("traveller", &r.traveller.name),
                ("org", r.traveller.org.as_str()),
                ("pc", r.programme_criticality.as_str()),
                ("purpose", &r.purpose),
            ],
        )),
    ];
    blocks.extend(for_approvers(record, w, url));
    Letter { subject, blocks }
}

/// What an approver's message ends with: lateness, the legs, the link, the footer.
fn for_approvers(record: &RequestRecord, w: Words, url: String) -> Vec<Block> {
    let mut blocks = Vec::new();
    if let Some(late) = &record.decision.late {
        blocks.push(Block::Paragraph(late_line(late, w)));
    }
    blocks.extend([
        Block::Paragraph(w.t("legs", &[])),
        Block::List(legs(record, w)),
        Block::Link {
            text: w.t("link", &[("url", &url)]),
            url,
        },
        Block::Paragraph(w.t("footer", &[])),
    ]);
    blocks
}

fn late_line(late: &crate::domain::lead_time::Lateness, w: Words) -> String {
    w.t(
        "body.late",
        &[
            ("leg", &late.leg.to_string()),
            ("area", late.area.as_str()),
            ("risk", &w.t(&format!("risk.{}", late.risk.as_str()), &[])),
            ("required", &late.required_days.to_string()),
            ("given", &late.given_days.max(0).to_string()),
        ],
    )
}

/// Who reminders may go to: the directory, today's delegations, the escalation contact.
#[derive(Clone, Copy)]
pub struct Audience<'a> {
    pub people: &'a [Person],
    pub delegations: &'a [Delegation],
    pub contact: Option<&'a crate::domain::person::EmailAddress>,
}

/// Which of an item's reminders is due: half its stage's time has passed, or all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Milestone {
    Half,
    Due,
}

/// The reminders `record`, waiting at `stage` for `time`, calls for at `now`: to the
/// stage's approvers (unless they turned mail off) at half of it, and when it has passed to
/// them and to `contact`. Only the latest milestone reached: an item found overdue is not
/// also reminded of its half.
pub fn reminders(
    record: &RequestRecord,
    stage: &str,
    time: chrono::Duration,
    now: chrono::DateTime<chrono::Utc>,
    audience: &Audience<'_>,
    settings: &MailSettings,
) -> Vec<NewMail> {
    let Audience {
        people,
        delegations,
        contact,
    } = *audience;
    let Some(escalation) = record.escalation.as_ref().filter(|e| e.stage() == stage) else {
        return Vec::new();
    };
    let since = escalation.stage_since;
    let due = since + time;
    let milestone = if now >= due {
        Milestone::Due
    } else if now >= since + time / 2 {
        Milestone::Half
    } else {
        return Vec::new();
    };
    let default = Language::parse("", &settings.default_language).unwrap_or(Language::ENGLISH);
    let mut recipients: Vec<(&str, Option<&Person>, Language)> = people
        .iter()
        .filter(|p| approves(p, stage, now.date_naive(), delegations))
        .filter(|p| p.notifications != Notifications::Off)
        .map(|p| (p.email.as_str(), Some(p), p.language))
        .collect();
    if milestone == Milestone::Due
        && let Some(contact) = contact
    {
        recipients.push((contact.as_str(), None, default));
    }
    let tag = match milestone {
        Milestone::Half => "half",
        Milestone::Due => "due",
    };
    let mut out: Vec<NewMail> = Vec::new();
    for (address, person, language) in recipients {
        if out
            .iter()
            .any(|m| m.recipient.eq_ignore_ascii_case(address))
        {
            continue;
        }
        let w = Words::new(language);
        let r = &record.request;
        let subject = w.t(
            match milestone {
                Milestone::Half => "subject.reminder",
                Milestone::Due => "subject.overdue",
            },
            &[
                ("stage", stage),
                ("traveller", &r.traveller.name),
                ("areas", &areas(record)),
                ("date", &w.date(r.legs.first_arrival())),
            ],
        );
        let name = person.map_or("", |p| p.name.as_str());
        let url = settings.request_link(record.id);
        let mut blocks = Vec::new();
        if !name.is_empty() {
            blocks.push(Block::Paragraph(w.t("greeting", &[("name", name)])));
        }
        blocks.push(Block::Paragraph(w.t(
            match milestone {
                Milestone::Half => "body.reminder",
                Milestone::Due => "body.overdue",
            },
            &[
                ("stage", stage),
                ("since", &w.datetime(since)),
                ("due", &w.datetime(due)),
            ],
        )));
        blocks.extend(for_approvers(record, w, url));
        let letter = Letter { subject, blocks };
        out.push(NewMail {
            key: format!(
                "reminder/{}/{}/{}/{tag}/{}",
                record.id,
                escalation.stage_index,
                since.timestamp_micros(),
                address.to_ascii_lowercase()
            ),
            request_id: Some(record.id),
            recipient: address.to_owned(),
            person: person.map(|p| p.subject.as_str().to_owned()),
            language: language.as_str().to_owned(),
            subject: letter.subject.clone(),
            text: letter.text(),
            html: letter.html(language),
            state: MailState::Pending,
        });
    }
    out
}

/// The digest of `person`'s held messages: one line per message, with its request's link.
pub fn digest_letter(
    name: &str,
    language: Language,
    held: &[crate::store::mail::HeldMail],
    settings: &MailSettings,
) -> Letter {
    let w = Words::new(language);
    let items: Vec<String> = held
        .iter()
        .map(|h| match h.request_id {
            Some(id) => format!("{} ({})", h.subject, settings.request_link(id)),
            None => h.subject.clone(),
        })
        .collect();
    Letter {
        subject: w.plural("subject.digest", held.len(), &[]),
        blocks: vec![
            Block::Paragraph(w.t("greeting", &[("name", name)])),
            Block::Paragraph(w.t("body.digest", &[])),
            Block::List(items),
            Block::Paragraph(w.t("footer", &[])),
        ],
    }
}
