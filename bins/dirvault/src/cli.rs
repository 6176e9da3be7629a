//! Argument parsing, dispatch and output.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use dirvault_engine::browse::{self, VersionSelector};
use dirvault_engine::config::Config;
use dirvault_engine::vault::{Against, DiffEnd, DiffFilter};
use dirvault_engine::{BackupOptions, BackupOutcome};
use dirvault_model::{ObjectId, ObjectKind};

use crate::shown::shown;
use dirvault_store::{RetentionPolicy, Snapshot};
use serde_json::json;

/// What `--help` says of exit statuses; the README says the same.
const EXIT_STATUSES: &str = "\
Exit status:
  0  done; for a backup: every kind complete (kinds skipped for a permission or licence the
     tenant lacks are allowed, with a warning)
  1  failed; for a backup: no snapshot written (authentication failed, nothing could be read,
     the repository could not be written)
  2  usage error
  3  backup: snapshot written, but some kinds failed (they keep the previous snapshot's data)";

/// Back up, browse, compare and restore Microsoft Entra ID tenants.
#[derive(Debug, Parser)]
#[command(version, about, after_help = EXIT_STATUSES)]
pub(crate) struct Cli {
    /// The repository: a path, file:///path, s3://bucket/prefix or memory://.
    #[arg(
        long,
        global = true,
        env = "DIRVAULT_REPO",
        default_value = "./dirvault-repo"
    )]
    pub(crate) repo: String,
    /// The configuration file (default: the user's config directory, dirvault/config.toml).
    #[arg(long, global = true, env = "DIRVAULT_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// A file holding the repository password (or `key:` and 64 hex digits). Without this,
    /// --password-command or DIRVAULT_PASSWORD, the configuration's [repository] section says.
    #[arg(long, global = true, env = "DIRVAULT_PASSWORD_FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// A command that prints the repository password or key (a KMS or secret-manager client).
    #[arg(long, global = true, env = "DIRVAULT_PASSWORD_COMMAND")]
    pub(crate) password_command: Option<String>,
    /// Allow creating a new repository without encryption (it holds customers' directories:
    /// only for test data).
    #[arg(long, global = true)]
    pub(crate) insecure_no_encryption: bool,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Colour changed values: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Standard output, stripped of colours unless this choice (and, for `auto`, the
    /// terminal and `NO_COLOR`) allows them.
    fn stdout(self) -> anstream::AutoStream<std::io::StdoutLock<'static>> {
        let choice = match self {
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
            ColorChoice::Auto => anstream::ColorChoice::Auto,
        };
        anstream::AutoStream::new(std::io::stdout().lock(), choice)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage the tenants in the configuration (and erase one's data: `forget-key`).
    #[command(subcommand)]
    Tenant(crate::tenant::TenantCommand),
    /// Create an encrypted repository (a first backup also does), with the password given
    /// by --password-file, --password-command or DIRVAULT_PASSWORD.
    Init,
    /// Manage the repository's key slots: each password or key that opens it.
    #[command(subcommand)]
    Key(crate::keys::KeyCommand),
    /// Work on the repository as a whole: `encrypt` copies an unencrypted one into a new
    /// encrypted one.
    #[command(subcommand)]
    Repo(crate::repo::RepoCommand),
    /// Back a tenant up: the first run reads everything, later runs only the changes.
    Backup {
        /// The tenant's name in the configuration.
        name: String,
        #[command(flatten)]
        options: BackupOptions,
    },
    /// List the tenants the repository holds: id, name in the configuration (if any), snapshots
    /// and the latest. Needs no configuration.
    Tenants,
    /// List a tenant's snapshots.
    Snapshots {
        /// The tenant's name.
        name: String,
    },
    /// Re-read and re-hash everything of a tenant; names what is missing or corrupt.
    Verify {
        /// The tenant's name.
        name: String,
    },
    /// Delete the snapshots a retention policy does not keep (then run `prune`).
    Forget(ForgetArgs),
    /// See or break a tenant's lease (what keeps two backups or prunes of a tenant from
    /// running at once). A lease left by a process of this machine that died is broken by
    /// the next run on its own; `break` is for one left elsewhere.
    #[command(subcommand)]
    Lease(crate::lease::LeaseCommand),
    /// Free the space no snapshot uses.
    Prune {
        /// The tenant's name.
        name: String,
    },
    /// Write a snapshot out as one JSON file per object (`<out>/<kind>/<id>.json`).
    Export {
        /// The tenant's name.
        name: String,
        /// The snapshot id, or `latest`.
        #[arg(long, default_value = "latest")]
        snapshot: String,
        /// Output directory (or zip file with --zip).
        #[arg(long)]
        out: PathBuf,
        /// Write a zip file.
        #[arg(long)]
        zip: bool,
        /// Also write the relationships (`relationships/<kind>.json`).
        #[arg(long)]
        with_relationships: bool,
    },
    /// List one kind of object at a snapshot.
    Ls(crate::ls::LsArgs),
    /// Show one object at a snapshot, with what changed since its previous version.
    Show {
        /// The tenant's name.
        name: String,
        /// The kind.
        kind: ObjectKind,
        /// The object id.
        id: ObjectId,
        /// A snapshot id, `latest`, or an RFC 3339 date-time.
        #[arg(long, default_value = "latest")]
        at: String,
        /// Which version: prev, next (relative to --at), current, or N (1 = the first).
        #[arg(long, default_value = "current")]
        version: VersionSelector,
    },
    /// Risky changes a snapshot brought: privileged roles assigned, Conditional Access
    /// switched off, credentials added to apps, mass deletions... (docs/alerts.md).
    Alerts(crate::alerts::AlertsArgs),
    /// The snapshots where an object was created, modified, deleted or restored.
    History {
        /// The tenant's name.
        name: String,
        /// The kind.
        kind: ObjectKind,
        /// The object id.
        id: ObjectId,
    },
    /// A user's (or any principal's) memberships and ownerships as of a snapshot.
    Memberships {
        /// The tenant's name.
        name: String,
        /// The user (or group, service principal) id.
        id: ObjectId,
        /// A snapshot id, `latest`, or an RFC 3339 date-time.
        #[arg(long, default_value = "latest")]
        at: String,
    },
    /// A principal's directory role assignments and PIM eligibilities as of a snapshot.
    Roles {
        /// The tenant's name.
        name: String,
        /// The principal id.
        id: ObjectId,
        /// A snapshot id, `latest`, or an RFC 3339 date-time.
        #[arg(long, default_value = "latest")]
        at: String,
    },
    /// A user's authentication methods (metadata) as of a snapshot.
    AuthMethods {
        /// The tenant's name.
        name: String,
        /// The user id.
        id: ObjectId,
        /// A snapshot id, `latest`, or an RFC 3339 date-time.
        #[arg(long, default_value = "latest")]
        at: String,
    },
    /// What was created, modified and deleted between two snapshots (in either order).
    Diff {
        /// The tenant's name.
        name: String,
        /// The first snapshot (id, `latest` or date-time).
        a: String,
        /// The second snapshot, or `live`: the tenant as it is now (read through Graph).
        b: String,
        /// Only this kind.
        #[arg(long)]
        kind: Option<ObjectKind>,
        /// Only the objects deleted between the two snapshots.
        #[arg(long)]
        deleted_only: bool,
        /// Only the kinds with differences (without it, unchanged kinds are listed too).
        #[arg(long)]
        only_changes: bool,
    },
    /// A tour on an emulated tenant: back it up, change it, back it up again, show the
    /// changes, then delete a user and restore it. `--serve` keeps the tenant running,
    /// configured as `contoso`.
    Quickstart(crate::quickstart::QuickstartArgs),
    /// Restore objects of a snapshot: plan (review it with --dry-run), then apply. `restore
    /// apply PLAN.json` applies a plan written with --plan-out.
    Restore(Box<crate::restore::RestoreArgs>),
    /// Print a shell completion script, e.g. `dirvault completions bash >
    /// ~/.local/share/bash-completion/completions/dirvault`.
    Completions {
        /// The shell: bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `dirvault man | man -l -`.
    Man,
}

#[derive(Debug, Args)]
struct ForgetArgs {
    /// The tenant's name.
    name: String,
    #[command(flatten)]
    policy: RetentionPolicy,
}

/// Parses arguments, runs the command, prints errors with their causes.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DIRVAULT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<crate::backup::PartialBackup>() {
            Some(partial) => {
                eprintln!("warning: {partial}");
                ExitCode::from(BackupOutcome::Partial.exit_code())
            }
            None => {
                eprintln!("error: {e:#}");
                if let Some(hint) = hint(&e) {
                    eprintln!("hint: {hint}");
                }
                ExitCode::FAILURE
            }
        },
    }
}

