//! Evaluation errors: exactly the cases where Flagsmith's engine raises.

use thiserror::Error;

/// Why one condition could not be evaluated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConditionError {
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    #[error("MODULO by zero")]
    ModuloByZero,
    #[error("integer too large to convert to a float")]
    IntegerTooLarge,
    /// Python's `int()` refuses text of more than 4 300 digits.
    #[error(
        "a numeric string of {digits} digits is longer than the 4300 digits Python reads as an integer"
    )]
    IntegerStringTooLong { digits: usize },
}

/// Where in a segment a failing condition sits.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionLocation {
    pub segment_key: String,
    pub segment_name: String,
    /// Rule indices from the segment's top level down, e.g. `[0, 1]` = `rules[0].rules[1]`.
    pub rule_path: Vec<usize>,
    pub condition_index: usize,
    pub property: String,
    pub operator: String,
    pub value: Option<String>,
}

impl ConditionLocation {
    pub fn rule_path_text(&self) -> String {
        self.rule_path
            .iter()
            .map(|i| format!("rules[{i}]"))
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// An environment that cannot be evaluated for this identity.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EvaluationError {
    #[error(
        "segment {:?} (key {}), {}.conditions[{}] ({} {}): {error}",
        .location.segment_name,
        .location.segment_key,
        .location.rule_path_text(),
        .location.condition_index,
        .location.property,
        .location.operator
    )]
    Condition {
        location: Box<ConditionLocation>,
        error: ConditionError,
    },
    #[error(
        "feature {feature:?} is overridden by segments {first:?} and {second:?} and one of the \
         overrides has a null priority, so they cannot be ordered"
    )]
    NullPriority {
        feature: String,
        first: String,
        second: String,
    },
}

impl EvaluationError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Condition {
                error: ConditionError::InvalidRegex(_),
                ..
            } => "invalid_regex",
            Self::Condition {
                error: ConditionError::ModuloByZero,
                ..
            } => "modulo_by_zero",
            // Both are an identity's integer too large to work with: the caller's input.
            Self::Condition {
                error: ConditionError::IntegerTooLarge | ConditionError::IntegerStringTooLong { .. },
                ..
            } => "integer_overflow",
            Self::NullPriority { .. } => "null_priority",
        }
    }

    /// Structured details for JSON error bodies.
    pub fn details(&self) -> serde_json::Value {
        match self {
            Self::Condition { location, .. } => serde_json::json!({
                "segment": {"key": location.segment_key, "name": location.segment_name},
                "rule": location.rule_path_text(),
                "condition": location.condition_index,
                "property": location.property,
                "operator": location.operator,
                "value": location.value,
            }),
            Self::NullPriority {
                feature,
                first,
                second,
            } => serde_json::json!({
                "feature": feature,
                "segments": [first, second],
            }),
        }
    }
}
