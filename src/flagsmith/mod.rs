//! Flagsmith's wire formats: the evaluation context and result of its engine, and the
//! environment document its SDKs evaluate locally. These types read anything Flagsmith
//! serves and convert to and from the domain types in [`crate::model`].

pub mod context;
pub mod document;
pub mod result;
mod serde_helpers;
