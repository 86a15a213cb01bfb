//! Compiling an environment: everything that does not depend on the identity is done here,
//! once, so that evaluation parses nothing and allocates little.

use std::sync::Arc;

use foldhash::HashMap;
use serde_json::Value;

use crate::model::{
    Environment, FeatureState, Metadata, OverridePriority, Rule, RuleKind, Scalar, Segment,
};

use super::condition::{CompiledCondition, Test};
use super::context_json::environment_context_json;
use super::property::{self, PathTarget, Property, Slot};

/// An immutable, evaluation-ready environment. Build one per change and share it.
#[derive(Debug)]
pub struct CompiledEnvironment {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) features: Vec<CompiledFeature>,
    pub(crate) segments: Vec<CompiledSegment>,
    /// Identifier to its overrides (feature index, state).
    pub(crate) identity_overrides: HashMap<String, Vec<(usize, CompiledState)>>,
    /// Trait names used by conditions, by slot.
    pub(crate) trait_slots: HashMap<String, Slot>,
    /// Slots compared as semantic versions: parsed once per evaluation.
    pub(crate) version_slots: Vec<Slot>,
    /// Segments that split on the identity key by percentage, by index.
    pub(crate) split_segments: Vec<usize>,
    /// The context's JSON form without the identity, kept only when a condition runs a
    /// general JSONPath query at evaluation time.
    pub(crate) context_json: Option<Arc<Value>>,
}

/// A feature and its environment default.
#[derive(Debug)]
pub struct CompiledFeature {
    pub name: String,
    pub feature_id: Option<u32>,
    pub(crate) default: CompiledState,
}

impl CompiledFeature {
    /// The environment default state.
    pub fn default_state(&self) -> &CompiledState {
        &self.default
    }
}

/// A feature state ready for variant selection.
#[derive(Debug)]
pub struct CompiledState {
    /// The stored state's id, where known.
    pub id: Option<u32>,
    pub enabled: bool,
    pub value: Scalar,
    pub hash_seed: String,
    pub(crate) variants: Vec<CompiledVariant>,
    pub(crate) priority: OverridePriority,
    pub metadata: Option<Metadata>,
}

/// A variant with its precomputed percentage band `[start, limit)`.
#[derive(Debug)]
pub struct CompiledVariant {
    pub value: Scalar,
    pub key: Option<String>,
    pub(crate) start: f64,
    pub(crate) limit: f64,
    pub(crate) weight_text: String,
}

/// A segment ready for matching.
#[derive(Debug)]
pub struct CompiledSegment {
    pub id: Option<u32>,
    pub key: String,
    pub name: String,
    pub metadata: Option<Metadata>,
    pub(crate) rules: Vec<CompiledRule>,
    /// Overrides of features of this environment: (feature index, state).
    pub(crate) overrides: Vec<(usize, CompiledState)>,
    /// Whether a condition splits on the identity key by percentage: its hash is then
    /// computed up front, with other segments' (see [`CompiledEnvironment::split_segments`]).
    pub(crate) splits_on_identity_key: bool,
}

/// A rule ready for matching.
#[derive(Debug)]
pub struct CompiledRule {
    pub kind: RuleKind,
    pub(crate) conditions: Vec<CompiledCondition>,
    pub(crate) rules: Vec<CompiledRule>,
    /// Indices from the segment's top-level rules down to this rule, for error locations.
    pub(crate) path: Box<[usize]>,
    /// Some condition of this rule or below can raise whatever the identity's traits.
    pub(crate) may_fail: bool,
    /// Some sub-rule can raise: Flagsmith evaluates sub-rules even when the rule's own
    /// conditions failed, so they must then run for the same error to surface.
    pub(crate) sub_rules_may_fail: bool,
}

impl CompiledRule {
    fn splits_on_identity_key(&self) -> bool {
        self.conditions.iter().any(|c| {
            matches!(
                (&c.test, &c.property),
                (Test::PercentageSplit(_), Property::Empty)
            )
        }) || self.rules.iter().any(Self::splits_on_identity_key)
    }
}

