//! Property tests: no input makes parsing, compiling or evaluating panic; evaluation is
//! deterministic; percentage splits are uniform and behave at 0 and 100 as Flagsmith's do.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

use burgee::engine::{CompiledEnvironment, hashed_percentage};
use burgee::flagsmith::context::EvaluationContext;
use burgee::flagsmith::document::EnvironmentDocument;
use burgee::model::{
    Condition, ConditionValue, Environment, FeatureState, Identity, Operator, OverridePriority,
    Rule, RuleKind, Scalar, Segment, Traits, Variant, VariantOrder, Weight,
};
use proptest::prelude::*;

fn operator() -> impl Strategy<Value = Operator> {
    prop_oneof![
        9 => proptest::sample::select(Operator::ALL.to_vec()),
        1 => "[A-Z_]{0,12}".prop_map(|s| Operator::parse(&s)),
    ]
}

/// Values that stress the coercions: numbers in many spellings, versions, regexes, JSON.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,45}(\\.[0-9]{1,5})?",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[a-z0-9.]{1,6})?(:semver)?",
        "-?[0-9.]{0,4}\\|-?[0-9.]{0,4}",
        "[\\[\\]{}()*+?.^$|\\\\a-c0-9,\"' ]{0,12}",
        ".{0,16}",
        Just("nan".to_owned()),
        Just("inf".to_owned()),
        Just("True".to_owned()),
    ]
}

fn property() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,2}",
        Just(String::new()),
        Just("$.identity.identifier".to_owned()),
        Just("$.identity.key".to_owned()),
        Just("$.environment.name".to_owned()),
        "\\$\\.[a-z.\\[\\]'*?@ -]{0,14}",
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    (
        property(),
        operator(),
        prop_oneof![
            8 => tricky_text().prop_map(ConditionValue::Text),
            1 => Just(ConditionValue::Null),
            1 => proptest::collection::vec(tricky_text(), 0..4).prop_map(ConditionValue::List),
        ],
    )
        .prop_map(|(property, operator, value)| Condition {
            property,
            operator,
            value,
        })
}

fn rule() -> impl Strategy<Value = Rule> {
    let kind = proptest::sample::select(vec![RuleKind::All, RuleKind::Any, RuleKind::None]);
    let leaf = (kind.clone(), proptest::collection::vec(condition(), 0..4)).prop_map(
        |(kind, conditions)| Rule {
            kind,
            conditions,
            rules: vec![],
        },
    );
    leaf.prop_recursive(3, 12, 3, move |inner| {
        (
            kind.clone(),
            proptest::collection::vec(condition(), 0..3),
            proptest::collection::vec(inner, 0..3),
        )
            .prop_map(|(kind, conditions, rules)| Rule {
                kind,
                conditions,
                rules,
            })
    })
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        Just(Scalar::Null),
        any::<bool>().prop_map(Scalar::Bool),
        any::<i64>().prop_map(Scalar::Integer),
        any::<f64>().prop_map(Scalar::Float),
        tricky_text().prop_map(Scalar::String),
    ]
}

fn state(name: &'static str) -> impl Strategy<Value = FeatureState> {
    (
        any::<bool>(),
        scalar(),
        proptest::collection::vec((scalar(), -10.0f64..120.0, any::<u8>()), 0..3),
        prop_oneof![
            Just(OverridePriority::Absent),
            (-5.0f64..5.0).prop_map(OverridePriority::Value)
        ],
    )
        .prop_map(move |(enabled, value, variants, priority)| FeatureState {
            id: None,
            feature_id: Some(1),
            feature_name: name.to_owned(),
            enabled,
            value,
            hash_seed: "42".into(),
            variants: variants
                .into_iter()
                .map(|(value, weight, order)| Variant {
                    value,
                    weight: Weight::float(weight),
                    order: VariantOrder::Number(f64::from(order)),
                    key: None,
                })
                .collect(),
            priority,
            metadata: None,
        })
}

fn environment() -> impl Strategy<Value = Environment> {
    let segment = (
        proptest::collection::vec(rule(), 0..3),
        proptest::collection::vec(state("f"), 0..2),
        "[0-9a-z]{1,4}",
    )
        .prop_map(|(rules, overrides, key)| Segment {
            id: None,
            key: key.clone(),
            name: format!("segment {key}"),
            rules,
            overrides,
            metadata: None,
        });
    (
        state("f"),
        state("g"),
        proptest::collection::vec(segment, 0..4),
    )
        .prop_map(|(f, g, segments)| Environment {
            key: "env".into(),
            name: "Production".into(),
            features: vec![f, g],
            segments,
            identity_overrides: vec![],
        })
}

