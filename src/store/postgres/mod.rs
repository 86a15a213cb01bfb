//! The PostgreSQL store: the same commands and state machine as the embedded store, applied
//! to PostgreSQL tables, for installations that keep their state in a database they run.
//! Any number of replicas share one database; each holds the configuration in memory (served
//! exactly as in the embedded store) and follows the others through the change log.
//!
//! Layout: [`schema`] (versioned migrations), [`connect`] (sessions and the read pool),
//! [`statements`], [`writer`] (the one writer thread per replica), [`rows`] (the state
//! machine's reads inside the writer's transaction), [`write`] (change sets as SQL),
//! [`catch_up`] (following the other replicas), [`reads`] (identity and audit reads, with
//! [`identity_cache`] and [`known_identities`] in front), [`periodic`] (the one replica that
//! runs periodic work).

mod bloom;
mod catch_up;
mod connect;
mod evaluations;
mod identity_cache;
mod known_identities;
mod periodic;
mod reads;
#[cfg(feature = "redis")]
mod redis;
mod rows;
mod schema;
mod statements;
pub mod transfer;
mod write;
mod writer;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::catalog::{Catalog, Meta};
use super::changes::Change;
use super::command::Envelope;
use super::health::Health;
use super::writer::{Answer, Views};
pub use connect::Connector;
use writer::Job;

/// The notification channel; the payload names the schema, so installations sharing a
/// database in different schemas ignore each other.
const CHANNEL: &str = "burgee_changes";
/// How often a replica looks for other replicas' writes when no notification came.
fn poll_every() -> Duration {
    // A test knob: a test that proves notifications alone propagate changes turns polling off.
    std::env::var("BURGEE_PG_POLL_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
}
/// How long a write waits for the writer before its caller hears 503.
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// What one batch changed in the configuration, for the other replicas.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogRow {
    pub meta: Meta,
    /// Environments whose served flags may have changed.
    pub touched: BTreeSet<u32>,
    /// The configuration changes (identity rows and audit entries are not in it).
    pub changes: Vec<Change>,
    /// Identities whose rows changed (for caches of identity reads).
    pub identities: Vec<(u32, String)>,
}

/// How replicas tell each other about their commits.
#[derive(Debug, Clone)]
pub enum Notifications {
    /// PostgreSQL's LISTEN/NOTIFY, sent inside each write's transaction.
    Postgres,
    /// Redis pub/sub at this URL (`--cache redis`).
    #[cfg(feature = "redis")]
    Redis(String),
}

/// What the store's handles and its writer thread share.
pub struct State {
    pub catalog: ArcSwap<Catalog>,
    pub identity_count: AtomicI64,
    pub health: Health,
    pub purge_wakeup: tokio::sync::Notify,
    /// The schema this installation lives in.
    pub schema: String,
    /// Whether this replica runs the periodic work (it holds the advisory lock).
    pub leading: AtomicBool,
    /// The revision this replica last committed (for notifications that are sent after the
    /// commit).
    pub committed: tokio::sync::watch::Sender<u64>,
    /// Identities read recently.
    pub identities: identity_cache::IdentityCache,
    /// Which identities may be stored (the others are answered without a read).
    pub known: known_identities::KnownIdentities,
}

/// A handle to the PostgreSQL store.
pub struct PgStore {
    state: Arc<State>,
    jobs: mpsc::Sender<Job>,
    pool: deadpool_postgres::Pool,
    closed: AtomicBool,
    /// A description of the database for logs and probes (no password).
    target: String,
}

