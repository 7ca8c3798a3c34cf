//! The `clearway` command: serve, migrate, mint development tokens, import SRAs.

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};

use clearway::auth::{Role, issue_development_token};
use clearway::cli::sra_import;
use clearway::config::Settings;
use clearway::startup::{Application, Services, lock_instance};
use clearway::store;
use clearway::store::settings::redact_password;
use clearway::telemetry;

/// Many small, short-lived allocations across worker threads: mimalloc keeps them fast and
/// returns memory instead of fragmenting per-thread arenas as glibc's allocator does. Its
/// `override` feature also takes over C's `malloc`, which the bundled SQLite calls for every
/// statement it runs on the writer's thread.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Settings come from config/default.toml, config/$CLEARWAY_ENV.toml (default: development)
/// and CLEARWAY__SECTION__KEY environment variables.
#[derive(Parser)]
#[command(
    name = "clearway",
    version,
    about = "Mission security clearance service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve the HTTP API.
    Serve {
        /// Load config/sample-sras.json first (skipping what exists): a realistic first run.
        #[arg(long)]
        demo: bool,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// Print the OpenAPI 3.1 description (the same as `GET /openapi.json`).
    Openapi,
    /// Print a development JWT signed with the configured HS256 secret.
    Token {
        #[arg(long)]
        sub: String,
        /// traveller, travel-unit, security-analyst, approver-hq, approver-dg or admin; repeatable.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The organisation (required for travel units).
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        ttl_minutes: Option<i64>,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Copy the SQLite database to FILE while it serves (a consistent, checked snapshot).
    /// On PostgreSQL use pg_dump and point-in-time recovery instead.
    Backup {
        /// Where the copy goes; it must not exist.
        file: PathBuf,
    },
    /// Areas and Security Risk Assessments.
    Sra {
        #[command(subcommand)]
        command: SraCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every request's hash chain; exits 1 and names the first broken link if any.
    Verify,
}

#[derive(Subcommand)]
enum SraCommand {
    /// Import areas and SRAs from a JSON file, e.g. config/sample-sras.json.
    Import { file: PathBuf },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve { demo } => {
            let instance = lock_instance(&settings)?;
            let services = Services::open(&settings).await?;
            if demo {
                let path = settings.config_dir.join("sample-sras.json");
                import_file(&services, &path).await?;
            }
            let app = Application::serve(&settings, services, instance)?;
            tracing::info!(address = %app.address(), environment = %settings.environment, "clearway serving");
            app.run_until(clearway::startup::stop_requested()).await?;
        }
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&clearway::http::openapi::describe())?
            );
        }
        Command::Migrate => {
            let store = store::connect(&settings.database).await?;
            store.migrate().await?;
            store.close().await;
            println!(
                "migrations applied to {}",
                redact_password(&settings.database.url)
            );
        }
        Command::Token {
            sub,
            roles,
            org,
            ttl_minutes,
        } => {
            let roles = roles
                .iter()
                .map(|r| r.parse::<Role>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let ttl = ttl_minutes.unwrap_or(settings.auth.dev_token_ttl_minutes);
            println!(
                "{}",
                issue_development_token(&settings.auth, &sub, &roles, org.as_deref(), ttl)?
            );
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let store = store::connect(&settings.database).await?;
            store.migrate().await?;
            let report = store.verify_audit().await?;
            store.close().await;
            match report.first_broken {
                None => println!(
                    "audit trail intact: {} entries over {} requests",
                    report.entries, report.requests
                ),
                Some(broken) => {
                    eprintln!(
                        "audit trail BROKEN at request {} entry {}: {}",
                        broken.request_id, broken.seq, broken.reason
                    );
                    std::process::exit(1);
                }
            }
        }
        Command::Backup { file } => {
            if store::is_postgres(&settings.database.url) {
                anyhow::bail!(
                    "clearway backup copies a SQLite database; for PostgreSQL use pg_dump \
                     (and WAL archiving for point-in-time recovery): see docs/operations.md"
                );
            }
            let report = store::backup_sqlite(&settings.database.url, &file).await?;
            println!(
                "backup of {} written to {}: {} requests, {} bytes, integrity ok",
                redact_password(&settings.database.url),
                report.path.display(),
                report.requests,
                report.bytes
            );
        }
        Command::Sra {
            command: SraCommand::Import { file },
        } => {
            let services = Services::open(&settings).await?;
            import_file(&services, &file).await?;
        }
    }
    Ok(())
}

async fn import_file(services: &Services, path: &std::path::Path) -> anyhow::Result<()> {
    let json =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let report = sra_import::import(
        &services.publishing,
        &services.air_operators,
        &services.clearing,
        &json,
        Utc::now().date_naive(),
    )
    .await?;
    println!(
        "{}: {} areas created ({} existed), {} SRAs published ({} existed), {} air operators listed ({} existed), {} requests submitted ({} existed)",
        path.display(),
        report.areas_created,
        report.areas_existing,
        report.sras_published,
        report.sras_existing,
        report.air_operators,
        report.air_operators_existing,
        report.requests,
        report.requests_existing
    );
    Ok(())
}
