//! Burgee: self-hosted feature flags and remote config, wire-compatible with Flagsmith's SDKs.
//!
//! The crate is layered: [`model`] holds the domain types, [`flagsmith`] the wire formats of
//! Flagsmith's JSON documents, [`engine`] the pure evaluation of flags, and [`cli`] the
//! command-line front end.

pub mod access;
pub mod analytics;
pub mod api;
pub mod backups;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connections;
pub mod engine;
pub mod flagsmith;
pub mod json;
pub mod manifest;
pub mod model;
pub mod rules;
pub mod secrets;
pub mod server;
pub mod store;
pub mod tls;
