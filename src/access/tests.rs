use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::store::people::RoleRecord;
use crate::store::records::EnvironmentRecord;

/// Project 1 with environments 10 (staging) and 11 (production); project 2 with 20.
fn catalog() -> Catalog {
    let env = |id, project_id| EnvironmentRecord {
        id,
        project_id,
        name: format!("env {id}"),
        client_key: format!("key{id}"),
        settings: Default::default(),
        revision: 0,
        updated_at: 0,
        created_at: 0,
    };
    Catalog {
        environments: Arc::new(BTreeMap::from([
            (10, env(10, 1)),
            (11, env(11, 1)),
            (20, env(20, 2)),
        ])),
        roles: Arc::new(BTreeMap::from([(
            5,
            RoleRecord {
                id: 5,
                name: "flipper".into(),
                description: None,
                permissions: PermSet::of(&[
                    Permission::UpdateFeatureState,
                    Permission::ViewEnvironment,
                    Permission::CreateProject,
                ]),
                created_at: 0,
            },
        )])),
        ..Catalog::default()
    }
}

fn grant(role: RoleRef, scope: Scope) -> Assignment {
    Assignment { role, scope }
}

const EDITOR: RoleRef = RoleRef::Builtin(BuiltinRole::Editor);
const VIEWER: RoleRef = RoleRef::Builtin(BuiltinRole::Viewer);

#[test]
fn admin_on_the_organisation_may_do_everything() {
    let c = catalog();
    let access = Access::of(
        &c,
        [grant(
            RoleRef::Builtin(BuiltinRole::Admin),
            Scope::Organisation,
        )],
    );
    for p in Permission::ALL {
        for target in [
            Target::Organisation,
            Target::Project(1),
            Target::Environment(11),
            Target::Anywhere,
        ] {
            assert!(access.allows(&c, *p, target), "{p:?} {target:?}");
        }
    }
}

#[test]
fn editor_on_staging_and_viewer_on_production() {
    let c = catalog();
    let access = Access::of(
        &c,
        [
            grant(EDITOR, Scope::Environment(10)),
            grant(VIEWER, Scope::Environment(11)),
        ],
    );
    assert!(access.allows(&c, Permission::UpdateFeatureState, Target::Environment(10)));
    assert!(!access.allows(&c, Permission::UpdateFeatureState, Target::Environment(11)));
    assert!(access.allows(&c, Permission::ViewEnvironment, Target::Environment(11)));
    assert!(!access.allows(&c, Permission::ViewEnvironment, Target::Environment(20)));
    // An environment grant shows its project (to navigate to the features), nothing more.
    assert!(access.allows(&c, Permission::ViewProject, Target::Project(1)));
    assert!(!access.allows(&c, Permission::ViewProject, Target::Project(2)));
    assert!(!access.allows(&c, Permission::CreateFeature, Target::Project(1)));
    // Organisation permissions never come from a narrower grant.
    assert!(!access.allows(&c, Permission::CreateProject, Target::Organisation));
    assert!(access.allows(&c, Permission::UpdateFeatureState, Target::Anywhere));
    assert!(!access.allows(&c, Permission::ManageServerKeys, Target::Anywhere));
}

#[test]
fn a_project_grant_covers_its_environments_only() {
    let c = catalog();
    let access = Access::of(&c, [grant(EDITOR, Scope::Project(1))]);
    assert!(access.allows(&c, Permission::CreateFeature, Target::Project(1)));
    assert!(access.allows(&c, Permission::UpdateFeatureState, Target::Environment(11)));
    assert!(!access.allows(&c, Permission::UpdateFeatureState, Target::Environment(20)));
    assert!(!access.allows(&c, Permission::CreateFeature, Target::Project(2)));
    assert!(!access.allows(&c, Permission::ManageServerKeys, Target::Environment(10)));
}

#[test]
fn custom_roles_and_the_union_of_grants() {
    let c = catalog();
    let access = Access::of(
        &c,
        [
            grant(RoleRef::Custom(5), Scope::Project(2)),
            grant(VIEWER, Scope::Project(1)),
        ],
    );
    assert!(access.allows(&c, Permission::UpdateFeatureState, Target::Environment(20)));
    assert!(access.allows(&c, Permission::ViewEnvironment, Target::Environment(10)));
    // The role's organisation permission does not apply at a project grant.
    assert!(!access.allows(&c, Permission::CreateProject, Target::Organisation));
    // A role that is gone gives nothing.
    let gone = Access::of(&c, [grant(RoleRef::Custom(99), Scope::Organisation)]);
    assert!(gone.is_empty());
}

#[test]
fn covers_is_the_no_escalation_rule() {
    let c = catalog();
    let editor_p1 = Access::of(&c, [grant(EDITOR, Scope::Project(1))]);
    assert!(editor_p1.covers(&c, grant(VIEWER, Scope::Environment(10))));
    assert!(editor_p1.covers(&c, grant(EDITOR, Scope::Project(1))));
    assert!(!editor_p1.covers(&c, grant(EDITOR, Scope::Project(2))));
    assert!(!editor_p1.covers(&c, grant(VIEWER, Scope::Organisation)));
    assert!(!editor_p1.covers(
        &c,
        grant(RoleRef::Builtin(BuiltinRole::Admin), Scope::Environment(10))
    ));
    let explicit = RoleRef::Explicit(PermSet::of(&[Permission::UpdateFeatureState]));
    assert!(editor_p1.covers(&c, grant(explicit, Scope::Environment(11))));
}

#[test]
fn permission_keys_round_trip_and_bits_are_distinct() {
    let mut bits = std::collections::HashSet::new();
    for p in Permission::ALL {
        assert_eq!(Permission::from_key(p.key()), Some(*p));
        assert!(bits.insert(*p as u8), "bit of {p:?} reused");
    }
    assert!(PermSet::from_keys(["VIEW_PROJECT", "NOPE"]).is_err());
    let set = PermSet::from_keys(["VIEW_PROJECT", "UPDATE_FEATURE_STATE"]).unwrap();
    assert_eq!(set.keys(), vec!["VIEW_PROJECT", "UPDATE_FEATURE_STATE"]);
}
