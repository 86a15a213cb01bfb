//! The one conversion of segment rules between their four forms: the admin API's JSON, the
//! stored records, the engine's model (what is evaluated) and Flagsmith's document form.
//!
//! Every form carries the same information, so the conversions are exact: a condition
//! without a value stays without one everywhere (the engine's `Null`, the document's
//! `null`), never silently becoming `""`. Validation runs on the engine's form, so a write
//! is checked against exactly what will be evaluated.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine::validate::{ValidationIssue, validate_segment};
use crate::flagsmith::context::RuleKindWire;
use crate::flagsmith::document::{ConditionDocument, RuleDocument};
use crate::model::{Condition, ConditionValue, Operator, Rule, RuleKind, Segment};
use crate::store::records::{ConditionRecord, RuleRecord, StoredRuleKind};

/// A rule as the admin API takes and shows it (from a JSON object only: serde would also
/// take an array of the fields in order).
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "crate::json::Object<RuleFields>")]
pub struct RuleJson {
    /// `type`: ALL, ANY or NONE.
    pub kind: String,
    pub conditions: Vec<ConditionJson>,
    pub rules: Vec<RuleJson>,
}

/// A condition as the admin API takes and shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "crate::json::Object<ConditionFields>")]
pub struct ConditionJson {
    pub property: String,
    pub operator: String,
    pub value: Option<String>,
}

/// The fields of a [`RuleJson`], read from an object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFields {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    conditions: Vec<ConditionJson>,
    #[serde(default)]
    rules: Vec<RuleJson>,
}

impl From<crate::json::Object<RuleFields>> for RuleJson {
    fn from(crate::json::Object(f): crate::json::Object<RuleFields>) -> Self {
        Self {
            kind: f.kind,
            conditions: f.conditions,
            rules: f.rules,
        }
    }
}

/// The fields of a [`ConditionJson`], read from an object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionFields {
    #[serde(default)]
    property: String,
    operator: String,
    #[serde(default)]
    value: Option<String>,
}

impl From<crate::json::Object<ConditionFields>> for ConditionJson {
    fn from(crate::json::Object(f): crate::json::Object<ConditionFields>) -> Self {
        Self {
            property: f.property,
            operator: f.operator,
            value: f.value,
        }
    }
}

fn kind_from_text(text: &str) -> Result<StoredRuleKind, String> {
    match text {
        "ALL" => Ok(StoredRuleKind::All),
        "ANY" => Ok(StoredRuleKind::Any),
        "NONE" => Ok(StoredRuleKind::None),
        other => Err(format!("rule type must be ALL, ANY or NONE, not {other:?}")),
    }
}

fn kind_text(kind: StoredRuleKind) -> &'static str {
    match kind {
        StoredRuleKind::All => "ALL",
        StoredRuleKind::Any => "ANY",
        StoredRuleKind::None => "NONE",
    }
}

/// Admin JSON → records; refuses an unknown rule type.
pub fn from_json(rules: &[RuleJson]) -> Result<Vec<RuleRecord>, String> {
    rules
        .iter()
        .map(|rule| {
            Ok(RuleRecord {
                kind: kind_from_text(&rule.kind)?,
                conditions: rule
                    .conditions
                    .iter()
                    .map(|c| ConditionRecord {
                        property: c.property.clone(),
                        operator: c.operator.clone(),
                        value: c.value.clone(),
                    })
                    .collect(),
                rules: from_json(&rule.rules)?,
            })
        })
        .collect()
}

/// Records → admin JSON.
pub fn to_json(rule: &RuleRecord) -> Value {
    json!({
        "type": kind_text(rule.kind),
        "conditions": rule.conditions.iter().map(|c| json!({
            "property": c.property, "operator": c.operator, "value": c.value,
        })).collect::<Vec<_>>(),
        "rules": rule.rules.iter().map(to_json).collect::<Vec<_>>(),
    })
}

/// Records → the engine's model: what is evaluated.
pub fn to_engine(rule: &RuleRecord) -> Rule {
    Rule {
        kind: match rule.kind {
            StoredRuleKind::All => RuleKind::All,
            StoredRuleKind::Any => RuleKind::Any,
            StoredRuleKind::None => RuleKind::None,
        },
        conditions: rule
            .conditions
            .iter()
            .map(|c| Condition {
                property: c.property.clone(),
                operator: Operator::parse(&c.operator),
                value: c
                    .value
                    .clone()
                    .map_or(ConditionValue::Null, ConditionValue::Text),
            })
            .collect(),
        rules: rule.rules.iter().map(to_engine).collect(),
    }
}

