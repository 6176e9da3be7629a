//! The daemon's REST API over HTTP, against the real binary and the Graph emulator: every
//! endpoint, keys that see one tenant or all, errors with stable codes and request ids.
//!
//! Longer than our ~800-line guide on purpose: each integration-test file is its own binary,
//! linked against the whole stack, and on CI's two cores a binary costs more to link than
//! these tests take to run; the tests share one setup and are grouped by feature below.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::time::Duration;

use dirvault_emulator::{
    Collection, Emulator, EmulatorConfig, LinkKind, RunningEmulator, TenantInfo, TenantSpec,
    ThrottleConfig,
};
use reqwest::Method;
use serde_json::{Value, json};
use support::{ADMIN_KEY, Daemon, REPOSITORY_PASSWORD, path, tenant_toml};

const CONTOSO_KEY: &str = "contoso-only-key-42";
/// Never due: the scheduler leaves these tenants to the API.
const NEVER: &str = "0 0 0 1 1 * 2099";

struct Env {
    emulator: Emulator,
    _server: RunningEmulator,
    contoso: TenantInfo,
    fabrikam: TenantInfo,
    url: String,
    daemon: Daemon,
    dir: tempfile::TempDir,
}

/// `dirvault --json ARGS` on the daemon's configuration and repository (the CLI and the
/// daemon answer alike: one library call behind both), which must succeed: its output.
fn cli_json(env: &Env, args: &[&str]) -> Value {
    let out = std::process::Command::new(support::cli_binary())
        .args(["--json", "--config"])
        .arg(path(&env.dir, "config.toml"))
        .arg("--repo")
        .arg(path(&env.dir, "repo"))
        .args(args)
        .env("CONTOSO_SECRET", &env.contoso.client_secret)
        .env("DIRVAULT_PASSWORD", support::REPOSITORY_PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn env() -> Env {
    let emulator = Emulator::new(EmulatorConfig {
        throttle: ThrottleConfig { scale: 0.0 },
        ..EmulatorConfig::default()
    });
    let contoso = emulator
        .create_tenant(&TenantSpec::preset("contoso", "tiny", 2).unwrap())
        .unwrap();
    let fabrikam = emulator
        .create_tenant(&TenantSpec::preset("fabrikam", "tiny", 3).unwrap())
        .unwrap();
    let server = emulator.start("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let contoso_hash = {
        use sha2::Digest;
        sha2::Sha256::digest(CONTOSO_KEY.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let config = format!(
        "[daemon]\ntick_seconds = 1\nlease_seconds = 30\nconsent_redirect_uri = \"https://portal.example/onboarded\"\n\n\
         [[daemon.api_endpoints]]\ngraph_url = \"{url}\"\nlogin_url = \"{url}\"\n\n\
         [[daemon.api_keys]]\nname = \"admin\"\nenv = \"ADMIN_KEY\"\n\n\
         [[daemon.api_keys]]\nname = \"contoso-portal\"\nsha256 = \"{contoso_hash}\"\ntenant_ids = [\"{}\"]\n\n{}{}",
        contoso.tenant_id,
        tenant_toml(
            "contoso",
            &contoso.tenant_id,
            &contoso.client_id,
            "CONTOSO_SECRET",
            &url,
            NEVER
        ),
        tenant_toml(
            "fabrikam",
            &fabrikam.tenant_id,
            &fabrikam.client_id,
            "FABRIKAM_SECRET",
            &url,
            NEVER
        ),
    );
    std::fs::write(path(&dir, "config.toml"), config).unwrap();
    let repo = path(&dir, "repo");
    let daemon = Daemon::start(
        &path(&dir, "config.toml"),
        repo.to_str().unwrap(),
        &[
            ("CONTOSO_SECRET", &contoso.client_secret),
            ("FABRIKAM_SECRET", &fabrikam.client_secret),
        ],
        &path(&dir, "daemon.log"),
    );
    Env {
        emulator,
        _server: server,
        contoso,
        fabrikam,
        url,
        daemon,
        dir,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_no_access_and_a_key_never_sees_another_tenant() {
    let env = env().await;
    let d = &env.daemon;
    let (status, _, body) = d.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    for path in [
        "/v1/tenants",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/jobs",
    ] {
        let (status, id, body) = d.call(Method::GET, path, None, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert_eq!(
            body["error"]["requestId"].as_str(),
            id.as_deref(),
            "the error names its request id"
        );
    }
    let (status, _, body) = d
        .call(Method::GET, "/v1/tenants", Some("not-a-key"), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );

    let (_, all) = d.get("/v1/tenants", ADMIN_KEY).await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["contoso", "fabrikam"]);
    let (_, mine) = d.get("/v1/tenants", CONTOSO_KEY).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["name"], "contoso");

    // Another tenant's data is invisible to the contoso key, whatever the endpoint.
    for (method, path) in [
        (Method::GET, "/v1/tenants/fabrikam"),
        (Method::POST, "/v1/tenants/fabrikam/backups"),
        (Method::GET, "/v1/tenants/fabrikam/snapshots"),
        (
            Method::GET,
            "/v1/tenants/fabrikam/snapshots/latest/objects/users",
        ),
        (Method::GET, "/v1/tenants/fabrikam/diff?from=latest&to=live"),
        (
            Method::GET,
            "/v1/tenants/fabrikam/snapshots/latest/export?kinds=users",
        ),
        (Method::GET, "/v1/tenants/fabrikam/restore-plans/any-plan"),
        (
            Method::POST,
            "/v1/tenants/fabrikam/restore-plans/any-plan/apply",
        ),
    ] {
        let (status, _, body) = d.call(method.clone(), path, Some(CONTOSO_KEY), None).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "tenant_not_found");
    }
    // Only an admin key adds, removes or re-points tenants: not even its own.
    for (method, path) in [
        (Method::DELETE, "/v1/tenants/fabrikam"),
        (Method::DELETE, "/v1/tenants/contoso"),
    ] {
        let (status, _, body) = d.call(method.clone(), path, Some(CONTOSO_KEY), None).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    let (status, _, body) = d
        .call(
            Method::POST,
            "/v1/tenants/contoso/restore-plans",
            Some(CONTOSO_KEY),
            Some(json!({"toTenant": "fabrikam", "all": true, "domain": "x.com"})),
        )
        .await;
    assert_eq!(
        status, 404,
        "a restore into a tenant the key cannot see: {body}"
    );
    let (status, _) = d.get("/metrics", CONTOSO_KEY).await;
    assert_eq!(status, 403, "metrics name every tenant");
    // A backup of fabrikam by the admin is not listed to the contoso key.
    let (status, _, job) = d
        .call(
            Method::POST,
            "/v1/tenants/fabrikam/backups",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    let (status, _) = d.get(&format!("/v1/jobs/{id}"), CONTOSO_KEY).await;
    assert_eq!(status, 404);
    let (_, jobs) = d.get("/v1/jobs", CONTOSO_KEY).await;
    assert!(jobs.as_array().unwrap().is_empty(), "{jobs}");
    d.wait_job(id, ADMIN_KEY, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_browse_diff_export_and_restore_over_http() {
    let env = env().await;
    let d = &env.daemon;
    let key = CONTOSO_KEY;

    let (status, _, job) = d
        .call(Method::POST, "/v1/tenants/contoso/backups", Some(key), None)
        .await;
    assert_eq!(status, 202, "{job}");
    let (status, _, busy) = d
        .call(Method::POST, "/v1/tenants/contoso/backups", Some(key), None)
        .await;
    assert!(status == 409 || status == 202, "{busy}");
    let job = d
        .wait_job(job["id"].as_str().unwrap(), key, Duration::from_secs(60))
        .await;
    assert_eq!(job["state"], "complete", "{job}");
    assert_eq!(job["report"]["outcome"], "complete", "{job}");
    assert!(job["progress"]["requests"].as_u64().unwrap() > 0);
    let snapshot = job["snapshot"].as_str().unwrap().to_owned();
    if status == 202 {
        d.wait_job(busy["id"].as_str().unwrap(), key, Duration::from_secs(60))
            .await;
    }

    let (_, status_body) = d.get("/v1/tenants/contoso", key).await;
    assert!(
        status_body["lastSnapshot"]["id"].is_string(),
        "{status_body}"
    );
    assert_eq!(
        status_body["lastSnapshot"]["kinds"]["users"]["status"]["status"],
        "complete"
    );

    let (status, list) = d.get("/v1/tenants/contoso/snapshots", key).await;
    assert_eq!(status, 200);
    assert!(
        list["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == snapshot.as_str())
    );

    let (status, page) = d
        .get(
            &format!(
                "/v1/tenants/contoso/snapshots/{snapshot}/objects/users?page=2&pageSize=3&sort=id"
            ),
            key,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let users = env
        .emulator
        .with_tenant(&env.contoso.tenant_id, |t| t.count(Collection::Users))
        .unwrap();
    assert_eq!(page["total"], users);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let user = env
        .emulator
        .with_tenant(&env.contoso.tenant_id, |t| {
            t.objects(Collection::Users)
                .unwrap()
                .iter()
                .find(|(id, u)| {
                    u["userType"] != "Guest"
                        && u["onPremisesSyncEnabled"] != true
                        && !t.sources_of(LinkKind::GroupMember, id).is_empty()
                })
                .map(|(id, _)| id.clone())
                .unwrap()
        })
        .unwrap();
    let (status, object) = d
        .get(
            &format!("/v1/tenants/contoso/snapshots/latest/objects/users/{user}"),
            key,
        )
        .await;
    assert_eq!(status, 200, "{object}");
    assert_eq!(object["view"]["object"]["raw"]["id"], user.as_str());
    assert_eq!(object["history"][0]["event"], "created");
    for what in ["memberships", "roles", "auth-methods"] {
        let (status, body) = d
            .get(
                &format!("/v1/tenants/contoso/snapshots/latest/{what}/{user}"),
                key,
            )
            .await;
        assert_eq!(status, 200, "{what}: {body}");
    }
    let (_, memberships) = d
        .get(
            &format!("/v1/tenants/contoso/snapshots/latest/memberships/{user}"),
            key,
        )
        .await;
    assert!(!memberships["related"].as_array().unwrap().is_empty());

    // The user is deleted; the diff against the live tenant shows it; a plan brings it back.
    env.emulator
        .with_tenant(&env.contoso.tenant_id, |t| {
            t.delete(Collection::Users, &user, chrono::Utc::now())
                .map(|_| ())
        })
        .unwrap()
        .unwrap();
    let (status, diff) = d
        .get(
            "/v1/tenants/contoso/diff?from=latest&to=live&kind=users&deletedOnly=true",
            key,
        )
        .await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["changes"]["users"]["deleted"][0]["id"], user.as_str());
    // The CLI says the same of `diff live --kind` (one library call behind both): only that
    // kind, listed, with the same changes.
    let (status, daemon_diff) = d
        .get(
            "/v1/tenants/contoso/diff?from=latest&to=live&kind=users",
            key,
        )
        .await;
    assert_eq!(status, 200, "{daemon_diff}");
    let cli_diff = cli_json(
        &env,
        &["diff", "contoso", "latest", "live", "--kind", "users"],
    );
    assert_eq!(cli_diff, daemon_diff);
    assert_eq!(
        daemon_diff["changes"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["users"]
    );
    assert_eq!(daemon_diff["to"], "live");

    let (status, _, plan) = d
        .call(Method::POST, "/v1/tenants/contoso/restore-plans", Some(key),
              Some(json!({"kind": "users", "ids": [user], "withObject": true, "withMemberships": true})))
        .await;
    assert_eq!(status, 201, "{plan}");
    assert_eq!(plan["steps"][0]["action"], "restoreDeleted");
    let plan_id = plan["id"].as_str().unwrap();
    let (status, again) = d
        .get(&format!("/v1/tenants/contoso/restore-plans/{plan_id}"), key)
        .await;
    assert_eq!((status, &again), (200, &plan));
    assert!(
        env.emulator
            .with_tenant(&env.contoso.tenant_id, |t| t
                .get(Collection::Users, &user)
                .is_none())
            .unwrap(),
        "planning writes nothing"
    );
    let (status, _, job) = d
        .call(
            Method::POST,
            &format!("/v1/tenants/contoso/restore-plans/{plan_id}/apply"),
            Some(key),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let job = d
        .wait_job(job["id"].as_str().unwrap(), key, Duration::from_secs(60))
        .await;
    assert_eq!(job["state"], "complete", "{job}");
    assert_eq!(job["report"]["summary"]["failed"], 0);
    assert!(
        env.emulator
            .with_tenant(&env.contoso.tenant_id, |t| t
                .get(Collection::Users, &user)
                .is_some())
            .unwrap()
    );

    // Export: a zip of the selection, streamed.
    let (status, zip) = d
        .bytes(
            &format!(
                "/v1/tenants/contoso/snapshots/{snapshot}/export?kinds=users&relationships=true"
            ),
            key,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(&zip[..2], b"PK");
    let (status, small) = d
        .bytes(
            &format!("/v1/tenants/contoso/snapshots/{snapshot}/export?ids={user}"),
            key,
        )
        .await;
    assert_eq!(status, 200);
    assert!(small.len() < zip.len());

    // Bad requests say what is wrong.
    for (path, code) in [
        // A path naming a kind that does not exist names no resource.
        ("/v1/tenants/contoso/snapshots/latest/objects/notakind", 404),
        (
            "/v1/tenants/contoso/snapshots/latest/objects/users?pageSize=5000",
            400,
        ),
        (
            "/v1/tenants/contoso/snapshots/latest/objects/users?sort=size",
            400,
        ),
        (
            "/v1/tenants/contoso/snapshots/19990101T000000Z-00000000/objects/users",
            404,
        ),
        ("/v1/jobs/no-such-job", 404),
        ("/v1/no-such-endpoint", 404),
    ] {
        let (status, body) = d.get(path, key).await;
        assert_eq!(status, code, "{path}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, _, body) = d
        .call(
            Method::POST,
            "/v1/tenants/contoso/restore-plans",
            Some(key),
            Some(json!({"kind": "users", "withObject": true})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );

    // Alerts: an enabled Conditional Access policy switched off between two backups; the
    // daemon and the CLI tell the same alerts (one library call behind both).
    let policy = support::set_policy_state(&env.emulator, &env.contoso.tenant_id, None, "enabled");
    d.backup_now("contoso", key).await;
    support::set_policy_state(
        &env.emulator,
        &env.contoso.tenant_id,
        Some(&policy),
        "enabledForReportingButNotEnforced",
    );
    d.backup_now("contoso", key).await;
    let (status, alerts) = d.get("/v1/tenants/contoso/alerts", key).await;
    assert_eq!(status, 200, "{alerts}");
    assert_eq!(
        alerts["alerts"][0]["rule"], "conditional-access-weakened",
        "{alerts}"
    );
    assert_eq!(alerts["alerts"][0]["id"], policy.as_str());
    let cli = cli_json(&env, &["alerts", "contoso"]);
    assert_eq!(cli["alerts"], alerts["alerts"]);
    let (status, _) = d
        .get("/v1/tenants/contoso/alerts?since=last-tuesday", key)
        .await;
    assert_eq!(status, 400);
    let (status, _) = d.get("/v1/tenants/fabrikam/alerts", key).await;
    assert_eq!(status, 404, "a scoped key sees no other tenant's alerts");
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_are_added_and_removed_metrics_and_openapi_are_served_and_sigterm_stops_cleanly() {
    let mut env = env().await;
    let d = &env.daemon;
    let add = json!({
        "name": "newco", "tenantId": "7d0c1f5e-0000-4000-8000-0000000000aa", "clientId": "11111111-2222-4333-8444-555555555555",
        "clientSecret": "newco-secret-value-1", "schedule": "every 12h", "retention": {"keep_daily": 7},
        // Loopback only: a new tenant is backed up at the next tick, and no test talks to
        // Microsoft's hosts (this tenant id is unknown to the emulator: its token is refused).
        "graphUrl": env.url, "loginUrl": env.url
    });
    let (status, _, body) = d
        .call(
            Method::POST,
            "/v1/tenants",
            Some(CONTOSO_KEY),
            Some(add.clone()),
        )
        .await;
    assert_eq!(
        status, 403,
        "a key for contoso cannot add another tenant: {body}"
    );
    let (status, _, body) = d
        .call(
            Method::POST,
            "/v1/tenants",
            Some(ADMIN_KEY),
            Some(add.clone()),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let consent = body["adminConsentUrl"].as_str().unwrap();
    assert!(consent.contains("/7d0c1f5e-0000-4000-8000-0000000000aa/v2.0/adminconsent?client_id=11111111-2222-4333-8444-555555555555"), "{consent}");
    assert!(
        consent.contains("redirect_uri=https%3A%2F%2Fportal.example%2Fonboarded"),
        "{consent}"
    );
    let config = std::fs::read_to_string(path(&env.dir, "config.toml")).unwrap();
    assert!(config.contains("[tenants.newco]") && config.contains("type = \"sealed\""));
    assert!(
        !config.contains("newco-secret-value-1"),
        "the secret is sealed at rest"
    );
    assert!(
        !body.to_string().contains("newco-secret-value-1"),
        "the secret is never returned"
    );
    let (status, _, body) = d
        .call(Method::POST, "/v1/tenants", Some(ADMIN_KEY), Some(add))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, _, body) = d
        .call(Method::POST, "/v1/tenants", Some(ADMIN_KEY), Some(json!({"name": "bad", "tenantId": "7d0c1f5e-0000-4000-8000-0000000000ab",
            "clientId": "11111111-2222-4333-8444-555555555555", "clientSecret": "x", "schedule": "sometimes"})))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = d
        .call(Method::DELETE, "/v1/tenants/newco", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, 204);
    let (_, all) = d.get("/v1/tenants", ADMIN_KEY).await;
    assert_eq!(all.as_array().unwrap().len(), 2);

    let job = d.backup_now("contoso", ADMIN_KEY).await;
    let (_, jobs) = d.get("/v1/jobs", ADMIN_KEY).await;
    assert!(
        !job.to_string().contains(REPOSITORY_PASSWORD)
            && !jobs.to_string().contains(REPOSITORY_PASSWORD),
        "no repository password in jobs"
    );
    let (status, metrics) = d.get("/metrics", ADMIN_KEY).await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("dirvault_backups_total{tenant=\"contoso\",result=\"complete\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dirvault_graph_requests_total{tenant=\"contoso\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains(REPOSITORY_PASSWORD) && !metrics.contains(ADMIN_KEY),
        "no secret in the metrics"
    );
    // The backup wrote packs and a snapshot record, and read the repository's listings.
    let store_requests = |operation: &str| -> u64 {
        let prefix = format!("dirvault_store_requests_total{{operation=\"{operation}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {prefix}in {metrics}"))
            .parse()
            .unwrap()
    };
    assert!(store_requests("put") >= 2, "{metrics}");
    assert!(store_requests("list") >= 1, "{metrics}");
    // Releasing the backup's lease is its one delete (issue #17: leases excepted).
    assert!(store_requests("delete") <= 1, "{metrics}");

    let (status, api) = d.get("/openapi.json", ADMIN_KEY).await;
    assert_eq!(status, 200);
    assert!(api["paths"].as_object().unwrap().len() >= 18);
    let checked_in: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        api, checked_in,
        "docs/openapi.json is stale: run `cargo run -p dirvaultd -- openapi > docs/openapi.json`"
    );

    // The configuration is re-read on POST /v1/config/reload and on SIGHUP; a broken file
    // changes nothing.
    let config_path = path(&env.dir, "config.toml");
    let original = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, format!("{original}\n[tenants.later]\ntenant_id = \"7d0c1f5e-0000-4000-8000-0000000000ac\"\nclient_id = \"11111111-2222-4333-8444-555555555555\"\n[tenants.later.secret]\ntype = \"env\"\nvar = \"LATER\"\n")).unwrap();
    let (status, _, _) = d
        .call(Method::POST, "/v1/config/reload", Some(CONTOSO_KEY), None)
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = d
        .call(Method::POST, "/v1/config/reload", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, 204);
    let (_, all) = d.get("/v1/tenants", ADMIN_KEY).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    std::fs::write(&config_path, "[daemon\nbroken").unwrap();
    let (status, _, body) = d
        .call(Method::POST, "/v1/config/reload", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("config_error")),
        "{body}"
    );
    let (_, all) = d.get("/v1/tenants", ADMIN_KEY).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        3,
        "a broken file changes nothing"
    );
    std::fs::write(&config_path, &original).unwrap();
    d.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, all) = d.get("/v1/tenants", ADMIN_KEY).await;
        if all.as_array().unwrap().len() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload the configuration"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, _) = d.get("/readyz", ADMIN_KEY).await;
    assert_eq!(status, 200);
    env.daemon.signal("TERM");
    let exit = env.daemon.child.wait().unwrap();
    assert!(exit.success(), "SIGTERM stops the daemon cleanly: {exit:?}");
    let log = std::fs::read_to_string(path(&env.dir, "daemon.log")).unwrap();
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "logs are JSON lines"
    );
    assert!(
        !log.contains(&env.contoso.client_secret)
            && !log.contains(ADMIN_KEY)
            && !log.contains(REPOSITORY_PASSWORD),
        "no secret (client secret, API key, repository password) in the logs"
    );
    assert!(log.contains("request_id"));
}

// Regression (critical): keys were scoped by tenant *name*. A key for `contoso` could delete
// `contoso`, add it again with another customer's tenant id and read that customer's data;
// and one `POST /v1/tenants` with `{"type":"file","path":…}` or `{"type":"env",…}` as the
// secret and a `loginUrl` of the caller's choosing made the daemon send any of its files or
// environment variables to that URL as a client secret.
#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_key_cannot_escape_its_tenant_and_the_api_cannot_reach_host_secrets() {
    let env = env().await;
    let d = &env.daemon;
    // The exfiltration sequence, with the scoped key: refused at its first step.
    let (status, _, body) = d
        .call(
            Method::DELETE,
            "/v1/tenants/contoso",
            Some(CONTOSO_KEY),
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let repoint = json!({"name": "contoso2", "tenantId": env.fabrikam.tenant_id, "clientId": env.fabrikam.client_id,
        "clientSecret": "whatever"});
    let (status, _, body) = d
        .call(
            Method::POST,
            "/v1/tenants",
            Some(CONTOSO_KEY),
            Some(repoint),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    // Secret references through the API, even with the admin key: refused, never resolved.
    for secret in [
        json!({"type": "env", "var": "ADMIN_KEY"}),
        json!({"type": "file", "path": "/etc/passwd"}),
        json!({"type": "certificate", "certificate": "/etc/ssl/private/key.pem"}),
    ] {
        let (status, _, body) = d
            .call(Method::POST, "/v1/tenants", Some(ADMIN_KEY), Some(json!({
                "name": "exfil", "tenantId": env.contoso.tenant_id, "clientId": env.contoso.client_id,
                "secret": secret})))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
    }
    // A login URL of the caller's choosing: refused (only the known clouds, or what the
    // config file lists).
    let (status, _, body) = d
        .call(Method::POST, "/v1/tenants", Some(ADMIN_KEY), Some(json!({
            "name": "exfil", "tenantId": env.contoso.tenant_id, "clientId": env.contoso.client_id,
            "clientSecret": "x", "graphUrl": "https://attacker.example", "loginUrl": "https://attacker.example"})))
        .await;
    assert_eq!(status, 400, "{body}");
    let config = std::fs::read_to_string(path(&env.dir, "config.toml")).unwrap();
    assert!(!config.contains("exfil"), "nothing was added");

    // The admin re-points the name `contoso` to another customer: the scoped key, bound to
    // contoso's tenant id, does not follow the name.
    d.backup_now("fabrikam", ADMIN_KEY).await;
    let (status, _, _) = d
        .call(Method::DELETE, "/v1/tenants/contoso", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, body) = d
        .call(Method::POST, "/v1/tenants", Some(ADMIN_KEY), Some(json!({
            "name": "contoso", "tenantId": env.fabrikam.tenant_id, "clientId": env.fabrikam.client_id,
            "clientSecret": env.fabrikam.client_secret, "graphUrl": env.url, "loginUrl": env.url,
            "schedule": NEVER})))
        .await;
    assert_eq!(status, 201, "{body}");
    for p in [
        "/v1/tenants/contoso",
        "/v1/tenants/contoso/snapshots",
        "/v1/tenants/contoso/snapshots/latest/objects/users",
    ] {
        let (status, body) = d.get(p, CONTOSO_KEY).await;
        assert_eq!(status, 404, "{p}: {body}");
    }
    let (_, mine) = d.get("/v1/tenants", CONTOSO_KEY).await;
    assert_eq!(mine, json!([]), "{mine}");
    // The sealed secret works: the admin backs the re-pointed tenant up.
    let job = d.backup_now("contoso", ADMIN_KEY).await;
    assert_eq!(job["state"], "complete", "{job}");
    let log = std::fs::read_to_string(path(&env.dir, "daemon.log")).unwrap();
    assert!(
        !log.contains(&env.fabrikam.client_secret),
        "no secret in the logs"
    );
}

// Regression: 20 concurrent `POST /v1/tenants` left the config file with 1-2 tenants and no
// API keys (a truncate-and-write without a lock, and a reload of a half-written file).
#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_adds_and_reloads_lose_nothing() {
    let env = env().await;
    let d = &env.daemon;
    let adds = (0..50).map(|n| async move {
        let body = json!({
            "name": format!("t{n:02}"),
            "tenantId": format!("7d0c1f5e-0000-4000-8000-0000000{n:05}"),
            "clientId": "11111111-2222-4333-8444-555555555555",
            "clientSecret": format!("secret-{n}"),
            "schedule": NEVER,
        });
        let (status, _, body) = d
            .call(Method::POST, "/v1/tenants", Some(ADMIN_KEY), Some(body))
            .await;
        assert_eq!(status, 201, "{body}");
    });
    let reloads = (0..20).map(|_| async {
        let (status, _, body) = d
            .call(Method::POST, "/v1/config/reload", Some(ADMIN_KEY), None)
            .await;
        assert_eq!(status, 204, "{body}");
        // Keys stay valid all along.
        let (status, body) = d.get("/v1/tenants/contoso", CONTOSO_KEY).await;
        assert_eq!(status, 200, "{body}");
    });
    futures::future::join(
        futures::future::join_all(adds),
        futures::future::join_all(reloads),
    )
    .await;
    let (_, all) = d.get("/v1/tenants", ADMIN_KEY).await;
    assert_eq!(all.as_array().unwrap().len(), 52, "every add landed");
    let config: toml::Table =
        toml::from_str(&std::fs::read_to_string(path(&env.dir, "config.toml")).unwrap()).unwrap();
    assert_eq!(config["tenants"].as_table().unwrap().len(), 52);
    assert_eq!(
        config["daemon"]["api_keys"].as_array().unwrap().len(),
        2,
        "no API key lost"
    );
}

// Regression: slow clients were never disconnected (300 half-sent requests held open, 310 open
// files in the daemon).
#[tokio::test(flavor = "multi_thread")]
async fn slow_and_silent_clients_are_disconnected_and_oversized_bodies_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        path(&dir, "config.toml"),
        "[daemon]\nheader_timeout_seconds = 1\n\n[[daemon.api_keys]]\nname = \"admin\"\nenv = \"ADMIN_KEY\"\n",
    )
    .unwrap();
    let d = Daemon::start(
        &path(&dir, "config.toml"),
        path(&dir, "repo").to_str().unwrap(),
        &[],
        &path(&dir, "daemon.log"),
    );
    let addr = d.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for n in 0..100 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if n % 2 == 0 {
            // Half a request head, never finished.
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        }
        held.push(s);
    }
    for mut s in held {
        let mut rest = Vec::new();
        // The bound only keeps a broken daemon from hanging the test: the daemon closes each
        // connection after its one-second header timeout.
        let closed = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a slow or silent connection was held open");
    }
    let (status, _) = d.get("/healthz", ADMIN_KEY).await;
    assert_eq!(status, 200, "the daemon still answers");
    // An oversized body is refused from its length, before it is read: the head alone is
    // answered. (Sending the body too raced the refusal: the daemon closes the connection
    // after answering, and the client could fail writing the rest, "broken pipe".)
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        format!(
            "POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = [0u8; 12];
    // Bounded only so that a broken daemon cannot hang the test.
    tokio::time::timeout(Duration::from_secs(60), s.read_exact(&mut head))
        .await
        .expect("an answer before the body")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 413", "an oversized body is refused");

    // Console sign-in: ten failed tries from one address, and that address is held for a
    // minute (429 with Retry-After) whatever key it sends, the right one included.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |key: &'static str| {
        http.post(format!("{}/console/login", d.url))
            .form(&[("key", key)])
            .send()
    };
    // A form that does not parse is a page saying so (a person reads the console).
    let malformed = http
        .post(format!("{}/console/login", d.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("not-the-key-field=1")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 422);
    assert!(
        malformed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        malformed
            .text()
            .await
            .unwrap()
            .contains("The form could not be read")
    );
    for _ in 0..10 {
        assert_eq!(sign_in("a-guess").await.unwrap().status(), 401);
    }
    let held = sign_in(ADMIN_KEY).await.unwrap();
    assert_eq!(held.status(), 429);
    let retry: u64 = held.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(
        held.text()
            .await
            .unwrap()
            .contains("Too many failed sign-ins")
    );
}

// Regression: the daemon marked a backup whose kinds failed `succeeded`, with
// `consecutiveFailures` 0 and metric `result="succeeded"`.
#[tokio::test(flavor = "multi_thread")]
async fn a_partial_backup_is_partial_in_the_job_the_tenant_status_and_the_metrics() {
    let env = env().await;
    let d = &env.daemon;
    env.emulator
        .with_tenant(&env.contoso.tenant_id, |t| {
            t.faults = dirvault_emulator::faults::Faults::new(dirvault_emulator::FaultConfig {
                next: vec![dirvault_emulator::FaultAction::Status { status: 400 }],
                next_path: Some("/organization".into()),
                ..Default::default()
            });
        })
        .unwrap();
    let job = d.backup_now("contoso", ADMIN_KEY).await;
    assert_eq!(job["state"], "partial", "{job}");
    assert_eq!(job["report"]["outcome"], "partial", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("organization"),
        "{job}"
    );
    assert!(
        job["snapshot"].is_string(),
        "a partial backup writes its snapshot"
    );
    let (_, tenant) = d.get("/v1/tenants/contoso", ADMIN_KEY).await;
    assert_eq!(tenant["consecutiveFailures"], 1, "{tenant}");
    let (_, metrics) = d.get("/metrics", ADMIN_KEY).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("dirvault_backups_total{tenant=\"contoso\",result=\"partial\"} 1"),
        "{metrics}"
    );
    // A complete run clears the count.
    let job = d.backup_now("contoso", ADMIN_KEY).await;
    assert_eq!(job["state"], "complete", "{job}");
    let (_, tenant) = d.get("/v1/tenants/contoso", ADMIN_KEY).await;
    assert_eq!(tenant["consecutiveFailures"], 0, "{tenant}");
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_are_delivered_signed_and_retried_after_a_500() {
    let env = env().await;
    let d = &env.daemon;
    let (url, seen) = support::webhook_receiver(1).await;
    let secret = "webhook signing secret 42";
    std::fs::write(path(&env.dir, "webhook.secret"), secret).unwrap();
    let config = path(&env.dir, "config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{text}\n[daemon.webhook]\nurl = \"{url}\"\nsecret_file = \"{}\"\nattempts = 3\nfirst_retry_ms = 50\n",
            path(&env.dir, "webhook.secret").display()
        ),
    )
    .unwrap();
    let (status, _, body) = d
        .call(Method::POST, "/v1/config/reload", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, 204, "{body}");

    let policy = support::set_policy_state(&env.emulator, &env.contoso.tenant_id, None, "enabled");
    let first = d.backup_now("contoso", ADMIN_KEY).await;
    assert_eq!(first["report"]["alerts"], json!([]), "{first}");
    support::set_policy_state(
        &env.emulator,
        &env.contoso.tenant_id,
        Some(&policy),
        "disabled",
    );
    let job = d.backup_now("contoso", ADMIN_KEY).await;
    assert_eq!(
        job["report"]["alerts"][0]["rule"], "conditional-access-weakened",
        "{job}"
    );
    let snapshot = job["snapshot"].as_str().unwrap().to_owned();
    // The delivery goes on after the job: its state shows in the job.
    let id = job["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        let (_, job) = d.get(&format!("/v1/jobs/{id}"), ADMIN_KEY).await;
        if job["report"]["webhook"]["result"] == "delivered" {
            break job;
        }
        assert!(std::time::Instant::now() < deadline, "not delivered: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivered["report"]["webhook"]["attempts"], 2, "{delivered}");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one failed attempt, one retry, nothing else");
    for (headers, body) in &seen {
        let header = |h: &str| headers[h].to_str().unwrap().to_owned();
        assert_eq!(
            header("x-dirvault-delivery"),
            snapshot,
            "the same delivery id"
        );
        let timestamp: i64 = header("x-dirvault-timestamp").parse().unwrap();
        let signature = header("x-dirvault-signature");
        let now = chrono::Utc::now().timestamp();
        assert!(dirvault_engine::alerts::webhook::verify(
            secret.as_bytes(),
            timestamp,
            body.as_bytes(),
            &signature,
            now,
            300
        ));
        assert!(
            !dirvault_engine::alerts::webhook::verify(
                b"another secret",
                timestamp,
                body.as_bytes(),
                &signature,
                now,
                300
            ),
            "only the shared secret signs it"
        );
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["tenant"], "contoso");
        assert_eq!(body["snapshot"], snapshot.as_str());
        assert_eq!(body["alerts"][0]["id"], policy.as_str());
        assert!(!body.to_string().contains(secret));
    }
    let (_, metrics) = d.get("/metrics", ADMIN_KEY).await;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(
            "dirvault_webhook_deliveries_total{tenant=\"contoso\",result=\"delivered\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("dirvault_alerts_total{tenant=\"contoso\"} 1"),
        "{metrics}"
    );
    let log = std::fs::read_to_string(path(&env.dir, "daemon.log")).unwrap();
    assert!(!log.contains(secret), "the signing secret is never logged");
}
