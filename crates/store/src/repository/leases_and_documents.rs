//! What the engine and the restore executor keep in a repository besides snapshots: a
//! tenant's lease (one writer at a time), its small documents (restore plans and journals)
//! and how its content ids are made. Each is the store's operation behind the repository, so
//! that callers never hold the storage seam itself.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use dirvault_model::TenantId;
use serde::Serialize;

use super::Repository;
use crate::backend::Lease;
use crate::crypto::ContentIds;
use crate::error::Result;
use crate::holder::LeaseHolder;

/// A tenant's lease as it stands (held or expired): what `dirvault lease show` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseInfo {
    /// Who holds it (host, process, random suffix).
    pub owner: String,
    /// When it expires unless renewed.
    pub expires: DateTime<Utc>,
    /// The process that took it, when the holder said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<LeaseHolder>,
}

impl Repository {
    /// Takes the tenant's lease for `ttl`.
    ///
    /// # Errors
    /// [`crate::Error::Locked`] while another owner holds it.
    pub async fn acquire_lease(
        &self,
        tenant: &TenantId,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lease> {
        self.store.acquire_lease(tenant, owner, ttl, now).await
    }

    /// Extends a held lease.
    ///
    /// # Errors
    /// [`crate::Error::LeaseLost`] when it was taken over or broken.
    pub async fn renew_lease(
        &self,
        lease: &Lease,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lease> {
        self.store.renew_lease(lease, ttl, now).await
    }

    /// Gives a lease up.
    ///
    /// # Errors
    /// Store errors.
    pub async fn release_lease(&self, lease: Lease) -> Result<()> {
        self.store.release_lease(lease).await
    }

    /// The tenant's lease (held or expired); `None` when there is none.
    ///
    /// # Errors
    /// Store errors.
    pub async fn lease(&self, tenant: &TenantId) -> Result<Option<LeaseInfo>> {
        Ok(self.store.lease(tenant).await?.map(|record| LeaseInfo {
            owner: record.owner,
            expires: record.expires,
            holder: record.holder,
        }))
    }

    /// Removes the tenant's lease, whoever holds it: `false` when there was none. A holder
    /// still running loses it at its next renewal and stops without committing.
    ///
    /// # Errors
    /// Store errors.
    pub async fn break_lease(&self, tenant: &TenantId) -> Result<bool> {
        self.store.break_lease(tenant).await
    }

    /// Writes a small document of the tenant (a restore plan, a journal segment), replacing
    /// any document of that name. `name` is a relative path such as `restore/{plan}/plan.json`.
    ///
    /// # Errors
    /// Store errors; [`crate::Error::Denied`] for a credential that may not overwrite.
    pub async fn put_document(&self, tenant: &TenantId, name: &str, bytes: Bytes) -> Result<()> {
        self.store.put_document(tenant, name, bytes).await
    }

    /// Reads a document; `Ok(None)` when there is none of that name.
    ///
    /// # Errors
    /// Store errors; [`crate::Error::Corrupt`] for one that does not authenticate.
    pub async fn get_document(&self, tenant: &TenantId, name: &str) -> Result<Option<Bytes>> {
        self.store.get_document(tenant, name).await
    }

    /// The names of the tenant's documents under `prefix` (a folder such as
    /// `restore/{plan}`), sorted.
    ///
    /// # Errors
    /// Store errors.
    pub async fn list_documents(&self, tenant: &TenantId, prefix: &str) -> Result<Vec<String>> {
        self.store.list_documents(tenant, prefix).await
    }

    /// How the tenant's content ids are made (keyed in an encrypted repository; makes the
    /// tenant's keys when it has none yet).
    ///
    /// # Errors
    /// Store errors; [`crate::Error::Erased`] for a tenant whose key was forgotten.
    pub async fn content_ids(&self, tenant: &TenantId) -> Result<ContentIds> {
        self.store.content_ids(tenant).await
    }
}
