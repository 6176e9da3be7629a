//! Tenant policies: a settings object is rolled back with a `PATCH` of the properties its
//! update page lists, on its own path; a policy of a collection like any object, but with its
//! kind's writable properties only. The authentication methods policy's method
//! configurations are each patched on their own path with their `@odata.type`
//! (authenticationmethodconfiguration-update.md), as are a PIM policy's rules
//! (unifiedrolemanagementpolicyrule-update.md); a custom authentication strength's method
//! combinations change only through `updateAllowedCombinations`
//! (authenticationstrengthpolicy-updateallowedcombinations.md). Microsoft's built-in
//! strengths are read-only.

use dirvault_model::policy_writes::{
    BRANDING_STREAMS, METHOD_CONFIGURATIONS, PIM_RULES, policy_writes,
};

use super::*;

/// Whether a snapshot object is one of Microsoft's read-only built-ins (role definitions,
/// authentication strengths).
pub(crate) fn is_built_in(object: &DirectoryObject) -> bool {
    object.get("isBuiltIn") == Some(&Value::Bool(true))
        || (object.kind() == ObjectKind::AuthenticationStrengthPolicies
            && object.str("policyType") == Some("builtIn"))
}

impl Planner<'_> {
    /// The properties of a policy a create (`creating`) or update may send, as the snapshot
    /// has them; `None` for kinds that are not tenant policies.
    pub(super) fn policy_body(
        &self,
        object: &DirectoryObject,
        creating: bool,
    ) -> Option<Map<String, Value>> {
        let writes = policy_writes(object.kind())?;
        Some(
            object
                .raw()
                .iter()
                .filter(|(name, value)| {
                    if creating {
                        writes.creates(name) && !value.is_null()
                    } else {
                        writes.update.contains(&name.as_str())
                    }
                })
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        )
    }

    /// The steps a policy's own properties do not cover: each method configuration that
    /// differs from the snapshot, and a custom strength's method combinations.
    pub(super) fn policy_parts(
        &mut self,
        object: &DirectoryObject,
        live: &DirectoryObject,
        phase: Phase,
        deps: &[u32],
    ) -> usize {
        let oref = object_ref(object);
        let mut steps = 0;
        match object.kind() {
            ObjectKind::AuthenticationMethodsPolicy => {
                steps += self.nested_parts(
                    object,
                    live,
                    "authenticationMethodConfigurations",
                    METHOD_CONFIGURATIONS.to_owned(),
                    phase,
                    deps,
                );
            }
            ObjectKind::RoleManagementPolicies => {
                steps += self.nested_parts(
                    object,
                    live,
                    "rules",
                    format!("{PIM_RULES}/{}/rules", live.id()),
                    phase,
                    deps,
                );
            }
            ObjectKind::AuthenticationStrengthPolicies => {
                let wanted = object.get("allowedCombinations");
                if wanted.is_some() && wanted != live.get("allowedCombinations") {
                    self.push(
                        phase,
                        Action::Update,
                        oref,
                        Call {
                            method: "POST".into(),
                            url: format!(
                                "{}/{}/updateAllowedCombinations",
                                self.collection(ObjectKind::AuthenticationStrengthPolicies),
                                live.id()
                            ),
                            body: Some(json!({"allowedCombinations": wanted})),
                        },
                        "the method combinations it allows, back to the snapshot's",
                        deps.to_vec(),
                        None,
                    );
                    steps += 1;
                }
            }
            ObjectKind::BrandingLocalizations => {
                steps += self.branding_streams(object, Some(live), phase, deps);
            }
            ObjectKind::PermissionGrantPolicies => {
                steps += self.condition_sets(object, Some(live), phase, deps);
            }
            _ => {}
        }
        steps
    }

    /// One `PUT` of each image or CSS of a branding localization that the target lacks or
    /// has otherwise (organizationalbrandinglocalization-update.md: streams are written alone,
    /// with their media type); one `DELETE` of each the target has and the snapshot had not.
    pub(super) fn branding_streams(
        &mut self,
        object: &DirectoryObject,
        live: Option<&DirectoryObject>,
        phase: Phase,
        deps: &[u32],
    ) -> usize {
        let oref = object_ref(object);
        let base = self.object_url(ObjectKind::BrandingLocalizations, object.id().as_str());
        let mut steps = 0;
        for stream in BRANDING_STREAMS {
            let current = live.and_then(|l| l.get(stream));
            match object.get(stream) {
                Some(wanted @ Value::String(_)) if Some(wanted) != current => {
                    self.part_step(
                        phase,
                        &oref,
                        "PUT",
                        format!("{base}/{stream}"),
                        Some(wanted.clone()),
                        format!("{stream}: back to the snapshot's"),
                        deps,
                    );
                    steps += 1;
                }
                None if current.is_some() => {
                    // Not set in the snapshot: removed (`DELETE …/{stream}`, the call
                    // Microsoft's SDK makes, e.g. msgraph-sdk's BannerLogoRequestBuilder.delete).
                    self.part_step(
                        phase,
                        &oref,
                        "DELETE",
                        format!("{base}/{stream}"),
                        None,
                        format!("{stream}: not set in the snapshot"),
                        deps,
                    );
                    steps += 1;
                }
                _ => {}
            }
        }
        steps
    }
}

