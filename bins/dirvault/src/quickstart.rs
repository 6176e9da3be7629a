//! `dirvault quickstart`: a tour on an emulated tenant — back it up, let an admin change it,
//! back it up again and show what changed, then an incident (a user removed from a group and
//! deleted) and its restore. With `--serve` the emulated tenant keeps running and the
//! configuration names it `contoso`, so every command of the README works against it.
//!
//! Each step is one library call (the facade's, or the emulator's to play the admin); this
//! file prints.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use dirvault_emulator::{Emulator, EmulatorConfig, RunningEmulator, TenantSpec, ThrottleConfig};
use dirvault_engine::config::{Config, SecretSource, TenantConfig};
use dirvault_engine::vault::RestoreRequest;
use dirvault_engine::{BackupOptions, BackupReport, Vault};
use dirvault_graph::{Credentials, GraphClient, Method};
use dirvault_model::{ObjectId, ObjectKind, RelationshipKind};
use dirvault_restore::{ApplyOptions, RestoreOptions};
use dirvault_store::Snapshot;
use serde_json::{Value, json};

/// The name the quickstart's tenant has in the configuration it writes.
const TENANT: &str = "contoso";

/// `dirvault quickstart …`
#[derive(Debug, Args)]
pub(crate) struct QuickstartArgs {
    /// Keep the emulated tenant running afterwards (until Ctrl-C) and add it to the
    /// configuration as `contoso` (its secret in a file beside the configuration), so that
    /// every command of the README works against it.
    #[arg(long)]
    serve: bool,
    /// Where the emulated tenant listens (loopback only).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    listen: std::net::SocketAddr,
}

/// The global options the tour uses.
pub(crate) struct Globals<'a> {
    pub(crate) repo: &'a str,
    /// The repository, opened (unencrypted when new, unless a password was given).
    pub(crate) vault: Vault,
    pub(crate) config: &'a Path,
    pub(crate) json: bool,
}

/// A user the incident removes from a group and deletes.
struct Victim {
    user: ObjectId,
    name: String,
    group: ObjectId,
    group_name: String,
}

pub(crate) async fn run(cx: &Globals<'_>, args: &QuickstartArgs) -> Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "--listen {}: the emulated tenant serves its secret-free Graph on loopback only",
            args.listen
        );
    }
    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    });
    let info = emulator.create_tenant(&TenantSpec::preset(TENANT, "small", 1)?)?;
    let server = emulator.start(&args.listen.to_string()).await?;
    let client = GraphClient::builder(info.tenant_id.parse()?)
        .with_credentials(Credentials::secret(
            info.client_id.parse()?,
            info.client_secret.clone(),
        ))
        .with_endpoints(&server.url(), &server.url())
        .build()?;
    let vault = &cx.vault;
    let say = |line: String| {
        if !cx.json {
            println!("{line}");
        }
    };
    say(format!(
        "1. An emulated tenant {TENANT} ({}) is serving Graph at {}/v1.0",
        info.tenant_id,
        server.url()
    ));
    say(format!("2. Backing it up into {} …", cx.repo));
    let first =
        crate::backup::run_backup(&client, vault, &BackupOptions::default(), !cx.json).await?;
    if !cx.json {
        crate::backup::print_backup(false, TENANT, &first);
    }
    say(
        "3. An admin changes things: 5% of users edited, a few hires and leavers, membership changes …"
            .into(),
    );
    let churn = emulator.with_tenant(&info.tenant_id, |t| {
        dirvault_emulator::control::churn_tenant(t, 5.0, 42, emulator.clock().now())
    })?;
    say("4. Backing up again (incremental) …".into());
    let second =
        crate::backup::run_backup(&client, vault, &BackupOptions::default(), !cx.json).await?;
    let changes =
        dirvault_engine::changes(vault.repository(), &first.snapshot, &second.snapshot).await?;
    if !cx.json {
        crate::backup::print_backup(false, TENANT, &second);
        println!(
            "5. What changed between {} and {}:",
            first.snapshot.id, second.snapshot.id
        );
        for (kind, c) in &changes {
            println!("{}", crate::kind_column::changes_line(*kind, c));
            for item in c.created.iter().chain(&c.deleted).take(3) {
                println!("      {} {}", item.id, item.name.as_deref().unwrap_or(""));
            }
        }
    }
    let restore = incident_and_restore(cx, vault, &client, &second.snapshot).await?;
    let config = if args.serve {
        Some(write_config(cx.config, &info, &server)?)
    } else {
        None
    };
    if cx.json {
        println!(
            "{}",
            json!({
                "tenant": info.tenant_id,
                "snapshots": [first.snapshot.id, second.snapshot.id],
                "churn": churn,
                "changes": changes,
                "restore": restore,
                "repo": cx.repo,
                "serving": config.as_ref().map(|c| json!({"graph": server.url(), "config": c, "name": TENANT})),
            })
        );
    } else {
        print_next_steps(cx, &info.tenant_id, &first, &second, args.serve);
    }
    if let Some(config) = config {
        // The line a script waits for (printed last, after everything above is flushed).
        if cx.json {
            println!("{}", json!({"serving": server.url(), "config": config}));
        } else {
            println!(
                "Serving tenant {TENANT} at {}/v1.0 (configured in {}); Ctrl-C stops it.",
                server.url(),
                config.display()
            );
        }
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        server.shutdown().await;
    }
    Ok(())
}

