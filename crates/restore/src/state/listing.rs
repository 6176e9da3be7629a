//! Large selections: a kind listed once instead of one lookup per object.
//!
//! Looking up 100,000 users by id, then by UPN, then in the recycle bin is 300,000 requests
//! (15,000 `$batch`es); listing the users is 100 pages of 999 (`$top` up to 999:
//! api/user-list.md, api/directory-deleteditems-list.md). From [`LIST_KIND_FROM`] objects of
//! a kind on, the kind is listed and each object's lookups are answered from the listing in
//! the same order, with the same rules ([`matched`]). Where a read by id returns more than a
//! list does (single-object-only properties), an object the listing shows is then read by id
//! exactly as before, so the object found is the same either way.

use futures::TryStreamExt;

use super::*;

/// Objects of one kind to look up from which the kind is listed instead.
pub(super) const LIST_KIND_FROM: usize = 1_000;

/// Graph's largest page (`$top`) for directory object collections (api/user-list.md).
const TOP: usize = 999;

/// Kinds whose collection lists every object with the properties a filtered lookup returns.
const LISTABLE: [ObjectKind; 6] = [
    ObjectKind::Users,
    ObjectKind::Groups,
    ObjectKind::Applications,
    ObjectKind::ServicePrincipals,
    ObjectKind::Devices,
    ObjectKind::AdministrativeUnits,
];

/// The property a lookup's key is.
fn key_property(by: MatchedBy) -> Option<&'static str> {
    match by {
        MatchedBy::UserPrincipalName => Some("userPrincipalName"),
        MatchedBy::AppId => Some("appId"),
        MatchedBy::Name => Some("displayName"),
        MatchedBy::Id | MatchedBy::Singleton => None,
    }
}

/// `$filter … eq` on these strings ignores case, as does [`matched`].
fn fold(key: &str) -> String {
    key.to_lowercase()
}

/// The items of a listing that some lookup asks for (the rest is dropped as it streams by).
#[derive(Default)]
struct Listed {
    /// Ids (lowercase) asked for and listed, with the item when the listing is the read.
    ids: HashMap<String, Option<Value>>,
    by_key: HashMap<(MatchedBy, String), Vec<Value>>,
}

/// Lists `url` and keeps what the lookups of `objects` ask for.
async fn list_for(
    client: &GraphClient,
    url: &str,
    objects: &[(&DirectoryObject, Vec<Lookup>)],
    listing_is_the_read: bool,
) -> Result<Listed> {
    let mut wanted_ids = HashSet::new();
    let mut wanted_keys: HashMap<&'static str, (MatchedBy, HashSet<String>)> = HashMap::new();
    for lookup in objects.iter().flat_map(|(_, l)| l) {
        match key_property(lookup.by) {
            None => {
                wanted_ids.insert(lookup.key.to_lowercase());
            }
            Some(property) => {
                let (_, keys) = wanted_keys
                    .entry(property)
                    .or_insert_with(|| (lookup.by, HashSet::new()));
                keys.insert(fold(&lookup.key));
            }
        }
    }
    let mut listed = Listed::default();
    let mut pages = std::pin::pin!(client.pages(url));
    while let Some(page) = pages.try_next().await? {
        for item in page.items {
            if let Some(id) = item.get("id").and_then(Value::as_str)
                && wanted_ids.contains(&id.to_lowercase())
            {
                let kept = listing_is_the_read.then(|| item.clone());
                listed.ids.insert(id.to_lowercase(), kept);
            }
            for (property, (by, keys)) in &wanted_keys {
                if let Some(key) = item.get(*property).and_then(Value::as_str).map(fold)
                    && keys.contains(&key)
                {
                    listed
                        .by_key
                        .entry((*by, key))
                        .or_default()
                        .push(item.clone());
                }
            }
        }
    }
    Ok(listed)
}

