//! Serving HTTP on a TCP listener with the limits a production server needs against slow,
//! idle and too many clients: a request's headers must arrive within a timeout, an idle
//! keep-alive connection is closed after another (a real-time stream is never idle while
//! it streams), and past a cap on open connections a new one is refused at once with 503
//! instead of exhausting the process's file descriptors. With TLS, the handshake must finish
//! within the header timeout too.

mod activity;
pub mod file_limit;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use activity::{Activity, Tracked, Watched};

/// How long a stopping server waits for open requests and streams to finish.
const DRAIN: Duration = Duration::from_secs(30);

/// The answer to a connection past the cap, built once.
static REFUSAL: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let body = r#"{"error":{"code":"too_many_connections","message":"The server has as many connections open as it allows; retry shortly.","details":{}}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// One listener's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop` turns true, then lets open connections finish
/// (for at most `DRAIN`). `name` labels the metrics (`sdk`, `ops`).
pub async fn serve(
    listener: TcpListener,
    name: &'static str,
    router: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Our own watchdog times headers (from their first byte, not from the last response).
    builder.http1().header_read_timeout(None);
    let builder = Arc::new(builder);
    let mut last_accept_error = None::<tokio::time::Instant>;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, or an aborted handshake: log now and then, pause briefly.
                if last_accept_error.is_none_or(|at| at.elapsed() > Duration::from_secs(5)) {
                    tracing::warn!(%error, listener = name, "accepting a connection failed");
                    last_accept_error = Some(tokio::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics::counter!("burgee_connections_refused_total", "listener" => name).increment(1);
            // One write into an empty send buffer: it cannot block, and nothing waits for it.
            let _ = stream.try_write(&REFUSAL);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            name,
            remote,
            router: router.clone(),
            limits,
            stop: stop.clone(),
        };
        let builder = Arc::clone(&builder);
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => connection.run(stream, &builder).await,
                Some(tls) => {
                    let handshake = limits.header_read_timeout;
                    match tokio::time::timeout(handshake, tls.accept(stream)).await {
                        Ok(Ok(stream)) => connection.run(stream, &builder).await,
                        Ok(Err(error)) => {
                            metrics::counter!("burgee_connections_closed_total", "listener" => name, "reason" => "tls_handshake").increment(1);
                            tracing::debug!(%error, %remote, "TLS handshake failed");
                        }
                        Err(_) => {
                            metrics::counter!("burgee_connections_closed_total", "listener" => name, "reason" => "header_timeout").increment(1);
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    let everyone = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, permits.acquire_many(everyone))
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            "connections still open after {DRAIN:?}; closing them"
        );
    }
}

struct Connection {
    name: &'static str,
    remote: SocketAddr,
    router: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run<S>(mut self, stream: S, builder: &auto::Builder<TokioExecutor>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let name = self.name;
        metrics::gauge!("burgee_open_connections", "listener" => name).increment(1.0);
        let activity = Activity::new();
        let io = TokioIo::new(Watched {
            io: stream,
            activity: Arc::clone(&activity),
        });
        let (router, remote) = (self.router.clone(), self.remote);
        let requests = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let in_flight = requests.request_started();
            request.extensions_mut().insert(ConnectInfo(remote));
            let router = router.clone();
            async move {
                let response = match router.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|body| Tracked {
                    body,
                    _in_flight: in_flight,
                }))
            }
        });
        let connection = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let (headers, idle) = (self.limits.header_read_timeout, self.limits.idle_timeout);
        let mut draining = false;
        loop {
            let deadline = activity.deadline(headers, idle);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, remote = %self.remote, "connection ended with an error");
                    }
                    break;
                }
                () = until(deadline.map(|(at, _)| at)) => {
                    if let Some((at, why)) = activity.deadline(headers, idle)
                        && at <= tokio::time::Instant::now()
                    {
                        metrics::counter!("burgee_connections_closed_total", "listener" => name, "reason" => why.as_str()).increment(1);
                        break;
                    }
                }
                () = activity.changed.notified() => {}
                _ = self.stop.changed(), if !draining => {
                    connection.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
        }
        metrics::gauge!("burgee_open_connections", "listener" => name).decrement(1.0);
    }
}

async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
