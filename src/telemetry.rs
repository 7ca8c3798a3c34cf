//! Structured logs: readable in development, JSON for log shippers.

use serde::Deserialize;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log shippers.
    pub format: String,
    pub filter: String,
    /// Log each span as it closes, with its time: with `clearway=debug` in the filter, every
    /// store and cache call (`store.*`, `cache.*`, `redis.*`) under its request's id.
    #[serde(default)]
    pub span_timings: bool,
}

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(if settings.span_timings {
            FmtSpan::CLOSE
        } else {
            FmtSpan::NONE
        });
    let _ = if settings.format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder.try_init()
    };
}
