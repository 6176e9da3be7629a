//! Which snapshots a retention policy keeps.

use super::*;

/// Which snapshots to keep (restic's semantics: the newest snapshot of each of the last N
/// days / ISO weeks / months, the last N snapshots, and everything within a duration).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct RetentionPolicy {
    /// Keep the last N snapshots.
    #[cfg_attr(feature = "clap", arg(long))]
    pub keep_last: Option<usize>,
    /// Keep the newest snapshot of each of the last N days.
    #[cfg_attr(feature = "clap", arg(long))]
    pub keep_daily: Option<usize>,
    /// Keep the newest snapshot of each of the last N ISO weeks.
    #[cfg_attr(feature = "clap", arg(long))]
    pub keep_weekly: Option<usize>,
    /// Keep the newest snapshot of each of the last N months.
    #[cfg_attr(feature = "clap", arg(long))]
    pub keep_monthly: Option<usize>,
    /// Keep every snapshot younger than this (e.g. 30d, 12h, 2w).
    #[cfg_attr(feature = "clap", arg(long, value_parser = parse_duration))]
    pub keep_within: Option<Duration>,
    /// Allow a policy that keeps none of the tenant's snapshots (without it, such a policy
    /// is refused: `--keep-last 0` deleting everything is never what was meant).
    #[cfg_attr(feature = "clap", arg(long))]
    pub allow_empty: bool,
}

/// The longest duration [`parse_duration`] takes: a century is longer than any retention or
/// schedule means, and keeps date arithmetic far from chrono's limits.
pub const MAX_DURATION_DAYS: i64 = 36_525;

/// Parses a positive duration: `30d`, `12h`, `2w`, `90m`, `30s`, `1d 12h` (humantime's
/// syntax), at most [`MAX_DURATION_DAYS`].
///
/// # Errors
/// A message naming the value: not a duration, zero, or too long.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}): use e.g. 30d, 12h, 2w or 90m"))?;
    let max = Duration::days(MAX_DURATION_DAYS);
    let d = Duration::from_std(parsed)
        .ok()
        .filter(|d| *d <= max)
        .ok_or_else(|| format!("{s:?} is too long: at most {MAX_DURATION_DAYS} days"))?;
    if d <= Duration::zero() {
        return Err(format!("{s:?}: the duration must be positive"));
    }
    Ok(d)
}

impl RetentionPolicy {
    /// The ids of `snapshots` to keep at `now`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the policy keeps nothing at all (forgetting everything is never
    /// what an empty command line meant).
    pub fn keep(&self, snapshots: &[Snapshot], now: DateTime<Utc>) -> Result<HashSet<SnapshotId>> {
        let rules = RetentionPolicy {
            allow_empty: false,
            ..self.clone()
        };
        if rules == RetentionPolicy::default() {
            return Err(Error::Invalid("no retention policy given: use --keep-last, --keep-daily, --keep-weekly, --keep-monthly or --keep-within".into()));
        }
        let mut newest_first: Vec<&Snapshot> = snapshots.iter().collect();
        newest_first.sort_by_key(|s| std::cmp::Reverse(s.time));
        let mut keep = HashSet::new();
        if let Some(n) = self.keep_last {
            keep.extend(newest_first.iter().take(n).map(|s| s.id.clone()));
        }
        if let Some(within) = self.keep_within {
            keep.extend(
                newest_first
                    .iter()
                    .filter(|s| now - s.time <= within)
                    .map(|s| s.id.clone()),
            );
        }
        let mut bucketed = |n: Option<usize>, bucket: &dyn Fn(&DateTime<Utc>) -> (i32, u32)| {
            let Some(n) = n else { return };
            let mut seen = Vec::new();
            for s in &newest_first {
                let b = bucket(&s.time);
                if !seen.contains(&b) {
                    if seen.len() == n {
                        break;
                    }
                    seen.push(b);
                    keep.insert(s.id.clone());
                }
            }
        };
        bucketed(self.keep_daily, &|t| (t.year(), t.ordinal()));
        bucketed(self.keep_weekly, &|t| {
            (t.iso_week().year(), t.iso_week().week())
        });
        bucketed(self.keep_monthly, &|t| (t.year(), t.month()));
        if keep.is_empty() && !snapshots.is_empty() && !self.allow_empty {
            return Err(Error::Invalid(format!(
                "this policy keeps none of the {} snapshot(s): nothing was forgotten; give a policy that keeps some (e.g. --keep-last 1), or --allow-empty to forget them all",
                snapshots.len()
            )));
        }
        Ok(keep)
    }
}
