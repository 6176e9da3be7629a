//! Memberships and ownerships: links re-added (batched binds for group members) and, with
//! rollback, removed.

use super::*;

impl Planner<'_> {
    /// Whether a link exists now (both ends known in the target).
    pub(super) fn link_exists(&self, kind: RelationshipKind, source: &str, target: &str) -> bool {
        self.current
            .links
            .contains(&(kind, source.to_owned(), target.to_owned()))
    }

    pub(super) fn memberships(&mut self) {
        // Group → members to bind, each with the step it waits for.
        let mut binds: BTreeMap<(String, ObjectId), Vec<Bind>> = BTreeMap::new();
        let relationships: Vec<&Relationship> = self
            .backup
            .relationships
            .iter()
            .filter(|r| is_membership(r.kind))
            .collect();
        // Only a rollback compares what exists with what is wanted.
        let rollback = self.options.rollback_relationships;
        let mut wanted = BTreeSet::new();
        let backup = self.backup;
        for r in relationships {
            let (Some(source), Some(target)) = (self.target(&r.source), self.target(&r.target))
            else {
                let (about, other) = if self.selected.contains(&r.source) {
                    (&r.source, &r.target)
                } else {
                    (&r.target, &r.source)
                };
                if let Some(o) = self.backup.object(about) {
                    self.unreachable(object_ref(o), r.kind, other);
                }
                continue;
            };
            if rollback {
                wanted.insert((r.kind, source.0.clone(), target.0.clone()));
            }
            if self.link_exists(r.kind, &source.0, &target.0) {
                continue;
            }
            let Some(source_object) = backup.object(&r.source) else {
                continue;
            };
            let deps: Vec<u32> = source.1.into_iter().chain(target.1).collect();
            if r.kind == RelationshipKind::GroupMember
                && source_object
                    .get("groupTypes")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.iter().any(|t| t == "DynamicMembership"))
            {
                continue; // Its rule computes its members.
            }
            match r.kind {
                RelationshipKind::GroupMember => {
                    binds
                        .entry((source.0.clone(), r.source.clone()))
                        .or_default()
                        .push((format!("{GRAPH_ROOT}/directoryObjects/{}", target.0), deps));
                }
                RelationshipKind::UserManager => {
                    let manager = self.backup.object(&r.target).map(object_ref);
                    self.push(
                        Phase::Relationships,
                        Action::SetManager,
                        object_ref(source_object),
                        Call {
                            method: "PUT".into(),
                            url: format!("/users/{}/manager/$ref", source.0),
                            body: Some(
                                json!({"@odata.id": format!("{GRAPH_ROOT}/users/{}", target.0)}),
                            ),
                        },
                        format!(
                            "manager as of the snapshot: {}",
                            manager
                                .map(|m| m.to_string())
                                .unwrap_or_else(|| r.target.to_string())
                        ),
                        deps,
                        None,
                    );
                }
                kind => {
                    let Some(path) = link_path(kind) else {
                        continue;
                    };
                    let other = self.backup.object(&r.target).map(object_ref);
                    self.push(
                        Phase::Relationships,
                        Action::AddLink,
                        object_ref(source_object),
                        Call {
                            method: "POST".into(),
                            url: format!("{}/$ref", path.replace("{id}", &source.0)),
                            body: Some(json!({"@odata.id": format!("{GRAPH_ROOT}/directoryObjects/{}", target.0)})),
                        },
                        format!(
                            "{kind:?} as of the snapshot: {}",
                            other.map(|m| m.to_string()).unwrap_or_else(|| r.target.to_string())
                        ),
                        deps,
                        None,
                    );
                }
            }
        }
        for ((group, source), members) in binds {
            let Some(g) = self.backup.object(&source).map(object_ref) else {
                continue;
            };
            for chunk in members.chunks(MAX_BIND) {
                let deps = chunk.iter().flat_map(|(_, d)| d.iter().copied()).collect();
                let refs: Vec<&String> = chunk.iter().map(|(r, _)| r).collect();
                self.push(
                    Phase::Relationships,
                    Action::AddMembers,
                    g.clone(),
                    Call {
                        method: "PATCH".into(),
                        url: format!("/groups/{group}"),
                        body: Some(json!({"members@odata.bind": refs})),
                    },
                    format!("{} member(s) as of the snapshot", chunk.len()),
                    deps,
                    None,
                );
            }
        }
        if rollback {
            self.rollback_links(&wanted);
        }
    }

    /// Rollback: links of the selected objects that exist now but not in the snapshot.
    pub(super) fn rollback_links(&mut self, wanted: &BTreeSet<(RelationshipKind, String, String)>) {
        let selected: BTreeMap<String, ObjectRef> = self
            .backup
            .selected
            .iter()
            .filter_map(|id| {
                let target = self.current.target_id(id)?;
                Some((target.to_string(), object_ref(self.backup.object(id)?)))
            })
            .collect();
        let extra: Vec<(RelationshipKind, String, String)> = self
            .current
            .links
            .iter()
            .filter(|(kind, s, t)| {
                (selected.contains_key(s) || selected.contains_key(t))
                    && *kind != RelationshipKind::DirectoryRoleMember
                    && !wanted.contains(&(*kind, s.clone(), t.clone()))
            })
            .cloned()
            .collect();
        for (kind, source, target) in extra {
            let about = selected
                .get(&source)
                .or_else(|| selected.get(&target))
                .cloned();
            let Some(about) = about else { continue };
            let (url, method) = match kind {
                RelationshipKind::UserManager => {
                    (format!("/users/{source}/manager/$ref"), "DELETE")
                }
                k => match link_path(k) {
                    Some(p) => (
                        format!("{}/{target}/$ref", p.replace("{id}", &source)),
                        "DELETE",
                    ),
                    None => continue,
                },
            };
            self.push(
                Phase::Relationships,
                Action::RemoveLink,
                about,
                Call {
                    method: method.into(),
                    url,
                    body: None,
                },
                format!("{kind:?} {source} → {target} is not in the snapshot (rollback)"),
                Vec::new(),
                None,
            );
        }
    }
}
