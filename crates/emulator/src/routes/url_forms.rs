//! The OData URL forms Microsoft's SDKs send, rewritten to the paths the router knows:
//!
//! - a function called with its parentheses: `/users/delta()` (the SDKs' `delta` request
//!   builders) is `/users/delta`;
//! - a key given as an alternate key: `/directoryRoles(roleTemplateId='…')`
//!   (api/directoryrole-get.md) is `/directoryRoles/roleTemplateId=…`, which the lookup
//!   resolves;
//! - administrative units at the root: `/administrativeUnits/{id}` (the SDKs' builders) is
//!   `/directory/administrativeUnits/{id}` (api/administrativeunit-get.md lists both);
//!   `/administrativeUnits/delta` is a route of its own.

use axum::extract::Request;
use axum::http::Uri;
use axum::http::uri::PathAndQuery;

/// The request with its path in the router's form (unchanged when it already is).
pub(crate) fn canonical(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v1.0/") else {
        return req;
    };
    let rewritten = rewrite(rest);
    if rewritten == rest {
        return req;
    }
    let mut text = format!("/v1.0/{rewritten}");
    if let Some(q) = req.uri().query() {
        text.push('?');
        text.push_str(q);
    }
    if let Ok(pq) = text.parse::<PathAndQuery>() {
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

fn rewrite(path: &str) -> String {
    let mut segments: Vec<String> = path
        .split('/')
        .map(|s| match s.strip_suffix("()") {
            Some(function) if function == "delta" => function.to_owned(),
            _ => s.to_owned(),
        })
        .collect();
    if let Some(first) = segments.first_mut()
        && let Some(key) = alternate_key(first, "directoryRoles", "roleTemplateId")
    {
        *first = format!("directoryRoles/roleTemplateId={key}");
    }
    let path = segments.join("/");
    match path.strip_prefix("administrativeUnits") {
        Some(rest) if (rest.is_empty() || rest.starts_with('/')) && rest != "/delta" => {
            format!("directory/administrativeUnits{rest}")
        }
        _ => path,
    }
}

/// `collection(key='value')` (quotes possibly percent-encoded) → `value`.
fn alternate_key(segment: &str, collection: &str, key: &str) -> Option<String> {
    let inner = segment
        .strip_prefix(collection)?
        .strip_prefix('(')?
        .strip_suffix(')')?
        .replace("%27", "'");
    let value = inner.strip_prefix(key)?.strip_prefix('=')?;
    let value = value.strip_prefix('\'')?.strip_suffix('\'')?;
    (!value.is_empty() && !value.contains(['/', '\''])).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn sdk_forms_become_router_paths() {
        assert_eq!(rewrite("users/delta()"), "users/delta");
        assert_eq!(rewrite("groups/delta()"), "groups/delta");
        assert_eq!(
            rewrite("directoryRoles(roleTemplateId='62e90394-69f5-4237-9190-012177145e10')"),
            "directoryRoles/roleTemplateId=62e90394-69f5-4237-9190-012177145e10"
        );
        assert_eq!(
            rewrite("directoryRoles(roleTemplateId=%2762e9%27)/members"),
            "directoryRoles/roleTemplateId=62e9/members"
        );
        assert_eq!(
            rewrite("administrativeUnits"),
            "directory/administrativeUnits"
        );
        assert_eq!(
            rewrite("administrativeUnits/a/members"),
            "directory/administrativeUnits/a/members"
        );
        assert_eq!(
            rewrite("administrativeUnits/delta"),
            "administrativeUnits/delta"
        );
        assert_eq!(rewrite("administrativeUnitsX"), "administrativeUnitsX");
        assert_eq!(rewrite("users/x"), "users/x");
        // Hostile keys are left as they are (and then not found).
        assert_eq!(
            rewrite("directoryRoles(roleTemplateId='a/b')"),
            "directoryRoles(roleTemplateId='a/b')"
        );
    }
}
