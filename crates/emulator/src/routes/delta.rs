//! Delta queries (docs/graph.md §3; Microsoft Graph `delta-query-overview.md`, `user-delta.md`,
//! `group-delta.md`).
//!
//! A round starts without a token (initial sync: every object) or with a deltaLink token
//! (changes since that token). Pages carry `@odata.nextLink` (`$skiptoken`) until the last,
//! which carries `@odata.deltaLink` (`$deltatoken`); never both. Updated objects come as their
//! id plus the changed properties; deleted ones as `@removed` with reason `changed` (in the
//! recycle bin) or `deleted`. Groups and administrative units selected with `members` carry
//! `members@delta`; a large member list is split across pages. Users selected with `manager`
//! carry `manager@delta` (user-delta.md, "Example 3: Selecting the manager navigation
//! property"), the same way. Tokens older than 7 days of
//! emulated time are refused with 410 `syncStateNotFound`.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::json_response;
use super::read::{Req, extension_names, tenant_of};
use crate::Emulator;
use crate::auth::Caller;
use crate::error::{GraphError, GraphResult};
use crate::kinds::{Collection, LinkKind};
use crate::odata;
use crate::tenant::{ChangeWhat, Tenant};

/// Delta tokens for directory objects live 7 days (Microsoft 365 Developer Blog, "Duration of
/// change tracking tokens for identity and education resources", 2020-07-03).
pub(crate) const DELTA_TOKEN_DAYS: i64 = 7;

/// The state a `$deltatoken` carries.
#[derive(Debug, Serialize, Deserialize)]
struct DeltaToken {
    k: Collection,
    seq: u64,
    issued: i64,
    sel: Option<Vec<String>>,
    ids: Option<Vec<String>>,
}

/// The state a `$skiptoken` carries within a round.
#[derive(Debug, Serialize, Deserialize)]
struct RoundState {
    k: Collection,
    from: Option<u64>,
    to: u64,
    sel: Option<Vec<String>>,
    ids: Option<Vec<String>>,
    /// Last id fully sent.
    after: Option<String>,
    /// A group whose member list was cut at `moff`.
    partial: Option<String>,
    moff: usize,
}

/// The link relationship a kind's delta reports as `{nav}@delta` when `nav` is selected:
/// members of groups, units and roles; the manager of users.
fn member_rel(kind: Collection) -> Option<LinkKind> {
    match kind {
        Collection::Groups => Some(LinkKind::GroupMember),
        Collection::AdministrativeUnits => Some(LinkKind::AdministrativeUnitMember),
        Collection::DirectoryRoles => Some(LinkKind::DirectoryRoleMember),
        Collection::Users => Some(LinkKind::UserManager),
        _ => None,
    }
}

/// The navigation property [`member_rel`] goes by.
fn member_nav(kind: Collection) -> &'static str {
    if kind == Collection::Users {
        "manager"
    } else {
        "members"
    }
}

struct Entry {
    id: String,
    body: Map<String, Value>,
    members: Vec<Value>,
}

