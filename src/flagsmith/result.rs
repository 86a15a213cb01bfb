//! Flagsmith's evaluation result (`schemas/evaluation-result.json`).

use serde::Serialize;

use crate::engine::Evaluation;
use crate::model::{Metadata, Scalar};

/// `{"flags": {name: flag}, "segments": [segment]}`.
#[derive(Debug, Serialize)]
pub struct EvaluationResult<'e> {
    pub flags: indexmap::IndexMap<&'e str, FlagResult<'e>>,
    pub segments: Vec<SegmentResult<'e>>,
}

#[derive(Debug, Serialize)]
pub struct FlagResult<'e> {
    pub name: &'e str,
    pub enabled: bool,
    pub value: &'e Scalar,
    pub reason: String,
    pub variant: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<&'e Metadata>,
}

#[derive(Debug, Serialize)]
pub struct SegmentResult<'e> {
    pub name: &'e str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<&'e Metadata>,
}

impl<'e> From<&Evaluation<'e>> for EvaluationResult<'e> {
    fn from(evaluation: &Evaluation<'e>) -> Self {
        Self {
            flags: evaluation
                .flags
                .iter()
                .map(|flag| {
                    let name = flag.feature.name.as_str();
                    (
                        name,
                        FlagResult {
                            name,
                            enabled: flag.enabled,
                            value: flag.value,
                            reason: flag.reason.to_string(),
                            variant: flag.variant,
                            metadata: flag.metadata,
                        },
                    )
                })
                .collect(),
            segments: evaluation
                .segments
                .iter()
                .map(|s| SegmentResult {
                    name: s.name,
                    metadata: s.metadata,
                })
                .collect(),
        }
    }
}
