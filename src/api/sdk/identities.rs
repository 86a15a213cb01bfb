//! `POST /api/v1/identities/` (identify with traits) and `GET /api/v1/identities/`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::api::sdk::flags::json_response;
use crate::cache::{EnvironmentSnapshot, KeyKind};
use crate::engine::python::json_str;
use crate::engine::{Flag, FlagSource};
use crate::model::{Identity, Scalar, Traits};
use crate::store::command::{Actor, Command, Envelope, TraitWrite};
use crate::store::{Applied, StoredValue};

use super::key::{SdkError, environment};

/// Longest identifier, trait key and trait text (Flagsmith's limits).
const MAX_IDENTIFIER: usize = 2000;
const MAX_TRAIT_KEY: usize = 200;
const MAX_TRAIT_TEXT: usize = 2000;

struct IncomingTrait {
    key: String,
    /// `None`: delete the trait.
    value: Option<Scalar>,
    transient: bool,
}

struct IdentifyRequest {
    identifier: Option<String>,
    traits: Vec<IncomingTrait>,
    transient: bool,
}

fn invalid(field: &str, message: &str) -> SdkError {
    SdkError::Invalid(json!({ field: [message] }))
}

fn trait_error(index: usize, count: usize, field: &str, message: &str) -> SdkError {
    let mut items = vec![json!({}); count];
    items[index] = json!({ field: [message] });
    SdkError::Invalid(json!({ "traits": items }))
}

fn parse_request(body: &[u8]) -> Result<IdentifyRequest, SdkError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| SdkError::Invalid(json!({"detail": format!("JSON parse error - {e}")})))?;
    let Value::Object(map) = value else {
        return Err(invalid(
            "non_field_errors",
            "Invalid data. Expected a dictionary.",
        ));
    };
    let identifier = match map.get("identifier") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if s.chars().count() > MAX_IDENTIFIER => {
            return Err(invalid(
                "identifier",
                "Ensure this field has no more than 2000 characters.",
            ));
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("identifier", "Not a valid string.")),
    };
    let transient = match map.get("transient") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("transient", "Must be a valid boolean.")),
    };
    let items = match map.get("traits") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(invalid("traits", "Expected a list of items.")),
    };
    let count = items.len();
    let mut traits = Vec::with_capacity(count);
    for (index, item) in items.into_iter().enumerate() {
        let Value::Object(item) = item else {
            return Err(trait_error(
                index,
                count,
                "non_field_errors",
                "Invalid data. Expected a dictionary.",
            ));
        };
        let key = match item.get("trait_key") {
            Some(Value::String(k)) if k.is_empty() => {
                return Err(trait_error(
                    index,
                    count,
                    "trait_key",
                    "This field may not be blank.",
                ));
            }
            Some(Value::String(k)) if k.chars().count() > MAX_TRAIT_KEY => {
                return Err(trait_error(
                    index,
                    count,
                    "trait_key",
                    "Ensure this field has no more than 200 characters.",
                ));
            }
            Some(Value::String(k)) => k.clone(),
            None => {
                return Err(trait_error(
                    index,
                    count,
                    "trait_key",
                    "This field is required.",
                ));
            }
            Some(_) => {
                return Err(trait_error(
                    index,
                    count,
                    "trait_key",
                    "Not a valid string.",
                ));
            }
        };
        let value = match item.get("trait_value") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() > MAX_TRAIT_TEXT => {
                return Err(trait_error(
                    index,
                    count,
                    "trait_value",
                    "Value string is too long. Must be less than 2000 character",
                ));
            }
            // Lists and objects are stored as their Python text, as Flagsmith does.
            Some(other @ (Value::Array(_) | Value::Object(_))) => {
                Some(Scalar::String(json_str(other)))
            }
            Some(other) => Scalar::from_json(other),
        };
        let transient = matches!(item.get("transient"), Some(Value::Bool(true)));
        traits.push(IncomingTrait {
            key,
            value,
            transient,
        });
    }
    Ok(IdentifyRequest {
        identifier,
        traits,
        transient,
    })
}

