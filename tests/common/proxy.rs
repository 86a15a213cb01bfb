//! A TCP proxy in front of a node's cluster port, for network partitions. Cluster requests
//! name their sender (`x-burgee-node-id`), so the proxy can cut traffic from some nodes
//! only: cutting a node off is "refuse everything into it, and everything from it into the
//! others". Cutting also breaks the connections already open.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Who may pass.
#[derive(Default)]
struct Rules {
    /// Nothing passes.
    all_cut: bool,
    /// Requests from these nodes do not pass.
    cut_senders: BTreeSet<u64>,
    /// Open connections by number, and the node that opened each (once it said).
    open: BTreeMap<u64, AbortHandle>,
    senders: BTreeMap<u64, u64>,
    next: u64,
}

impl Rules {
    fn passes(&self, sender: Option<u64>) -> bool {
        !self.all_cut && !sender.is_some_and(|s| self.cut_senders.contains(&s))
    }

    /// Breaks the open connections that no longer pass.
    fn enforce(&mut self) {
        let cut: Vec<u64> = self
            .open
            .keys()
            .copied()
            .filter(|n| !self.passes(self.senders.get(n).copied()))
            .collect();
        for n in cut {
            if let Some(handle) = self.open.remove(&n) {
                handle.abort();
            }
            self.senders.remove(&n);
        }
    }
}

#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    rules: Arc<Mutex<Rules>>,
    accept: Arc<AbortHandle>,
}

impl Proxy {
    /// A proxy on a free port of 127.0.0.1 that forwards to `target` (a port there).
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let rules = Arc::new(Mutex::new(Rules::default()));
        let shared = Arc::clone(&rules);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let mut rules = shared.lock().unwrap();
                rules.next += 1;
                let number = rules.next;
                let task = tokio::spawn(relay(inbound, target, Arc::clone(&shared), number));
                rules.open.insert(number, task.abort_handle());
            }
        });
        Self {
            port,
            rules,
            accept: Arc::new(accept.abort_handle()),
        }
    }

    /// Nothing reaches the node behind this proxy.
    pub fn cut_all(&self) {
        let mut rules = self.rules.lock().unwrap();
        rules.all_cut = true;
        rules.enforce();
    }

    /// Node `sender` reaches the node behind this proxy no more.
    pub fn cut_from(&self, sender: u64) {
        let mut rules = self.rules.lock().unwrap();
        rules.cut_senders.insert(sender);
        rules.enforce();
    }

    /// Everything passes again.
    pub fn heal(&self) {
        let mut rules = self.rules.lock().unwrap();
        rules.all_cut = false;
        rules.cut_senders.clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if Arc::strong_count(&self.accept) == 1 {
            self.accept.abort();
        }
    }
}

/// Reads the first request's head, learns its sender, and relays both ways while allowed.
async fn relay(mut inbound: TcpStream, target: u16, rules: Arc<Mutex<Rules>>, number: u64) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match inbound.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let sender = sender_of(&head);
    {
        let mut rules = rules.lock().unwrap();
        if !rules.passes(sender) {
            rules.open.remove(&number);
            return;
        }
        if let Some(sender) = sender {
            rules.senders.insert(number, sender);
        }
    }
    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
        return;
    };
    if outbound.write_all(&head).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    let mut rules = rules.lock().unwrap();
    rules.open.remove(&number);
    rules.senders.remove(&number);
}

fn sender_of(head: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(head);
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("x-burgee-node-id"))
        .and_then(|(_, value)| value.trim().parse().ok())
}
