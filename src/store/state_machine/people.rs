//! Users: creation (initial password or invitation), changes, deactivation, passwords, and
//! the first-start setup that creates the first admin.

use super::checks::check_name;
use super::{CommandError, Fault, Tx};
use crate::access::{BuiltinRole, RoleRef, Scope, Subject};
use crate::store::changes::Change;
use crate::store::command::{Applied, NewUser};
use crate::store::people::{GrantRecord, InviteRecord, UserRecord};

/// Longest accepted e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;

/// A plausible address: one `@` with text on both sides, no spaces or controls.
pub fn check_email(email: &str) -> Result<(), CommandError> {
    let ok = email.len() <= MAX_EMAIL
        && email.split('@').count() == 2
        && email.split('@').all(|part| !part.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(CommandError::Invalid(format!(
            "{email:?} is not an e-mail address (name@host, at most {MAX_EMAIL} characters)"
        )))
    }
}

impl Tx<'_> {
    pub(super) fn user(&self, id: u32) -> Result<&UserRecord, CommandError> {
        self.work
            .users
            .get(&id)
            .ok_or_else(|| CommandError::not_found("user", id))
    }

    pub(super) fn create_user(&mut self, new: &NewUser) -> Result<Applied, Fault> {
        let email = new.email.trim().to_lowercase();
        check_email(&email)?;
        check_name("user", &new.name)?;
        if self.work.user_by_email(&email).is_some() {
            return Err(CommandError::Conflict(format!(
                "a user with the address {email} exists already"
            ))
            .into());
        }
        if new.password_hash.is_none() && new.invite.is_none() {
            return Err(CommandError::Invalid(
                "a new user needs an initial password or an invitation".into(),
            )
            .into());
        }
        let id = Self::next_id(&mut self.work.meta.counters.user)?;
        self.record(Change::User(
            id,
            Some(UserRecord {
                id,
                email,
                name: new.name.clone(),
                password_hash: new.password_hash.clone(),
                must_change_password: new.must_change_password,
                active: true,
                invite: new.invite.clone(),
                locked_until: None,
                created_at: self.now,
            }),
        ));
        if new.admin {
            self.add_grant(
                Subject::User(id),
                RoleRef::Builtin(BuiltinRole::Admin),
                Scope::Organisation,
            )?;
        }
        Ok(Applied::Created { id })
    }

    pub(super) fn complete_setup(
        &mut self,
        token_hash: &[u8; 32],
        user: &NewUser,
    ) -> Result<Applied, Fault> {
        let setup = self
            .work
            .meta
            .setup
            .clone()
            .ok_or_else(|| CommandError::Conflict("the setup token was used already".into()))?;
        if setup.token_hash != *token_hash || setup.expires_at <= self.now {
            return Err(CommandError::Invalid(
                "the setup token is not valid (it may have expired)".into(),
            )
            .into());
        }
        self.work.meta.setup = None;
        let mut first = user.clone();
        first.admin = true;
        first.must_change_password = false;
        self.create_user(&first)
    }

    pub(super) fn update_user(
        &mut self,
        id: u32,
        name: Option<&str>,
        active: Option<bool>,
    ) -> Result<Applied, Fault> {
        let mut user = self.user(id)?.clone();
        if let Some(name) = name {
            check_name("user", name)?;
            name.clone_into(&mut user.name);
        }
        if let Some(active) = active {
            user.active = active;
            if !active {
                self.end_sessions_of(id, None);
            }
        }
        self.record(Change::User(id, Some(user)));
        Ok(Applied::Updated)
    }

    pub(super) fn delete_user(&mut self, id: u32) -> Result<Applied, Fault> {
        self.user(id)?;
        self.end_sessions_of(id, None);
        let grants: Vec<u32> = self
            .work
            .grants
            .values()
            .filter(|g| g.subject == Subject::User(id))
            .map(|g| g.id)
            .collect();
        for grant in grants {
            self.record(Change::Grant(grant, None));
        }
        let teams: Vec<_> = self
            .work
            .teams
            .values()
            .filter(|t| t.members.contains(&id))
            .cloned()
            .collect();
        for mut team in teams {
            team.members.remove(&id);
            self.record(Change::Team(team.id, Some(team)));
        }
        let tokens: Vec<u32> = self
            .work
            .tokens
            .values()
            .filter(|t| t.owner == Some(id))
            .map(|t| t.id)
            .collect();
        for token in tokens {
            self.record(Change::Token(token, None));
        }
        self.record(Change::User(id, None));
        Ok(Applied::Deleted)
    }

    pub(super) fn change_password(
        &mut self,
        user_id: u32,
        password_hash: &str,
        keep_session: Option<u32>,
    ) -> Result<Applied, Fault> {
        let mut user = self.user(user_id)?.clone();
        user.password_hash = Some(password_hash.to_owned());
        user.must_change_password = false;
        user.invite = None;
        self.record(Change::User(user_id, Some(user)));
        self.end_sessions_of(user_id, keep_session);
        Ok(Applied::Updated)
    }

    pub(super) fn reset_password(
        &mut self,
        user_id: u32,
        password_hash: Option<&String>,
        invite: Option<&InviteRecord>,
    ) -> Result<Applied, Fault> {
        let mut user = self.user(user_id)?.clone();
        if password_hash.is_none() && invite.is_none() {
            return Err(CommandError::Invalid(
                "a reset needs a new initial password or an invitation".into(),
            )
            .into());
        }
        user.password_hash = password_hash.cloned();
        user.must_change_password = password_hash.is_some();
        user.invite = invite.cloned();
        user.locked_until = None;
        self.record(Change::User(user_id, Some(user)));
        self.end_sessions_of(user_id, None);
        // A reset recovers an account: what might have been taken with it stops too.
        let personal: Vec<u32> = self
            .work
            .tokens
            .values()
            .filter(|t| {
                t.owner == Some(user_id) && t.access == crate::store::people::TokenAccess::Owner
            })
            .map(|t| t.id)
            .collect();
        for id in personal {
            self.record(Change::Token(id, None));
        }
        Ok(Applied::Updated)
    }

    pub(super) fn accept_invite(
        &mut self,
        invite_hash: &[u8; 32],
        password_hash: &str,
    ) -> Result<Applied, Fault> {
        let user = self
            .work
            .user_by_invite(invite_hash, self.now)
            .cloned()
            .ok_or_else(|| {
                CommandError::Invalid(
                    "the invitation is not valid (it may have expired or been used)".into(),
                )
            })?;
        self.change_password(user.id, password_hash, None)
    }

    /// Ends every session of a user but `keep`.
    pub(super) fn end_sessions_of(&mut self, user_id: u32, keep: Option<u32>) {
        let ids: Vec<u32> = self
            .work
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && Some(s.id) != keep)
            .map(|s| s.id)
            .collect();
        for id in ids {
            self.record(Change::Session(id, None));
        }
    }

    pub(super) fn add_grant(
        &mut self,
        subject: Subject,
        role: RoleRef,
        scope: Scope,
    ) -> Result<Applied, Fault> {
        match subject {
            Subject::User(id) => {
                self.user(id)?;
            }
            Subject::Team(id) => {
                self.team(id)?;
            }
        }
        match role {
            RoleRef::Custom(id) => {
                self.role(id)?;
            }
            RoleRef::Builtin(_) => {}
            RoleRef::Explicit(_) => {
                return Err(CommandError::Invalid(
                    "a grant names a role; explicit permissions are for API tokens".into(),
                )
                .into());
            }
        }
        match scope {
            Scope::Organisation => {}
            Scope::Project(id) => {
                self.project(id)?;
            }
            Scope::Environment(id) => {
                self.environment(id)?;
            }
        }
        if let Some(same) = self
            .work
            .grants
            .values()
            .find(|g| g.subject == subject && g.role == role && g.scope == scope)
        {
            return Err(
                CommandError::Conflict(format!("grant {} gives this already", same.id)).into(),
            );
        }
        let id = Self::next_id(&mut self.work.meta.counters.grant)?;
        self.record(Change::Grant(
            id,
            Some(GrantRecord {
                id,
                subject,
                role,
                scope,
                created_at: self.now,
            }),
        ));
        Ok(Applied::Created { id })
    }
}
