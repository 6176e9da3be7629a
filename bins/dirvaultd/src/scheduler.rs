//! The scheduler: every tick, each tenant whose current slot has no snapshot yet gets a backup
//! (bounded by `max_concurrent_jobs`). Replicas sharing a bucket coordinate only through the
//! tenant lease and the snapshots themselves (`backup_unless_since`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::DaemonFile as Config;
use dirvault_model::TenantId;

use crate::app::{App, TenantRun};
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

/// What the scheduler remembers between ticks: each tenant's parsed schedule and slots, and
/// the schedule errors already logged. Its decisions take the time as a parameter, so that
/// they are tested in virtual time.
#[derive(Default)]
pub(crate) struct Scheduler {
    slotting: HashMap<String, Slotting>,
    reported: HashMap<String, String>,
}

/// A backup the scheduler starts: the tenant's name, id and the slot it is for.
pub(crate) type Due = (String, TenantId, DateTime<Utc>);

impl Scheduler {
    /// The tenants due at `now`: their current slot has no snapshot yet, they are not
    /// backing off (a failed tenant backs off, but never past its next slot) and no backup
    /// of theirs is running. `run_of` answers a tenant's run and whether a backup of it is
    /// active.
    pub(crate) fn due(
        &mut self,
        config: &Config,
        now: DateTime<Utc>,
        run_of: impl Fn(&str) -> (TenantRun, bool),
    ) -> Vec<Due> {
        let mut due = Vec::new();
        self.slotting
            .retain(|name, _| config.tenants.contains_key(name));
        for (name, tenant) in &config.tenants {
            let spec = tenant
                .schedule
                .clone()
                .unwrap_or_else(|| config.sections.daemon.default_schedule.clone());
            if self.slotting.get(name).is_none_or(|s| s.spec != spec) {
                match Schedule::parse(&spec, name) {
                    Ok(schedule) => {
                        let slot = schedule.slot_start(now);
                        let next = schedule.next_after(now);
                        self.slotting.insert(
                            name.clone(),
                            Slotting {
                                spec,
                                schedule,
                                slot,
                                next,
                            },
                        );
                        self.reported.remove(name);
                    }
                    Err(e) => {
                        if self.reported.get(name) != Some(&e) {
                            tracing::error!(tenant = %name, error = %e, "tenant not scheduled");
                            self.reported.insert(name.clone(), e);
                        }
                        self.slotting.remove(name);
                        continue;
                    }
                }
            }
            let Some(entry) = self.slotting.get_mut(name) else {
                continue;
            };
            if now >= entry.next {
                entry.slot = entry.schedule.slot_start(now);
                entry.next = entry.schedule.next_after(now);
            }
            let Some(slot) = entry.slot else { continue };
            let (run, active) = run_of(name);
            // A failed tenant backs off within the slot it failed in; a new slot tries again
            // at once (a back-off longer than the slot never skips slots).
            let backing_off = run.retry_at.is_some_and(|t| t > now)
                && run.failed_at.is_some_and(|failed| failed >= slot);
            if run.slot_done == Some(slot) || backing_off || active {
                continue;
            }
            due.push((name.clone(), tenant.tenant_id.clone(), slot));
        }
        due
    }
}

