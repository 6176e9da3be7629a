//! `dirvault repo encrypt`: an unencrypted repository copied into a new encrypted one, then
//! verified. Never in place: the source is only read, and stays as it was until the operator
//! points the configuration at the copy and deletes the source (docs/storage-format.md
//! "Encrypting an existing repository").

use dirvault_store::{CopyProgress, CopyReport, OpenOptions, Repository, Secret, VerifyReport};
use serde::Serialize;

use crate::{Error, Result, Vault};

/// What [`Vault::encrypt_into`] did: the copy, and each tenant's verification of it.
#[derive(Debug, Clone, Serialize)]
pub struct EncryptReport {
    /// Where the encrypted copy is.
    pub to: String,
    /// What was copied.
    pub copy: CopyReport,
    /// Each copied tenant's verify of the copy (all clean, or this is an error).
    pub verified: Vec<(String, VerifyReport)>,
}

impl Vault {
    /// Copies this (unencrypted) repository into an encrypted one at `url`, opened or created
    /// with `secret`, then verifies every tenant of the copy. A copy that stopped is taken up
    /// again: snapshots it holds already are passed over.
    ///
    /// # Errors
    /// [`Error::EncryptRefused`] when this repository is encrypted already, `url` is this
    /// repository's own, or the destination is not encrypted with `secret`;
    /// [`Error::CopyNotVerified`] when the copy does not verify; store errors.
    pub async fn encrypt_into(
        &self,
        source_url: &str,
        url: &str,
        secret: Secret,
        progress: &(dyn Fn(CopyProgress<'_>) + Sync),
    ) -> Result<EncryptReport> {
        let refuse = |why: &str| Err(Error::EncryptRefused(why.to_owned()));
        if same_place(source_url, url) {
            return refuse(
                "the copy must go to another place: a repository is never encrypted in place",
            );
        }
        let source = self.repository();
        if source.tenants().await?.is_empty() {
            return refuse("this repository holds no tenant: nothing to copy");
        }
        if let Some(store) = source.object_store()
            && store.is_encrypted().await? == Some(true)
        {
            return refuse("this repository is encrypted already");
        }
        let dest = Repository::open_with(
            url,
            &OpenOptions {
                secret: Some(secret),
                require_encryption: true,
            },
        )?;
        if let Some(store) = dest.object_store() {
            match store.is_encrypted().await? {
                Some(false) => {
                    return refuse(
                        "the destination is an unencrypted repository; give a new place",
                    );
                }
                // New: created encrypted now, before anything is copied.
                None => store.init().await?,
                Some(true) => {}
            }
        }
        let copy = source.copy_into(&dest, progress).await?;
        let mut verified = Vec::new();
        let mut problems = Vec::new();
        for tenant in dest.tenants().await? {
            let report = dest.verify(&tenant).await?;
            problems.extend(report.problems.iter().map(|p| format!("{tenant}: {p}")));
            verified.push((tenant.to_string(), report));
        }
        if !problems.is_empty() {
            return Err(Error::CopyNotVerified {
                url: url.to_owned(),
                problems: problems.join("; "),
            });
        }
        Ok(EncryptReport {
            to: url.to_owned(),
            copy,
            verified,
        })
    }
}

/// Whether two repository URLs name the same place (a trailing `/`, `file://` and `./` aside).
fn same_place(a: &str, b: &str) -> bool {
    let norm = |u: &str| {
        let u = u.strip_prefix("file://").unwrap_or(u);
        let path = std::path::Path::new(u);
        std::fs::canonicalize(path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| u.trim_end_matches('/').trim_start_matches("./").to_owned())
    };
    a != "memory://" && norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::same_place;

    #[test]
    fn the_same_place_is_recognised_however_written() {
        assert!(same_place("s3://bucket/repo", "s3://bucket/repo/"));
        assert!(same_place("/tmp", "file:///tmp"));
        assert!(!same_place(
            "s3://bucket/repo",
            "s3://bucket/repo-encrypted"
        ));
        assert!(
            !same_place("memory://", "memory://"),
            "two memory repositories are two"
        );
    }
}
