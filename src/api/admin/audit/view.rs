//! An audit entry as the API shows it, with a structured diff of each record change.

use serde_json::{Value, json};

use crate::cache::document::iso_timestamp;
use crate::store::audit::{AuditRecord, hex};

fn parsed(text: Option<&String>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

pub fn entry(e: &AuditRecord) -> Value {
    json!({
        "seq": e.seq,
        "at": iso_timestamp(e.at),
        "actor": {"kind": e.actor_kind, "id": e.actor_id, "name": e.actor_name},
        "source": e.source,
        "user_agent": e.user_agent,
        "request_id": e.request_id,
        "project_id": e.project_id,
        "environment_id": e.environment_id,
        "action": e.action,
        "target": e.target,
        "changes": e.changes.iter().map(|c| {
            let (before, after) = (parsed(c.before.as_ref()), parsed(c.after.as_ref()));
            let mut diff = Vec::new();
            differences("", &before, &after, &mut diff);
            json!({"kind": c.kind, "id": c.id, "before": before, "after": after, "diff": diff})
        }).collect::<Vec<_>>(),
        "detail": parsed(e.detail.as_ref()),
        "prev_hash": hex(&e.prev_hash),
        "hash": hex(&e.hash),
    })
}

/// Every leaf that differs, as `{path, before, after}` with a JSON-pointer path: rule trees
/// and override lists show exactly which condition or weight changed.
pub fn differences(path: &str, before: &Value, after: &Value, out: &mut Vec<Value>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let child = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                differences(&child, a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for index in 0..a.len().max(b.len()) {
                let child = format!("{path}/{index}");
                differences(&child, a.get(index).unwrap_or(&Value::Null), b.get(index).unwrap_or(&Value::Null), out);
            }
        }
        _ if before != after => out.push(json!({"path": if path.is_empty() { "/" } else { path }, "before": before, "after": after})),
        _ => {}
    }
}

/// Cells that a spreadsheet would run as a formula are prefixed with `'`.
fn csv_cell(text: &str) -> String {
    let safe = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if safe.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", safe.replace('"', "\"\""))
    } else {
        safe
    }
}

pub const CSV_HEADER: &str = "seq,at,actor_kind,actor_id,actor_name,source,user_agent,request_id,project_id,environment_id,action,target,changes,detail,prev_hash,hash\n";

pub fn csv_row(e: &AuditRecord) -> String {
    let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    let changes = serde_json::to_string(&entry(e)["changes"]).unwrap_or_default();
    let cells = [
        e.seq.to_string(),
        iso_timestamp(e.at),
        e.actor_kind.clone(),
        opt(e.actor_id),
        e.actor_name.clone(),
        e.source.clone().unwrap_or_default(),
        e.user_agent.clone().unwrap_or_default(),
        e.request_id.clone(),
        opt(e.project_id),
        opt(e.environment_id),
        e.action.clone(),
        e.target.clone(),
        changes,
        e.detail.clone().unwrap_or_default(),
        hex(&e.prev_hash),
        hex(&e.hash),
    ];
    let mut row = cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",");
    row.push('\n');
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_name_the_changed_leaf() {
        let before =
            json!({"rules": [{"type": "ALL", "conditions": [{"value": "pro"}]}], "name": "x"});
        let after = json!({"rules": [{"type": "ALL", "conditions": [{"value": "max"}, {"value": "new"}]}], "name": "x"});
        let mut out = Vec::new();
        differences("", &before, &after, &mut out);
        assert_eq!(
            out,
            vec![
                json!({"path": "/rules/0/conditions/0/value", "before": "pro", "after": "max"}),
                json!({"path": "/rules/0/conditions/1", "before": null, "after": {"value": "new"}}),
            ]
        );
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
    }
}
