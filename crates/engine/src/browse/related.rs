//! What a principal is related to as of a snapshot: its memberships and ownerships, its
//! directory roles, and its authentication methods.

use super::*;

/// A related object, with its name as of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Related {
    /// What the relationship is.
    pub relationship: dirvault_model::RelationshipKind,
    /// The other object.
    pub id: ObjectId,
    /// Its name.
    pub name: Option<String>,
    /// Where a role assignment applies (`/` or `/administrativeUnits/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The names of every object of `kinds` in a snapshot.
impl Related {
    /// The source of `r`, named from `names`, with the scope of a role assignment when
    /// `scoped`.
    fn source_of(
        r: dirvault_model::Relationship,
        names: &std::collections::BTreeMap<ObjectId, Option<dirvault_store::Text>>,
        scoped: bool,
    ) -> Related {
        Related {
            relationship: r.kind,
            name: names
                .get(&r.source)
                .and_then(|n| n.as_deref())
                .map(str::to_owned),
            scope: scoped
                .then(|| r.directory_scope_id().map(str::to_owned))
                .flatten(),
            id: r.source,
        }
    }
}

pub(super) async fn names(
    repo: &Repository,
    snapshot: &Snapshot,
    kinds: &[ObjectKind],
) -> Result<std::collections::BTreeMap<ObjectId, Option<dirvault_store::Text>>> {
    let mut out = std::collections::BTreeMap::new();
    for kind in kinds {
        out.extend(
            repo.manifest(snapshot, *kind)
                .await?
                .into_iter()
                .map(|e| (e.id, e.name)),
        );
    }
    Ok(out)
}

/// What `principal` is a member or owner of as of `snapshot`: groups, administrative units,
/// directory roles, and the objects it owns.
///
/// # Errors
/// Store errors.
pub async fn memberships(
    repo: &Repository,
    snapshot: &Snapshot,
    principal: &ObjectId,
) -> Result<Vec<Related>> {
    use dirvault_model::RelationshipKind as R;
    let names = names(
        repo,
        snapshot,
        &[
            ObjectKind::Groups,
            ObjectKind::AdministrativeUnits,
            ObjectKind::DirectoryRoles,
            ObjectKind::Applications,
            ObjectKind::ServicePrincipals,
            ObjectKind::Devices,
        ],
    )
    .await?;
    Ok(repo
        .relationships(snapshot)
        .await?
        .into_iter()
        .filter(|r| {
            &r.target == principal
                && matches!(
                    r.kind,
                    R::GroupMember
                        | R::GroupOwner
                        | R::AdministrativeUnitMember
                        | R::DirectoryRoleMember
                        | R::ApplicationOwner
                        | R::ServicePrincipalOwner
                        | R::DeviceRegisteredOwner
                        | R::DeviceRegisteredUser
                )
        })
        .map(|r| Related::source_of(r, &names, false))
        .collect())
}

/// The directory roles `principal` holds as of `snapshot`: active assignments (with their
/// scope) and PIM eligibilities, by role definition.
///
/// # Errors
/// Store errors.
pub async fn roles(
    repo: &Repository,
    snapshot: &Snapshot,
    principal: &ObjectId,
) -> Result<Vec<Related>> {
    use dirvault_model::RelationshipKind as R;
    let names = names(repo, snapshot, &[ObjectKind::RoleDefinitions]).await?;
    Ok(repo
        .relationships(snapshot)
        .await?
        .into_iter()
        .filter(|r| {
            &r.target == principal && matches!(r.kind, R::RoleAssignment | R::RoleEligibility)
        })
        .map(|r| Related::source_of(r, &names, true))
        .collect())
}

/// A user's authentication methods as of `snapshot` (metadata only: no secret is ever backed
/// up), exactly as Graph listed them.
///
/// # Errors
/// [`NotFound`] (as [`Error::NotFound`]) when the snapshot holds none for the user; store errors.
pub async fn auth_methods(
    repo: &Repository,
    snapshot: &Snapshot,
    user: &ObjectId,
) -> Result<Vec<serde_json::Value>> {
    let entry = version_at(repo, snapshot, ObjectKind::AuthenticationMethods, user)
        .await?
        .ok_or_else(|| {
            Error::from(NotFound::AuthMethods {
                user: user.clone(),
                snapshot: snapshot.id.clone(),
            })
        })?;
    let envelope = load(repo, snapshot, ObjectKind::AuthenticationMethods, &entry).await?;
    Ok(envelope
        .get("value")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default())
}
