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

#[cfg(test)]
mod tests {
    use redb::Database;
    use serde::Serialize;

    use super::super::catalog::Credential;
    use super::super::database::{Backend, STORE_FORMAT, load, open};
    use super::*;

    /// The shapes format 1 wrote.
    #[derive(Serialize)]
    enum V1Role {
        OrganisationAdmin,
    }

    #[derive(Serialize)]
    struct V1Token {
        id: u32,
        name: String,
        token_hash: [u8; 32],
        role: V1Role,
        created_at: i64,
    }

    #[derive(Serialize)]
    struct V1Key {
        id: u32,
        environment_id: u32,
        name: String,
        key_hash: [u8; 32],
        prefix: String,
        active: bool,
        created_at: i64,
    }

    #[derive(Serialize)]
    struct V1Meta {
        last_applied: u64,
        counters: [u64; 11],
        instance_seed: [u8; 16],
        initialized: bool,
    }

    #[test]
    fn a_format_1_directory_opens_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(tables::META).unwrap();
                meta.insert("format", encode(&1u32).unwrap().as_slice())
                    .unwrap();
                // Counters as postcard wrote them: eleven varints in field order.
                let old = V1Meta {
                    last_applied: 41,
                    counters: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
                    instance_seed: [7; 16],
                    initialized: true,
                };
                meta.insert("meta", encode(&old).unwrap().as_slice())
                    .unwrap();
                let token = V1Token {
                    id: 1,
                    name: "bootstrap".into(),
                    token_hash: [9; 32],
                    role: V1Role::OrganisationAdmin,
                    created_at: 5,
                };
                txn.open_table(tables::API_TOKENS)
                    .unwrap()
                    .insert(1, encode(&token).unwrap().as_slice())
                    .unwrap();
                let key = V1Key {
                    id: 1,
                    environment_id: 3,
                    name: "sdk".into(),
                    key_hash: [4; 32],
                    prefix: "ser.abcd".into(),
                    active: true,
                    created_at: 6,
                };
                txn.open_table(tables::SERVER_KEYS)
                    .unwrap()
                    .insert(1, encode(&key).unwrap().as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        let db = open(&path, &Backend::default()).unwrap();
        let catalog = load(&db).unwrap();
        assert_eq!(catalog.meta.last_applied, 41);
        assert_eq!(catalog.meta.counters.token, 9);
        assert_eq!(catalog.meta.counters.segment_position, 11);
        assert_eq!(catalog.meta.counters.user, 0);
        assert_eq!(catalog.meta.instance_seed, [7; 16]);
        let token = &catalog.tokens[&1];
        assert_eq!(token.name, "bootstrap");
        assert_eq!(
            token.access,
            TokenAccess::Assignments(vec![Assignment {
                role: RoleRef::Builtin(BuiltinRole::Admin),
                scope: Scope::Organisation
            }])
        );
        assert_eq!(
            catalog.credentials.get(&[9; 32]),
            Some(&Credential::Token(1))
        );
        let key = &catalog.server_keys[&1];
        assert_eq!(
            (key.environment_id, key.expires_at, key.active),
            (3, None, true)
        );
        let format: u32 = {
            use redb::ReadableDatabase as _;
            let txn = db.begin_read().unwrap();
            decode(
                txn.open_table(tables::META)
                    .unwrap()
                    .get("format")
                    .unwrap()
                    .unwrap()
                    .value(),
            )
            .unwrap()
        };
        assert_eq!(format, STORE_FORMAT);
        drop(db);
        // Opening again changes nothing more.
        let again = load(&open(&path, &Backend::default()).unwrap()).unwrap();
        assert_eq!(again.tokens[&1], catalog.tokens[&1]);
    }
}
