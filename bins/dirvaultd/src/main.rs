//! dirvaultd: the daemon MSP vendors run beside their product. It backs the configured tenants
//! up on their schedules and serves a REST API (docs/daemon.md). Any number of replicas may
//! share one repository: they coordinate through the store's tenant leases alone.

// Listing and diffing decode many small values on several threads; glibc's allocator spent a
// quarter of a large listing consolidating memory freed across threads (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod api;
mod app;
mod config;
mod console;
mod extract;
mod jobs;
mod metrics;
mod openapi;
mod schedule;
mod scheduler;
mod server;
mod webhook;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::DaemonFile as Config;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use dirvault_store::Repository;

/// dirvault's daemon: scheduled backups and a REST API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The configuration file shared with the CLI (tenants, schedules, [daemon]).
    #[arg(long, global = true, env = "DIRVAULT_CONFIG")]
    config: Option<PathBuf>,
    /// The repository (overrides `daemon.repo`).
    #[arg(long, global = true, env = "DIRVAULT_REPO")]
    repo: Option<String>,
    /// Where the API listens (overrides `daemon.listen`); port 0 picks a free one.
    #[arg(long, global = true)]
    listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Print the OpenAPI document.
    Openapi,
    /// Read an API key on standard input and print its SHA-256 for `[[daemon.api_keys]]`.
    HashKey,
    /// Load the configuration and say what is wrong with it, if anything.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DIRVAULT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The runtime's own failure to start is reported as any other error of the run.
    let run = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    if let Err(e) = run {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn run(cli: Cli) -> Result<()> {
    let path = cli.config.clone().unwrap_or_else(Config::default_path);
    match cli.command.as_ref().unwrap_or(&Command::Run) {
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&api::openapi())?);
            Ok(())
        }
        Command::HashKey => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            if line.trim().is_empty() {
                anyhow::bail!("no key on standard input");
            }
            println!("{}", app::hash_key(&line));
            Ok(())
        }
        Command::CheckConfig => {
            let config = Config::load(&path)?;
            let repo = repo_url(&cli, &config)?;
            let opened = open_repository(&repo, &path, &config)?;
            app::App::new(path.clone(), config.clone(), opened)?;
            for (name, t) in &config.tenants {
                let spec = t
                    .schedule
                    .as_deref()
                    .unwrap_or(&config.sections.daemon.default_schedule);
                schedule::Schedule::parse(spec, name).map_err(anyhow::Error::msg)?;
                if let Some(r) = &t.retention {
                    r.policy()
                        .map_err(|e| anyhow::anyhow!("tenant {name}: retention: {e}"))?;
                }
            }
            println!(
                "{}: {} tenants, repository {repo}: ok",
                path.display(),
                config.tenants.len()
            );
            Ok(())
        }
        Command::Run => serve(&cli, path).await,
    }
}

/// Opens the repository with the password `DIRVAULT_PASSWORD` or the configuration's
/// `[repository]` section gives (a file or a command, never the value itself); a new one is
/// encrypted unless `[repository] insecure_no_encryption = true`.
fn open_repository(url: &str, path: &std::path::Path, config: &Config) -> Result<Repository> {
    let access = dirvault_engine::repository_access::Access::default();
    let options = access.options(config.repository.as_ref().map(|r| (path, r)))?;
    Ok(Repository::open_with(url, &options)?)
}

fn repo_url(cli: &Cli, config: &Config) -> Result<String> {
    cli.repo
        .clone()
        .or_else(|| config.sections.daemon.repo.clone())
        .context("no repository: set daemon.repo in the config, DIRVAULT_REPO or --repo")
}

async fn serve(cli: &Cli, path: PathBuf) -> Result<()> {
    let config = Config::load(&path)?;
    let repo = open_repository(&repo_url(cli, &config)?, &path, &config)?;
    let listen = cli
        .listen
        .clone()
        .unwrap_or_else(|| config.sections.daemon.listen.clone());
    if config.sections.daemon.api_keys.is_empty() {
        tracing::warn!("no [[daemon.api_keys]]: every API call but /healthz answers 401");
    }
    let grace = std::time::Duration::from_secs(config.sections.daemon.shutdown_grace_seconds);
    let app = app::App::new(path, config, repo)?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    // The first line on standard output says where the API is (port 0 picks one).
    println!(
        "{}",
        serde_json::json!({"listening": addr.to_string(), "node": app.node})
    );
    std::io::stdout().flush()?;
    tracing::info!(%addr, node = %app.node, "dirvaultd started");

    tokio::spawn(scheduler::run(app.clone()));
    tokio::spawn(signals(app.clone()));
    let limits = server::Limits {
        header_timeout: std::time::Duration::from_secs(
            app.config().sections.daemon.header_timeout_seconds,
        ),
        request_timeout: std::time::Duration::from_secs(
            app.config().sections.daemon.request_timeout_seconds,
        ),
    };
    server::serve(
        listener,
        api::router(app.clone()),
        limits,
        app.shutdown.subscribe(),
    )
    .await;
    tracing::info!(?grace, "stopping: waiting for running jobs");
    app.drain(grace).await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM / SIGINT: shut down gracefully; SIGHUP: reload the configuration.
async fn signals(app: std::sync::Arc<app::App>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                if let Err(e) = app.reload() {
                    tracing::error!(error = %format!("{e:#}"), "configuration not reloaded");
                }
            }
        }
    }
    let _ = app.shutdown.send(true);
}
