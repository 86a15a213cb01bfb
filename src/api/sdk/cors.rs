//! CORS for browser SDKs: any origin may call the SDK API. Written out rather than with
//! tower-http's `CorsLayer`, whose configuration axum clones with the route on every request
//! (a measurable share of `/flags/`); here everything is a constant.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const ANY: HeaderValue = HeaderValue::from_static("*");
const METHODS: HeaderValue = HeaderValue::from_static("GET,POST,OPTIONS");
const HEADERS: HeaderValue = HeaderValue::from_static(
    "content-type,x-environment-key,flagsmith-application-name,flagsmith-application-version,\
     last-event-id,if-none-match,if-modified-since,authorization,x-api-key",
);
const EXPOSED: HeaderValue = HeaderValue::from_static("x-flagsmith-document-updated-at,etag");
/// Browsers cache a preflight for at most this (Chromium caps it at two hours).
const MAX_AGE: HeaderValue = HeaderValue::from_static("7200");

pub async fn cors(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, METHODS);
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HEADERS);
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
        return response;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
    response
}
