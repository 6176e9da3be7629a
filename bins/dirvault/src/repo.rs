//! `dirvault repo encrypt`: the repository copied into a new encrypted one and verified,
//! presented (the work is `dirvault_engine::Vault::encrypt_into`).

use std::io::IsTerminal;

use anyhow::Result;
use clap::Subcommand;
use dirvault_engine::Vault;
use serde_json::json;

use crate::keys::NewSecret;

#[derive(Debug, Subcommand)]
pub(crate) enum RepoCommand {
    /// Copy this unencrypted repository into a new encrypted one and verify the copy. The
    /// source is only read: point your configuration at the copy, then delete the source.
    Encrypt {
        /// Where the encrypted copy goes (a path, file://, s3://bucket/prefix); a copy that
        /// stopped is taken up again.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        password: NewSecret,
    },
}

pub(crate) async fn run(vault: &Vault, repo: &str, cmd: &RepoCommand, json: bool) -> Result<()> {
    let RepoCommand::Encrypt { to, password } = cmd;
    let secret = password.read()?;
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} snapshots")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let progress = |p: dirvault_store::CopyProgress<'_>| {
        if let Some(bar) = &bar {
            bar.set_message(p.tenant.to_string());
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
        }
    };
    let report = vault.encrypt_into(repo, to, secret, &progress).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report?;
    if json {
        println!("{}", json!(report));
        return Ok(());
    }
    let c = &report.copy;
    println!(
        "copied {} snapshots of {} tenants into the encrypted repository {} ({} object versions written, {} documents); {} were there already",
        c.snapshots, c.tenants, report.to, c.objects_written, c.documents, c.already_there
    );
    for tenant in &c.erased {
        println!("not copied: tenant {tenant} (its keys were forgotten: its data is erased)");
    }
    println!(
        "verified: {} tenants, {} snapshots, no problem. Point the configuration at {} and keep its password safe; then delete {repo}.",
        report.verified.len(),
        report
            .verified
            .iter()
            .map(|(_, v)| v.snapshots)
            .sum::<u64>(),
        report.to
    );
    Ok(())
}
