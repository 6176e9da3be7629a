//! The restore plan: data a human reviews and the executor runs (serde JSON, versioned).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use dirvault_model::{ObjectId, ObjectKind, SnapshotId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::RestoreOptions;

/// The plan format this version writes and reads.
pub const PLAN_FORMAT: &str = "dirvault.restore-plan/1";

/// Stands for the operator's default password in request bodies; the executor substitutes
/// it when sending and nothing else ever sees it.
pub const DEFAULT_PASSWORD: &str = "{{defaultPassword}}";

/// Stands for the Graph root (`https://graph.microsoft.com/v1.0`) in `@odata.id` and
/// `@odata.bind` references.
pub const GRAPH_ROOT: &str = "{{graph}}";

/// The placeholder for the id an earlier step gives the object `source` (re-created objects).
pub fn new_id(source: &ObjectId) -> String {
    format!("{{{{new:{source}}}}}")
}

/// The placeholder for the appId of the application `source` re-created by an earlier step.
pub fn new_app_id(source: &ObjectId) -> String {
    format!("{{{{appId:{source}}}}}")
}

/// Hashes what is written to it, but for its last `keep` bytes, held in `tail`.
struct HashingAllButLast {
    hasher: sha2::Sha256,
    tail: Vec<u8>,
    keep: usize,
}

impl HashingAllButLast {
    fn new(keep: usize) -> Self {
        use sha2::Digest;
        HashingAllButLast {
            hasher: sha2::Sha256::new(),
            tail: Vec::with_capacity(keep + 8192),
            keep,
        }
    }
}

impl HashingAllButLast {
    /// Hashes all but the last `keep` bytes written; whether those are `end`.
    fn ends_with(&mut self, end: &str) -> bool {
        use sha2::Digest;
        let Some(done) = self.tail.len().checked_sub(self.keep) else {
            return false;
        };
        self.hasher.update(&self.tail[..done]);
        self.tail.drain(..done);
        self.tail == end.as_bytes()
    }
}

impl std::io::Write for HashingAllButLast {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > self.keep + 8192 {
            let done = self.tail.len() - self.keep;
            self.hasher.update(&self.tail[..done]);
            self.tail.drain(..done);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A restore plan: ordered steps, the id map, and what cannot be restored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlan {
    /// [`PLAN_FORMAT`].
    pub format: String,
    /// Names the plan's journal in the repository.
    pub id: String,
    /// When it was planned.
    pub created: DateTime<Utc>,
    /// Where the data comes from.
    pub source: SourceRef,
    /// The tenant written to.
    pub target: TenantId,
    /// Whether the target is another tenant than the source.
    pub cross_tenant: bool,
    /// The options it was planned with.
    pub options: RestoreOptions,
    /// What each referenced object of the snapshot is in the target.
    pub id_map: BTreeMap<ObjectId, Mapping>,
    /// The steps, in execution order; a step runs after those it depends on.
    pub steps: Vec<Step>,
    /// Objects left as they are, and why (already present, excluded by an option).
    pub skipped: Vec<Skip>,
    /// What cannot be restored, and why.
    pub warnings: Vec<Warning>,
    /// Users who will need a password reset or must re-register authentication methods.
    pub password_resets: Vec<ObjectRef>,
    /// Whether a step sets the operator's default password (re-created users).
    pub needs_default_password: bool,
    /// SHA-256 (hex) of everything above, as the planner made it ([`RestorePlan::content_digest`]):
    /// `apply` refuses a plan whose content no longer matches it, or matches it but differs
    /// from the plan recorded in the repository under the same id ([`crate::propose`]).
    #[serde(default)]
    pub digest: String,
}

impl RestorePlan {
    /// The SHA-256 (hex) of the plan's content, its `digest` field aside.
    ///
    /// That is the hash of the plan's JSON with `"digest":""`. `digest` is the last field, so
    /// the plan is serialized as it is straight into the hash, all but its last bytes (the
    /// digest it holds), then `"digest":""}`: no copy of a plan of a million steps.
    pub fn content_digest(&self) -> String {
        use sha2::Digest;
        // Serializing a plan cannot fail: its maps have string keys.
        let field = |digest: &str| {
            format!(
                "\"digest\":{}}}",
                serde_json::to_string(digest).unwrap_or_default()
            )
        };
        let (held, unsealed) = (field(&self.digest), field(""));
        let mut hashing = HashingAllButLast::new(held.len());
        let streamed =
            serde_json::to_writer(&mut hashing, self).is_ok() && hashing.ends_with(&held);
        debug_assert!(streamed, "a plan's JSON ends with its digest");
        if !streamed {
            // Not reached while `digest` is the last field; the plain way stays right.
            let mut content = self.clone();
            content.digest = String::new();
            let bytes = serde_json::to_vec(&content).unwrap_or_default();
            return hex::encode(sha2::Sha256::digest(&bytes));
        }
        hashing.hasher.update(unsealed.as_bytes());
        hex::encode(hashing.hasher.finalize())
    }

