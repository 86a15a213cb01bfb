//! `burgee serve`: open the store, build snapshots, serve HTTP until SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::api::{AppState, auth::secret_hash, router};
use crate::cache::Snapshots;
use crate::config::Settings;
use crate::store::command::{Actor, Command, Envelope, NewToken};
use crate::store::people::SetupRecord;
use crate::store::{Store, StoreError};

/// Connections the ops listener takes at most: probes and scrapes, not traffic.
const OPS_CONNECTIONS: usize = 256;

/// The setup token's file in the data directory.
pub const SETUP_TOKEN_FILE: &str = "setup-token";

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Before anything records a metric.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let snapshots = Arc::new(Snapshots::default());
    let (store, cluster_port) = match &settings.storage {
        crate::config::StorageSettings::Embedded => {
            open_embedded(&settings, Arc::clone(&snapshots)).await?
        }
        crate::config::StorageSettings::Postgres(postgres) => {
            let store = open_postgres(&settings, postgres, Arc::clone(&snapshots)).await?;
            (store, None)
        }
    };
    store.start_background_work();

    if let Some(handle) = metrics.clone() {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                handle.run_upkeep();
            }
        });
    }
    let usage = Arc::new(crate::api::auth::usage::Usage::default());
    tokio::spawn(Arc::clone(&usage).run(store.clone()));
    tokio::spawn(crate::analytics::run_flush(
        Arc::clone(&snapshots),
        store.clone(),
        settings.analytics.flush_interval,
    ));
    tokio::spawn(crate::analytics::run_prune(
        store.clone(),
        settings.analytics.retention,
    ));
    if let Some(schedule) = settings.backups.clone() {
        tokio::spawn(crate::backups::run(store.clone(), schedule));
    }
    if let Some(retention) = settings.audit_retention {
        tokio::spawn(crate::store::retention::run(store.clone(), retention));
    }
    let state: AppState = Arc::new(crate::api::Shared {
        store: store.clone(),
        snapshots,
        settings: Arc::new(settings.clone()),
        metrics,
        usage,
        limiter: Arc::new(crate::api::auth::limiter::Limiter::new(
            settings.login_max_failures,
            settings.login_lockout,
        )),
    });
    let file_limit = crate::connections::file_limit::raise();
    let limits = crate::connections::Limits {
        header_read_timeout: settings.connections.header_read_timeout,
        idle_timeout: settings.connections.idle_timeout,
        max_connections: settings.connections.max_connections.map_or_else(
            || crate::connections::file_limit::default_max_connections(file_limit),
            |m| m as usize,
        ),
    };
    tracing::info!(
        max_connections = limits.max_connections,
        open_file_limit = file_limit,
        "connection limits"
    );
    // A certificate that cannot be used stops the server before it listens.
    let tls = match &settings.connections.tls {
        Some(files) => {
            let reloading =
                crate::tls::Reloading::new(files.clone()).context("--tls-cert/--tls-key")?;
            let acceptor = crate::tls::acceptor(Arc::clone(&reloading))?;
            tokio::spawn(reloading.watch());
            Some(acceptor)
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    // Without the socket the server still serves; only `--local` recovery is unavailable.
    let local = serve_admin_socket(&settings.data_dir, router(state.clone()))
        .map_err(|error| tracing::warn!(error = %format!("{error:#}"), "no local admin socket"))
        .ok();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let ops = match settings.connections.ops_listen {
        Some(ops_address) => {
            let ops_listener = tokio::net::TcpListener::bind(ops_address)
                .await
                .with_context(|| format!("listening on {ops_address} (--ops-listen)"))?;
            // Before the main line, which scripts wait for as the sign the server is up.
            println!(
                "burgee ops listening on http://{}",
                ops_listener.local_addr()?
            );
            let limits = crate::connections::Limits {
                max_connections: OPS_CONNECTIONS,
                ..limits
            };
            Some(tokio::spawn(crate::connections::serve(
                ops_listener,
                "ops",
                crate::api::ops_router(state.clone()),
                limits,
                None,
                stopped.clone(),
            )))
        }
        None => None,
    };
    tracing::info!(%address, data_dir = %settings.data_dir.display(), "serving");
    // A line for people and for scripts that started the server on port 0.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("burgee listening on {scheme}://{address}");
    let counted = Arc::clone(&state.snapshots);
    let snapshots = Arc::clone(&state.snapshots);
    tokio::spawn(async move {
        shutdown_signal().await;
        // Open streams would keep their connections (and the drain) going forever.
        snapshots.changes.close();
        let _ = stop.send(true);
    });
    crate::connections::serve(listener, "sdk", router(state), limits, tls, stopped).await;
    if let Some(ops) = ops {
        let _ = ops.await;
    }
    if let Some(local) = local {
        local.abort();
    }
    let _ = std::fs::remove_file(settings.data_dir.join(crate::cli::ADMIN_SOCKET));
    // What was counted since the last flush, while the store still takes writes.
    let last_flush = crate::analytics::flush(&counted, &store);
    if tokio::time::timeout(Duration::from_secs(5), last_flush)
        .await
        .is_err()
    {
        tracing::warn!("the last evaluation counts could not be written in time");
    }
    if let Some(port) = cluster_port {
        port.abort();
    }
    if let Err(error) = store.close().await {
        tracing::warn!(%error, "stopping the Raft node");
    }
    tracing::info!("stopped: every acknowledged write is on disk");
    Ok(())
}

/// Opens the embedded store, starts its cluster port and joins or forms its cluster.
async fn open_embedded(
    settings: &Settings,
    snapshots: Arc<Snapshots>,
) -> anyhow::Result<(Store, Option<tokio::task::JoinHandle<()>>)> {
    let transport = match &settings.cluster {
        Some(cluster) => {
            crate::cluster::Transport::new(&cluster.tls).context("the cluster's TLS settings")?
        }
        None => crate::cluster::Transport::default(),
    };
    let options = crate::cluster::node_options(settings, &transport);
    let embedded = crate::store::Embedded::open_node(&settings.data_dir, snapshots, &options)
        .await
        .map_err(|e| match e {
            StoreError::Locked { .. }
            | StoreError::Unwritable { .. }
            | StoreError::NewerFormat { .. } => {
                anyhow::anyhow!("{e}")
            }
            other => anyhow::Error::new(other)
                .context(format!("opening {}", settings.data_dir.display())),
        })?;
    let cluster_port = match &settings.cluster {
        Some(cluster) => Some(crate::cluster::serve_port(&embedded, cluster, &transport).await?),
        None => None,
    };
    let role = crate::cluster::bootstrap(&embedded, settings.cluster.as_ref()).await?;
    let store = Store::from(embedded.clone());
    let store_handle = embedded.clone();
    match (role, settings.cluster.is_some()) {
        (crate::cluster::Role::Founder, false) => {
            initialise(&store, settings).await?;
            // A node of its own reads what it writes: its newest format is on before it serves.
            crate::cluster::upgrade::step(&embedded).await;
        }
        // A cluster may wait for a quorum: the first configuration is written once it can be.
        (crate::cluster::Role::Founder, true) => {
            let (store, settings) = (store.clone(), settings.clone());
            tokio::spawn(async move { initialise_when_possible(&store, &settings).await });
        }
        (crate::cluster::Role::Forming, _) => {
            let (store, settings) = (store.clone(), settings.clone());
            tokio::spawn(async move {
                let Some(cluster) = &settings.cluster else {
                    return;
                };
                match crate::cluster::form(&embedded, cluster).await {
                    Ok(true) => initialise_when_possible(&store, &settings).await,
                    Ok(false) => {}
                    Err(error) => {
                        tracing::error!(error = %format!("{error:#}"), "forming the cluster failed");
                    }
                }
            });
        }
        (crate::cluster::Role::Member, _) => {}
    }
    tokio::spawn(crate::cluster::upgrade::run(store_handle));
    Ok((store, cluster_port))
}

/// Connects to PostgreSQL (creating or migrating the schema) and initialises a new database.
#[cfg(feature = "postgres")]
async fn open_postgres(
    settings: &Settings,
    postgres: &crate::config::PostgresSettings,
    snapshots: Arc<Snapshots>,
) -> anyhow::Result<Store> {
    // The data directory holds this replica's local files only (admin socket, setup token).
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let connector = crate::store::postgres::Connector::new(
        postgres.url.expose(),
        postgres
            .password
            .as_ref()
            .map(crate::secrets::Secret::expose),
        postgres.ca_file.as_deref(),
    )?;
    let notifications = match &postgres.redis {
        None => crate::store::postgres::Notifications::Postgres,
        #[cfg(feature = "redis")]
        Some(url) => crate::store::postgres::Notifications::Redis(url.expose().to_owned()),
        #[cfg(not(feature = "redis"))]
        Some(_) => anyhow::bail!("this binary was built without Redis (cargo feature `redis`)"),
    };
    let store = Store::open_postgres(connector, notifications, snapshots)
        .await
        .map_err(|e| anyhow::anyhow!("opening the PostgreSQL store: {e}"))?;
    initialise(&store, settings).await?;
    Ok(store)
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(
    _: &Settings,
    _: &crate::config::PostgresSettings,
    _: Arc<Snapshots>,
) -> anyhow::Result<Store> {
    anyhow::bail!("this binary was built without the PostgreSQL store (cargo feature `postgres`)")
}

/// [`initialise`], retried while the cluster has no quorum yet.
async fn initialise_when_possible(store: &Store, settings: &Settings) {
    loop {
        match initialise(store, settings).await {
            Ok(()) => return,
            Err(error) => {
                let retry = error.downcast_ref::<StoreError>().is_some_and(|e| {
                    matches!(
                        e.kind(),
                        crate::store::ErrorKind::NoQuorum | crate::store::ErrorKind::Unavailable
                    )
                });
                if !retry {
                    tracing::error!(error = %format!("{error:#}"), "initialising the cluster failed");
                    return;
                }
                tracing::info!(error = %format!("{error:#}"), "the cluster cannot take its first configuration yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// How long an unused setup token works.
const SETUP_LIFETIME_MS: i64 = 24 * 3600 * 1000;

/// First start: the default organisation, and either an admin API token named `bootstrap`
/// from `--bootstrap-token`, or a one-time setup token written to the data directory (never
/// logged) that creates the first admin user.
async fn initialise(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    // A restarted node may not hold what the cluster committed yet: ask with the cluster's
    // state, or the first configuration would be proposed twice.
    store.linearize().await?;
    if store.catalog().meta.initialized {
        if settings.bootstrap_token.is_some() {
            tracing::info!(
                "the data directory is initialised already: --bootstrap-token is ignored"
            );
        }
        return Ok(());
    }
    let (admin_token, setup) = match &settings.bootstrap_token {
        Some(token) if token.expose().len() < 16 => {
            anyhow::bail!("the bootstrap token must be at least 16 characters")
        }
        Some(token) => (
            Some(NewToken::organisation_admin(
                "bootstrap",
                secret_hash(token.expose()),
                token.expose().chars().take(4).collect(),
            )),
            None,
        ),
        None => {
            let token = format!(
                "bgsetup_{}",
                crate::secrets::random_token()
                    .map_err(|e| anyhow::anyhow!("no randomness: {e}"))?
            );
            let path = settings.data_dir.join(SETUP_TOKEN_FILE);
            write_secret(&path, &token).with_context(|| format!("writing {}", path.display()))?;
            tracing::warn!(path = %path.display(), "first start: a one-time setup token was written to this file; it creates the first admin user (POST /admin/v1/setup or `burgee setup`) and expires in 24 hours");
            let setup = SetupRecord {
                token_hash: secret_hash(&token),
                expires_at: crate::clock::now_millis() + SETUP_LIFETIME_MS,
            };
            (None, Some(setup))
        }
    };
    let mut seed = [0u8; 16];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let envelope = Envelope::now(
        Actor::System,
        "initialise",
        Command::Initialize {
            organisation_name: "default".into(),
            instance_seed: seed,
            admin_token,
            setup,
        },
    );
    match store.execute(envelope).await? {
        Ok(_) => Ok(()),
        // Another replica of the same database initialised it meanwhile.
        Err(_) if store.catalog().meta.initialized => Ok(()),
        Err(e) => Err(anyhow::anyhow!("initialising: {e}")),
    }
}

/// Serves the admin API on a Unix socket in the data directory, readable and writable by the
/// service's user only: `burgee … --local` recovers access on the host through it.
fn serve_admin_socket(
    data_dir: &std::path::Path,
    app: axum::Router,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    let path = data_dir.join(crate::cli::ADMIN_SOCKET);
    // A socket left by a process that died; the data directory's lock says none runs now.
    let _ = std::fs::remove_file(&path);
    // Bound in a private directory and restricted before it is moved into place, so no
    // other user can connect in between.
    let private = data_dir.join(".admin-socket");
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .with_context(|| format!("creating {}", private.display()))?;
    let staged = private.join(crate::cli::ADMIN_SOCKET);
    let listener = tokio::net::UnixListener::bind(&staged)
        .with_context(|| format!("listening on {}", staged.display()))?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", staged.display()))?;
    std::fs::rename(&staged, &path)
        .with_context(|| format!("moving the socket to {}", path.display()))?;
    let _ = std::fs::remove_dir(&private);
    let app = app.layer(axum::Extension(crate::api::auth::routes::LocalSocket));
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the admin socket stopped");
        }
    }))
}

/// Writes a secret readable by the owner only.
fn write_secret(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = crate::secrets::create_private(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: no new connections, draining requests");
}
