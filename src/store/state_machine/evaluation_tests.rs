//! Unit tests of evaluation counts: adding up by hour and in the summary, dropping counts
//! of unknown features, refusing other actors, and pruning only what may go.

#![allow(clippy::unwrap_used)]

use redb::{ReadableDatabase, ReadableTable};

use super::CommandError;
use super::harness::{Harness, envelope, feature};
use crate::store::codec::decode;
use crate::store::command::{Actor, Applied, Command};
use crate::store::evaluations::{
    EvaluationCount, EvaluationKey, EvaluationRecord, HOUR_MS, SUMMARY_HOUR, hour_of,
};
use crate::store::tables;

fn apply_at(
    h: &mut Harness,
    at: i64,
    actor: Actor,
    command: Command,
) -> Result<Applied, CommandError> {
    let mut e = envelope(command);
    e.timestamp = at;
    e.actor = actor;
    let mut batch = h.machine.begin().unwrap();
    let answer = batch.apply(&e, |_, _| Ok(())).unwrap();
    batch.commit().unwrap();
    answer
}

fn count(environment_id: u32, feature_id: u32, reported: u64, served: u64) -> EvaluationCount {
    EvaluationCount {
        environment_id,
        feature_id,
        reported,
        served,
    }
}

fn rows(h: &Harness) -> Vec<(EvaluationKey, EvaluationRecord)> {
    let txn = h.machine.database().begin_read().unwrap();
    let table = txn.open_table(tables::EVALUATIONS).unwrap();
    table
        .iter()
        .unwrap()
        .map(|row| {
            let (key, value) = row.unwrap();
            (key.value(), decode(value.value()).unwrap())
        })
        .collect()
}

fn record(
    reported: u64,
    served: u64,
    last_reported: Option<i64>,
    last_served: Option<i64>,
) -> EvaluationRecord {
    EvaluationRecord {
        reported,
        served,
        last_reported_at: last_reported,
        last_served_at: last_served,
    }
}

#[test]
fn counts_add_up_per_hour_and_in_the_summary() {
    let mut h = Harness::initialised();
    let (project, env, banner) = h.project("Web");
    let other_project_feature = {
        let (_, _, f) = h.project("Other");
        f
    };
    let t0 = 1_000 * HOUR_MS + 5;
    let record_at = |h: &mut Harness, at: i64, counts: Vec<EvaluationCount>| {
        apply_at(h, at, Actor::System, Command::RecordEvaluations { counts }).unwrap();
    };
    record_at(
        &mut h,
        t0,
        vec![
            count(env, banner, 3, 0),
            count(env, banner, 0, 2), // the same feature twice in one flush
            count(env, 999, 5, 5),    // no such feature
            count(env, other_project_feature, 5, 5), // another project's feature
            count(77, banner, 1, 1),  // no such environment
        ],
    );
    record_at(&mut h, t0 + HOUR_MS, vec![count(env, banner, 1, 0)]);
    assert_eq!(
        rows(&h),
        vec![
            ((env, banner, 1000), record(3, 2, Some(t0), Some(t0))),
            ((env, banner, 1001), record(1, 0, Some(t0 + HOUR_MS), None)),
            (
                (env, banner, SUMMARY_HOUR),
                record(4, 2, Some(t0 + HOUR_MS), Some(t0))
            ),
        ]
    );
    // Counts change no catalog record: no environment is touched, no audit entry written.
    assert!(h.machine.catalog().meta.audit.seq > 0);
    let audit_before = h.machine.catalog().meta.audit.seq;
    record_at(&mut h, t0 + 2 * HOUR_MS, vec![count(env, banner, 1, 1)]);
    assert_eq!(h.machine.catalog().meta.audit.seq, audit_before);
    let _ = project;
}

#[test]
fn only_the_server_records_or_prunes_evaluations() {
    let mut h = Harness::initialised();
    let (_, env, banner) = h.project("Web");
    let as_sdk = Actor::EnvironmentKey {
        environment_id: env,
    };
    let refused = apply_at(
        &mut h,
        HOUR_MS,
        as_sdk.clone(),
        Command::RecordEvaluations {
            counts: vec![count(env, banner, 1, 0)],
        },
    );
    assert!(
        matches!(refused, Err(CommandError::Forbidden(_))),
        "{refused:?}"
    );
    let refused = apply_at(
        &mut h,
        HOUR_MS,
        as_sdk,
        Command::PruneEvaluations {
            before_hour: SUMMARY_HOUR,
            rows: vec![(env, banner, SUMMARY_HOUR)],
        },
    );
    assert!(
        matches!(refused, Err(CommandError::Forbidden(_))),
        "{refused:?}"
    );
    assert!(rows(&h).is_empty());
    let too_many = vec![count(env, banner, 1, 0); super::MAX_EVALUATION_ROWS];
    let refused = apply_at(
        &mut h,
        HOUR_MS,
        Actor::System,
        Command::RecordEvaluations { counts: too_many },
    );
    assert!(
        matches!(refused, Err(CommandError::LimitExceeded(_))),
        "{refused:?}"
    );
}

#[test]
fn pruning_removes_old_hours_and_deleted_features_only() {
    let mut h = Harness::initialised();
    let (project, env, banner) = h.project("Web");
    let kept = h.created(feature(project, "kept"));
    let now = 2_000 * HOUR_MS;
    for hour in [1990, 1995, 2000] {
        apply_at(
            &mut h,
            hour * HOUR_MS,
            Actor::System,
            Command::RecordEvaluations {
                counts: vec![count(env, banner, 1, 0), count(env, kept, 0, 1)],
            },
        )
        .unwrap();
    }
    h.ok(Command::DeleteFeature { id: banner });
    let every_key: Vec<EvaluationKey> = rows(&h).into_iter().map(|(k, _)| k).collect();
    assert_eq!(every_key.len(), 8);
    // Proposes every row with a cutoff in the future: the command's own clock caps it.
    let answer = apply_at(
        &mut h,
        now,
        Actor::System,
        Command::PruneEvaluations {
            before_hour: SUMMARY_HOUR,
            rows: every_key.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        answer,
        Applied::Removed {
            count: 6,
            more: false
        }
    );
    let left: Vec<EvaluationKey> = rows(&h).into_iter().map(|(k, _)| k).collect();
    assert_eq!(left, vec![(env, kept, 2000), (env, kept, SUMMARY_HOUR)]);
    // A cutoff within retention keeps recent hours.
    let answer = apply_at(
        &mut h,
        now,
        Actor::System,
        Command::PruneEvaluations {
            before_hour: hour_of(now) - 24,
            rows: every_key,
        },
    )
    .unwrap();
    assert_eq!(
        answer,
        Applied::Removed {
            count: 0,
            more: false
        }
    );
    assert_eq!(rows(&h).len(), 2);
}
