//! Objects: restored from the recycle bin, re-created (with references remapped), overwritten
//! back to the snapshot, or created as new; and which of their properties Graph lets a
//! request write.

use super::*;

impl Planner<'_> {
    pub(super) fn object(&mut self, object: &DirectoryObject, phase: Phase) -> Result<()> {
        let oref = object_ref(object);
        let id = object.id();
        if let Some(name) = &self.options.as_new {
            let name = name.clone();
            return self.create(object, phase, Some(&name));
        }
        if object.kind() == ObjectKind::BrandingLocalizations && self.current.organization.is_none()
        {
            self.warn(
                oref,
                "not restored: the target's organization could not be read (GET /organization), and branding lives under it",
            );
            return Ok(());
        }
        if let Some(reason) = self.current.ambiguous.get(id) {
            let reason = reason.clone();
            self.warn(
                oref,
                format!("not restored: {reason}; resolve it in the tenant, then plan again"),
            );
            return Ok(());
        }
        if is_built_in(object) && object.kind() == ObjectKind::AuthenticationStrengthPolicies {
            self.skip(
                oref,
                "one of Microsoft's built-in authentication strengths: read-only",
            );
            return Ok(());
        }
        // A policy is nothing but its properties: selecting it is restoring them.
        let restores_object = self.options.restores_object()
            || dirvault_model::policy_writes::policy_writes(object.kind()).is_some();
        if let Some(found) = self.current.found.get(id) {
            if self.options.only_deleted {
                self.skip(oref, "exists in the target (--only-deleted)");
            } else if restores_object {
                self.overwrite(object, &found.object, phase, Vec::new());
            }
            return Ok(());
        }
        if let Some(deleted) = self.current.recycle_bin.get(id) {
            if !restores_object {
                self.warn(
                    oref,
                    "is in the recycle bin; add --with-object to restore it (same id, memberships come back)",
                );
                return Ok(());
            }
            let collection = self.collection(object.kind());
            let body = (object.kind() == ObjectKind::Users)
                .then(|| json!({"autoReconcileProxyConflict": true}));
            let step = self.push(
                phase,
                Action::RestoreDeleted,
                oref,
                Call {
                    method: "POST".into(),
                    url: format!("/directory/deletedItems/{id}/restore"),
                    body,
                },
                "in the recycle bin: restore with the same id (memberships, roles and licenses come back with it)",
                Vec::new(),
                Some(format!("{collection}/{id}?$select=id")),
            );
            self.id_map.insert(id.clone(), Mapping::Restored { step });
            self.overwrite(object, deleted, phase, vec![step]);
            return Ok(());
        }
        if !restores_object {
            let message = if self.cross {
                "has no match in the target tenant; add --with-object to create it"
            } else {
                "no longer exists in the target; add --with-object to re-create it"
            };
            self.warn(oref, message);
            return Ok(());
        }
        self.create(object, phase, None)
    }

    /// One object of `kind` in the target, by its id or key.
    pub(super) fn object_url(&self, kind: ObjectKind, id: &str) -> String {
        format!("{}/{}", self.collection(kind), crate::state::encode(id))
    }

    /// Where objects of `kind` are created in the target (and found by id).
    pub(super) fn collection(&self, kind: ObjectKind) -> String {
        match (kind, &self.current.organization) {
            (ObjectKind::BrandingLocalizations, Some(org)) => {
                crate::state::branding_collection(org)
            }
            _ => collection(kind).unwrap_or("/directoryObjects").to_owned(),
        }
    }

    /// The properties of a snapshot object a create or update may send, with references,
    /// domains and extension attributes adjusted for the target; notes what it leaves out.
    pub(super) fn writable(
        &mut self,
        object: &DirectoryObject,
        creating: bool,
    ) -> (Map<String, Value>, Vec<u32>) {
        let kind = object.kind();
        if let Some(body) = self.policy_body(object, creating) {
            return (body, Vec::new());
        }
        let oref = object_ref(object);
        let s = schema(kind);
        let synced = object.is_synced_from_on_premises();
        let mut out = Map::new();
        let mut deps = Vec::new();
        let mut missing_extensions = Vec::new();
        for (key, value) in object.raw() {
            let keep_type = key == "@odata.type" && kind == ObjectKind::NamedLocations && creating;
            if (key.starts_with('@') || key.contains("@odata.")) && !keep_type {
                continue;
            }
            if let Some(s) = s {
                let allowed_create_only =
                    creating && kind == ObjectKind::ServicePrincipals && key == "appId";
                if (s.read_only.contains(&key.as_str()) && !allowed_create_only)
                    || (!creating && s.create_only.contains(&key.as_str()))
                    || (!s.has(key) && !key.starts_with("extension_"))
                {
                    continue;
                }
                if kind == ObjectKind::Devices && !device_writable().contains(&key.as_str()) {
                    continue;
                }
                if synced && !creating && s.on_premises_owned.contains(&key.as_str()) {
                    continue;
                }
            } else if OTHER_READ_ONLY.contains(&key.as_str()) {
                continue;
            }
            if key.starts_with("extension_")
                && let Some(known) = &self.current.extension_properties
                && !known.contains(key)
            {
                missing_extensions.push(key.clone());
                continue;
            }
            if creating && value.is_null() {
                continue;
            }
            // Properties that are not the object's own data.
            if matches!(
                key.as_str(),
                "passwordProfile"
                    | "signInActivity"
                    | "onPremisesImmutableId"
                    | "securityIdentifier"
            ) {
                continue;
            }
            if self.cross && matches!(key.as_str(), "identities" | "identifierUris") {
                continue;
            }
            out.insert(key.clone(), value.clone());
        }
        if !missing_extensions.is_empty() {
            self.warn(
                oref.clone(),
                format!(
                    "extension attributes {} are not defined in the target (their application is gone or in another tenant): not restored",
                    missing_extensions.join(", ")
                ),
            );
        }
        if let (true, Some(domain)) = (self.cross, self.domain().map(str::to_owned)) {
            for field in ["userPrincipalName", "mail"] {
                if let Some(Value::String(v)) = out.get_mut(field) {
                    *v = move_domain(v, &domain);
                }
            }
            if let Some(Value::Array(items)) = out.get_mut("otherMails") {
                for v in items.iter_mut() {
                    if let Value::String(s) = v {
                        *s = move_domain(s, &domain);
                    }
                }
            }
        }
        if kind == ObjectKind::ConditionalAccessPolicies {
            deps.extend(self.remap_policy(&oref, &mut out));
        }
        if kind == ObjectKind::Users && self.options.block_sign_in {
            out.insert("accountEnabled".into(), Value::Bool(false));
        }
        (out, deps)
    }

    /// Remaps the users, groups and named locations a policy names; an unresolvable
    /// reference is dropped and the policy restored disabled, for an administrator to review.
    pub(super) fn remap_policy(
        &mut self,
        oref: &ObjectRef,
        body: &mut Map<String, Value>,
    ) -> Vec<u32> {
        let mut deps = Vec::new();
        let mut dropped = Vec::new();
        for (section, field) in POLICY_FIELDS {
            let Some(Value::Array(items)) = body
                .get_mut("conditions")
                .and_then(|c| c.get_mut(section))
                .and_then(|s| s.get_mut(field))
            else {
                continue;
            };
            let mut mapped = Vec::new();
            for item in items.iter() {
                let Some(id) = item.as_str() else { continue };
                if POLICY_KEYWORDS.contains(&id) {
                    mapped.push(item.clone());
                    continue;
                }
                match ObjectId::new(id).ok().and_then(|i| self.target(&i)) {
                    Some((target, step)) => {
                        mapped.push(Value::String(target));
                        deps.extend(step);
                    }
                    None => dropped.push(format!("{field} {id}")),
                }
            }
            *items = mapped;
        }
        if !dropped.is_empty() {
            body.insert("state".into(), json!("disabled"));
            self.warn(
                oref.clone(),
                format!(
                    "names objects that do not exist in the target ({}): they are left out and the policy is restored disabled; review it before enabling",
                    dropped.join(", ")
                ),
            );
        }
        deps
    }

    pub(super) fn overwrite(
        &mut self,
        object: &DirectoryObject,
        live: &DirectoryObject,
        phase: Phase,
        deps: Vec<u32>,
    ) {
        let oref = object_ref(object);
        let kind = object.kind();
        let (mut wanted, more) = self.writable(object, false);
        // Compare what both sides have: a property the target did not return was not read.
        let block = self.options.block_sign_in && kind == ObjectKind::Users;
        wanted.retain(|k, _| live.raw().contains_key(k) || (block && k == "accountEnabled"));
        let mut live_map = live.raw().clone();
        live_map.retain(|k, _| wanted.contains_key(k));
        let mut patch = Map::new();
        for change in diff_objects(&live_map, &wanted, &DiffOptions::default()) {
            if change.kind == ChangeKind::Removed {
                continue;
            }
            let top = change.path.split('/').next().unwrap_or_default();
            if let Some(v) = wanted.get(top) {
                patch.insert(top.to_owned(), v.clone());
            }
        }
        if object.is_synced_from_on_premises()
            && let Some(s) = schema(kind)
        {
            let owned: Vec<&str> = s
                .on_premises_owned
                .iter()
                .copied()
                .filter(|p| object.get(p) != live.get(p) && object.get(p).is_some())
                .collect();
            if !owned.is_empty() {
                self.warn(
                    oref.clone(),
                    format!(
                        "synced from on-premises AD, which owns {}: change them there",
                        owned.join(", ")
                    ),
                );
            }
        }
        let parts = self.policy_parts(object, live, phase, &deps);
        if patch.is_empty() {
            if deps.is_empty() && parts == 0 {
                self.skip(oref, "already as in the snapshot");
            }
            return;
        }
        let names: Vec<&str> = patch.keys().map(String::as_str).collect();
        let why = format!(
            "overwrite what differs from the snapshot: {}",
            names.join(", ")
        );
        // A settings object is patched on its own path: it has no collection.
        let url = match singleton(kind) {
            Some(path) => path.to_owned(),
            None => format!("{}/{}", self.collection(kind), live.id()),
        };
        let mut deps = deps;
        deps.extend(more);
        self.push(
            phase,
            Action::Update,
            oref,
            Call {
                method: "PATCH".into(),
                url,
                body: Some(Value::Object(patch)),
            },
            why,
            deps,
            None,
        );
    }

    pub(super) fn create(
        &mut self,
        object: &DirectoryObject,
        phase: Phase,
        as_new: Option<&str>,
    ) -> Result<()> {
        let kind = object.kind();
        let oref = object_ref(object);
        if kind.info().recreate == Recreate::No
            || (kind == ObjectKind::RoleDefinitions
                && object.get("isBuiltIn") == Some(&Value::Bool(true)))
        {
            let why = match kind {
                ObjectKind::Devices => {
                    "Graph has no app-only create for devices: re-register or re-enroll the device (Intune, Autopilot)"
                }
                ObjectKind::RoleDefinitions => "built-in role definitions are read-only",
                _ => "Graph cannot create objects of this kind",
            };
            if as_new.is_some() {
                return Err(Error::Options(format!("--as-new: {oref}: {why}")));
            }
            self.warn(oref, format!("gone and not re-creatable: {why}"));
            return Ok(());
        }
        if as_new.is_some() && kind == ObjectKind::ServicePrincipals {
            return Err(Error::Options(
                "--as-new is for users, groups, applications, units, roles, policies and locations: a service principal belongs to its application (restore the application as new, then its service principal)".into(),
            ));
        }
        if kind == ObjectKind::Users && object.str("userType") == Some("Guest") {
            self.warn(
                oref,
                "a guest account is invited, not created: re-invite the guest (POST /invitations); it cannot keep its id",
            );
            return Ok(());
        }
        if object.is_synced_from_on_premises() && !self.cross && as_new.is_none() {
            self.warn(
                oref,
                "synced from on-premises AD: restore it in AD and let sync re-create it (a cloud copy would clash with sync)",
            );
            return Ok(());
        }
        let (mut body, mut deps) = self.writable(object, true);
        let collection = self.collection(kind);
        let mut lookup_filter = None;
        match kind {
            ObjectKind::Users => {
                if let Some(name) = as_new {
                    let upn = body
                        .get("userPrincipalName")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    let upn = if name.contains('@') {
                        name.to_owned()
                    } else {
                        move_domain(
                            &upn,
                            upn.rsplit_once('@').map(|(_, d)| d).unwrap_or_default(),
                        )
                        .replacen(
                            upn.split('@').next().unwrap_or_default(),
                            name,
                            1,
                        )
                    };
                    let nickname = upn.split('@').next().unwrap_or_default().to_owned();
                    body.insert("userPrincipalName".into(), json!(upn));
                    body.insert("mailNickname".into(), json!(nickname));
                    for unique in ["mail", "otherMails", "employeeId", "identities"] {
                        body.remove(unique);
                    }
                }
                if !body.contains_key("mailNickname")
                    && let Some(upn) = body.get("userPrincipalName").and_then(Value::as_str)
                {
                    let nickname = upn.split('@').next().unwrap_or_default().to_owned();
                    body.insert("mailNickname".into(), json!(nickname));
                }
                body.entry("accountEnabled").or_insert(json!(true));
                body.insert(
                    "passwordProfile".into(),
                    json!({"forceChangePasswordNextSignIn": true, "password": DEFAULT_PASSWORD}),
                );
                self.needs_password = true;
                self.resets.insert(oref.clone());
                if let Some(upn) = body.get("userPrincipalName").and_then(Value::as_str) {
                    lookup_filter = Some(filter("userPrincipalName", upn));
                }
                if object
                    .get("assignedLicenses")
                    .and_then(Value::as_array)
                    .is_some_and(|l| !l.is_empty())
                {
                    self.warn(
                        oref.clone(),
                        "licenses are not part of the object: assign them again (assignLicense or group-based licensing)",
                    );
                }
            }
            ObjectKind::Groups => {
                if let Some(name) = as_new {
                    body.insert("displayName".into(), json!(name));
                    let nickname: String =
                        name.chars().filter(char::is_ascii_alphanumeric).collect();
                    body.insert("mailNickname".into(), json!(nickname));
                }
                if let Some(n) = body.get("mailNickname").and_then(Value::as_str) {
                    lookup_filter = Some(filter("mailNickname", n));
                }
            }
            ObjectKind::ServicePrincipals => {
                let app = object
                    .app_id()
                    .and_then(|app_id| self.applications.get(app_id).copied());
                if let Some(app) = app
                    && let Some(Mapping::Created { step }) = self.id_map.get(app.id())
                {
                    let placeholder = new_app_id(app.id());
                    body.insert("appId".into(), json!(placeholder));
                    deps.push(*step);
                }
                if let Some(a) = body.get("appId").and_then(Value::as_str) {
                    lookup_filter = Some(filter("appId", a));
                }
            }
            _ => {
                if let Some(name) = as_new {
                    body.insert("displayName".into(), json!(name));
                }
                if let Some(n) = body.get("displayName").and_then(Value::as_str) {
                    lookup_filter = Some(filter("displayName", n));
                }
            }
        }
        if kind == ObjectKind::Applications {
            if as_new.is_some() {
                body.remove("identifierUris");
            }
            if object
                .get("passwordCredentials")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty())
            {
                self.warn(
                    oref.clone(),
                    "client secrets are never readable, so never in a backup: add a new secret (addPassword) and update the apps that use it",
                );
            }
        }
        let why = match (as_new, self.cross) {
            (Some(name), _) => format!("as a new object named {name:?} (new id)"),
            (None, _) if body.contains_key(kind.info().id_field) => {
                "gone: re-create it with the same key (the caller names it)".to_owned()
            }
            (None, true) => "not in the target tenant: create it (new id)".to_owned(),
            (None, false) => "gone for good (not in the recycle bin): re-create it with a new id; references to it are remapped".to_owned(),
        };
        let select = match kind {
            ObjectKind::Applications | ObjectKind::ServicePrincipals => "id,appId",
            _ => "id",
        };
        let lookup = match kind {
            // The language is the key: a copy made by an interrupted run is at its own path.
            ObjectKind::BrandingLocalizations => Some(format!(
                "{}?$select=id",
                self.object_url(kind, object.id().as_str())
            )),
            _ => lookup_filter.map(|f| format!("{collection}?{f}&$select={select}")),
        };
        let step = self.push(
            phase,
            Action::Create,
            ObjectRef {
                name: body
                    .get("userPrincipalName")
                    .or_else(|| body.get("displayName"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or(oref.name.clone()),
                ..oref
            },
            Call {
                method: "POST".into(),
                url: collection.to_owned(),
                body: Some(Value::Object(body)),
            },
            why,
            deps,
            lookup,
        );
        self.id_map
            .insert(object.id().clone(), Mapping::Created { step });
        match kind {
            ObjectKind::BrandingLocalizations => {
                self.branding_streams(object, None, phase, &[step]);
            }
            ObjectKind::PermissionGrantPolicies => {
                self.condition_sets(object, None, phase, &[step]);
            }
            _ => {}
        }
        Ok(())
    }

    // ----- relationships -----------------------------------------------------------------
}
