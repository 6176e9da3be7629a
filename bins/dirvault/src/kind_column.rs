//! Lines that begin with a kind's name, lined up in a column as wide as the longest name
//! (`identitySecurityDefaultsEnforcementPolicy`).

use dirvault_model::ObjectKind;

/// `kind`'s name, padded to the column's width.
pub(crate) fn kind_cell(kind: ObjectKind) -> String {
    format!("{:<w$}", kind.name(), w = ObjectKind::name_width())
}

/// One kind's line of a diff: its counts, or that nothing changed.
pub(crate) fn changes_line(kind: ObjectKind, c: &dirvault_engine::KindChanges) -> String {
    if c.is_empty() {
        return format!("  {} no changes", kind_cell(kind));
    }
    format!(
        "  {} {} created, {} modified, {} deleted",
        kind_cell(kind),
        c.created.len(),
        c.modified.len(),
        c.deleted.len()
    )
}
