//! Command formats: which commands a member of each version reads.

use super::{Command, SecurityEvent};

/// The newest command format this build reads and writes. Each command says in which format
/// it appeared ([`Command::since`]); a command newer than the cluster's active format
/// ([`super::catalog::Catalog::active_command_format`]) is not proposed, since a member of an
/// older version could not read it. The active format is raised through the log
/// ([`Command::RaiseCommandFormat`]) once every member runs a version that reads it.
///
/// * 1: the first release's commands.
/// * 2: `RecordEvent(BackupTaken)`, `RaiseCommandFormat` and `CloneEnvironment`.
/// * 3: `EditFeatureStates`, `CreateTaggedFeature`, `EditFeature`, `ApplyManifest` and
///   `CopyIdentityOverrides`.
pub const COMMAND_FORMAT: u16 = 3;

/// The newest command format this node reads: [`COMMAND_FORMAT`], or under fault injection
/// `BURGEE_FAULT_COMMAND_FORMAT` (a node playing an older version in upgrade tests).
pub fn supported_command_format() -> u16 {
    #[cfg(feature = "fault-injection")]
    {
        static PLAYED: std::sync::OnceLock<Option<u16>> = std::sync::OnceLock::new();
        if let Some(format) = *PLAYED.get_or_init(|| {
            std::env::var("BURGEE_FAULT_COMMAND_FORMAT")
                .ok()
                .and_then(|v| v.parse().ok())
        }) {
            return format;
        }
    }
    COMMAND_FORMAT
}

impl Command {
    /// The command format the cluster must have switched on before this command is
    /// proposed: [`Command::since`], except for raising the format, which is what switches
    /// it on (proposed only once every member reads it).
    pub fn needs_active(&self) -> u16 {
        match self {
            Self::RaiseCommandFormat { .. } => 1,
            _ => self.since(),
        }
    }

    /// The command format in which this command appeared. New variants go at the end of the
    /// enum (postcard numbers them in order) and say here which format brought them.
    pub fn since(&self) -> u16 {
        match self {
            Self::RecordEvent(SecurityEvent::BackupTaken { .. })
            | Self::RaiseCommandFormat { .. }
            | Self::CloneEnvironment { .. } => 2,
            Self::EditFeatureStates { .. }
            | Self::CreateTaggedFeature { .. }
            | Self::EditFeature { .. }
            | Self::ApplyManifest(_)
            | Self::CopyIdentityOverrides { .. } => 3,
            _ => 1,
        }
    }
}
