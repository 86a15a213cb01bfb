//! Compiled conditions: the operand of every operator is parsed once, so that matching an
//! identity parses nothing but the identity's own values.

use std::cmp::Ordering;

use foldhash::HashSet;

use crate::model::{Condition, ConditionValue, Operator};

use super::context_value::ContextValue;
use super::error::ConditionError;
use super::hashing::hashed_percentage;
use super::pattern::PyPattern;
use super::property::Property;
use super::py_json::json_list_members;
use super::python::{PyInt, float_mod, json_str, py_float, py_int, write_float_repr};
pub use super::semver::Version;

/// The comparison of a "typed compare" operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Contains,
}

impl Comparison {
    fn holds(self, order: Option<Ordering>) -> bool {
        match self {
            Self::Equal => order == Some(Ordering::Equal),
            // Python's `!=` is true for NaN, where no order exists.
            Self::NotEqual => order != Some(Ordering::Equal),
            Self::Greater => order == Some(Ordering::Greater),
            Self::GreaterOrEqual => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
            Self::Less => order == Some(Ordering::Less),
            Self::LessOrEqual => matches!(order, Some(Ordering::Less | Ordering::Equal)),
            Self::Contains => false,
        }
    }
}

/// The condition value cast up front to every type a context value may have.
#[derive(Debug, Clone)]
pub struct TypedOperand {
    /// `str(value)`; `"None"` for a null value.
    text: String,
    int: Option<PyInt>,
    float: Option<f64>,
    /// The cast for boolean context values: anything but `"False"`/`"false"` is true.
    truthy: bool,
    /// For values ending in `:semver`: the version before the suffix, if it parses.
    semver: Option<Option<Version<'static>>>,
}

impl TypedOperand {
    fn new(value: &ConditionValue) -> Self {
        let text = operand_text(value);
        let is_text = matches!(value, ConditionValue::Text(_));
        let semver = (is_text && text.ends_with(":semver")).then(|| {
            Version::parse(&text[..text.len() - ":semver".len()]).map(Version::into_owned)
        });
        Self {
            int: if is_text { py_int(&text) } else { None },
            float: if is_text { py_float(&text) } else { None },
            truthy: !(is_text && (text == "False" || text == "false")),
            semver,
            text,
        }
    }

    /// `parsed`: the value already parsed as a version, when the caller has it.
    fn compare(
        &self,
        comparison: Comparison,
        value: &ContextValue<'_>,
        parsed: Option<Option<&Version<'_>>>,
    ) -> bool {
        match value {
            ContextValue::Str(text) => match &self.semver {
                Some(operand) => {
                    let fresh;
                    let parsed = match parsed {
                        Some(known) => known,
                        None => {
                            fresh = Version::parse(text);
                            fresh.as_ref()
                        }
                    };
                    match (parsed, operand, comparison) {
                        (_, _, Comparison::Contains) | (None, _, _) | (_, None, _) => false,
                        (Some(v), Some(o), _) => comparison.holds(Some(v.precedence(o))),
                    }
                }
                None if comparison == Comparison::Contains => text.contains(self.text.as_str()),
                None => comparison.holds(Some((*text).cmp(self.text.as_str()))),
            },
            ContextValue::Int(i) => match &self.int {
                Some(operand) if comparison != Comparison::Contains => {
                    comparison.holds(Some(i.cmp(operand)))
                }
                _ => false,
            },
            ContextValue::Float(f) => match self.float {
                Some(operand) if comparison != Comparison::Contains => {
                    comparison.holds(f.partial_cmp(&operand))
                }
                _ => false,
            },
            ContextValue::Bool(b) => {
                comparison != Comparison::Contains && comparison.holds(Some(b.cmp(&self.truthy)))
            }
        }
    }
}

/// Python's `str()` of a condition value as the engine sees it.
fn operand_text(value: &ConditionValue) -> String {
    match value {
        ConditionValue::Null => "None".to_owned(),
        ConditionValue::Text(text) => text.clone(),
        ConditionValue::List(items) => json_str(&serde_json::Value::Array(
            items
                .iter()
                .cloned()
                .map(serde_json::Value::String)
                .collect(),
        )),
    }
}

/// The members of an `IN` condition, with an integer index so integer context values are
/// looked up without formatting them.
#[derive(Debug, Clone, Default)]
pub struct InSet {
    texts: HashSet<String>,
    integers: HashSet<i128>,
}

