//! An [`ObjectSnapshotStore`]'s repository format and keys: `repository.json` checked once,
//! the master key unlocked from a key slot, each tenant's keys unwrapped when first needed,
//! and what seals and opens a tenant's objects (see `crate::crypto`).

use super::over_object_store::{backend, tenant_path};
use super::*;
use crate::crypto::{ContentIds, Key, KeySlotFile, Secret, TenantKeys, binding};
use crate::format::{Encryption, TenantKeyFile};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The repository as unlocked by a store handle.
#[derive(Debug)]
pub(super) struct Unlocked {
    /// Its id (`repository.json`), bound into every sealed object.
    pub(super) id: String,
    /// The master key; `None` for an unencrypted repository.
    master: Option<Key>,
}

/// What seals and opens one tenant's objects (nothing, in an unencrypted repository).
#[derive(Clone, Debug)]
pub(super) struct Sealing {
    repository: Arc<Unlocked>,
    tenant: TenantId,
    keys: Option<Arc<TenantKeys>>,
    /// Content ids made like another repository's (unencrypted scratch stores only).
    ids_like: Option<ContentIds>,
}

impl Sealing {
    /// Sealed `bytes` for the object `what`/`name` (as they are when unencrypted).
    pub(super) fn seal(&self, what: &str, name: &str, bytes: Vec<u8>) -> Vec<u8> {
        match &self.keys {
            None => bytes,
            Some(keys) => keys.data.seal(&self.binding(what, name), &bytes),
        }
    }

    /// The plaintext of the object `what`/`name` stored at `path`; a wrong key, another
    /// repository's or tenant's object, another name, or one flipped bit is an error.
    pub(super) fn open(&self, what: &str, name: &str, path: &str, bytes: &[u8]) -> Result<Bytes> {
        match &self.keys {
            None => Ok(Bytes::copy_from_slice(bytes)),
            Some(keys) => keys
                .data
                .open(&self.binding(what, name), bytes)
                .map(Bytes::from)
                .ok_or_else(|| Error::Corrupt {
                    path: path.to_owned(),
                    reason: format!(
                        "it does not decrypt as {what} {name} of tenant {} in this repository: altered, or moved here from elsewhere",
                        self.tenant
                    ),
                }),
        }
    }

    /// Like [`Sealing::open`], for a piece of a pack: the blob `id` alone, or (`group`) the
    /// group holding it. `Err` is the reason only.
    pub(super) fn open_piece(
        &self,
        id: &BlobId,
        group: bool,
        bytes: &[u8],
    ) -> std::result::Result<Vec<u8>, String> {
        match &self.keys {
            None => Ok(bytes.to_vec()),
            Some(keys) => {
                let (what, binding) = piece_binding(id, group);
                keys.data
                    .open(&self.binding(what, &binding), bytes)
                    .ok_or_else(|| {
                        format!("it does not decrypt as this {what}: altered, or moved here from elsewhere")
                    })
            }
        }
    }

    /// Seals a piece of a pack (see [`Sealing::open_piece`]).
    pub(super) fn seal_piece(&self, piece: &PackPiece) -> Vec<u8> {
        let (what, name) = match piece {
            PackPiece::Alone(id, _) => piece_binding(id, false),
            PackPiece::Group { members, .. } => match members.first() {
                Some((id, _)) => piece_binding(id, true),
                None => ("group", String::new()),
            },
        };
        self.seal(what, &name, piece.bytes().to_vec())
    }

    /// Whether objects are sealed.
    pub(super) fn is_sealed(&self) -> bool {
        self.keys.is_some()
    }

    /// How the tenant's content ids are made.
    pub(super) fn content_ids(&self) -> ContentIds {
        match (&self.keys, &self.ids_like) {
            (Some(keys), _) => ContentIds::keyed(keys.clone()),
            (None, Some(like)) => like.clone(),
            (None, None) => ContentIds::default(),
        }
    }

