//! `dirvault tenant add|list|remove`: the tenants of the configuration file. Secrets are
//! referenced (an environment variable, a file, a certificate), never written in it.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use dirvault_engine::config::{Config, SecretSource, TenantConfig};
use dirvault_model::Cloud;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Add a tenant. Secrets are referenced (an environment variable, a file, a certificate),
    /// never stored in the configuration.
    Add(TenantAddArgs),
    /// List the configured tenants.
    List,
    /// Remove a tenant from the configuration (its snapshots stay in the repository).
    Remove {
        /// The tenant's name.
        name: String,
    },
    /// Erase a tenant's data from an encrypted repository at once: forget its key, so that
    /// no one can read its snapshots again (nothing is rewritten; `verify` then says
    /// "erased"). Cannot be undone. Asks first, unless --yes.
    ForgetKey {
        /// The tenant's name (or id).
        name: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct TenantAddArgs {
    /// A short name for the tenant.
    name: String,
    /// The tenant id (GUID).
    #[arg(long)]
    tenant_id: dirvault_model::TenantId,
    /// The app's client id.
    #[arg(long)]
    client_id: dirvault_model::ClientId,
    /// The environment variable that holds the client secret.
    #[arg(long, group = "credential")]
    client_secret_env: Option<String>,
    /// A file whose first line is the client secret.
    #[arg(long, group = "credential")]
    client_secret_file: Option<PathBuf>,
    /// A PEM certificate registered on the app.
    #[arg(long, group = "credential")]
    certificate_file: Option<PathBuf>,
    /// The certificate's private key (PEM), when not in the certificate file.
    #[arg(long, requires = "certificate_file")]
    key_file: Option<PathBuf>,
    /// The cloud: global, usgov, usgov-dod, china.
    #[arg(long, default_value = "global")]
    cloud: Cloud,
    /// An explicit Graph root (e.g. an emulator); plain http only for loopback.
    #[arg(long)]
    graph_url: Option<String>,
    /// An explicit login root.
    #[arg(long)]
    login_url: Option<String>,
}

/// Runs a `dirvault tenant …` command on the configuration file at `path`.
pub(crate) fn run(cmd: &TenantCommand, path: &Path, json: bool) -> Result<()> {
    let mut config = Config::load(path)?;
    match cmd {
        TenantCommand::Add(a) => {
            if config.tenants.contains_key(&a.name) {
                bail!(dirvault_engine::config::ConfigError::Exists(a.name.clone()));
            }
            let secret = match (
                &a.client_secret_env,
                &a.client_secret_file,
                &a.certificate_file,
            ) {
                (Some(var), None, None) => SecretSource::Env { var: var.clone() },
                (None, Some(file), None) => SecretSource::File { path: file.clone() },
                (None, None, Some(cert)) => SecretSource::Certificate {
                    certificate: cert.clone(),
                    key: a.key_file.clone(),
                },
                _ => bail!(
                    "give one credential: --client-secret-env VAR, --client-secret-file FILE or --certificate-file PEM (secrets are never passed on the command line)"
                ),
            };
            let entry = TenantConfig {
                cloud: a.cloud,
                graph_url: a.graph_url.clone(),
                login_url: a.login_url.clone(),
                ..TenantConfig::new(a.tenant_id.clone(), a.client_id.clone(), secret)
            };
            // Check the endpoints now rather than at the first backup.
            if let (Some(g), Some(l)) = (&entry.graph_url, &entry.login_url) {
                dirvault_graph::Endpoints::custom(g, l)?;
            }
            config.tenants.insert(a.name.clone(), entry);
            config.save(path)?;
            if json {
                println!("{}", json!({"added": a.name, "config": path}));
            } else {
                println!("added tenant {} to {}", a.name, path.display());
            }
        }
        TenantCommand::List => {
            if json {
                println!("{}", serde_json::to_string(&config.tenants)?);
            } else if config.tenants.is_empty() {
                println!(
                    "no tenants in {}: add one with `dirvault tenant add`",
                    path.display()
                );
            } else {
                for (name, t) in &config.tenants {
                    println!("{name:<20} {}  cloud {}", t.tenant_id, t.cloud);
                }
            }
        }
        TenantCommand::ForgetKey { .. } => {
            bail!("`tenant forget-key` needs the repository; it is run from the command line")
        }
        TenantCommand::Remove { name } => {
            config.tenant(name)?;
            config.tenants.remove(name);
            config.save(path)?;
            if !json {
                println!(
                    "removed tenant {name} from {} (its snapshots stay in the repository)",
                    path.display()
                );
            }
        }
    }
    Ok(())
}