/// `GET /{kind}/delta`
pub(crate) async fn delta(
    kind: Collection,
    State(emulator): State<Emulator>,
    caller: Caller,
    req: Req,
) -> GraphResult<Response> {
    caller.require_read(kind)?;
    let Req { mut query, .. } = req;
    let delta_path = kind.facts().delta_path.unwrap_or_default();
    if query.top.is_some() || !query.expand.is_empty() {
        // Graph: user-delta.md / group-delta.md — $top and $expand are not supported.
        return Err(GraphError::unsupported_query(
            "$top and $expand are not supported on delta queries.",
        ));
    }
    let config = emulator.config();
    let now = emulator.clock().now();
    let shared = tenant_of(&emulator, &caller)?;
    let t = shared.read();
    let nav = [member_nav(kind)];
    let members_nav: &[&str] = if member_rel(kind).is_some() {
        &nav
    } else {
        &[]
    };
    let state = if let Some(token) = &query.skiptoken {
        let state: RoundState = odata::decode_token(token)?;
        if state.k != kind {
            return Err(GraphError::bad_request(
                "The skip token was issued for another resource.",
            ));
        }
        state
    } else if let Some(token) = &query.deltatoken {
        if token == "latest" {
            // Graph: "$deltatoken=latest" returns a deltaLink and no data.
            let link = delta_link(
                &caller.base,
                delta_path,
                kind,
                t.seq(),
                now.timestamp(),
                query.select.clone(),
                None,
            );
            return Ok(page_response(
                &caller,
                kind,
                None,
                Vec::new(),
                None,
                Some(link),
            ));
        }
        let token: DeltaToken = odata::decode_token(token)?;
        if token.k != kind {
            return Err(GraphError::bad_request(
                "The delta token was issued for another resource.",
            ));
        }
        if now.timestamp() - token.issued > Duration::days(DELTA_TOKEN_DAYS).num_seconds() {
            // docs/graph.md §3: 410 Gone / syncStateNotFound; the devblog above reports the same
            // code with 400 — a client must treat either as "resync in full".
            return Err(GraphError::new(
                StatusCode::GONE,
                "syncStateNotFound",
                "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
            ));
        }
        RoundState {
            k: kind,
            from: Some(token.seq),
            to: t.seq(),
            sel: token.sel,
            ids: token.ids,
            after: None,
            partial: None,
            moff: 0,
        }
    } else {
        query.check_select(
            &t.metadata,
            kind,
            &extension_names(&t, kind),
            false,
            members_nav,
        )?;
        let ids = match &query.filter {
            None => None,
            Some(f) => Some(f.only_ids().ok_or_else(|| {
                GraphError::unsupported_query(
                    "Only 'id eq' filters are supported on delta queries.",
                )
            })?),
        };
        RoundState {
            k: kind,
            from: None,
            to: t.seq(),
            sel: query.select.clone(),
            ids,
            after: None,
            partial: None,
            moff: 0,
        }
    };

    let page_size = query
        .max_page_size
        .unwrap_or(config.delta_page_size)
        .clamp(1, odata::MAX_TOP);
    // Only the entries this page can hold (plus the resume point and one to know there is
    // more): building a whole round per page would make a round quadratic.
    let minimal = query.return_minimal && emulator.config().honour_return_minimal;
    let entries = entries(&t, kind, &state, page_size + 2, minimal);
    let member_budget = config.delta_members_per_page.max(1);
    let mut page = Vec::new();
    let mut members_sent = 0;
    // The last entry sent whole; a page that cuts a group's member list resumes it next page.
    let mut last_full = state.after.clone();
    let mut next_state = None;
    for entry in entries {
        let resuming = state.partial.as_deref() == Some(entry.id.as_str());
        if !resuming && state.after.as_ref().is_some_and(|a| &entry.id <= a) {
            continue;
        }
        if page.len() == page_size || members_sent >= member_budget {
            next_state = Some((last_full.clone(), None, 0));
            break;
        }
        let offset = if resuming { state.moff } else { 0 };
        let mut body = if resuming {
            // The rest of a split group: its id and the remaining members.
            let mut m = Map::new();
            m.insert("id".into(), Value::String(entry.id.clone()));
            m
        } else {
            entry.body
        };
        let rest = &entry.members[offset.min(entry.members.len())..];
        let room = member_budget - members_sent;
        let sent = rest.len().min(room);
        if !entry.members.is_empty() {
            body.insert(
                format!("{}@delta", member_nav(kind)),
                Value::Array(rest[..sent].to_vec()),
            );
        }
        members_sent += sent;
        page.push(Value::Object(body));
        if sent < rest.len() {
            next_state = Some((last_full.clone(), Some(entry.id), offset + sent));
            break;
        }
        last_full = Some(entry.id);
    }
    let items = page;
    let response = match next_state {
        Some((after, partial, moff)) => {
            let next = RoundState {
                after,
                partial,
                moff,
                ..state
            };
            let link = format!(
                "{}{}?$skiptoken={}",
                caller.base,
                delta_path,
                odata::encode_token(&next)
            );
            page_response(&caller, kind, next.sel.as_deref(), items, Some(link), None)
        }
        None => {
            let link = delta_link(
                &caller.base,
                delta_path,
                kind,
                state.to,
                now.timestamp(),
                state.sel.clone(),
                state.ids.clone(),
            );
            page_response(&caller, kind, state.sel.as_deref(), items, None, Some(link))
        }
    };
    Ok(response)
}

fn delta_link(
    base: &str,
    path: &str,
    kind: Collection,
    seq: u64,
    issued: i64,
    sel: Option<Vec<String>>,
    ids: Option<Vec<String>>,
) -> String {
    let token = DeltaToken {
        k: kind,
        seq,
        issued,
        sel,
        ids,
    };
    format!("{base}{path}?$deltatoken={}", odata::encode_token(&token))
}

fn page_response(
    caller: &Caller,
    kind: Collection,
    select: Option<&[String]>,
    items: Vec<Value>,
    next: Option<String>,
    delta: Option<String>,
) -> Response {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(odata::context(&caller.base, kind.name(), select, false)),
    );
    if let Some(n) = next {
        body.insert("@odata.nextLink".into(), Value::String(n));
    }
    if let Some(d) = delta {
        body.insert("@odata.deltaLink".into(), Value::String(d));
    }
    body.insert("value".into(), Value::Array(items));
    json_response(StatusCode::OK, Value::Object(body))
}

fn member_ref(t: &Tenant, id: &str, removed: bool) -> Value {
    let ty = t
        .kind_of(id)
        .map(|k| format!("#{}", k.facts().odata_type))
        .unwrap_or_else(|| "#microsoft.graph.directoryObject".into());
    if removed {
        json!({"@odata.type": ty, "id": id, "@removed": {"reason": "deleted"}})
    } else {
        json!({"@odata.type": ty, "id": id})
    }
}