/// Records → Flagsmith's document form (what local-evaluation SDKs evaluate).
pub fn to_document(rule: &RuleRecord) -> RuleDocument {
    RuleDocument {
        kind: match rule.kind {
            StoredRuleKind::All => RuleKindWire::All,
            StoredRuleKind::Any => RuleKindWire::Any,
            StoredRuleKind::None => RuleKindWire::None,
        },
        rules: rule.rules.iter().map(to_document).collect(),
        conditions: rule
            .conditions
            .iter()
            .map(|c| ConditionDocument {
                operator: c.operator.clone(),
                property: Some(c.property.clone()),
                value: c.value.clone(),
            })
            .collect(),
    }
}

/// Flagsmith's document form → records (imports). A missing property is the empty one, as
/// every Flagsmith engine reads it.
pub fn from_document(rule: &RuleDocument) -> RuleRecord {
    RuleRecord {
        kind: match rule.kind {
            RuleKindWire::All => StoredRuleKind::All,
            RuleKindWire::Any => StoredRuleKind::Any,
            RuleKindWire::None => StoredRuleKind::None,
        },
        conditions: rule
            .conditions
            .iter()
            .map(|c| ConditionRecord {
                property: c.property.clone().unwrap_or_default(),
                operator: c.operator.clone(),
                value: c.value.clone(),
            })
            .collect(),
        rules: rule.rules.iter().map(from_document).collect(),
    }
}

/// Flagsmith's document form → the engine's model, through the records, so a document
/// evaluates exactly as the same rules stored would.
pub fn document_to_engine(rule: &RuleDocument) -> Rule {
    to_engine(&from_document(rule))
}

/// Checks rules strictly, in the form that will be evaluated.
pub fn validate(name: &str, rules: &[RuleRecord]) -> Vec<ValidationIssue> {
    validate_segment(&Segment {
        id: None,
        key: String::new(),
        name: name.to_owned(),
        rules: rules.iter().map(to_engine).collect(),
        overrides: vec![],
        metadata: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sample() -> Vec<RuleRecord> {
        let json: Vec<RuleJson> = serde_json::from_value(json!([{"type": "ALL", "rules": [
            {"type": "ANY", "conditions": [
                {"property": "plan", "operator": "EQUAL", "value": "pro"},
                {"property": "email", "operator": "IS_SET", "value": null},
                {"property": "", "operator": "PERCENTAGE_SPLIT", "value": "30"}
            ]},
            {"type": "NONE", "conditions": [{"property": "age", "operator": "LESS_THAN", "value": "18"}]}
        ]}]))
        .unwrap();
        from_json(&json).unwrap()
    }

    #[test]
    fn every_form_carries_the_same_rules() {
        let records = sample();
        let back: Vec<RuleJson> =
            serde_json::from_value(Value::Array(records.iter().map(to_json).collect())).unwrap();
        assert_eq!(from_json(&back).unwrap(), records, "JSON round trip");
        let documents: Vec<RuleDocument> = records.iter().map(to_document).collect();
        let text = serde_json::to_string(&documents).unwrap();
        let documents: Vec<RuleDocument> = serde_json::from_str(&text).unwrap();
        let again: Vec<RuleRecord> = documents.iter().map(from_document).collect();
        assert_eq!(again, records, "document round trip");
        for (document, record) in documents.iter().zip(&records) {
            assert_eq!(document_to_engine(document), to_engine(record));
        }
    }

    #[test]
    fn a_missing_value_stays_missing_in_every_form() {
        let records = sample();
        let condition = &records[0].rules[0].conditions[1];
        assert_eq!(condition.value, None);
        assert_eq!(
            to_engine(&records[0]).rules[0].conditions[1].value,
            ConditionValue::Null
        );
        assert_eq!(to_document(&records[0]).rules[0].conditions[1].value, None);
    }

    #[test]
    fn validation_checks_what_is_evaluated() {
        assert!(validate("ok", &sample()).is_empty());
        let missing: Vec<RuleJson> = serde_json::from_value(json!([{"type": "ALL",
            "conditions": [{"property": "plan", "operator": "EQUAL", "value": null}]}]))
        .unwrap();
        let issues = validate("bad", &from_json(&missing).unwrap());
        assert_eq!(issues[0].code, "missing_value");
        let unknown: Vec<RuleJson> = serde_json::from_value(json!([{"type": "SOME"}])).unwrap();
        assert!(from_json(&unknown).is_err());
    }
}
