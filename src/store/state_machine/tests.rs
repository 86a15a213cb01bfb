//! Unit tests of the state machine: every command kind accepted, refused (changing nothing but
//! the index) and re-applied (changing nothing at all).

#![allow(clippy::unwrap_used)]

use super::CommandError;
use super::harness::{Harness, envelope, feature};
use crate::store::command::{
    Applied, Command, ImportedEnvironment, ImportedFeature, ImportedSegment, NewToken,
    SegmentOverrideChange, SettingsPatch, StatePatch, TraitWrite,
};
use crate::store::records::{
    EnvironmentSettingsRecord, StoredFeatureKind, StoredValue, VariantWeightRecord,
};

fn traits(pairs: &[(&str, Option<i64>)]) -> Vec<TraitWrite> {
    pairs
        .iter()
        .map(|(k, v)| TraitWrite {
            key: (*k).into(),
            value: v.map(StoredValue::Integer),
        })
        .collect()
}

#[test]
fn nothing_applies_before_initialisation_and_initialisation_happens_once() {
    let mut h = Harness::new();
    assert_eq!(
        h.run(Command::CreateProject {
            name: "Web".into(),
            hide_disabled_flags: false
        }),
        Err(CommandError::NotInitialized)
    );
    h.ok(Command::Initialize {
        organisation_name: "default".into(),
        instance_seed: [1; 16],
        admin_token: Some(NewToken::organisation_admin(
            "bootstrap",
            [2; 32],
            String::new(),
        )),
        setup: None,
    });
    assert_eq!(h.machine.catalog().tokens.len(), 1);
    assert!(matches!(
        h.refused(Command::Initialize {
            organisation_name: "again".into(),
            instance_seed: [3; 16],
            admin_token: None,
            setup: None,
        }),
        CommandError::Conflict(_)
    ));
}

#[test]
fn organisation_and_tokens() {
    let mut h = Harness::initialised();
    h.created(Command::CreateApiToken(NewToken::organisation_admin(
        "ci",
        [9; 32],
        String::new(),
    )));
    h.refused(Command::CreateApiToken(NewToken::organisation_admin(
        " ",
        [8; 32],
        String::new(),
    )));
    let (_, env, _) = h.project("Web");
    let revision = h.machine.catalog().environments[&env].revision;
    h.ok(Command::UpdateOrganisation {
        name: Some("Acme".into()),
        persist_trait_data: Some(false),
        stop_serving_flags: None,
    });
    let catalog = h.machine.catalog();
    assert_eq!(catalog.organisation().unwrap().name, "Acme");
    assert!(!catalog.organisation().unwrap().persist_trait_data);
    assert_eq!(
        catalog.environments[&env].revision,
        revision + 1,
        "served flags may change"
    );
    h.refused(Command::UpdateOrganisation {
        name: Some(String::new()),
        persist_trait_data: None,
        stop_serving_flags: None,
    });
}

#[test]
fn projects() {
    let mut h = Harness::initialised();
    let (project, env, _) = h.project("Web");
    assert!(matches!(
        h.refused(Command::CreateProject {
            name: "Web".into(),
            hide_disabled_flags: false
        }),
        CommandError::Conflict(_)
    ));
    h.ok(Command::UpdateProject {
        id: project,
        name: Some("Website".into()),
        hide_disabled_flags: Some(true),
    });
    assert_eq!(h.machine.catalog().projects[&project].name, "Website");
    h.refused(Command::UpdateProject {
        id: 99,
        name: None,
        hide_disabled_flags: None,
    });
    h.ok(Command::DeleteProject { id: project });
    let catalog = h.machine.catalog();
    assert!(catalog.projects.is_empty() && catalog.features.is_empty());
    assert!(catalog.environments.is_empty() && catalog.states.is_empty());
    assert!(
        catalog.purges.contains(&env),
        "identity rows go in the background"
    );
    h.refused(Command::DeleteProject { id: project });
}

