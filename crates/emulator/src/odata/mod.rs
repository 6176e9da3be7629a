//! OData query options as Graph implements them for directory objects: `$top`, `$select`,
//! `$filter` (the forms Graph documents for directory objects), `$expand`, `$count`,
//! `$search`, and opaque page tokens.

mod filter;
use filter::*;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{GraphError, GraphResult};
use crate::kinds::Collection;
use crate::metadata::Metadata;
use crate::rules::rules;
use crate::tenant::Obj;

/// Parsed query options.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query {
    /// `$top`.
    pub(crate) top: Option<usize>,
    /// `$select`, canonical property names.
    pub(crate) select: Option<Vec<String>>,
    /// `$filter`.
    pub(crate) filter: Option<Filter>,
    /// `$expand` navigation properties.
    pub(crate) expand: Vec<String>,
    /// For each of `expand`, its nested `$select`: `members($select=id,displayName)`
    /// (query-parameters.md, "expand").
    pub(crate) expand_select: Vec<Option<Vec<String>>>,
    /// `$count=true`.
    pub(crate) count: bool,
    /// `$search`.
    pub(crate) search: Option<String>,
    /// `$skiptoken`.
    pub(crate) skiptoken: Option<String>,
    /// `$deltatoken`.
    pub(crate) deltatoken: Option<String>,
    /// Every parameter except `$skiptoken`, in order, for building nextLinks.
    pub(crate) pairs: Vec<(String, String)>,
    /// `ConsistencyLevel: eventual` was sent.
    pub(crate) eventual: bool,
    /// `Prefer: odata.maxpagesize=N`.
    pub(crate) max_page_size: Option<usize>,
    /// `Prefer: return=minimal` (delta: only the changed properties of an updated object).
    pub(crate) return_minimal: bool,
}

/// The largest `$top` Graph accepts for directory objects (docs/graph.md §6).
pub(crate) const MAX_TOP: usize = 999;

