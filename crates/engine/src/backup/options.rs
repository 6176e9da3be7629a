//! What a backup reads and how: [`BackupOptions`] (the CLI's options too, with `clap`).

use chrono::Duration;
use dirvault_model::{CollectionPath, ObjectKind};

/// What to back up, and how. With the `clap` feature, these are the CLI's options too.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct BackupOptions {
    /// Only these kinds (comma-separated Graph collection names, e.g. users,groups); all when
    /// empty. The other kinds keep the previous snapshot's data.
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ','))]
    pub kinds: Vec<ObjectKind>,
    /// Read everything, ignoring stored delta tokens.
    #[cfg_attr(feature = "clap", arg(long))]
    pub full: bool,
    /// A full listing with fewer than this fraction of the previous snapshot's objects is not
    /// trusted (the kind is marked failed and the previous data kept). 0 disables the check.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = BackupOptions::default().shrink_threshold, value_parser = parse_fraction))]
    pub shrink_threshold: f64,
    /// Sign-ins and audits overlap the previous backup by this much, so none is missed.
    #[cfg_attr(feature = "clap", arg(skip = BackupOptions::default().log_overlap))]
    pub log_overlap: Duration,
    /// Sign-ins and audits of the first backup reach back this far.
    #[cfg_attr(feature = "clap", arg(skip = BackupOptions::default().log_history))]
    pub log_history: Duration,
    /// Lease duration; renewed between kinds.
    #[cfg_attr(feature = "clap", arg(skip = BackupOptions::default().lease_ttl))]
    pub lease_ttl: Duration,
    /// Lease owner name (host and process by default).
    #[cfg_attr(feature = "clap", arg(skip = BackupOptions::default().owner))]
    pub owner: String,
}

/// Parses a fraction from 0 to 1 (`NaN`, infinities and anything outside are refused).
#[cfg(feature = "clap")]
fn parse_fraction(s: &str) -> std::result::Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("{s:?}: expected a fraction from 0 to 1, e.g. 0.5"))
}

impl BackupOptions {
    /// Whether `kind` is read: selected, or the parent of a selected kind listed under each of
    /// its objects (a user's authentication methods, the organization's branding), whose ids
    /// say which lists to read.
    pub fn selects(&self, kind: ObjectKind) -> bool {
        self.kinds.is_empty()
            || self.kinds.iter().any(|k| {
                *k == kind
                    || matches!(k.info().collection,
                        CollectionPath::PerParent { parent, .. } if parent == kind)
            })
    }
}

impl Default for BackupOptions {
    fn default() -> Self {
        Self {
            kinds: Vec::new(),
            full: false,
            shrink_threshold: 0.5,
            log_overlap: Duration::hours(1),
            log_history: Duration::days(7),
            lease_ttl: Duration::minutes(15),
            owner: format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "dirvault".into()),
                std::process::id()
            ),
        }
    }
}
