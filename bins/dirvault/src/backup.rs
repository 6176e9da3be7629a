//! `dirvault backup`'s progress and report, and the exit status of a partial backup (shared
//! with the quickstart).

use std::io::IsTerminal;

use anyhow::Result;
use dirvault_engine::{BackupOptions, BackupOutcome, BackupReport, Vault};
use serde_json::json;

/// A backup that wrote its snapshot with some kinds failed: exit status 3, not 1.
#[derive(Debug, thiserror::Error)]
#[error(
    "snapshot {snapshot} of {tenant} is partial: {failed} kind(s) failed and kept the previous snapshot's data (exit status 3)"
)]
pub(crate) struct PartialBackup {
    tenant: String,
    snapshot: String,
    failed: usize,
}

/// `Ok` for a complete backup, [`PartialBackup`] for a partial one.
pub(crate) fn backup_result(name: &str, report: &BackupReport) -> Result<()> {
    match report.outcome {
        BackupOutcome::Complete => Ok(()),
        BackupOutcome::Partial => Err(PartialBackup {
            tenant: name.to_owned(),
            snapshot: report.snapshot.id.to_string(),
            failed: report
                .kinds
                .iter()
                .filter(|k| matches!(k.status, dirvault_store::KindStatus::Failed { .. }))
                .count(),
        }
        .into()),
    }
}

pub(crate) async fn run_backup(
    client: &dirvault_graph::GraphClient,
    vault: &Vault,
    options: &BackupOptions,
    show_progress: bool,
) -> Result<BackupReport> {
    let bar = (show_progress && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let progress = |p: &dirvault_engine::Progress| {
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "{}: {} objects · {} requests · {} throttled",
                p.kind, p.objects, p.graph.requests, p.graph.throttled
            ));
        }
    };
    let report = vault.backup(client, options, &progress).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(report?)
}

pub(crate) fn print_backup(json: bool, name: &str, report: &BackupReport) {
    if json {
        println!(
            "{}",
            json!({"snapshot": report.snapshot.id, "tenant": name, "outcome": report.outcome, "kinds": report.kinds, "write": report.write, "graph": report.graph, "warnings": report.warnings})
        );
        return;
    }
    println!("snapshot {} of {name}", report.snapshot.id);
    for k in &report.kinds {
        let status = match &k.status {
            dirvault_store::KindStatus::Complete => {
                if k.incremental {
                    "incremental".to_owned()
                } else {
                    "full".to_owned()
                }
            }
            dirvault_store::KindStatus::Failed { reason } => format!("FAILED: {reason}"),
            dirvault_store::KindStatus::Skipped { reason } => format!("skipped: {reason}"),
        };
        println!(
            "  {} {:>7}  {status}",
            crate::kind_column::kind_cell(k.kind),
            k.count
        );
    }
    println!(
        "{} Graph requests ({} throttled, {} retries), {} new blobs, {} bytes written",
        report.graph.requests,
        report.graph.throttled,
        report.graph.retries,
        report.write.new_blobs,
        report.write.bytes_written
    );
    for w in &report.warnings {
        println!("warning: {w}");
    }
}
