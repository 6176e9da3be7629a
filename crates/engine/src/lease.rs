//! Work on a tenant's repository data under its lease: what keeps two backups or prunes of
//! one tenant from running at once, here or on another replica.

use chrono::{DateTime, Duration, Utc};
use dirvault_model::TenantId;
use dirvault_store::Repository;

use crate::{Error, Result};

/// How long maintenance (prune) holds a lease between renewals.
pub(crate) const MAINTENANCE_LEASE: Duration = Duration::minutes(5);

/// Runs `work` holding the tenant's lease, renewed in the background every third of `ttl`
/// (at `now` plus the real time elapsed, so long work keeps it however long it runs). A
/// renewal that fails (another owner took the lease over, someone broke it, the store is
/// unreachable) abandons the work with that error: nothing is committed without the lease.
/// The lease is released however the work ends.
pub(crate) async fn under_lease<T>(
    repo: &Repository,
    tenant: &TenantId,
    owner: &str,
    ttl: Duration,
    now: DateTime<Utc>,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let store = repo.clone();
    let lease = store.acquire_lease(tenant, owner, ttl, now).await?;
    let clock = std::time::Instant::now();
    let held = tokio::sync::Mutex::new(lease);
    let period = (ttl / 3)
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(1))
        .max(std::time::Duration::from_millis(100));
    // Ends only with the error that lost the lease.
    let renew = async {
        loop {
            tokio::time::sleep(period).await;
            let mut lease = held.lock().await;
            match store.renew_lease(&lease, ttl, elapsed(now, clock)).await {
                Ok(renewed) => *lease = renewed,
                Err(e) => return Error::from(e),
            }
        }
    };
    let result = tokio::select! {
        r = work => r,
        e = renew => Err(e),
    };
    let _ = store.release_lease(held.into_inner()).await;
    result
}

/// `start` plus the real time since `clock` started.
fn elapsed(start: DateTime<Utc>, clock: std::time::Instant) -> DateTime<Utc> {
    start + Duration::from_std(clock.elapsed()).unwrap_or_else(|_| Duration::zero())
}
