//! Leases of an [`ObjectSnapshotStore`]: taken with a create-only put, taken over when expired
//! with a conditional update, renewed, released, sealed like the tenant's other objects (see
//! docs/storage-format.md, "Leases").

use super::keys::Sealing;
use super::over_object_store::{UNREADABLE_LEASE, backend, tenant_path};
use super::*;

impl ObjectSnapshotStore {
    async fn read_lease(
        &self,
        sealing: &Sealing,
        path: &Path,
    ) -> Result<Option<(LeaseRecord, UpdateVersion)>> {
        match self.store.get(path).await {
            Ok(r) => {
                let version = UpdateVersion {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                let bytes = r.bytes().await.map_err(backend("read", path))?;
                let record = sealing
                    .open("lease", "lease.json", path.as_ref(), &bytes)
                    .ok()
                    .and_then(|plain| serde_json::from_slice(&plain).ok());
                // A lease that does not decrypt or parse was forged or damaged: it holds no
                // one off (it reads as expired, so the next writer takes it over), else
                // anyone who can write one file could stop every backup of the tenant.
                let record = record.unwrap_or_else(|| {
                    tracing::warn!(%path, "an unreadable lease (forged or damaged): taken as expired");
                    LeaseRecord {
                        owner: UNREADABLE_LEASE.into(),
                        expires: DateTime::<Utc>::UNIX_EPOCH,
                        holder: None,
                    }
                });
                Ok(Some((record, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend("read", path)(e)),
        }
    }

    /// Writes a lease record, conditionally.
    async fn put_lease(
        &self,
        sealing: &Sealing,
        path: &Path,
        record: &LeaseRecord,
        mode: PutMode,
    ) -> Result<Option<UpdateVersion>, object_store::Error> {
        let bytes = sealing.seal(
            "lease",
            "lease.json",
            serde_json::to_vec(record).unwrap_or_default(),
        );
        let result = self
            .store
            .put_opts(
                path,
                PutPayload::from(bytes),
                PutOptions {
                    mode,
                    ..PutOptions::default()
                },
            )
            .await?;
        Ok(Some(UpdateVersion {
            e_tag: result.e_tag,
            version: result.version,
        }))
    }

    pub(super) async fn take_lease(
        &self,
        tenant: &TenantId,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lease> {
        let sealing = self.sealing_of(tenant, true).await?;
        let sealing = &sealing;
        let path = tenant_path(tenant, "lease.json");
        let record = LeaseRecord {
            owner: owner.to_owned(),
            expires: now + ttl,
            holder: Some(crate::holder::LeaseHolder::current()),
        };
        let granted = |version| Lease {
            tenant: tenant.clone(),
            owner: owner.to_owned(),
            expires: now + ttl,
            version,
        };
        match self
            .put_lease(sealing, &path, &record, PutMode::Create)
            .await
        {
            Ok(version) => return Ok(granted(version)),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {}
            Err(e) => return Err(backend("lease", &path)(e)),
        }
        let Some((current, version)) = self.read_lease(sealing, &path).await? else {
            // Released between our two calls: try once more.
            return match self
                .put_lease(sealing, &path, &record, PutMode::Create)
                .await
            {
                Ok(v) => Ok(granted(v)),
                Err(e) => Err(backend("lease", &path)(e)),
            };
        };
        let holder_dead = current
            .holder
            .as_ref()
            .is_some_and(|h| h.is_alive() == Some(false));
        if holder_dead {
            tracing::warn!(%tenant, owner = %current.owner, "the lease's holder process is gone: lease broken");
        }
        if current.expires > now && current.owner != owner && !holder_dead {
            return Err(Error::Locked {
                tenant: tenant.to_string(),
                owner: current.owner,
                expires: current.expires.to_rfc3339(),
            });
        }
        // Expired (or ours): take it over, conditionally on the version we read.
        match self
            .put_lease(sealing, &path, &record, PutMode::Update(version))
            .await
        {
            Ok(v) => Ok(granted(v)),
            Err(object_store::Error::NotImplemented) => {
                // Local files have no conditional update: delete, then create-only.
                let _ = self.store.delete(&path).await;
                self.put_lease(sealing, &path, &record, PutMode::Create)
                    .await
                    .map(granted)
                    .map_err(|_| Error::Locked {
                        tenant: tenant.to_string(),
                        owner: "another writer".into(),
                        expires: "unknown".into(),
                    })
            }
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Err(Error::Locked {
                tenant: tenant.to_string(),
                owner: "another writer (took the expired lease first)".into(),
                expires: "unknown".into(),
            }),
            Err(e) => Err(backend("lease", &path)(e)),
        }
    }

    pub(super) async fn extend_lease(
        &self,
        lease: &Lease,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lease> {
        let sealing = &self.sealing_of(&lease.tenant, true).await?;
        let path = tenant_path(&lease.tenant, "lease.json");
        let record = LeaseRecord {
            owner: lease.owner.clone(),
            expires: now + ttl,
            holder: Some(crate::holder::LeaseHolder::current()),
        };
        let lost = || Error::LeaseLost {
            tenant: lease.tenant.to_string(),
        };
        let mode = match &lease.version {
            Some(v) => PutMode::Update(v.clone()),
            None => PutMode::Overwrite,
        };
        let version = match self.put_lease(sealing, &path, &record, mode).await {
            Ok(v) => v,
            Err(object_store::Error::NotImplemented) => {
                // No conditional update (local files): check the owner, then overwrite.
                match self.read_lease(sealing, &path).await? {
                    Some((current, _)) if current.owner == lease.owner => self
                        .put_lease(sealing, &path, &record, PutMode::Overwrite)
                        .await
                        .map_err(|e| backend("lease", &path)(e))?,
                    _ => return Err(lost()),
                }
            }
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => return Err(lost()),
            Err(e) => return Err(backend("lease", &path)(e)),
        };
        Ok(Lease {
            tenant: lease.tenant.clone(),
            owner: lease.owner.clone(),
            expires: now + ttl,
            version,
        })
    }

    pub(super) async fn give_back_lease(&self, lease: Lease) -> Result<()> {
        let sealing = &self.sealing_of(&lease.tenant, true).await?;
        let path = tenant_path(&lease.tenant, "lease.json");
        let Some((current, version)) = self.read_lease(sealing, &path).await? else {
            return Ok(());
        };
        if current.owner != lease.owner {
            return Ok(());
        }
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(
                object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. },
            ) => {
                // An append-only credential may not delete: give the lease back by expiring
                // it, conditionally on the version read (a lease another writer took since
                // is left alone).
                let expired = LeaseRecord {
                    owner: lease.owner.clone(),
                    expires: DateTime::<Utc>::UNIX_EPOCH,
                    holder: None,
                };
                match self
                    .put_lease(sealing, &path, &expired, PutMode::Update(version))
                    .await
                {
                    Ok(_) | Err(object_store::Error::Precondition { .. }) => Ok(()),
                    Err(e) => Err(backend("lease", &path)(e)),
                }
            }
            Err(e) => Err(backend("delete", &path)(e)),
        }
    }

    pub(super) async fn lease_record(&self, tenant: &TenantId) -> Result<Option<LeaseRecord>> {
        let sealing = &self.sealing_of(tenant, false).await?;
        let path = tenant_path(tenant, "lease.json");
        Ok(self
            .read_lease(sealing, &path)
            .await?
            .map(|(record, _)| record))
    }

    pub(super) async fn remove_lease(&self, tenant: &TenantId) -> Result<bool> {
        let path = tenant_path(tenant, "lease.json");
        match self.store.delete(&path).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend("delete", &path)(e)),
        }
    }
}
