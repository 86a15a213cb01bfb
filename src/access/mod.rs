//! Access control: permissions, roles, grants, and the one function that decides whether a
//! principal may do something ([`Access::allows`]).
//!
//! A principal's effective permissions are the union of its grants: a grant at the
//! organisation applies everywhere; at a project, its project and environment permissions
//! apply to the project and all its environments; at an environment, its environment
//! permissions apply there (and the project becomes visible, so its features can be seen).

pub mod permission;
pub mod roles;

use std::collections::HashMap;

pub use permission::{Level, PermSet, Permission};
pub use roles::{Assignment, BuiltinRole, RoleRef, Scope, Subject};

use crate::store::Catalog;

/// What is being acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Organisation,
    Project(u32),
    Environment(u32),
    /// Anywhere: allowed when the permission is held at any scope (lists filter by it).
    Anywhere,
}

/// The effective permissions of one principal.
#[derive(Debug, Clone, Default)]
pub struct Access {
    organisation: PermSet,
    projects: HashMap<u32, PermSet>,
    environments: HashMap<u32, PermSet>,
    /// Projects visible through an environment grant.
    visible_projects: HashMap<u32, ()>,
}

impl Access {
    /// Every permission everywhere (the local recovery socket).
    pub fn everything() -> Self {
        Self {
            organisation: PermSet::all(),
            ..Self::default()
        }
    }

    /// The union of `assignments`, resolved against the catalog's custom roles.
    pub fn of(catalog: &Catalog, assignments: impl IntoIterator<Item = Assignment>) -> Self {
        let mut access = Self::default();
        for assignment in assignments {
            let set = role_permissions(catalog, assignment.role);
            match assignment.scope {
                Scope::Organisation => access.organisation = access.organisation.union(set),
                Scope::Project(id) => {
                    let entry = access.projects.entry(id).or_default();
                    *entry = entry.union(set.at_levels(&[Level::Project, Level::Environment]));
                }
                Scope::Environment(id) => {
                    let entry = access.environments.entry(id).or_default();
                    *entry = entry.union(set.at_levels(&[Level::Environment]));
                    if let Some(env) = catalog.environments.get(&id) {
                        access.visible_projects.insert(env.project_id, ());
                    }
                }
            }
        }
        access
    }

    /// The one check: may this principal use `permission` on `target`?
    pub fn allows(&self, catalog: &Catalog, permission: Permission, target: Target) -> bool {
        if self.organisation.contains(permission) {
            return true;
        }
        // The whole audit log includes every project's.
        if permission == Permission::ViewProjectAuditLog
            && self.organisation.contains(Permission::ViewAuditLog)
        {
            return true;
        }
        match (permission.level(), target) {
            (Level::Organisation, _) | (_, Target::Organisation) => false,
            (_, Target::Anywhere) => {
                self.projects.values().any(|s| s.contains(permission))
                    || self.environments.values().any(|s| s.contains(permission))
                    || (permission == Permission::ViewProject && !self.visible_projects.is_empty())
            }
            (level, Target::Project(id)) => {
                self.project(id).contains(permission)
                    || (level == Level::Project
                        && permission == Permission::ViewProject
                        && self.visible_projects.contains_key(&id))
            }
            (Level::Project, Target::Environment(id)) => catalog
                .environments
                .get(&id)
                .is_some_and(|e| self.allows(catalog, permission, Target::Project(e.project_id))),
            (Level::Environment, Target::Environment(id)) => {
                self.environments
                    .get(&id)
                    .is_some_and(|s| s.contains(permission))
                    || catalog
                        .environments
                        .get(&id)
                        .is_some_and(|e| self.project(e.project_id).contains(permission))
            }
        }
    }

    fn project(&self, id: u32) -> PermSet {
        self.projects.get(&id).copied().unwrap_or_default()
    }

