//! API tokens and sessions: created by hash, rotated, revoked; their last use recorded;
//! security events that change nothing else (failed logins may lock an account).

use super::checks::check_name;
use super::{CommandError, Fault, Tx};
use crate::store::changes::Change;
use crate::store::command::{Actor, Applied, NewToken, SecurityEvent};
use crate::store::people::{ApiTokenRecord, SessionRecord, TokenAccess};

impl Tx<'_> {
    /// The user behind the command's actor (a session's user, or the owner of the token).
    fn acting_user(&self) -> Option<u32> {
        match &self.actor {
            Actor::User { id, .. } => Some(*id),
            Actor::Token { id, .. } => self.work.tokens.get(id).and_then(|t| t.owner),
            _ => None,
        }
    }

    /// The signed-in user behind the actor: a session's, or a personal token's owner (an
    /// organisation token made by a user does not act as that user).
    fn signed_in_user(&self) -> Option<u32> {
        match &self.actor {
            Actor::User { id, .. } => Some(*id),
            Actor::Token { id, .. } => self
                .work
                .tokens
                .get(id)
                .filter(|t| t.access == TokenAccess::Owner)
                .and_then(|t| t.owner),
            _ => None,
        }
    }

    pub(super) fn create_token(&mut self, token: &NewToken) -> Result<Applied, Fault> {
        check_name("token", &token.name)?;
        if self.work.credentials.contains_key(&token.token_hash) {
            return Err(CommandError::Conflict("that secret is in use already".into()).into());
        }
        let owner = self.acting_user();
        if token.personal {
            if self.signed_in_user().is_none() || token.access != TokenAccess::Owner {
                return Err(CommandError::Invalid(
                    "a personal token is created by a signed-in user and carries their permissions"
                        .into(),
                )
                .into());
            }
        } else if let TokenAccess::Assignments(assignments) = &token.access {
            // A token never holds more than whoever creates it.
            self.check_may_give(assignments)?;
        } else {
            return Err(CommandError::Invalid(
                "only a personal token carries its owner's permissions".into(),
            )
            .into());
        }
        if token.expires_at.is_some_and(|at| at <= self.now) {
            return Err(CommandError::Invalid("the expiry must be in the future".into()).into());
        }
        let id = Self::next_id(&mut self.work.meta.counters.token)?;
        self.record(Change::Token(
            id,
            Some(ApiTokenRecord {
                id,
                name: token.name.clone(),
                token_hash: token.token_hash,
                prefix: token.prefix.clone(),
                access: token.access.clone(),
                owner,
                expires_at: token.expires_at,
                last_used_at: None,
                created_at: self.now,
            }),
        ));
        Ok(Applied::Created { id })
    }

    fn token(&self, id: u32) -> Result<&ApiTokenRecord, CommandError> {
        self.work
            .tokens
            .get(&id)
            .ok_or_else(|| CommandError::not_found("token", id))
    }

    pub(super) fn revoke_token(&mut self, id: u32) -> Result<Applied, Fault> {
        self.token(id)?;
        self.record(Change::Token(id, None));
        Ok(Applied::Deleted)
    }

    pub(super) fn rotate_token(
        &mut self,
        id: u32,
        token_hash: [u8; 32],
        prefix: &str,
        old_expires_at: Option<i64>,
    ) -> Result<Applied, Fault> {
        let mut old = self.token(id)?.clone();
        if self.work.credentials.contains_key(&token_hash) {
            return Err(CommandError::Conflict("that secret is in use already".into()).into());
        }
        let new_id = Self::next_id(&mut self.work.meta.counters.token)?;
        let mut new = old.clone();
        new.id = new_id;
        new.token_hash = token_hash;
        prefix.clone_into(&mut new.prefix);
        new.last_used_at = None;
        new.created_at = self.now;
        match old_expires_at {
            Some(at) if at > self.now => {
                old.expires_at = Some(old.expires_at.map_or(at, |e| e.min(at)));
                self.record(Change::Token(id, Some(old)));
            }
            _ => self.record(Change::Token(id, None)),
        }
        self.record(Change::Token(new_id, Some(new)));
        Ok(Applied::Created { id: new_id })
    }

    pub(super) fn create_session(
        &mut self,
        user_id: u32,
        token_hash: [u8; 32],
        expires_at: i64,
    ) -> Result<Applied, Fault> {
        let mut user = self.user(user_id)?.clone();
        if !user.active {
            return Err(CommandError::Invalid("the account is deactivated".into()).into());
        }
        if self.work.credentials.contains_key(&token_hash) {
            return Err(CommandError::Conflict("that secret is in use already".into()).into());
        }
        if user.locked_until.is_some() {
            user.locked_until = None;
            self.record(Change::User(user_id, Some(user)));
        }
        let id = Self::next_id(&mut self.work.meta.counters.session)?;
        self.record(Change::Session(
            id,
            Some(SessionRecord {
                id,
                user_id,
                token_hash,
                created_at: self.now,
                expires_at,
                last_seen_at: self.now,
            }),
        ));
        Ok(Applied::Created { id })
    }

    pub(super) fn end_session(&mut self, id: u32) -> Result<Applied, Fault> {
        if !self.work.sessions.contains_key(&id) {
            return Err(CommandError::not_found("session", id).into());
        }
        self.record(Change::Session(id, None));
        Ok(Applied::Deleted)
    }

    /// Records last use; credentials gone meanwhile are skipped, older times ignored.
    pub(super) fn record_use(&mut self, sessions: &[(u32, i64)], tokens: &[(u32, i64)]) -> Applied {
        for (id, at) in sessions {
            if let Some(session) = self.work.sessions.get(id).filter(|s| s.last_seen_at < *at) {
                let mut session = session.clone();
                session.last_seen_at = *at;
                self.record(Change::Session(*id, Some(session)));
            }
        }
        for (id, at) in tokens {
            if let Some(token) = self
                .work
                .tokens
                .get(id)
                .filter(|t| t.last_used_at < Some(*at))
            {
                let mut token = token.clone();
                token.last_used_at = Some(*at);
                self.record(Change::Token(*id, Some(token)));
            }
        }
        Applied::Updated
    }

    pub(super) fn record_event(&mut self, event: &SecurityEvent) -> Result<Applied, Fault> {
        if let SecurityEvent::LoginFailed {
            user_id: Some(id),
            lock_until: Some(until),
            ..
        } = event
            && let Some(user) = self.work.users.get(id)
        {
            let mut user = user.clone();
            user.locked_until = Some(user.locked_until.map_or(*until, |at| at.max(*until)));
            self.record(Change::User(*id, Some(user)));
        }
        Ok(Applied::Updated)
    }
}
