//! The redb tables. Every value is a [`codec`](super::codec)-encoded record.

use redb::TableDefinition;

/// `"meta"` holds [`Meta`](super::catalog::Meta); `"format"` the store's format version.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The key in [`META`] of the command format the cluster switched on (absent: 1).
pub const COMMAND_FORMAT_KEY: &str = "command_format";
pub const ORGANISATIONS: TableDefinition<u32, &[u8]> = TableDefinition::new("organisations");
pub const PROJECTS: TableDefinition<u32, &[u8]> = TableDefinition::new("projects");
pub const ENVIRONMENTS: TableDefinition<u32, &[u8]> = TableDefinition::new("environments");
pub const FEATURES: TableDefinition<u32, &[u8]> = TableDefinition::new("features");
pub const SEGMENTS: TableDefinition<u32, &[u8]> = TableDefinition::new("segments");
pub const FEATURE_STATES: TableDefinition<u32, &[u8]> = TableDefinition::new("feature_states");
/// Feature id → its tags and archive mark (absent: none).
pub const FEATURE_LABELS: TableDefinition<u32, &[u8]> = TableDefinition::new("feature_labels");
pub const SERVER_KEYS: TableDefinition<u32, &[u8]> = TableDefinition::new("server_keys");
pub const API_TOKENS: TableDefinition<u32, &[u8]> = TableDefinition::new("api_tokens");
/// (environment id, identifier) → identity.
pub const IDENTITIES: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("identities");
/// (environment id, identifier, trait key) → value.
pub const TRAITS: TableDefinition<(u32, &str, &str), &[u8]> = TableDefinition::new("traits");
/// Deleted environments whose identity rows are still being removed.
pub const PURGES: TableDefinition<u32, ()> = TableDefinition::new("purges");
pub const USERS: TableDefinition<u32, &[u8]> = TableDefinition::new("users");
pub const TEAMS: TableDefinition<u32, &[u8]> = TableDefinition::new("teams");
pub const ROLES: TableDefinition<u32, &[u8]> = TableDefinition::new("roles");
pub const GRANTS: TableDefinition<u32, &[u8]> = TableDefinition::new("grants");
pub const SESSIONS: TableDefinition<u32, &[u8]> = TableDefinition::new("sessions");
/// Sequence number → audit entry (hash-chained; see `audit`).
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// (environment id, feature id, hour since the epoch) → evaluation counts; hour `u32::MAX`
/// is the all-time summary (see `evaluations`).
pub const EVALUATIONS: TableDefinition<(u32, u32, u32), &[u8]> =
    TableDefinition::new("evaluations");
