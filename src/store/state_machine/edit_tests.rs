//! Unit tests of edits across environments: all of them or none, guards checked first, and
//! segment overrides replaced in order with their hash seeds kept.

#![allow(clippy::unwrap_used)]

use super::harness::Harness;
use super::{CommandError, StaleRevision};
use crate::store::command::{
    COMMAND_FORMAT, Command, EditKind, FeatureEdit, OverrideConfig, RevisionGuard, StatePatch,
};
use crate::store::records::{EnvironmentSettingsRecord, StateTarget, StoredValue};

fn ready() -> Harness {
    let mut h = Harness::initialised();
    h.ok(Command::RaiseCommandFormat { to: COMMAND_FORMAT });
    h
}

fn enable(environment_id: u32, feature_id: u32) -> FeatureEdit {
    FeatureEdit {
        environment_id,
        feature_id,
        default: StatePatch {
            enabled: Some(true),
            value: Some(StoredValue::String("on".into())),
            variants: None,
        },
        segment_overrides: None,
    }
}

fn edit(guards: Vec<RevisionGuard>, edits: Vec<FeatureEdit>) -> Command {
    Command::EditFeatureStates {
        kind: EditKind::BulkEdit,
        guards,
        edits,
    }
}

fn second_environment(h: &mut Harness, project_id: u32) -> u32 {
    h.created(Command::CreateEnvironment {
        project_id,
        name: "Staging".into(),
        client_key: "key-staging".into(),
        settings: EnvironmentSettingsRecord::default(),
    })
}

#[test]
fn one_bad_edit_leaves_every_environment_as_it_was() {
    let mut h = ready();
    let (project, production, banner) = h.project("Web");
    let staging = second_environment(&mut h, project);
    let (_, _, elsewhere) = h.project("Other");
    // The last edit names a feature of another project: the first two do not happen.
    let error = h.refused(edit(
        Vec::new(),
        vec![
            enable(production, banner),
            enable(staging, banner),
            enable(staging, elsewhere),
        ],
    ));
    assert!(matches!(error, CommandError::Invalid(_)), "{error}");
    // The same feature twice in one environment is refused too.
    let error = h.refused(edit(
        Vec::new(),
        vec![enable(production, banner), enable(production, banner)],
    ));
    assert!(matches!(error, CommandError::Invalid(_)), "{error}");

    let before = h.machine.catalog().clone();
    h.ok(edit(
        Vec::new(),
        vec![enable(production, banner), enable(staging, banner)],
    ));
    let catalog = h.machine.catalog();
    for env in [production, staging] {
        let state = catalog.default_state(env, banner).unwrap();
        assert!(state.enabled);
        assert_eq!(state.value, StoredValue::String("on".into()));
        // One new revision per environment and command.
        assert_eq!(
            catalog.environments[&env].revision,
            before.environments[&env].revision + 1,
            "{env}"
        );
    }
}

#[test]
fn a_moved_environment_refuses_the_whole_edit_naming_each_one() {
    let mut h = ready();
    let (project, production, banner) = h.project("Web");
    let staging = second_environment(&mut h, project);
    let revision = |h: &Harness, env: u32| h.machine.catalog().environments[&env].revision;
    let guards = vec![
        RevisionGuard {
            environment_id: production,
            revision: revision(&h, production),
        },
        RevisionGuard {
            environment_id: staging,
            revision: revision(&h, staging) + 1,
        },
    ];
    let error = h.refused(edit(
        guards.clone(),
        vec![enable(production, banner), enable(staging, banner)],
    ));
    assert_eq!(
        error,
        CommandError::EnvironmentsChanged(vec![StaleRevision {
            environment_id: staging,
            expected: revision(&h, staging) + 1,
            actual: revision(&h, staging),
        }])
    );
    let mut fresh = guards;
    fresh[1].revision -= 1;
    h.ok(edit(fresh, vec![enable(production, banner)]));
}

#[test]
fn segment_overrides_are_replaced_in_order_keeping_the_seeds_of_those_that_stay() {
    let mut h = ready();
    let (project, env, banner) = h.project("Web");
    let segment = |h: &mut Harness, name: &str| {
        h.created(Command::CreateSegment {
            project_id: project,
            name: name.into(),
            description: None,
            rules: Vec::new(),
        })
    };
    let (beta, pros, staff) = (
        segment(&mut h, "beta"),
        segment(&mut h, "pros"),
        segment(&mut h, "staff"),
    );
    let config = |segment_id: u32, value: &str| OverrideConfig {
        segment_id,
        enabled: true,
        value: StoredValue::String(value.into()),
        variants: Vec::new(),
    };
    let replace = |overrides: Vec<OverrideConfig>| {
        edit(
            Vec::new(),
            vec![FeatureEdit {
                environment_id: env,
                feature_id: banner,
                default: StatePatch::default(),
                segment_overrides: Some(overrides),
            }],
        )
    };
    h.ok(replace(vec![config(beta, "b"), config(pros, "p")]));
    let seeds = |h: &Harness| -> Vec<(u32, u32, String, StoredValue)> {
        let catalog = h.machine.catalog();
        let mut overrides: Vec<_> = catalog
            .environment_states(env)
            .filter_map(|s| match s.target {
                StateTarget::Segment {
                    segment_id,
                    priority,
                } => Some((priority, segment_id, s.uuid.clone(), s.value.clone())),
                _ => None,
            })
            .collect();
        overrides.sort_by_key(|o| (o.0, o.1));
        overrides
    };
    let before = seeds(&h);
    assert_eq!(
        before.iter().map(|o| (o.0, o.1)).collect::<Vec<_>>(),
        [(0, beta), (1, pros)]
    );
    // pros moves first with a new value, staff is new, beta goes.
    h.ok(replace(vec![config(pros, "p2"), config(staff, "s")]));
    let after = seeds(&h);
    assert_eq!(
        after.iter().map(|o| (o.0, o.1)).collect::<Vec<_>>(),
        [(0, pros), (1, staff)]
    );
    assert_eq!(after[0].2, before[1].2, "pros keeps its seed");
    assert_eq!(after[0].3, StoredValue::String("p2".into()));
    assert!(before.iter().all(|o| o.2 != after[1].2), "staff is new");
    // A segment twice, or of another project, is refused.
    let error = h.refused(replace(vec![config(pros, "x"), config(pros, "y")]));
    assert!(matches!(error, CommandError::Invalid(_)), "{error}");
    let (other, _, _) = h.project("Other");
    let foreign = h.created(Command::CreateSegment {
        project_id: other,
        name: "foreign".into(),
        description: None,
        rules: Vec::new(),
    });
    let error = h.refused(replace(vec![config(foreign, "x")]));
    assert!(matches!(error, CommandError::Invalid(_)), "{error}");
}

#[test]
fn edits_wait_for_their_command_format() {
    let mut h = Harness::initialised();
    let (_, env, banner) = h.project("Web");
    let error = h.refused(edit(Vec::new(), vec![enable(env, banner)]));
    assert!(
        matches!(error, CommandError::UpgradeInProgress { .. }),
        "{error}"
    );
}
