//! Cluster settings: where a node listens for its peers, who it is, and whom a new cluster
//! starts with. Without `--cluster-listen` a node runs as a group of one and has no peers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::cluster_tls::{ClusterTls, ClusterTlsArgs, FileClusterTls};
use crate::secrets::{Secret, secret_or_file};

/// Fewest characters a cluster secret may have.
const MIN_SECRET_LEN: usize = 32;

/// `burgee serve` cluster options as given on the command line or in the environment.
#[derive(Debug, Clone, Args, Default)]
pub struct ClusterArgs {
    /// Address of the cluster port (Raft between nodes); without it the node runs alone.
    #[arg(long, env = "BURGEE_CLUSTER_LISTEN", value_name = "ADDR")]
    pub cluster_listen: Option<SocketAddr>,
    /// The secret every node of the cluster shares (at least 32 characters).
    #[arg(
        long,
        env = "BURGEE_CLUSTER_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub cluster_secret: Option<Secret>,
    /// The cluster secret read from a file (keeps it out of the process list).
    #[arg(long, env = "BURGEE_CLUSTER_SECRET_FILE", value_name = "FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// This node's id, from 1 (default: the ordinal that ends the hostname plus one, so a
    /// StatefulSet's pod `burgee-2` is node 3; otherwise 1).
    #[arg(long, env = "BURGEE_NODE_ID", value_parser = clap::value_parser!(u64).range(1..))]
    pub node_id: Option<u64>,
    /// The URL peers reach this node's cluster port at (default: `http://HOSTNAME:PORT` when
    /// the cluster port listens on every address, else `http://ADDR`).
    #[arg(long, env = "BURGEE_ADVERTISE_CLUSTER_URL", value_name = "URL")]
    pub advertise_cluster_url: Option<String>,
    /// The voting members a new cluster starts with, as `ID=URL` pairs separated by commas.
    /// The member with the lowest id forms the cluster; the others wait for it. Ignored once
    /// a node belongs to a cluster. Without it a new node forms a cluster of one, which
    /// `burgee cluster add` grows.
    #[arg(long, env = "BURGEE_INITIAL_CLUSTER", value_name = "ID=URL,...", value_delimiter = ',', value_parser = parse_member)]
    pub initial_cluster: Option<Vec<Member>>,
    /// A new node joins an existing cluster: it never forms one, and waits until a member
    /// runs `burgee cluster add` for it (use it to grow a cluster or replace a node).
    #[arg(long, env = "BURGEE_JOIN")]
    pub join: bool,
    /// Raft log entries between snapshots of the state (default 5000); a fifth of that stays
    /// in the log after a snapshot for followers a little behind.
    #[arg(long, env = "BURGEE_SNAPSHOT_ENTRIES", value_parser = clap::value_parser!(u64).range(10..))]
    pub snapshot_entries: Option<u64>,
    #[command(flatten)]
    pub tls: ClusterTlsArgs,
}

/// One `ID=URL` of `--initial-cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    pub url: String,
}

pub fn parse_member(text: &str) -> Result<Member, String> {
    let (id, url) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not ID=URL"))?;
    let id: u64 = id
        .trim()
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("{id:?} is not a node id (a number from 1)"))?;
    Ok(Member {
        id,
        url: cluster_url(url.trim())?,
    })
}

/// A peer's cluster URL: http(s) with a host, without a trailing slash.
pub fn cluster_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("{text:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// The cluster settings of the file (flat, like the others).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FileCluster {
    pub cluster_listen: Option<SocketAddr>,
    pub cluster_secret: Option<Secret>,
    pub cluster_secret_file: Option<PathBuf>,
    pub node_id: Option<u64>,
    pub advertise_cluster_url: Option<String>,
    pub initial_cluster: Option<Vec<String>>,
    pub join: Option<bool>,
    pub snapshot_entries: Option<u64>,
    pub tls: FileClusterTls,
}

/// The effective cluster settings.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterSettings {
    pub listen: SocketAddr,
    #[serde(skip)]
    pub secret: Secret,
    pub node_id: u64,
    pub advertise_url: String,
    pub initial_cluster: BTreeMap<u64, String>,
    /// A new node waits to be added instead of forming a cluster.
    pub join: bool,
    pub snapshot_entries: u64,
    pub tls: ClusterTls,
}

