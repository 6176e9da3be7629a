//! The organization's sign-in branding, as Microsoft documents it:
//! - `GET|PATCH /organization/{id}/branding` with a required `Accept-Language` header, `0` or
//!   `default` for the default branding, else a language; 404 when it has none
//!   (organizationalbranding-get.md, organizationalbranding-update.md);
//! - `/organization/{id}/branding/localizations`: the default (id `0`) and every language, listed,
//!   created (the caller names the language), updated and deleted — a localization with images
//!   cannot be deleted (organizationalbranding-list-localizations.md,
//!   organizationalbranding-post-localizations.md, organizationalbrandinglocalization-update.md,
//!   organizationalbrandinglocalization-delete.md);
//! - `GET|PUT …/localizations/{id}/{stream}`: images and CSS are bytes, never JSON, written one
//!   by one with `PUT` (an unset one reads as an empty 200).

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::read::{Reading, Req};
use super::write::{Body, Writing, check_properties, check_update, object_body};
use super::{json_response, no_content};
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::kinds::Collection;
use crate::odata;
use crate::tenant::{BRANDING_STREAMS, Obj, Tenant};

const KIND: Collection = Collection::BrandingLocalizations;

/// 404 unless `org` is the tenant's organization.
fn check_organization(t: &Tenant, org: &str) -> GraphResult<()> {
    t.get(Collection::Organization, org)
        .map(|_| ())
        .ok_or_else(|| GraphError::not_found(org))
}

/// 404 unless `stream` is one of the type's stream properties.
fn check_stream(stream: &str) -> GraphResult<()> {
    if BRANDING_STREAMS.contains(&stream) {
        Ok(())
    } else {
        Err(GraphError::not_found(stream))
    }
}

/// The localization the `Accept-Language` header names: `0` and `default` are the default
/// branding. 400 without the header ("Required" in both pages).
fn accepted_language(headers: &HeaderMap) -> GraphResult<String> {
    let language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| GraphError::bad_request("The Accept-Language header is required."))?;
    Ok(match language {
        "default" => "0".to_owned(),
        other => other.to_owned(),
    })
}

fn localization(t: &Tenant, id: &str) -> GraphResult<Obj> {
    let id = if id == "default" { "0" } else { id };
    t.get(KIND, id).ok_or_else(|| GraphError::not_found(id))
}

fn entity(caller: &Caller, org: &str, obj: &Obj, t: &Tenant, req: &Req) -> Response {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(odata::context(
            &caller.base,
            &format!("organization('{org}')/branding/localizations"),
            req.query.select.as_deref(),
            true,
        )),
    );
    body.extend(odata::project(
        &t.metadata,
        KIND,
        obj,
        req.query.select.as_deref(),
    ));
    json_response(StatusCode::OK, Value::Object(body))
}

/// `GET /organization/{id}/branding/localizations`: one page (the page supports `$select`
/// only).
pub(crate) async fn list(
    Reading { caller, tenant }: Reading,
    Path(org): Path<String>,
    mut req: Req,
) -> GraphResult<Response> {
    caller.require_read(KIND)?;
    let t = tenant.read();
    check_organization(&t, &org)?;
    req.query.check_select(&t.metadata, KIND, &[], false, &[])?;
    let items = t
        .objects(KIND)
        .into_iter()
        .flatten()
        .map(|(_, o)| {
            Value::Object(odata::project(
                &t.metadata,
                KIND,
                &o,
                req.query.select.as_deref(),
            ))
        })
        .collect();
    Ok(super::collection(
        odata::context(
            &caller.base,
            &format!("organization('{org}')/branding/localizations"),
            req.query.select.as_deref(),
            false,
        ),
        items,
        None,
        None,
    ))
}

/// `GET /organization/{id}/branding/localizations/{id}`
pub(crate) async fn get(
    Reading { caller, tenant }: Reading,
    Path((org, id)): Path<(String, String)>,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(KIND)?;
    let t = tenant.read();
    check_organization(&t, &org)?;
    let obj = localization(&t, &id)?;
    Ok(entity(&caller, &org, &obj, &t, &req))
}

/// `GET /organization/{id}/branding` with `Accept-Language`.
pub(crate) async fn get_by_language(
    Reading { caller, tenant }: Reading,
    Path(org): Path<String>,
    headers: HeaderMap,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(KIND)?;
    let language = accepted_language(&headers)?;
    let t = tenant.read();
    check_organization(&t, &org)?;
    let obj = localization(&t, &language)?;
    Ok(entity(&caller, &org, &obj, &t, &req))
}

/// `POST /organization/{id}/branding/localizations`: the caller names the language (`id`).
pub(crate) async fn create(
    w: Writing,
    Path(org): Path<String>,
    body: Body,
) -> GraphResult<Response> {
    w.caller.require_write(KIND)?;
    let mut obj = object_body(body)?;
    obj.retain(|k, _| !k.starts_with('@'));
    let mut t = w.tenant.write();
    check_organization(&t, &org)?;
    check_properties(&t, KIND, &obj, true)?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if t.contains(KIND, &id) {
        return Err(GraphError::conflict("id"));
    }
    obj.entry("cdnList").or_insert(Value::Array(Vec::new()));
    t.insert(KIND, obj.clone())?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(odata::context(
            &w.caller.base,
            &format!("organization('{org}')/branding/localizations"),
            None,
            true,
        )),
    );
    out.extend(obj);
    Ok(json_response(StatusCode::CREATED, Value::Object(out)))
}

