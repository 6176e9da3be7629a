//! `dirvault ls`: one kind of object at a snapshot, whole or a page of it.

use anyhow::Result;
use clap::Args;
use dirvault_engine::browse::{self, ListOptions, SortBy};
use dirvault_model::ObjectKind;
use serde_json::json;

use crate::cli::Cli;
use crate::repository::open;

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// The tenant's name.
    name: String,
    /// The kind (Graph collection name, e.g. users, servicePrincipals).
    kind: ObjectKind,
    /// A snapshot id, `latest`, or an RFC 3339 date-time (the latest snapshot at or before it).
    #[arg(long, default_value = "latest")]
    at: String,
    /// Only objects whose name, id, UPN, appId or mail contains this (case-insensitive).
    #[arg(long)]
    search: Option<String>,
    /// Sort by name, id, or most recently modified first.
    #[arg(long, value_enum, default_value = "name")]
    sort: SortBy,
    /// Objects deleted since the snapshot before this one.
    #[arg(long)]
    deleted: bool,
    /// Leave out the first N objects of the listing.
    #[arg(long, default_value_t = 0)]
    skip: usize,
    /// Show at most N objects (a page: only what it needs is read).
    #[arg(long)]
    limit: Option<usize>,
}

pub(crate) async fn run(cli: &Cli, path: &std::path::Path, args: &LsArgs) -> Result<()> {
    let LsArgs {
        name,
        kind,
        at,
        search,
        sort,
        deleted,
        skip,
        limit,
    } = args;
    let (vault, tenant) = open(cli, path, name).await?;
    let repo = vault.repository();
    let snapshot = vault.snapshot(&tenant, at).await?;
    let options = ListOptions {
        search: search.clone(),
        sort: *sort,
        deleted: *deleted,
    };
    let (entries, total) = match (*skip, *limit) {
        (0, None) => {
            let all = browse::list(repo, &snapshot, *kind, &options).await?;
            let total = all.len();
            (all, total)
        }
        (skip, limit) => {
            let page = browse::list_page(
                repo,
                &snapshot,
                *kind,
                &options,
                skip,
                limit.unwrap_or(usize::MAX),
            )
            .await?;
            (page.items, page.total)
        }
    };
    let status = snapshot.kinds.get(kind).map(|k| k.status.clone());
    if cli.json {
        println!(
            "{}",
            json!({"snapshot": snapshot.id, "kind": kind, "status": status, "total": total, "objects": entries})
        );
    } else {
        match &status {
            Some(dirvault_store::KindStatus::Failed { reason }) => eprintln!(
                "warning: {kind} failed in snapshot {} ({reason}): these are the previous snapshot's {kind}",
                snapshot.id
            ),
            Some(dirvault_store::KindStatus::Skipped { reason }) => {
                eprintln!(
                    "warning: {kind} was not backed up in snapshot {} ({reason})",
                    snapshot.id
                )
            }
            _ => {}
        }
        for e in &entries {
            println!(
                "{:<40} {:<40} {}",
                e.id,
                e.name.as_deref().unwrap_or(""),
                e.key.as_deref().unwrap_or("")
            );
        }
        if entries.len() == total {
            eprintln!("{total} {kind} at snapshot {}", snapshot.id);
        } else {
            eprintln!(
                "{} of {total} {kind} at snapshot {} (from #{})",
                entries.len(),
                snapshot.id,
                skip + 1
            );
        }
    }
    Ok(())
}