/// Flagsmith's identifier for identifier-less calls: SHA-256 of the sorted non-null traits.
fn transient_identifier(traits: &[IncomingTrait]) -> String {
    let mut present: Vec<&IncomingTrait> = traits.iter().filter(|t| t.value.is_some()).collect();
    if present.is_empty() {
        return uuid::Uuid::new_v4().simple().to_string();
    }
    present.sort_by(|a, b| a.key.cmp(&b.key));
    let mut hasher = Sha256::new();
    for t in present {
        hasher.update(t.key.as_bytes());
        if let Some(value) = &t.value {
            hasher.update(python_str(value).as_bytes());
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn python_str(value: &Scalar) -> String {
    match value {
        Scalar::Null => "None".into(),
        Scalar::Bool(true) => "True".into(),
        Scalar::Bool(false) => "False".into(),
        Scalar::Integer(i) => i.to_string(),
        Scalar::BigInteger(b) => b.to_string(),
        Scalar::Float(f) => crate::engine::python::float_repr(*f),
        Scalar::String(s) => s.clone(),
    }
}

#[derive(Serialize)]
struct TraitJson<'a> {
    id: Option<u32>,
    trait_key: &'a str,
    trait_value: &'a Scalar,
    transient: bool,
}

/// The identify response, serialised straight from borrowed parts.
#[derive(Serialize)]
struct IdentityResponse<'a> {
    identifier: &'a str,
    traits: Vec<TraitJson<'a>>,
    flags: Vec<IdentityFlagJson<'a>>,
}

#[derive(Serialize)]
struct IdentityFlagJson<'a> {
    id: Option<u32>,
    feature: &'a serde_json::value::RawValue,
    feature_state_value: &'a Scalar,
    environment: Option<u32>,
    identity: Option<u32>,
    feature_segment: Option<u32>,
    enabled: bool,
    variant: Option<&'a str>,
}

fn flag_json<'a>(
    snapshot: &'a EnvironmentSnapshot,
    index: usize,
    flag: &Flag<'a>,
    identity_id: Option<u32>,
) -> IdentityFlagJson<'a> {
    let hide = snapshot.hide_sensitive_data;
    IdentityFlagJson {
        id: if hide { None } else { flag.state.id },
        feature: &snapshot.features[index].json,
        feature_state_value: flag.value,
        environment: (!hide).then_some(snapshot.environment_id),
        identity: match flag.source {
            FlagSource::IdentityOverride if !hide => identity_id,
            _ => None,
        },
        feature_segment: match flag.source {
            FlagSource::Segment(_) if !hide => flag.state.id,
            _ => None,
        },
        enabled: flag.enabled,
        variant: flag.variant,
    }
}

/// Evaluates and renders the identity response (or one flag of it).
fn render(
    snapshot: &EnvironmentSnapshot,
    kind: KeyKind,
    identity: &Identity,
    identity_id: Option<u32>,
    traits: &[(String, Scalar, bool)],
    feature: Option<&str>,
) -> Result<Response, SdkError> {
    let evaluation = snapshot
        .compiled
        .evaluate(Some(identity))
        .map_err(|e| match e.code() {
            // A trait value the environment's conditions cannot work with: the caller's input.
            "integer_overflow" => invalid("traits", &e.to_string()),
            _ => SdkError::Internal(e.to_string()),
        })?;
    super::count_evaluation(super::Evaluation::Identity);
    let server = kind == KeyKind::Server;
    let served: Vec<(usize, &Flag<'_>)> = evaluation
        .flags
        .iter()
        .enumerate()
        .filter(|(index, flag)| snapshot.serves(*index, flag.enabled, server))
        .collect();
    let body = match feature {
        Some(name) => {
            let (index, flag) = served
                .iter()
                .find(|(_, f)| f.feature.name == name)
                .ok_or(SdkError::FeatureNotFound)?;
            snapshot.evaluations.served(std::iter::once(*index));
            serde_json::to_vec(&flag_json(snapshot, *index, flag, identity_id))
        }
        None => {
            snapshot
                .evaluations
                .served(served.iter().map(|(index, _)| *index));
            let flags: Vec<IdentityFlagJson<'_>> = served
                .iter()
                .map(|(index, flag)| flag_json(snapshot, *index, flag, identity_id))
                .collect();
            let traits: Vec<TraitJson<'_>> = if snapshot.hide_sensitive_data {
                Vec::new()
            } else {
                traits
                    .iter()
                    .map(|(key, value, transient)| TraitJson {
                        id: None,
                        trait_key: key,
                        trait_value: value,
                        transient: *transient,
                    })
                    .collect()
            };
            serde_json::to_vec(&IdentityResponse {
                identifier: &identity.identifier,
                traits,
                flags,
            })
        }
    }
    .map_err(|e| SdkError::Internal(e.to_string()))?;
    Ok(json_response(
        bytes::Bytes::from(body),
        &snapshot.updated_at_header,
    ))
}

pub(super) fn stored_traits(stored: &[(String, StoredValue)]) -> Traits {
    stored
        .iter()
        .map(|(k, v)| (k.clone(), Scalar::from(v)))
        .collect()
}

