//! Pure flag evaluation with Flagsmith's exact semantics (engine 10.2.0): no I/O.
//!
//! An [`Environment`](crate::model::Environment) compiles into a [`CompiledEnvironment`]
//! (regexes compiled, versions parsed, `IN` sets built, operands pre-typed, overrides
//! indexed); evaluating an identity against it parses nothing of the environment.

mod compile;
mod condition;
mod context_json;
mod context_value;
mod error;
mod evaluate;
pub mod explain;
mod frame;
mod hashing;
mod pattern;
mod property;
mod py_int;
mod py_json;
pub mod python;
mod semver;
pub mod validate;

pub use compile::{CompiledEnvironment, CompiledFeature, CompiledSegment, CompiledState};
pub use context_value::ContextValue;
pub use error::{ConditionError, ConditionLocation, EvaluationError};
pub use evaluate::{
    Evaluation, Flag, FlagSource, IDENTITY_OVERRIDES_SEGMENT, MatchedSegment, Reason,
};
pub use hashing::{hashed_percentage, hashed_percentages};
