//! JSON batching (docs/graph.md §4; Microsoft Graph `json-batching.md`): up to 20 requests, each
//! run through the same router (so each is authenticated, throttled and can fail on its own),
//! `dependsOn` with 424 for dependents of a failed request, and a 200 answer whatever the
//! requests inside returned.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::{BatchInner, json_response};
use crate::Emulator;
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};

/// Graph's limit on requests in one batch.
pub(crate) const MAX_BATCH: usize = 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchRequest {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    depends_on: Vec<String>,
}

#[derive(Deserialize)]
pub(crate) struct BatchBody {
    requests: Vec<BatchRequest>,
}

/// `POST /$batch`
pub(crate) async fn batch(
    State(emulator): State<Emulator>,
    caller: Caller,
    headers: HeaderMap,
    https: Option<axum::Extension<crate::tls::Https>>,
    body: Result<axum::Json<BatchBody>, axum::extract::rejection::JsonRejection>,
) -> GraphResult<Response> {
    let _ = caller;
    let axum::Json(batch) = body.map_err(|e| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Invalid batch payload: {}", e.body_text()),
        )
    })?;
    if batch.requests.len() > MAX_BATCH {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Number of batch request steps exceeds the maximum of {MAX_BATCH}."),
        ));
    }
    let mut ids = BTreeSet::new();
    for r in &batch.requests {
        if r.id.is_empty() || !ids.insert(r.id.clone()) {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!(
                    "Batch request ids must be unique and non-empty: '{}'.",
                    r.id
                ),
            ));
        }
        if let Some(missing) = r
            .depends_on
            .iter()
            .find(|d| !ids.contains(*d) || *d == &r.id)
        {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!(
                    "Request '{}' depends on '{missing}', which is not an earlier request in this batch.",
                    r.id
                ),
            ));
        }
    }
    let router = emulator.router();
    let mut statuses: BTreeMap<String, u16> = BTreeMap::new();
    let mut responses = Vec::new();
    for r in batch.requests {
        if r.depends_on
            .iter()
            .any(|d| statuses.get(d).is_none_or(|s| *s >= 400))
        {
            statuses.insert(r.id.clone(), 424);
            responses.push(json!({
                "id": r.id, "status": 424, "headers": {"Content-Type": "application/json"},
                "body": {"error": {"code": "FailedDependency", "message": "A request this request depends on failed."}},
            }));
            continue;
        }
        let url = sub_request_path(&r.url);
        let mut builder = Request::builder()
            .method(r.method.to_uppercase().as_str())
            .uri(&url);
        for name in ["authorization", "host"] {
            if let Some(v) = headers.get(name) {
                builder = builder.header(name, v);
            }
        }
        for (k, v) in &r.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body = match &r.body {
            Some(b) => {
                builder = builder.header("content-type", "application/json");
                Body::from(serde_json::to_vec(b).unwrap_or_default())
            }
            None => Body::empty(),
        };
        let Ok(mut request) = builder.body(body) else {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("Request '{}' has an invalid method, url or header.", r.id),
            ));
        };
        request.extensions_mut().insert(BatchInner);
        if let Some(axum::Extension(marker)) = https {
            request.extensions_mut().insert(marker);
        }
        let response = match router.clone().oneshot(request).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let mut out_headers = Map::new();
        for (k, v) in response.headers() {
            let name = k.as_str();
            if [
                "retry-after",
                "location",
                "content-type",
                "x-ms-resource-unit",
            ]
            .contains(&name)
                && let Ok(v) = v.to_str()
            {
                let pretty = match name {
                    "retry-after" => "Retry-After",
                    "location" => "Location",
                    "content-type" => "Content-Type",
                    _ => "x-ms-resource-unit",
                };
                out_headers.insert(pretty.into(), Value::String(v.to_owned()));
            }
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        statuses.insert(r.id.clone(), status);
        let mut entry = json!({"id": r.id, "status": status, "headers": out_headers});
        if !body.is_null() {
            entry["body"] = body;
        }
        responses.push(entry);
    }
    // Graph answers in any order (json-batching.md); answering in reverse keeps clients honest.
    responses.reverse();
    Ok(json_response(
        StatusCode::OK,
        json!({ "responses": responses }),
    ))
}

/// The path (under `/v1.0`) of a sub-request. Graph's batching page shows relative URLs
/// (`/users/{id}`, `users?$top=1`); Microsoft's SDKs send the absolute URL they would have
/// called (msgraph-core's `BatchRequestItem` keeps `request_information.url`), which Graph
/// accepts: its Graph root is dropped.
fn sub_request_path(url: &str) -> String {
    let relative = match url.split_once("://") {
        Some((_, rest)) => {
            let path = rest.find('/').map_or("/", |i| &rest[i..]);
            path.strip_prefix("/v1.0").unwrap_or(path)
        }
        None => url,
    };
    if relative.starts_with('/') {
        format!("/v1.0{relative}")
    } else {
        format!("/v1.0/{relative}")
    }
}

#[cfg(test)]
mod tests {
    use super::sub_request_path;

    #[test]
    fn relative_and_absolute_sub_request_urls_name_the_same_path() {
        assert_eq!(
            sub_request_path("/users/a?$select=id"),
            "/v1.0/users/a?$select=id"
        );
        assert_eq!(sub_request_path("users/a"), "/v1.0/users/a");
        assert_eq!(
            sub_request_path("https://graph.microsoft.com/v1.0/users/a?$select=id"),
            "/v1.0/users/a?$select=id"
        );
        assert_eq!(
            sub_request_path("https://127.0.0.1:8443/v1.0/groups"),
            "/v1.0/groups"
        );
        // A different version stays different (and is not found).
        assert_eq!(sub_request_path("https://h/beta/users"), "/v1.0/beta/users");
    }
}