impl Query {
    /// Parses the raw query string and the headers that modify it.
    ///
    /// # Errors
    /// 400 for malformed or unsupported options, as Graph answers them.
    pub(crate) fn parse(raw: &str, headers: &HeaderMap) -> GraphResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|e| GraphError::bad_request(format!("Invalid query string: {e}")))?;
        let mut q = Query {
            eventual: headers
                .get("consistencylevel")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("eventual")),
            max_page_size: headers
                .get("prefer")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.split(',')
                        .find_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
                        .and_then(|n| n.trim().parse().ok())
                }),
            return_minimal: headers
                .get_all("prefer")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|p| p.trim().eq_ignore_ascii_case("return=minimal")),
            ..Query::default()
        };
        for (key, value) in pairs {
            // Graph accepts the options with or without the `$`.
            let name = key.trim_start_matches('$').to_ascii_lowercase();
            match name.as_str() {
                "top" => {
                    let top: usize = value
                        .parse()
                        .map_err(|_| invalid_page_size(&value, MAX_TOP))?;
                    if top == 0 {
                        return Err(invalid_page_size(&value, MAX_TOP));
                    }
                    q.top = Some(top);
                }
                "select" => {
                    q.select = Some(
                        value
                            .split(',')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    );
                }
                "filter" => q.filter = Some(Filter::parse(&value)?),
                "expand" => {
                    for item in split_top_level(&value) {
                        let (name, options) = match item.split_once('(') {
                            Some((name, rest)) => (name.trim(), rest.strip_suffix(')')),
                            None => (item.trim(), None),
                        };
                        let select = options
                            .and_then(|o| {
                                o.split(';').find_map(|opt| {
                                    opt.trim()
                                        .strip_prefix("$select=")
                                        .or_else(|| opt.trim().strip_prefix("select="))
                                })
                            })
                            .map(|list| {
                                list.split(',')
                                    .map(|p| p.trim().to_owned())
                                    .filter(|p| !p.is_empty())
                                    .collect()
                            });
                        q.expand.push(name.to_owned());
                        q.expand_select.push(select);
                    }
                }
                "count" => q.count = value.eq_ignore_ascii_case("true"),
                "search" => q.search = Some(value.trim_matches('"').to_owned()),
                "skiptoken" => {
                    q.skiptoken = Some(value);
                    continue;
                }
                "deltatoken" => q.deltatoken = Some(value.clone()),
                "orderby" | "skip" | "format" => {
                    return Err(GraphError::unsupported_query(format!(
                        "The query option '${name}' is not supported by this emulator for this request."
                    )));
                }
                _ if key.starts_with('$') => {
                    return Err(GraphError::bad_request(format!(
                        "Query option '{key}' is not allowed. Make sure that it is supported by the target resource."
                    )));
                }
                _ => {}
            }
            q.pairs.push((key, value));
        }
        // Graph: aad-advanced-queries.md — these need ConsistencyLevel: eventual.
        if q.search.is_some() && !q.eventual {
            return Err(GraphError::bad_request(
                "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
            ));
        }
        if q.count && !q.eventual {
            return Err(GraphError::unsupported_query(
                "$count is only supported with the 'ConsistencyLevel: eventual' header.",
            ));
        }
        if q.filter.as_ref().is_some_and(Filter::is_advanced) && !q.eventual {
            return Err(GraphError::unsupported_query(
                "Unsupported Query. 'ne', 'not' and 'endsWith' need the 'ConsistencyLevel: eventual' header and $count=true.",
            ));
        }
        Ok(q)
    }

    /// The page size for a list: `$top` (at most `max`), else `default`.
    ///
    /// # Errors
    /// 400 "Invalid page size specified" above `max` (docs/graph.md §6).
    pub(crate) fn page_size(&self, default: usize, max: usize) -> GraphResult<usize> {
        match self.top {
            Some(top) if top > max => Err(invalid_page_size(&top.to_string(), max)),
            Some(top) => Ok(top),
            None => Ok(default),
        }
    }

    /// Validates `$select` against the kind's schema and canonicalises names (Graph matches
    /// property names case-insensitively). `extensions` are the tenant's registered extension
    /// property names for this kind; `single` is true when reading one object.
    ///
    /// # Errors
    /// 400 for unknown properties; 501 for single-object-only properties on a collection.
    pub(crate) fn check_select(
        &mut self,
        metadata: &Metadata,
        kind: Collection,
        extensions: &[String],
        single: bool,
        allowed_nav: &[&str],
    ) -> GraphResult<()> {
        let odata_type = kind.facts().odata_type;
        let Some(select) = &mut self.select else {
            return Ok(());
        };
        if !metadata.has_type(odata_type) {
            return Ok(());
        }
        let single_only = &rules(odata_type).single_only;
        // Derived types' properties may be selected on a collection of the base type.
        let mut declared: Vec<&str> = metadata
            .structural(odata_type)
            .into_iter()
            .map(|p| p.name.as_str())
            .collect();
        for derived in metadata.derived(odata_type) {
            declared.extend(
                metadata
                    .structural(derived)
                    .into_iter()
                    .map(|p| p.name.as_str()),
            );
        }
        for name in select.iter_mut() {
            if name == "*" {
                continue;
            }
            if let Some(canonical) = declared
                .iter()
                .chain(allowed_nav)
                .find(|p| p.eq_ignore_ascii_case(name))
            {
                if !single && single_only.contains(canonical) {
                    // Seen on Graph: microsoft-graph-docs issue #7555, user-list.md.
                    return Err(GraphError::new(
                        StatusCode::NOT_IMPLEMENTED,
                        "NotImplemented",
                        "This operation target is not yet supported.",
                    ));
                }
                *name = (*canonical).to_owned();
            } else if let Some(ext) = extensions.iter().find(|e| e.eq_ignore_ascii_case(name)) {
                *name = ext.clone();
            } else {
                return Err(GraphError::bad_request(format!(
                    "Could not find a property named '{name}' on type '{}'.",
                    kind.facts().odata_type
                )));
            }
        }
        Ok(())
    }
}

impl Query {
    /// Refuses a `$filter` on a property the type does not declare, or that Graph documents
    /// as not filterable: Graph answers 400, never an empty list (a typo in a lookup would
    /// otherwise read as "not found").
    ///
    /// # Errors
    /// 400 `Request_UnsupportedQuery` naming the property.
    pub(crate) fn check_filter(
        &self,
        metadata: &Metadata,
        kind: Collection,
        extensions: &[String],
    ) -> GraphResult<()> {
        let odata_type = kind.facts().odata_type;
        let (Some(filter), true) = (&self.filter, metadata.has_type(odata_type)) else {
            return Ok(());
        };
        let not_filterable = &rules(odata_type).not_filterable;
        for path in filter.properties() {
            let name = path.split('/').next().unwrap_or(path);
            let declared = metadata.find(odata_type, name).is_some()
                || metadata
                    .derived(odata_type)
                    .into_iter()
                    .any(|d| metadata.find(d, name).is_some())
                || extensions.iter().any(|e| e.eq_ignore_ascii_case(name));
            if !declared {
                return Err(GraphError::bad_request(format!(
                    "Could not find a property named '{name}' on type '{odata_type}'."
                )));
            }
            if not_filterable.iter().any(|p| p.eq_ignore_ascii_case(name)) {
                return Err(GraphError::unsupported_query(format!(
                    "Unsupported or invalid query filter clause specified for property '{name}' of resource '{}'.",
                    crate::metadata::Metadata::local_name(odata_type)
                )));
            }
        }
        Ok(())
    }
}

