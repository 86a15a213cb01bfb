//! Per-evaluation state: the identity's normalised trait values, its hashing key and
//! percentages hashed up front, and resolving a condition's property against them.

use std::borrow::Cow;

use crate::model::Identity;

use super::compile::CompiledEnvironment;
use super::condition::Version;
use super::context_json::identity_context_json;
use super::context_value::{ContextValue, Normalised, OwnedContextValue};
use super::hashing::{LANES, hashed_percentages};
use super::property::{PathTarget, Property, Slot};

/// Per-evaluation state: the identity's normalised values, by trait slot.
pub(crate) struct Frame<'a> {
    identifier: Option<&'a str>,
    pub(super) identity_key: Option<Cow<'a, str>>,
    identity: Option<&'a Identity>,
    slots: Vec<Option<Normalised<ContextValue<'a>>>>,
    /// Some trait could not be normalised: any condition reading it raises, so sub-rules
    /// that Flagsmith evaluates must run even where their result no longer matters.
    pub(super) has_refused_traits: bool,
    /// Slot values compared as versions, parsed once (`None`: not a version-compared slot).
    pub(super) versions: Vec<Option<Option<Version<'a>>>>,
    /// Percentage of `[segment key, identity key]` for each segment that splits on the
    /// identity key, by segment index; hashed up front, four at a time.
    pub(super) splits: Vec<f64>,
}

/// A resolved context value: a trait's normalised value, one computed from the identity,
/// a constant of the environment, or the result of a general JSONPath query.
pub(crate) enum Resolved<'f> {
    Slot(Slot, &'f ContextValue<'f>),
    Computed(ContextValue<'f>),
    Constant(&'f OwnedContextValue),
    Queried(OwnedContextValue),
}

impl Resolved<'_> {
    /// Runs `f` on the value, borrowing it where it can.
    pub(crate) fn with<R>(
        resolved: Option<&Self>,
        f: impl FnOnce(Option<&ContextValue<'_>>) -> R,
    ) -> R {
        match resolved {
            None => f(None),
            Some(Self::Slot(_, v)) => f(Some(v)),
            Some(Self::Computed(v)) => f(Some(v)),
            Some(Self::Constant(v)) => f(Some(&v.as_borrowed())),
            Some(Self::Queried(v)) => f(Some(&v.as_borrowed())),
        }
    }
}

impl<'a> Frame<'a> {
    pub(crate) fn new(
        environment: &'a CompiledEnvironment,
        identity: Option<&'a Identity>,
    ) -> Self {
        let mut slots = vec![None; environment.trait_slots.len()];
        if let Some(identity) = identity {
            // Look up whichever side is smaller, but prefer the fast-hashed slot table.
            if identity.traits.len() <= 4 * environment.trait_slots.len() {
                for (name, value) in &identity.traits {
                    if let Some(&slot) = environment.trait_slots.get(name) {
                        slots[slot] = ContextValue::from_scalar(value);
                    }
                }
            } else {
                for (name, &slot) in &environment.trait_slots {
                    if let Some(value) = identity.traits.get(name) {
                        slots[slot] = ContextValue::from_scalar(value);
                    }
                }
            }
        }
        let identity_key = identity.map(|identity| match &identity.key {
            // Flagsmith fills in an empty key as it does a missing one.
            Some(key) if !key.is_empty() => Cow::Borrowed(key.as_str()),
            _ => {
                let mut key =
                    String::with_capacity(environment.key.len() + 1 + identity.identifier.len());
                key.push_str(&environment.key);
                key.push('_');
                key.push_str(&identity.identifier);
                Cow::Owned(key)
            }
        });
        let mut versions = Vec::new();
        if !environment.version_slots.is_empty() {
            versions.resize(slots.len(), None);
            for &slot in &environment.version_slots {
                if let Some(Ok(ContextValue::Str(text))) = slots[slot] {
                    versions[slot] = Some(Version::parse(text));
                }
            }
        }
        Self {
            identifier: identity.map(|i| i.identifier.as_str()),
            identity_key,
            identity,
            has_refused_traits: slots.iter().any(|s| matches!(s, Some(Err(_)))),
            slots,
            versions,
            splits: Vec::new(),
        }
    }

    /// Hashes the identity key with every segment that splits on it.
    pub(crate) fn hash_splits(&mut self, environment: &CompiledEnvironment) {
        let Some(key) = self.identity_key.as_deref() else {
            return;
        };
        if environment.split_segments.is_empty() {
            return;
        }
        self.splits.resize(environment.segments.len(), f64::NAN);
        for chunk in environment.split_segments.chunks(LANES) {
            let mut pairs = [[""; 2]; LANES];
            for (pair, &segment) in pairs.iter_mut().zip(chunk) {
                *pair = [environment.segments[segment].key.as_str(), key];
            }
            let percentages = hashed_percentages(&pairs[..chunk.len()]);
            for (&segment, percentage) in chunk.iter().zip(percentages) {
                self.splits[segment] = percentage;
            }
        }
    }

    pub(crate) fn identity_key(&self) -> Option<&str> {
        self.identity_key.as_deref()
    }

    /// The property's normalised value (`None`: not set), or the error Flagsmith raises
    /// when normalising it.
    pub(crate) fn resolve<'f>(
        &'f self,
        environment: &'f CompiledEnvironment,
        property: &'f Property,
    ) -> Normalised<Option<Resolved<'f>>> {
        let slot = |slot: usize| match &self.slots[slot] {
            None => Ok(None),
            Some(Ok(value)) => Ok(Some(Resolved::Slot(slot, value))),
            Some(Err(error)) => Err(error.clone()),
        };
        let computed = |text: &'f str| ContextValue::from_text(text).map(Resolved::Computed);
        match property {
            Property::Empty => Ok(None),
            Property::Trait(s) => slot(*s),
            Property::Path { literal, target } => {
                // A trait literally named like the path wins.
                if let Some(found) = slot(*literal)? {
                    return Ok(Some(found));
                }
                match target {
                    PathTarget::IdentityIdentifier => self.identifier.map(computed).transpose(),
                    PathTarget::IdentityKey => self.identity_key().map(computed).transpose(),
                    PathTarget::IdentityTrait(s) => slot(*s),
                    PathTarget::Constant(Some(Ok(value))) => Ok(Some(Resolved::Constant(value))),
                    PathTarget::Constant(Some(Err(error))) => Err(error.clone()),
                    PathTarget::Query(query) => self.query(environment, query),
                    PathTarget::Constant(None) | PathTarget::NotAPath => Ok(None),
                }
            }
        }
    }

    /// Runs a general JSONPath query on the context's JSON form.
    fn query<'f>(
        &self,
        environment: &CompiledEnvironment,
        query: &serde_json_path::JsonPath,
    ) -> Normalised<Option<Resolved<'f>>> {
        let Some(context) = environment.context_json.as_deref() else {
            return Ok(None);
        };
        let mut context = context.clone();
        if let (Some(identity), serde_json::Value::Object(map)) = (self.identity, &mut context) {
            map.insert(
                "identity".into(),
                identity_context_json(identity, self.identity_key()),
            );
        }
        let Some(value) = query.query(&context).first().cloned() else {
            return Ok(None);
        };
        OwnedContextValue::from_json(&value)
            .transpose()
            .map(|v| v.map(Resolved::Queried))
    }
}
