//! Snapshots and browsing: objects, versions, memberships, roles, methods, diffs, exports.

use super::*;

/// The tenant's snapshots, oldest first.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots", tag = "snapshots", params(("name" = String, Path)), responses((status = 200, description = "snapshots"), (status = 404, body = ErrorBody)))]
pub(super) async fn list_snapshots(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let t = tenant(&app, &key, &name)?;
    let list: Vec<Value> = app
        .repo
        .snapshots(&t.tenant_id)
        .await?
        .iter()
        .map(|s| {
            json!({"id": s.id, "time": s.time, "parent": s.parent,
                   "objects": s.kinds.values().map(|k| k.count).sum::<usize>(),
                   "relationships": s.relationships.count,
                   "kinds": s.kinds.iter().map(|(k, r)| (k.to_string(), json!({"status": r.status, "count": r.count}))).collect::<BTreeMap<_, _>>()})
        })
        .collect();
    Ok(Json(json!({"tenant": name, "snapshots": list})))
}

/// Objects query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObjectsQuery {
    /// Only objects whose name, id, UPN, appId or mail contains this.
    pub(crate) search: Option<String>,
    /// `name` (default), `id` or `modified` (most recently changed first).
    #[param(pattern = "^(name|id|modified)$")]
    pub(crate) sort: Option<String>,
    /// Objects deleted since the snapshot before.
    #[serde(default)]
    pub(crate) deleted: bool,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    pub(crate) page: Option<u64>,
    /// Items per page (default 100, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) page_size: Option<u64>,
}

/// A kind named in a query (`?kind=`, `?kinds=`): unknown is a bad request.
pub(super) fn kind_of(s: &str) -> ApiResult<ObjectKind> {
    s.parse()
        .map_err(|e: dirvault_model::Error| ApiError::bad_request(e.to_string()))
}

/// A kind named in a path: no resource has an unknown kind (404).
pub(super) fn path_kind(s: &str) -> ApiResult<ObjectKind> {
    s.parse()
        .map_err(|e: dirvault_model::Error| ApiError::not_found("not_found", e.to_string()))
}

/// An id named in a path: no object has an id that no Graph id looks like (404).
pub(super) fn path_id(s: &str) -> ApiResult<ObjectId> {
    s.parse()
        .map_err(|e: dirvault_model::Error| ApiError::not_found("not_found", e.to_string()))
}

/// Objects of a kind at a snapshot (`latest`, an id, or a date-time): search, sort, page.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/objects/{kind}", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ("kind" = String, Path), ObjectsQuery),
    responses((status = 200, description = "a page of objects"), (status = 404, body = ErrorBody)))]
pub(super) async fn list_objects(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot, kind)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<ObjectsQuery>,
) -> ApiResult<Json<Value>> {
    let page = objects_page(&app, &key, (&name, &snapshot, &kind), q).await?;
    let status = page
        .snapshot
        .kinds
        .get(&page.kind)
        .map(|k| k.status.clone());
    Ok(Json(
        json!({"snapshot": page.snapshot.id, "kind": page.kind, "status": status, "total": page.total, "page": page.page, "pageSize": page.page_size, "items": page.items}),
    ))
}

/// A page of a listing: what the API answers and the console shows.
pub(crate) struct ObjectsPage {
    pub(crate) snapshot: dirvault_store::Snapshot,
    pub(crate) kind: ObjectKind,
    /// Entries that matched, on every page.
    pub(crate) total: usize,
    pub(crate) page: usize,
    pub(crate) page_size: usize,
    pub(crate) items: Vec<dirvault_store::ManifestEntry>,
}

/// One page of the objects of a kind at a snapshot, searched and sorted.
pub(crate) async fn objects_page(
    app: &App,
    key: &Key,
    (name, snapshot, kind): (&str, &str, &str),
    q: ObjectsQuery,
) -> ApiResult<ObjectsPage> {
    let t = tenant(app, key, name)?;
    let kind = path_kind(kind)?;
    let snapshot = resolve_snapshot(&app.repo, &t.tenant_id, snapshot).await?;
    let sort = match q.sort.as_deref() {
        None | Some("name") => SortBy::Name,
        Some("id") => SortBy::Id,
        Some("modified") => SortBy::Modified,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort {other:?}: use name, id or modified"
            )));
        }
    };
    let size = q.page_size.unwrap_or(100);
    let page = q.page.unwrap_or(1);
    if !(1..=1_000).contains(&size) || !(1..=u64::from(u32::MAX)).contains(&page) {
        return Err(ApiError::bad_request(
            "page is from 1 to 4294967295, pageSize from 1 to 1000",
        ));
    }
    let (page_size, page) = (
        usize::try_from(size).unwrap_or(1_000),
        usize::try_from(page).unwrap_or(usize::MAX),
    );
    // Only what the page needs is read: the first page of a million users by name or by id
    // does not make every entry (docs/capacity.md, "Browsing a large tenant").
    let listed = browse::list_page(
        &app.repo,
        &snapshot,
        kind,
        &ListOptions {
            search: q.search.filter(|s| !s.is_empty()),
            sort,
            deleted: q.deleted,
        },
        (page - 1).saturating_mul(page_size),
        page_size,
    )
    .await?;
    let (total, items) = (listed.total, listed.items);
    Ok(ObjectsPage {
        snapshot,
        kind,
        total,
        page,
        page_size,
        items,
    })
}

