//! Evaluating a compiled environment for one identity (or none).

use crate::model::{Identity, Metadata, OverridePriority, RuleKind, Scalar};

use super::compile::{
    CompiledEnvironment, CompiledFeature, CompiledRule, CompiledSegment, CompiledState,
};
use super::condition::{CompiledCondition, Subject};
use super::context_value::ContextValue;
use super::error::{ConditionError, ConditionLocation, EvaluationError};
pub(crate) use super::frame::{Frame, Resolved};
use super::hashing::{LANES, hashed_percentages};

/// The segment name Flagsmith reports for identity overrides.
pub const IDENTITY_OVERRIDES_SEGMENT: &str = "identity_overrides";

/// The outcome of one evaluation, borrowing from the compiled environment.
#[derive(Debug, Clone)]
pub struct Evaluation<'e> {
    /// One flag per feature, in the environment's feature order.
    pub flags: Vec<Flag<'e>>,
    /// Matched segments in segment order (identity overrides last).
    pub segments: Vec<MatchedSegment<'e>>,
}

/// The evaluated state of one feature.
#[derive(Debug, Clone)]
pub struct Flag<'e> {
    pub feature: &'e CompiledFeature,
    /// The state that decided the flag (default, segment or identity override).
    pub state: &'e CompiledState,
    pub enabled: bool,
    pub value: &'e Scalar,
    pub reason: Reason<'e>,
    /// The chosen variant's key, `"control"` when a split chose none, `None` otherwise.
    pub variant: Option<&'e str>,
    pub metadata: Option<&'e Metadata>,
    pub source: FlagSource,
}

/// Which state decided a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagSource {
    EnvironmentDefault,
    /// The override of the segment at this index of the environment.
    Segment(usize),
    IdentityOverride,
}

/// Why a flag has its value, as Flagsmith words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason<'e> {
    Default,
    TargetingMatch { segment: &'e str },
    Split { weight: &'e str },
}

impl std::fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("DEFAULT"),
            Self::TargetingMatch { segment } => write!(f, "TARGETING_MATCH; segment={segment}"),
            Self::Split { weight } => write!(f, "SPLIT; weight={weight}"),
        }
    }
}

/// A segment the identity belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedSegment<'e> {
    pub id: Option<u32>,
    pub key: &'e str,
    pub name: &'e str,
    pub metadata: Option<&'e Metadata>,
}

/// Observes rule evaluation; explanations use it, plain evaluation compiles it away.
pub(crate) trait Observer {
    /// When set, every condition and sub-rule is evaluated so all can be shown.
    const RECORDS: bool;
    fn enter_rule(&mut self, _depth: usize, _kind: RuleKind) {}
    fn exit_rule(&mut self, _depth: usize, _matched: bool) {}
    fn condition(
        &mut self,
        _depth: usize,
        _condition: &CompiledCondition,
        _value: Option<&ContextValue<'_>>,
        _outcome: &Result<bool, ConditionError>,
    ) {
    }
}

pub(crate) struct Silent;

impl Observer for Silent {
    const RECORDS: bool = false;
}

