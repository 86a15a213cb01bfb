//! Strict validation for writes and imports: everything Flagsmith would fail on at
//! evaluation time, and everything that is almost surely a mistake, rejected up front.
//! Evaluation itself stays lenient (exactly as Flagsmith) for documents already stored.

use std::fmt;

use crate::model::{
    Condition, ConditionValue, Environment, FeatureState, Operator, OverridePriority, Rule, Segment,
};

use super::pattern::PyPattern;
use super::python::py_float;
use super::semver::Version;

/// Longest accepted condition value and property (Flagsmith's limits).
pub const MAX_CONDITION_VALUE_LEN: usize = 1000;
pub const MAX_PROPERTY_LEN: usize = 1000;
/// Deepest accepted rule nesting.
pub const MAX_RULE_DEPTH: usize = 10;

/// One problem, with a stable code and where it is (`rules[0].conditions[2]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    pub code: &'static str,
    pub path: String,
    pub message: String,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Checks a whole environment: every segment and every feature state.
pub fn validate_environment(environment: &Environment) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    for (i, state) in environment.features.iter().enumerate() {
        check_state(state, &format!("features[{i}]"), &mut issues);
    }
    for (i, segment) in environment.segments.iter().enumerate() {
        issues.extend(validate_segment(segment).into_iter().map(|mut issue| {
            issue.path = format!("segments[{i}] ({:?}).{}", segment.name, issue.path);
            issue
        }));
    }
    for (i, identity) in environment.identity_overrides.iter().enumerate() {
        for (j, state) in identity.overrides.iter().enumerate() {
            check_state(
                state,
                &format!("identity_overrides[{i}].overrides[{j}]"),
                &mut issues,
            );
        }
    }
    issues
}

/// Checks one segment's rules and overrides.
pub fn validate_segment(segment: &Segment) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    if segment.name.trim().is_empty() {
        issues.push(issue("empty_name", "name", "a segment needs a name".into()));
    }
    for (i, rule) in segment.rules.iter().enumerate() {
        check_rule(rule, &format!("rules[{i}]"), 1, &mut issues);
    }
    for (i, state) in segment.overrides.iter().enumerate() {
        let path = format!("overrides[{i}]");
        if state.priority == OverridePriority::Null {
            issues.push(issue(
                "null_priority",
                &path,
                "an override priority cannot be null".into(),
            ));
        }
        check_state(state, &path, &mut issues);
    }
    issues
}

fn issue(code: &'static str, path: &str, message: String) -> ValidationIssue {
    ValidationIssue {
        code,
        path: path.to_owned(),
        message,
    }
}

fn check_rule(rule: &Rule, path: &str, depth: usize, issues: &mut Vec<ValidationIssue>) {
    if depth > MAX_RULE_DEPTH {
        issues.push(issue(
            "rules_too_deep",
            path,
            format!("rules nest deeper than {MAX_RULE_DEPTH} levels"),
        ));
        return;
    }
    for (i, condition) in rule.conditions.iter().enumerate() {
        check_condition(condition, &format!("{path}.conditions[{i}]"), issues);
    }
    for (i, sub_rule) in rule.rules.iter().enumerate() {
        check_rule(sub_rule, &format!("{path}.rules[{i}]"), depth + 1, issues);
    }
}

fn check_condition(condition: &Condition, path: &str, issues: &mut Vec<ValidationIssue>) {
    let op = &condition.operator;
    if let Operator::Unknown(name) = op {
        issues.push(issue(
            "unknown_operator",
            path,
            format!("unknown operator {name:?}"),
        ));
        return;
    }
    if condition.property.len() > MAX_PROPERTY_LEN {
        issues.push(issue(
            "property_too_long",
            path,
            format!("property is longer than {MAX_PROPERTY_LEN} characters"),
        ));
    }
    if condition.property.is_empty() && *op != Operator::PercentageSplit {
        issues.push(issue(
            "missing_property",
            path,
            format!("{op} needs a property"),
        ));
    }
    if matches!(op, Operator::IsSet | Operator::IsNotSet) {
        return;
    }
    let text = match &condition.value {
        ConditionValue::Text(text) if !text.is_empty() => text.as_str(),
        ConditionValue::List(items) if *op == Operator::In && !items.is_empty() => return,
        _ => {
            issues.push(issue("missing_value", path, format!("{op} needs a value")));
            return;
        }
    };
    if text.chars().count() > MAX_CONDITION_VALUE_LEN {
        issues.push(issue(
            "value_too_long",
            path,
            format!("value is longer than {MAX_CONDITION_VALUE_LEN} characters"),
        ));
    }
    match op {
        Operator::Regex => {
            if let Err(reason) = PyPattern::compile(text) {
                issues.push(issue(
                    "invalid_regex",
                    path,
                    format!("the pattern {text:?} cannot be used: {reason}"),
                ));
            }
        }
        Operator::Modulo => check_modulo(text, path, issues),
        Operator::PercentageSplit => match py_float(text) {
            Some(p) if (0.0..=100.0).contains(&p) => {}
            _ => issues.push(issue(
                "invalid_percentage",
                path,
                format!("PERCENTAGE_SPLIT needs a number from 0 to 100, not {text:?}"),
            )),
        },
        _ => {
            if let Some(version) = text.strip_suffix(":semver")
                && Version::parse(version).is_none()
            {
                issues.push(issue(
                    "invalid_semver",
                    path,
                    format!("{version:?} is not a semantic version (MAJOR.MINOR.PATCH)"),
                ));
            }
        }
    }
}

