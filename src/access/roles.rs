//! Roles (built-in and custom), grants and the scopes they apply at.

use serde::{Deserialize, Serialize};

use super::permission::{PermSet, Permission};

/// The roles every instance has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BuiltinRole {
    Admin,
    Editor,
    Viewer,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 3] = [Self::Admin, Self::Editor, Self::Viewer];

    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    pub fn about(self) -> &'static str {
        match self {
            Self::Admin => "everything",
            Self::Editor => {
                "change features, states, segments, overrides and identities; not users, keys, tokens or settings"
            }
            Self::Viewer => "read only",
        }
    }

    pub fn permissions(self) -> PermSet {
        use Permission as P;
        match self {
            Self::Admin => PermSet::all(),
            Self::Editor => PermSet::of(&[
                P::ViewProject,
                P::CreateFeature,
                P::EditFeature,
                P::DeleteFeature,
                P::ManageSegments,
                P::ViewProjectAuditLog,
                P::ViewEnvironment,
                P::UpdateFeatureState,
                P::ManageSegmentOverrides,
                P::ViewIdentities,
                P::ManageIdentities,
            ]),
            Self::Viewer => PermSet::of(&[P::ViewProject, P::ViewEnvironment, P::ViewIdentities]),
        }
    }
}

/// A role as a grant or token names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RoleRef {
    Builtin(BuiltinRole),
    /// A custom role by id.
    Custom(u32),
    /// Permissions listed directly (API tokens).
    Explicit(PermSet),
}

/// Where a grant applies: the organisation (everything), a project (it and its
/// environments) or one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    Organisation,
    Project(u32),
    Environment(u32),
}

/// Who a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Subject {
    User(u32),
    Team(u32),
}

/// A role at a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Assignment {
    pub role: RoleRef,
    pub scope: Scope,
}
