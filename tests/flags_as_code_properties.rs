//! A property of flags as code, with the real binary: random edits made through the admin
//! API on one server, and the same edits written into a flags file and applied with
//! `burgee apply` on another, leave both servers in the same state (their exports equal,
//! but for the seeds of overrides each server created itself).

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

use burgee::manifest::{Manifest, OverrideSpec, VariantSpec, from_yaml, to_yaml};
use common::server::{Admin, Server, cli};

const ENVIRONMENTS: [&str; 2] = ["Production", "Staging"];
const FEATURES: [&str; 2] = ["banner", "checkout"];
const SEGMENTS: [&str; 2] = ["beta", "half"];

#[derive(Debug, Clone)]
enum Edit {
    Flag {
        env: usize,
        feature: usize,
        enabled: bool,
        value: Value,
    },
    /// checkout's weights of options "new" and 7.
    Weights {
        env: usize,
        new: u32,
        seven: u32,
    },
    /// banner's overrides, strongest first: (segment, enabled, value).
    Overrides {
        env: usize,
        list: Vec<(usize, bool, Value)>,
    },
    Tags {
        feature: usize,
        tags: Vec<String>,
    },
    Archive {
        feature: usize,
        archived: bool,
    },
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("a")),
        Just(json!("b")),
        Just(json!(7)),
        Just(json!(true)),
        Just(Value::Null),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..2usize, 0..2usize, any::<bool>(), value()).prop_map(
            |(env, feature, enabled, value)| {
                Edit::Flag {
                    env,
                    feature,
                    enabled,
                    value,
                }
            }
        ),
        (0..2usize, 0..=50u32, 0..=50u32).prop_map(|(env, new, seven)| Edit::Weights {
            env,
            new,
            seven
        }),
        (
            0..2usize,
            proptest::sample::subsequence(vec![0usize, 1], 0..=2).prop_shuffle(),
            any::<bool>(),
            value()
        )
            .prop_map(|(env, segments, enabled, value)| Edit::Overrides {
                env,
                list: segments
                    .into_iter()
                    .map(|s| (s, enabled, value.clone()))
                    .collect(),
            }),
        (
            0..2usize,
            proptest::sample::subsequence(vec!["x", "team:z", "temporary"], 0..=3)
        )
            .prop_map(|(feature, tags)| Edit::Tags {
                feature,
                tags: tags.into_iter().map(str::to_owned).collect(),
            }),
        (0..2usize, any::<bool>())
            .prop_map(|(feature, archived)| Edit::Archive { feature, archived }),
    ]
}

async fn ok(admin: &Admin, method: Method, path: &str, body: Option<Value>) {
    let (code, answer) = admin.call(method, path, body).await;
    assert!((200..300).contains(&code), "{path}: {code} {answer}");
}

/// The edit through the admin API (ids: environments 1 and 2, features 1 and 2, segments 1
/// and 2, checkout's options 1 and 2 — the setup's order).
async fn through_the_api(admin: &Admin, edit: &Edit) {
    let env = |i: usize| i + 1;
    match edit {
        Edit::Flag {
            env: e,
            feature,
            enabled,
            value,
        } => {
            let path = format!(
                "/admin/v1/environments/{}/features/{}/state",
                env(*e),
                feature + 1
            );
            ok(
                admin,
                Method::PATCH,
                &path,
                Some(json!({"enabled": enabled, "value": value})),
            )
            .await;
        }
        Edit::Weights { env: e, new, seven } => {
            let path = format!("/admin/v1/environments/{}/features/2/state", env(*e));
            let variants =
                json!([{"option_id": 1, "weight": new}, {"option_id": 2, "weight": seven}]);
            ok(
                admin,
                Method::PATCH,
                &path,
                Some(json!({"variants": variants})),
            )
            .await;
        }
        Edit::Overrides { env: e, list } => {
            let base = format!(
                "/admin/v1/environments/{}/features/1/segment-overrides",
                env(*e)
            );
            for segment in 0..2 {
                if list.iter().all(|(s, _, _)| *s != segment) {
                    let (code, answer) = admin
                        .call(Method::DELETE, &format!("{base}/{}", segment + 1), None)
                        .await;
                    assert!(code == 204 || code == 404, "{code} {answer}");
                }
            }
            for (segment, enabled, value) in list {
                let path = format!("{base}/{}", segment + 1);
                ok(
                    admin,
                    Method::PUT,
                    &path,
                    Some(json!({"enabled": enabled, "value": value})),
                )
                .await;
            }
            if !list.is_empty() {
                let order: Vec<usize> = list.iter().map(|(s, _, _)| s + 1).collect();
                ok(
                    admin,
                    Method::PUT,
                    &base,
                    Some(json!({"segment_ids": order})),
                )
                .await;
            }
        }
        Edit::Tags { feature, tags } => {
            let path = format!("/admin/v1/features/{}", feature + 1);
            ok(admin, Method::PATCH, &path, Some(json!({"tags": tags}))).await;
        }
        Edit::Archive { feature, archived } => {
            let path = format!("/admin/v1/features/{}", feature + 1);
            ok(
                admin,
                Method::PATCH,
                &path,
                Some(json!({"archived": archived})),
            )
            .await;
        }
    }
}