impl InSet {
    fn new(value: &ConditionValue) -> Self {
        let members: Vec<String> = match value {
            ConditionValue::Null => Vec::new(),
            ConditionValue::List(items) => items.clone(),
            // A value starting with `[` is tried as JSON first (Python's `json.loads`).
            ConditionValue::Text(text) => json_list_members(text)
                .unwrap_or_else(|| text.split(',').map(str::to_owned).collect()),
        };
        let integers = members
            .iter()
            .filter(|m| is_canonical_int(m))
            .filter_map(|m| m.parse::<i128>().ok())
            .collect();
        Self {
            texts: members.into_iter().collect(),
            integers,
        }
    }

    fn contains(&self, value: &ContextValue<'_>) -> bool {
        match value {
            ContextValue::Str(text) => self.texts.contains(*text),
            ContextValue::Int(i) => match i.as_small() {
                Some(small) => self.integers.contains(&small),
                None => self.texts.contains(&i.to_string()),
            },
            // Python compares floats and booleans to strings: never equal.
            ContextValue::Float(_) | ContextValue::Bool(_) => false,
        }
    }
}

/// Text exactly as Python's `str(int)` prints it.
fn is_canonical_int(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0"
}

/// A `MODULO` operand `divisor|remainder`.
#[derive(Debug, Clone, Copy)]
pub enum ModuloOperand {
    /// Empty or malformed: never matches.
    Malformed,
    Valid {
        divisor: f64,
        remainder: f64,
    },
}

impl ModuloOperand {
    fn new(value: &ConditionValue) -> Self {
        let Some(text) = value.as_text().filter(|t| !t.is_empty()) else {
            return Self::Malformed;
        };
        let mut parts = text.split('|');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(d), Some(r), None) => match (py_float(d), py_float(r)) {
                (Some(divisor), Some(remainder)) => Self::Valid { divisor, remainder },
                _ => Self::Malformed,
            },
            _ => Self::Malformed,
        }
    }
}

/// The compiled test of one condition.
#[derive(Debug, Clone)]
pub enum Test {
    Typed(Comparison, Box<TypedOperand>),
    NotContains(String),
    Regex(Result<Box<PyPattern>, String>),
    Modulo(ModuloOperand),
    In(Box<InSet>),
    /// The threshold; `None` when the value is not a number (never matches).
    PercentageSplit(Option<f64>),
    IsSet,
    IsNotSet,
    /// Unknown operators never match.
    Never,
}

impl Test {
    pub fn new(operator: &Operator, value: &ConditionValue) -> Self {
        let typed = |c| Self::Typed(c, Box::new(TypedOperand::new(value)));
        match operator {
            Operator::Equal => typed(Comparison::Equal),
            Operator::NotEqual => typed(Comparison::NotEqual),
            Operator::GreaterThan => typed(Comparison::Greater),
            Operator::GreaterThanInclusive => typed(Comparison::GreaterOrEqual),
            Operator::LessThan => typed(Comparison::Less),
            Operator::LessThanInclusive => typed(Comparison::LessOrEqual),
            Operator::Contains => typed(Comparison::Contains),
            Operator::NotContains => Self::NotContains(operand_text(value)),
            Operator::Regex => Self::Regex(PyPattern::compile(&operand_text(value)).map(Box::new)),
            Operator::Modulo => Self::Modulo(ModuloOperand::new(value)),
            Operator::In => Self::In(Box::new(InSet::new(value))),
            Operator::PercentageSplit => Self::PercentageSplit(value.as_text().and_then(py_float)),
            Operator::IsSet => Self::IsSet,
            Operator::IsNotSet => Self::IsNotSet,
            Operator::Unknown(_) => Self::Never,
        }
    }

    /// Whether this test compares semantic versions.
    pub fn compares_versions(&self) -> bool {
        matches!(self, Self::Typed(_, operand) if operand.semver.is_some())
    }

    /// Whether evaluating this test can fail the way Flagsmith's engine raises.
    pub fn may_fail(&self) -> bool {
        match self {
            Self::Regex(compiled) => compiled.is_err(),
            // A zero divisor, or an integer too large for a float, raises in Flagsmith.
            Self::Modulo(ModuloOperand::Valid { .. }) => true,
            _ => false,
        }
    }
}

/// A condition ready to evaluate, keeping its source for explanations and errors.
#[derive(Debug, Clone)]
pub struct CompiledCondition {
    pub source: Condition,
    pub property: Property,
    pub test: Test,
}