#[test]
fn environments() {
    let mut h = Harness::initialised();
    let (project, env, feature) = h.project("Web");
    let catalog = h.machine.catalog().clone();
    assert!(
        catalog.default_state(env, feature).is_some(),
        "every feature gets a state"
    );
    h.refused(Command::CreateEnvironment {
        project_id: project,
        name: "Staging".into(),
        client_key: "short".into(),
        settings: EnvironmentSettingsRecord::default(),
    });
    h.refused(Command::CreateEnvironment {
        project_id: project,
        name: "Staging".into(),
        client_key: "key-Web-production".into(),
        settings: EnvironmentSettingsRecord::default(),
    });
    let revision = catalog.environments[&env].revision;
    h.ok(Command::UpdateEnvironment {
        id: env,
        expected_revision: Some(revision),
        name: Some("Prod".into()),
        settings: SettingsPatch {
            hide_sensitive_data: Some(true),
            ..SettingsPatch::default()
        },
    });
    assert_eq!(
        h.refused(Command::UpdateEnvironment {
            id: env,
            expected_revision: Some(revision),
            name: None,
            settings: SettingsPatch::default(),
        }),
        CommandError::RevisionMismatch {
            expected: revision,
            actual: revision + 1
        }
    );
    h.ok(Command::DeleteEnvironment { id: env });
    let catalog = h.machine.catalog();
    assert!(!catalog.environments.contains_key(&env));
    assert_eq!(catalog.environment_states(env).count(), 0);
    assert!(catalog.purges.contains(&env));
    h.refused(Command::DeleteEnvironment { id: env });
}

