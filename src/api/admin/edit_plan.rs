//! What promotions and bulk edits share: choosing features by name, the plan (the exact
//! diff per environment, and the revisions it was made against), its ETag, and applying it
//! as one command, or only showing it (a dry run).
//!
//! The ETag of a plan names the revision of every environment it reads or writes, e.g.
//! `"3.12-5.40"`. Sent back as `If-Match`, it makes the apply refuse (412) if any of them
//! changed since, so what is applied is exactly what was reviewed. Without `If-Match` the
//! plan is guarded by the revisions it was made from.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::compare::FeatureStates;
use super::{ApiError, execute};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::Catalog;
use crate::store::command::{
    Command, EditKind, FeatureEdit, OverrideConfig, RevisionGuard, StatePatch,
};
use crate::store::records::FeatureRecord;

/// One feature's changes in one environment: its name and `{"field": {"from", "to"}}`.
pub type FeatureChanges = (String, Map<String, Value>);

/// Edits planned against known revisions, and the diff they make.
#[derive(Default)]
pub struct Plan {
    /// Every environment read or written, by id, with the revision planned against.
    pub revisions: BTreeMap<u32, u64>,
    pub edits: Vec<FeatureEdit>,
    /// Per written environment: the features that change, with `{"field": {"from", "to"}}`.
    pub changes: BTreeMap<u32, Vec<FeatureChanges>>,
}

impl Plan {
    /// Records that the plan depends on environment `id` as `catalog` has it.
    pub fn involve(&mut self, catalog: &Catalog, id: u32) {
        if let Some(env) = catalog.environments.get(&id) {
            self.revisions.insert(id, env.revision);
        }
    }

    /// Adds one feature's edit in one environment, with the diff it makes.
    pub fn add(&mut self, edit: FeatureEdit, feature: &str, changes: Map<String, Value>) {
        self.changes
            .entry(edit.environment_id)
            .or_default()
            .push((feature.to_owned(), changes));
        self.edits.push(edit);
    }

    pub fn etag(&self) -> String {
        let parts: Vec<String> = self
            .revisions
            .iter()
            .map(|(id, revision)| format!("{id}.{revision}"))
            .collect();
        format!("\"{}\"", parts.join("-"))
    }

    /// The guards to apply with: `If-Match`'s revisions when it is given (it must name every
    /// environment involved), else the plan's own.
    fn guards(&self, headers: &HeaderMap) -> Result<Vec<RevisionGuard>, ApiError> {
        let expected = match if_match(headers)? {
            None => self.revisions.clone(),
            Some(given) => self.expected_from(&given)?,
        };
        Ok(expected
            .into_iter()
            .map(|(environment_id, revision)| RevisionGuard {
                environment_id,
                revision,
            })
            .collect())
    }

    fn expected_from(&self, given: &str) -> Result<BTreeMap<u32, u64>, ApiError> {
        let invalid = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_if_match",
                format!(
                    "If-Match must be the ETag of this change's dry run, naming the revision of \
                     every environment involved ({}): {given:?}",
                    self.etag()
                ),
            )
        };
        // A lone revision, as an environment's own ETag gives it, fits a one-environment plan.
        if let (Ok(revision), [id]) = (
            given.parse::<u64>(),
            self.revisions.keys().collect::<Vec<_>>().as_slice(),
        ) {
            return Ok(BTreeMap::from([(**id, revision)]));
        }
        let mut expected = BTreeMap::new();
        for part in given.split('-') {
            let (id, revision) = part.split_once('.').ok_or_else(invalid)?;
            let id: u32 = id.parse().map_err(|_| invalid())?;
            let revision: u64 = revision.parse().map_err(|_| invalid())?;
            expected.insert(id, revision);
        }
        if expected.keys().ne(self.revisions.keys()) {
            return Err(invalid());
        }
        Ok(expected)
    }

    /// The plan as the API shows it: per written environment, what changes.
    fn view(&self, catalog: &Catalog) -> Value {
        let environments: Vec<Value> = self
            .changes
            .iter()
            .map(|(id, features)| {
                let mut summary = super::compare::summary(catalog, *id);
                summary["revision"] = json!(self.revisions.get(id));
                summary["features"] = features
                    .iter()
                    .map(|(feature, changes)| json!({"feature": feature, "changes": changes}))
                    .collect();
                summary
            })
            .collect();
        json!({
            "environments": environments,
            "edits": self.edits.len(),
        })
    }
}

/// The edit giving feature `feature_id` in `environment_id` exactly the configuration in
/// `states`: its default's enabled, value and weights, and its overrides in priority order.
pub fn copying(
    environment_id: u32,
    feature_id: u32,
    states: &mut FeatureStates<'_>,
) -> FeatureEdit {
    states
        .overrides
        .sort_by_key(|(priority, segment_id, _)| (*priority, *segment_id));
    FeatureEdit {
        environment_id,
        feature_id,
        default: states
            .default
            .map_or_else(StatePatch::default, |s| StatePatch {
                enabled: Some(s.enabled),
                value: Some(s.value.clone()),
                variants: Some(s.variants.clone()),
            }),
        segment_overrides: Some(
            states
                .overrides
                .iter()
                .map(|(_, segment_id, s)| OverrideConfig {
                    segment_id: *segment_id,
                    enabled: s.enabled,
                    value: s.value.clone(),
                    variants: s.variants.clone(),
                })
                .collect(),
        ),
    }
}