    fn binding(&self, what: &str, name: &str) -> Vec<u8> {
        binding(&self.repository.id, self.tenant.as_str(), what, name)
    }
}

/// What a piece of a pack is sealed as: a blob alone under its id; a group under no name (a
/// reader knows one member, not the first). A group is still bound to its repository and
/// tenant, and each member read from it is checked against its content id, so a group swapped
/// for another of the tenant reads as corrupt, never as other data.
fn piece_binding(id: &BlobId, group: bool) -> (&'static str, String) {
    match group {
        false => ("blob", id.to_string()),
        true => ("group", String::new()),
    }
}

/// A key slot as `key list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySlot {
    /// The slot's id (its file name).
    pub id: String,
    /// `password` or `key`.
    pub kind: String,
    /// When it was added.
    pub created: DateTime<Utc>,
    /// The host it was added on.
    pub host: String,
    /// Whether the secret this handle was opened with opens it.
    pub current: bool,
}

const KEYS: &str = "keys";

impl ObjectSnapshotStore {
    /// The repository's format checked and, for an encrypted one, its master key unlocked with
    /// the store's secret: once, before the first read or write. A new, empty repository is
    /// created by the first write (encrypted when the store has a secret); before that, reads
    /// find it empty (`None`). A repository with tenants but no `repository.json` was written
    /// before the format was marked, in a format no longer read: refused, never read wrongly
    /// or written into.
    pub(super) async fn unlocked(&self, writing: bool) -> Result<Option<Arc<Unlocked>>> {
        if let Some(done) = self.unlocked.get() {
            return Ok(Some(done.clone()));
        }
        let path = Path::from(REPOSITORY_FILE);
        loop {
            match self.store.get(&path).await {
                Ok(found) => {
                    let bytes = found.bytes().await.map_err(backend("read", &path))?;
                    let file = RepositoryFile::check(&bytes)?;
                    let unlocked = Arc::new(self.unlock(&file).await?);
                    return Ok(Some(self.unlocked.get_or_init(|| unlocked).clone()));
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(backend("read", &path)(e)),
            }
            if !self.tenant_names().await?.is_empty() {
                return Err(Error::UnsupportedFormat {
                    path: REPOSITORY_FILE.to_owned(),
                    found: None,
                    supported: FORMAT_VERSION,
                });
            }
            if !writing {
                // Empty and new: nothing to read wrongly; the first write creates it.
                return Ok(None);
            }
            self.create_repository(&path).await?;
        }
    }

    /// Writes a new repository's `repository.json` (create-only, so that of two first writers
    /// one wins and the other reads the winner's), after its first key slot when encrypted.
    async fn create_repository(&self, path: &Path) -> Result<()> {
        if self.secret.is_none() && self.require_encryption {
            return Err(Error::EncryptionRequired);
        }
        let mut file = RepositoryFile::new();
        let mut slot_path = None;
        if let Some(secret) = &self.secret {
            file.encryption = Some(Encryption::current());
            let master = Key::random();
            let slot = new_slot_id();
            let written = self.put_slot(&file.id, &slot, &master, secret).await?;
            slot_path = Some(written);
        }
        let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        match self
            .store
            .put_opts(
                path,
                PutPayload::from(bytes),
                PutOptions::from(PutMode::Create),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                // Another writer created it first: our slot opens nothing of theirs.
                if let Some(slot) = slot_path {
                    let _ = self.store.delete(&slot).await;
                }
                Ok(())
            }
            Err(e) => Err(backend("write", path)(e)),
        }
    }

    /// Opens the master key of `file`'s repository with the store's secret.
    async fn unlock(&self, file: &RepositoryFile) -> Result<Unlocked> {
        let slots = self.slot_files().await?;
        let master = match (&file.encryption, &self.secret) {
            (None, None) if slots.is_empty() => None,
            (None, None) => {
                return Err(Error::Corrupt {
                    path: REPOSITORY_FILE.to_owned(),
                    reason: "it says the repository is not encrypted, but key slots exist: its encryption section was removed".into(),
                });
            }
            (None, Some(_)) => return Err(Error::NotEncrypted),
            (Some(_), None) => return Err(Error::PasswordRequired),
            (Some(_), Some(secret)) => Some(open_any_slot(&slots, secret, &file.id).await?.1),
        };
        Ok(Unlocked {
            id: file.id.clone(),
            master,
        })
    }

