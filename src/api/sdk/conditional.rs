//! Serving a precomputed body: conditional requests (`If-None-Match`, `If-Modified-Since`)
//! answered with 304, and the content coding chosen from `Accept-Encoding`. A client that
//! sends no conditional header always gets a 200 (Flagsmith's Node SDK treats anything else
//! as an error), and one that accepts no coding gets the plain body.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::cache::EnvironmentSnapshot;
use crate::cache::representation::{Encoding, Representation};

const UPDATED_AT: HeaderName = HeaderName::from_static("x-flagsmith-document-updated-at");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const VARY: HeaderValue = HeaderValue::from_static("accept-encoding");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// When the resource last changed, for `Last-Modified` / `If-Modified-Since`.
pub struct Modified<'a> {
    /// The HTTP date sent as `Last-Modified`.
    pub http_date: &'a HeaderValue,
    pub unix_seconds: i64,
}

impl<'a> Modified<'a> {
    /// When an environment last changed (second precision, as HTTP dates have).
    pub fn of(snapshot: &'a EnvironmentSnapshot) -> Self {
        Self {
            http_date: &snapshot.last_modified,
            unix_seconds: snapshot.updated_at_ms.div_euclid(1000),
        }
    }
}

/// The response for `representation` as this request asks for it.
pub fn respond(
    request: &HeaderMap,
    representation: &Representation,
    updated_at: &HeaderValue,
    modified: Option<Modified<'_>>,
) -> Response {
    let encoding = choose_encoding(request)
        .and_then(|e| representation.encoded(e).map(|body| (e, body.clone())));
    let not_modified = not_modified(request, representation, modified.as_ref());
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = encoding
            .as_ref()
            .map_or_else(|| representation.body.clone(), |(_, body)| body.clone());
        let mut response = body.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, JSON);
        if let Some((e, _)) = &encoding {
            response.headers_mut().insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(e.token()),
            );
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        representation
            .etag_for(encoding.as_ref().map(|(e, _)| *e))
            .clone(),
    );
    headers.insert(header::VARY, VARY);
    headers.insert(UPDATED_AT, updated_at.clone());
    // Revalidate every time: without it a browser may reuse a body for a tenth of its age.
    headers.insert(header::CACHE_CONTROL, NO_CACHE);
    if let Some(modified) = modified {
        headers.insert(header::LAST_MODIFIED, modified.http_date.clone());
    }
    response
}

/// RFC 9110 §13.2.2: `If-None-Match` decides when present; `If-Modified-Since` only without it.
fn not_modified(
    request: &HeaderMap,
    representation: &Representation,
    modified: Option<&Modified<'_>>,
) -> bool {
    if let Some(matched) = none_match(request, representation) {
        return matched;
    }
    // At second precision, as Django's `condition` decorator (and so Flagsmith) compares.
    let since = request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()
        });
    matches!((since, modified), (Some(since), Some(m)) if m.unix_seconds <= since.unix_timestamp())
}

/// Whether `If-None-Match` names this body; `None` when the request has no such header.
pub fn none_match(request: &HeaderMap, representation: &Representation) -> Option<bool> {
    let mut tags = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .peekable();
    tags.peek()?;
    Some(tags.any(|tag| tag.trim() == "*" || representation.matches(tag)))
}

/// The coding with the highest quality the client accepts, ties broken by `Encoding::ALL`;
/// `*` stands for every coding the client does not name.
pub fn choose_encoding(request: &HeaderMap) -> Option<Encoding> {
    let mut named: [Option<u16>; 3] = [None; 3];
    let mut star: Option<u16> = None;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let quality = parts
                .find_map(|p| {
                    let p = p.trim();
                    p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
                })
                .map_or(1000, parse_quality);
            if name == "*" {
                star = Some(quality);
            } else if let Some(i) = Encoding::ALL
                .iter()
                .position(|e| e.token().eq_ignore_ascii_case(name))
            {
                named[i] = Some(quality);
            }
        }
    }
    let mut best: Option<(u16, Encoding)> = None;
    for (i, encoding) in Encoding::ALL.iter().enumerate() {
        let quality = named[i].or(star).unwrap_or(0);
        if quality > 0 && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, *encoding));
        }
    }
    best.map(|(_, e)| e)
}

/// A `q` value in thousandths; anything unparsable counts as 0 (not acceptable).
fn parse_quality(text: &str) -> u16 {
    let value: f32 = text.trim().parse().unwrap_or(0.0);
    if value.is_finite() {
        (value.clamp(0.0, 1.0) * 1000.0).round() as u16
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn codings_are_chosen_by_quality_then_size() {
        assert_eq!(choose_encoding(&HeaderMap::new()), None);
        assert_eq!(choose_encoding(&accepting("identity")), None);
        assert_eq!(choose_encoding(&accepting("gzip")), Some(Encoding::Gzip));
        assert_eq!(
            choose_encoding(&accepting("gzip, deflate, br, zstd")),
            Some(Encoding::Brotli)
        );
        assert_eq!(
            choose_encoding(&accepting("br;q=0.5, gzip")),
            Some(Encoding::Gzip)
        );
        assert_eq!(
            choose_encoding(&accepting("GZIP;Q=0.2, zstd;q=0.3")),
            Some(Encoding::Zstd)
        );
        assert_eq!(choose_encoding(&accepting("*")), Some(Encoding::Brotli));
        assert_eq!(choose_encoding(&accepting("gzip;q=0, br;q=0")), None);
        assert_eq!(
            choose_encoding(&accepting("br;q=0, zstd;q=0, *")),
            Some(Encoding::Gzip)
        );
        assert_eq!(
            choose_encoding(&accepting("*;q=0, gzip")),
            Some(Encoding::Gzip)
        );
        assert_eq!(choose_encoding(&accepting("gzip;q=nan")), None);
        assert_eq!(choose_encoding(&accepting(";;,,")), None);
    }
}