#[test]
fn purges_remove_rows_in_bounded_steps() {
    let mut h = Harness::initialised();
    let (_, env, _) = h.project("Web");
    let identifies = (0..25)
        .map(|i| Command::Identify {
            environment_id: env,
            identifier: format!("user-{i:02}"),
            traits: traits(&[("a", Some(i)), ("b", Some(i))]),
            max_traits: 10,
        })
        .collect();
    h.batch(identifies);
    h.refused(Command::PurgeEnvironment {
        environment_id: env,
        max_rows: 10,
    });
    h.ok(Command::DeleteEnvironment { id: env });
    let mut steps = 0;
    loop {
        steps += 1;
        match h.ok(Command::PurgeEnvironment {
            environment_id: env,
            max_rows: 10,
        }) {
            // Each identity is three rows: a step of 10 rows takes four identities.
            Applied::Removed { count, more: true } => assert_eq!(count, 4),
            Applied::Removed { more: false, .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(steps, 7);
    assert!(h.machine.catalog().purges.is_empty());
    h.refused(Command::PurgeEnvironment {
        environment_id: env,
        max_rows: 10,
    });
}

#[test]
fn features_and_states() {
    let mut h = Harness::initialised();
    let (project, env, feature_id) = h.project("Web");
    assert!(matches!(
        h.refused(feature(project, "BANNER")),
        CommandError::Conflict(_)
    ));
    h.ok(Command::UpdateFeature {
        id: feature_id,
        description: Some(Some("the top banner".into())),
        server_key_only: Some(true),
    });
    let option = h.machine.catalog().features[&feature_id].options[0].id;
    h.ok(Command::SetFeatureState {
        environment_id: env,
        feature_id,
        expected_revision: None,
        patch: StatePatch {
            enabled: Some(true),
            value: Some(StoredValue::Integer(3)),
            variants: Some(vec![VariantWeightRecord {
                option_id: option,
                weight: 50.0,
            }]),
        },
    });
    let state = h
        .machine
        .catalog()
        .default_state(env, feature_id)
        .cloned()
        .unwrap();
    assert!(state.enabled && state.value == StoredValue::Integer(3));
    h.refused(Command::SetFeatureState {
        environment_id: env,
        feature_id,
        expected_revision: None,
        patch: StatePatch {
            variants: Some(vec![VariantWeightRecord {
                option_id: option,
                weight: 101.0,
            }]),
            ..StatePatch::default()
        },
    });
    h.ok(Command::DeleteFeature { id: feature_id });
    assert_eq!(h.machine.catalog().environment_states(env).count(), 0);
    h.refused(Command::DeleteFeature { id: feature_id });
}

fn segment(project_id: u32, name: &str) -> Command {
    Command::CreateSegment {
        project_id,
        name: name.into(),
        description: None,
        rules: Vec::new(),
    }
}

fn set_override(env: u32, feature: u32, segment: u32, priority: Option<u32>) -> Command {
    Command::SetSegmentOverride(SegmentOverrideChange {
        environment_id: env,
        feature_id: feature,
        segment_id: segment,
        priority,
        expected_revision: None,
        patch: StatePatch {
            enabled: Some(true),
            ..StatePatch::default()
        },
    })
}

#[test]
fn segments_and_overrides() {
    let mut h = Harness::initialised();
    let (project, env, feature) = h.project("Web");
    let (other_project, _, _) = h.project("Other");
    let a = h.created(segment(project, "Beta"));
    let b = h.created(segment(project, "Staff"));
    let foreign = h.created(segment(other_project, "Foreign"));
    assert!(matches!(
        h.refused(segment(project, "beta")),
        CommandError::Conflict(_)
    ));
    h.refused(Command::UpdateSegment {
        id: b,
        name: Some("BETA".into()),
        description: None,
        rules: None,
    });
    h.ok(Command::UpdateSegment {
        id: b,
        name: Some("Staff".into()),
        description: Some(Some("employees".into())),
        rules: None,
    });
    h.ok(set_override(env, feature, a, None));
    h.ok(set_override(env, feature, b, Some(0)));
    h.refused(set_override(env, feature, foreign, None));
    let order = |h: &Harness| {
        let mut overrides: Vec<(u32, u32)> = h
            .machine
            .catalog()
            .environment_states(env)
            .filter_map(|s| match s.target {
                crate::store::records::StateTarget::Segment {
                    segment_id,
                    priority,
                } => Some((priority, segment_id)),
                _ => None,
            })
            .collect();
        overrides.sort_unstable();
        overrides
    };
    assert_eq!(order(&h), vec![(0, b), (1, a)]);
    h.refused(Command::ReorderSegmentOverrides {
        environment_id: env,
        feature_id: feature,
        segment_ids: vec![a],
    });
    h.ok(Command::ReorderSegmentOverrides {
        environment_id: env,
        feature_id: feature,
        segment_ids: vec![a, b],
    });
    assert_eq!(order(&h), vec![(0, a), (1, b)]);
    h.ok(Command::DeleteSegmentOverride {
        environment_id: env,
        feature_id: feature,
        segment_id: a,
    });
    assert_eq!(order(&h), vec![(0, b)]);
    h.refused(Command::DeleteSegmentOverride {
        environment_id: env,
        feature_id: feature,
        segment_id: a,
    });
    h.ok(Command::DeleteSegment { id: b });
    assert!(order(&h).is_empty(), "a segment's overrides go with it");
    h.refused(Command::DeleteSegment { id: b });
}

#[test]
fn identities_traits_and_overrides() {
    let mut h = Harness::initialised();
    let (_, env, feature) = h.project("Web");
    let identify = |traits| Command::Identify {
        environment_id: env,
        identifier: "alice".into(),
        traits,
        max_traits: 3,
    };
    assert!(matches!(
        h.ok(identify(traits(&[("a", Some(1)), ("b", Some(2))]))),
        Applied::Identified { changed: true, .. }
    ));
    assert!(matches!(
        h.ok(identify(traits(&[("a", Some(1))]))),
        Applied::Identified { changed: false, .. }
    ));
    // Over the limit: refused as a whole, nothing of it written.
    assert!(matches!(
        h.refused(identify(traits(&[("c", Some(3)), ("d", Some(4))]))),
        CommandError::LimitExceeded(_)
    ));
    h.ok(identify(traits(&[("a", None), ("c", Some(3))])));
    // Trait names are checked by the state machine too, not only at the edges.
    assert!(matches!(
        h.refused(identify(traits(&[("", Some(1))]))),
        CommandError::Invalid(_)
    ));
    let long_name = "k".repeat(201);
    assert!(matches!(
        h.refused(identify(traits(&[(long_name.as_str(), Some(1))]))),
        CommandError::Invalid(_)
    ));
    h.ok(Command::SetIdentityOverride {
        environment_id: env,
        feature_id: feature,
        identifier: "alice".into(),
        patch: StatePatch {
            enabled: Some(true),
            ..StatePatch::default()
        },
    });
    h.refused(Command::SetIdentityOverride {
        environment_id: env,
        feature_id: feature,
        identifier: String::new(),
        patch: StatePatch::default(),
    });
    h.ok(Command::DeleteIdentityOverride {
        environment_id: env,
        feature_id: feature,
        identifier: "alice".into(),
    });
    h.refused(Command::DeleteIdentityOverride {
        environment_id: env,
        feature_id: feature,
        identifier: "alice".into(),
    });
    h.ok(Command::DeleteIdentity {
        environment_id: env,
        identifier: "alice".into(),
    });
    h.refused(Command::DeleteIdentity {
        environment_id: env,
        identifier: "alice".into(),
    });
    h.batch(
        (0..5)
            .map(|i| Command::Identify {
                environment_id: env,
                identifier: format!("u{i}"),
                traits: traits(&[("x", Some(i))]),
                max_traits: 3,
            })
            .collect(),
    );
    assert_eq!(
        h.ok(Command::DeleteIdentities {
            environment_id: env,
            max_rows: 4,
        }),
        Applied::Removed {
            count: 2,
            more: true
        }
    );
    assert_eq!(
        h.ok(Command::DeleteIdentities {
            environment_id: env,
            max_rows: 100,
        }),
        Applied::Removed {
            count: 3,
            more: false
        }
    );
}

#[test]
fn server_keys() {
    let mut h = Harness::initialised();
    let (_, env, _) = h.project("Web");
    let create = Command::CreateServerKey {
        expires_at: None,
        environment_id: env,
        name: "backend".into(),
        key_hash: [5; 32],
        prefix: "ser.abc".into(),
    };
    let id = h.created(create.clone());
    h.refused(create);
    h.ok(Command::RevokeServerKey { id });
    assert!(!h.machine.catalog().server_keys[&id].active);
    h.refused(Command::RevokeServerKey { id: 99 });
}

fn imported(features: &[&str], segments: &[(u32, &str)]) -> Command {
    Command::ImportEnvironment(Box::new(ImportedEnvironment {
        project_name: "Imported".into(),
        project_hide_disabled_flags: false,
        name: "Production".into(),
        client_key: "imported-client-key".into(),
        settings: EnvironmentSettingsRecord::default(),
        replace: false,
        features: features
            .iter()
            .map(|name| ImportedFeature {
                name: (*name).into(),
                kind: StoredFeatureKind::Standard,
                server_key_only: false,
                options: Vec::new(),
            })
            .collect(),
        segments: segments
            .iter()
            .map(|(id, name)| ImportedSegment {
                id: *id,
                name: (*name).into(),
                rules: Vec::new(),
            })
            .collect(),
        states: Vec::new(),
    }))
}

#[test]
fn imports_keep_segment_ids_and_refuse_clashing_names() {
    let mut h = Harness::initialised();
    let error = h.refused(imported(&["banner", "Banner", "x", "X"], &[]));
    let message = error.to_string();
    assert!(
        message.contains(r#""banner" and "Banner""#) && message.contains(r#""x" and "X""#),
        "{message}"
    );
    h.refused(imported(&["banner"], &[(40, "Beta"), (12, "beta")]));
    let env = h.created(imported(&["banner"], &[(40, "Beta"), (12, "Staff")]));
    let catalog = h.machine.catalog();
    assert!(catalog.segments.contains_key(&40) && catalog.segments.contains_key(&12));
    assert_eq!(catalog.environments[&env].client_key, "imported-client-key");
    assert!(matches!(
        h.refused(imported(&["banner"], &[])),
        CommandError::Conflict(_)
    ));
}

#[test]
fn a_reapplied_entry_changes_nothing() {
    let mut h = Harness::initialised();
    h.project("Web");
    let before = h.machine.catalog().clone();
    let index = before.meta.last_applied;
    let mut batch = h.machine.begin().unwrap();
    let answer = batch
        .apply_at(
            index,
            &envelope(Command::CreateProject {
                name: "Again".into(),
                hide_disabled_flags: false,
            }),
            |_, _| Ok(()),
        )
        .unwrap();
    assert!(matches!(answer, Err(CommandError::Conflict(_))));
    batch.commit().unwrap();
    let after = h.machine.catalog();
    assert_eq!(after.meta, before.meta);
    assert_eq!(after.projects, before.projects);
}

#[test]
fn an_unpublishable_command_is_refused_and_the_batch_goes_on() {
    let mut h = Harness::initialised();
    let mut batch = h.machine.begin().unwrap();
    let first = batch
        .apply(
            &envelope(Command::CreateProject {
                name: "Web".into(),
                hide_disabled_flags: false,
            }),
            |_, _| Ok(()),
        )
        .unwrap();
    let project = match first {
        Ok(Applied::Created { id }) => id,
        other => panic!("{other:?}"),
    };
    let second = batch
        .apply(
            &envelope(Command::CreateEnvironment {
                project_id: project,
                name: "Production".into(),
                client_key: "key-production".into(),
                settings: EnvironmentSettingsRecord::default(),
            }),
            |_, _| Err("the snapshot build failed".into()),
        )
        .unwrap();
    assert!(matches!(second, Err(CommandError::Failed(_))));
    let committed = batch.commit().unwrap();
    assert_eq!(committed.catalog.projects.len(), 1);
    assert!(committed.catalog.environments.is_empty());
    assert_eq!(committed.catalog.meta.last_applied, 3);
}