/// `a,b($select=x,y),c` → `a`, `b($select=x,y)`, `c`: commas inside parentheses belong to
/// the nested options.
fn split_top_level(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in value.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

fn invalid_page_size(value: &str, max: usize) -> GraphError {
    // Graph: "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    GraphError::bad_request(format!(
        "Invalid page size specified: '{value}'. Must be between 1 and {max} inclusive."
    ))
}

/// The properties of `obj` a response shows: `$select`ed ones (null when absent, `[]` for an
/// absent collection, but unset extension attributes omitted, as Graph does), else the kind's
/// default set: every property the metadata declares for the object's type, unset ones as
/// null or `[]`.
pub(crate) fn project(
    metadata: &Metadata,
    kind: Collection,
    obj: &Obj,
    select: Option<&[String]>,
) -> Obj {
    project_from(metadata, kind, std::borrow::Cow::Borrowed(obj), select)
}

/// [`project`] of an object the caller no longer needs (a decoded copy): its values move
/// into the answer instead of being copied.
pub(crate) fn project_owned(
    metadata: &Metadata,
    kind: Collection,
    obj: Obj,
    select: Option<&[String]>,
) -> Obj {
    project_from(metadata, kind, std::borrow::Cow::Owned(obj), select)
}

fn project_from(
    metadata: &Metadata,
    kind: Collection,
    mut obj: std::borrow::Cow<'_, Obj>,
    select: Option<&[String]>,
) -> Obj {
    // A value out of the object: moved when it is ours, copied when borrowed.
    fn take(obj: &mut std::borrow::Cow<'_, Obj>, name: &str) -> Option<Value> {
        match obj {
            std::borrow::Cow::Borrowed(o) => o.get(name).cloned(),
            std::borrow::Cow::Owned(o) => o.remove(name),
        }
    }
    let mut out = Map::new();
    let odata_type = kind.facts().odata_type;
    let own_type = obj
        .get("@odata.type")
        .and_then(Value::as_str)
        .unwrap_or(odata_type)
        .to_owned();
    let own_type = own_type.as_str();
    match select {
        Some(names) if !names.iter().any(|n| n == "*") => {
            for name in names {
                if out.contains_key(name) {
                    continue; // named twice
                }
                match take(&mut obj, name) {
                    Some(v) => {
                        out.insert(name.clone(), v);
                    }
                    None if name.starts_with("extension_") => {}
                    None if never_returned(odata_type, name) => {}
                    None => {
                        let empty = metadata
                            .find(own_type, name)
                            .map_or(Value::Null, unset_value);
                        out.insert(name.clone(), empty);
                    }
                }
            }
        }
        _ => {
            let schema = rules(odata_type);
            if let Some(defaults) = &schema.default_select {
                for name in defaults.iter() {
                    out.insert(name.to_owned(), take(&mut obj, name).unwrap_or(Value::Null));
                }
                // Derived types carry their @odata.type even in the default set.
                if let Some(t) = take(&mut obj, "@odata.type") {
                    out.insert("@odata.type".into(), t);
                }
                return out;
            }
            let hidden = |k: &str| {
                k.starts_with("extension_")
                    || k == "signInActivity"
                    || schema.single_only.contains(k)
            };
            match obj {
                std::borrow::Cow::Borrowed(o) => out.extend(
                    o.iter()
                        .filter(|(k, _)| !hidden(k))
                        .map(|(k, v)| (k.clone(), v.clone())),
                ),
                std::borrow::Cow::Owned(o) => {
                    out.extend(o.into_iter().filter(|(k, _)| !hidden(k)));
                }
            }
            fill_declared(metadata, own_type, &mut out, |name| {
                name == "signInActivity" || schema.single_only.contains(name)
            });
        }
    }
    out
}

/// The stored properties [`project`] reads to answer `select` (with the `@odata.type` and `id`
/// every caller may need): `None` when it reads them all. Objects are held packed, so a read
/// that decodes only these (`Tenant::get_only`) costs a fraction of a whole decode.
pub(crate) fn projected_properties(
    kind: Collection,
    select: Option<&[String]>,
) -> Option<Vec<String>> {
    let mut names: Vec<String> = match select {
        Some(names) if !names.iter().any(|n| n == "*") => names.to_vec(),
        _ => rules(kind.facts().odata_type)
            .default_select
            .as_ref()?
            .iter()
            .map(|n| n.to_string())
            .collect(),
    };
    names.push("@odata.type".into());
    names.push("id".into());
    Some(names)
}