/// The same edit written into the file.
fn into_the_file(manifest: &mut Manifest, edit: &Edit) {
    let flag = |m: &mut Manifest, env: usize, feature: usize| {
        m.environments
            .iter_mut()
            .find(|e| e.name == ENVIRONMENTS[env])
            .unwrap()
            .flags
            .get_mut(FEATURES[feature])
            .unwrap()
            .clone()
    };
    let put = |m: &mut Manifest, env: usize, feature: usize, f| {
        m.environments
            .iter_mut()
            .find(|e| e.name == ENVIRONMENTS[env])
            .unwrap()
            .flags
            .insert(FEATURES[feature].to_owned(), f);
    };
    match edit {
        Edit::Flag {
            env,
            feature,
            enabled,
            value,
        } => {
            let mut f = flag(manifest, *env, *feature);
            f.enabled = *enabled;
            f.value = value.clone();
            put(manifest, *env, *feature, f);
        }
        Edit::Weights { env, new, seven } => {
            let mut f = flag(manifest, *env, 1);
            f.variants = Some(vec![
                VariantSpec {
                    option: json!("new"),
                    weight: f64::from(*new),
                },
                VariantSpec {
                    option: json!(7),
                    weight: f64::from(*seven),
                },
            ]);
            put(manifest, *env, 1, f);
        }
        Edit::Overrides { env, list } => {
            let mut f = flag(manifest, *env, 0);
            let current = f.segment_overrides.clone().unwrap_or_default();
            f.segment_overrides = Some(
                list.iter()
                    .map(|(segment, enabled, value)| OverrideSpec {
                        segment: SEGMENTS[*segment].to_owned(),
                        enabled: *enabled,
                        value: value.clone(),
                        // An override that stays keeps its seed, as through the API.
                        seed: current
                            .iter()
                            .find(|o| o.segment == SEGMENTS[*segment])
                            .and_then(|o| o.seed.clone()),
                        variants: Vec::new(),
                    })
                    .collect(),
            );
            put(manifest, *env, 0, f);
        }
        Edit::Tags { feature, tags } => {
            manifest.features[*feature].tags.clone_from(tags);
        }
        Edit::Archive { feature, archived } => {
            manifest.features[*feature].archived = *archived;
        }
    }
}

fn export(server: &Server) -> Manifest {
    let (code, out, err) = cli(server, &["export", "yaml", "--project", "Web"]);
    assert_eq!(code, 0, "{err}");
    from_yaml(&out).unwrap()
}

/// Without what each server chose itself: the seeds of overrides and the client keys.
fn comparable(mut manifest: Manifest) -> Manifest {
    for environment in &mut manifest.environments {
        environment.client_key = None;
        for flag in environment.flags.values_mut() {
            for o in flag.segment_overrides.iter_mut().flatten() {
                o.seed = None;
            }
        }
    }
    manifest
}

async fn setup(admin: &Admin) {
    admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Staging"}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "a"}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "checkout", "type": "MULTIVARIATE", "initial_value": "old",
                   "options": [{"value": "new", "default_weight": 30}, {"value": 7, "default_weight": 20}]}),
        )
        .await;
    for (name, operator, value) in [
        ("beta", "EQUAL", "true"),
        ("half", "PERCENTAGE_SPLIT", "50"),
    ] {
        let property = if name == "beta" { "beta" } else { "" };
        admin
            .post(
                "/admin/v1/projects/1/segments",
                json!({"name": name, "rules": [{"type": "ALL", "conditions": [
                    {"property": property, "operator": operator, "value": value}]}]}),
            )
            .await;
    }
}

#[test]
fn edits_through_the_api_and_through_a_file_give_the_same_state() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let by_api = Server::start();
    let by_file = Server::start();
    let api = Admin::new(&by_api);
    runtime.block_on(setup(&api));
    let start = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(start.path(), to_yaml(&export(&by_api)).unwrap()).unwrap();
    let (code, _, err) = cli(&by_file, &["apply", "-f", start.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(edit(), 1..6), |edits| {
        let mut manifest = export(&by_file);
        for edit in &edits {
            runtime.block_on(through_the_api(&api, edit));
            into_the_file(&mut manifest, edit);
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), to_yaml(&manifest).unwrap()).unwrap();
        let (code, _, err) = cli(&by_file, &["apply", "-f", file.path().to_str().unwrap()]);
        prop_assert_eq!(code, 0, "{}", err);
        let (a, b) = (comparable(export(&by_api)), comparable(export(&by_file)));
        if a != b {
            return Err(TestCaseError::fail(format!(
                "after {edits:?}:\nthrough the API:\n{}\nthrough the file:\n{}",
                to_yaml(&a).unwrap(),
                to_yaml(&b).unwrap()
            )));
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