/// What a condition sees of the identity being evaluated.
pub struct Subject<'s> {
    /// The identity's hashing key, if there is an identity.
    pub identity_key: Option<&'s str>,
    /// The value already parsed as a semantic version, when it was parsed once up front.
    pub version: Option<Option<&'s Version<'s>>>,
    /// The percentage of `[segment key, identity key]`, when hashed up front.
    pub split: Option<f64>,
}

impl CompiledCondition {
    /// Whether evaluating this condition can raise in Flagsmith's engine, whatever the
    /// identity's traits (too-long integer strings among them are checked per evaluation).
    pub fn may_fail(&self) -> bool {
        self.test.may_fail() || self.property.may_fail()
    }

    /// Evaluates the test on an already-resolved context value.
    pub fn test(
        &self,
        value: Option<&ContextValue<'_>>,
        subject: &Subject<'_>,
        segment_key: &str,
    ) -> Result<bool, ConditionError> {
        match &self.test {
            Test::In(set) => Ok(value.is_some_and(|v| set.contains(v))),
            Test::PercentageSplit(threshold) => {
                let Some(threshold) = threshold else {
                    return Ok(false);
                };
                let mut text = String::new();
                let id = match (value, &self.property) {
                    (Some(v), _) => {
                        v.write_str(&mut text);
                        text.as_str()
                    }
                    (None, Property::Empty) => match (subject.split, subject.identity_key) {
                        (Some(percentage), _) => return Ok(percentage <= *threshold),
                        (None, Some(key)) => key,
                        (None, None) => return Ok(false),
                    },
                    (None, _) => return Ok(false),
                };
                Ok(hashed_percentage(&[segment_key, id]) <= *threshold)
            }
            Test::IsSet => Ok(value.is_some()),
            Test::IsNotSet => Ok(value.is_none()),
            _ => match value {
                Some(v) => self.test_value(v, subject),
                None => Ok(false),
            },
        }
    }

    fn test_value(
        &self,
        value: &ContextValue<'_>,
        subject: &Subject<'_>,
    ) -> Result<bool, ConditionError> {
        match &self.test {
            Test::Typed(comparison, operand) => {
                Ok(operand.compare(*comparison, value, subject.version))
            }
            Test::NotContains(needle) => {
                Ok(matches!(value, ContextValue::Str(text) if !text.contains(needle.as_str())))
            }
            Test::Regex(Ok(pattern)) => Ok(match value {
                ContextValue::Str(text) => pattern.matches(text),
                other => {
                    let mut text = String::new();
                    other.write_str(&mut text);
                    pattern.matches(&text)
                }
            }),
            Test::Regex(Err(message)) => Err(ConditionError::InvalidRegex(message.clone())),
            Test::Modulo(operand) => modulo(value, *operand),
            Test::In(_) | Test::PercentageSplit(_) | Test::IsSet | Test::IsNotSet | Test::Never => {
                Ok(false)
            }
        }
    }
}

/// `value % divisor == remainder` in Flagsmith's order: non-numbers and malformed operands
/// never match; then the integer becomes a float (`OverflowError` when too large), and only
/// then is the divisor checked (`ZeroDivisionError`).
fn modulo(value: &ContextValue<'_>, operand: ModuloOperand) -> Result<bool, ConditionError> {
    if matches!(value, ContextValue::Str(_)) {
        return Ok(false);
    }
    let ModuloOperand::Valid { divisor, remainder } = operand else {
        return Ok(false);
    };
    let dividend = match value {
        ContextValue::Int(i) => i.to_f64().ok_or(ConditionError::IntegerTooLarge)?,
        ContextValue::Float(f) => *f,
        ContextValue::Bool(b) => f64::from(u8::from(*b)),
        ContextValue::Str(_) => return Ok(false),
    };
    let result = float_mod(dividend, divisor).ok_or(ConditionError::ModuloByZero)?;
    Ok(result == remainder)
}

/// Formats a context value for people (explanations).
pub fn describe_value(value: Option<&ContextValue<'_>>) -> String {
    match value {
        None => "not set".to_owned(),
        Some(ContextValue::Str(s)) => format!("{s:?}"),
        Some(ContextValue::Float(f)) => {
            let mut out = String::new();
            write_float_repr(*f, &mut out);
            out
        }
        Some(other) => {
            let mut out = String::new();
            other.write_str(&mut out);
            out
        }
    }
}