/// What to try next, for the library errors a command line can say more about.
fn hint(e: &anyhow::Error) -> Option<&'static str> {
    use dirvault_engine::NotFound;
    match e
        .chain()
        .find_map(|c| c.downcast_ref::<dirvault_engine::Error>())?
    {
        dirvault_engine::Error::NotFound(NotFound::Object { .. }) => Some(
            "`dirvault ls NAME KIND --deleted` lists what was deleted before a snapshot; `dirvault history NAME KIND ID` says when an object came and went",
        ),
        dirvault_engine::Error::NotFound(NotFound::NoSnapshots { .. }) => {
            Some("`dirvault backup NAME` takes the first snapshot")
        }
        dirvault_engine::Error::NotFound(
            NotFound::UnknownSnapshot { .. } | NotFound::NoSnapshotAt { .. },
        ) => Some("`dirvault snapshots NAME` lists the snapshots"),
        _ => None,
    }
}

fn config_path(cli: &Cli) -> PathBuf {
    cli.config.clone().unwrap_or_else(Config::default_path)
}

use crate::repository::{open, open_vault, tenant_named, vault};

async fn run(cli: Cli) -> Result<()> {
    let path = config_path(&cli);
    match &cli.command {
        Command::Tenant(crate::tenant::TenantCommand::ForgetKey { name, yes }) => {
            let vault = vault(&cli, &path)?;
            let tenant = tenant_named(&cli, &vault, &path, name).await?;
            crate::keys::forget_tenant_key(&vault, &tenant, name, *yes, cli.json).await
        }
        Command::Tenant(cmd) => crate::tenant::run(cmd, &path, cli.json),
        Command::Init => crate::keys::init(&vault(&cli, &path)?, &cli.repo, cli.json).await,
        Command::Key(cmd) => crate::keys::run(&vault(&cli, &path)?, cmd, cli.json).await,
        Command::Repo(cmd) => {
            // The source may be unencrypted: it is only read.
            let source = crate::repository::open_vault(&cli, &path, true)?;
            crate::repo::run(&source, &cli.repo, cmd, cli.json).await
        }
        Command::Backup { name, options } => {
            let config = Config::load(&path)?;
            let client = config.tenant(name)?.client(name)?;
            let vault = vault(&cli, &path)?;
            let report = crate::backup::run_backup(&client, &vault, options, !cli.json)
                .await
                .with_context(|| format!("backup of tenant {name}"))?;
            crate::backup::print_backup(cli.json, name, &report);
            crate::backup::backup_result(name, &report)
        }
        Command::Tenants => {
            let vault = vault(&cli, &path)?;
            // Names come from the configuration when there is one; the repository alone
            // knows the tenant ids.
            let config = Config::load(&path).unwrap_or_else(|e| {
                eprintln!("warning: {e}; tenants are listed without their names");
                Config::default()
            });
            let mut rows = Vec::new();
            for summary in vault.tenants().await? {
                let name = config
                    .tenants
                    .iter()
                    .find(|(_, t)| t.tenant_id == summary.tenant)
                    .map(|(name, _)| name.clone());
                let mut row = serde_json::to_value(&summary)?;
                row["name"] = json!(name);
                rows.push(row);
            }
            if cli.json {
                println!("{}", json!({ "repo": cli.repo, "tenants": rows }));
            } else if rows.is_empty() {
                println!(
                    "{} holds no tenant yet: run `dirvault backup NAME`",
                    cli.repo
                );
            } else {
                println!("{:<38} {:<16} {:>9}  LATEST", "TENANT", "NAME", "SNAPSHOTS");
                for r in &rows {
                    println!(
                        "{:<38} {:<16} {:>9}  {}",
                        r["tenant"].as_str().unwrap_or(""),
                        r["name"].as_str().unwrap_or("-"),
                        r["snapshots"],
                        r["latest"]["id"].as_str().unwrap_or("-")
                    );
                }
            }
            Ok(())
        }
        Command::Snapshots { name } => {
            let (vault, tenant) = open(&cli, &path, name).await?;
            let snapshots = vault.snapshots(&tenant).await?;
            if cli.json {
                let list: Vec<_> = snapshots.iter().map(snapshot_summary).collect();
                println!("{}", json!({ "tenant": name, "snapshots": list }));
            } else if snapshots.is_empty() {
                println!("no snapshots of {name} yet: run `dirvault backup {name}`");
            } else {
                println!(
                    "{:<28} {:<20} {:>8} {:>8} {:>6}",
                    "SNAPSHOT", "TIME (UTC)", "OBJECTS", "LINKS", "NOT OK"
                );
                for s in &snapshots {
                    let objects: usize = s.kinds.values().map(|k| k.count).sum();
                    let not_ok = s
                        .kinds
                        .values()
                        .filter(|k| k.status != dirvault_store::KindStatus::Complete)
                        .count();
                    println!(
                        "{:<28} {:<20} {:>8} {:>8} {:>6}",
                        s.id,
                        s.time.format("%Y-%m-%d %H:%M:%S"),
                        objects,
                        s.relationships.count,
                        not_ok
                    );
                }
            }
            Ok(())
        }
        Command::Verify { name } => {
            let (vault, tenant) = open(&cli, &path, name).await?;
            let report = vault.verify(&tenant).await?;
            if cli.json {
                println!("{}", serde_json::to_string(&report)?);
            } else if let Some(when) = &report.erased {
                println!(
                    "{name} was erased (its key forgotten {when}): its data cannot be read by anyone"
                );
            } else {
                println!(
                    "checked {} snapshots, {} packs, {} blobs",
                    report.snapshots, report.packs, report.blobs
                );
                for p in &report.problems {
                    println!("problem: {p}");
                }
            }
            if !report.is_clean() {
                bail!(
                    "the repository of tenant {name} has {} problem(s)",
                    report.problems.len()
                );
            }
            Ok(())
        }
        Command::Forget(args) => {
            let (vault, tenant) = open(&cli, &path, &args.name).await?;
            let report = vault
                .forget(&tenant, &args.policy, "dirvault-forget")
                .await?;
            if cli.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "kept {} snapshots, removed {}; run `dirvault prune {}` to free the space",
                    report.kept.len(),
                    report.removed.len(),
                    args.name
                );
            }
            Ok(())
        }
        Command::Lease(cmd) => {
            let (vault, tenant) = open(&cli, &path, cmd.name()).await?;
            crate::lease::run(vault.repository(), &tenant, cmd, cli.json).await
        }
        Command::Prune { name } => {
            let (vault, tenant) = open(&cli, &path, name).await?;
            let report = vault.prune(&tenant, "dirvault-prune").await?;
            if cli.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "deleted {} packs ({} bytes), removed {} unused blobs, repacked {}; snapshot record packs: {} written, {} deleted",
                    report.packs_deleted,
                    report.bytes_freed,
                    report.blobs_removed,
                    report.blobs_repacked,
                    report.record_packs_written,
                    report.record_packs_deleted
                );
            }
            Ok(())
        }
        Command::Export {
            name,
            snapshot,
            out,
            zip,
            with_relationships,
        } => {
            let (vault, tenant) = open(&cli, &path, name).await?;
            let repo = vault.repository();
            let snapshot = vault.snapshot(&tenant, snapshot).await?;
            let report =
                dirvault_engine::export(repo, &snapshot, out, *zip, *with_relationships).await?;
            if cli.json {
                println!(
                    "{}",
                    json!({"snapshot": snapshot.id, "out": out, "objects": report.objects, "relationshipFiles": report.relationship_files})
                );
            } else {
                println!(
                    "exported {} objects of snapshot {} to {}",
                    report.objects,
                    snapshot.id,
                    out.display()
                );
            }
            Ok(())
        }
        Command::Ls(args) => crate::ls::run(&cli, &path, args).await,
        Command::Show {
            name,
            kind,
            id,
            at,
            version,
        } => {
            let (vault, tenant) = open(&cli, &path, name).await?;
            let repo = vault.repository();
            let at = vault.snapshot(&tenant, at).await?;
            let snapshot = browse::select_version(repo, &at, *kind, id, *version).await?;
            let view = browse::show(repo, &snapshot, *kind, id).await?;
            if cli.json {
                println!("{}", serde_json::to_string(&view)?);
                return Ok(());
            }
            let changed: std::collections::BTreeMap<&str, &dirvault_diff::AttributeChange> = view
                .changes
                .iter()
                .map(|c| (c.path.split('/').next().unwrap_or(""), c))
                .collect();
            let red = anstyle::AnsiColor::Red.on_default();
            let mut out = cli.color.stdout();
            writeln!(out, "{kind} {id} at snapshot {}", view.snapshot)?;
            for (key, value) in view.object.raw() {
                match changed.get(key.as_str()) {
                    Some(c) => writeln!(
                        out,
                        "{red}* {key}: {}{red:#} (was {})",
                        shown(value),
                        shown(c.old.as_ref().unwrap_or(&serde_json::Value::Null))
                    )?,
                    None => writeln!(out, "  {key}: {}", shown(value))?,
                }
            }
            drop(out);
            match &view.previous {
                Some((prev, _)) => {
                    println!("{} change(s) since snapshot {prev}", view.changes.len())
                }
                None => println!("no earlier version"),
            }
            Ok(())
        }
        Command::History { name, kind, id } => {
            let (vault, tenant) = open(&cli, &path, name).await?;
            let repo = vault.repository();
            let entries = browse::history(repo, &tenant, *kind, id).await?;
            let relationships = browse::relationship_history(repo, &tenant, id).await?;
            if cli.json {
                println!(
                    "{}",
                    json!({"kind": kind, "id": id, "history": entries, "relationships": relationships})
                );
            } else if entries.is_empty() {
                println!("{kind} {id} is in no snapshot of {name}");
            } else {
                for e in &entries {
                    let paths: Vec<&str> = e.changes.iter().map(|c| c.path.as_str()).collect();
                    println!(
                        "{}  {}  {:?}  {}",
                        e.snapshot,
                        e.time.format("%Y-%m-%d %H:%M:%S"),
                        e.event,
                        paths.join(", ")
                    );
                }
                for r in &relationships {
                    for (sign, list) in [("+", &r.added), ("-", &r.removed)] {
                        for rel in list {
                            println!(
                                "{}  {}  {sign} {:?} {} -> {}",
                                r.snapshot,
                                r.time.format("%Y-%m-%d %H:%M:%S"),
                                rel.kind,
                                rel.source,
                                rel.target
                            );
                        }
                    }
                }
            }
            Ok(())
        }
        Command::Diff {
            name,
            a,
            b,
            kind,
            deleted_only,
            only_changes,
        } => {
            let (vault, tenant) = open(&cli, &path, name).await?;
            let filter = DiffFilter {
                kind: *kind,
                deleted_only: *deleted_only,
                only_changes: *only_changes,
            };
            let client;
            let against = if b == "live" {
                client = Config::load(&path)?.tenant(name)?.client(name)?;
                Against::Live(&client)
            } else {
                Against::Snapshot(b)
            };
            let diff = vault
                .diff(&tenant, a, against, &filter)
                .await
                .with_context(|| format!("comparing {name} {a} with {b}"))?;
            if cli.json {
                println!("{}", serde_json::to_string(&diff)?);
                return Ok(());
            }
            match &diff.to {
                DiffEnd::Snapshot(to) => println!("from {} to {to}", diff.from),
                DiffEnd::Live => println!("from {} to the live tenant", diff.from),
            }
            for (k, c) in &diff.changes {
                println!("{}", crate::kind_column::changes_line(*k, c));
            }
            for (k, reason) in &diff.unavailable {
                println!(
                    "  {} not compared: {reason}",
                    crate::kind_column::kind_cell(*k)
                );
            }
            Ok(())
        }
        Command::Memberships { name, id, at } | Command::Roles { name, id, at } => {
            let (vault, tenant) = open(&cli, &path, name).await?;
            let repo = vault.repository();
            let snapshot = vault.snapshot(&tenant, at).await?;
            let related = if matches!(cli.command, Command::Roles { .. }) {
                browse::roles(repo, &snapshot, id).await?
            } else {
                browse::memberships(repo, &snapshot, id).await?
            };
            if cli.json {
                println!(
                    "{}",
                    json!({"snapshot": snapshot.id, "id": id, "related": related})
                );
            } else {
                for r in &related {
                    println!(
                        "{:<26} {:<40} {} {}",
                        format!("{:?}", r.relationship),
                        r.id,
                        r.name.as_deref().unwrap_or(""),
                        r.scope.as_deref().unwrap_or("")
                    );
                }
                eprintln!("{} at snapshot {}", related.len(), snapshot.id);
            }
            Ok(())
        }
        Command::AuthMethods { name, id, at } => {
            let (vault, tenant) = open(&cli, &path, name).await?;
            let repo = vault.repository();
            let snapshot = vault.snapshot(&tenant, at).await?;
            let methods = browse::auth_methods(repo, &snapshot, id).await?;
            if cli.json {
                println!(
                    "{}",
                    json!({"snapshot": snapshot.id, "user": id, "methods": methods})
                );
            } else {
                for m in &methods {
                    let ty = m["@odata.type"]
                        .as_str()
                        .unwrap_or("")
                        .trim_start_matches("#microsoft.graph.");
                    let detail = m
                        .get("phoneNumber")
                        .or(m.get("emailAddress"))
                        .or(m.get("displayName"))
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("");
                    println!("{ty:<50} {detail}");
                }
            }
            Ok(())
        }
        Command::Quickstart(args) => {
            // The quickstart's repository holds emulated data only: created unencrypted
            // unless a password is given (a repository of real tenants never is).
            let globals = crate::quickstart::Globals {
                repo: &cli.repo,
                vault: open_vault(&cli, &path, true)?,
                config: &path,
                json: cli.json,
            };
            crate::quickstart::run(&globals, args).await
        }
        Command::Alerts(args) => crate::alerts::run(&cli, &path, args).await,
        Command::Restore(args) => {
            crate::restore::run(&vault(&cli, &path)?, &path, cli.json, args).await
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "dirvault", &mut script);
            print_bytes(&script)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .context("rendering the manual page")?;
            print_bytes(&page)
        }
    }
}

/// Writes `bytes` to standard output; a reader that stops early (`| head`) is not an error.
fn print_bytes(bytes: &[u8]) -> Result<()> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to standard output"),
    }
}

fn snapshot_summary(s: &Snapshot) -> serde_json::Value {
    let kinds: serde_json::Map<String, serde_json::Value> = s
        .kinds
        .iter()
        .map(|(k, r)| {
            (
                k.name().to_owned(),
                json!({"count": r.count, "status": r.status}),
            )
        })
        .collect();
    json!({"id": s.id, "time": s.time, "parent": s.parent, "relationships": s.relationships.count, "kinds": kinds})
}
