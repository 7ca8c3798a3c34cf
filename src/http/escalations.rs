//! `/v1/escalations`: the approvers' queue per stage, claims, decisions, and a live stream.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::clearance_requests::RequestView;
use super::conditional::{if_match, tagged};
use super::extract::{DEFAULT_PAGE, next_page_link, page_limit, query_pairs, read_json};
use crate::auth::Caller;
use crate::domain::approval::Verdict;
use crate::domain::request::RequestRecord;
use crate::http::problem::Problem;
use crate::store::QueuePosition;

const URGENT_WITHIN_HOURS: i64 = 72;

#[derive(Serialize, utoipa::ToSchema)]
struct QueueItem<'a> {
    stage: &'a str,
    in_stage_since: DateTime<Utc>,
    seconds_in_queue: i64,
    /// Travel starts within 72 hours: decide this one first.
    urgent: bool,
    /// When the stage should have decided (its response time after the request entered
    /// it); none if the stage has no response time.
    due_at: Option<DateTime<Utc>>,
    /// `due_at` has passed: the stage's approvers and the escalation contact were reminded.
    overdue: bool,
    /// The earlier of `due_at` and the start of travel (when an undecided request expires):
    /// the page orders the queue by it.
    deadline: DateTime<Utc>,
    claim: Option<&'a crate::domain::approval::Claim>,
    request: RequestView<'a>,
}

impl<'a> QueueItem<'a> {
    fn of(
        record: &'a RequestRecord,
        now: DateTime<Utc>,
        due_at: Option<DateTime<Utc>>,
    ) -> Option<Self> {
        let escalation = record.escalation.as_ref()?;
        let travel_starts = record
            .request
            .legs
            .first_arrival()
            .and_hms_opt(0, 0, 0)?
            .and_utc();
        Some(Self {
            stage: escalation.stage(),
            in_stage_since: escalation.stage_since,
            seconds_in_queue: (now - escalation.stage_since).num_seconds().max(0),
            urgent: travel_starts - now <= chrono::Duration::hours(URGENT_WITHIN_HOURS),
            due_at,
            overdue: due_at.is_some_and(|due| due <= now),
            deadline: due_at.map_or(travel_starts, |due| due.min(travel_starts)),
            claim: escalation.claim.as_ref().filter(|c| c.is_live(now)),
            request: RequestView::from(record),
        })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct QueuePage<'a> {
    items: Vec<QueueItem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// List a stage's queue.
///
/// The escalated requests waiting at `stage`, soonest travel first, each flagged urgent
/// when travel starts within 72 hours, with its claim if any. For that stage's approvers.
#[utoipa::path(
    get, path = "/v1/escalations", tag = "escalations",
    params(
        ("stage" = String, Query, description = "The stage, e.g. `hq` or `dg`"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size"),
    ),
    responses(
        (status = 200, description = "The stage's queue, most urgent first (earliest travel, then oldest)", body = QueuePage),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn queue(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let mut stage = None;
    let mut after = None;
    let mut limit = DEFAULT_PAGE;
    for (name, value) in query_pairs(&req, &["stage", "cursor", "limit"])? {
        match name.as_str() {
            "stage" => stage = Some(value),
            "cursor" => after = Some(decode_position(&value)?),
            _ => limit = page_limit(&value)?,
        }
    }
    let stage =
        stage.ok_or_else(|| Problem::invalid_query("stage", "name the stage, e.g. ?stage=hq"))?;
    // One more than the page: a full last page carries no cursor.
    let mut records = state
        .approvals
        .queue(&caller, &stage, after, limit + 1)
        .await?;
    let more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let now = Utc::now();
    let next_cursor = more.then(|| records.last().map(encode_position)).flatten();
    let mut response = HttpResponse::Ok();
    if let Some(link) = next_cursor.as_deref().and_then(|c| next_page_link(&req, c)) {
        response.insert_header(link);
    }
    Ok(response.json(QueuePage {
        items: records
            .iter()
            .filter_map(|r| QueueItem::of(r, now, state.approvals.due(r)))
            .collect(),
        next_cursor,
    }))
}

fn encode_position(record: &RequestRecord) -> String {
    let raw = format!(
        "{}|{}|{}",
        record.request.legs.first_arrival(),
        record.submitted_at.to_rfc3339(),
        record.id
    );
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_position(cursor: &str) -> Result<QueuePosition, Problem> {
    let bad = || Problem::invalid_query("cursor", "not a cursor this service issued");
    let raw =
        String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    let mut parts = raw.split('|');
    let (Some(day), Some(at), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    Ok(QueuePosition {
        first_arrival: day.parse::<NaiveDate>().map_err(|_| bad())?,
        submitted_at: DateTime::parse_from_rfc3339(at)
            .map_err(|_| bad())?
            .with_timezone(&Utc),
        id: Uuid::parse_str(id).map_err(|_| bad())?,
    })
}

fn item_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| Problem::not_found())
}

/// Claim an escalated request.
///
/// The approver holds it for the lease period before deciding; another approver's claim is
/// refused (409 with `holder` and `until`). The four-eyes rules apply. `If-Match` makes the
/// claim conditional on the version read.
#[utoipa::path(
    post, path = "/v1/escalations/{id}/claim", tag = "escalations",
    params(
        ("id" = Uuid, Path, description = "The escalated request's id"),
        ("If-Match" = Option<String>, Header, description = "If-Match"),
    ),
    responses(
        (status = 200, description = "The item, claimed by the caller for the lease period", body = QueueItem),
        (status = 403, description = "forbidden, four_eyes_same_approver, four_eyes_own_request"),
        (status = 409, description = "not_pending, wrong_stage, claimed_by_another, concurrent_update"),
    ),
    security(("bearer" = []))
)]
pub async fn claim(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let expected = if_match(&req)?;
    let record = state
        .approvals
        .claim(&caller, item_id(&id)?, &expected)
        .await?;
    Ok(HttpResponse::Ok().json(QueueItem::of(
        &record,
        Utc::now(),
        state.approvals.due(&record),
    )))
}

/// Release a claim.
///
/// Puts the request back in its stage's queue without deciding. `If-Match` makes it
/// conditional on the version read.
#[utoipa::path(
    post, path = "/v1/escalations/{id}/release", tag = "escalations",
    params(
        ("id" = Uuid, Path, description = "The escalated request's id"),
        ("If-Match" = Option<String>, Header, description = "If-Match"),
    ),
    responses(
        (status = 200, description = "The item, back in the queue", body = QueueItem),
        (status = 403, description = "forbidden"),
        (status = 409, description = "not_pending, claimed_by_another, claim_required, concurrent_update"),
    ),
    security(("bearer" = []))
)]
pub async fn release(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let expected = if_match(&req)?;
    let record = state
        .approvals
        .release(&caller, item_id(&id)?, &expected)
        .await?;
    Ok(HttpResponse::Ok().json(QueueItem::of(
        &record,
        Utc::now(),
        state.approvals.due(&record),
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    decision: Verdict,
    comment: String,
    /// The stage the approver means to decide; refused if the item has moved on.
    #[serde(default)]
    stage: Option<String>,
}

/// Decide an escalated request.
///
/// Approve, reject or return a request the approver has claimed at their stage; rejecting
/// or returning needs a comment. Approval moves it to the next stage or clears it.
/// `If-Match` makes the decision conditional on the version read.
#[utoipa::path(
    post, path = "/v1/escalations/{id}/decision", tag = "escalations",
    params(
        ("id" = Uuid, Path, description = "The escalated request's id"),
        ("If-Match" = Option<String>, Header, description = "If-Match"),
    ),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "The request after the decision: at the next stage, or approved, rejected or returned", body = RequestView,
            headers(("ETag" = String, description = "ETag"))),
        (status = 403, description = "forbidden, four_eyes_same_approver, four_eyes_own_request"),
        (status = 409, description = "not_pending, wrong_stage, claimed_by_another, claim_required, claim_lapsed, concurrent_update"),
        (status = 422, description = "comment_required"),
    ),
    security(("bearer" = []))
)]
pub async fn decide(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let id = item_id(&id)?;
    let expected = if_match(&req)?;
    let body: DecisionBody = read_json(&req, payload, &state.body).await?;
    if body.comment.chars().count() > 2000 {
        return Err(Problem::invalid_field(
            "/comment",
            "at most 2000 characters",
        ));
    }
    if body.stage.as_ref().is_some_and(|s| s.chars().count() > 64) {
        return Err(Problem::invalid_field("/stage", "at most 64 characters"));
    }
    let record = state
        .approvals
        .decide(
            &caller,
            id,
            &expected,
            body.stage.as_deref(),
            body.decision,
            body.comment,
        )
        .await?;
    Ok(tagged(HttpResponse::Ok(), record.version).json(RequestView::single(&state, &record)))
}