    /// The plan with its digest set.
    #[must_use]
    pub fn sealed(mut self) -> Self {
        self.digest = self.content_digest();
        self
    }

    /// Why this plan must not be applied as it is, if it must not: its content does not
    /// match its digest, its `crossTenant` does not match its tenants, or the default
    /// password's placeholder stands anywhere but in a password field.
    pub fn tampering(&self) -> Option<String> {
        if self.digest.is_empty() {
            return Some("it has no digest: plan again".into());
        }
        if self.digest != self.content_digest() {
            return Some(
                "its content does not match its digest: it was changed after planning; plan again"
                    .into(),
            );
        }
        if self.cross_tenant != (self.source.tenant != self.target) {
            return Some(format!(
                "crossTenant is {} but it restores tenant {} into tenant {}",
                self.cross_tenant, self.source.tenant, self.target
            ));
        }
        for step in &self.steps {
            if self.call_leaks_password(&step.call) {
                return Some(format!(
                    "step {} puts the default password's placeholder outside a password field",
                    step.id
                ));
            }
        }
        None
    }

    fn call_leaks_password(&self, call: &Call) -> bool {
        fn leaks(value: &serde_json::Value, field: Option<&str>) -> bool {
            match value {
                serde_json::Value::String(s) => {
                    s.contains(DEFAULT_PASSWORD) && field != Some("password")
                }
                serde_json::Value::Array(items) => items.iter().any(|v| leaks(v, field)),
                serde_json::Value::Object(map) => map.iter().any(|(k, v)| leaks(v, Some(k))),
                _ => false,
            }
        }
        call.url.contains(DEFAULT_PASSWORD) || call.body.as_ref().is_some_and(|b| leaks(b, None))
    }
}

/// The snapshot a plan restores from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    /// The backed-up tenant.
    pub tenant: TenantId,
    /// The snapshot.
    pub snapshot: SnapshotId,
    /// When the snapshot was taken.
    pub time: DateTime<Utc>,
}

/// One object, named for humans.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// Its kind.
    pub kind: ObjectKind,
    /// Its id in the snapshot.
    pub id: ObjectId,
    /// Its display name or UPN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self
            .kind
            .info()
            .odata_type
            .trim_start_matches("microsoft.graph.");
        match &self.name {
            Some(name) => write!(f, "{kind} {name:?} ({})", self.id),
            None => write!(f, "{kind} {}", self.id),
        }
    }
}

/// What a snapshot object is in the target tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "is")]
pub enum Mapping {
    /// It exists there with this id (found by id, UPN, appId or name).
    Existing {
        /// Its id in the target.
        id: ObjectId,
        /// How it was found.
        matched_by: MatchedBy,
    },
    /// A step restores it from the recycle bin, keeping its id.
    Restored {
        /// The step.
        step: u32,
    },
    /// A step creates it; its new id is known once that step ran.
    Created {
        /// The step.
        step: u32,
    },
}

