//! [`apply`]: runs a plan with bounded concurrency through `$batch`, journals each finished
//! step in the repository, and recognises work an interrupted run already did.

mod documents;
mod sending;
pub use documents::*;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use dirvault_graph::{BatchRequest, BatchResponse, GraphClient};
use dirvault_model::{ObjectId, TenantId};
use dirvault_store::Repository;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::plan::{Action, DEFAULT_PASSWORD, GRAPH_ROOT, Mapping, PLAN_FORMAT, RestorePlan, Step};
use crate::{Error, Result};

/// How to apply a plan.
#[derive(Clone)]
pub struct ApplyOptions {
    /// The password re-created users get (they must change it at next sign-in).
    pub default_password: Option<SecretString>,
    /// `$batch` requests (of up to 20 calls) in flight at once.
    pub batches_in_flight: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            default_password: None,
            batches_in_flight: 4,
        }
    }
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field(
                "default_password",
                &self.default_password.as_ref().map(|_| "[redacted]"),
            )
            .field("batches_in_flight", &self.batches_in_flight)
            .finish()
    }
}

/// What became of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "status",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Outcome {
    /// Graph did it.
    Done {
        /// The id Graph gave a created object.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_id: Option<String>,
        /// The appId Graph gave a created application.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_id: Option<String>,
    },
    /// It was already so (an earlier run, or the recycle-bin restore, did it).
    AlreadyDone {
        /// How that was recognised.
        reason: String,
        /// The id of the object an earlier run created.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_id: Option<String>,
        /// Its appId.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_id: Option<String>,
    },
    /// Graph refused it.
    Failed {
        /// HTTP status.
        http_status: u16,
        /// Graph's error code.
        code: String,
        /// Graph's message.
        message: String,
        /// Graph's request-id, for Microsoft support.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    /// Not attempted.
    Skipped {
        /// Why (a step it depends on did not complete).
        reason: String,
    },
}

impl Outcome {
    /// Done, either now or before.
    pub fn is_complete(&self) -> bool {
        matches!(self, Outcome::Done { .. } | Outcome::AlreadyDone { .. })
    }

    fn ids(&self) -> Option<(Option<&str>, Option<&str>)> {
        match self {
            Outcome::Done { new_id, app_id } | Outcome::AlreadyDone { new_id, app_id, .. } => {
                Some((new_id.as_deref(), app_id.as_deref()))
            }
            _ => None,
        }
    }
}

/// One step's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// The step.
    pub step: u32,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Counts of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportSummary {
    /// Done by this run.
    pub done: usize,
    /// Found already done.
    pub already_done: usize,
    /// Refused by Graph.
    pub failed: usize,
    /// Not attempted.
    pub skipped: usize,
}

/// The result of applying a plan: every step's outcome, and counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// The plan.
    pub plan: String,
    /// The tenant written to.
    pub target: TenantId,
    /// Counts.
    pub summary: ReportSummary,
    /// Every step, in plan order.
    pub steps: Vec<StepReport>,
}

impl RestoreReport {
    fn new(plan: &RestorePlan, outcomes: &BTreeMap<u32, Outcome>) -> Self {
        let mut summary = ReportSummary::default();
        let steps = plan
            .steps
            .iter()
            .map(|s| {
                let outcome = outcomes.get(&s.id).cloned().unwrap_or(Outcome::Skipped {
                    reason: "not run".into(),
                });
                match &outcome {
                    Outcome::Done { .. } => summary.done += 1,
                    Outcome::AlreadyDone { .. } => summary.already_done += 1,
                    Outcome::Failed { .. } => summary.failed += 1,
                    Outcome::Skipped { .. } => summary.skipped += 1,
                }
                StepReport {
                    step: s.id,
                    outcome,
                }
            })
            .collect();
        Self {
            plan: plan.id.clone(),
            target: plan.target.clone(),
            summary,
            steps,
        }
    }

    /// Whether every step completed.
    pub fn is_complete(&self) -> bool {
        self.summary.failed == 0 && self.summary.skipped == 0
    }
}

