//! The SDK tests' environment: project `Web`, environment `Production` (id 1), a server key.

use serde_json::json;

use super::server::{Admin, Server};

pub struct Fixture {
    pub server: Server,
    pub admin: Admin,
    pub client_key: String,
    pub server_key: String,
}

impl Fixture {
    /// A fresh server with the environment, the features in `features` (ids from 1 in that
    /// order) and a server key.
    pub async fn with_features(features: Vec<serde_json::Value>) -> Self {
        let server = Server::start();
        let admin = Admin::new(&server);
        admin
            .post("/admin/v1/projects", json!({"name": "Web"}))
            .await;
        let env = admin
            .post(
                "/admin/v1/projects/1/environments",
                json!({"name": "Production"}),
            )
            .await;
        for feature in features {
            admin.post("/admin/v1/projects/1/features", feature).await;
        }
        let key = admin
            .post(
                "/admin/v1/environments/1/server-keys",
                json!({"name": "backend"}),
            )
            .await;
        Self {
            server,
            admin,
            client_key: env["client_key"].as_str().unwrap().to_owned(),
            server_key: key["key"].as_str().unwrap().to_owned(),
        }
    }

    /// `banner` (on, "hello"), `secret` (server-key only, 42), `theme` (multivariate 50 %
    /// "dark"), `off` (disabled), then `extra`; segment `pros` (plan = pro) overriding banner
    /// with "pro banner".
    pub async fn flagsmith_like(extra: Vec<serde_json::Value>) -> Self {
        let mut features = vec![
            json!({"name": "banner", "initial_value": "hello", "default_enabled": true}),
            json!({"name": "secret", "initial_value": 42, "default_enabled": true, "server_key_only": true}),
            json!({"name": "theme", "type": "MULTIVARIATE", "initial_value": "light", "default_enabled": true,
                   "options": [{"value": "dark", "key": "dark", "default_weight": 50}]}),
            json!({"name": "off", "initial_value": true}),
        ];
        features.extend(extra);
        let fixture = Self::with_features(features).await;
        fixture
            .admin
            .post(
                "/admin/v1/projects/1/segments",
                json!({"name": "pros", "rules": [{"type": "ALL", "rules": [{"type": "ANY", "conditions": [
                    {"property": "plan", "operator": "EQUAL", "value": "pro"}]}]}]}),
            )
            .await;
        let (status, _) = fixture
            .admin
            .call(
                reqwest::Method::PUT,
                "/admin/v1/environments/1/features/1/segment-overrides/1",
                Some(json!({"enabled": true, "value": "pro banner"})),
            )
            .await;
        assert_eq!(status, 200);
        fixture
    }
}