impl CompiledEnvironment {
    /// Evaluates every feature for `identity` (environment defaults and segments that need no
    /// identity apply when it is `None`).
    pub fn evaluate<'e>(
        &'e self,
        identity: Option<&Identity>,
    ) -> Result<Evaluation<'e>, EvaluationError> {
        let mut frame = Frame::new(self, identity);
        frame.hash_splits(self);
        let mut winners: Vec<Option<Winner<'e>>> = vec![None; self.features.len()];
        let mut segments = Vec::with_capacity(self.segments.len() + 1);
        for (index, segment) in self.segments.iter().enumerate() {
            if !self.segment_matches(index, &mut frame, &mut Silent)? {
                continue;
            }
            segments.push(MatchedSegment {
                id: segment.id,
                key: &segment.key,
                name: &segment.name,
                metadata: segment.metadata.as_ref(),
            });
            for (feature, state) in &segment.overrides {
                let candidate = Winner {
                    state,
                    segment: &segment.name,
                    source: FlagSource::Segment(index),
                };
                match &winners[*feature] {
                    None => winners[*feature] = Some(candidate),
                    Some(current) => {
                        if stronger(state.priority, current.state.priority).ok_or_else(|| {
                            EvaluationError::NullPriority {
                                feature: self.features[*feature].name.clone(),
                                first: current.segment.to_owned(),
                                second: segment.name.clone(),
                            }
                        })? {
                            winners[*feature] = Some(candidate);
                        }
                    }
                }
            }
        }
        let identity_overrides = identity
            .filter(|_| !self.identity_overrides.is_empty())
            .and_then(|i| self.identity_overrides.get(&i.identifier));
        if let Some(overrides) = identity_overrides {
            segments.push(MatchedSegment {
                id: None,
                key: "",
                name: IDENTITY_OVERRIDES_SEGMENT,
                metadata: None,
            });
            for (feature, state) in overrides {
                winners[*feature] = Some(Winner {
                    state,
                    segment: IDENTITY_OVERRIDES_SEGMENT,
                    source: FlagSource::IdentityOverride,
                });
            }
        }
        let identity_key = frame.identity_key.take();
        let mut flags: Vec<Flag<'e>> = self
            .features
            .iter()
            .zip(winners)
            .map(|(feature, winner)| match winner {
                Some(w) => flag(
                    feature,
                    w.state,
                    Reason::TargetingMatch { segment: w.segment },
                    w.source,
                ),
                None => flag(
                    feature,
                    &feature.default,
                    Reason::Default,
                    FlagSource::EnvironmentDefault,
                ),
            })
            .collect();
        if let Some(key) = identity_key.as_deref() {
            split_variants(&mut flags, key);
        }
        Ok(Evaluation { flags, segments })
    }

    /// A segment matches when it has rules and all of them match.
    pub(crate) fn segment_matches<O: Observer>(
        &self,
        index: usize,
        frame: &mut Frame<'_>,
        observer: &mut O,
    ) -> Result<bool, EvaluationError> {
        let segment = &self.segments[index];
        if segment.rules.is_empty() {
            return Ok(false);
        }
        let split = frame.splits.get(index).copied().filter(|p| !p.is_nan());
        let mut all = true;
        for rule in &segment.rules {
            // Python's `all()` stops at the first rule that fails; an observer sees the rest.
            let reached = all;
            if !reached && !O::RECORDS {
                break;
            }
            let walk = Walk {
                segment,
                split,
                reached,
            };
            all &= self.rule_matches(rule, &walk, frame, observer)?;
        }
        Ok(all)
    }

    /// Matches one rule as Flagsmith does: its conditions in order until the quantifier is
    /// decided, then its sub-rules likewise, whatever the conditions gave.
    fn rule_matches<O: Observer>(
        &self,
        rule: &CompiledRule,
        walk: &Walk<'_>,
        frame: &mut Frame<'_>,
        observer: &mut O,
    ) -> Result<bool, EvaluationError> {
        let depth = rule.path.len();
        observer.enter_rule(depth, rule.kind);
        let mut conditions = Quantifier::new(rule.kind);
        for (index, condition) in rule.conditions.iter().enumerate() {
            let reached = walk.reached && !conditions.decided;
            if !reached && !O::RECORDS {
                break;
            }
            let outcome = self.condition_outcome(condition, walk, depth, frame, observer);
            let matched = match outcome {
                Ok(matched) => matched,
                Err(error) if reached => {
                    return Err(EvaluationError::Condition {
                        location: Box::new(locate(walk.segment, &rule.path, index, condition)),
                        error,
                    });
                }
                // Shown in explanations only: Flagsmith never evaluates this condition.
                Err(_) => false,
            };
            conditions.add(matched);
        }
        let conditions_matched = rule.conditions.is_empty() || conditions.result();
        let mut matched = conditions_matched;
        // Failed conditions decide the rule, but Flagsmith still evaluates the sub-rules:
        // skip them only when none can raise.
        let sub_rules_needed =
            conditions_matched || rule.sub_rules_may_fail || frame.has_refused_traits || O::RECORDS;
        if sub_rules_needed && !rule.rules.is_empty() {
            let mut rules = Quantifier::new(rule.kind);
            for sub_rule in &rule.rules {
                let reached = walk.reached && !rules.decided;
                if !reached && !O::RECORDS {
                    break;
                }
                let sub_walk = Walk { reached, ..*walk };
                rules.add(self.rule_matches(sub_rule, &sub_walk, frame, observer)?);
            }
            matched = matched && rules.result();
        }
        observer.exit_rule(depth, matched);
        Ok(matched)
    }

    /// Resolves a condition's property and tests it.
    fn condition_outcome<O: Observer>(
        &self,
        condition: &CompiledCondition,
        walk: &Walk<'_>,
        depth: usize,
        frame: &Frame<'_>,
        observer: &mut O,
    ) -> Result<bool, ConditionError> {
        let resolved = match frame.resolve(self, &condition.property) {
            Ok(resolved) => resolved,
            Err(error) => {
                let outcome = Err(error);
                observer.condition(depth, condition, None, &outcome);
                return outcome;
            }
        };
        let version = match &resolved {
            Some(Resolved::Slot(slot, _)) => frame
                .versions
                .get(*slot)
                .and_then(|v| v.as_ref().map(Option::as_ref)),
            _ => None,
        };
        let subject = Subject {
            identity_key: frame.identity_key(),
            version,
            split: walk.split,
        };
        Resolved::with(resolved.as_ref(), |value| {
            let outcome = condition.test(value, &subject, &walk.segment.key);
            observer.condition(depth, condition, value, &outcome);
            outcome
        })
    }
}

