//! The HTTP edge under hostile or careless clients: security headers on every answer, CORS
//! closed unless configured, slow and idle connections that cannot starve others, bodies
//! refused before they are read.

use std::time::{Duration, Instant};

use clearway::http::ROUTES;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{App, Submission, TestApp, stalled_body};

const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' blob: data:; form-action 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

const EXPECTED_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

fn concrete(path: &str) -> String {
    path.replace("{id}", "0190d6a4-0000-7000-8000-000000000000")
        .replace("{code}", "TST-NONE")
        .replace("{language}", "fr")
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let mut checked = 0;
    for (method, path) in ROUTES {
        if path.ends_with("/stream") {
            continue; // an open event stream; its headers are checked below
        }
        for token in [None, Some(admin.as_str())] {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut request = app.client.request(method.clone(), app.url(&concrete(path)));
            if let Some(token) = token {
                request = request.bearer_auth(token).json(&serde_json::json!({}));
            }
            let response = request.send().await.unwrap();
            let page = matches!(
                *path,
                "/" | "/app.js" | "/app.css" | "/i18n/{language}" | "/map/world.svg"
            ) && response.status() == 200;
            for (name, value) in EXPECTED_HEADERS {
                // The page's own files: revalidated rather than never stored, and allowed to
                // run this origin's script and style, still never framed.
                let value = match (page, name) {
                    (true, "cache-control") => "no-cache",
                    (true, "content-security-policy") => PAGE_POLICY,
                    _ => value,
                };
                assert_eq!(
                    response.headers().get(name).map(|v| v.to_str().unwrap()),
                    Some(value),
                    "{method} {path} ({}) lacks {name}",
                    response.status()
                );
            }
            checked += 1;
        }
    }
    let stream = app
        .client
        .get(app.url("/v1/escalations/stream"))
        .bearer_auth(app.token("hq-1", &[clearway::auth::Role::ApproverHq], None))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["x-content-type-options"], "nosniff");
    for path in ["/nowhere", "/v1/areas/TST-NONE/elsewhere"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        checked += 1;
    }
    println!("security headers checked on {checked} answers");
}

#[tokio::test]
async fn cross_origin_access_is_closed_by_default() {
    let app = TestApp::spawn().await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/clearance-requests"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 403);
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let response = app
        .client
        .get(app.url("/v1/areas"))
        .header("origin", "https://evil.example")
        .bearer_auth(app.admin())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn an_allowed_origin_may_call_from_a_browser_and_no_other() {
    let allowed = "https://travel.example.org";
    let app =
        TestApp::spawn_with(|s| s.server.cors_allowed_origins = vec![allowed.to_owned()]).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/clearance-requests"))
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], allowed);
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Authorization")
    );
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let response = app
        .client
        .get(app.url("/v1/areas"))
        .header("origin", allowed)
        .bearer_auth(app.admin())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], allowed);
    assert!(
        response.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("X-Request-Id")
    );
    // A lookalike is not the origin: exact match only.
    for other in [
        "https://travel.example.org.evil.example",
        "http://travel.example.org",
    ] {
        let response = app
            .client
            .get(app.url("/v1/areas"))
            .header("origin", other)
            .bearer_auth(app.admin())
            .send()
            .await
            .unwrap();
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{other}"
        );
    }
}

fn host_port(app: &App) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection or `within` passes; true if it closed.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a 408 before the close
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn slow_and_idle_connections_do_not_starve_other_clients() {
    let app = TestApp::spawn_with(|s| s.server.client_request_timeout_ms = 3_000).await;
    let target = host_port(&app);
    // 200 idle connections that never send a byte, and 50 that send their head a byte at a time.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(&target).await.unwrap());
    }
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(&target).await.unwrap();
        stream
            .write_all(b"GET /v1/areas HTTP/1.1\r\nHo")
            .await
            .unwrap();
        slow.push(stream);
    }
    let dribble = tokio::spawn(async move {
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for stream in &mut slow {
                let _ = stream.write_all(b"s").await;
            }
        }
        slow
    });

    // Meanwhile an ordinary client is served promptly.
    let admin = app.admin();
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let (status, _) = app.get("/v1/areas", &admin).await;
        assert_eq!(status, 200);
        worst = worst.max(started.elapsed());
    }
    assert!(
        worst < Duration::from_millis(500),
        "a request took {worst:?}"
    );

    // The server closes what did not send a complete head in time.
    let mut slow = dribble.await.unwrap();
    let mut closed = 0;
    for stream in idle.iter_mut().chain(slow.iter_mut()) {
        if closed_within(stream, Duration::from_secs(5)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 250, "connections left open");
    println!(
        "250 slow or idle connections closed; the worst of 20 requests meanwhile took {worst:?}"
    );
}

#[tokio::test]
async fn a_megabyte_body_is_refused_from_its_declared_length_before_it_is_sent() {
    let app = TestApp::spawn().await;
    let token = app.traveller("alice", "UNICEF");
    let mut stream = TcpStream::connect(host_port(&app)).await.unwrap();
    let head = format!(
        "POST /v1/clearance-requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Not one byte of the body is sent: the answer must come from the head alone.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer before the body was sent");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_eq!(app.stored_rows().await, (0, 0));
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_harm() {
    let app = TestApp::spawn().await;
    let token = app.traveller("alice", "UNICEF");
    // 30,000 levels fit in 64 KiB; each must be refused without recursing that deep.
    for body in [
        format!("{}{}", "[".repeat(30_000), "]".repeat(30_000)),
        format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)),
        format!(
            "{{\"traveller\": {}{}}}",
            "[".repeat(30_000),
            "]".repeat(30_000)
        ),
    ] {
        let response = app
            .client
            .post(app.url("/v1/clearance-requests"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let problem: Value = response.json().await.unwrap();
        assert!(matches!(status, 400 | 422), "{status}: {problem}");
    }
    // Still serving.
    assert_eq!(app.get("/v1/clearance-requests", &token).await.0, 200);
    assert_eq!(app.stored_rows().await, (0, 0));
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408_and_its_connection_closed() {
    let app = TestApp::spawn_with(|s| s.server.body_timeout_ms = 1_000).await;
    app.area("TST-LOW", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");
    let started = Instant::now();
    let submit = "POST /v1/clearance-requests";
    let chunked = "Transfer-Encoding: chunked\r\n";
    for (request, extra) in [
        (submit, ""),
        (submit, "Idempotency-Key: stalled-1\r\n"),
        (submit, chunked),
    ] {
        let (answer, closed) = stalled_body(&app.address, request, &alice, extra).await;
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{request} {extra}: {answer}"
        );
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
        assert!(closed, "{request} {extra}: the connection stayed open");
    }
    // A route that reads no body answers, and does not wait for the rest of one either.
    for extra in ["", chunked] {
        let (answer, closed) = stalled_body(&app.address, "GET /v1/areas", &alice, extra).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{extra}: {answer}");
        assert!(closed, "GET {extra}: the connection stayed open");
    }
    println!(
        "five stalled bodies answered and closed in {:?}",
        started.elapsed()
    );
    // The stalled key was released: the same key with a whole body submits.
    let response = app
        .client
        .post(app.url("/v1/clearance-requests"))
        .bearer_auth(&alice)
        .header("Idempotency-Key", "stalled-1")
        .json(
            &Submission::for_traveller("alice", "UNICEF")
                .leg("TST-LOW", 1, 2)
                .json,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(app.stored_rows().await, (1, 1));
}
