//! A server-sent-events reader for tests: opens a stream with real HTTP and returns its
//! events (and keep-alive comments) one by one, failing the test when none comes in time.

use std::time::Duration;

/// One event, or a comment line (`: ping`) when `comment` is set.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
    pub comment: Option<String>,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// Opens `url` with `headers`; the response must be a 200 event stream.
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = super::server::client_builder()
            .build()
            .unwrap()
            .get(url)
            .header("Accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{url}");
        let kind = response.headers()["content-type"].to_str().unwrap();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event or comment; `None` when the server ended the stream.
    pub async fn next_any(&mut self, within: Duration) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let chunk = tokio::time::timeout(within, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {within:?}; have {:?}", self.buffer))
                .unwrap();
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }

    /// The next event (within `within` overall), skipping keep-alive comments.
    pub async fn next(&mut self, within: Duration) -> SseEvent {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "only keep-alives for {within:?}");
            let event = self
                .next_any(left)
                .await
                .expect("the stream ended while an event was expected");
            if event.comment.is_none() {
                return event;
            }
        }
    }
}

fn parse(block: &str) -> SseEvent {
    let mut event = SseEvent::default();
    let mut data = Vec::new();
    for line in block.lines().filter(|line| !line.is_empty()) {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "" => event.comment = Some(value.to_owned()),
            "event" => event.event = value.to_owned(),
            "id" => event.id = Some(value.to_owned()),
            "data" => data.push(value),
            other => panic!("unexpected field {other:?} in {block:?}"),
        }
    }
    event.data = data.join("\n");
    event
}
