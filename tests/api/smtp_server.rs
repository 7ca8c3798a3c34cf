//! A real SMTP server for the tests: aiosmtpd (PyPI), run by `tests/smtp/server.py` as a
//! child process of the test, with STARTTLS and authentication when asked. Installed into
//! `tests/smtp/.venv` on first use. What it received is read back with `mail-parser`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tempfile::TempDir;

fn smtp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp")
}

fn python() -> PathBuf {
    smtp_dir().join(".venv/bin/python")
}

/// The virtual environment once per test process; parallel tests wait for the first.
fn install() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let ready = || {
        Command::new(python())
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if *installed || ready() {
        *installed = true;
        return;
    }
    let venv = Command::new("python3")
        .args(["-m", "venv", ".venv"])
        .current_dir(smtp_dir())
        .status()
        .expect("python3 runs: the e-mail tests need it");
    assert!(venv.success(), "python3 -m venv tests/smtp/.venv failed");
    let pip = Command::new(smtp_dir().join(".venv/bin/pip"))
        .args(["install", "-q", "-r", "requirements.txt"])
        .current_dir(smtp_dir())
        .status()
        .expect("pip runs");
    assert!(
        pip.success(),
        "pip install -r tests/smtp/requirements.txt failed"
    );
    *installed = true;
}

/// What the server needs to speak TLS and ask for a password.
#[derive(Default, Clone)]
pub struct SmtpOptions {
    /// `(certificate, key)` files: STARTTLS offered and required.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub login: Option<(String, String)>,
}

pub struct SmtpServer {
    pub port: u16,
    dir: TempDir,
    options: SmtpOptions,
    child: Option<Child>,
}

/// One message as the server received it.
pub struct Received {
    pub rcpt_tos: Vec<String>,
    pub authenticated: bool,
    pub tls: bool,
    pub raw: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("a MIME message")
    }
}

/// A port nothing listens on now (see `reserved_port`).
pub fn free_port() -> u16 {
    crate::support::reserved_port()
}

impl SmtpServer {
    pub fn start(options: SmtpOptions) -> SmtpServer {
        Self::start_on(free_port(), options)
    }

    /// A server on `port`, which may be one the service was pointed at while nothing listened.
    pub fn start_on(port: u16, options: SmtpOptions) -> SmtpServer {
        install();
        let mut server = SmtpServer {
            port,
            dir: tempfile::tempdir().unwrap(),
            options,
            child: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let mut command = Command::new(python());
        command
            .arg(smtp_dir().join("server.py"))
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path());
        if let Some((cert, key)) = &self.options.tls {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some((user, password)) = &self.options.login {
            command.args(["--user", user, "--password", password]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the SMTP server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        self.child = Some(child);
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        read_all(self.dir.path())
    }

    /// Waits until at least `n` messages have arrived; all of them.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_all(dir: &Path) -> Vec<Received> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|json| {
            let envelope: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
            Received {
                rcpt_tos: envelope["rcpt_tos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect(),
                authenticated: envelope["authenticated"].as_bool().unwrap_or(false),
                tls: envelope["tls"].as_bool().unwrap_or(false),
                raw: std::fs::read(json.with_extension("eml")).unwrap(),
            }
        })
        .collect()
}
