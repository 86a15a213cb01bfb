//! Conditional fetch and compression on `/api/v1/flags/` and `/api/v1/environment-document/`
//! against the real server: strong ETags, 304 only for clients that ask for it, and
//! precomputed gzip, brotli and zstd bodies chosen by `Accept-Encoding`.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::io::Read;

use common::fixture::Fixture;
use common::server::client;
use reqwest::Method;
use serde_json::json;

/// Twelve features (enough for bodies worth compressing), one of them server-key only.
async fn fixture() -> Fixture {
    let features = (0..12)
        .map(|i| {
            json!({"name": format!("feature_{i}"), "initial_value": format!("value of feature {i}"),
                   "default_enabled": true, "server_key_only": i == 11})
        })
        .collect();
    Fixture::with_features(features).await
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn etag(&self) -> String {
        self.header("etag").expect("an ETag").to_owned()
    }

    /// The body with its content coding undone.
    fn plain(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.header("content-encoding") {
            None => out.clone_from(&self.body),
            Some("gzip") => {
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Some("br") => {
                brotli::Decompressor::new(&self.body[..], 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Some("zstd") => out = zstd::stream::decode_all(&self.body[..]).unwrap(),
            Some(other) => panic!("unexpected coding {other}"),
        }
        out
    }
}

async fn get(f: &Fixture, path: &str, key: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = client()
        .get(f.server.url(path))
        .header("X-Environment-Key", key);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

#[tokio::test]
async fn flags_answer_304_only_to_clients_that_ask() {
    let f = fixture().await;
    let first = get(&f, "/api/v1/flags/", &f.client_key, &[]).await;
    assert_eq!(first.status, 200);
    let etag = first.etag();
    assert!(etag.starts_with('"') && etag.len() == 34, "strong: {etag}");
    assert_eq!(first.header("content-encoding"), None);
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    assert_eq!(first.header("vary"), Some("accept-encoding"));
    assert!(first.header("last-modified").is_some());
    let flags: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(
        flags.as_array().unwrap().len(),
        11,
        "the client key's flags"
    );

    // A client without conditional headers (Node's SDK) always gets the body.
    let again = get(&f, "/api/v1/flags/", &f.client_key, &[]).await;
    assert_eq!((again.status, again.etag()), (200, etag.clone()));
    assert_eq!(again.body, first.body);

    let weak = format!("W/{etag}");
    let listed = format!("\"elsewhere\", {etag}");
    for tag in [etag.as_str(), weak.as_str(), listed.as_str(), "*"] {
        let answer = get(
            &f,
            "/api/v1/flags/",
            &f.client_key,
            &[("if-none-match", tag)],
        )
        .await;
        assert_eq!(answer.status, 304, "{tag}");
        assert!(answer.body.is_empty());
        assert_eq!(answer.etag(), etag);
    }
    // If-None-Match decides over If-Modified-Since, as RFC 9110 says.
    let last_modified = first.header("last-modified").unwrap().to_owned();
    let answer = get(
        &f,
        "/api/v1/flags/",
        &f.client_key,
        &[
            ("if-none-match", "\"stale\""),
            ("if-modified-since", &last_modified),
        ],
    )
    .await;
    assert_eq!(answer.status, 200);
    let answer = get(
        &f,
        "/api/v1/flags/",
        &f.client_key,
        &[("if-modified-since", &last_modified)],
    )
    .await;
    assert_eq!(answer.status, 304);
    for garbage in ["", "not-a-tag", "\"\"", "W/"] {
        let answer = get(
            &f,
            "/api/v1/flags/",
            &f.client_key,
            &[("if-none-match", garbage)],
        )
        .await;
        assert_eq!(answer.status, 200, "{garbage:?}");
    }

    // Each key sees its own body, so its own tag; so does each single feature.
    let server = get(&f, "/api/v1/flags/", &f.server_key, &[]).await;
    assert_ne!(server.etag(), etag);
    let answer = get(
        &f,
        "/api/v1/flags/",
        &f.server_key,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(answer.status, 200);
    let single = get(&f, "/api/v1/flags/?feature=feature_3", &f.client_key, &[]).await;
    assert_eq!(single.status, 200);
    let single_tag = single.etag();
    assert_ne!(single_tag, etag);
    let answer = get(
        &f,
        "/api/v1/flags/?feature=feature_3",
        &f.client_key,
        &[("if-none-match", &single_tag)],
    )
    .await;
    assert_eq!(answer.status, 304);

    // A change gives a new body and tag; the old tag no longer matches. Feature ids are
    // 1..=12 for feature_0..=feature_11: the change is to feature_3.
    let untouched = get(&f, "/api/v1/flags/?feature=feature_0", &f.client_key, &[]).await;
    let (status, _) = f
        .admin
        .call(
            Method::PATCH,
            "/admin/v1/environments/1/features/4/state",
            Some(json!({"value": "changed"})),
        )
        .await;
    assert_eq!(status, 200);
    let changed = get(
        &f,
        "/api/v1/flags/",
        &f.client_key,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.etag(), etag);
    assert!(String::from_utf8_lossy(&changed.body).contains("changed"));
    let answer = get(
        &f,
        "/api/v1/flags/?feature=feature_3",
        &f.client_key,
        &[("if-none-match", &single_tag)],
    )
    .await;
    assert_eq!(answer.status, 200);
    // A feature whose body did not change keeps its tag.
    let answer = get(
        &f,
        "/api/v1/flags/?feature=feature_0",
        &f.client_key,
        &[("if-none-match", &untouched.etag())],
    )
    .await;
    assert_eq!(answer.status, 304);
}

#[tokio::test]
async fn bodies_come_in_the_coding_the_client_accepts() {
    let f = fixture().await;
    for path in ["/api/v1/flags/", "/api/v1/environment-document/"] {
        let plain = get(&f, path, &f.server_key, &[]).await;
        assert_eq!(plain.status, 200, "{path}");
        assert_eq!(plain.header("content-encoding"), None);
        for (accept, coding) in [
            ("gzip", Some("gzip")),
            ("gzip, deflate", Some("gzip")),
            ("br", Some("br")),
            ("zstd", Some("zstd")),
            ("gzip, deflate, br, zstd", Some("br")),
            ("br;q=0.1, gzip;q=0.9", Some("gzip")),
            ("identity", None),
            ("deflate", None),
            ("gzip;q=0", None),
        ] {
            let answer = get(&f, path, &f.server_key, &[("accept-encoding", accept)]).await;
            assert_eq!(answer.status, 200, "{path} {accept}");
            assert_eq!(answer.header("content-encoding"), coding, "{path} {accept}");
            assert_eq!(answer.plain(), plain.body, "{path} {accept}");
            if coding.is_some() {
                assert!(answer.body.len() < plain.body.len(), "{path} {accept}");
                // A strong tag differs between codings, and each revalidates its own coding.
                let tag = answer.etag();
                assert_ne!(tag, plain.etag());
                let again = get(
                    &f,
                    path,
                    &f.server_key,
                    &[("accept-encoding", accept), ("if-none-match", &tag)],
                )
                .await;
                assert_eq!(again.status, 304, "{path} {accept}");
                assert_eq!(again.etag(), tag);
            }
        }
        // A tag from one coding still names the same body in another.
        let gzip = get(&f, path, &f.server_key, &[("accept-encoding", "gzip")]).await;
        let answer = get(&f, path, &f.server_key, &[("if-none-match", &gzip.etag())]).await;
        assert_eq!(answer.status, 304, "{path}");
    }
}

#[tokio::test]
async fn the_document_revalidates_by_tag_and_by_date() {
    let f = fixture().await;
    let first = get(&f, "/api/v1/environment-document/", &f.server_key, &[]).await;
    assert_eq!(first.status, 200);
    let document: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(document["api_key"], f.client_key.as_str());
    let etag = first.etag();
    let answer = get(
        &f,
        "/api/v1/environment-document/",
        &f.server_key,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(answer.status, 304);
    assert_eq!(
        answer.header("last-modified"),
        first.header("last-modified")
    );
    // A client key never gets the document, conditional or not.
    let answer = get(
        &f,
        "/api/v1/environment-document/",
        &f.client_key,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(answer.status, 403);
    let (status, _) = f
        .admin
        .call(
            Method::PATCH,
            "/admin/v1/environments/1/features/1/state",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    let answer = get(
        &f,
        "/api/v1/environment-document/",
        &f.server_key,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_ne!(answer.etag(), etag);
}
