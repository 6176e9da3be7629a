//! The recycle bin: restore with the same id, or delete for good (docs/graph.md §2).

use super::*;

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestoreBody {
    new_user_principal_name: Option<String>,
    #[allow(dead_code)]
    auto_reconcile_proxy_conflict: Option<bool>,
}

/// `POST /directory/deletedItems/{id}/restore` → 200 with the object (docs/graph.md §2).
pub(crate) async fn restore_deleted(
    w: Writing,
    Path(id): Path<String>,
    body: Option<Json<RestoreBody>>,
) -> GraphResult<Response> {
    let body = body.map(|b| b.0).unwrap_or_default();
    let now = w.now;
    let mut t = w.tenant.write();
    t.expire_recycle_bin(now);
    let kind = t
        .deleted_item(&id)
        .map(|d| d.kind)
        .ok_or_else(|| GraphError::not_found(&id))?;
    w.caller.require(&write_permissions(kind, false))?;
    if let Some(upn) = &body.new_user_principal_name {
        let mut probe = Map::new();
        probe.insert("userPrincipalName".into(), json!(upn));
        check_properties(&t, Collection::Users, &probe, false)?;
    }
    let (kind, obj) = t.restore(&id, body.new_user_principal_name.as_deref())?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(odata::context(
            &w.caller.base,
            "directoryObjects",
            None,
            true,
        )),
    );
    out.insert(
        "@odata.type".into(),
        json!(format!("#{}", kind.facts().odata_type)),
    );
    out.extend(obj);
    Ok(json_response(StatusCode::OK, Value::Object(out)))
}

/// `DELETE /directory/deletedItems/{id}`: permanent deletion.
pub(crate) async fn purge_deleted(w: Writing, Path(id): Path<String>) -> GraphResult<Response> {
    let mut t = w.tenant.write();
    let kind = t
        .deleted_item(&id)
        .map(|d| d.kind)
        .ok_or_else(|| GraphError::not_found(&id))?;
    w.caller.require(&write_permissions(kind, false))?;
    t.purge(&id);
    Ok(no_content())
}