    /// Every key slot file, by id.
    async fn slot_files(&self) -> Result<Vec<(String, KeySlotFile)>> {
        let mut out = Vec::new();
        for meta in self.list(&Path::from(KEYS)).await? {
            let Some(id) = meta
                .location
                .filename()
                .and_then(|f| f.strip_suffix(".json"))
                .map(str::to_owned)
            else {
                continue;
            };
            let bytes = match self.store.get(&meta.location).await {
                Ok(found) => found
                    .bytes()
                    .await
                    .map_err(backend("read", &meta.location))?,
                // Removed since the listing: a key removed, or the slot of a replica that lost
                // the race to create the repository (the replicas test met it in CI): not a
                // slot any more.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(backend("read", &meta.location)(e)),
            };
            let slot = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: meta.location.to_string(),
                reason: format!("unreadable key slot: {e}"),
            })?;
            out.push((id, slot));
        }
        Ok(out)
    }

    /// Writes a key slot opening `master` with `secret` (argon2id runs off the async
    /// threads); returns its path.
    async fn put_slot(
        &self,
        repository: &str,
        slot: &str,
        master: &Key,
        secret: &Secret,
    ) -> Result<Path> {
        let (master, secret, repo, id) = (
            master.clone(),
            secret.clone(),
            repository.to_owned(),
            slot.to_owned(),
        );
        let file =
            tokio::task::spawn_blocking(move || KeySlotFile::wrap(&master, &secret, &repo, &id))
                .await
                .map_err(|e| Error::Invalid(format!("key derivation stopped: {e}")))?;
        let path = Path::from(format!("{KEYS}/{slot}.json"));
        let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        self.store
            .put_opts(
                &path,
                PutPayload::from(bytes),
                PutOptions::from(PutMode::Create),
            )
            .await
            .map_err(backend("write", &path))?;
        Ok(path)
    }

    /// The sealing of `tenant`'s objects: its keys unwrapped (and, when `writing` to a tenant
    /// that has none yet, made). `None` while the repository is new and nothing was written.
    pub(super) async fn sealing(
        &self,
        tenant: &TenantId,
        writing: bool,
    ) -> Result<Option<Sealing>> {
        let Some(repository) = self.unlocked(writing).await? else {
            return Ok(None);
        };
        let keys = match &repository.master {
            None => None,
            Some(master) => Some(
                self.tenant_keys(&repository, master, tenant, writing)
                    .await?,
            ),
        };
        Ok(Some(Sealing {
            repository,
            tenant: tenant.clone(),
            keys,
            ids_like: self.ids_like.clone(),
        }))
    }

    /// Like [`ObjectSnapshotStore::sealing`], for a tenant that has data (an unencrypted
    /// sealing while the repository is new).
    pub(super) async fn sealing_of(&self, tenant: &TenantId, writing: bool) -> Result<Sealing> {
        Ok(match self.sealing(tenant, writing).await? {
            Some(s) => s,
            None => Sealing {
                repository: Arc::new(Unlocked {
                    id: String::new(),
                    master: None,
                }),
                tenant: tenant.clone(),
                keys: None,
                ids_like: self.ids_like.clone(),
            },
        })
    }

    async fn tenant_keys(
        &self,
        repository: &Unlocked,
        master: &Key,
        tenant: &TenantId,
        writing: bool,
    ) -> Result<Arc<TenantKeys>> {
        if let Some(keys) = self
            .tenant_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant)
        {
            return Ok(keys.clone());
        }
        let path = tenant_path(tenant, "key.json");
        let aad = binding(&repository.id, tenant.as_str(), "tenant-key", "key.json");
        let erased = |since: Option<DateTime<Utc>>| Error::Erased {
            tenant: tenant.to_string(),
            since: since.map(|t| t.to_rfc3339()),
        };
        loop {
            match self.store.get(&path).await {
                Ok(found) => {
                    let bytes = found.bytes().await.map_err(backend("read", &path))?;
                    let corrupt = |reason: &str| Error::Corrupt {
                        path: path.to_string(),
                        reason: reason.to_owned(),
                    };
                    let file: TenantKeyFile = serde_json::from_slice(&bytes)
                        .map_err(|e| corrupt(&format!("unreadable tenant key: {e}")))?;
                    if file.erased.is_some() {
                        return Err(erased(file.erased));
                    }
                    let sealed = file
                        .wrapped
                        .and_then(|w| BASE64.decode(w).ok())
                        .ok_or_else(|| corrupt("a tenant key without its keys"))?;
                    let keys = master
                        .open(&aad, &sealed)
                        .and_then(|plain| TenantKeys::from_bytes(&zeroize::Zeroizing::new(plain)))
                        .ok_or_else(|| {
                            corrupt("it does not decrypt with this repository's master key: altered, or moved here from elsewhere")
                        })?;
                    let keys = Arc::new(keys);
                    self.tenant_keys
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(tenant.clone(), keys.clone());
                    return Ok(keys);
                }
                Err(object_store::Error::NotFound { .. }) if writing => {
                    let keys = TenantKeys::random();
                    let file = TenantKeyFile {
                        version: "1".into(),
                        wrapped: Some(BASE64.encode(master.seal(&aad, &keys.to_bytes()))),
                        erased: None,
                    };
                    let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
                    match self
                        .store
                        .put_opts(
                            &path,
                            PutPayload::from(bytes),
                            PutOptions::from(PutMode::Create),
                        )
                        .await
                    {
                        // Made, or another writer made it first: read what is there.
                        Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => continue,
                        Err(e) => return Err(backend("write", &path)(e)),
                    }
                }
                // A tenant with data but no key: its key was deleted by hand.
                Err(object_store::Error::NotFound { .. }) => return Err(erased(None)),
                Err(e) => return Err(backend("read", &path)(e)),
            }
        }
    }

    /// Whether the repository is encrypted (`None` while it is new and empty).
    ///
    /// # Errors
    /// Reading or unlocking it.
    pub async fn is_encrypted(&self) -> Result<Option<bool>> {
        Ok(self.unlocked(false).await?.map(|u| u.master.is_some()))
    }

    /// Creates the repository now (encrypted when the store has a secret), rather than at
    /// its first write; an error if it exists.
    ///
    /// # Errors
    /// [`Error::Invalid`] when it exists; store errors.
    pub async fn init(&self) -> Result<()> {
        if self.unlocked(false).await?.is_some() {
            return Err(Error::Invalid("a repository exists there already".into()));
        }
        self.unlocked(true).await.map(|_| ())
    }

    /// The key slots, and which one the store's secret opens.
    ///
    /// # Errors
    /// Store errors; the repository must be unlocked with a slot's secret.
    pub async fn key_slots(&self) -> Result<Vec<KeySlot>> {
        let repository = self.encrypted().await?;
        let secret = self.secret.as_ref().ok_or(Error::PasswordRequired)?;
        let slots = self.slot_files().await?;
        let current = open_any_slot(&slots, secret, &repository.id).await?.0;
        Ok(slots
            .into_iter()
            .map(|(id, slot)| KeySlot {
                current: id == current,
                kind: match slot.kind {
                    crate::crypto::SlotKind::Password => "password".into(),
                    crate::crypto::SlotKind::Key => "key".into(),
                },
                created: slot.created,
                host: slot.host,
                id,
            })
            .collect())
    }

    /// Adds a key slot opening the repository with `secret`; returns its id.
    ///
    /// # Errors
    /// Store errors; the repository must be encrypted and unlocked.
    pub async fn add_key(&self, secret: &Secret) -> Result<String> {
        let repository = self.encrypted().await?;
        let master = repository.master.as_ref().ok_or(Error::NotEncrypted)?;
        let id = new_slot_id();
        self.put_slot(&repository.id, &id, master, secret).await?;
        Ok(id)
    }

    /// Removes key slot `id`. Refuses to remove the last slot (the repository could never be
    /// opened again) and the slot this handle was opened with (add another first, or use
    /// `change_key`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for those cases and unknown ids; store errors.
    pub async fn remove_key(&self, id: &str) -> Result<()> {
        let slots = self.key_slots().await?;
        let Some(slot) = slots.iter().find(|s| s.id == id) else {
            return Err(Error::Invalid(format!(
                "no key slot {id:?}; list them with `key list`"
            )));
        };
        if slots.len() == 1 {
            return Err(Error::Invalid("that is the repository's only key slot: removing it would make the repository unreadable; add another first".into()));
        }
        if slot.current {
            return Err(Error::Invalid("that is the slot this password or key opens: open the repository with another slot's secret to remove it".into()));
        }
        let path = Path::from(format!("{KEYS}/{id}.json"));
        self.store
            .delete(&path)
            .await
            .map_err(backend("delete", &path))
    }

    /// Replaces the slot the store's secret opens by one for `new` (added first, so that a
    /// crash leaves both, never neither); returns the new slot's id.
    ///
    /// # Errors
    /// Store errors; the repository must be encrypted and unlocked.
    pub async fn change_key(&self, new: &Secret) -> Result<String> {
        let old = self
            .key_slots()
            .await?
            .into_iter()
            .find(|s| s.current)
            .map(|s| s.id);
        let id = self.add_key(new).await?;
        if let Some(old) = old {
            let path = Path::from(format!("{KEYS}/{old}.json"));
            self.store
                .delete(&path)
                .await
                .map_err(backend("delete", &path))?;
        }
        Ok(id)
    }

    /// Forgets `tenant`'s keys: its data can no longer be read by anyone, at once and without
    /// rewriting a pack (what an MSP does to erase a customer). Its key file is replaced by a
    /// marker saying when; reads and writes of the tenant then fail with [`Error::Erased`],
    /// and `verify` reports it as erased.
    ///
    /// # Errors
    /// Store errors; the repository must be encrypted and unlocked.
    pub async fn forget_tenant_key(&self, tenant: &TenantId) -> Result<()> {
        self.encrypted().await?;
        let path = tenant_path(tenant, "key.json");
        let file = TenantKeyFile {
            version: "1".into(),
            wrapped: None,
            erased: Some(Utc::now()),
        };
        let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(backend("write", &path))?;
        self.tenant_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
        self.decoders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
        Ok(())
    }

    async fn encrypted(&self) -> Result<Arc<Unlocked>> {
        match self.unlocked(false).await? {
            Some(u) if u.master.is_some() => Ok(u),
            Some(_) => Err(Error::Invalid("the repository is not encrypted".into())),
            None => Err(Error::Invalid("there is no repository there yet".into())),
        }
    }
}

/// The first slot `secret` opens: its id and the master key.
async fn open_any_slot(
    slots: &[(String, KeySlotFile)],
    secret: &Secret,
    repository: &str,
) -> Result<(String, Key)> {
    let (slots_owned, secret, repository) = (slots.to_vec(), secret.clone(), repository.to_owned());
    let count = slots_owned.len();
    tokio::task::spawn_blocking(move || {
        slots_owned
            .iter()
            .find_map(|(id, slot)| Some((id.clone(), slot.unwrap(&secret, &repository, id)?)))
    })
    .await
    .map_err(|e| Error::Invalid(format!("key derivation stopped: {e}")))?
    .ok_or(Error::WrongPassword { slots: count })
}

fn new_slot_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}