/// How an object was found in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MatchedBy {
    /// The same object id.
    Id,
    /// A user by `userPrincipalName` (deleted and re-added is the same user).
    UserPrincipalName,
    /// An application or service principal by `appId`.
    AppId,
    /// By display name (cross-tenant groups, units, policies).
    Name,
    /// A tenant's settings object: there is one, at the same path in every tenant.
    Singleton,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// `POST /directory/deletedItems/{id}/restore`: same id, memberships come back.
    RestoreDeleted,
    /// Create the object (a new id).
    Create,
    /// PATCH the writable properties that differ.
    Update,
    /// Add up to 20 group members in one `PATCH … members@odata.bind`.
    AddMembers,
    /// Add one link (`POST …/$ref`).
    AddLink,
    /// Remove one link (`DELETE …/{id}/$ref`), rollback mode only.
    RemoveLink,
    /// `PUT /users/{id}/manager/$ref`.
    SetManager,
    /// Activate a built-in directory role (`POST /directoryRoles`).
    ActivateRole,
    /// Create a role assignment, app role assignment, grant or PIM eligibility.
    Assign,
    /// Delete a role assignment (rollback mode).
    Unassign,
    /// Create an authentication method.
    AddMethod,
    /// Change an authentication method.
    UpdateMethod,
}

/// The phase a step belongs to; phases run in this order (docs/restore.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Administrative units, groups, users, applications, custom roles, named locations.
    Objects,
    /// Service principals (after their applications).
    ServicePrincipals,
    /// Memberships, ownerships, managers.
    Relationships,
    /// Role assignments, PIM, app role assignments, grants.
    Roles,
    /// Conditional Access policies (after the users, groups and locations they name).
    Policies,
    /// Authentication methods.
    AuthenticationMethods,
}

/// One Graph call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// HTTP method.
    pub method: String,
    /// Path under the Graph root; may hold `{{new:ID}}` placeholders.
    pub url: String,
    /// JSON body; may hold placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Its number, from 1.
    pub id: u32,
    /// Its phase.
    pub phase: Phase,
    /// What it does.
    pub action: Action,
    /// The object it is about.
    pub object: ObjectRef,
    /// The Graph call.
    pub call: Call,
    /// Why, for the reviewer.
    pub why: String,
    /// Steps that must have succeeded first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<u32>,
    /// For creations: a GET (collection URL with `$filter`, or object URL) that finds a copy
    /// made by an interrupted earlier run, so a re-run adopts it instead of duplicating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<String>,
}

/// An object left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skip {
    /// The object.
    pub object: ObjectRef,
    /// Why.
    pub reason: String,
}

/// Something the plan cannot restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// What it is about.
    pub object: ObjectRef,
    /// What is not restored and why; what to do.
    pub message: String,
}

/// Counts of a plan, for a summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    /// Objects restored from the recycle bin.
    pub restored: usize,
    /// Objects created.
    pub created: usize,
    /// Objects whose properties are overwritten.
    pub updated: usize,
    /// Relationship steps (links, assignments, methods).
    pub relationships: usize,
    /// Removals (rollback).
    pub removals: usize,
    /// Objects skipped.
    pub skipped: usize,
    /// Warnings.
    pub warnings: usize,
}

impl RestorePlan {
    /// Counts by action.
    pub fn summary(&self) -> PlanSummary {
        let mut s = PlanSummary {
            skipped: self.skipped.len(),
            warnings: self.warnings.len(),
            ..PlanSummary::default()
        };
        for step in &self.steps {
            match step.action {
                Action::RestoreDeleted => s.restored += 1,
                Action::Create => s.created += 1,
                Action::Update => s.updated += 1,
                Action::RemoveLink | Action::Unassign => s.removals += 1,
                _ => s.relationships += 1,
            }
        }
        s
    }

    /// The step with this number.
    pub fn step(&self, id: u32) -> Option<&Step> {
        self.steps.get((id as usize).checked_sub(1)?)
    }
}

