//! Authentication methods Graph can re-create (phone, email) and what it cannot.

use super::*;

impl Planner<'_> {
    pub(super) fn auth_methods(&mut self, user: &DirectoryObject) {
        let oref = object_ref(user);
        let Some(methods) = self.backup.auth_methods.get(user.id()).cloned() else {
            return;
        };
        let Some((target, step)) = self.target(user.id()) else {
            self.warn(
                oref,
                format!(
                    "authentication methods not restored: {}",
                    self.unavailable(user.id())
                ),
            );
            return;
        };
        let current: Vec<Value> = self
            .current
            .auth_methods
            .get(&target)
            .cloned()
            .unwrap_or_default();
        let deps: Vec<u32> = step.into_iter().collect();
        let mut unrestorable = BTreeSet::new();
        for method in &methods {
            let ty = method
                .get("@odata.type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let (collection, key, body) = match ty {
                PHONE => (
                    "phoneMethods",
                    "phoneNumber",
                    json!({"phoneNumber": method["phoneNumber"], "phoneType": method["phoneType"]}),
                ),
                EMAIL => (
                    "emailMethods",
                    "emailAddress",
                    json!({"emailAddress": method["emailAddress"]}),
                ),
                PASSWORD => continue,
                other => {
                    unrestorable.insert(
                        other
                            .trim_start_matches("#microsoft.graph.")
                            .trim_end_matches("AuthenticationMethod")
                            .to_owned(),
                    );
                    continue;
                }
            };
            let same_slot = current.iter().find(|m| {
                m.get("@odata.type").and_then(Value::as_str) == Some(ty)
                    && (ty != PHONE || m.get("phoneType") == method.get("phoneType"))
            });
            match same_slot {
                Some(live) if live.get(key) == method.get(key) => {}
                Some(live) => {
                    let id = live.get("id").and_then(Value::as_str).unwrap_or_default();
                    self.push(
                        Phase::AuthenticationMethods,
                        Action::UpdateMethod,
                        oref.clone(),
                        Call {
                            method: "PATCH".into(),
                            url: format!("/users/{target}/authentication/{collection}/{id}"),
                            body: Some(json!({key: method[key]})),
                        },
                        format!("{collection} {key} differs from the snapshot"),
                        deps.clone(),
                        None,
                    );
                }
                None => {
                    self.push(
                        Phase::AuthenticationMethods,
                        Action::AddMethod,
                        oref.clone(),
                        Call {
                            method: "POST".into(),
                            url: format!("/users/{target}/authentication/{collection}"),
                            body: Some(body),
                        },
                        format!("{collection} as of the snapshot"),
                        deps.clone(),
                        None,
                    );
                }
            }
        }
        if !unrestorable.is_empty() {
            self.warn(
                oref.clone(),
                format!(
                    "authentication methods {} cannot be created through Graph: the user must register them again",
                    unrestorable.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
            self.resets.insert(oref);
        }
    }
}