pub async fn identify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, SdkError> {
    let (snapshot, kind) = environment(&state.snapshots, &headers, false)?;
    let mut request = parse_request(&body)?;
    if kind == KeyKind::Client && !snapshot.allow_client_traits {
        // Flagsmith drops client-set traits silently when the environment forbids them.
        request.traits.clear();
    }
    let (identifier, fully_transient) = match request.identifier.take() {
        Some(identifier) => (identifier, request.transient),
        None => (transient_identifier(&request.traits), true),
    };
    let store = state.store.clone();
    let environment_id = snapshot.environment_id;
    let lookup = identifier.clone();
    let existing = store.identity(environment_id, &lookup).await?;
    let mut identity_id = existing.as_ref().map(|(record, _)| record.id);
    let mut traits: Traits = existing
        .as_ref()
        .map(|(_, stored)| stored_traits(stored))
        .unwrap_or_default();
    let mut transient_keys = std::collections::HashSet::new();
    let persist = !fully_transient && snapshot.persist_trait_data;
    let mut writes = Vec::new();
    for incoming in &request.traits {
        let transient = fully_transient || incoming.transient || !snapshot.persist_trait_data;
        match &incoming.value {
            None => {
                traits.shift_remove(&incoming.key);
                if !transient {
                    writes.push(TraitWrite {
                        key: incoming.key.clone(),
                        value: None,
                    });
                }
            }
            Some(value) => {
                if transient {
                    transient_keys.insert(incoming.key.clone());
                } else if traits.get(&incoming.key) != Some(value) {
                    writes.push(TraitWrite {
                        key: incoming.key.clone(),
                        value: Some(StoredValue::from(value)),
                    });
                }
                traits.insert(incoming.key.clone(), value.clone());
            }
        }
    }
    if persist && (existing.is_none() || !writes.is_empty()) {
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let envelope = Envelope::now(
            Actor::EnvironmentKey { environment_id },
            request_id,
            Command::Identify {
                environment_id,
                identifier: identifier.clone(),
                traits: writes,
                max_traits: state.settings.max_traits_per_identity,
            },
        );
        match state.store.execute(envelope).await? {
            Ok(Applied::Identified {
                identity_id: id,
                changed,
            }) => {
                // SDK trait writes are counted here, not audited one by one.
                if changed {
                    metrics::counter!("burgee_sdk_trait_writes_total").increment(1);
                }
                identity_id = Some(id);
            }
            Ok(_) => {}
            Err(error @ crate::store::CommandError::Failed(_)) => {
                return Err(SdkError::Internal(error.to_string()));
            }
            Err(error) => return Err(invalid("traits", &error.to_string())),
        }
    }
    let rendered: Vec<(String, Scalar, bool)> = traits
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.clone(),
                transient_keys.contains(k) || fully_transient,
            )
        })
        .collect();
    let identity = Identity {
        identifier,
        key: None,
        traits,
    };
    render(&snapshot, kind, &identity, identity_id, &rendered, None)
}

pub async fn get_identity(
    State(state): State<AppState>,
    headers: HeaderMap,
    super::query::StrictQuery(query): super::query::StrictQuery,
) -> Result<Response, SdkError> {
    let (snapshot, kind) = environment(&state.snapshots, &headers, false)?;
    let Some(identifier) = query.get("identifier").filter(|i| !i.is_empty()).cloned() else {
        // Flagsmith answers 200 here.
        return Ok(axum::Json(json!({"detail": "Missing identifier"})).into_response());
    };
    if identifier.chars().count() > MAX_IDENTIFIER {
        return Err(invalid(
            "identifier",
            "Ensure this field has no more than 2000 characters.",
        ));
    }
    let transient = query.get("transient").is_some_and(|t| !t.is_empty());
    let store = state.store.clone();
    let environment_id = snapshot.environment_id;
    let lookup = identifier.clone();
    let existing = store.identity(environment_id, &lookup).await?;
    let mut identity_id = existing.as_ref().map(|(record, _)| record.id);
    if existing.is_none() && !transient && snapshot.persist_trait_data {
        let envelope = Envelope::now(
            Actor::EnvironmentKey { environment_id },
            "",
            Command::Identify {
                environment_id,
                identifier: identifier.clone(),
                traits: Vec::new(),
                max_traits: state.settings.max_traits_per_identity,
            },
        );
        // Flags are served even when the identity could not be stored.
        match state.store.execute(envelope).await {
            Ok(Ok(Applied::Identified {
                identity_id: id, ..
            })) => identity_id = Some(id),
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "storing a new identity was refused"),
            Err(error) => tracing::warn!(%error, "storing a new identity failed"),
        }
    }
    let traits = existing
        .as_ref()
        .map(|(_, stored)| stored_traits(stored))
        .unwrap_or_default();
    let rendered: Vec<(String, Scalar, bool)> = traits
        .iter()
        .map(|(k, v)| (k.clone(), v.clone(), false))
        .collect();
    let identity = Identity {
        identifier,
        key: None,
        traits,
    };
    render(
        &snapshot,
        kind,
        &identity,
        identity_id,
        &rendered,
        query.get("feature").map(String::as_str),
    )
}
