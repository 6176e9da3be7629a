//! Directory audit events, written as Entra writes them for every directory change.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Tenant;
use crate::clock::graph_time;
use crate::kinds::Collection;

impl Tenant {
    /// Writes a directory audit event, as Entra does for every directory change
    /// (learn.microsoft.com/graph/api/resources/directoryaudit; activity names from
    /// learn.microsoft.com/entra/identity/monitoring-health/reference-audit-activities).
    /// `targets` are `(id, displayName, type)`.
    pub fn audit(
        &mut self,
        category: &str,
        activity: &str,
        operation: &str,
        initiated_by: Value,
        targets: &[(&str, Value, &str)],
        now: DateTime<Utc>,
    ) {
        let correlation = uuid::Uuid::new_v4().to_string();
        let targets: Vec<Value> = targets
            .iter()
            .map(|(id, name, ty)| {
                serde_json::json!({"id": id, "displayName": name, "type": ty,
                    "userPrincipalName": null, "groupType": null, "modifiedProperties": []})
            })
            .collect();
        let event = serde_json::json!({
            "id": format!("Directory_{correlation}_{}", self.seq() + 1),
            "category": category,
            "correlationId": correlation,
            "result": "success",
            "resultReason": "",
            "activityDisplayName": activity,
            "activityDateTime": graph_time(now),
            "loggedByService": "Core Directory",
            "operationType": operation,
            "initiatedBy": initiated_by,
            "targetResources": targets,
            "additionalDetails": [],
        });
        if let Value::Object(event) = event {
            let _ = self.insert(Collection::DirectoryAudits, event);
        }
    }
}