/// Which version.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct VersionQuery {
    /// `current` (default), `prev`, `next` or N (1 = the first backed up).
    #[param(pattern = "^(current|prev|previous|next|[1-9][0-9]{0,8})$")]
    version: Option<String>,
}

/// One object at a snapshot, with its attribute diff against its previous version, its
/// history (created, modified, deleted, restored) and its relationships' change log.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/objects/{kind}/{id}", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ("kind" = String, Path), ("id" = String, Path), VersionQuery),
    responses((status = 200, description = "the object, its changes and its versions"), (status = 404, body = ErrorBody)))]
pub(super) async fn get_object(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot, kind, id)): ApiPath<(String, String, String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    let page = object_page(
        &app,
        &key,
        (&name, &snapshot, &kind, &id),
        q.version.as_deref(),
    )
    .await?;
    Ok(Json(
        json!({"view": page.view, "history": page.history, "relationships": page.relationships}),
    ))
}

/// An object at a version: what the API answers and the console shows.
pub(crate) struct ObjectPage {
    pub(crate) view: browse::ObjectView,
    pub(crate) history: Vec<browse::HistoryEntry>,
    pub(crate) relationships: Vec<browse::RelationshipEvent>,
}

/// One object at a snapshot (`version`: `current` by default, `prev`, `next` or N), its
/// attribute changes, its history and its relationships' change log.
pub(crate) async fn object_page(
    app: &App,
    key: &Key,
    (name, snapshot, kind, id): (&str, &str, &str, &str),
    version: Option<&str>,
) -> ApiResult<ObjectPage> {
    let t = tenant(app, key, name)?;
    let (kind, id) = (path_kind(kind)?, path_id(id)?);
    let at = resolve_snapshot(&app.repo, &t.tenant_id, snapshot).await?;
    let version = version.unwrap_or("current");
    // As the document says: a keyword, or a number from 1 with no leading zero.
    let number = version.len() <= 9
        && !version.starts_with('0')
        && !version.is_empty()
        && version.bytes().all(|b| b.is_ascii_digit());
    if !number && !matches!(version, "current" | "prev" | "previous" | "next") {
        return Err(ApiError::bad_request(format!(
            "version {:?}: use current, prev, next or a version number (1 = the first)",
            version.chars().take(40).collect::<String>()
        )));
    }
    let which: VersionSelector = version.parse().map_err(ApiError::bad_request)?;
    let snapshot = browse::select_version(&app.repo, &at, kind, &id, which).await?;
    let view = browse::show(&app.repo, &snapshot, kind, &id).await?;
    let history = browse::history(&app.repo, &t.tenant_id, kind, &id).await?;
    let relationships = browse::relationship_history(&app.repo, &t.tenant_id, &id).await?;
    Ok(ObjectPage {
        view,
        history,
        relationships,
    })
}

/// Group and unit memberships, ownerships and manager of an object as of a snapshot.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/memberships/{id}", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ("id" = String, Path)), responses((status = 200, description = "related objects")))]
pub(super) async fn memberships(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(related_json(
        related_of(&app, &key, (&name, &snapshot, &id), false).await?,
    ))
}

/// Directory roles (with scope, and PIM eligibility) of a principal as of a snapshot.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/roles/{id}", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ("id" = String, Path)), responses((status = 200, description = "roles")))]
pub(super) async fn roles(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(related_json(
        related_of(&app, &key, (&name, &snapshot, &id), true).await?,
    ))
}

/// What a principal is related to as of a snapshot: its memberships and ownerships, or its
/// roles.
pub(crate) async fn related_of(
    app: &App,
    key: &Key,
    (name, snapshot, id): (&str, &str, &str),
    roles: bool,
) -> ApiResult<(dirvault_store::Snapshot, Vec<browse::Related>)> {
    let snapshot = at_snapshot(app, key, name, snapshot).await?;
    let id = path_id(id)?;
    let related = if roles {
        browse::roles(&app.repo, &snapshot, &id).await?
    } else {
        browse::memberships(&app.repo, &snapshot, &id).await?
    };
    Ok((snapshot, related))
}

fn related_json(
    (snapshot, related): (dirvault_store::Snapshot, Vec<browse::Related>),
) -> Json<Value> {
    Json(json!({"snapshot": snapshot.id, "related": related}))
}