/// Follow the queue live.
///
/// Server-sent events `new`, `claimed`, `released`, `decided` and `removed` for the stages
/// the caller may watch, a heartbeat comment every 15 seconds, and `token_expired` when the
/// token that opened the stream expires.
#[utoipa::path(
    get, path = "/v1/escalations/stream", tag = "escalations",
    params(("stage" = Option<String>, Query, description = "Watch only this stage")),
    responses(
        (status = 200, description = "Server-sent events `new`, `claimed`, `released`, `decided`, `removed` and `lagged`; a heartbeat comment every 15 s; `token_expired` when the token that opened the stream expires, after which the stream ends (reconnect with a new token)", content_type = "text/event-stream", body = String),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn stream(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let only = query_pairs(&req, &["stage"])?
        .into_iter()
        .next()
        .map(|(_, s)| s);
    let stages: Vec<String> = state
        .approvals
        .watchable(&caller)
        .await?
        .into_iter()
        .filter(|s| only.as_ref().is_none_or(|o| o == s))
        .collect();
    if stages.is_empty() {
        return Err(Problem::forbidden("no queue you may watch"));
    }
    let hello = format!(": watching {}", stages.join(", "));
    Ok(super::sse::stream(
        &caller,
        state.shutdown.clone(),
        state.events.subscribe(),
        hello,
        move |event| {
            stages.contains(&event.stage).then(|| {
                let data = serde_json::to_string(event).unwrap_or_default();
                format!("event: {}\ndata: {data}\n\n", event.kind.as_str())
            })
        },
    ))
}
