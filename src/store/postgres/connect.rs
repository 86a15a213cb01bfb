//! Connections to PostgreSQL: the writer's own session, the session that listens for other
//! replicas' notifications, and the pool that serves identity and audit reads.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

use super::statements::Statements;
use crate::store::StoreError;

/// Longest wait for a lock (the head row) before a write gives up with 503.
const LOCK_TIMEOUT: &str = "5s";
/// Longest statement before PostgreSQL cancels it.
const STATEMENT_TIMEOUT: &str = "30s";
/// Longest wait to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Pooled sessions for reads.
const POOL_SIZE: usize = 8;

/// How to reach the database.
#[derive(Clone)]
pub struct Connector {
    config: Config,
}

impl Connector {
    /// From a `postgres://` URL or a `key=value` connection string; `password` (read from a
    /// password file) overrides one in the URL.
    pub fn new(url: &str, password: Option<&str>) -> Result<Self, StoreError> {
        let mut config: Config = url.parse().map_err(|e| StoreError::Unwritable {
            path: "the PostgreSQL URL".into(),
            reason: format!("it cannot be read: {e}"),
        })?;
        if let Some(password) = password {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("burgee");
        Ok(Self { config })
    }

    async fn session(&self) -> Result<Client, StoreError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(super::error)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// A session of its own, with the store's timeouts.
    pub async fn client(&self) -> Result<Client, StoreError> {
        let client = self.session().await?;
        client
            .batch_execute(&format!(
                "SET lock_timeout = '{LOCK_TIMEOUT}'; SET statement_timeout = '{STATEMENT_TIMEOUT}'"
            ))
            .await
            .map_err(super::error)?;
        Ok(client)
    }

    /// The writer's session, its statements prepared.
    pub async fn writer(&self) -> Result<(Client, Statements), StoreError> {
        let client = tokio::time::timeout(CONNECT_TIMEOUT * 2, self.client())
            .await
            .map_err(|_| StoreError::Unavailable("connecting to PostgreSQL timed out".into()))??;
        let statements = Statements::prepare(&client).await?;
        Ok((client, statements))
    }

    /// A session that hands every notification on `channel` to `on_notification`, until the
    /// connection ends.
    pub async fn listen(
        &self,
        channel: &str,
        mut on_notification: impl FnMut(&str) + Send + 'static,
    ) -> Result<(), StoreError> {
        let (client, mut connection) = self.config.connect(NoTls).await.map_err(super::error)?;
        let messages = std::future::poll_fn(move |cx| {
            loop {
                match connection.poll_message(cx) {
                    std::task::Poll::Ready(Some(Ok(AsyncMessage::Notification(n)))) => {
                        on_notification(n.payload());
                    }
                    std::task::Poll::Ready(Some(Ok(_))) => {}
                    std::task::Poll::Ready(Some(Err(error))) => {
                        return std::task::Poll::Ready(Err(super::error(error)));
                    }
                    std::task::Poll::Ready(None) => return std::task::Poll::Ready(Ok(())),
                    std::task::Poll::Pending => return std::task::Poll::Pending,
                }
            }
        });
        let messages = tokio::spawn(messages);
        client
            .batch_execute(&format!("LISTEN {channel}"))
            .await
            .map_err(super::error)?;
        messages
            .await
            .map_err(|e| StoreError::Internal(format!("the listener stopped: {e}")))?
    }

    /// The pool for reads.
    pub fn pool(&self) -> Result<Pool, StoreError> {
        let manager = Manager::from_config(
            self.config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Internal(format!("building the PostgreSQL pool: {e}")))
    }
}