/// Steps 6–9: a user removed from a group and deleted, the plan that brings both back, the
/// plan applied, and the user read back from Graph with the same id and membership.
async fn incident_and_restore(
    cx: &Globals<'_>,
    vault: &Vault,
    client: &GraphClient,
    snapshot: &Snapshot,
) -> Result<Value> {
    let victim = pick_victim(vault, snapshot).await?;
    if !cx.json {
        println!(
            "6. An incident: {} is removed from group {} and deleted …",
            victim.name, victim.group_name
        );
    }
    client
        .send(
            Method::DELETE,
            &format!("/groups/{}/members/{}/$ref", victim.group, victim.user),
            None,
            &[],
        )
        .await
        .context("removing the user from the group")?;
    client
        .send(
            Method::DELETE,
            &format!("/users/{}", victim.user),
            None,
            &[],
        )
        .await
        .context("deleting the user")?;
    let options = RestoreOptions {
        ids: vec![victim.user.to_string()],
        with_object: true,
        with_memberships: true,
        ..RestoreOptions::default()
    };
    let plan = vault
        .plan_restore(&RestoreRequest {
            source: client.tenant(),
            snapshot: snapshot.id.as_str(),
            options: &options,
            target: client,
        })
        .await
        .context("planning the restore")?;
    if !cx.json {
        println!("7. The restore plan, from snapshot {}:", snapshot.id);
        print!("{plan}");
    }
    let report = vault
        .apply_restore(client, &plan, &ApplyOptions::default())
        .await
        .context("applying the restore plan")?;
    let user = client
        .get(&format!("/users/{}?$select=id,displayName", victim.user))
        .await
        .context("reading the restored user")?;
    let back = user["id"].as_str() == Some(victim.user.as_str());
    let member = is_member(client, &victim).await?;
    if !cx.json {
        let s = report.summary;
        println!(
            "8. Applied plan {}: {} done, {} already done, {} failed",
            plan.id, s.done, s.already_done, s.failed
        );
        println!(
            "9. {} is back with the same id {}{}",
            victim.name,
            victim.user,
            if member {
                format!(", a member of {} again", victim.group_name)
            } else {
                format!(", but NOT a member of {}", victim.group_name)
            }
        );
    }
    if !report.is_complete() || !back || !member {
        bail!(
            "the restore did not bring {} back whole (plan {}: {} failed; back: {back}; member: {member})",
            victim.user,
            plan.id,
            report.summary.failed
        );
    }
    Ok(json!({
        "user": victim.user,
        "group": victim.group,
        "plan": plan.id,
        "summary": report.summary,
        "back": back,
        "member": member,
    }))
}

