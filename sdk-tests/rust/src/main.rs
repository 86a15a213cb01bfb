//! Flags as the official Flagsmith Rust SDK sees them, for Burgee's compatibility tests.
//!
//! Usage: burgee-sdk-compat-rust remote|local|offline API_URL KEY IDENTITIES_FILE DOCUMENT_FILE
//! Prints {"environment": {name: [enabled, value]}, "identities": {identifier: {...}}}.

use flagsmith::flagsmith::models::{Flags, SDKTrait};
use flagsmith::flagsmith::offline_handler::LocalFileHandler;
use flagsmith::{Flagsmith, FlagsmithOptions};
use flagsmith_flag_engine::types::{FlagsmithValue, FlagsmithValueType};
use serde_json::{json, Map, Value};

fn value_json(value: &FlagsmithValue) -> Value {
    match value.value_type {
        FlagsmithValueType::None => Value::Null,
        FlagsmithValueType::Bool => json!(value.value == "true"),
        FlagsmithValueType::Integer => value.value.parse::<i64>().map_or(Value::Null, |i| json!(i)),
        FlagsmithValueType::Float => value.value.parse::<f64>().map_or(Value::Null, |f| json!(f)),
        FlagsmithValueType::String => json!(value.value),
    }
}

fn trait_value(value: &Value) -> FlagsmithValue {
    let (value_type, text) = match value {
        Value::Bool(b) => (FlagsmithValueType::Bool, b.to_string()),
        Value::Number(n) if n.is_i64() => (FlagsmithValueType::Integer, n.to_string()),
        Value::Number(n) => (FlagsmithValueType::Float, n.to_string()),
        Value::String(s) => (FlagsmithValueType::String, s.clone()),
        _ => (FlagsmithValueType::None, String::new()),
    };
    FlagsmithValue { value_type, value: text }
}

fn as_dict(flags: &Flags) -> Value {
    let map: Map<String, Value> = flags
        .all_flags()
        .iter()
        .map(|f| (f.feature_name.clone(), json!([f.enabled, value_json(&f.value)])))
        .collect();
    Value::Object(map)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, api_url, key, identities_file, document_file] = args.as_slice() else {
        return Err("usage: MODE API_URL KEY IDENTITIES_FILE DOCUMENT_FILE".into());
    };
    let identities: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(identities_file)?)?;
    let mut options = FlagsmithOptions { api_url: api_url.clone(), ..Default::default() };
    let key = match mode.as_str() {
        "remote" => key.clone(),
        "local" => {
            options.enable_local_evaluation = true;
            key.clone()
        }
        "offline" => {
            options.offline_mode = true;
            options.offline_handler = Some(Box::new(LocalFileHandler::new(document_file)?));
            String::new()
        }
        other => return Err(format!("unknown mode {other}").into()),
    };
    let client = Flagsmith::new(key, options);
    let mut result = json!({"environment": as_dict(&client.get_environment_flags()?), "identities": {}});
    for identity in &identities {
        let identifier = identity["identifier"].as_str().unwrap_or_default();
        let traits: Vec<SDKTrait> = identity["traits"]
            .as_object()
            .map(|t| t.iter().map(|(k, v)| SDKTrait::new(k.clone(), trait_value(v))).collect())
            .unwrap_or_default();
        let flags = client.get_identity_flags(identifier, Some(traits), None)?;
        result["identities"][identifier] = as_dict(&flags);
    }
    println!("{result}");
    std::process::exit(0);
}
