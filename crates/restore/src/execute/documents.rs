//! Plans and their journals as documents of the target tenant in the repository: a plan as
//! made, and the outcome of every finished step, so that a re-run resumes.

use super::*;

/// Steps run between two journal writes.
pub(super) const JOURNAL_EVERY: usize = 400;

/// Where a plan and its journal live in the repository (documents of the target tenant).
pub fn plan_document(plan_id: &str) -> String {
    format!("restore/{plan_id}/plan.json")
}

/// Where a plan is recorded when it is made ([`propose`]), before it is applied.
pub fn proposed_document(plan_id: &str) -> String {
    format!("restore/{plan_id}/proposed.json")
}

/// Records a plan in the repository, under its target tenant, as it was made: [`apply`]
/// then refuses a plan of that id whose content differs (edited after review, even with its
/// digest recomputed). The CLI and the daemon record every plan they make.
///
/// # Errors
/// [`Error::Store`] when the repository cannot be written.
pub async fn propose(repo: &Repository, plan: &RestorePlan) -> Result<()> {
    let bytes = serde_json::to_vec(plan).map_err(|e| Error::Options(e.to_string()))?;
    repo.put_document(
        &plan.target,
        &proposed_document(&plan.id),
        Bytes::from(bytes),
    )
    .await?;
    Ok(())
}

pub(super) fn journal_folder(plan_id: &str) -> String {
    format!("restore/{plan_id}/journal")
}

/// The journal of a plan: the outcome of every step that ran, latest first wins.
///
/// # Errors
/// Store errors; a corrupt journal segment.
pub async fn journal(
    repo: &Repository,
    tenant: &TenantId,
    plan_id: &str,
) -> Result<BTreeMap<u32, Outcome>> {
    let mut outcomes = BTreeMap::new();
    let store = &repo;
    for name in store
        .list_documents(tenant, &journal_folder(plan_id))
        .await?
    {
        let Some(bytes) = store.get_document(tenant, &name).await? else {
            continue;
        };
        let entries: Vec<StepReport> =
            serde_json::from_slice(&bytes).map_err(|e| Error::Journal {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        for entry in entries {
            outcomes.insert(entry.step, entry.outcome);
        }
    }
    Ok(outcomes)
}
