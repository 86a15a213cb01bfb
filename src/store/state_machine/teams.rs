//! Teams, custom roles and grants.

use super::checks::{check_description, check_name, same_name};
use super::{CommandError, Fault, Tx};
use crate::access::BuiltinRole;
use crate::access::{PermSet, RoleRef, Subject};
use crate::store::changes::Change;
use crate::store::command::Applied;
use crate::store::people::{RoleRecord, TeamRecord, TokenAccess};

impl Tx<'_> {
    pub(super) fn team(&self, id: u32) -> Result<&TeamRecord, CommandError> {
        self.work
            .teams
            .get(&id)
            .ok_or_else(|| CommandError::not_found("team", id))
    }

    pub(super) fn role(&self, id: u32) -> Result<&RoleRecord, CommandError> {
        self.work
            .roles
            .get(&id)
            .ok_or_else(|| CommandError::not_found("role", id))
    }

    fn team_name_free(&self, name: &str, except: Option<u32>) -> Result<(), CommandError> {
        check_name("team", name)?;
        if self
            .work
            .teams
            .values()
            .any(|t| Some(t.id) != except && same_name(&t.name, name))
        {
            return Err(CommandError::Conflict(format!(
                "a team named {name:?} exists already"
            )));
        }
        Ok(())
    }

    pub(super) fn create_team(&mut self, name: &str) -> Result<Applied, Fault> {
        self.team_name_free(name, None)?;
        let id = Self::next_id(&mut self.work.meta.counters.team)?;
        self.record(Change::Team(
            id,
            Some(TeamRecord {
                id,
                name: name.to_owned(),
                members: Default::default(),
                created_at: self.now,
            }),
        ));
        Ok(Applied::Created { id })
    }

    pub(super) fn update_team(&mut self, id: u32, name: &str) -> Result<Applied, Fault> {
        let mut team = self.team(id)?.clone();
        self.team_name_free(name, Some(id))?;
        name.clone_into(&mut team.name);
        self.record(Change::Team(id, Some(team)));
        Ok(Applied::Updated)
    }

    pub(super) fn delete_team(&mut self, id: u32) -> Result<Applied, Fault> {
        self.team(id)?;
        let grants: Vec<u32> = self
            .work
            .grants
            .values()
            .filter(|g| g.subject == Subject::Team(id))
            .map(|g| g.id)
            .collect();
        for grant in grants {
            self.record(Change::Grant(grant, None));
        }
        self.record(Change::Team(id, None));
        Ok(Applied::Deleted)
    }

    pub(super) fn set_team_member(
        &mut self,
        team_id: u32,
        user_id: u32,
        member: bool,
    ) -> Result<Applied, Fault> {
        let mut team = self.team(team_id)?.clone();
        self.user(user_id)?;
        let changed = if member {
            team.members.insert(user_id)
        } else {
            team.members.remove(&user_id)
        };
        if !changed {
            return Err(if member {
                CommandError::Conflict(format!("user {user_id} is in team {team_id} already"))
            } else {
                CommandError::not_found("team member", user_id)
            }
            .into());
        }
        self.record(Change::Team(team_id, Some(team)));
        Ok(Applied::Updated)
    }

    fn role_name_free(&self, name: &str, except: Option<u32>) -> Result<(), CommandError> {
        check_name("role", name)?;
        if BuiltinRole::ALL.iter().any(|r| same_name(r.name(), name))
            || self
                .work
                .roles
                .values()
                .any(|r| Some(r.id) != except && same_name(&r.name, name))
        {
            return Err(CommandError::Conflict(format!(
                "a role named {name:?} exists already"
            )));
        }
        Ok(())
    }

    pub(super) fn create_role(
        &mut self,
        name: &str,
        description: Option<&String>,
        permissions: PermSet,
    ) -> Result<Applied, Fault> {
        self.role_name_free(name, None)?;
        check_description("role", description.map(String::as_str))?;
        let id = Self::next_id(&mut self.work.meta.counters.role)?;
        self.record(Change::Role(
            id,
            Some(RoleRecord {
                id,
                name: name.to_owned(),
                description: description.cloned(),
                permissions,
                created_at: self.now,
            }),
        ));
        Ok(Applied::Created { id })
    }

    pub(super) fn update_role(
        &mut self,
        id: u32,
        name: Option<&str>,
        description: Option<&Option<String>>,
        permissions: Option<PermSet>,
    ) -> Result<Applied, Fault> {
        let mut role = self.role(id)?.clone();
        if let Some(name) = name {
            self.role_name_free(name, Some(id))?;
            name.clone_into(&mut role.name);
        }
        if let Some(description) = description {
            check_description("role", description.as_deref())?;
            role.description.clone_from(description);
        }
        if let Some(permissions) = permissions {
            role.permissions = permissions;
        }
        self.record(Change::Role(id, Some(role)));
        Ok(Applied::Updated)
    }

    pub(super) fn delete_role(&mut self, id: u32) -> Result<Applied, Fault> {
        self.role(id)?;
        let used = RoleRef::Custom(id);
        let grants: Vec<String> = self
            .work
            .grants
            .values()
            .filter(|g| g.role == used)
            .map(|g| g.id.to_string())
            .collect();
        let tokens: Vec<String> = self
            .work
            .tokens
            .values()
            .filter(|t| matches!(&t.access, TokenAccess::Assignments(a) if a.iter().any(|a| a.role == used)))
            .map(|t| t.id.to_string())
            .collect();
        if !grants.is_empty() || !tokens.is_empty() {
            return Err(CommandError::Conflict(format!(
                "role {id} is in use (grants: [{}], tokens: [{}]); remove those first",
                grants.join(", "),
                tokens.join(", ")
            ))
            .into());
        }
        self.record(Change::Role(id, None));
        Ok(Applied::Deleted)
    }

    pub(super) fn delete_grant(&mut self, id: u32) -> Result<Applied, Fault> {
        if !self.work.grants.contains_key(&id) {
            return Err(CommandError::not_found("grant", id).into());
        }
        self.record(Change::Grant(id, None));
        Ok(Applied::Deleted)
    }
}