impl fmt::Display for RestorePlan {
    /// The plan for a human: what will be created, restored, changed, skipped and why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.summary();
        writeln!(
            f,
            "Restore plan {} — snapshot {} of tenant {} ({}) into {}{}",
            self.id,
            self.source.snapshot,
            self.source.tenant,
            self.source.time.format("%Y-%m-%d %H:%M UTC"),
            self.target,
            if self.cross_tenant {
                " (another tenant)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "{} restored from the recycle bin, {} created, {} updated, {} relationship steps, {} removals, {} skipped, {} warnings",
            s.restored, s.created, s.updated, s.relationships, s.removals, s.skipped, s.warnings
        )?;
        let mut phase = None;
        for step in &self.steps {
            if phase != Some(step.phase) {
                phase = Some(step.phase);
                writeln!(f, "\n{:?}:", step.phase)?;
            }
            let deps = if step.depends_on.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = step.depends_on.iter().map(u32::to_string).collect();
                format!(" [after {}]", list.join(", "))
            };
            writeln!(
                f,
                "  {:>4}. {:?} {}: {}{}",
                step.id, step.action, step.object, step.why, deps
            )?;
            writeln!(f, "        {} {}", step.call.method, step.call.url)?;
        }
        if !self.skipped.is_empty() {
            writeln!(f, "\nSkipped:")?;
            for skip in &self.skipped {
                writeln!(f, "  - {}: {}", skip.object, skip.reason)?;
            }
        }
        if !self.warnings.is_empty() {
            writeln!(f, "\nNot restored:")?;
            // The same message for many objects is said once, with the objects.
            let mut order: Vec<&str> = Vec::new();
            let mut by_message: BTreeMap<&str, Vec<&ObjectRef>> = BTreeMap::new();
            for w in &self.warnings {
                let objects = by_message.entry(w.message.as_str()).or_default();
                if objects.is_empty() {
                    order.push(&w.message);
                }
                objects.push(&w.object);
            }
            for message in order {
                let objects = &by_message[message];
                if let [one] = objects.as_slice() {
                    writeln!(f, "  - {one}: {message}")?;
                    continue;
                }
                let shown: Vec<String> = objects.iter().take(5).map(|o| o.to_string()).collect();
                let more = objects.len().saturating_sub(5);
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                writeln!(
                    f,
                    "  - {} objects: {message}: {}{more}",
                    objects.len(),
                    shown.join(", ")
                )?;
            }
        }
        if !self.password_resets.is_empty() {
            writeln!(
                f,
                "\nPasswords and MFA secrets are never in a backup. These users need a password reset or must re-register:"
            )?;
            for user in &self.password_resets {
                writeln!(f, "  - {user}")?;
            }
        }
        if self.needs_default_password {
            writeln!(
                f,
                "\nRe-created users get the default password (from --default-password-env or --default-password-file) and must change it at next sign-in."
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use proptest::prelude::*;

    /// A real plan (every option), as the planner's pinned test writes it.
    fn pinned() -> &'static str {
        let snap = include_str!("../tests/snapshots/plans__every_option.snap");
        snap.find("\n{").map_or(snap, |i| &snap[i + 1..])
    }

    #[test]
    fn the_pinned_plan_reads() {
        let plan: RestorePlan = serde_json::from_str(pinned()).unwrap();
        assert!(!plan.steps.is_empty());
        assert_eq!(plan.tampering(), None);
    }

    proptest! {
        // A plan file changed anyhow reads or is refused, and what reads is checked and shown
        // without a panic (a changed plan is refused by its digest).
        #[test]
        fn mutated_plans_are_read_checked_and_shown_or_refused(
            flips in proptest::collection::vec((any::<u32>(), any::<u8>()), 1..6),
        ) {
            let mut bytes = pinned().as_bytes().to_vec();
            for (at, byte) in flips {
                let i = usize::try_from(at).unwrap_or(0) % bytes.len();
                bytes[i] ^= byte;
            }
            if let Ok(plan) = serde_json::from_slice::<RestorePlan>(&bytes) {
                let _ = plan.tampering();
                let _ = plan.to_string();
            }
        }
    }
}
