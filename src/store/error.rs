//! Store errors.

use thiserror::Error;

/// Why the store could not open, read or write.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    #[error("the data directory {path} is in use by another Burgee process")]
    Locked { path: String },
    #[error("the data directory {path} cannot be written: {reason}")]
    Unwritable { path: String, reason: String },
    #[error(
        "the data was written by a newer Burgee (format {found}; this binary reads up to \
         {supported}); upgrade Burgee to open it"
    )]
    NewerFormat { found: u32, supported: u32 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot encode a value: {0}")]
    Encode(String),
    #[error("storage error: {0}")]
    Database(String),
    /// A storage fault: the write was not kept; retrying later may succeed.
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    /// No leader with a quorum can take the write now (a cluster lost its majority, or is
    /// electing a leader); retrying later may succeed.
    #[error("no quorum: {0}")]
    NoQuorum(String),
    /// A bug outside any one command; nothing of the batch was kept.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("the store is shutting down")]
    Closed,
    /// The store cannot be used as configured (a bad URL, a CA file without certificates,
    /// a migration target that is not empty).
    #[error("{0}")]
    Unusable(String),
}

/// What a store error means to a caller: the one classification every API layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Storage cannot take the write now; retrying later may succeed.
    Unavailable,
    /// The server is stopping.
    Closed,
    /// The cluster has no leader with a quorum now.
    NoQuorum,
    /// Stored data cannot be read (corrupt, or from a newer Burgee).
    Corrupt,
    /// A bug.
    Internal,
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unavailable(_)
            | Self::Database(_)
            | Self::Locked { .. }
            | Self::Unwritable { .. }
            | Self::Unusable(_) => ErrorKind::Unavailable,
            Self::Closed => ErrorKind::Closed,
            Self::NoQuorum(_) => ErrorKind::NoQuorum,
            Self::Corrupt(_) | Self::NewerFormat { .. } => ErrorKind::Corrupt,
            Self::Encode(_) | Self::Internal(_) => ErrorKind::Internal,
        }
    }
}

macro_rules! database_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                Self::Database(e.to_string())
            }
        }
    )*};
}

database_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
