//! A real OpenID Provider for the tests: the certified `oidc-provider` package, run by
//! `tests/oidc/provider.mjs` as a child process of the test (installed with `npm ci` on first
//! use). It issues RFC 9068 JWT access tokens by the client-credentials grant, publishes its
//! keys by discovery, and rotates them on request.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// `npm ci` once per test process; parallel tests wait for the first.
fn install() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *installed || provider_dir().join("node_modules/oidc-provider").is_dir() {
        *installed = true;
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(provider_dir())
        .status()
        .expect("npm (Node.js) runs: the OpenID Provider tests need it");
    assert!(status.success(), "npm ci in tests/oidc failed");
    *installed = true;
}

pub struct IdentityProvider {
    child: Option<Child>,
    pub issuer: String,
    pub port: u16,
    env: Vec<(String, String)>,
    dir: TempDir,
    client: reqwest::Client,
}

impl IdentityProvider {
    /// Starts a provider on a free port. `clients`: `[{"client_id", "client_secret",
    /// "roles", "org"}]`; `env`: more of provider.mjs's settings (`ROLES_CLAIM`, `ALG`, ...).
    pub async fn start(clients: Value, env: &[(&str, &str)]) -> IdentityProvider {
        Self::start_on(0, clients, env).await
    }

    /// A provider on `port`, which may be one a test reserved while nothing listened there.
    pub async fn start_on(port: u16, clients: Value, env: &[(&str, &str)]) -> IdentityProvider {
        install();
        clearway::tls::install_tls_provider();
        let dir = tempfile::tempdir().unwrap();
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push(("CLIENTS".into(), clients.to_string()));
        env.push((
            "KEYS_FILE".into(),
            dir.path().join("keys.json").display().to_string(),
        ));
        let mut idp = IdentityProvider {
            child: None,
            issuer: String::new(),
            port,
            env,
            dir,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        idp.launch().await;
        idp
    }

    async fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("provider.log")).unwrap();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(provider_dir())
            .envs(self.env.iter().cloned())
            .env("PORT", self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().unwrap();
        self.child = Some(child);
        let line = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line).map(|_| line)
            }),
        )
        .await
        .expect("the provider is ready within 30 s")
        .unwrap()
        .unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "the provider did not start: {line:?}; its log: {}",
                std::fs::read_to_string(self.dir.path().join("provider.log")).unwrap_or_default()
            )
        });
        self.issuer = ready["issuer"].as_str().unwrap().to_owned();
        self.port = ready["port"].as_u64().unwrap() as u16;
    }

    /// Takes the provider down (its keys are kept for a restart): SIGTERM, and SIGKILL if
    /// it has not exited within five seconds, so that a stuck provider cannot hang the test.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!("the OpenID Provider ignored SIGTERM for 5 s; killing it");
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Brings it back on the same port and issuer, with the same keys.
    pub async fn restart(&mut self) {
        self.stop();
        self.launch().await;
    }

    /// An access token for `client_id` (client credentials, client_secret_post), for
    /// `resource` (the default one gives `aud` = the provider's `AUDIENCE`).
    pub async fn token_for(&self, client_id: &str, resource: Option<&str>) -> String {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", SECRET),
        ];
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        let response = self
            .client
            .post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {body}"))
            .to_owned()
    }

    pub async fn token(&self, client_id: &str) -> String {
        self.token_for(client_id, None).await
    }

    async fn admin(&self, method: reqwest::Method, path: &str) -> Value {
        self.client
            .request(method, format!("{}/__test/{path}", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A new signing key, first; the old one stays published. Returns the kids, newest first.
    pub async fn rotate(&self) -> Vec<String> {
        kids(self.admin(reqwest::Method::POST, "rotate").await)
    }

    /// Withdraws every key but the newest.
    pub async fn retire_old(&self) -> Vec<String> {
        kids(self.admin(reqwest::Method::POST, "retire-old").await)
    }

    /// A token of any claims, signed with the provider's current key (a rogue administrator).
    pub async fn sign(&self, claims: &Value) -> String {
        let body: Value = self
            .client
            .post(format!("{}/__test/sign", self.issuer))
            .json(claims)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// How often the key set has been fetched from this provider.
    pub async fn jwks_requests(&self) -> u64 {
        self.admin(reqwest::Method::GET, "kids").await["jwks_requests"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

fn kids(body: Value) -> Vec<String> {
    body["kids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// Every test client's secret.
pub const SECRET: &str = "test-client-secret-0123456789";

/// A client entry for the provider.
pub fn client(id: &str, roles: &[&str], org: Option<&str>) -> Value {
    let mut entry = serde_json::json!({"client_id": id, "client_secret": SECRET, "roles": roles});
    if let Some(org) = org {
        entry["org"] = org.into();
    }
    entry
}