/// Authentication-method metadata of a user as of a snapshot.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/auth-methods/{id}", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ("id" = String, Path)), responses((status = 200, description = "methods")))]
pub(super) async fn auth_methods(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (snapshot, methods) = auth_methods_of(&app, &key, (&name, &snapshot, &id)).await?;
    Ok(Json(json!({"snapshot": snapshot.id, "methods": methods})))
}

/// A user's authentication-method metadata as of a snapshot.
pub(crate) async fn auth_methods_of(
    app: &App,
    key: &Key,
    (name, snapshot, id): (&str, &str, &str),
) -> ApiResult<(dirvault_store::Snapshot, Vec<Value>)> {
    let snapshot = at_snapshot(app, key, name, snapshot).await?;
    let methods = browse::auth_methods(&app.repo, &snapshot, &path_id(id)?).await?;
    Ok((snapshot, methods))
}

/// Diff query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DiffQuery {
    /// The older snapshot (id, `latest` or a date-time).
    pub(crate) from: String,
    /// The newer snapshot, or `live`: the tenant as it is now.
    pub(crate) to: String,
    /// Only this kind.
    pub(crate) kind: Option<String>,
    /// Only deletions.
    #[serde(default)]
    pub(crate) deleted_only: bool,
    /// Leave out the kinds without changes (listed, empty, by default).
    #[serde(default)]
    pub(crate) only_changes: bool,
}

/// What was created, modified and deleted between two snapshots, or since a snapshot (`to=live`).
#[utoipa::path(get, path = "/v1/tenants/{name}/diff", tag = "snapshots", params(("name" = String, Path), DiffQuery), responses((status = 200, description = "changes by kind")))]
pub(super) async fn diff(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let diff = diff_of(&app, &key, &name, &q).await?;
    Ok(Json(serde_json::to_value(diff).map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    })?))
}

/// What changed between two snapshots of tenant `name`, or since one (`to = live`).
pub(crate) async fn diff_of(
    app: &App,
    key: &Key,
    name: &str,
    q: &DiffQuery,
) -> ApiResult<dirvault_engine::vault::Diff> {
    let t = tenant(app, key, name)?;
    let filter = DiffFilter {
        kind: q.kind.as_deref().map(kind_of).transpose()?,
        deleted_only: q.deleted_only,
        only_changes: q.only_changes,
    };
    let client;
    let against = if q.to == "live" {
        client = app.client(name)?;
        Against::Live(&client)
    } else {
        Against::Snapshot(&q.to)
    };
    Ok(app
        .vault
        .diff(&t.tenant_id, &q.from, against, &filter)
        .await?)
}

/// Export query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExportQuery {
    /// Only these kinds (comma-separated).
    pub(crate) kinds: Option<String>,
    /// Only these objects (comma-separated ids).
    pub(crate) ids: Option<String>,
    /// Add `relationships/<kind>.json`.
    #[serde(default)]
    pub(crate) relationships: bool,
}

/// A zip of JSON (`<kind>/<id>.json`) for a snapshot, kinds or a selection, streamed.
#[utoipa::path(get, path = "/v1/tenants/{name}/snapshots/{snapshot}/export", tag = "snapshots",
    params(("name" = String, Path), ("snapshot" = String, Path), ExportQuery), responses((status = 200, content_type = "application/zip", description = "the zip")))]
pub(super) async fn export(
    State(app): State<AppState>,
    Extension(key): Extension<Key>,
    ApiPath((name, snapshot)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    export_zip(&app, &key, (&name, &snapshot), &q).await
}

/// The zip of a snapshot, kinds or a selection, streamed as an attachment.
pub(crate) async fn export_zip(
    app: &App,
    key: &Key,
    (name, snapshot): (&str, &str),
    q: &ExportQuery,
) -> ApiResult<Response> {
    let snapshot = at_snapshot(app, key, name, snapshot).await?;
    let split = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let selection = dirvault_engine::Selection {
        kinds: split(&q.kinds)
            .iter()
            .map(|k| kind_of(k))
            .collect::<ApiResult<_>>()?,
        // An id no Graph id looks like names no object: it selects nothing (and `ids` that
        // name nothing export nothing, never everything).
        ids: q.ids.as_ref().map(|_| {
            split(&q.ids)
                .iter()
                .filter_map(|i| i.parse::<ObjectId>().ok())
                .collect()
        }),
    };
    let dir = tempfile::tempdir()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let path = dir.path().join("export.zip");
    dirvault_engine::export_selection(
        &app.repo,
        &snapshot,
        &path,
        true,
        q.relationships,
        &selection,
    )
    .await?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    // The open file streams out; the directory goes when the stream ends.
    let stream = futures::StreamExt::map(tokio_util::io::ReaderStream::new(file), move |chunk| {
        let _keep = &dir;
        chunk
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-{}.zip\"", snapshot.id),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
