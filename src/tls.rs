//! Outgoing TLS (webhooks, the identity provider's keys): one crypto provider for rustls.

/// Selects the TLS implementation for outgoing HTTPS; safe to call repeatedly.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