impl ClusterSettings {
    /// Flags and the environment over the file; `None` without a cluster port.
    pub fn resolve(args: &ClusterArgs, file: FileCluster) -> anyhow::Result<Option<Self>> {
        let Some(listen) = args.cluster_listen.or(file.cluster_listen) else {
            let given = args.cluster_secret.is_some()
                || args.initial_cluster.is_some()
                || file.initial_cluster.is_some()
                || args.join
                || args.tls.cluster_tls_cert.is_some()
                || args.tls.tls_client_ca.is_some();
            if given {
                anyhow::bail!("cluster settings need --cluster-listen (the cluster port)");
            }
            return Ok(None);
        };
        let secret = match secret_or_file(
            args.cluster_secret.as_ref(),
            args.cluster_secret_file.as_deref(),
            "--cluster-secret",
        )? {
            Some(secret) => secret,
            None => secret_or_file(
                file.cluster_secret.as_ref(),
                file.cluster_secret_file.as_deref(),
                "cluster_secret",
            )?
            .ok_or_else(|| {
                anyhow::anyhow!("a cluster port needs --cluster-secret or --cluster-secret-file")
            })?,
        };
        if secret.expose().chars().count() < MIN_SECRET_LEN {
            anyhow::bail!("the cluster secret must be at least {MIN_SECRET_LEN} characters");
        }
        let node_id = match args.node_id.or(file.node_id) {
            Some(0) => anyhow::bail!("node ids start at 1"),
            Some(id) => id,
            None => id_from_hostname(&hostname()),
        };
        let tls = ClusterTls::resolve(&args.tls, file.tls)?;
        let scheme = if tls.serve.is_some() { "https" } else { "http" };
        let advertise_url = match args
            .advertise_cluster_url
            .clone()
            .or(file.advertise_cluster_url)
        {
            Some(url) => cluster_url(&url).map_err(anyhow::Error::msg)?,
            None if listen.ip().is_unspecified() => {
                format!("{scheme}://{}:{}", hostname(), listen.port())
            }
            None => format!("{scheme}://{listen}"),
        };
        let members = match &args.initial_cluster {
            Some(members) => members.clone(),
            None => file
                .initial_cluster
                .unwrap_or_default()
                .iter()
                .map(|m| parse_member(m))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?,
        };
        let mut initial_cluster = BTreeMap::new();
        for member in members {
            if initial_cluster.insert(member.id, member.url).is_some() {
                anyhow::bail!("--initial-cluster names node {} twice", member.id);
            }
        }
        if !initial_cluster.is_empty() && !initial_cluster.contains_key(&node_id) {
            anyhow::bail!("--initial-cluster does not name this node (id {node_id})");
        }
        tls.check_urls(
            &advertise_url,
            initial_cluster
                .iter()
                .filter(|(id, _)| **id != node_id)
                .map(|(_, url)| url.as_str()),
        )?;
        Ok(Some(Self {
            listen,
            secret,
            node_id,
            advertise_url,
            initial_cluster,
            join: args.join || file.join.unwrap_or(false),
            snapshot_entries: match args.snapshot_entries.or(file.snapshot_entries) {
                Some(n) if n < 10 => anyhow::bail!("snapshot_entries must be at least 10"),
                Some(n) => n,
                None => burgee_raft::DEFAULT_SNAPSHOT_ENTRIES,
            },
            tls,
        }))
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A StatefulSet names its pods `NAME-0`, `NAME-1`, …: node ids are those ordinals plus one.
pub fn id_from_hostname(hostname: &str) -> u64 {
    hostname
        .rsplit_once('-')
        .and_then(|(_, ordinal)| ordinal.parse::<u64>().ok())
        .and_then(|ordinal| ordinal.checked_add(1))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_follow_statefulset_ordinals() {
        assert_eq!(id_from_hostname("burgee-0"), 1);
        assert_eq!(id_from_hostname("burgee-2"), 3);
        assert_eq!(id_from_hostname("my-flags-12"), 13);
        assert_eq!(id_from_hostname("laptop"), 1);
        assert_eq!(id_from_hostname("burgee-x"), 1);
    }

    #[test]
    fn members_are_id_equals_url() {
        assert_eq!(
            parse_member("2=http://burgee-1.burgee:7946/"),
            Ok(Member {
                id: 2,
                url: "http://burgee-1.burgee:7946".into()
            })
        );
        assert!(parse_member("0=http://a:1").is_err());
        assert!(parse_member("x=http://a:1").is_err());
        assert!(parse_member("1=ftp://a").is_err());
        assert!(parse_member("1=http://").is_err());
        assert!(parse_member("http://a:1").is_err());
    }
}
