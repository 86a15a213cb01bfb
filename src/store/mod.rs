//! The storage seam: commands, the state machine that applies them, the in-memory catalog,
//! and reads of identities and traits, over either store.
//!
//! Layout: [`command`] (every mutation, as a value), [`state_machine`] (the one `apply`, with a
//! file per aggregate), [`rows`] (what `apply` reads and where a batch writes, the seam every
//! store implements), [`changes`] (the buffered change set every command produces and the
//! one place that writes it to redb), [`batch`] (entries applied in one transaction, one
//! durable commit), [`writer`] (the supervised writer thread), [`database`] (opening the file,
//! loading the catalog), [`catalog`] (the configuration in memory), [`purge`] (background
//! removal of deleted environments' rows), [`health`] (what the probes report);
//! [`embedded`] (redb under Raft, the default) and `postgres` (PostgreSQL tables shared by
//! replicas) are the two stores behind [`Store`].

pub mod audit;
pub mod backup;
pub mod batch;
pub mod catalog;
pub mod changes;
mod codec;
pub mod command;
pub mod database;
pub mod embedded;
mod error;
pub mod evaluations;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod health;
mod migrate;
pub mod people;
#[cfg(feature = "postgres")]
pub mod postgres;
mod proposer;
mod purge;
pub mod records;
pub mod recover;
pub mod replicated;
pub mod retention;
pub mod rows;
pub mod sealed;
mod shared;
pub mod snapshot;
pub mod state_machine;
mod tables;
pub mod writer;

use std::path::Path;
use std::sync::Arc;

use burgee_raft::Node;

pub use catalog::Catalog;
pub use command::{Applied, Command, Envelope};
pub use embedded::{Embedded, NodeOptions};
pub use error::{ErrorKind, StoreError};
pub use records::StoredValue;
pub use state_machine::CommandError;
pub use writer::Views;

use records::IdentityRecord;

/// An identity and its traits, sorted by key.
pub type StoredIdentity = (IdentityRecord, Vec<(String, StoredValue)>);

/// A handle to the store, whichever it is; clone freely.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Embedded(Embedded),
    #[cfg(feature = "postgres")]
    Postgres(Arc<postgres::PgStore>),
}

impl Store {
    /// Opens (or creates) an embedded store of its own in `dir` (a one-member Raft group).
    pub async fn open<V: Views>(dir: &Path, views: Arc<V>) -> Result<Self, StoreError> {
        Ok(Self::from(Embedded::open(dir, views).await?))
    }

    /// Opens (or creates) the embedded store in `dir` and starts its Raft node; see
    /// [`Embedded::open_node`].
    pub async fn open_node<V: Views>(
        dir: &Path,
        views: Arc<V>,
        options: &NodeOptions,
    ) -> Result<Self, StoreError> {
        Ok(Self::from(Embedded::open_node(dir, views, options).await?))
    }

    /// Connects to the PostgreSQL store (creating or migrating its schema).
    #[cfg(feature = "postgres")]
    pub async fn open_postgres<V: Views>(
        connector: postgres::Connector,
        notifications: postgres::Notifications,
        views: Arc<V>,
    ) -> Result<Self, StoreError> {
        let store = postgres::PgStore::open(connector, notifications, views).await?;
        Ok(Self {
            backend: Backend::Postgres(Arc::new(store)),
        })
    }

    /// The embedded store, when this is one.
    pub fn embedded(&self) -> Option<&Embedded> {
        match &self.backend {
            Backend::Embedded(store) => Some(store),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => None,
        }
    }

    /// The Raft node under an embedded store (none in PostgreSQL mode).
    pub fn node(&self) -> Option<&Node> {
        self.embedded().map(Embedded::node)
    }