/// Whether `plan` can be applied with `options` through a client of tenant `target`: the
/// checks [`apply`] makes before it writes anything, for a caller to make before it asks
/// anyone to confirm.
///
/// # Errors
/// [`Error::PlanFormat`], [`Error::PlanRefused`] (edited after it was made),
/// [`Error::WrongTenant`], [`Error::PasswordRequired`].
pub fn ready_to_apply(plan: &RestorePlan, target: &TenantId, options: &ApplyOptions) -> Result<()> {
    if plan.format != PLAN_FORMAT {
        return Err(Error::PlanFormat {
            plan: plan.id.clone(),
            found: plan.format.clone(),
        });
    }
    if let Some(reason) = plan.tampering() {
        return Err(Error::PlanRefused {
            plan: plan.id.clone(),
            reason,
        });
    }
    if target != &plan.target {
        return Err(Error::WrongTenant {
            plan: plan.id.clone(),
            target: plan.target.clone(),
            client: target.clone(),
        });
    }
    if plan.needs_default_password && options.default_password.is_none() {
        return Err(Error::PasswordRequired {
            plan: plan.id.clone(),
        });
    }
    Ok(())
}

/// Applies a plan to the target tenant `client` is for. Steps already complete in the
/// plan's journal are not run again; failed ones are retried. Failed steps do not stop
/// independent steps; their dependents are skipped.
///
/// # Errors
/// [`Error::PlanFormat`], [`Error::WrongTenant`], [`Error::PasswordRequired`] before anything
/// is written; store errors (journal) and Graph errors that stop a whole batch (the journal
/// then holds what finished: run again to resume).
pub async fn apply(
    client: &GraphClient,
    repo: &Repository,
    plan: &RestorePlan,
    options: &ApplyOptions,
) -> Result<RestoreReport> {
    ready_to_apply(plan, client.tenant(), options)?;
    let tenant = &plan.target;
    let store = &repo;
    // The plan recorded under this id (when it was planned, and when it was first applied)
    // must be this one: an edited plan whose digest was recomputed, or another plan reusing
    // an applied plan's id, is refused rather than resumed or skipped.
    let mut resuming = false;
    for (name, applied) in [
        (proposed_document(&plan.id), false),
        (plan_document(&plan.id), true),
    ] {
        let Some(bytes) = store.get_document(tenant, &name).await? else {
            continue;
        };
        let recorded: RestorePlan =
            serde_json::from_slice(&bytes).map_err(|e| Error::PlanRefused {
                plan: plan.id.clone(),
                reason: format!("the repository's copy ({name}) cannot be read: {e}"),
            })?;
        if recorded.digest != plan.digest {
            return Err(Error::PlanRefused {
                plan: plan.id.clone(),
                reason: format!(
                    "the repository holds another plan under this id ({name}): this one was edited, or reuses its id; plan again"
                ),
            });
        }
        // A plan applied before may have done work its journal does not record (a run
        // killed between Graph's answer and the journal write): creations then look for
        // their object before creating it.
        resuming |= applied;
    }
    let plan_json = serde_json::to_vec_pretty(plan).map_err(|e| Error::Options(e.to_string()))?;
    store
        .put_document(tenant, &plan_document(&plan.id), Bytes::from(plan_json))
        .await?;
    let mut outcomes = journal(repo, tenant, &plan.id).await?;
    let mut segment = store
        .list_documents(tenant, &journal_folder(&plan.id))
        .await?
        .len();

    // Levels: a step runs after everything it depends on.
    let mut level: HashMap<u32, usize> = HashMap::new();
    for step in &plan.steps {
        let l = step
            .depends_on
            .iter()
            .filter_map(|d| level.get(d))
            .max()
            .map_or(0, |l| l + 1);
        level.insert(step.id, l);
    }
    let levels = level.values().copied().max().map_or(0, |l| l + 1);
    let runner = Runner {
        client,
        password: options.default_password.as_ref(),
        base: client.base_url(),
        in_flight: options.batches_in_flight.max(1),
    };
    // The ids created so far (snapshot id → new id, new appId), kept up to date as steps
    // finish rather than rebuilt from every outcome for each chunk (100k creates are 1,000s of
    // chunks).
    let creates: HashMap<u32, &ObjectId> = plan
        .id_map
        .iter()
        .filter_map(|(source, mapping)| match mapping {
            Mapping::Created { step } => Some((*step, source)),
            _ => None,
        })
        .collect();
    let mut ids = CreatedIds::new();
    for (step, outcome) in &outcomes {
        note_created(&mut ids, &creates, *step, outcome);
    }
    for l in 0..levels {
        let todo: Vec<&Step> = plan
            .steps
            .iter()
            .filter(|s| level[&s.id] == l)
            .filter(|s| !outcomes.get(&s.id).is_some_and(Outcome::is_complete))
            .collect();
        for chunk in todo.chunks(JOURNAL_EVERY) {
            let results = runner.run(chunk, &outcomes, &ids, resuming).await?;
            let entries: Vec<StepReport> = results
                .into_iter()
                .map(|(step, outcome)| StepReport { step, outcome })
                .collect();
            let bytes = serde_json::to_vec(&entries).map_err(|e| Error::Options(e.to_string()))?;
            store
                .put_document(
                    tenant,
                    &format!("{}/{segment:08}.json", journal_folder(&plan.id)),
                    Bytes::from(bytes),
                )
                .await?;
            segment += 1;
            for e in entries {
                note_created(&mut ids, &creates, e.step, &e.outcome);
                outcomes.insert(e.step, e.outcome);
            }
            tracing::info!(plan = %plan.id, level = l, steps = chunk.len(), "restore steps applied");
        }
    }
    Ok(RestoreReport::new(plan, &outcomes))
}

