//! Server-sent event streams: a greeting, then each event a filter lets through, a heartbeat
//! comment while idle, `lagged` when the listener fell behind, and `token_expired` when the
//! token that opened the stream expires, after which the stream ends. Shutdown ends it too.

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Caller;
use crate::shutdown::Shutdown;

/// A comment line this often keeps proxies from closing an idle stream.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// A token valid for longer still gets its stream ended after a day; the client reconnects.
const MAX_STREAM_SECS: u64 = 86_400;

/// Streams what `receiver` hears to `caller`; `frame` writes an event, or `None` to skip it.
pub fn stream<T, F>(
    caller: &Caller,
    shutdown: Shutdown,
    receiver: broadcast::Receiver<T>,
    hello: String,
    frame: F,
) -> HttpResponse
where
    T: Clone + Send + 'static,
    F: Fn(&T) -> Option<String> + 'static,
{
    // The stream lives as long as the token it was opened with: then a last event says so
    // (the page signs in again) and the stream ends.
    let left = caller
        .valid_until
        .saturating_sub(chrono::Utc::now().timestamp());
    let expires = tokio::time::Instant::now()
        + Duration::from_secs(u64::try_from(left).unwrap_or(0).min(MAX_STREAM_SECS));
    let frame = std::rc::Rc::new(frame);
    let events = futures_util::stream::unfold(
        (receiver, Some(hello), Some(()), shutdown),
        move |(mut receiver, hello, open, mut shutdown)| {
            let frame = frame.clone();
            async move {
                open?;
                if let Some(hello) = hello {
                    let first = Bytes::from(format!("{hello}\nretry: 3000\n\n"));
                    return Some((
                        Ok::<_, actix_web::Error>(first),
                        (receiver, None, open, shutdown),
                    ));
                }
                loop {
                    if tokio::time::Instant::now() >= expires {
                        let last = Bytes::from_static(
                            b"event: token_expired\ndata: {\"detail\": \"the token has expired; sign in again and reconnect\"}\n\n",
                        );
                        return Some((Ok(last), (receiver, None, None, shutdown)));
                    }
                    let wait = HEARTBEAT.min(expires - tokio::time::Instant::now());
                    // A server shutting down ends the stream; the client reconnects elsewhere.
                    let next = tokio::select! {
                        next = tokio::time::timeout(wait, receiver.recv()) => next,
                        _ = shutdown.requested() => return None,
                    };
                    let bytes = match next {
                        Err(_) if tokio::time::Instant::now() >= expires => continue,
                        Err(_) => Bytes::from_static(b": heartbeat\n\n"),
                        Ok(Ok(event)) => match frame(&event) {
                            Some(text) => Bytes::from(text),
                            None => continue,
                        },
                        // Too slow to keep up: say so, so the page reads again.
                        Ok(Err(RecvError::Lagged(missed))) => Bytes::from(format!(
                            "event: lagged\ndata: {{\"missed\": {missed}}}\n\n"
                        )),
                        Ok(Err(RecvError::Closed)) => return None,
                    };
                    return Some((Ok(bytes), (receiver, None, open, shutdown)));
                }
            }
        },
    );
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(events)
}