    /// Stops taking writes; what was acknowledged is durable.
    pub async fn close(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Embedded(store) => store.close().await,
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => {
                store.close();
                Ok(())
            }
        }
    }

    /// Starts removing the rows of deleted environments in the background (and resumes a
    /// removal a restart interrupted). Needs a Tokio runtime.
    pub fn start_background_work(&self) {
        tokio::spawn(purge::run(self.clone()));
    }

    /// Whether this server runs the periodic work (purges, audit retention): every embedded
    /// node (its commands go through the one Raft log), and one PostgreSQL replica at a time.
    pub fn runs_periodic_work(&self) -> bool {
        match &self.backend {
            Backend::Embedded(_) => true,
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.leading(),
        }
    }

    /// Wakes the background purge when an environment is deleted.
    pub(crate) fn purge_wakeup(&self) -> &tokio::sync::Notify {
        match &self.backend {
            Backend::Embedded(store) => store.purge_wakeup(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => &store.state().purge_wakeup,
        }
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        match &self.backend {
            Backend::Embedded(store) => store.catalog(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.catalog(),
        }
    }

    /// Where the data lives: the embedded store's file, or the PostgreSQL schema.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Embedded(store) => store.path().display().to_string(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.target().to_owned(),
        }
    }

    /// Why the store cannot take writes now, if it cannot.
    pub fn unavailable(&self) -> Option<String> {
        match &self.backend {
            Backend::Embedded(store) => store.unavailable(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.unavailable(),
        }
    }

    /// Whether the writer runs.
    pub fn writer_alive(&self) -> bool {
        match &self.backend {
            Backend::Embedded(store) => store.writer_alive(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => true,
        }
    }

    /// Applies a command and waits until it is durable and visible here.
    pub async fn execute(
        &self,
        envelope: Envelope,
    ) -> Result<Result<Applied, CommandError>, StoreError> {
        match &self.backend {
            Backend::Embedded(store) => store.execute(envelope).await,
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.execute(envelope).await,
        }
    }

    /// Waits until this node's state holds every write acknowledged anywhere before the
    /// call (a linearizable read follows).
    pub async fn linearize(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Embedded(store) => store.linearize().await,
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.linearize().await,
        }
    }

    /// Up to `limit` audit entries from `from_seq` that `keep` accepts, and where the next
    /// page starts. Blocking: call from a blocking task.
    pub fn audit_page(
        &self,
        from_seq: u64,
        limit: usize,
        keep: impl FnMut(&audit::AuditRecord) -> bool,
    ) -> Result<(Vec<audit::AuditRecord>, Option<u64>), StoreError> {
        match &self.backend {
            Backend::Embedded(store) => store.audit_page(from_seq, limit, keep),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.audit_page(from_seq, limit, keep),
        }
    }

    /// Walks the audit chain. Blocking: call from a blocking task.
    pub fn audit_verify(&self) -> Result<audit::Verification, StoreError> {
        match &self.backend {
            Backend::Embedded(store) => store.audit_verify(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.audit_verify(),
        }
    }

    /// An identity and its traits (sorted by key), if it exists. The embedded store reads
    /// inline (a short MVCC read, cheaper than a hop to the blocking pool).
    pub async fn identity(
        &self,
        environment_id: u32,
        identifier: &str,
    ) -> Result<Option<StoredIdentity>, StoreError> {
        match &self.backend {
            Backend::Embedded(store) => store.identity(environment_id, identifier),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.identity(environment_id, identifier).await,
        }
    }

    /// How many identities are stored, over all environments.
    pub fn identity_count(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Embedded(store) => store.identity_count(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => Ok(store.identity_count()),
        }
    }

    /// Identities of an environment after `cursor` (by identifier), at most `limit`.
    pub async fn identities(
        &self,
        environment_id: u32,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Vec<(String, IdentityRecord)>, StoreError> {
        match &self.backend {
            Backend::Embedded(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || {
                    store.identities(environment_id, cursor.as_deref(), limit)
                })
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))?
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => {
                store
                    .identities(environment_id, cursor.as_deref(), limit)
                    .await
            }
        }
    }

    /// How many identity and trait rows remain for an environment (0 once purged).
    pub async fn identity_rows(&self, environment_id: u32) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Embedded(store) => store.identity_rows(environment_id),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.identity_rows(environment_id).await,
        }
    }
}

impl Store {
    /// The evaluation rows `query` asks for, in key order.
    pub async fn evaluations(
        &self,
        query: evaluations::EvaluationQuery,
    ) -> Result<Vec<(evaluations::EvaluationKey, evaluations::EvaluationRecord)>, StoreError> {
        match &self.backend {
            Backend::Embedded(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.evaluations(query))
                    .await
                    .map_err(|e| StoreError::Internal(e.to_string()))?
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.evaluations(query).await,
        }
    }

    /// Up to `limit` evaluation rows the prune may remove: hours before `before_hour`, and
    /// the rows of (environment, feature) pairs `alive` rejects.
    pub async fn expired_evaluations(
        &self,
        before_hour: u32,
        alive: Arc<dyn Fn(u32, u32) -> bool + Send + Sync>,
        limit: usize,
    ) -> Result<Vec<evaluations::EvaluationKey>, StoreError> {
        match &self.backend {
            Backend::Embedded(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || {
                    store.expired_evaluations(before_hour, alive.as_ref(), limit)
                })
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))?
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => {
                store
                    .expired_evaluations(before_hour, alive.as_ref(), limit)
                    .await
            }
        }
    }
}

impl From<Embedded> for Store {
    fn from(store: Embedded) -> Self {
        Self {
            backend: Backend::Embedded(store),
        }
    }
}