/// Runs until shutdown.
pub(crate) async fn run(app: Arc<App>) {
    let mut shutdown = app.shutdown.subscribe();
    let mut scheduler = Scheduler::default();
    loop {
        let config = app.config();
        let tick = std::time::Duration::from_secs(config.sections.daemon.tick_seconds.max(1));
        app.reap();
        let due = scheduler.due(&config, Utc::now(), |name| {
            let run = app.runs.lock().get(name).cloned().unwrap_or_default();
            (run, app.jobs.active(name, JobKind::Backup).is_some())
        });
        for (name, tenant_id, slot) in due {
            let _ = app.start_backup(&name, &tenant_id, "schedule", Some(slot));
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use dirvault_engine::config::{SecretSource, TenantConfig};

    fn config(schedules: &[(&str, &str)]) -> Config {
        let mut config = Config::default();
        for (i, (name, schedule)) in schedules.iter().enumerate() {
            let mut t = TenantConfig::new(
                format!("00000000-0000-4000-8000-00000000000{i}")
                    .parse()
                    .unwrap(),
                "11111111-1111-4111-8111-111111111111".parse().unwrap(),
                SecretSource::Env { var: "X".into() },
            );
            t.schedule = Some((*schedule).to_owned());
            config.tenants.insert((*name).to_owned(), t);
        }
        config
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, h, m, 0).unwrap()
    }

    fn names(due: &[Due]) -> Vec<&str> {
        due.iter().map(|(n, _, _)| n.as_str()).collect()
    }

    #[test]
    fn a_slot_is_backed_up_once_and_the_next_slot_again() {
        let config = config(&[("a", "0 0 * * * *")]); // hourly, on the hour
        let mut s = Scheduler::default();
        let mut run = TenantRun::default();
        let due = s.due(&config, at(10, 5), |_| (run.clone(), false));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].2, at(10, 0));
        run.slot_done = Some(at(10, 0));
        assert!(
            s.due(&config, at(10, 30), |_| (run.clone(), false))
                .is_empty()
        );
        let due = s.due(&config, at(11, 0), |_| (run.clone(), false));
        assert_eq!(due[0].2, at(11, 0), "the next slot is due at its start");
    }

    #[test]
    fn a_running_backup_is_not_started_twice() {
        let config = config(&[("a", "0 0 * * * *")]);
        let mut s = Scheduler::default();
        assert!(
            s.due(&config, at(10, 5), |_| (TenantRun::default(), true))
                .is_empty()
        );
    }

    #[test]
    fn a_failed_tenant_backs_off_but_never_past_its_next_slot_and_others_go_on() {
        let config = config(&[("bad", "0 0 * * * *"), ("good", "0 0 * * * *")]);
        let mut s = Scheduler::default();
        let mut bad = TenantRun::default();
        for _ in 0..20 {
            bad.record_failure("boom".into(), 60, at(10, 1));
        }
        // Backing off far beyond the hour: held back within the slot…
        let run_of = |bad: &TenantRun| {
            let bad = bad.clone();
            move |name: &str| {
                if name == "bad" {
                    (bad.clone(), false)
                } else {
                    (TenantRun::default(), false)
                }
            }
        };
        assert_eq!(names(&s.due(&config, at(10, 30), run_of(&bad))), ["good"]);
        // …and due again when the next slot starts.
        assert_eq!(
            names(&s.due(&config, at(11, 0), run_of(&bad))),
            ["bad", "good"]
        );
    }

    #[test]
    fn a_short_back_off_retries_within_the_slot() {
        let config = config(&[("a", "0 0 * * * *")]);
        let mut s = Scheduler::default();
        let mut run = TenantRun::default();
        run.record_failure("boom".into(), 60, at(10, 1));
        assert!(
            s.due(&config, at(10, 1), |_| (run.clone(), false))
                .is_empty()
        );
        assert_eq!(
            names(&s.due(&config, at(10, 2), |_| (run.clone(), false))),
            ["a"]
        );
    }

    #[test]
    fn failures_double_the_delay_from_the_configured_base() {
        let mut run = TenantRun::default();
        let now = at(10, 0);
        let delays: Vec<i64> = (0..5)
            .map(|_| {
                run.record_failure("x".into(), 60, now);
                (run.retry_at.unwrap() - now).num_seconds()
            })
            .collect();
        assert_eq!(delays, [60, 120, 240, 480, 960]);
        for _ in 0..100 {
            run.record_failure("x".into(), 60, now);
        }
        assert_eq!(run.retry_at.unwrap() - now, Duration::seconds(60 << 15));
        assert_eq!(run.last_error.as_deref(), Some("x"));
    }

    #[test]
    fn a_bad_schedule_is_skipped_and_a_fixed_one_is_picked_up() {
        let mut s = Scheduler::default();
        let bad = config(&[("a", "whenever")]);
        assert!(
            s.due(&bad, at(10, 5), |_| (TenantRun::default(), false))
                .is_empty()
        );
        assert!(s.reported.contains_key("a"));
        let fixed = config(&[("a", "every 1h")]);
        assert_eq!(
            names(&s.due(&fixed, at(10, 5), |_| (TenantRun::default(), false))),
            ["a"]
        );
        assert!(!s.reported.contains_key("a"));
        // A tenant removed from the configuration is forgotten.
        assert!(
            s.due(&Config::default(), at(10, 6), |_| (
                TenantRun::default(),
                false
            ))
            .is_empty()
        );
        assert!(s.slotting.is_empty());
    }
}
