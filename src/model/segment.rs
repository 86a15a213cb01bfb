//! Segments: rule trees that select identities.

use std::fmt;

use super::{FeatureState, Metadata};

/// A segment with its rules and, for one environment, its feature overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub id: Option<u32>,
    /// The segment's key in percentage-split hashing (`str(id)` for stored segments).
    pub key: String,
    pub name: String,
    pub rules: Vec<Rule>,
    pub overrides: Vec<FeatureState>,
    pub metadata: Option<Metadata>,
}

/// The quantifier of a rule over its conditions and sub-rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    All,
    Any,
    None,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "ALL",
            Self::Any => "ANY",
            Self::None => "NONE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ALL" => Some(Self::All),
            "ANY" => Some(Self::Any),
            "NONE" => Some(Self::None),
            _ => None,
        }
    }
}

/// A rule: a quantifier over conditions and nested rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub kind: RuleKind,
    pub conditions: Vec<Condition>,
    pub rules: Vec<Rule>,
}

/// One test of a context value (a trait or a JSONPath into the context).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// A trait name, a `$.`-JSONPath, or empty (percentage splits on the identity key).
    pub property: String,
    pub operator: Operator,
    pub value: ConditionValue,
}

/// The operand of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum ConditionValue {
    Null,
    Text(String),
    /// Only `IN` conditions of evaluation contexts carry a list.
    List(Vec<String>),
}

impl ConditionValue {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            Self::Null | Self::List(_) => None,
        }
    }
}

/// The fourteen condition operators, plus whatever else a document may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    Equal,
    NotEqual,
    GreaterThan,
    GreaterThanInclusive,
    LessThan,
    LessThanInclusive,
    Contains,
    NotContains,
    Regex,
    PercentageSplit,
    Modulo,
    IsSet,
    IsNotSet,
    In,
    /// An operator Flagsmith does not know; it never matches.
    Unknown(String),
}

impl Operator {
    pub const ALL: [Operator; 14] = [
        Self::Equal,
        Self::NotEqual,
        Self::GreaterThan,
        Self::GreaterThanInclusive,
        Self::LessThan,
        Self::LessThanInclusive,
        Self::Contains,
        Self::NotContains,
        Self::Regex,
        Self::PercentageSplit,
        Self::Modulo,
        Self::IsSet,
        Self::IsNotSet,
        Self::In,
    ];

    pub fn parse(text: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str() == text)
            .unwrap_or_else(|| Self::Unknown(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Equal => "EQUAL",
            Self::NotEqual => "NOT_EQUAL",
            Self::GreaterThan => "GREATER_THAN",
            Self::GreaterThanInclusive => "GREATER_THAN_INCLUSIVE",
            Self::LessThan => "LESS_THAN",
            Self::LessThanInclusive => "LESS_THAN_INCLUSIVE",
            Self::Contains => "CONTAINS",
            Self::NotContains => "NOT_CONTAINS",
            Self::Regex => "REGEX",
            Self::PercentageSplit => "PERCENTAGE_SPLIT",
            Self::Modulo => "MODULO",
            Self::IsSet => "IS_SET",
            Self::IsNotSet => "IS_NOT_SET",
            Self::In => "IN",
            Self::Unknown(text) => text,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
