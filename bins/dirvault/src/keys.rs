//! `dirvault init`, `dirvault key list|add|remove|passwd` and `dirvault tenant forget-key`:
//! the repository's encryption, presented. New secrets come from a file or a command, never
//! from the command line.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use dirvault_engine::Vault;
use dirvault_engine::repository_access::KeySource;
use dirvault_model::TenantId;
use dirvault_store::{ObjectSnapshotStore, Secret};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// List the key slots; `*` marks the one the given password opens.
    List,
    /// Add a key slot for another password or key (the given one still opens the repository).
    Add(NewSecret),
    /// Remove a key slot (not the last one, nor the one the given password opens).
    Remove {
        /// The slot's id (`key list`).
        id: String,
    },
    /// Replace the given password's slot by one for a new password or key.
    Passwd(NewSecret),
}

/// Where the new password or key is.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct NewSecret {
    /// A file holding the new password (or `key:` and 64 hex digits).
    #[arg(long)]
    new_password_file: Option<PathBuf>,
    /// A command printing it.
    #[arg(long)]
    new_password_command: Option<String>,
}

impl NewSecret {
    pub(crate) fn read(&self) -> Result<Secret> {
        let source = match (&self.new_password_file, &self.new_password_command) {
            (Some(file), _) => KeySource::File(file.clone()),
            (None, Some(command)) => KeySource::Command(command.clone()),
            (None, None) => bail!("give --new-password-file or --new-password-command"),
        };
        Ok(source.read()?)
    }
}

/// The store behind the vault, for key management.
fn store(vault: &Vault) -> Result<&ObjectSnapshotStore> {
    vault
        .repository()
        .object_store()
        .context("this repository's store has no key slots")
}

pub(crate) async fn init(vault: &Vault, repo: &str, json: bool) -> Result<()> {
    let store = store(vault)?;
    store.init().await?;
    let encrypted = store.is_encrypted().await?.unwrap_or(false);
    if json {
        println!("{}", json!({"repo": repo, "encrypted": encrypted}));
    } else if encrypted {
        println!(
            "created an encrypted repository in {repo}; keep its password safe: without it the backups cannot be read"
        );
    } else {
        println!("created an UNENCRYPTED repository in {repo}");
    }
    Ok(())
}

pub(crate) async fn run(vault: &Vault, cmd: &KeyCommand, json: bool) -> Result<()> {
    let store = store(vault)?;
    match cmd {
        KeyCommand::List => {
            let slots = store.key_slots().await?;
            if json {
                println!("{}", json!({ "keys": slots }));
            } else {
                println!("  {:<17} {:<9} {:<26} HOST", "ID", "KIND", "CREATED (UTC)");
                for s in &slots {
                    println!(
                        "{} {:<17} {:<9} {:<26} {}",
                        if s.current { "*" } else { " " },
                        s.id,
                        s.kind,
                        s.created.format("%Y-%m-%d %H:%M:%S"),
                        s.host
                    );
                }
            }
        }
        KeyCommand::Add(new) => {
            let id = store.add_key(&new.read()?).await?;
            print_slot(json, "added key slot", &id);
        }
        KeyCommand::Remove { id } => {
            store.remove_key(id).await?;
            print_slot(json, "removed key slot", id);
        }
        KeyCommand::Passwd(new) => {
            let id = store.change_key(&new.read()?).await?;
            print_slot(json, "changed the password; its new key slot is", &id);
        }
    }
    Ok(())
}

fn print_slot(json: bool, what: &str, id: &str) {
    if json {
        println!("{}", json!({ "slot": id }));
    } else {
        println!("{what} {id}");
    }
}

pub(crate) async fn forget_tenant_key(
    vault: &Vault,
    tenant: &TenantId,
    name: &str,
    yes: bool,
    json: bool,
) -> Result<()> {
    let store = store(vault)?;
    if store.is_encrypted().await? != Some(true) {
        bail!(
            "the repository is not encrypted: there is no key to forget (delete the tenant's data instead)"
        );
    }
    if !yes {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            bail!(
                "forgetting {name}'s key erases all its backups and cannot be undone: pass --yes to confirm"
            );
        }
        print!(
            "Erase every backup of {name} ({tenant}) for good? Type the tenant's name to confirm: "
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != name {
            bail!("not confirmed: nothing was erased");
        }
    }
    store.forget_tenant_key(tenant).await?;
    if json {
        println!("{}", json!({ "tenant": tenant, "erased": true }));
    } else {
        println!("{name} ({tenant}): key forgotten; its backups can no longer be read by anyone");
    }
    Ok(())
}
