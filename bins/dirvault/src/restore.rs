//! `dirvault restore`: plan (review it with `--dry-run`), then apply; `dirvault restore apply
//! PLAN.json` applies a reviewed plan. Everything here is argument handling and output: the
//! work is dirvault-restore's.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use dirvault_engine::Vault;
use dirvault_engine::config::Config;
use dirvault_engine::vault::RestoreRequest;
use dirvault_graph::GraphClient;
use dirvault_restore::{ApplyOptions, Outcome, RestoreOptions, RestorePlan, RestoreReport};

/// `dirvault restore …`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct RestoreArgs {
    #[command(subcommand)]
    command: Option<RestoreCommand>,
    /// The tenant whose snapshot is restored (its name in the configuration).
    #[arg(required = true)]
    name: Option<String>,
    /// The snapshot id, or `latest`.
    #[arg(long, default_value = "latest", conflicts_with = "at")]
    snapshot: String,
    /// The latest snapshot at or before this RFC 3339 date-time.
    #[arg(long)]
    at: Option<String>,
    #[command(flatten)]
    options: RestoreOptions,
    /// Write into another configured tenant (needs --domain).
    #[arg(long, value_name = "OTHER")]
    to_tenant: Option<String>,
    #[command(flatten)]
    password: PasswordArgs,
    /// Also write the plan as JSON to this file (apply it later with `restore apply`).
    #[arg(long, value_name = "FILE")]
    plan_out: Option<PathBuf>,
    /// Print the plan and stop.
    #[arg(long, conflicts_with = "yes")]
    dry_run: bool,
    /// Apply without asking.
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
enum RestoreCommand {
    /// Apply a plan: its file (written with --plan-out) or its id (every plan made is kept in
    /// the repository). Re-running an interrupted plan finishes it.
    Apply {
        /// The plan file, or the plan's id.
        plan: PathBuf,
        #[command(flatten)]
        password: PasswordArgs,
        /// Apply without asking.
        #[arg(long)]
        yes: bool,
    },
}

/// Where the default password for re-created users comes from: never the command line.
#[derive(Debug, Args)]
struct PasswordArgs {
    /// The environment variable holding the default password of re-created users.
    #[arg(long, value_name = "VAR", conflicts_with = "default_password_file")]
    default_password_env: Option<String>,
    /// A file whose first line is the default password of re-created users.
    #[arg(long, value_name = "FILE")]
    default_password_file: Option<PathBuf>,
}

impl PasswordArgs {
    fn read(&self) -> Result<Option<secrecy::SecretString>> {
        if let Some(var) = &self.default_password_env {
            let value = std::env::var(var).with_context(|| {
                format!("--default-password-env {var}: the environment variable is not set")
            })?;
            return Ok(Some(value.into()));
        }
        if let Some(file) = &self.default_password_file {
            let text = std::fs::read_to_string(file).with_context(|| {
                format!("--default-password-file {}: cannot read it", file.display())
            })?;
            let line = text
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_owned();
            if line.is_empty() {
                bail!(
                    "--default-password-file {}: the file is empty",
                    file.display()
                );
            }
            return Ok(Some(line.into()));
        }
        Ok(None)
    }
}

pub(crate) async fn run(
    vault: &Vault,
    config: &Path,
    json: bool,
    args: &RestoreArgs,
) -> Result<()> {
    let config = Config::load(config)?;
    if let Some(RestoreCommand::Apply {
        plan,
        password,
        yes,
    }) = &args.command
    {
        let plan = read_plan(vault, &config, plan).await?;
        let client = client_for(&config, &plan)?;
        return apply(&client, vault, &plan, password, *yes, json).await;
    }
    let Some(name) = &args.name else {
        bail!("give the tenant to restore from, or `restore apply PLAN`");
    };
    if args.to_tenant.is_none() && args.options.domain.is_some() {
        bail!("--domain maps addresses for a restore into another tenant: add --to-tenant OTHER");
    }
    let source = config.tenant(name)?;
    let target_name = args.to_tenant.as_deref().unwrap_or(name);
    let client = config.tenant(target_name)?.client(target_name)?;
    let request = RestoreRequest {
        source: &source.tenant_id,
        snapshot: args.at.as_deref().unwrap_or(&args.snapshot),
        options: &args.options,
        target: &client,
    };
    let plan = vault
        .plan_restore(&request)
        .await
        .with_context(|| format!("planning the restore of {name} into tenant {target_name}"))?;
    if let Some(out) = &args.plan_out {
        std::fs::write(out, serde_json::to_vec_pretty(&plan)?)
            .with_context(|| format!("cannot write the plan to {}", out.display()))?;
    }
    if json && args.dry_run {
        println!("{}", serde_json::to_string(&plan)?);
    } else if !json {
        print!("{plan}");
        if args.dry_run && !plan.steps.is_empty() {
            println!("apply it with: dirvault restore apply {}", plan.id);
        }
    }
    if args.dry_run {
        return Ok(());
    }
    apply(&client, vault, &plan, &args.password, args.yes, json).await
}