/// The entries of a round, in id order.
/// The entries of a round, in id order. An updated object is returned whole (every selected
/// property, or the default set) unless the caller sent `Prefer: return=minimal`, when only
/// its changed properties come (api/user-delta.md, api/group-delta.md: "Optional request
/// headers"); either way its `members@delta` names only the members that changed.
fn entries(
    t: &Tenant,
    kind: Collection,
    state: &RoundState,
    limit: usize,
    minimal: bool,
) -> Vec<Entry> {
    let start = state
        .partial
        .as_deref()
        .or(state.after.as_deref())
        .unwrap_or("");
    let sel = state.sel.as_deref();
    let nav = member_nav(kind);
    let with_members = member_rel(kind).filter(|_| sel.is_some_and(|s| s.iter().any(|p| p == nav)));
    let props: Option<Vec<String>> = sel.map(|s| s.iter().filter(|p| *p != nav).cloned().collect());
    let wanted = |id: &str| {
        state
            .ids
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|i| i == id))
    };
    let full = |id: &str, obj: crate::tenant::Obj| -> Entry {
        // Every delta entry carries its id, whatever $select says.
        let mut body = Map::new();
        body.insert("id".into(), Value::String(id.to_owned()));
        body.extend(crate::odata::project_owned(
            &t.metadata,
            kind,
            obj,
            props.as_deref(),
        ));
        let members = with_members
            .and_then(|rel| t.links(rel, id))
            .map(|m| m.iter().map(|x| member_ref(t, x, false)).collect())
            .unwrap_or_default();
        Entry {
            id: id.to_owned(),
            body,
            members,
        }
    };
    let Some(from) = state.from else {
        // Decode only what the projection reads.
        let needed = crate::odata::projected_properties(kind, props.as_deref());
        let keep = |p: &str| needed.as_ref().is_none_or(|n| crate::odata::named(n, p));
        return t
            .objects(kind)
            .into_iter()
            .flat_map(|m| {
                m.range_only::<str, _>(
                    (std::ops::Bound::Included(start), std::ops::Bound::Unbounded),
                    &keep,
                )
            })
            .filter(|(id, _)| wanted(id))
            .take(limit)
            .map(|(id, obj)| full(id, obj))
            .collect();
    };
    #[derive(Default)]
    struct Fold {
        created: bool,
        removed: bool,
        props: BTreeSet<String>,
        members: BTreeSet<String>,
    }
    let mut folded: BTreeMap<&str, Fold> = BTreeMap::new();
    for change in t.changes(from, state.to) {
        if change.kind != kind || !wanted(&change.id) {
            continue;
        }
        let f = folded.entry(change.id.as_str()).or_default();
        match &change.what {
            ChangeWhat::Created => {
                f.created = true;
                f.removed = false;
            }
            ChangeWhat::Updated(p) => f.props.extend(p.iter().cloned()),
            ChangeWhat::Removed { .. } => f.removed = true,
            ChangeWhat::LinkAdded(rel, target) | ChangeWhat::LinkRemoved(rel, target) => {
                if Some(*rel) == member_rel(kind) {
                    f.members.insert(target.clone());
                }
            }
        }
    }
    let default_props: Option<Vec<String>> = crate::rules::rules(kind.facts().odata_type)
        .default_select
        .as_ref()
        .map(|d| d.iter().map(str::to_owned).collect());
    let mut out = Vec::new();
    for (id, f) in folded {
        if id < start {
            continue;
        }
        if out.len() >= limit {
            break;
        }
        match t.get(kind, id) {
            Some(obj) if f.created => out.push(full(id, obj)),
            Some(obj) => {
                // An update: the id and the changed properties the caller asked about. With
                // $select, only changes to selected properties are tracked (delta-query-overview.md).
                let visible = props.as_ref().or(default_props.as_ref());
                let changed: Vec<&String> = f
                    .props
                    .iter()
                    .filter(|p| {
                        visible.is_none_or(|v| v.contains(p))
                            && (visible.is_some() || !p.starts_with("extension_"))
                    })
                    .collect();
                let members: Vec<Value> = match with_members {
                    Some(rel) => f
                        .members
                        .iter()
                        .map(|m| member_ref(t, m, !t.links(rel, id).is_some_and(|s| s.contains(m))))
                        .collect(),
                    None => Vec::new(),
                };
                if changed.is_empty() && members.is_empty() {
                    continue;
                }
                let body = if minimal {
                    let mut body = Map::new();
                    body.insert("id".into(), Value::String(id.to_owned()));
                    for p in changed {
                        body.insert(p.clone(), obj.get(p).cloned().unwrap_or(Value::Null));
                    }
                    body
                } else {
                    full(id, obj).body
                };
                out.push(Entry {
                    id: id.to_owned(),
                    body,
                    members,
                });
            }
            None if f.created => {}
            None if f.removed => {
                let reason = if t.deleted_item(id).is_some() {
                    "changed"
                } else {
                    "deleted"
                };
                let body = json!({"@odata.type": format!("#{}", kind.facts().odata_type), "id": id, "@removed": {"reason": reason}});
                out.push(Entry {
                    id: id.to_owned(),
                    body: body.as_object().cloned().unwrap_or_default(),
                    members: Vec::new(),
                });
            }
            None => {}
        }
    }
    out
}