fn identity() -> impl Strategy<Value = Option<Identity>> {
    proptest::option::of(
        (
            "[a-z0-9_]{0,8}",
            proptest::collection::vec(("[a-c]{1,2}", scalar()), 0..5),
        )
            .prop_map(|(identifier, traits)| Identity {
                identifier,
                key: None,
                traits: traits.into_iter().collect::<Traits>(),
            }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn compiling_and_evaluating_never_panics_and_is_deterministic(env in environment(), identity in identity()) {
        let compiled = CompiledEnvironment::compile(&env);
        let first = compiled.evaluate(identity.as_ref()).map(|e| format!("{:?}", burgee::flagsmith::result::EvaluationResult::from(&e)));
        let again = CompiledEnvironment::compile(&env);
        let second = again.evaluate(identity.as_ref()).map(|e| format!("{:?}", burgee::flagsmith::result::EvaluationResult::from(&e)));
        prop_assert_eq!(first, second);
        let _ = burgee::engine::validate::validate_environment(&env);
        let _ = burgee::engine::explain::explain(&compiled, identity.as_ref());
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = serde_json::from_str::<EvaluationContext>(&text);
        let _ = serde_json::from_str::<EnvironmentDocument>(&text);
    }

    #[test]
    fn parsing_arbitrary_json_contexts_never_panics(value in arbitrary_json()) {
        let wrapped = serde_json::json!({"environment": {"key": "k", "name": "n"}, "identity": value, "features": value, "segments": value});
        if let Ok(context) = serde_json::from_value::<EvaluationContext>(wrapped) {
            let (env, identity) = context.into_domain();
            let _ = CompiledEnvironment::compile(&env).evaluate(identity.as_ref());
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i32>().prop_map(serde_json::Value::from),
        ".{0,8}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                "[a-z]{1,8}|key|name|rules|type|conditions|operator|value",
                inner,
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// 100 000 identities across ten percentage bands: each within 1% (absolute) of 10%.
#[test]
fn percentage_split_is_uniform() {
    let mut bands = [0u32; 10];
    for i in 0..100_000 {
        let key = format!("env_user-{i}");
        let p = hashed_percentage(&["7", &key]);
        assert!((0.0..100.0).contains(&p), "{p} out of range");
        bands[(p / 10.0) as usize] += 1;
    }
    for (band, count) in bands.iter().enumerate() {
        assert!(
            (9_000..=11_000).contains(count),
            "band {band} holds {count} of 100000"
        );
    }
}

fn split_environment(threshold: &str) -> Environment {
    Environment {
        key: "env".into(),
        name: "Production".into(),
        features: vec![],
        segments: vec![Segment {
            id: Some(7),
            key: "7".into(),
            name: "split".into(),
            rules: vec![Rule {
                kind: RuleKind::All,
                conditions: vec![Condition {
                    property: String::new(),
                    operator: Operator::PercentageSplit,
                    value: ConditionValue::Text(threshold.into()),
                }],
                rules: vec![],
            }],
            overrides: vec![],
            metadata: None,
        }],
        identity_overrides: vec![],
    }
}

/// A 30% split over 100 000 identities selects 30% ± 0.5%; 100 selects all; 0 selects only
/// identities hashing to exactly 0.
#[test]
fn percentage_split_rates_and_bounds() {
    let thirty = CompiledEnvironment::compile(&split_environment("30"));
    let all = CompiledEnvironment::compile(&split_environment("100"));
    let none = CompiledEnvironment::compile(&split_environment("0"));
    let (mut in_thirty, mut in_none) = (0, 0);
    for i in 0..100_000 {
        let identity = Identity {
            identifier: format!("user-{i}"),
            key: None,
            traits: Traits::new(),
        };
        let matched =
            |env: &CompiledEnvironment| !env.evaluate(Some(&identity)).unwrap().segments.is_empty();
        in_thirty += u32::from(matched(&thirty));
        assert!(matched(&all), "100 selects everyone");
        let exactly_zero = hashed_percentage(&["7", &format!("env_user-{i}")]) == 0.0;
        assert_eq!(matched(&none), exactly_zero);
        in_none += u32::from(matched(&none));
    }
    assert!(
        (29_500..=30_500).contains(&in_thirty),
        "30% split selected {in_thirty}"
    );
    assert!(in_none < 100, "0% selected {in_none}");
}