/// The plan `given` names: a plan file (written with --plan-out), or the id of a plan made
/// earlier for one of the configured tenants (the repository keeps every plan it makes).
async fn read_plan(vault: &Vault, config: &Config, given: &Path) -> Result<RestorePlan> {
    if given.is_file() {
        let text = std::fs::read_to_string(given)
            .with_context(|| format!("cannot read the plan {}", given.display()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not a dirvault restore plan", given.display()));
    }
    let id = given.to_string_lossy();
    for tenant in config.tenants.values() {
        if let Some(plan) = vault.stored_plan(&tenant.tenant_id, &id).await? {
            return Ok(plan);
        }
    }
    bail!(
        "cannot read the plan {id:?}: it is neither a file nor the id of a plan made for a \
         configured tenant (`dirvault restore NAME --dry-run` makes one and prints its id)"
    )
}

/// The configured tenant a plan writes to.
fn client_for(config: &Config, plan: &RestorePlan) -> Result<GraphClient> {
    let Some((name, tenant)) = config
        .tenants
        .iter()
        .find(|(_, t)| t.tenant_id == plan.target)
    else {
        bail!(
            "plan {} writes to tenant {}, which is not in the configuration: add it with `dirvault tenant add`",
            plan.id,
            plan.target
        );
    };
    Ok(tenant.client(name)?)
}

async fn apply(
    client: &GraphClient,
    vault: &Vault,
    plan: &RestorePlan,
    password: &PasswordArgs,
    yes: bool,
    json: bool,
) -> Result<()> {
    if plan.steps.is_empty() {
        if json {
            println!(
                "{}",
                serde_json::to_string(
                    &vault
                        .apply_restore(client, plan, &ApplyOptions::default())
                        .await?
                )?
            );
        } else {
            println!("nothing to do: the target already matches the snapshot for this selection");
        }
        return Ok(());
    }
    let options = ApplyOptions {
        default_password: password.read()?,
        ..ApplyOptions::default()
    };
    // Checked before asking: a plan that cannot be applied is said so at once.
    dirvault_restore::ready_to_apply(plan, client.tenant(), &options).map_err(|e| match e {
        dirvault_restore::Error::PasswordRequired { .. } => anyhow::anyhow!(
            "{e}: give --default-password-env VAR or --default-password-file FILE (never on the command line)"
        ),
        other => other.into(),
    })?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to write to tenant {} without --yes (review the plan with --dry-run first)",
                plan.target
            );
        }
        eprint!(
            "Apply {} steps to tenant {}? [y/N] ",
            plan.steps.len(),
            plan.target
        );
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("not applied");
        }
    }
    let report = vault
        .apply_restore(client, plan, &options)
        .await
        .with_context(|| format!("applying plan {} (run it again to resume)", plan.id))?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(plan, &report);
    }
    if !report.is_complete() {
        bail!(
            "{} step(s) failed and {} were skipped; fix the cause and run `dirvault restore apply` with the plan again to finish it",
            report.summary.failed,
            report.summary.skipped
        );
    }
    Ok(())
}

fn print_report(plan: &RestorePlan, report: &RestoreReport) {
    let s = report.summary;
    println!(
        "plan {}: {} done, {} already done, {} failed, {} skipped",
        report.plan, s.done, s.already_done, s.failed, s.skipped
    );
    for step in &report.steps {
        let Some(planned) = plan.step(step.step) else {
            continue;
        };
        match &step.outcome {
            Outcome::Failed {
                http_status,
                code,
                message,
                request_id,
            } => println!(
                "  failed  {:>4}. {:?} {}: HTTP {http_status} {code}: {message} (request-id {})",
                step.step,
                planned.action,
                planned.object,
                request_id.as_deref().unwrap_or("-")
            ),
            Outcome::Skipped { reason } => println!(
                "  skipped {:>4}. {:?} {}: {reason}",
                step.step, planned.action, planned.object
            ),
            _ => {}
        }
    }
}