fn update_localization(w: Writing, org: &str, id: &str, body: Body) -> GraphResult<Response> {
    w.caller.require_write(KIND)?;
    let mut patch = object_body(body)?;
    let mut t = w.tenant.write();
    check_organization(&t, org)?;
    localization(&t, id)?;
    if let Some(stream) = patch
        .keys()
        .find(|k| BRANDING_STREAMS.contains(&k.as_str()))
    {
        return Err(GraphError::bad_request(format!(
            "'{stream}' is a stream: write it alone with PUT."
        )));
    }
    check_update(&t, KIND, &patch)?;
    patch.retain(|k, _| !k.starts_with('@'));
    let id = if id == "default" { "0" } else { id };
    t.update(KIND, id, patch)?;
    Ok(no_content())
}

/// `PATCH /organization/{id}/branding/localizations/{id}`
pub(crate) async fn update(
    w: Writing,
    Path((org, id)): Path<(String, String)>,
    body: Body,
) -> GraphResult<Response> {
    update_localization(w, &org, &id, body)
}

/// `PATCH /organization/{id}/branding` with `Accept-Language`.
pub(crate) async fn update_by_language(
    w: Writing,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> GraphResult<Response> {
    let language = accepted_language(&headers)?;
    update_localization(w, &org, &language, body)
}

/// `DELETE /organization/{id}/branding/localizations/{id}`: only once its images are removed.
pub(crate) async fn delete(
    w: Writing,
    Path((org, id)): Path<(String, String)>,
) -> GraphResult<Response> {
    w.caller.require_write(KIND)?;
    let mut t = w.tenant.write();
    check_organization(&t, &org)?;
    localization(&t, &id)?;
    if t.has_branding_streams(&id) {
        return Err(GraphError::bad_request(
            "All images must be removed from the localization before it is deleted.",
        ));
    }
    t.delete(KIND, &id, w.now)?;
    Ok(no_content())
}

/// `GET …/localizations/{id}/{stream}`: the bytes with their media type; an empty 200 when
/// the stream is not set.
pub(crate) async fn get_stream(
    Reading { caller, tenant }: Reading,
    Path((org, id, stream)): Path<(String, String, String)>,
) -> GraphResult<Response> {
    caller.require_read(KIND)?;
    check_stream(&stream)?;
    let t = tenant.read();
    check_organization(&t, &org)?;
    localization(&t, &id)?;
    Ok(match t.branding_stream(&id, &stream) {
        Some((content_type, bytes)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, content_type.to_owned())],
            bytes.to_vec(),
        )
            .into_response(),
        None => StatusCode::OK.into_response(),
    })
}

/// `GET /organization/{id}/branding/{stream}`: the default branding's (its localization `0`).
pub(crate) async fn get_default_stream(
    r: Reading,
    Path((org, stream)): Path<(String, String)>,
) -> GraphResult<Response> {
    get_stream(r, Path((org, "0".to_owned(), stream))).await
}

/// `PUT /organization/{id}/branding/{stream}` (organizationalbranding-update.md, example 2).
pub(crate) async fn put_default_stream(
    w: Writing,
    Path((org, stream)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> GraphResult<Response> {
    put_stream(w, Path((org, "0".to_owned(), stream)), headers, bytes).await
}

/// `DELETE /organization/{id}/branding/{stream}`.
pub(crate) async fn delete_default_stream(
    w: Writing,
    Path((org, stream)): Path<(String, String)>,
) -> GraphResult<Response> {
    delete_stream(w, Path((org, "0".to_owned(), stream))).await
}

/// `DELETE …/localizations/{id}/{stream}`: removes an image (what a localization needs before
/// it can be deleted, organizationalbrandinglocalization-delete.md; Microsoft's SDK has the
/// call, e.g. msgraph-sdk's `BannerLogoRequestBuilder.delete`).
pub(crate) async fn delete_stream(
    w: Writing,
    Path((org, id, stream)): Path<(String, String, String)>,
) -> GraphResult<Response> {
    write_stream(w, &org, id, &stream, "", Vec::new())
}

/// Sets (with no bytes: removes) one stream of a localization, once the caller may write
/// branding, the stream is one of the type's and the organization is the tenant's.
fn write_stream(
    w: Writing,
    org: &str,
    id: String,
    stream: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> GraphResult<Response> {
    w.caller.require_write(KIND)?;
    check_stream(stream)?;
    let mut t = w.tenant.write();
    check_organization(&t, org)?;
    let id = if id == "default" { "0".to_owned() } else { id };
    t.set_branding_stream(&id, stream, content_type, bytes)?;
    Ok(no_content())
}

/// `PUT …/localizations/{id}/{stream}`: the body is the stream's bytes, never JSON ("You can't
/// update Stream types with other data types in the same request").
pub(crate) async fn put_stream(
    w: Writing,
    Path((org, id, stream)): Path<(String, String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> GraphResult<Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if content_type.is_empty() || content_type.contains("json") {
        return Err(GraphError::bad_request(format!(
            "'{stream}' takes the bytes of an image (or CSS) with their media type, not JSON."
        )));
    }
    write_stream(w, &org, id, &stream, &content_type, bytes.to_vec())
}