fn check_modulo(text: &str, path: &str, issues: &mut Vec<ValidationIssue>) {
    let parts: Vec<&str> = text.split('|').collect();
    let numbers: Option<Vec<f64>> = parts.iter().map(|p| py_float(p)).collect();
    match (parts.len(), numbers.as_deref()) {
        (2, Some([divisor, _])) if *divisor == 0.0 => issues.push(issue(
            "modulo_by_zero",
            path,
            "MODULO divisor cannot be zero".into(),
        )),
        (2, Some([divisor, remainder])) if divisor.is_finite() && remainder.is_finite() => {}
        _ => issues.push(issue(
            "invalid_modulo",
            path,
            format!("MODULO needs \"divisor|remainder\" with two numbers, not {text:?}"),
        )),
    }
}

fn check_state(state: &FeatureState, path: &str, issues: &mut Vec<ValidationIssue>) {
    let mut total = 0.0;
    for (i, variant) in state.variants.iter().enumerate() {
        let weight = variant.weight.value;
        if !(0.0..=100.0).contains(&weight) {
            issues.push(issue(
                "invalid_weight",
                &format!("{path}.variants[{i}]"),
                format!(
                    "a variant weight must be from 0 to 100, not {}",
                    variant.weight.text
                ),
            ));
        }
        total += weight;
    }
    if total > 100.0 {
        issues.push(issue(
            "weights_over_100",
            path,
            format!(
                "variant weights of {:?} add up to {total}, over 100",
                state.feature_name
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RuleKind;

    fn segment_with(operator: Operator, property: &str, value: &str) -> Segment {
        Segment {
            id: Some(1),
            key: "1".into(),
            name: "s".into(),
            rules: vec![Rule {
                kind: RuleKind::All,
                conditions: vec![Condition {
                    property: property.into(),
                    operator,
                    value: ConditionValue::Text(value.into()),
                }],
                rules: vec![],
            }],
            overrides: vec![],
            metadata: None,
        }
    }

    fn codes(segment: &Segment) -> Vec<&'static str> {
        validate_segment(segment)
            .into_iter()
            .map(|i| i.code)
            .collect()
    }

    #[test]
    fn rejects_what_flagsmith_would_fail_on() {
        assert_eq!(
            codes(&segment_with(Operator::Regex, "a", "(?=x)")),
            ["invalid_regex"]
        );
        assert_eq!(
            codes(&segment_with(Operator::Modulo, "a", "0|1")),
            ["modulo_by_zero"]
        );
        assert_eq!(
            codes(&segment_with(Operator::Modulo, "a", "2")),
            ["invalid_modulo"]
        );
        assert_eq!(
            codes(&segment_with(Operator::Unknown("LIKE".into()), "a", "x")),
            ["unknown_operator"]
        );
        assert_eq!(
            codes(&segment_with(Operator::Equal, "a", "")),
            ["missing_value"]
        );
        assert_eq!(
            codes(&segment_with(Operator::PercentageSplit, "", "101")),
            ["invalid_percentage"]
        );
        assert_eq!(
            codes(&segment_with(Operator::Equal, "v", "1.0:semver")),
            ["invalid_semver"]
        );
        assert!(codes(&segment_with(Operator::PercentageSplit, "", "50")).is_empty());
        assert!(codes(&segment_with(Operator::Modulo, "a", "3|1")).is_empty());
        assert!(codes(&segment_with(Operator::Equal, "v", "1.0.0:semver")).is_empty());
    }
}
