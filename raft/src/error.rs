//! Errors of the Raft storage, and their conversion to openraft's storage errors (which stop
//! the node: a storage fault is never answered as if the write were refused).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LogStoreError {
    #[error("the Raft log: {0}")]
    Database(String),
    #[error("a Raft log record cannot be read: {0}")]
    Corrupt(String),
    #[error("the Raft log {0} is in use by another process")]
    Locked(String),
}

macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for LogStoreError {
            fn from(e: $error) -> Self {
                Self::Database(e.to_string())
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl From<postcard::Error> for LogStoreError {
    fn from(e: postcard::Error) -> Self {
        Self::Corrupt(e.to_string())
    }
}
