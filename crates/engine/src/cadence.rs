//! How often what the change reports do not cover is read again anyway.

use chrono::{DateTime, Duration, Utc};

/// Users the registration report does not list (disabled users: Graph: authenticationmethods-
/// usersregisteredbymethod / userregistrationdetails list active users) have their
/// authentication methods read again at least once in this period, whatever the backup
/// frequency (see [`due_in_window`]): a change of a disabled user's methods is in a snapshot
/// within a week, or at once with `--full`.
pub const UNREPORTED_RECHECK: Duration = Duration::days(7);

/// Whether `id` is due in `(from, to]`: each id has a fixed instant in every `period` (by a
/// hash of the id), and is due when one falls in the window. Every id is thus due at least
/// once in any window of one `period`, and a window of a full period or more takes them all;
/// spread over the period, a backup reads a slice proportional to its window.
pub fn due_in_window(id: &str, period: Duration, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    let period_s = period.num_seconds().max(1);
    if (to - from).num_seconds() >= period_s {
        return true;
    }
    let offset =
        i64::try_from(dirvault_model::fnv1a(id.as_bytes()) % period_s.unsigned_abs()).unwrap_or(0);
    let to_s = to.timestamp();
    // The id's latest instant at or before `to`.
    let latest = to_s - (to_s - offset).rem_euclid(period_s);
    latest > from.timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_id_is_due_once_per_period_whatever_the_backup_frequency() {
        let period = Duration::days(7);
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ids: Vec<String> = (0..500).map(|n| format!("user-{n}")).collect();
        for step in [
            Duration::minutes(30),
            Duration::hours(12),
            Duration::days(1),
            Duration::days(6),
        ] {
            let mut last_due: BTreeMap<&str, DateTime<Utc>> =
                ids.iter().map(|i| (i.as_str(), start)).collect();
            let mut t = start;
            while t < start + Duration::days(60) {
                let next = t + step;
                for id in &ids {
                    if due_in_window(id, period, t, next) {
                        last_due.insert(id, next);
                    }
                    assert!(
                        next - last_due[id.as_str()] <= period + step,
                        "{id} not due for more than a period (backups every {step})"
                    );
                }
                t = next;
            }
        }
        // A window of a period or more takes every id; an empty one none.
        assert!(
            ids.iter()
                .all(|i| due_in_window(i, period, start, start + period))
        );
        assert!(!ids.iter().any(|i| due_in_window(i, period, start, start)));
    }
}