    /// Whether every permission of `other` is held here at the same or a wider scope.
    pub fn covers(&self, catalog: &Catalog, assignment: Assignment) -> bool {
        let set = role_permissions(catalog, assignment.role);
        let target = match assignment.scope {
            Scope::Organisation => Target::Organisation,
            Scope::Project(id) => Target::Project(id),
            Scope::Environment(id) => Target::Environment(id),
        };
        let levels: &[Level] = match assignment.scope {
            Scope::Organisation => &[Level::Organisation, Level::Project, Level::Environment],
            Scope::Project(_) => &[Level::Project, Level::Environment],
            Scope::Environment(_) => &[Level::Environment],
        };
        set.at_levels(levels)
            .iter()
            .all(|p| match (p.level(), target) {
                // An organisation-wide grant of a project permission needs it organisation-wide.
                (Level::Project | Level::Environment, Target::Organisation) => {
                    self.organisation.contains(p)
                }
                _ => self.allows(catalog, p, target),
            })
    }

    /// Whether anything at all is granted.
    pub fn is_empty(&self) -> bool {
        self.organisation.is_empty()
            && self.projects.values().all(|s| s.is_empty())
            && self.environments.values().all(|s| s.is_empty())
    }

    /// A summary for `whoami`: permission keys per scope.
    pub fn summary(&self) -> serde_json::Value {
        let mut projects: Vec<_> = self.projects.iter().collect();
        projects.sort_by_key(|(id, _)| **id);
        let mut environments: Vec<_> = self.environments.iter().collect();
        environments.sort_by_key(|(id, _)| **id);
        serde_json::json!({
            "organisation": self.organisation.keys(),
            "projects": projects.into_iter().map(|(id, s)| serde_json::json!({"project_id": id, "permissions": s.keys()})).collect::<Vec<_>>(),
            "environments": environments.into_iter().map(|(id, s)| serde_json::json!({"environment_id": id, "permissions": s.keys()})).collect::<Vec<_>>(),
        })
    }
}

/// The permissions a role gives (a custom role that no longer exists gives none).
pub fn role_permissions(catalog: &Catalog, role: RoleRef) -> PermSet {
    match role {
        RoleRef::Builtin(builtin) => builtin.permissions(),
        RoleRef::Custom(id) => catalog
            .roles
            .get(&id)
            .map(|r| r.permissions)
            .unwrap_or_default(),
        RoleRef::Explicit(set) => set,
    }
}

/// The grants of a user: their own and their teams'.
pub fn user_assignments(catalog: &Catalog, user_id: u32) -> Vec<Assignment> {
    catalog
        .grants
        .values()
        .filter(|g| match g.subject {
            Subject::User(id) => id == user_id,
            Subject::Team(team) => catalog
                .teams
                .get(&team)
                .is_some_and(|t| t.members.contains(&user_id)),
        })
        .map(|g| Assignment {
            role: g.role,
            scope: g.scope,
        })
        .collect()
}

#[cfg(test)]
mod tests;

/// The effective permissions of an API token (none once its owner is deactivated or gone).
pub fn token_access(catalog: &Catalog, token: &crate::store::people::ApiTokenRecord) -> Access {
    use crate::store::people::TokenAccess;
    if let Some(owner) = token.owner
        && !catalog.users.get(&owner).is_some_and(|u| u.active)
    {
        return Access::default();
    }
    match &token.access {
        TokenAccess::Owner => token
            .owner
            .map(|owner| Access::of(catalog, user_assignments(catalog, owner)))
            .unwrap_or_default(),
        // A token made by a user never holds more than that user holds now (a demotion
        // reaches their tokens too).
        TokenAccess::Assignments(assignments) => match token.owner {
            Some(owner) => {
                let holds = Access::of(catalog, user_assignments(catalog, owner));
                Access::of(
                    catalog,
                    assignments
                        .iter()
                        .copied()
                        .filter(|a| holds.covers(catalog, *a)),
                )
            }
            None => Access::of(catalog, assignments.iter().copied()),
        },
    }
}

/// The effective permissions of whoever proposed a command.
pub fn actor_access(catalog: &Catalog, actor: &crate::store::command::Actor) -> Access {
    use crate::store::command::Actor;
    match actor {
        Actor::System | Actor::Local => Access::everything(),
        Actor::User { id, .. } => {
            if catalog.users.get(id).is_some_and(|u| u.active) {
                Access::of(catalog, user_assignments(catalog, *id))
            } else {
                Access::default()
            }
        }
        Actor::Token { id, .. } => catalog
            .tokens
            .get(id)
            .map(|t| token_access(catalog, t))
            .unwrap_or_default(),
        Actor::EnvironmentKey { .. } | Actor::Anonymous => Access::default(),
    }
}
