//! Parts of the differential test against Flagsmith's Python reference engine.

pub mod answer;
pub mod generate;
mod values;