/// Whether a stored property is one of `names` (top-level names, compared as Graph compares
/// property names: without case).
pub(crate) fn named(names: &[String], property: &str) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(property))
}

/// Adds every property `type_name` declares that `out` lacks (null, or `[]` for a
/// collection), but those `hidden` and those Graph never returns.
pub(crate) fn fill_declared(
    metadata: &Metadata,
    type_name: &str,
    out: &mut Obj,
    hidden: impl Fn(&str) -> bool,
) {
    for p in metadata.structural(type_name) {
        if !out.contains_key(&p.name) && !hidden(&p.name) && !never_returned(type_name, &p.name) {
            out.insert(p.name.clone(), unset_value(p));
        }
    }
}

pub(crate) fn never_returned(odata_type: &str, name: &str) -> bool {
    rules(odata_type).never_returned.contains(name)
}

/// What Graph returns for a declared property with no value: `[]` for a collection, else null.
fn unset_value(p: &crate::metadata::Property) -> Value {
    if p.is_collection() {
        Value::Array(Vec::new())
    } else {
        Value::Null
    }
}

/// `@odata.context` for a collection or entity.
pub(crate) fn context(base: &str, set: &str, select: Option<&[String]>, entity: bool) -> String {
    let mut s = format!("{base}/$metadata#{set}");
    if let Some(select) = select {
        s.push('(');
        s.push_str(&select.join(","));
        s.push(')');
    }
    if entity {
        s.push_str("/$entity");
    }
    s
}

/// Encodes a page or delta token (opaque to clients).
pub(crate) fn encode_token<T: Serialize>(state: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(state).unwrap_or_default())
}

/// Decodes a page or delta token.
///
/// # Errors
/// 400 when the token is not one this emulator issued.
pub(crate) fn decode_token<T: DeserializeOwned>(token: &str) -> GraphResult<T> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            GraphError::bad_request("The specified page token value is invalid or has expired.")
        })
}

/// Percent-encodes a query value, keeping OData's readable characters.
pub(crate) fn pct(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b','
            | b'$'
            | b'\''
            | b'('
            | b')'
            | b':'
            | b'/' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Builds `{base}{path}?{pairs}&$skiptoken={token}`.
pub(crate) fn next_link(base: &str, path: &str, pairs: &[(String, String)], token: &str) -> String {
    let mut url = format!("{base}{path}?");
    for (k, v) in pairs {
        url.push_str(&pct(k));
        url.push('=');
        url.push_str(&pct(v));
        url.push('&');
    }
    url.push_str("$skiptoken=");
    url.push_str(token);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Obj {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn filters_graph_uses_for_directory_objects() {
        let u = obj(
            json!({"id": "1", "displayName": "Adele Vance", "accountEnabled": true,
            "userPrincipalName": "AdeleV@contoso.com", "groupTypes": ["Unified"],
            "createdDateTime": "2026-03-01T10:00:00Z", "employeeOrgData": {"division": "Sales"}}),
        );
        let t = |f: &str| Filter::parse(f).unwrap().matches(&u);
        assert!(t("startswith(displayName,'adele')"));
        assert!(t("userPrincipalName eq 'adelev@contoso.com'"));
        assert!(t("accountEnabled eq true and id in ('0','1')"));
        assert!(t("groupTypes/any(c:c eq 'Unified')"));
        assert!(t("createdDateTime ge 2026-01-01T00:00:00Z"));
        assert!(!t("createdDateTime lt 2026-01-01T00:00:00Z"));
        assert!(t("employeeOrgData/division eq 'Sales' or id eq 'x'"));
        assert!(t("displayName eq 'O''Brien' or (id eq '1')"));
        assert!(Filter::parse("displayName ne 'x'").unwrap().is_advanced());
        assert_eq!(
            Filter::parse("id eq 'a' or id eq 'b'").unwrap().only_ids(),
            Some(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn malformed_filters_are_400_with_the_clause() {
        let err = Filter::parse("displayName eq").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("displayName eq"), "{}", err.message);
        assert!(Filter::parse("startswith(displayName,'x'").is_err());
        assert!(Filter::parse("a foo 'b'").is_err());
    }

    #[test]
    fn top_above_999_is_invalid_page_size() {
        let q = Query::parse("$top=1000", &HeaderMap::new()).unwrap();
        let err = q.page_size(100, MAX_TOP).unwrap_err();
        assert_eq!(
            err.message,
            "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
        );
        assert_eq!(
            Query::parse("$top=999", &HeaderMap::new())
                .unwrap()
                .page_size(100, MAX_TOP)
                .unwrap(),
            999
        );
        assert!(Query::parse("$top=0", &HeaderMap::new()).is_err());
    }
}
