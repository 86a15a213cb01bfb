//! Store format upgrades, applied when a data directory written by an older Burgee opens:
//! each rewrites the rows whose shape changed, in the same transaction as the new format
//! number, so an interrupted upgrade leaves the old format whole.

use redb::{ReadableTable, WriteTransaction};
use serde::Deserialize;

use super::catalog::{AuditHead, Counters, Meta};
use super::codec::{decode, encode};
use super::error::StoreError;
use super::people::{ApiTokenRecord, TokenAccess};
use super::records::ServerKeyRecord;
use super::tables;
use crate::access::{Assignment, BuiltinRole, RoleRef, Scope};

/// Format 1: admin tokens had one role (organisation admin), server keys no expiry, and
/// meta fewer counters and no audit chain.
pub fn from_format_1(txn: &WriteTransaction) -> Result<(), StoreError> {
    #[derive(Deserialize)]
    enum LegacyTokenRole {
        OrganisationAdmin,
    }
    #[derive(Deserialize)]
    struct LegacyToken {
        id: u32,
        name: String,
        token_hash: [u8; 32],
        role: LegacyTokenRole,
        created_at: i64,
    }
    #[derive(Deserialize)]
    struct LegacyCounters {
        organisation: u32,
        project: u32,
        environment: u32,
        feature: u32,
        option: u32,
        segment: u32,
        state: u32,
        server_key: u32,
        token: u32,
        identity: u32,
        segment_position: u64,
    }
    #[derive(Deserialize)]
    struct LegacyMeta {
        last_applied: u64,
        counters: LegacyCounters,
        instance_seed: [u8; 16],
        initialized: bool,
    }
    let mut meta_table = txn.open_table(tables::META)?;
    let legacy_meta = meta_table
        .get("meta")?
        .map(|v| decode::<LegacyMeta>(v.value()))
        .transpose()?;
    if let Some(old) = legacy_meta {
        let c = old.counters;
        let meta = Meta {
            last_applied: old.last_applied,
            counters: Counters {
                organisation: c.organisation,
                project: c.project,
                environment: c.environment,
                feature: c.feature,
                option: c.option,
                segment: c.segment,
                state: c.state,
                server_key: c.server_key,
                token: c.token,
                identity: c.identity,
                segment_position: c.segment_position,
                ..Counters::default()
            },
            instance_seed: old.instance_seed,
            initialized: old.initialized,
            audit: AuditHead::default(),
            setup: None,
        };
        meta_table.insert("meta", encode(&meta)?.as_slice())?;
    }
    #[derive(Deserialize)]
    struct LegacyServerKey {
        id: u32,
        environment_id: u32,
        name: String,
        key_hash: [u8; 32],
        prefix: String,
        active: bool,
        created_at: i64,
    }
    let mut keys = txn.open_table(tables::SERVER_KEYS)?;
    let mut upgraded = Vec::new();
    for row in keys.iter()? {
        let (id, value) = row?;
        let old: LegacyServerKey = decode(value.value())?;
        upgraded.push((
            id.value(),
            ServerKeyRecord {
                id: old.id,
                environment_id: old.environment_id,
                name: old.name,
                key_hash: old.key_hash,
                prefix: old.prefix,
                active: old.active,
                expires_at: None,
                created_at: old.created_at,
            },
        ));
    }
    for (id, key) in upgraded {
        keys.insert(id, encode(&key)?.as_slice())?;
    }
    let mut tokens = txn.open_table(tables::API_TOKENS)?;
    let mut rewritten = Vec::new();
    for row in tokens.iter()? {
        let (id, value) = row?;
        let old: LegacyToken = decode(value.value())?;
        let LegacyTokenRole::OrganisationAdmin = old.role;
        rewritten.push((
            id.value(),
            ApiTokenRecord {
                id: old.id,
                prefix: String::new(),
                name: old.name,
                token_hash: old.token_hash,
                access: TokenAccess::Assignments(vec![Assignment {
                    role: RoleRef::Builtin(BuiltinRole::Admin),
                    scope: Scope::Organisation,
                }]),
                owner: None,
                expires_at: None,
                last_used_at: None,
                created_at: old.created_at,
            },
        ));
    }
    for (id, token) in rewritten {
        tokens.insert(id, encode(&token)?.as_slice())?;
    }
    Ok(())
}