impl CompiledEnvironment {
    /// Compiles an environment. Never fails: conditions Flagsmith would fail on are kept and
    /// reported when an evaluation reaches them (see [`crate::engine::validate`] for the
    /// strict checks run on writes).
    pub fn compile(environment: &Environment) -> Self {
        let mut feature_index: HashMap<&str, usize> = HashMap::default();
        for state in &environment.features {
            let next = feature_index.len();
            feature_index
                .entry(state.feature_name.as_str())
                .or_insert(next);
        }
        let mut builder = Builder {
            environment,
            trait_slots: HashMap::default(),
            version_slots: Vec::new(),
            environment_json: None,
            needs_context_json: false,
        };
        // A later duplicate of a feature name replaces the earlier state but keeps its
        // place, as a JSON object read into a Python dict does.
        let mut features: Vec<CompiledFeature> = Vec::with_capacity(environment.features.len());
        for state in &environment.features {
            let compiled = CompiledFeature {
                name: state.feature_name.clone(),
                feature_id: state.feature_id,
                default: compile_state(state),
            };
            match feature_index.get(state.feature_name.as_str()) {
                Some(&at) if at < features.len() => features[at] = compiled,
                _ => features.push(compiled),
            }
        }
        let index_of = |name: &str| feature_index.get(name).copied();
        let segments: Vec<CompiledSegment> = environment
            .segments
            .iter()
            .map(|segment| builder.segment(segment, &index_of))
            .collect();
        let split_segments = (0..segments.len())
            .filter(|&i| segments[i].splits_on_identity_key)
            .collect();
        let mut identity_overrides: HashMap<String, Vec<(usize, CompiledState)>> =
            HashMap::default();
        for identity in &environment.identity_overrides {
            let entry = identity_overrides
                .entry(identity.identifier.clone())
                .or_default();
            for state in &identity.overrides {
                if let Some(index) = index_of(&state.feature_name) {
                    entry.retain(|(i, _)| *i != index);
                    // Identity overrides always serve their stored value, never a split.
                    let mut compiled = compile_state(state);
                    compiled.variants.clear();
                    entry.push((index, compiled));
                }
            }
        }
        let context_json = builder.needs_context_json.then(|| {
            Arc::new(
                builder
                    .environment_json
                    .take()
                    .unwrap_or_else(|| environment_context_json(environment)),
            )
        });
        Self {
            key: environment.key.clone(),
            name: environment.name.clone(),
            features,
            segments,
            identity_overrides,
            trait_slots: builder.trait_slots,
            version_slots: builder.version_slots,
            split_segments,
            context_json,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn features(&self) -> &[CompiledFeature] {
        &self.features
    }

    pub fn segments(&self) -> &[CompiledSegment] {
        &self.segments
    }
}

struct Builder<'e> {
    environment: &'e Environment,
    trait_slots: HashMap<String, Slot>,
    version_slots: Vec<Slot>,
    environment_json: Option<Value>,
    needs_context_json: bool,
}

impl Builder<'_> {
    fn segment(
        &mut self,
        segment: &Segment,
        index_of: &dyn Fn(&str) -> Option<usize>,
    ) -> CompiledSegment {
        let rules: Vec<CompiledRule> = segment
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| self.rule(r, vec![i]))
            .collect();
        CompiledSegment {
            id: segment.id,
            key: segment.key.clone(),
            name: segment.name.clone(),
            metadata: segment.metadata.clone(),
            splits_on_identity_key: rules.iter().any(CompiledRule::splits_on_identity_key),
            rules,
            overrides: segment
                .overrides
                .iter()
                .filter_map(|state| Some((index_of(&state.feature_name)?, compile_state(state))))
                .collect(),
        }
    }

    fn rule(&mut self, rule: &Rule, path: Vec<usize>) -> CompiledRule {
        let conditions: Vec<CompiledCondition> = rule
            .conditions
            .iter()
            .map(|condition| {
                let compiled = CompiledCondition {
                    property: self.property(&condition.property),
                    test: Test::new(&condition.operator, &condition.value),
                    source: condition.clone(),
                };
                if compiled.test.compares_versions() {
                    let slots = match &compiled.property {
                        Property::Trait(slot) => vec![*slot],
                        Property::Path {
                            literal,
                            target: PathTarget::IdentityTrait(slot),
                        } => {
                            vec![*literal, *slot]
                        }
                        Property::Path { literal, .. } => vec![*literal],
                        Property::Empty => vec![],
                    };
                    for slot in slots {
                        if !self.version_slots.contains(&slot) {
                            self.version_slots.push(slot);
                        }
                    }
                }
                compiled
            })
            .collect();
        let rules: Vec<CompiledRule> = rule
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut sub_path = path.clone();
                sub_path.push(i);
                self.rule(r, sub_path)
            })
            .collect();
        let sub_rules_may_fail = rules.iter().any(|r| r.may_fail);
        CompiledRule {
            kind: rule.kind,
            may_fail: sub_rules_may_fail || conditions.iter().any(CompiledCondition::may_fail),
            sub_rules_may_fail,
            conditions,
            rules,
            path: path.into_boxed_slice(),
        }
    }

    fn property(&mut self, text: &str) -> Property {
        let slots = &mut self.trait_slots;
        let mut slot_of = |name: &str| {
            let next = slots.len();
            *slots.entry(name.to_owned()).or_insert(next)
        };
        let environment = self.environment;
        let cache = std::cell::RefCell::new(self.environment_json.take());
        let environment_json = || {
            cache
                .borrow_mut()
                .get_or_insert_with(|| environment_context_json(environment))
                .clone()
        };
        let property = property::classify(text, &mut slot_of, &environment_json);
        self.environment_json = cache.into_inner();
        if matches!(
            property,
            Property::Path {
                target: PathTarget::Query(_),
                ..
            }
        ) {
            self.needs_context_json = true;
        }
        property
    }
}

/// Compiles a feature state: variants sorted by their order key with their bands computed
/// by the same float additions Flagsmith performs.
pub(crate) fn compile_state(state: &FeatureState) -> CompiledState {
    let mut variants: Vec<_> = state.variants.iter().collect();
    variants.sort_by(|a, b| a.order.compare(&b.order));
    let mut start = 0.0;
    let variants = variants
        .into_iter()
        .map(|variant| {
            let limit = variant.weight.value + start;
            let compiled = CompiledVariant {
                value: variant.value.clone(),
                key: variant.key.clone(),
                start,
                limit,
                weight_text: variant.weight.text.clone(),
            };
            start = limit;
            compiled
        })
        .collect();
    CompiledState {
        id: state.id,
        enabled: state.enabled,
        value: state.value.clone(),
        hash_seed: state.hash_seed.clone(),
        variants,
        priority: state.priority,
        metadata: state.metadata.clone(),
    }
}
