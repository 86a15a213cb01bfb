//! The client's address and scheme: the TCP peer's, or, when the peer is a trusted proxy,
//! what `X-Forwarded-For` / `X-Forwarded-Proto` say.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::config::Cidr;

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub address: Option<IpAddr>,
    pub https: bool,
    pub user_agent: Option<String>,
}

/// Longest user agent kept.
const MAX_USER_AGENT: usize = 512;

pub fn client(parts: &Parts, trusted: &[Cidr], tls: bool) -> Client {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = &parts.headers;
    let user_agent = header(headers, "user-agent").map(|ua| {
        ua.chars()
            .filter(|c| !c.is_control())
            .take(MAX_USER_AGENT)
            .collect()
    });
    let trusted_peer = peer.is_some_and(|p| trusted.iter().any(|c| c.contains(p)));
    if !trusted_peer {
        return Client {
            address: peer,
            https: tls,
            user_agent,
        };
    }
    // The right-most address that is not itself a trusted proxy is the client.
    let forwarded = header(headers, "x-forwarded-for").and_then(|list| {
        list.split(',')
            .rev()
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .find(|a| !trusted.iter().any(|c| c.contains(*a)))
    });
    let https = header(headers, "x-forwarded-proto").map_or(tls, |p| {
        p.split(',')
            .next()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    });
    Client {
        address: forwarded.or(peer),
        https,
        user_agent,
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request's [`Client`], as an extractor (for routes without a credential).
pub struct ClientInfo(pub Client);

impl axum::extract::FromRequestParts<crate::api::AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::api::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client(parts, &state.settings.trusted_proxies, false)))
    }
}

impl Client {
    pub fn origin(&self) -> crate::store::command::Origin {
        crate::store::command::Origin {
            address: self.address.map(|a| a.to_string()),
            user_agent: self.user_agent.clone(),
        }
    }
}
