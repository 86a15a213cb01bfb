//! The no-escalation rule, decided with the state: nobody gives (to a token, a user, a team
//! or a role) more than they hold, and nobody takes over or demotes an account that holds
//! more than they do. A user manager is not an admin in disguise.

use super::{CommandError, Tx};
use crate::access::{self, Assignment, PermSet, RoleRef, Scope, Subject};

impl Tx<'_> {
    /// Refuses unless the command's actor holds every permission of `assignments` at (at
    /// least) their scopes.
    pub(super) fn check_may_give(&self, assignments: &[Assignment]) -> Result<(), CommandError> {
        let actor = access::actor_access(&self.work, &self.actor);
        match assignments.iter().find(|a| !actor.covers(&self.work, **a)) {
            None => Ok(()),
            Some(excess) => Err(CommandError::Forbidden(format!(
                "that gives more than you hold ({excess:?})"
            ))),
        }
    }

    /// Refuses unless the actor holds everything the user holds (their own grants and their
    /// teams').
    pub(super) fn check_may_manage_user(&self, user_id: u32) -> Result<(), CommandError> {
        let held = access::user_assignments(&self.work, user_id);
        self.check_may_give(&held).map_err(|_| {
            CommandError::Forbidden(format!(
                "user {user_id} holds permissions you do not; only someone holding them may change that account"
            ))
        })
    }

    /// The grants of a team, as assignments.
    pub(super) fn team_assignments(&self, team_id: u32) -> Vec<Assignment> {
        self.work
            .grants
            .values()
            .filter(|g| g.subject == Subject::Team(team_id))
            .map(|g| Assignment {
                role: g.role,
                scope: g.scope,
            })
            .collect()
    }

    /// Refuses a role's permissions the actor does not hold organisation-wide (a role can be
    /// granted anywhere, so changing it changes what its grantees hold).
    pub(super) fn check_may_define(&self, permissions: PermSet) -> Result<(), CommandError> {
        self.check_may_give(&[Assignment {
            role: RoleRef::Explicit(permissions),
            scope: Scope::Organisation,
        }])
    }
}

impl Tx<'_> {
    /// The rule applied to a command, before it runs.
    pub(super) fn check_escalation(
        &self,
        command: &crate::store::command::Command,
    ) -> Result<(), CommandError> {
        use crate::access::BuiltinRole;
        use crate::store::command::{Actor, Command};
        use crate::store::people::TokenAccess;
        match command {
            Command::CreateUser(user) if user.admin => self.check_may_give(&[Assignment {
                role: RoleRef::Builtin(BuiltinRole::Admin),
                scope: Scope::Organisation,
            }]),
            Command::UpdateUser { id, .. }
            | Command::DeleteUser { id }
            | Command::ResetPassword { user_id: id, .. } => self.check_may_manage_user(*id),
            // One's own password only (the API checks the current one).
            Command::ChangePassword { user_id, .. } => match &self.actor {
                Actor::User { id, .. } if id == user_id => Ok(()),
                Actor::Local | Actor::System => Ok(()),
                _ => Err(CommandError::Forbidden(
                    "a password is changed by its own user".into(),
                )),
            },
            Command::CreateGrant { role, scope, .. } => self.check_may_give(&[Assignment {
                role: *role,
                scope: *scope,
            }]),
            Command::DeleteGrant { id } => match self.work.grants.get(id) {
                Some(grant) => self.check_may_give(&[Assignment {
                    role: grant.role,
                    scope: grant.scope,
                }]),
                None => Ok(()),
            },
            Command::AddTeamMember { team_id, .. }
            | Command::RemoveTeamMember { team_id, .. }
            | Command::DeleteTeam { id: team_id } => {
                self.check_may_give(&self.team_assignments(*team_id))
            }
            Command::UpdateRole {
                id,
                permissions: Some(new),
                ..
            } => {
                let old = self
                    .work
                    .roles
                    .get(id)
                    .map(|r| r.permissions)
                    .unwrap_or_default();
                self.check_may_define(new.union(old))
            }
            // Rotating hands out a secret that acts as the owner: only they may, for theirs.
            Command::RotateApiToken { id, .. }
                if self
                    .work
                    .tokens
                    .get(id)
                    .is_some_and(|t| t.access == TokenAccess::Owner) =>
            {
                let owner = self.work.tokens.get(id).and_then(|t| t.owner);
                match (&self.actor, owner) {
                    (Actor::User { id: user, .. }, Some(owner)) if *user == owner => Ok(()),
                    (Actor::Local | Actor::System, _) => Ok(()),
                    _ => Err(CommandError::Forbidden(
                        "a personal token is rotated by its owner only".into(),
                    )),
                }
            }
            Command::RotateApiToken { id, .. } | Command::RevokeApiToken { id } => {
                match self.work.tokens.get(id).map(|t| (&t.access, t.owner)) {
                    Some((TokenAccess::Assignments(assignments), _)) => {
                        self.check_may_give(assignments)
                    }
                    Some((TokenAccess::Owner, Some(owner))) => self.check_may_manage_user(owner),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}
