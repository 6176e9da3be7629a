//! Alerts on risky changes between snapshots: a privileged role assigned, Conditional Access
//! switched off, a credential added to an app, and so on (see [`Rule`]). The rules are pure
//! functions over the change ([`evaluate`]); [`evidence`] reads what they need from the
//! repository: the versions of the changed objects of the kinds the rules watch, before and
//! after, and nothing else. docs/alerts.md lists the rules.
//!
//! A kind that either snapshot did not read completely (failed or skipped) is left out: its
//! objects were carried over or partly read, so its differences are not changes, and a failed
//! kind never raises "deleted" alerts.

mod rules;
mod window;
pub(crate) use window::{alert_window, complete};
pub mod webhook;

use std::collections::{BTreeSet, HashMap};

use dirvault_model::{ObjectId, ObjectKind};
use dirvault_store::{KindStatus, ManifestEntry, Repository, Snapshot};

pub use rules::{Alert, AlertSettings, ChangeEvidence, ObjectChange, Rule, evaluate};

use crate::Result;

/// What the enabled rules of `settings` need to know of the change of `kinds` from `from`
/// to `to`. Kinds either snapshot did not read completely are left out.
///
/// # Errors
/// Store errors reading manifests and object versions.
pub async fn evidence(
    repo: &Repository,
    (from, to): (&Snapshot, &Snapshot),
    kinds: &BTreeSet<ObjectKind>,
    settings: &AlertSettings,
) -> Result<ChangeEvidence> {
    let complete = |s: &Snapshot, kind: &ObjectKind| {
        s.kinds
            .get(kind)
            .is_some_and(|r| r.status == KindStatus::Complete)
    };
    let mut changes = crate::changes(repo, from, to).await?;
    changes.retain(|kind, _| kinds.contains(kind) && complete(from, kind) && complete(to, kind));
    let watched: BTreeSet<ObjectKind> = Rule::ALL
        .into_iter()
        .filter(|r| settings.enabled(*r))
        .flat_map(|r| r.kinds().iter().copied())
        .collect();
    let mut evidence = ChangeEvidence::new(from.id.clone(), to.id.clone());
    for (kind, changed) in &changes {
        if !changed.deleted.is_empty() {
            evidence.deleted.insert(*kind, changed.deleted.len());
        }
        if !watched.contains(kind) {
            continue;
        }
        let (old, new) = (
            entries(repo, from, *kind).await?,
            entries(repo, to, *kind).await?,
        );
        for object in changed
            .created
            .iter()
            .chain(&changed.modified)
            .chain(&changed.deleted)
        {
            evidence.objects.push(ObjectChange {
                kind: *kind,
                id: object.id.clone(),
                name: object.name.clone(),
                before: version(repo, from, *kind, old.get(&object.id)).await?,
                after: version(repo, to, *kind, new.get(&object.id)).await?,
            });
        }
    }
    // The permission an app role assignment grants is named by its resource's app roles.
    let resources: BTreeSet<String> = evidence
        .objects
        .iter()
        .filter(|o| o.kind == ObjectKind::AppRoleAssignments)
        .filter_map(|o| {
            o.after
                .as_ref()?
                .get("resourceId")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    if !resources.is_empty() {
        let principals = entries(repo, to, ObjectKind::ServicePrincipals).await?;
        for resource in resources {
            let Some(sp) = version(
                repo,
                to,
                ObjectKind::ServicePrincipals,
                principals.get(resource.as_str()),
            )
            .await?
            else {
                continue;
            };
            for role in sp
                .get("appRoles")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten()
            {
                if let (Some(id), Some(value)) = (
                    role.get("id").and_then(|v| v.as_str()),
                    role.get("value").and_then(|v| v.as_str()),
                ) {
                    evidence
                        .app_roles
                        .insert((resource.clone(), id.to_owned()), value.to_owned());
                }
            }
        }
    }
    // The role a PIM policy applies to is named by its assignment, whose id starts with the
    // policy's (policyroot-list-rolemanagementpolicyassignments.md).
    let policies: Vec<String> = evidence
        .objects
        .iter()
        .filter(|o| o.kind == ObjectKind::RoleManagementPolicies)
        .map(|o| o.id.to_string())
        .collect();
    if !policies.is_empty() {
        let assignments = entries(repo, to, ObjectKind::RoleManagementPolicyAssignments).await?;
        for (id, entry) in &assignments {
            if !policies.iter().any(|p| id.as_str().starts_with(p.as_str())) {
                continue;
            }
            let Some(assignment) = version(
                repo,
                to,
                ObjectKind::RoleManagementPolicyAssignments,
                Some(entry),
            )
            .await?
            else {
                continue;
            };
            if let (Some(policy), Some(role)) = (
                assignment.get("policyId").and_then(|v| v.as_str()),
                assignment.get("roleDefinitionId").and_then(|v| v.as_str()),
            ) {
                evidence
                    .pim_roles
                    .insert(policy.to_owned(), role.to_owned());
            }
        }
    }
    Ok(evidence)
}

async fn entries(
    repo: &Repository,
    snapshot: &Snapshot,
    kind: ObjectKind,
) -> Result<HashMap<ObjectId, ManifestEntry>> {
    Ok(repo
        .manifest(snapshot, kind)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect())
}

async fn version(
    repo: &Repository,
    snapshot: &Snapshot,
    kind: ObjectKind,
    entry: Option<&ManifestEntry>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    Ok(match entry {
        Some(e) => Some(repo.version(&snapshot.tenant, kind, e).await?.into_raw()),
        None => None,
    })
}

#[cfg(test)]
mod tests;
