//! Schedules: `every 12h` (spread over the interval by tenant name, so that a thousand tenants
//! do not all start at once) or a cron expression with seconds.

use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sha2::{Digest, Sha256};

/// When a tenant is due.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// Every `interval`, shifted by `offset` from the Unix epoch.
    Every {
        interval: Duration,
        offset: Duration,
    },
    /// A cron expression (sec min hour day-of-month month day-of-week [year]), in UTC.
    Cron(Box<cron::Schedule>),
}

/// Parses `30s`, `15m`, `12h`, `1d` (the store's one duration parser: positive, at most a
/// century).
fn parse_interval(s: &str) -> Result<Duration, String> {
    dirvault_store::parse_duration(s)
        .map_err(|e| format!("schedule `every {s}`: {e}; e.g. every 12h, every 30m, every 1d"))
}

impl Schedule {
    /// Parses a schedule for `tenant` (whose name spreads `every` schedules).
    pub(crate) fn parse(spec: &str, tenant: &str) -> Result<Self, String> {
        if let Some(every) = spec.trim().strip_prefix("every ") {
            let interval = parse_interval(every)?;
            let hash = Sha256::digest(tenant.as_bytes());
            let n = u64::from_le_bytes(hash[..8].try_into().unwrap_or([0; 8]));
            let secs = interval.num_seconds().max(1) as u64;
            let offset = Duration::seconds((n % secs) as i64);
            return Ok(Schedule::Every { interval, offset });
        }
        cron::Schedule::from_str(spec)
            .map(|c| Schedule::Cron(Box::new(c)))
            .map_err(|e| {
                format!(
                    "schedule {spec:?} is neither `every <N><s|m|h|d>` nor a cron expression with seconds (e.g. `0 0 2 * * *`): {e}"
                )
            })
    }

    /// The first due time after `t`.
    pub(crate) fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Schedule::Every { interval, .. } => self.slot_start(t).unwrap_or(t) + *interval,
            Schedule::Cron(c) => c
                .after(&t)
                .next()
                .unwrap_or_else(|| t + Duration::days(3650)),
        }
    }

    /// The start of the slot `now` is in: the latest due time at or before `now`; `None`
    /// when the schedule has not been due yet (a cron expression's first time is ahead).
    pub(crate) fn slot_start(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every { interval, offset } => {
                let epoch = Utc.timestamp_opt(0, 0).single().unwrap_or(now);
                let step = interval.num_milliseconds().max(1);
                let since = (now - epoch - *offset).num_milliseconds();
                let k = since.div_euclid(step);
                Some(epoch + *offset + Duration::milliseconds(k * step))
            }
            Schedule::Cron(c) => {
                for lookback in [Duration::days(1), Duration::days(32), Duration::days(400)] {
                    let last = c.after(&(now - lookback)).take_while(|t| *t <= now).last();
                    if last.is_some() {
                        return last;
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_else(|_| Utc::now())
    }

    #[test]
    fn every_slots_are_spread_by_tenant_and_contain_now() {
        let now = at("2026-11-24T10:17:00Z");
        let mut starts = std::collections::BTreeSet::new();
        for n in 0..50 {
            let s = Schedule::parse("every 12h", &format!("tenant-{n}"))
                .unwrap_or_else(|e| panic!("{e}"));
            let start = s.slot_start(now).unwrap_or(now);
            assert!(start <= now && now < start + Duration::hours(12));
            assert_eq!(s.next_after(now), start + Duration::hours(12));
            starts.insert(start);
        }
        assert!(
            starts.len() > 40,
            "50 tenants start at {} distinct times",
            starts.len()
        );
    }

    #[test]
    fn cron_slot_is_the_last_occurrence() {
        let s = Schedule::parse("0 0 2 * * *", "t").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.slot_start(at("2026-11-24T10:00:00Z")),
            Some(at("2026-11-24T02:00:00Z"))
        );
        assert_eq!(
            s.slot_start(at("2026-11-24T01:00:00Z")),
            Some(at("2026-11-23T02:00:00Z"))
        );
        let future = Schedule::parse("0 0 0 1 1 * 2099", "t").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            future.slot_start(at("2026-11-24T10:00:00Z")),
            None,
            "not due before its first time"
        );
        assert_eq!(
            s.next_after(at("2026-11-24T10:00:00Z")),
            at("2026-11-25T02:00:00Z")
        );
    }

    #[test]
    fn bad_schedules_say_what_is_accepted() {
        for bad in [
            "every 12",
            "every -3h",
            "every 0s",
            "sometimes",
            // Regression: chrono's constructors panicked on out-of-range values.
            "every 9999999999999d",
            "every 99999999999999999999999s",
        ] {
            let err = Schedule::parse(bad, "t").unwrap_err();
            assert!(
                err.contains("every") || err.contains("unit") || err.contains("positive"),
                "{bad}: {err}"
            );
        }
    }
}