impl Planner<'_> {
    /// One step that changes a part of a policy (an item, an image, a condition set, its
    /// method combinations): `method url` with `body`, after `deps`.
    #[allow(clippy::too_many_arguments)] // the parts of one Graph call, named at each call site
    fn part_step(
        &mut self,
        phase: Phase,
        oref: &ObjectRef,
        method: &str,
        url: String,
        body: Option<Value>,
        why: impl Into<String>,
        deps: &[u32],
    ) {
        let call = Call {
            method: method.to_owned(),
            url,
            body,
        };
        self.push(
            phase,
            Action::Update,
            oref.clone(),
            call,
            why,
            deps.to_vec(),
            None,
        );
    }

    /// One `PATCH {url}/{item id}` for each item of `field` (method configurations, PIM rules)
    /// that differs from the snapshot's, with its `@odata.type`; an item the target does not
    /// have is a warning (these items are never created).
    fn nested_parts(
        &mut self,
        object: &DirectoryObject,
        live: &DirectoryObject,
        field: &str,
        url: String,
        phase: Phase,
        deps: &[u32],
    ) -> usize {
        let oref = object_ref(object);
        let items = |o: &DirectoryObject| -> Vec<Value> {
            o.get(field)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let live_items = items(live);
        let mut steps = 0;
        for wanted in items(object) {
            let Some(id) = wanted.get("id").and_then(Value::as_str) else {
                continue;
            };
            let Some(current) = live_items
                .iter()
                .find(|c| c.get("id").and_then(Value::as_str) == Some(id))
            else {
                self.warn(
                    oref.clone(),
                    format!("{id} is not in the target: it is not restored"),
                );
                continue;
            };
            if *current == wanted {
                continue;
            }
            let mut body = wanted.as_object().cloned().unwrap_or_default();
            body.remove("id");
            let changed = changed_names(current, &wanted);
            self.part_step(
                phase,
                &oref,
                "PATCH",
                format!("{url}/{id}"),
                Some(Value::Object(body)),
                format!("{id}: back to the snapshot's {}", changed.join(", ")),
                deps,
            );
            steps += 1;
        }
        steps
    }
}

/// The top-level properties that differ between two JSON objects, by name.
fn changed_names(current: &Value, wanted: &Value) -> Vec<String> {
    let empty = Map::new();
    let current = current.as_object().unwrap_or(&empty);
    let wanted = wanted.as_object().unwrap_or(&empty);
    wanted
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

impl Planner<'_> {
    /// A permission grant policy's condition sets back to the snapshot's: each the snapshot has
    /// and the target lacks is added (`POST …/{id}/includes|excludes`), each the target has and
    /// the snapshot had not is removed (`DELETE …/{set id}`); a set is never updated in place
    /// (permissiongrantpolicy-post-includes.md, -delete-includes.md, and the excludes pages).
    /// Sets are compared by their conditions: their ids are Graph's, new with every create. A
    /// snapshot without the field (taken before dirvault read it) changes nothing.
    pub(super) fn condition_sets(
        &mut self,
        object: &DirectoryObject,
        live: Option<&DirectoryObject>,
        phase: Phase,
        deps: &[u32],
    ) -> usize {
        let oref = object_ref(object);
        let policy = live.map_or(object.id(), |l| l.id());
        let base = self.object_url(ObjectKind::PermissionGrantPolicies, policy.as_str());
        let mut steps = 0;
        for field in ["includes", "excludes"] {
            let Some(wanted) = object.get(field).and_then(Value::as_array) else {
                continue;
            };
            let mut wanted: Vec<Map<String, Value>> =
                wanted.iter().filter_map(conditions).collect();
            let current: Vec<(String, Map<String, Value>)> = live
                .and_then(|l| l.get(field))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| Some((s.get("id")?.as_str()?.to_owned(), conditions(s)?)))
                .collect();
            for (id, set) in current {
                if let Some(i) = wanted.iter().position(|w| *w == set) {
                    wanted.remove(i);
                    continue;
                }
                self.part_step(
                    phase,
                    &oref,
                    "DELETE",
                    format!("{base}/{field}/{}", crate::state::encode(&id)),
                    None,
                    format!("{field}: a condition set the snapshot did not have"),
                    deps,
                );
                steps += 1;
            }
            for set in wanted {
                self.part_step(
                    phase,
                    &oref,
                    "POST",
                    format!("{base}/{field}"),
                    Some(Value::Object(set)),
                    format!("{field}: a condition set of the snapshot's"),
                    deps,
                );
                steps += 1;
            }
        }
        steps
    }
}

/// A condition set's conditions: every property but its id (Graph's).
fn conditions(set: &Value) -> Option<Map<String, Value>> {
    let mut set = set.as_object()?.clone();
    set.remove("id");
    set.retain(|k, _| !k.starts_with('@'));
    Some(set)
}
