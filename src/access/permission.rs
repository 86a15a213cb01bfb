//! Permissions: what a principal may do, at which level (organisation, project,
//! environment). Keys follow Flagsmith's permission names where Flagsmith has one.

use serde::{Deserialize, Serialize};

/// Where a permission applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    Organisation,
    Project,
    Environment,
}

macro_rules! permissions {
    ($($variant:ident = $bit:literal, $key:literal, $level:ident, $about:literal;)*) => {
        /// One permission. The bit numbers are stored: never reuse or reorder them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum Permission {
            $($variant = $bit,)*
        }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            /// The stable key, as the API and the CLI spell it.
            pub fn key(self) -> &'static str {
                match self { $(Permission::$variant => $key,)* }
            }

            pub fn level(self) -> Level {
                match self { $(Permission::$variant => Level::$level,)* }
            }

            /// What it allows, in words.
            pub fn about(self) -> &'static str {
                match self { $(Permission::$variant => $about,)* }
            }

            pub fn from_key(key: &str) -> Option<Self> {
                match key { $($key => Some(Permission::$variant),)* _ => None }
            }
        }
    };
}

permissions! {
    ManageUsers = 0, "MANAGE_USERS", Organisation, "create, change, deactivate and reset users; manage roles and grants";
    ManageTeams = 1, "MANAGE_TEAMS", Organisation, "create, change and delete teams and their members";
    ManageTokens = 2, "MANAGE_TOKENS", Organisation, "create, list and revoke API tokens of the organisation";
    ManageSettings = 3, "MANAGE_SETTINGS", Organisation, "change the organisation's settings";
    CreateProject = 4, "CREATE_PROJECT", Organisation, "create projects";
    ViewAuditLog = 5, "VIEW_AUDIT_LOG", Organisation, "read the whole audit log, security events included";
    ImportEnvironments = 6, "IMPORT_ENVIRONMENTS", Organisation, "import Flagsmith environment documents";
    ManageCluster = 7, "MANAGE_CLUSTER", Organisation, "add and remove the cluster's nodes";
    TakeBackups = 8, "TAKE_BACKUPS", Organisation, "take backups of the whole installation (every project, identity, trait and credential hash)";
    ViewProject = 16, "VIEW_PROJECT", Project, "see the project, its features and segments";
    ManageProject = 17, "MANAGE_PROJECT", Project, "rename or delete the project";
    CreateFeature = 18, "CREATE_FEATURE", Project, "create features";
    EditFeature = 19, "EDIT_FEATURE", Project, "change a feature's description and key-only setting";
    DeleteFeature = 20, "DELETE_FEATURE", Project, "delete features";
    ManageSegments = 21, "MANAGE_SEGMENTS", Project, "create, change and delete segments";
    CreateEnvironment = 22, "CREATE_ENVIRONMENT", Project, "create environments";
    ViewProjectAuditLog = 23, "VIEW_PROJECT_AUDIT_LOG", Project, "read the audit log of the project";
    ViewEnvironment = 32, "VIEW_ENVIRONMENT", Environment, "see the environment, its feature states and document";
    ManageEnvironment = 33, "MANAGE_ENVIRONMENT", Environment, "rename, change settings of or delete the environment";
    UpdateFeatureState = 34, "UPDATE_FEATURE_STATE", Environment, "change feature states";
    ManageSegmentOverrides = 35, "MANAGE_SEGMENT_OVERRIDES", Environment, "create, change, reorder and remove segment overrides";
    ViewIdentities = 36, "VIEW_IDENTITIES", Environment, "see identities and their traits";
    ManageIdentities = 37, "MANAGE_IDENTITIES", Environment, "change traits and identity overrides, delete identities";
    ManageServerKeys = 38, "MANAGE_SERVER_KEYS", Environment, "create, rotate and revoke server-side keys";
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

/// A set of permissions, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PermSet(pub u64);

impl PermSet {
    pub const EMPTY: PermSet = PermSet(0);

    pub fn all() -> Self {
        Self::of(Permission::ALL)
    }

    pub fn of(permissions: &[Permission]) -> Self {
        Self(
            permissions
                .iter()
                .fold(0, |bits, p| bits | (1u64 << (*p as u8))),
        )
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & (1u64 << (permission as u8)) != 0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Only the permissions at `levels`.
    pub fn at_levels(self, levels: &[Level]) -> Self {
        Self::of(
            &self
                .iter()
                .filter(|p| levels.contains(&p.level()))
                .collect::<Vec<_>>(),
        )
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The keys, in a stable order.
    pub fn keys(self) -> Vec<&'static str> {
        self.iter().map(Permission::key).collect()
    }

    /// Parses keys; unknown ones are named in the error.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut found = Vec::new();
        for key in keys {
            found.push(Permission::from_key(key).ok_or_else(|| {
                format!("unknown permission {key:?}; GET /admin/v1/permissions lists them")
            })?);
        }
        Ok(Self::of(&found))
    }
}
