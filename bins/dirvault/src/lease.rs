//! `dirvault lease show|break`: who holds a tenant's lease, and breaking one left behind.

use std::io::IsTerminal;

use anyhow::{Result, bail};
use clap::Subcommand;
use dirvault_model::TenantId;
use dirvault_store::Repository;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum LeaseCommand {
    /// Who holds the tenant's lease, until when, and whether its process still runs.
    Show {
        /// The tenant's name.
        name: String,
    },
    /// Remove the tenant's lease, whoever holds it (asks first, unless --yes). A holder
    /// still running loses the lease at its next renewal and stops without committing.
    Break {
        /// The tenant's name.
        name: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

impl LeaseCommand {
    /// The tenant's name.
    pub(crate) fn name(&self) -> &str {
        match self {
            LeaseCommand::Show { name } | LeaseCommand::Break { name, .. } => name,
        }
    }
}

/// Shows or breaks the lease of tenant `tenant` (named `cmd.name()` in the configuration).
pub(crate) async fn run(
    repo: &Repository,
    tenant: &TenantId,
    cmd: &LeaseCommand,
    json: bool,
) -> Result<()> {
    let name = cmd.name();
    let store = &repo;
    let Some(record) = store.lease(tenant).await? else {
        if json {
            println!("{}", json!({"tenant": name, "lease": null}));
        } else {
            println!("{name} has no lease: nothing runs on it");
        }
        return Ok(());
    };
    let now = chrono::Utc::now();
    let alive = record.holder.as_ref().and_then(|h| h.is_alive());
    let state = match (record.expires > now, alive) {
        (false, _) => "expired",
        (true, Some(false)) => "held by a process that is gone (the next run breaks it)",
        (true, Some(true)) => "held by a running process of this machine",
        (true, None) => "held (its process runs elsewhere: it cannot be checked from here)",
    };
    match cmd {
        LeaseCommand::Show { .. } => {
            if json {
                println!(
                    "{}",
                    json!({"tenant": name, "lease": record, "expired": record.expires <= now, "holderAlive": alive})
                );
            } else {
                println!("owner:   {}", record.owner);
                println!("expires: {}", record.expires.to_rfc3339());
                if let Some(h) = &record.holder {
                    println!("process: {} on {}", h.pid, h.host);
                }
                println!("state:   {state}");
            }
        }
        LeaseCommand::Break { yes, .. } => {
            if !yes {
                if !std::io::stdin().is_terminal() {
                    bail!(
                        "breaking the lease of {name} ({state}, owner {}) needs --yes when there is no terminal to ask",
                        record.owner
                    );
                }
                eprint!(
                    "break the lease of {name} ({state}, owner {}, until {})? type yes: ",
                    record.owner,
                    record.expires.to_rfc3339()
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if answer.trim() != "yes" {
                    bail!("the lease of {name} was not broken");
                }
            }
            let broken = store.break_lease(tenant).await?;
            if json {
                println!("{}", json!({"tenant": name, "broken": broken}));
            } else if broken {
                println!("broke the lease of {name} (owner {})", record.owner);
            } else {
                println!("{name} had no lease any more");
            }
        }
    }
    Ok(())
}
