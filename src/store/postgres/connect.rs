//! Connections to PostgreSQL: the writer's own session, the session that listens for other
//! replicas' notifications, and the pool that serves identity and audit reads.

use std::time::Duration;

use std::path::Path;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

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
    /// TLS with verified certificates, when the URL says `sslmode=require`.
    tls: Option<MakeRustlsConnect>,
}

fn unusable(what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Unusable(format!("{what} cannot be used: {reason}"))
}

/// Verified TLS: the built-in Mozilla roots, plus a private CA when given.
fn tls(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let what = format!("the CA file {}", path.display());
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| unusable(&what, e))? {
            let cert = cert.map_err(|e| unusable(&what, e))?;
            roots.add(cert).map_err(|e| unusable(&what, e))?;
            added += 1;
        }
        if added == 0 {
            return Err(unusable(&what, "it holds no PEM certificate"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Internal(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Drives a connection until it ends.
fn drive<T>(connection: Connection<Socket, T>)
where
    T: tokio_postgres::tls::TlsStream + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "a PostgreSQL connection ended");
        }
    });
}

/// A read-only transaction that sees one consistent snapshot of the database. Blocking.
pub fn snapshot<'c>(
    handle: &tokio::runtime::Handle,
    client: &'c mut Client,
) -> Result<tokio_postgres::Transaction<'c>, StoreError> {
    handle
        .block_on(
            client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start(),
        )
        .map_err(super::error)
}

impl Connector {
    /// From a `postgres://` URL or a `key=value` connection string; `password` (read from a
    /// password file) overrides one in the URL. `sslmode=require` means TLS whose
    /// certificate chain and host name are verified (as libpq's `verify-full`), against the
    /// built-in roots and `ca_file`; other modes connect without TLS.
    pub fn new(
        url: &str,
        password: Option<&str>,
        ca_file: Option<&Path>,
    ) -> Result<Self, StoreError> {
        let mut config: Config = url
            .parse()
            .map_err(|e| unusable("the PostgreSQL URL", format!("it cannot be read: {e}")))?;
        if let Some(password) = password {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("burgee");
        let tls = match config.get_ssl_mode() {
            SslMode::Require => Some(tls(ca_file)?),
            _ if ca_file.is_some() => {
                return Err(unusable(
                    "the PostgreSQL settings",
                    "a CA file needs sslmode=require in the URL",
                ));
            }
            _ => None,
        };
        Ok(Self { config, tls })
    }

    async fn session(&self) -> Result<Client, StoreError> {
        match &self.tls {
            Some(tls) => {
                let (client, connection) = self
                    .config
                    .connect(tls.clone())
                    .await
                    .map_err(super::error)?;
                drive(connection);
                Ok(client)
            }
            None => {
                let (client, connection) =
                    self.config.connect(NoTls).await.map_err(super::error)?;
                drive(connection);
                Ok(client)
            }
        }
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
        on_notification: impl FnMut(&str) + Send + 'static,
    ) -> Result<(), StoreError> {
        match &self.tls {
            Some(tls) => listen_with(&self.config, tls.clone(), channel, on_notification).await,
            None => listen_with(&self.config, NoTls, channel, on_notification).await,
        }
    }

    /// The pool for reads.
    pub fn pool(&self) -> Result<Pool, StoreError> {
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &self.tls {
            Some(tls) => Manager::from_config(self.config.clone(), tls.clone(), manager_config),
            None => Manager::from_config(self.config.clone(), NoTls, manager_config),
        };
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

async fn listen_with<T>(
    config: &Config,
    tls: T,
    channel: &str,
    mut on_notification: impl FnMut(&str) + Send + 'static,
) -> Result<(), StoreError>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, mut connection) = config.connect(tls).await.map_err(super::error)?;
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
