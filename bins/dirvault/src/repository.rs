//! Opening the repository for a command: its password from the flags, the environment or the
//! configuration, and the tenant a command names.

use anyhow::Result;
use dirvault_engine::Vault;
use dirvault_engine::config::Config;

use crate::cli::Cli;

/// Opens the repository: with the password or key the flags, `DIRVAULT_PASSWORD` or the
/// configuration's `[repository]` section give, and refusing to create a new one unencrypted
/// unless allowed.
pub(crate) fn vault(cli: &Cli, path: &std::path::Path) -> Result<Vault> {
    open_vault(cli, path, cli.insecure_no_encryption)
}

/// [`vault`], allowing a new repository to be unencrypted when `insecure`.
pub(crate) fn open_vault(cli: &Cli, path: &std::path::Path, insecure: bool) -> Result<Vault> {
    let config = Config::load(path).ok().and_then(|c| c.repository);
    let access = dirvault_engine::repository_access::Access {
        password_command: cli.password_command.clone(),
        password_file: cli.password_file.clone(),
        insecure_no_encryption: insecure,
    };
    let options = access.options(config.as_ref().map(|c| (path, c)))?;
    Ok(Vault::open_with(&cli.repo, &options)?)
}

pub(crate) async fn open(
    cli: &Cli,
    path: &std::path::Path,
    name: &str,
) -> Result<(Vault, dirvault_model::TenantId)> {
    let vault = vault(cli, path)?;
    let tenant = tenant_named(cli, &vault, path, name).await?;
    Ok((vault, tenant))
}

/// The tenant `name` names: a configured tenant, or a tenant id the repository holds.
pub(crate) async fn tenant_named(
    cli: &Cli,
    vault: &Vault,
    path: &std::path::Path,
    name: &str,
) -> Result<dirvault_model::TenantId> {
    let config = Config::load(path)?;
    let tenant = match config.tenant(name) {
        Ok(t) => t.tenant_id.clone(),
        // Commands that read only the repository also take a tenant id it holds, so that a
        // repository can be browsed without a configuration (`dirvault tenants` lists them).
        Err(unknown) => match name.parse::<dirvault_model::TenantId>() {
            Ok(id) if vault.holds(&id).await? => id,
            _ => {
                return Err(anyhow::Error::new(unknown).context(format!(
                    "{name:?} is neither a configured tenant nor a tenant id {} holds \
                     (`dirvault tenants` lists them)",
                    cli.repo
                )));
            }
        },
    };
    Ok(tenant)
}