/// Snapshot id → (new id, new appId) of the objects created so far.
type CreatedIds = HashMap<String, (Option<String>, Option<String>)>;

/// Notes the id a create step's outcome gave its object.
fn note_created(
    ids: &mut CreatedIds,
    creates: &HashMap<u32, &ObjectId>,
    step: u32,
    outcome: &Outcome,
) {
    if let Some(source) = creates.get(&step)
        && let Some((id, app)) = outcome.ids()
    {
        ids.insert(
            source.to_string(),
            (id.map(str::to_owned), app.map(str::to_owned)),
        );
    }
}

struct Runner<'a> {
    client: &'a GraphClient,
    password: Option<&'a SecretString>,
    base: String,
    in_flight: usize,
}

/// A step ready to send: its resolved call.
struct Ready<'a> {
    step: &'a Step,
    method: String,
    url: String,
    body: Option<Value>,
    lookup: Option<String>,
}

/// Whether Graph's answer says the thing exists already (docs/graph.md §7: `ObjectConflict`,
/// "One or more added object references already exist", PIM's `RoleAssignmentExists`).
fn is_conflict(answer: &BatchResponse) -> bool {
    let error = &answer.body["error"];
    let code = error["code"].as_str().unwrap_or_default();
    let message = error["message"].as_str().unwrap_or_default();
    let detail = |c: &str| {
        error["details"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x["code"] == c))
    };
    answer.status == 409
        || (answer.status == 400
            && (message.contains("already exist")
                || detail("ObjectConflict")
                || detail("RoleAssignmentExists")
                || code == "ObjectConflict"))
}

fn failed(answer: &BatchResponse) -> Outcome {
    let error = &answer.body["error"];
    let request_id = answer
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("request-id"))
        .and_then(|(_, v)| v.as_str())
        .or_else(|| error["innerError"]["request-id"].as_str())
        .map(str::to_owned);
    Outcome::Failed {
        http_status: answer.status,
        code: error["code"].as_str().unwrap_or("unknown").to_owned(),
        message: error["message"]
            .as_str()
            .unwrap_or("(no message)")
            .to_owned(),
        request_id,
    }
}

/// The id and appId of the single object a lookup found.
fn found(answer: &BatchResponse) -> Option<(Option<String>, Option<String>)> {
    if answer.status != 200 {
        return None;
    }
    let item = match answer.body.get("value") {
        Some(Value::Array(items)) if items.len() == 1 => &items[0],
        Some(_) => return None,
        None => &answer.body,
    };
    let s = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
    Some((s("id"), s("appId")))
}

