//! The scheduler: every tick, each tenant whose current slot has no snapshot yet gets a backup
//! (bounded by `max_concurrent_jobs`). Replicas sharing a bucket coordinate only through the
//! tenant lease and the snapshots themselves (`backup_unless_since`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::jobs::JobKind;
use crate::schedule::Schedule;

/// A tenant's parsed schedule, with its current slot and the next one.
struct Slotting {
    spec: String,
    schedule: Schedule,
    slot: Option<DateTime<Utc>>,
    next: DateTime<Utc>,
}

/// When a tenant is due next, for the status API.
pub(crate) fn next_run(spec: &str, name: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Schedule::parse(spec, name).ok().map(|s| s.next_after(now))
}

/// Runs until shutdown.
pub(crate) async fn run(app: Arc<App>) {
    let mut shutdown = app.shutdown.subscribe();
    let mut slotting: HashMap<String, Slotting> = HashMap::new();
    let mut reported: HashMap<String, String> = HashMap::new();
    loop {
        let config = app.config();
        let tick = std::time::Duration::from_secs(config.daemon.tick_seconds.max(1));
        app.reap();
        let now = Utc::now();
        slotting.retain(|name, _| config.tenants.contains_key(name));
        for (name, tenant) in &config.tenants {
            let spec = tenant
                .schedule
                .clone()
                .unwrap_or_else(|| config.daemon.default_schedule.clone());
            let entry = match slotting.get_mut(name) {
                Some(s) if s.spec == spec => s,
                _ => match Schedule::parse(&spec, name) {
                    Ok(schedule) => {
                        let slot = schedule.slot_start(now);
                        let next = schedule.next_after(now);
                        slotting.insert(
                            name.clone(),
                            Slotting {
                                spec,
                                schedule,
                                slot,
                                next,
                            },
                        );
                        reported.remove(name);
                        let Some(s) = slotting.get_mut(name) else {
                            continue;
                        };
                        s
                    }
                    Err(e) => {
                        if reported.get(name) != Some(&e) {
                            tracing::error!(tenant = %name, error = %e, "tenant not scheduled");
                            reported.insert(name.clone(), e);
                        }
                        continue;
                    }
                },
            };
            if now >= entry.next {
                entry.slot = entry.schedule.slot_start(now);
                entry.next = entry.schedule.next_after(now);
            }
            let Some(slot) = entry.slot else { continue };
            let run = app.runs.lock().get(name).cloned().unwrap_or_default();
            // A failed tenant backs off, but never past its next slot.
            let retry = run.retry_at.map(|t| t.min(entry.next));
            if run.slot_done == Some(slot)
                || retry.is_some_and(|t| t > now)
                || app.jobs.active(name, JobKind::Backup).is_some()
            {
                continue;
            }
            let _ = app.start_backup(name, &tenant.tenant_id, "schedule", Some(slot));
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => return,
        }
    }
}
