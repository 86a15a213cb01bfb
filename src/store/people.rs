//! Records of who may act: users, teams, custom roles, grants, sessions, API tokens and the
//! first-start setup token. Postcard-safe like every stored record.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::access::{Assignment, PermSet, RoleRef, Scope, Subject};

/// A pending invitation: the link's secret, by hash, and when it stops working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteRecord {
    pub token_hash: [u8; 32],
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: u32,
    /// Lower case; unique.
    pub email: String,
    pub name: String,
    /// The argon2id hash in PHC form; `None` until an invitation is accepted.
    pub password_hash: Option<String>,
    /// Set by an admin-chosen password: the user must choose their own before anything else.
    pub must_change_password: bool,
    pub active: bool,
    pub invite: Option<InviteRecord>,
    /// Failed logins locked the account until then (milliseconds).
    pub locked_until: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamRecord {
    pub id: u32,
    pub name: String,
    pub members: BTreeSet<u32>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleRecord {
    pub id: u32,
    pub name: String,
    pub description: Option<String>,
    pub permissions: PermSet,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub id: u32,
    pub subject: Subject,
    pub role: RoleRef,
    pub scope: Scope,
    pub created_at: i64,
}

/// A signed-in user's session (browser cookie or CLI bearer), by hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: u32,
    pub user_id: u32,
    pub token_hash: [u8; 32],
    pub created_at: i64,
    pub expires_at: i64,
    /// Last use as last recorded (nodes record use at most every few seconds).
    pub last_seen_at: i64,
}

/// What an API token may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TokenAccess {
    /// Whatever its owner may do, now (a personal token).
    Owner,
    /// These roles at these scopes.
    Assignments(Vec<Assignment>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    pub id: u32,
    pub name: String,
    pub token_hash: [u8; 32],
    /// The first characters, to recognise a token in lists.
    pub prefix: String,
    pub access: TokenAccess,
    /// The user who created it (and, for a personal token, whose permissions it carries).
    pub owner: Option<u32>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

/// The first-start setup token: creates the first admin user, once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupRecord {
    pub token_hash: [u8; 32],
    pub expires_at: i64,
}
