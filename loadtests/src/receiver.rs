//! A travel unit's webhook endpoint for the `rescreen` scenario: it answers every delivery
//! 204 and remembers which requests it heard about, and when it first heard of each number.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::{App, HttpResponse, HttpServer, web};

/// What the endpoint has received so far.
#[derive(Default)]
pub struct Heard {
    requests: HashSet<String>,
    /// When the latest new request id arrived.
    last_new: Option<Instant>,
}

impl Heard {
    pub fn count(&self) -> usize {
        self.requests.len()
    }

    pub fn last_new(&self) -> Option<Instant> {
        self.last_new
    }
}

/// A running endpoint: its address and what it heard.
pub struct Receiver {
    pub url: String,
    pub heard: Arc<Mutex<Heard>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// Listens on a free port of 127.0.0.1, with keep-alive as a real endpoint would.
    pub fn start() -> anyhow::Result<Self> {
        let heard: Arc<Mutex<Heard>> = Arc::default();
        let state = web::Data::from(heard.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/hook", web::post().to(hook))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
        let port = server
            .addrs()
            .first()
            .map(|a| a.port())
            .ok_or_else(|| anyhow::anyhow!("the receiver bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            heard,
            handle,
        })
    }

    /// Stops at once: the deliverer's idle keep-alive connections would hold a graceful stop.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn hook(heard: web::Data<Mutex<Heard>>, body: web::Bytes) -> HttpResponse {
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(id) = event["request"]["id"].as_str() {
        let mut heard = heard.lock().unwrap_or_else(|e| e.into_inner());
        if heard.requests.insert(id.to_owned()) {
            heard.last_new = Some(Instant::now());
        }
    }
    HttpResponse::NoContent().finish()
}
