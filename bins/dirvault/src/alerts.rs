//! `dirvault alerts`: the risky changes each snapshot brought (docs/alerts.md).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use dirvault_engine::config::Config;
use serde_json::json;

use crate::cli::Cli;
use crate::repository::open;

#[derive(Debug, Args)]
pub(crate) struct AlertsArgs {
    /// The tenant's name.
    name: String,
    /// Every snapshot taken at or after this RFC 3339 date-time, each against the one before
    /// it (default: the latest snapshot only).
    #[arg(long, conflicts_with = "all")]
    since: Option<String>,
    /// Every snapshot, each against the one before it.
    #[arg(long)]
    all: bool,
}

pub(crate) async fn run(cli: &Cli, path: &std::path::Path, args: &AlertsArgs) -> Result<()> {
    let since: Option<DateTime<Utc>> = match (&args.since, args.all) {
        (Some(s), _) => Some(
            DateTime::parse_from_rfc3339(s)
                .with_context(|| {
                    format!("--since {s:?}: give an RFC 3339 date-time, e.g. 2026-12-01T00:00:00Z")
                })?
                .with_timezone(&Utc),
        ),
        (None, true) => Some(DateTime::<Utc>::MIN_UTC),
        (None, false) => None,
    };
    let (vault, tenant) = open(cli, path, &args.name).await?;
    // A tenant named in the configuration has its own settings; a tenant id read from the
    // repository alone gets the defaults.
    let settings = Config::load(path)?
        .tenants
        .get(&args.name)
        .map(|t| t.alerts.clone())
        .unwrap_or_default();
    let alerts = vault.alerts(&tenant, since, &settings).await?;
    if cli.json {
        println!("{}", json!({"tenant": args.name, "alerts": alerts}));
    } else if alerts.is_empty() {
        println!("no alerts");
    } else {
        for a in &alerts {
            let object = match (&a.id, &a.name) {
                (Some(id), Some(name)) => format!(" {} {name} ({id})", a.kind),
                (Some(id), None) => format!(" {} {id}", a.kind),
                _ => String::new(),
            };
            println!("{}  {}{object}: {}", a.to, a.rule, a.summary);
            if let (Some(id), Some(_)) = (&a.id, &a.before) {
                println!(
                    "    undo: dirvault restore {} --snapshot {} --kind {} --id {id} --with-object --dry-run",
                    args.name, a.from, a.kind
                );
            }
        }
    }
    Ok(())
}
