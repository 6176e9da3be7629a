//! `dirvault restore`: plan (review it with `--dry-run`), then apply; `dirvault restore apply
//! PLAN.json` applies a reviewed plan. Everything here is argument handling and output: the
//! work is dirvault-restore's.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use dirvault_engine::browse::resolve_snapshot;
use dirvault_engine::config::Config;
use dirvault_graph::GraphClient;
use dirvault_restore::{
    ApplyOptions, BackupState, CurrentState, Outcome, PlanContext, RestoreOptions, RestorePlan,
    RestoreReport,
};
use dirvault_store::Repository;

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
    /// Apply a plan written with --plan-out (re-running an interrupted plan finishes it).
    Apply {
        /// The plan file.
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

pub(crate) async fn run(repo: &str, config: &Path, json: bool, args: &RestoreArgs) -> Result<()> {
    let config = Config::load(config)?;
    let repo = Repository::open(repo)?;
    if let Some(RestoreCommand::Apply {
        plan,
        password,
        yes,
    }) = &args.command
    {
        let text = std::fs::read_to_string(plan)
            .with_context(|| format!("cannot read the plan {}", plan.display()))?;
        let plan: RestorePlan = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a dirvault restore plan", plan.display()))?;
        let client = client_for(&config, &plan)?;
        return apply(&client, &repo, &plan, password, *yes, json).await;
    }
    let Some(name) = &args.name else {
        bail!("give the tenant to restore from, or `restore apply PLAN.json`");
    };
    let source = config.tenant(name)?;
    let target_name = args.to_tenant.as_deref().unwrap_or(name);
    let target = config.tenant(target_name)?;
    let cross = target.tenant_id != source.tenant_id;
    if !cross && args.options.domain.is_some() {
        bail!("--domain maps addresses for a restore into another tenant: add --to-tenant OTHER");
    }
    let client = target.client(target_name)?;
    let at = args.at.as_deref().unwrap_or(&args.snapshot);
    let snapshot = resolve_snapshot(&repo, &source.tenant_id, at).await?;
    let options = RestoreOptions {
        with_object: args.options.with_object || args.options.as_new.is_some(),
        ..args.options.clone()
    };
    let backup = BackupState::load(&repo, &snapshot, &options).await?;
    let current = CurrentState::read(&client, &backup, &options, cross)
        .await
        .with_context(|| format!("reading the current state of tenant {target_name}"))?;
    let plan = dirvault_restore::plan(&options, &backup, &current, PlanContext::new(cross))?;
    // Recorded as made: `restore apply` refuses this plan's id with other content.
    dirvault_restore::propose(&repo, &plan).await?;
    if let Some(out) = &args.plan_out {
        std::fs::write(out, serde_json::to_vec_pretty(&plan)?)
            .with_context(|| format!("cannot write the plan to {}", out.display()))?;
    }
    if json && args.dry_run {
        println!("{}", serde_json::to_string(&plan)?);
    } else if !json {
        print!("{plan}");
    }
    if args.dry_run {
        return Ok(());
    }
    apply(&client, &repo, &plan, &args.password, args.yes, json).await
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
    repo: &Repository,
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
                    &dirvault_restore::apply(client, repo, plan, &ApplyOptions::default()).await?
                )?
            );
        } else {
            println!("nothing to do: the target already matches the snapshot for this selection");
        }
        return Ok(());
    }
    let default_password = password.read()?;
    if plan.needs_default_password && default_password.is_none() {
        bail!(
            "the plan re-creates users, who need a default password: give --default-password-env VAR or --default-password-file FILE (never on the command line)"
        );
    }
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
    let options = ApplyOptions {
        default_password,
        ..ApplyOptions::default()
    };
    let report = dirvault_restore::apply(client, repo, plan, &options)
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