/// Where rule matching is in a segment.
#[derive(Clone, Copy)]
struct Walk<'s> {
    segment: &'s CompiledSegment,
    /// The segment's percentage for the identity key, when hashed up front.
    split: Option<f64>,
    /// Whether Flagsmith evaluates this part at all (else only an observer looks at it).
    reached: bool,
}

/// Folds booleans under a rule's quantifier, as Python's `all()`/`any()` consume them.
struct Quantifier {
    kind: RuleKind,
    any: bool,
    all: bool,
    /// The result can no longer change: Python stops reading here.
    decided: bool,
}

impl Quantifier {
    fn new(kind: RuleKind) -> Self {
        Self {
            kind,
            any: false,
            all: true,
            decided: false,
        }
    }

    fn add(&mut self, value: bool) {
        self.any |= value;
        self.all &= value;
        self.decided = match self.kind {
            RuleKind::All => !self.all,
            RuleKind::Any | RuleKind::None => self.any,
        };
    }

    fn result(&self) -> bool {
        match self.kind {
            RuleKind::All => self.all,
            RuleKind::Any => self.any,
            RuleKind::None => !self.any,
        }
    }
}

#[derive(Clone, Copy)]
struct Winner<'e> {
    state: &'e CompiledState,
    segment: &'e str,
    source: FlagSource,
}

/// Whether `candidate` beats `current` (strictly lower priority number); `None` when either
/// is an explicit null, which Flagsmith cannot compare.
fn stronger(candidate: OverridePriority, current: OverridePriority) -> Option<bool> {
    let number = |p| match p {
        OverridePriority::Absent => Some(f64::INFINITY),
        OverridePriority::Null => None,
        OverridePriority::Value(v) => Some(v),
    };
    Some(number(candidate)? < number(current)?)
}

/// The flag for a winning state, before any variant split.
fn flag<'e>(
    feature: &'e CompiledFeature,
    state: &'e CompiledState,
    reason: Reason<'e>,
    source: FlagSource,
) -> Flag<'e> {
    Flag {
        feature,
        state,
        enabled: state.enabled,
        value: &state.value,
        reason,
        variant: None,
        metadata: state.metadata.as_ref(),
        source,
    }
}

/// Picks the variant of every multivariate flag for the identity's key, hashing four
/// flags at a time.
fn split_variants(flags: &mut [Flag<'_>], identity_key: &str) {
    let mut batch = [0usize; LANES];
    let mut filled = 0;
    for index in 0..flags.len() {
        if !flags[index].state.variants.is_empty() {
            batch[filled] = index;
            filled += 1;
        }
        if filled == LANES || (index + 1 == flags.len() && filled > 0) {
            let mut pairs = [[""; 2]; LANES];
            for (pair, &i) in pairs.iter_mut().zip(&batch[..filled]) {
                *pair = [flags[i].state.hash_seed.as_str(), identity_key];
            }
            let percentages = hashed_percentages(&pairs[..filled]);
            for (&i, percentage) in batch[..filled].iter().zip(percentages) {
                choose_variant(&mut flags[i], percentage);
            }
            filled = 0;
        }
    }
}

/// The variant whose band holds `percentage`, else the control value (variant `"control"`).
fn choose_variant(flag: &mut Flag<'_>, percentage: f64) {
    let state = flag.state;
    flag.variant = Some("control");
    if let Some(variant) = state
        .variants
        .iter()
        .find(|v| v.start <= percentage && percentage < v.limit)
    {
        flag.value = &variant.value;
        flag.variant = variant.key.as_deref();
        flag.reason = Reason::Split {
            weight: &variant.weight_text,
        };
    }
}

fn locate(
    segment: &CompiledSegment,
    path: &[usize],
    index: usize,
    condition: &CompiledCondition,
) -> ConditionLocation {
    ConditionLocation {
        segment_key: segment.key.clone(),
        segment_name: segment.name.clone(),
        rule_path: path.to_vec(),
        condition_index: index,
        property: condition.source.property.clone(),
        operator: condition.source.operator.to_string(),
        value: match &condition.source.value {
            crate::model::ConditionValue::Null => None,
            crate::model::ConditionValue::Text(t) => Some(t.clone()),
            crate::model::ConditionValue::List(items) => Some(items.join(",")),
        },
    }
}
