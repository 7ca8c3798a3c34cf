//! The `clearway` command as a new user runs it: tokens for curl, SRA import, refusing to
//! run production with the development secret.

use std::process::{Command, Output};

use clearway::config::DEVELOPMENT_SECRET;
use uuid::Uuid;

use super::support::{TestApp, config_dir};

fn clearway(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clearway"));
    command
        .args(args)
        .env("CLEARWAY_CONFIG_DIR", config_dir())
        .env_remove("CLEARWAY_ENV");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the clearway binary runs")
}

#[tokio::test]
async fn the_token_command_prints_a_token_the_service_accepts() {
    let app = TestApp::spawn().await;
    let output = clearway(
        &[
            "token",
            "--sub",
            "unit-7",
            "--role",
            "travel-unit",
            "--org",
            "UNICEF",
        ],
        &[],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let (status, body) = app.get("/v1/clearance-requests", token.trim()).await;
    assert_eq!(status, 200, "{body}");

    let output = clearway(&["token", "--sub", "x", "--role", "superuser"], &[]);
    assert!(!output.status.success());
}

#[tokio::test]
async fn sra_import_loads_the_sample_and_skips_it_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("data/clearway.db").display());
    let prefix = format!("clearway-test:{}:", Uuid::new_v4().simple());
    let env = [
        ("CLEARWAY__DATABASE__URL", url.as_str()),
        ("CLEARWAY__REDIS__KEY_PREFIX", prefix.as_str()),
        ("CLEARWAY__REDIS__ENTRY_TTL_SECS", "60"),
    ];
    let sample = config_dir().join("sample-sras.json");
    let sample = sample.to_str().unwrap();
    let migrate = clearway(&["migrate"], &env);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let first = clearway(&["sra", "import", sample], &env);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(
        text.contains("14 areas created (0 existed), 14 SRAs published"),
        "{text}"
    );
    let second = clearway(&["sra", "import", sample], &env);
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        text.contains("0 areas created (14 existed), 0 SRAs published (14 existed)"),
        "{text}"
    );
}

#[test]
fn serve_refuses_the_development_secret_outside_development() {
    let output = clearway(
        &["serve"],
        &[
            ("CLEARWAY_ENV", "production"),
            ("CLEARWAY__AUTH__HS256_SECRET", DEVELOPMENT_SECRET),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("development JWT secret"), "{stderr}");
}