/// A user of `snapshot` in an assigned (not dynamic) group, the first by name.
async fn pick_victim(vault: &Vault, snapshot: &Snapshot) -> Result<Victim> {
    let repo = vault.repository();
    let users = repo.objects(snapshot, ObjectKind::Users).await?;
    let groups = repo.objects(snapshot, ObjectKind::Groups).await?;
    let assigned: std::collections::BTreeMap<&ObjectId, String> = groups
        .iter()
        .filter(|g| {
            !g.get("groupTypes")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|t| t == "DynamicMembership"))
        })
        .map(|g| (g.id(), display_name(g.get("displayName"))))
        .collect();
    let memberships = repo
        .relationships_of(snapshot, RelationshipKind::GroupMember)
        .await?;
    let mut candidates: Vec<Victim> = users
        .iter()
        .filter_map(|u| {
            let m = memberships
                .iter()
                .find(|r| &r.target == u.id() && assigned.contains_key(&r.source))?;
            Some(Victim {
                user: u.id().clone(),
                name: display_name(u.get("displayName")),
                group: m.source.clone(),
                group_name: assigned[&m.source].clone(),
            })
        })
        .collect();
    candidates.sort_by(|a, b| a.name.cmp(&b.name));
    candidates
        .into_iter()
        .next()
        .context("the emulated tenant has no user in an assigned group")
}

fn display_name(value: Option<&Value>) -> String {
    value.and_then(Value::as_str).unwrap_or("?").to_owned()
}

/// Whether the victim is a member of its group again, as Graph says.
async fn is_member(client: &GraphClient, victim: &Victim) -> Result<bool> {
    let mut url = format!("/users/{}/memberOf?$select=id", victim.user);
    loop {
        let page = client.get(&url).await.context("reading memberOf")?;
        let found = page["value"].as_array().is_some_and(|v| {
            v.iter()
                .any(|g| g["id"].as_str() == Some(victim.group.as_str()))
        });
        if found {
            return Ok(true);
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return Ok(false),
        }
    }
}

/// Adds the emulated tenant to the configuration as `contoso`, its secret in a file beside
/// the configuration (owner-only), and returns the configuration's path. A `contoso` that is
/// not a quickstart's (its Graph not an emulator on loopback) is left alone.
fn write_config(
    path: &Path,
    info: &dirvault_emulator::TenantInfo,
    server: &RunningEmulator,
) -> Result<PathBuf> {
    let mut config = Config::load(path)?;
    if let Some(existing) = config.tenants.get(TENANT) {
        let ours = existing
            .graph_url
            .as_deref()
            .is_some_and(|g| g.starts_with("http://127.0.0.1:"));
        if !ours {
            bail!(
                "{} already has a tenant named {TENANT} that is not an emulated one: give --config OTHER.toml to serve the quickstart's",
                path.display()
            );
        }
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let secret = dir.join(format!("{TENANT}.secret"));
    write_owner_only(&secret, info.client_secret.as_bytes())?;
    let entry = TenantConfig {
        graph_url: Some(server.url()),
        login_url: Some(server.url()),
        ..TenantConfig::new(
            info.tenant_id.parse()?,
            info.client_id.parse()?,
            SecretSource::File {
                path: secret.canonicalize().unwrap_or(secret),
            },
        )
    };
    config.tenants.insert(TENANT.to_owned(), entry);
    config.save(path)?;
    Ok(path.to_owned())
}

/// Writes `bytes` to a file only its owner can read.
fn write_owner_only(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

fn print_next_steps(
    cx: &Globals<'_>,
    tenant: &str,
    first: &BackupReport,
    second: &BackupReport,
    serving: bool,
) {
    if serving {
        println!(
            "\nThe repository is in {repo}; the configuration in {config} names the emulated tenant {TENANT}.\n\
             In another terminal, every command of the README works against it, e.g.:\n  \
             dirvault --repo {repo} --config {config} ls {TENANT} users --deleted\n  \
             dirvault --repo {repo} --config {config} diff {TENANT} latest live\n  \
             dirvault --repo {repo} --config {config} backup {TENANT}",
            repo = cx.repo,
            config = cx.config.display(),
        );
    } else {
        println!(
            "\nThe repository is in {repo}. Browse it without a configuration, by tenant id:\n  \
             dirvault --repo {repo} tenants\n  \
             dirvault --repo {repo} ls {tenant} users --deleted\n  \
             dirvault --repo {repo} diff {tenant} {} {}\n\
             Run `dirvault quickstart --serve` to keep the emulated tenant running and configured.",
            first.snapshot.id,
            second.snapshot.id,
            repo = cx.repo,
        );
    }
}
