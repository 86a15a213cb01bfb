//! What one connection is doing, for its timeouts: a request in flight (its response body
//! included, so a real-time stream is never idle), reading the headers of a new request
//! since some instant, or idle since some instant.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

const NONE: u64 = u64::MAX;

/// Why a connection's time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No request for the idle timeout.
    Idle,
    /// A request's headers did not arrive in time (a slow or stalled client).
    Headers,
}

impl Expiry {
    pub fn as_str(self) -> &'static str {
        match self {
            Expiry::Idle => "idle",
            Expiry::Headers => "header_timeout",
        }
    }
}

pub struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the last response ended (or the connection opened).
    idle_since: AtomicU64,
    /// Milliseconds after `opened` when bytes of a new request first arrived; `NONE` if none.
    head_started: AtomicU64,
    /// Wakes the connection's watchdog when its deadline may have moved earlier.
    pub changed: Notify,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
            changed: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, millis: u64) -> Instant {
        self.opened + Duration::from_millis(millis)
    }

    fn bytes_arrived(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_started.load(Ordering::Acquire) == NONE
        {
            self.head_started.store(self.now(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    /// A request's headers were read: it is in flight until its response ends.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NONE, Ordering::Release);
        InFlight(Arc::clone(self))
    }

    /// When this connection's time runs out as things stand, and why; `None` while a
    /// request is in flight.
    pub fn deadline(&self, headers: Duration, idle: Duration) -> Option<(Instant, Expiry)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let idle_deadline = self.at(self.idle_since.load(Ordering::Acquire)) + idle;
        match self.head_started.load(Ordering::Acquire) {
            NONE => Some((idle_deadline, Expiry::Idle)),
            started => Some((self.at(started) + headers, Expiry::Headers)),
        }
    }
}

/// Held while a request and its response body are alive.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::Release);
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.changed.notify_one();
        }
    }
}

/// A response body that keeps its request in flight until it ends or is dropped.
pub struct Tracked {
    pub body: axum::body::Body,
    pub _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A socket that tells its connection's `Activity` when bytes arrive.
pub struct Watched<T> {
    pub io: T,
    pub activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_what_the_connection_does() {
        let activity = Activity::new();
        let (headers, idle) = (Duration::from_secs(10), Duration::from_secs(60));
        let opened = Instant::now();
        assert_eq!(
            activity.deadline(headers, idle),
            Some((opened + idle, Expiry::Idle))
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        activity.bytes_arrived();
        assert_eq!(
            activity.deadline(headers, idle),
            Some((opened + Duration::from_secs(15), Expiry::Headers))
        );
        let request = activity.request_started();
        assert_eq!(activity.deadline(headers, idle), None);
        activity.bytes_arrived(); // a request body: not a new request
        tokio::time::advance(Duration::from_secs(100)).await;
        assert_eq!(activity.deadline(headers, idle), None);
        drop(request);
        assert_eq!(
            activity.deadline(headers, idle),
            Some((opened + Duration::from_secs(165), Expiry::Idle))
        );
    }
}