/// A PostgreSQL error as a store error: every one is a storage fault (503), never a refusal.
#[allow(clippy::needless_pass_by_value)] // used as `map_err(error)`
pub(crate) fn error(error: tokio_postgres::Error) -> StoreError {
    match error.as_db_error() {
        Some(db) => StoreError::Database(format!(
            "PostgreSQL: {} ({})",
            db.message(),
            db.code().code()
        )),
        None => {
            // The cause (a refused certificate, a refused connection) is in the sources.
            let mut text = format!("PostgreSQL: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            StoreError::Unavailable(text)
        }
    }
}

impl PgStore {
    /// Connects, migrates the schema, loads the configuration, publishes `views` and starts
    /// the writer and the follower.
    pub async fn open<V: Views>(
        connector: Connector,
        notifications: Notifications,
        views: Arc<V>,
    ) -> Result<Self, StoreError> {
        let mut client = connector.client().await?;
        schema::migrate(&mut client).await?;
        let schema: String = client
            .query_one("SELECT current_schema()", &[])
            .await
            .map_err(error)?
            .get(0);
        let (identity_count, catalog, known) =
            tokio::task::spawn_blocking(move || load(&mut client))
                .await
                .map_err(|e| StoreError::Internal(format!("loading the configuration: {e}")))??;
        super::writer::publish_all(&*views, &catalog);
        let catalog = Arc::new(catalog);
        let state = Arc::new(State {
            catalog: ArcSwap::from(Arc::clone(&catalog)),
            identity_count: AtomicI64::new(identity_count),
            health: Health::default(),
            purge_wakeup: tokio::sync::Notify::new(),
            schema,
            leading: AtomicBool::new(false),
            committed: tokio::sync::watch::Sender::new(0),
            identities: identity_cache::IdentityCache::default(),
            known,
        });
        tracing::info!(
            identities = identity_count,
            filter_bytes = state.known.bytes(),
            "loaded the configuration and the stored identities' filter"
        );
        let (jobs, receiver) = mpsc::channel(4096);
        let writer = writer::Writer {
            handle: tokio::runtime::Handle::current(),
            state: Arc::clone(&state),
            views,
            connector: connector.clone(),
            local: catalog,
            connection: None,
        };
        std::thread::Builder::new()
            .name("burgee-pg-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| StoreError::Internal(format!("starting the writer: {e}")))?;
        let notified = Arc::new(tokio::sync::Notify::new());
        match notifications {
            Notifications::Postgres => {
                let listening =
                    listen(connector.clone(), Arc::clone(&state), Arc::clone(&notified));
                tokio::spawn(listening);
            }
            #[cfg(feature = "redis")]
            Notifications::Redis(url) => {
                let client = ::redis::Client::open(url.as_str()).map_err(|e| {
                    StoreError::Unavailable(format!("the Redis URL cannot be used: {e}"))
                })?;
                let channel = redis::channel(&state.schema);
                let committed = state.committed.subscribe();
                tokio::spawn(redis::publish(client.clone(), channel.clone(), committed));
                let subscribing =
                    redis::subscribe(client, channel, Arc::clone(&state), Arc::clone(&notified));
                tokio::spawn(subscribing);
            }
        }
        tokio::spawn(follow(jobs.clone(), notified));
        tokio::spawn(periodic::run(connector.clone(), Arc::clone(&state)));
        Ok(Self {
            target: format!("PostgreSQL schema {}", state.schema),
            pool: connector.pool()?,
            state,
            jobs,
            closed: AtomicBool::new(false),
        })
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.state.catalog.load_full()
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub fn unavailable(&self) -> Option<String> {
        self.state.health.unavailable()
    }

    /// Whether this replica runs the periodic work now.
    pub fn leading(&self) -> bool {
        self.state.leading.load(Ordering::SeqCst)
    }

    pub fn identity_count(&self) -> u64 {
        self.state
            .identity_count
            .load(Ordering::Relaxed)
            .unsigned_abs()
    }

    /// Applies a command through this replica's writer; answered once committed and
    /// visible here.
    pub async fn execute(&self, envelope: Envelope) -> Result<Answer, StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Write(Box::new(envelope), reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        match tokio::time::timeout(WRITE_WAIT, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(StoreError::Closed),
            Err(_) => Err(StoreError::Unavailable(format!(
                "PostgreSQL did not take the write within {} s",
                WRITE_WAIT.as_secs()
            ))),
        }
    }

    /// Waits until this replica has applied everything committed before the call.
    pub async fn linearize(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let row = client
            .query_one("SELECT revision FROM burgee_head WHERE id = 1", &[])
            .await
            .map_err(error)?;
        let revision: i64 = row.get(0);
        let wanted = revision.unsigned_abs();
        let deadline = tokio::time::Instant::now() + WRITE_WAIT;
        while self.catalog().meta.last_applied < wanted {
            let _ = self.jobs.try_send(Job::CatchUp);
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Unavailable(
                    "this replica could not catch up with PostgreSQL".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    pub fn pool(&self) -> &deadpool_postgres::Pool {
        &self.pool
    }
}

/// The head's identity count, the whole configuration and the stored identities' filter,
/// read in one snapshot. Blocking.
fn load(
    client: &mut tokio_postgres::Client,
) -> Result<(i64, Catalog, known_identities::KnownIdentities), StoreError> {
    let handle = tokio::runtime::Handle::current();
    let statements = handle.block_on(statements::Statements::prepare(client))?;
    let txn = connect::snapshot(&handle, client)?;
    let head = catch_up::Head::read(&handle, &txn, &statements.read_head, false)?;
    let catalog = catch_up::load(&handle, &txn, &head)?;
    let known = known_identities::KnownIdentities::scan(&handle, &txn)?;
    Ok((head.identity_count, catalog, known))
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(pool_error)`
pub(crate) fn pool_error(error: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("no PostgreSQL connection: {error}"))
}

/// Wakes the writer to catch up when another replica commits (a notification), and every
/// [`poll_every`] in any case: a lost notification delays a change, never loses it.
async fn follow(jobs: mpsc::Sender<Job>, notified: Arc<tokio::sync::Notify>) {
    loop {
        let _ = tokio::time::timeout(poll_every(), notified.notified()).await;
        if jobs.is_closed() {
            return;
        }
        let _ = jobs.try_send(Job::CatchUp);
    }
}

/// Whether a notification of `revision` calls for catching up: this replica's own commits
/// (which it published before they were announced) and what it applied already do not.
fn is_news(state: &State, revision: &str) -> bool {
    revision
        .trim()
        .parse::<u64>()
        .is_ok_and(|revision| revision > state.catalog.load().meta.last_applied)
}

/// Wakes `notified` for every PostgreSQL notification of this schema, reconnecting for as
/// long as the process runs.
async fn listen(connector: Connector, state: Arc<State>, notified: Arc<tokio::sync::Notify>) {
    let prefix = format!("{} ", state.schema);
    loop {
        let wake = Arc::clone(&notified);
        let prefix = prefix.clone();
        let state = Arc::clone(&state);
        // Whatever was committed while this replica was not listening.
        notified.notify_one();
        let ended = connector
            .listen(CHANNEL, move |payload| {
                if let Some(revision) = payload.strip_prefix(&prefix)
                    && is_news(&state, revision)
                {
                    wake.notify_one();
                }
            })
            .await;
        if let Err(error) = ended {
            tracing::debug!(%error, "listening for other replicas' changes stopped");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