/// Answers the lookups of large kinds from one listing each, into `state.found` and
/// `state.ambiguous`; gives back what still needs a lookup (small kinds, and objects the
/// listing shows by id whose full read is by id).
pub(super) async fn answer_from_listings<'o>(
    client: &GraphClient,
    pending: Vec<(&'o DirectoryObject, Vec<Lookup>)>,
    state: &mut CurrentState,
) -> Result<Vec<(&'o DirectoryObject, Vec<Lookup>)>> {
    let mut by_kind: BTreeMap<ObjectKind, Vec<(&DirectoryObject, Vec<Lookup>)>> = BTreeMap::new();
    for entry in pending {
        by_kind.entry(entry.0.kind()).or_default().push(entry);
    }
    let mut rest = Vec::new();
    for (kind, objects) in by_kind {
        let Some(path) = collection(kind) else {
            rest.extend(objects);
            continue;
        };
        if objects.len() < LIST_KIND_FROM || !LISTABLE.contains(&kind) {
            rest.extend(objects);
            continue;
        }
        let list_select = select(kind, false);
        let url = if list_select.is_empty() {
            format!("{path}?$top={TOP}")
        } else {
            format!("{path}{list_select}&$top={TOP}")
        };
        // A read by id returns no more than the listing: the listing is the answer.
        let listing_is_the_read = list_select == select(kind, true);
        let listed = list_for(client, &url, &objects, listing_is_the_read).await?;
        for (object, lookups) in objects {
            answer(object, lookups, &listed, state, &mut rest);
        }
    }
    Ok(rest)
}

/// One object's lookups, in order, against a listing.
fn answer<'o>(
    object: &'o DirectoryObject,
    mut lookups: Vec<Lookup>,
    listed: &Listed,
    state: &mut CurrentState,
    rest: &mut Vec<(&'o DirectoryObject, Vec<Lookup>)>,
) {
    while let Some(first) = lookups.first() {
        let (by, key) = (first.by, first.key.clone());
        let answer = match by {
            MatchedBy::Id => match listed.ids.get(&key.to_lowercase()) {
                None => {
                    lookups.remove(0);
                    continue;
                }
                Some(Some(item)) => item.clone(),
                Some(None) => {
                    // Read by id, as without a listing, with the later lookups behind it
                    // (it may be gone by then).
                    rest.push((object, lookups));
                    return;
                }
            },
            _ => json!({
                "value": listed.by_key.get(&(by, fold(&key))).cloned().unwrap_or_default()
            }),
        };
        lookups.remove(0);
        match matched(object.kind(), &answer, by, &key) {
            Ok(Some(live)) => {
                state.found.insert(
                    object.id().clone(),
                    Found {
                        object: live,
                        matched_by: by,
                    },
                );
                return;
            }
            Ok(None) => {}
            Err(reason) => {
                state.ambiguous.insert(object.id().clone(), reason);
                return;
            }
        }
    }
}

/// The recycle bin's type cast for a kind (api/directory-deleteditems-list.md).
fn deleted_items_cast(kind: ObjectKind) -> Option<&'static str> {
    Some(match kind {
        ObjectKind::Users => "microsoft.graph.user",
        ObjectKind::Groups => "microsoft.graph.group",
        ObjectKind::Applications => "microsoft.graph.application",
        ObjectKind::ServicePrincipals => "microsoft.graph.servicePrincipal",
        ObjectKind::AdministrativeUnits => "microsoft.graph.administrativeUnit",
        _ => return None,
    })
}

/// Of `missing`, those that may be in the recycle bin: for large kinds, the ones its listing
/// shows (then read by id as before); for small kinds, all of them.
pub(super) async fn maybe_in_recycle_bin<'o>(
    client: &GraphClient,
    missing: Vec<&'o DirectoryObject>,
) -> Result<Vec<&'o DirectoryObject>> {
    let mut by_kind: BTreeMap<ObjectKind, Vec<&DirectoryObject>> = BTreeMap::new();
    for object in missing {
        by_kind.entry(object.kind()).or_default().push(object);
    }
    let mut out = Vec::new();
    for (kind, objects) in by_kind {
        let Some(cast) = deleted_items_cast(kind).filter(|_| objects.len() >= LIST_KIND_FROM)
        else {
            out.extend(objects);
            continue;
        };
        let url = format!("/directory/deletedItems/{cast}?$select=id&$top={TOP}");
        let mut deleted = HashSet::new();
        let mut pages = std::pin::pin!(client.pages(&url));
        while let Some(page) = pages.try_next().await? {
            deleted.extend(
                page.items
                    .iter()
                    .filter_map(|i| i.get("id").and_then(Value::as_str))
                    .map(str::to_lowercase),
            );
        }
        out.extend(
            objects
                .into_iter()
                .filter(|o| deleted.contains(&o.id().as_str().to_lowercase())),
        );
    }
    Ok(out)
}
