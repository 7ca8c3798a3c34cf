//! The test harness: the real application on a random port, a fresh database (a SQLite file,
//! or a PostgreSQL database of its own), its own Redis key prefix (or its own Redis server),
//! and builders for the requests users send.

use std::marker::PhantomData;
use std::net::TcpListener;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{Days, NaiveDate, Utc};
use clearway::auth::{Role, issue_development_token};
use clearway::config::Settings;
use clearway::startup::Application;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool, SqlitePool};
use tempfile::TempDir;
use uuid::Uuid;

pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// The PostgreSQL server the `postgres::` half of the suite creates its databases on.
pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// A date `offset` days from today, as the API writes it.
/// The shipped policy file with `extra` appended, in a directory of the test's own (kept
/// while the directory lives).
pub fn policy_with(extra: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("risk-policy.toml");
    let shipped = std::fs::read_to_string(config_dir().join("risk-policy.toml")).unwrap();
    std::fs::write(&policy, format!("{shipped}\n{extra}")).unwrap();
    (dir, policy)
}

/// A port nothing listens on now, for a server a test starts (or restarts) there later. It
/// lies below the kernel's ephemeral range, so no `bind(0)` elsewhere (another test's server,
/// proxy or client) can take it in the meantime; each call in this process gets another.
pub fn reserved_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const LAST: u16 = 32_000; // Linux's ephemeral ports start at 32768.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Another test process (a second run beside this one) starts elsewhere in the range.
    let _ = NEXT.compare_exchange(
        0,
        FIRST + (std::process::id() % u32::from(LAST - FIRST)) as u16,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let port = NEXT
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| {
                Some(if p + 1 >= LAST { FIRST } else { p + 1 })
            })
            .unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn day(offset: i64) -> String {
    date(offset).to_string()
}

pub fn date(offset: i64) -> NaiveDate {
    let today = Utc::now().date_naive();
    if offset >= 0 {
        today + Days::new(offset as u64)
    } else {
        today - Days::new(offset.unsigned_abs())
    }
}

/// A backend the suite runs on; the suite's modules pick one through `TestApp<B>`.
pub trait Backend {
    const POSTGRES: bool;
}

pub struct Sqlite;
pub struct Postgres;

impl Backend for Sqlite {
    const POSTGRES: bool = false;
}

impl Backend for Postgres {
    const POSTGRES: bool = true;
}

/// The application under test on backend `B`; everything else is in `App`.
pub struct TestApp<B> {
    app: App,
    _backend: PhantomData<B>,
}

impl<B: Backend> TestApp<B> {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the app after `adjust` has had its say on the settings.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        TestApp {
            app: App::spawn(B::POSTGRES, adjust).await,
            _backend: PhantomData,
        }
    }
}