/// `If-Match`'s entity tag without quotes; `None` when absent or `*`.
pub fn if_match(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_if_match",
            "If-Match must be printable text",
        )
    })?;
    let text = text.trim();
    if text == "*" {
        return Ok(None);
    }
    Ok(Some(
        text.trim_start_matches("W/").trim_matches('"').to_owned(),
    ))
}

/// Shows the plan (`dry_run`) or applies it as one command, answering what it changed and
/// the ETag of the environments afterwards.
pub async fn respond(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    planned_from: &Catalog,
    (kind, plan): (EditKind, Plan),
    dry_run: bool,
) -> Result<Response, ApiError> {
    let guards = plan.guards(headers)?;
    let mut body = plan.view(planned_from);
    body["dry_run"] = json!(dry_run);
    let applied = !dry_run && !plan.edits.is_empty();
    body["applied"] = json!(applied);
    let etag = if applied {
        execute(
            state,
            caller,
            Command::EditFeatureStates {
                kind,
                guards,
                edits: plan.edits,
            },
        )
        .await?;
        let catalog = state.store.catalog();
        let mut after = Plan::default();
        for id in plan.revisions.keys() {
            after.involve(&catalog, *id);
        }
        after.etag()
    } else {
        if !dry_run {
            // Nothing to change: the guards are still checked, so a stale review says so.
            check_fresh(planned_from, &guards)?;
        }
        plan.etag()
    };
    body["etag"] = json!(etag);
    let mut response = (StatusCode::OK, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

/// Refuses (412) guards that no longer hold, as the state machine would.
fn check_fresh(catalog: &Catalog, guards: &[RevisionGuard]) -> Result<(), ApiError> {
    let stale: Vec<crate::store::state_machine::StaleRevision> = guards
        .iter()
        .filter_map(|guard| {
            let actual = catalog.environments.get(&guard.environment_id)?.revision;
            (actual != guard.revision).then_some(crate::store::state_machine::StaleRevision {
                environment_id: guard.environment_id,
                expected: guard.revision,
                actual,
            })
        })
        .collect();
    if stale.is_empty() {
        Ok(())
    } else {
        Err(crate::store::CommandError::EnvironmentsChanged(stale).into())
    }
}

/// The features a change is about: those named in `names` (in any case), in the order
/// given, then every other feature of the project carrying all of `tags` (archived ones
/// left out). An unknown or repeated name is refused, naming it.
pub fn chosen_features<'a>(
    catalog: &'a Catalog,
    project_id: u32,
    names: &[String],
    tags: &[String],
) -> Result<Vec<&'a FeatureRecord>, ApiError> {
    if names.is_empty() && tags.is_empty() {
        return Err(ApiError::bad_request(
            "choose features by name in \"features\", by tag in \"tags\", or both",
        ));
    }
    let mut chosen = features_named(catalog, project_id, names)?;
    if !tags.is_empty() {
        let tagged: Vec<&FeatureRecord> = catalog
            .project_features(project_id)
            .filter(|f| !catalog.archived(f.id) && super::features::has_tags(catalog, f.id, tags))
            .filter(|f| chosen.iter().all(|c| c.id != f.id))
            .collect();
        chosen.extend(tagged);
    }
    Ok(chosen)
}

fn features_named<'a>(
    catalog: &'a Catalog,
    project_id: u32,
    names: &[String],
) -> Result<Vec<&'a FeatureRecord>, ApiError> {
    let by_name: BTreeMap<String, &FeatureRecord> = catalog
        .project_features(project_id)
        .map(|f| (f.name.to_lowercase(), f))
        .collect();
    let mut chosen: Vec<&FeatureRecord> = Vec::with_capacity(names.len());
    let mut unknown = Vec::new();
    for name in names {
        match by_name.get(&name.to_lowercase()) {
            Some(feature) if chosen.iter().any(|c| c.id == feature.id) => {
                return Err(ApiError::bad_request(format!(
                    "feature {name:?} is named twice"
                )));
            }
            Some(feature) => chosen.push(feature),
            None => unknown.push(name.clone()),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_feature",
            format!("project {project_id} has no feature named {unknown:?}"),
        )
        .with_details(json!({"unknown": unknown})));
    }
    Ok(chosen)
}

/// The environments `ids`, which must be distinct and of project `project_id`.
pub fn environments_of(
    catalog: &Catalog,
    project_id: u32,
    ids: &[u32],
    field: &str,
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Err(ApiError::bad_request(format!(
            "name at least one environment in {field:?}"
        )));
    }
    for (n, id) in ids.iter().enumerate() {
        let env = super::find(&catalog.environments, "environment", *id)?;
        if env.project_id != project_id {
            return Err(ApiError::bad_request(format!(
                "environment {id} belongs to another project than {project_id}"
            )));
        }
        if ids[..n].contains(id) {
            return Err(ApiError::bad_request(format!(
                "environment {id} is named twice in {field:?}"
            )));
        }
    }
    Ok(())
}