impl Runner<'_> {
    /// Replaces placeholders in a string; `None` when one cannot be resolved yet.
    fn resolve(&self, text: &str, ids: &CreatedIds, secret: bool) -> Option<String> {
        let mut out = text.replace(GRAPH_ROOT, &self.base);
        // Only the plan's own placeholders are replaced; other braces are data.
        let mut from = 0;
        while let Some(found) = ["{{new:", "{{appId:"]
            .iter()
            .filter_map(|p| out[from..].find(p).map(|i| (from + i, *p)))
            .min()
        {
            let (start, prefix) = found;
            let end = start + out[start..].find("}}")?;
            let source = &out[start + prefix.len()..end];
            let (id, app_id) = ids.get(source)?;
            let value = if prefix == "{{new:" { id } else { app_id }.clone()?;
            out.replace_range(start..end + 2, &value);
            from = start + value.len();
        }
        // Last, so that a password is never scanned for placeholders.
        if secret && out.contains(DEFAULT_PASSWORD) {
            out = out.replace(DEFAULT_PASSWORD, self.password?.expose_secret());
        }
        Some(out)
    }

    fn resolve_value(&self, value: &Value, ids: &CreatedIds, field: Option<&str>) -> Option<Value> {
        Some(match value {
            // The default password goes into password fields only (`passwordProfile.password`):
            // a placeholder anywhere else is left as it is (and `apply` refuses such a plan).
            Value::String(s) => Value::String(self.resolve(s, ids, field == Some("password"))?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.resolve_value(v, ids, field))
                    .collect::<Option<_>>()?,
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.resolve_value(v, ids, Some(k))?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    async fn run(
        &self,
        steps: &[&Step],
        outcomes: &BTreeMap<u32, Outcome>,
        ids: &CreatedIds,
        resuming: bool,
    ) -> Result<Vec<(u32, Outcome)>> {
        let mut results: Vec<(u32, Outcome)> = Vec::new();
        let mut ready = Vec::new();
        for step in steps {
            if let Some(dep) = step
                .depends_on
                .iter()
                .find(|d| !outcomes.get(d).is_some_and(Outcome::is_complete))
            {
                results.push((
                    step.id,
                    Outcome::Skipped {
                        reason: format!("step {dep}, which it depends on, did not complete"),
                    },
                ));
                continue;
            }
            let url = self.resolve(&step.call.url, ids, false);
            let body = match &step.call.body {
                Some(b) => self.resolve_value(b, ids, None).map(Some),
                None => Some(None),
            };
            let lookup = step
                .lookup
                .as_deref()
                .and_then(|l| self.resolve(l, ids, false));
            match (url, body) {
                (Some(url), Some(body)) => ready.push(Ready {
                    step,
                    method: step.call.method.clone(),
                    url,
                    body,
                    lookup,
                }),
                _ => results.push((
                    step.id,
                    Outcome::Skipped {
                        reason: "a reference it needs is not known (its creating step has no id)"
                            .into(),
                    },
                )),
            }
        }

        // A re-run adopts objects an interrupted run created but did not journal.
        if resuming {
            let probes: Vec<(usize, BatchRequest)> = ready
                .iter()
                .enumerate()
                .filter(|(_, r)| r.step.action == Action::Create)
                .filter_map(|(i, r)| Some((i, BatchRequest::get(i.to_string(), r.lookup.clone()?))))
                .collect();
            let answers = self
                .send(probes.iter().map(|(_, r)| r.clone()).collect())
                .await?;
            let mut adopted = Vec::new();
            for ((i, _), answer) in probes.iter().zip(answers) {
                if let Some((Some(id), app)) = found(&answer) {
                    results.push((
                        ready[*i].step.id,
                        Outcome::AlreadyDone {
                            reason: "an earlier run created it".into(),
                            new_id: Some(id),
                            app_id: app,
                        },
                    ));
                    adopted.push(*i);
                }
            }
            let mut index = 0;
            ready.retain(|_| {
                index += 1;
                !adopted.contains(&(index - 1))
            });
        }

        let requests: Vec<BatchRequest> = ready
            .iter()
            .enumerate()
            .map(|(i, r)| BatchRequest {
                id: i.to_string(),
                method: r.method.clone(),
                url: r.url.clone(),
                headers: match r.body {
                    Some(_) => [("Content-Type".to_owned(), json!("application/json"))]
                        .into_iter()
                        .collect(),
                    None => Map::new(),
                },
                body: r.body.clone(),
            })
            .collect();
        let answers = self.send(requests).await?;
        let mut follow_up = Vec::new();
        for (r, answer) in ready.iter().zip(answers) {
            let outcome = if (200..300).contains(&answer.status) {
                let s = |k: &str| {
                    answer
                        .body
                        .get(k)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                match r.step.action {
                    Action::Create | Action::ActivateRole => Outcome::Done {
                        new_id: s("id"),
                        app_id: s("appId"),
                    },
                    _ => Outcome::Done {
                        new_id: None,
                        app_id: None,
                    },
                }
            } else {
                match (r.step.action, answer.status) {
                    (Action::Create | Action::ActivateRole, _)
                        if is_conflict(&answer) && r.lookup.is_some() =>
                    {
                        follow_up.push((r, answer));
                        continue;
                    }
                    (Action::AddMembers, 400) if is_conflict(&answer) => {
                        follow_up.push((r, answer));
                        continue;
                    }
                    (Action::RestoreDeleted, 404) if r.lookup.is_some() => {
                        follow_up.push((r, answer));
                        continue;
                    }
                    (Action::RemoveLink | Action::Unassign, 404) => Outcome::AlreadyDone {
                        reason: "not there any more".into(),
                        new_id: None,
                        app_id: None,
                    },
                    (
                        Action::AddLink | Action::Assign | Action::AddMethod | Action::SetManager,
                        _,
                    ) if is_conflict(&answer) => Outcome::AlreadyDone {
                        reason: "Graph says it exists already".into(),
                        new_id: None,
                        app_id: None,
                    },
                    _ => failed(&answer),
                }
            };
            results.push((r.step.id, outcome));
        }
        results.extend(self.follow_up(follow_up).await?);
        results.sort_by_key(|(id, _)| *id);
        Ok(results)
    }

    /// Second looks: a conflicting create adopts the existing copy; a restore whose object
    /// is back already is done; an all-or-nothing member bind that met an existing member
    /// adds its members one by one.
    async fn follow_up(
        &self,
        items: Vec<(&Ready<'_>, BatchResponse)>,
    ) -> Result<Vec<(u32, Outcome)>> {
        let mut out = Vec::new();
        let mut lookups = Vec::new();
        let mut singles = Vec::new();
        for (r, answer) in items {
            if r.step.action == Action::AddMembers {
                let members = r
                    .body
                    .as_ref()
                    .and_then(|b| b["members@odata.bind"].as_array())
                    .cloned()
                    .unwrap_or_default();
                for (i, m) in members.into_iter().enumerate() {
                    singles.push((
                        r,
                        BatchRequest {
                            id: format!("{}-{i}", r.step.id),
                            method: "POST".into(),
                            url: format!("{}/members/$ref", r.url),
                            headers: [("Content-Type".to_owned(), json!("application/json"))]
                                .into_iter()
                                .collect(),
                            body: Some(json!({"@odata.id": m})),
                        },
                    ));
                }
            } else if let Some(lookup) = &r.lookup {
                lookups.push((
                    r,
                    answer,
                    BatchRequest::get(r.step.id.to_string(), lookup.clone()),
                ));
            }
        }
        let answers = self
            .send(lookups.iter().map(|(_, _, q)| q.clone()).collect())
            .await?;
        for ((r, original, _), answer) in lookups.into_iter().zip(answers) {
            let outcome = match found(&answer) {
                Some((id, app)) if r.step.action != Action::RestoreDeleted => {
                    Outcome::AlreadyDone {
                        reason: "exists already (found by its unique name)".into(),
                        new_id: id,
                        app_id: app,
                    }
                }
                Some(_) => Outcome::AlreadyDone {
                    reason: "restored already".into(),
                    new_id: None,
                    app_id: None,
                },
                None => failed(&original),
            };
            out.push((r.step.id, outcome));
        }
        let answers = self
            .send(singles.iter().map(|(_, q)| q.clone()).collect())
            .await?;
        let mut per_step: BTreeMap<u32, Outcome> = BTreeMap::new();
        for ((r, _), answer) in singles.iter().zip(answers) {
            let entry = per_step.entry(r.step.id).or_insert(Outcome::AlreadyDone {
                reason: "some members were present already; the rest were added one by one".into(),
                new_id: None,
                app_id: None,
            });
            if !(200..300).contains(&answer.status) && !is_conflict(&answer) && entry.is_complete()
            {
                *entry = failed(&answer);
            }
        }
        out.extend(per_step);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_resolved_and_other_braces_are_data() {
        let client = dirvault_graph::GraphClient::builder(
            "5f1c2d3e-0000-4000-8000-00000000000a"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .with_endpoints("http://127.0.0.1:1", "http://127.0.0.1:1")
        .with_credentials(dirvault_graph::Credentials::secret(
            "11111111-2222-4333-8444-555555555555"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            "unused",
        ))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
        let password: SecretString = "p{{new:x}}w".to_owned().into();
        let runner = Runner {
            client: &client,
            password: Some(&password),
            base: "https://g/v1.0".into(),
            in_flight: 1,
        };
        let mut ids = HashMap::new();
        ids.insert(
            "a".to_owned(),
            (Some("NEW-A".to_owned()), Some("APP-A".to_owned())),
        );
        assert_eq!(
            runner
                .resolve(
                    "{{graph}}/groups/{{new:a}}/x {{appId:a}} {{name}} {{",
                    &ids,
                    false
                )
                .as_deref(),
            Some("https://g/v1.0/groups/NEW-A/x APP-A {{name}} {{")
        );
        assert_eq!(
            runner.resolve("{{new:unknown}}", &ids, false),
            None,
            "an unknown id is not guessed"
        );
        assert_eq!(
            runner.resolve("{{defaultPassword}}", &ids, true).as_deref(),
            Some("p{{new:x}}w")
        );
    }
}