impl<B> Deref for TestApp<B> {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl<B> DerefMut for TestApp<B> {
    fn deref_mut(&mut self) -> &mut App {
        &mut self.app
    }
}

pub struct App {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub db: TestDb,
    _dir: TempDir,
    /// Last, so that it is dropped after the pool above.
    _database: Option<TestDatabase>,
}

impl App {
    async fn spawn(postgres: bool, adjust: impl FnOnce(&mut Settings)) -> App {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::load(&config_dir(), "development").unwrap();
        settings.server.port = 0;
        settings.server.workers = 1;
        let database = if postgres {
            let database = TestDatabase::create().await;
            settings.database.url = database.url.clone();
            Some(database)
        } else {
            settings.database.url =
                format!("sqlite://{}", dir.path().join("clearway.db").display());
            None
        };
        settings.redis.url = redis_url();
        settings.redis.key_prefix = format!("clearway-test:{}:", Uuid::new_v4().simple());
        settings.redis.entry_ttl_secs = 120;
        settings.redis.reconnect_interval_ms = 100;
        settings.rescreening.poll_interval_ms = 50;
        settings.log.filter = "warn".into();
        // Tests fire hundreds of requests from one address; the limits have tests of their own.
        settings.rate_limits.enabled = false;
        // The tests' webhook receivers listen on loopback, which is otherwise refused.
        // (and hooks.example.org, which the authorization tests name and which need not resolve).
        settings.webhooks.allowed_targets = vec!["127.0.0.1".into(), "hooks.example.org".into()];
        adjust(&mut settings);
        clearway::telemetry::init(&settings.log);
        let app = Application::build(&settings)
            .await
            .expect("the application builds");
        let address = format!("http://{}", app.address());
        tokio::spawn(app.run());
        let db = TestDb::connect(&settings.database.url).await;
        clearway::startup::install_tls_provider();
        App {
            address,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            settings,
            db,
            _dir: dir,
            _database: database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn token(&self, sub: &str, roles: &[Role], org: Option<&str>) -> String {
        issue_development_token(&self.settings.auth, sub, roles, org, 60).unwrap()
    }

    pub fn traveller(&self, sub: &str, org: &str) -> String {
        self.token(sub, &[Role::Traveller], Some(org))
    }

    pub fn analyst(&self) -> String {
        self.token("analyst-1", &[Role::SecurityAnalyst], None)
    }

    pub fn admin(&self) -> String {
        self.token("admin-1", &[Role::Admin], None)
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.post_at(&self.address, path, token, body).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.get_at(&self.address, path, token).await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    /// A POST to the instance at `base` (see `another_instance`).
    pub async fn post_at(&self, base: &str, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    pub async fn get_at(&self, base: &str, path: &str, token: &str) -> (u16, Value) {
        read(
            self.client
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Starts one more instance with the same settings (database, Redis, keys) on a port of
    /// its own, as a load balancer would see it; returns its base URL.
    pub async fn another_instance(&self) -> String {
        let app = Application::build(&self.settings)
            .await
            .expect("the instance builds");
        let address = format!("http://{}", app.address());
        tokio::spawn(app.run());
        address
    }

    pub async fn submit(&self, token: &str, submission: &Submission) -> (u16, Value) {
        self.post("/v1/clearance-requests", token, &submission.json)
            .await
    }

    /// Registers an area with one published SRA at `risk` (none when `None`), valid a year.
    pub async fn area(&self, code: &str, risk: Option<&str>) -> AreaFixture<'_> {
        let (status, body) = self
            .post(
                "/v1/areas",
                &self.analyst(),
                &json!({"code": code, "name": format!("Area {code}"), "country": "Testland"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let fixture = AreaFixture {
            app: self,
            code: code.to_owned(),
        };
        if let Some(risk) = risk {
            fixture
                .publish(1, risk, -30, 365, false, &["Security briefing"])
                .await;
        }
        fixture
    }

    /// Rows in the tables a submission writes: what a refused request must leave unchanged.
    pub async fn stored_rows(&self) -> (i64, i64) {
        (
            self.db
                .scalar("SELECT COUNT(*) FROM clearance_requests", &[])
                .await,
            self.db
                .scalar("SELECT COUNT(*) FROM request_legs", &[])
                .await,
        )
    }

    /// Rows in every table a request can change, and the sum of request versions: what a
    /// refused request must leave exactly as it was.
    pub async fn store_snapshot(&self) -> Vec<i64> {
        let mut figures = Vec::new();
        for table in [
            "areas",
            "sras",
            "clearance_requests",
            "request_legs",
            "audit_log",
            "webhooks",
            "rescreen_jobs",
            "outbox",
            "air_operators",
        ] {
            figures.push(
                self.db
                    .scalar(&format!("SELECT COUNT(*) FROM {table}"), &[])
                    .await,
            );
        }
        let versions = "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM clearance_requests";
        figures.push(self.db.scalar(versions, &[]).await);
        // Changes in place: suspensions and locations.
        for changed in ["suspension_reason", "latitude"] {
            let query = format!("SELECT COUNT(*) FROM areas WHERE {changed} IS NOT NULL");
            figures.push(self.db.scalar(&query, &[]).await);
        }
        figures
    }

    pub async fn redis_entry(&self, code: &str) -> Option<Value> {
        redis_entry(
            &self.settings.redis.url,
            &self.settings.redis.key_prefix,
            code,
        )
        .await
    }
}

pub async fn redis_entry(url: &str, prefix: &str, code: &str) -> Option<Value> {
    let client = redis::Client::open(url).ok()?;
    let mut c = client.get_multiplexed_async_connection().await.ok()?;
    let raw: Option<String> = redis::cmd("GET")
        .arg(format!("{prefix}area:{code}"))
        .query_async(&mut c)
        .await
        .ok()?;
    raw.and_then(|r| serde_json::from_str(&r).ok())
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub struct AreaFixture<'a> {
    app: &'a App,
    pub code: String,
}

impl AreaFixture<'_> {
    pub async fn publish(
        &self,
        version: u32,
        risk: &str,
        from: i64,
        until: i64,
        ssafe: bool,
        measures: &[&str],
    ) -> Value {
        let (status, body) = self
            .app
            .post(
                "/v1/sras",
                &self.app.analyst(),
                &json!({
                    "area": self.code, "version": version,
                    "effective_from": day(from), "review_due": day(until),
                    "security_level": 3, "residual_risk": risk,
                    "threats": [], "mandatory_measures": measures, "requires_ssafe": ssafe,
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        // Fixtures are history: let the publication's re-screen finish before the test acts.
        if self.app.settings.rescreening.run {
            let path = format!(
                "/v1/rescreening/{}",
                body["rescreening"]["id"].as_str().unwrap()
            );
            let done = eventually(Duration::from_secs(5), async || {
                self.app.get(&path, &self.app.analyst()).await.1["status"] == "done"
            })
            .await;
            assert!(done, "the fixture's re-screening did not finish");
        }
        body
    }
}

/// A clearance request as a traveller or travel unit would send it.
#[derive(Clone)]
pub struct Submission {
    pub json: Value,
}

impl Submission {
    /// PC3, valid BSAFE and SSAFE, no legs yet.
    pub fn for_traveller(id: &str, org: &str) -> Submission {
        Submission {
            json: json!({
                "traveller": {"id": id, "name": format!("Traveller {id}"), "org": org,
                              "bsafe_valid_until": day(700), "ssafe_valid_until": day(700)},
                "purpose": "Programme monitoring",
                "programme_criticality": "PC3",
                "mission_sra_reference": null,
                "legs": [],
            }),
        }
    }

    pub fn pc(mut self, pc: &str) -> Self {
        self.json["programme_criticality"] = json!(pc);
        self
    }

    pub fn mission_sra(mut self, reference: &str) -> Self {
        self.json["mission_sra_reference"] = json!(reference);
        self
    }

    pub fn leg(mut self, area: &str, arrival: i64, departure: i64) -> Self {
        self.json["legs"]
            .as_array_mut()
            .unwrap()
            .push(json!({"area": area, "arrival": day(arrival), "departure": day(departure)}));
        self
    }

    pub fn without(mut self, pointer: &str) -> Self {
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut self.json
        } else {
            self.json.pointer_mut(parent).unwrap()
        };
        target.as_object_mut().unwrap().remove(field);
        self
    }

    /// Sets the field at `pointer`, adding it to its object if it is not there yet.
    pub fn set(mut self, pointer: &str, value: Value) -> Self {
        let (parent, name) = pointer.rsplit_once('/').unwrap();
        let object = self
            .json
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("no object at {parent:?}"));
        object.insert(name.to_owned(), value);
        self
    }
}

/// A Redis server of the test's own on a free port, so the test may stop and restart it.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
    /// Listening only with TLS, certified by the CA in this directory (`ca.crt`).
    tls: Option<TempDir>,
    password: Option<String>,
}

impl OwnRedis {
    pub fn start() -> OwnRedis {
        Self::start_with(false, None)
    }

    /// A server that takes only TLS (a certificate for 127.0.0.1 from a CA made for the test
    /// with `openssl`) and, with `password`, only authenticated clients.
    pub fn start_with(tls: bool, password: Option<&str>) -> OwnRedis {
        // Reserved: the server is killed and restarted there.
        let port = reserved_port();
        let mut redis = OwnRedis {
            port,
            child: None,
            tls: tls.then(test_certificates),
            password: password.map(str::to_owned),
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        let auth = self
            .password
            .as_ref()
            .map(|p| format!(":{p}@"))
            .unwrap_or_default();
        format!("{scheme}://{auth}127.0.0.1:{}/0", self.port)
    }

    /// The CA certificate a TLS server's certificate chains to.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|dir| dir.path().join("ca.crt"))
    }

    pub fn restart(&mut self) {
        let port = self.port.to_string();
        let mut args: Vec<String> = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            .map(str::to_owned)
            .to_vec();
        match &self.tls {
            None => args.extend(["--port".into(), port]),
            Some(dir) => {
                let file = |name: &str| dir.path().join(name).display().to_string();
                args.extend([
                    "--port".into(),
                    "0".into(),
                    "--tls-port".into(),
                    port,
                    "--tls-cert-file".into(),
                    file("server.crt"),
                    "--tls-key-file".into(),
                    file("server.key"),
                    "--tls-ca-cert-file".into(),
                    file("ca.crt"),
                    "--tls-auth-clients".into(),
                    "no".into(),
                ]);
            }
        }
        if let Some(password) = &self.password {
            args.extend(["--requirepass".into(), password.clone()]);
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with `openssl`.
pub fn test_certificates() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl is installed");
        assert!(output.status.success(), "openssl {args:?}: {output:?}");
    };
    std::fs::write(dir.path().join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=clearway test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    dir
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually<F: AsyncFnMut() -> bool>(within: Duration, mut check: F) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The test's own view of the database, for what the API does not show.
pub enum TestDb {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl TestDb {
    async fn connect(url: &str) -> TestDb {
        if clearway::store::is_postgres(url) {
            TestDb::Postgres(PgPool::connect(url).await.unwrap())
        } else {
            TestDb::Sqlite(SqlitePool::connect(url).await.unwrap())
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres(_))
    }

    /// The first column of the first row of `sql`, which both backends must understand:
    /// `$1`-style parameters, bound as text.
    pub async fn scalar(&self, sql: &str, binds: &[&str]) -> i64 {
        match self {
            TestDb::Sqlite(pool) => {
                let mut query = sqlx::query_scalar(sql);
                for b in binds {
                    query = query.bind(*b);
                }
                query.fetch_one(pool).await.unwrap()
            }
            TestDb::Postgres(pool) => {
                let mut query = sqlx::query_scalar(sql);
                for b in binds {
                    query = query.bind(*b);
                }
                query.fetch_one(pool).await.unwrap()
            }
        }
    }

    /// Runs `sql` (text parameters, `$1` style); the error is the test's to judge.
    pub async fn execute(&self, sql: &str, binds: &[&str]) -> Result<u64, sqlx::Error> {
        match self {
            TestDb::Sqlite(pool) => {
                let mut query = sqlx::query(sql);
                for b in binds {
                    query = query.bind(*b);
                }
                Ok(query.execute(pool).await?.rows_affected())
            }
            TestDb::Postgres(pool) => {
                let mut query = sqlx::query(sql);
                for b in binds {
                    query = query.bind(*b);
                }
                Ok(query.execute(pool).await?.rows_affected())
            }
        }
    }
}

/// A PostgreSQL database of the test's own on the server TEST_DATABASE_URL names, dropped
/// (with any connection still open) when the test ends.
pub struct TestDatabase {
    admin: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let admin = postgres_url();
        let name = format!("clearway_test_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        TestDatabase {
            admin,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test database: {e}");
        }
    }
}

/// A TCP proxy in front of a server that the test can cut (every open connection dropped,
/// new ones refused) and restore: the server unreachable, as a network partition makes it.
pub struct CuttableProxy {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cuts: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl CuttableProxy {
    pub async fn start(target: &str) -> CuttableProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let cuts = std::sync::Arc::new(tokio::sync::watch::channel(0u64).0);
        let (accepting, notifier, target) = (up.clone(), cuts.clone(), target.to_owned());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed at once
                }
                let mut cut = notifier.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        CuttableProxy { port, up, cuts }
    }

    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What concurrent submitters saw: acknowledged requests with their decision, and how many
/// answers of each status.
#[derive(Default)]
pub struct Outcome {
    pub acknowledged: std::collections::HashMap<String, String>,
    pub statuses: std::collections::HashMap<u16, usize>,
    /// Any answer that is neither 201 nor a 503 problem: what must never happen.
    pub unexpected: Vec<String>,
}

/// Submits from `workers` tasks until `stop` is set.
pub async fn submit_until(
    app: &App,
    area: &str,
    workers: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Outcome {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        // Longer than the store's busy timeout, so a slow refusal is seen as what it is.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let url = app.url("/v1/clearance-requests");
        let token = app.traveller(&format!("traveller-{worker}"), "UNICEF");
        let trip = Submission::for_traveller(&format!("traveller-{worker}"), "UNICEF")
            .leg(area, 2, 4)
            .json;
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut outcome = Outcome::default();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&trip)
                    .send()
                    .await;
                let response = match sent {
                    Ok(response) => response,
                    Err(e) => {
                        outcome.unexpected.push(format!("no answer: {e:?}"));
                        continue;
                    }
                };
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap_or_default().to_owned())
                    .unwrap_or_default();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                *outcome.statuses.entry(status).or_default() += 1;
                match status {
                    201 => {
                        outcome.acknowledged.insert(
                            body["id"].as_str().unwrap().to_owned(),
                            body["status"].as_str().unwrap().to_owned(),
                        );
                    }
                    // Not stored, or (a COMMIT that got no answer) perhaps stored: both true.
                    503 if content_type == "application/problem+json"
                        && (body["code"] == "store_unavailable"
                            || body["code"] == "store_outcome_unknown") =>
                    {
                        // Back off a little, as a client told to retry later would.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => outcome.unexpected.push(format!("{status} {body}")),
                }
            }
            outcome
        });
    }
    let mut all = Outcome::default();
    while let Some(done) = tasks.join_next().await {
        let outcome = done.unwrap();
        all.acknowledged.extend(outcome.acknowledged);
        for (status, n) in outcome.statuses {
            *all.statuses.entry(status).or_default() += n;
        }
        all.unexpected.extend(outcome.unexpected);
    }
    all
}

/// Every acknowledged request is stored, with the decision the client was given.
pub async fn assert_all_stored(app: &App, outcome: &Outcome) {
    let mut missing = Vec::new();
    for (id, status) in &outcome.acknowledged {
        let stored = app
            .db
            .scalar(
                "SELECT COUNT(*) FROM clearance_requests WHERE CAST(id AS TEXT) = $1 AND status = $2",
                &[id, status],
            )
            .await;
        if stored != 1 {
            missing.push(id.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged requests are not stored as answered, e.g. {:?}",
        missing.len(),
        outcome.acknowledged.len(),
        &missing[..missing.len().min(3)]
    );
}

pub async fn readiness(app: &App) -> (u16, Value) {
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Sends `request` (e.g. `POST /v1/clearance-requests`) with a head declaring 60,000 bytes
/// and one byte of body, then nothing (issue 25, finding 5); returns what the server
/// answered, raw, and whether it then closed the connection (within 6 s). `extra` holds more
/// header lines; one naming `Transfer-Encoding: chunked` sends one chunk instead.
pub async fn stalled_body(
    address: &str,
    request: &str,
    token: &str,
    extra: &str,
) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let framing = if extra.contains("chunked") {
        "\r\n1\r\n{"
    } else {
        "Content-Length: 60000\r\n\r\n{"
    };
    let head = format!(
        "{request} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{extra}\
         Content-Type: application/json\r\n{framing}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or(false);
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

/// Waits for the change's re-screening job, and says how many requests it moved.
pub async fn rescreened(app: &App, change: &Value) -> i64 {
    let job = change["rescreening"]["id"].as_str().unwrap();
    let path = format!("/v1/rescreening/{job}");
    let analyst = app.analyst();
    assert!(
        eventually(Duration::from_secs(10), async || app
            .get(&path, &analyst)
            .await
            .1["status"]
            == "done")
        .await
    );
    app.get(&path, &analyst).await.1["changed"]
        .as_i64()
        .unwrap()
}
