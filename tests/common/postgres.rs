//! Burgee replicas on a real PostgreSQL: each test gets a schema of its own in the database
//! `BURGEE_TEST_POSTGRES_URL` names (default: the machine's server, database `postgres`;
//! `.ci/run` creates a fresh database per run), dropped when the test ends.

use std::path::{Path, PathBuf};

use super::server::{Server, TOKEN};

/// The test database's URL, or `None` (after saying why) when no server answers.
pub fn database_url() -> Option<String> {
    let url = std::env::var("BURGEE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let probe = url.clone();
    let reachable = apart(move || {
        runtime().block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                tokio_postgres::connect(&probe, tokio_postgres::NoTls),
            )
            .await
            .is_ok_and(|connected| connected.is_ok())
        })
    });
    if reachable {
        return Some(url);
    }
    super::skip_or_fail(&format!(
        "no PostgreSQL answers at {url} (start it, or set BURGEE_TEST_POSTGRES_URL)"
    ));
    None
}

/// Runs `work` on a thread of its own: the helpers are called from inside tests' runtimes,
/// which cannot start another.
fn apart<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(work).join().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A schema of its own; dropped (with everything in it) on drop.
pub struct Schema {
    pub name: String,
    database: String,
}

impl Schema {
    /// A new empty schema in the test database, or `None` when there is no database.
    pub fn create() -> Option<Self> {
        let database = database_url()?;
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).unwrap();
        let name = format!(
            "burgee_test_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        execute(&database, &format!("CREATE SCHEMA {name}"));
        Some(Self { name, database })
    }

    /// The URL a replica is given: the test database with this schema as its search path.
    pub fn url(&self) -> String {
        let separator = if self.database.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options=-csearch_path%3D{}",
            self.database, self.name
        )
    }

    /// Runs `sql` in this schema.
    pub fn execute(&self, sql: &str) {
        execute(&self.url(), sql);
    }

    /// The rows `sql` returns, as text.
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let url = self.url();
        let sql = sql.to_owned();
        apart(move || {
            runtime().block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                client
                    .simple_query(&sql)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter_map(|message| match message {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_owned))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect()
            })
        })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        execute(
            &self.database,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

fn execute(url: &str, sql: &str) {
    let url = url.to_owned();
    let sql = sql.to_owned();
    apart(move || {
        runtime().block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client.batch_execute(&sql).await.unwrap();
        });
    });
}

/// A replica on `schema` with the bootstrap token, its own local directory and `extra`
/// arguments.
pub fn replica(schema: &Schema, local: &Path, extra: &[&str]) -> Server {
    let url = schema.url();
    let mut args = vec![
        "--store",
        "postgres",
        "--postgres-url",
        url.as_str(),
        "--bootstrap-token",
        TOKEN,
    ];
    args.extend_from_slice(extra);
    Server::start_in(local, &args)
}

/// `count` replicas on a new schema (`None` when there is no database).
pub struct Replicas {
    pub servers: Vec<Server>,
    pub schema: Schema,
    pub temp: tempfile::TempDir,
}

impl Replicas {
    pub fn start(count: usize) -> Option<Self> {
        Self::start_with(count, &[])
    }

    /// `count` replicas, each with `extra` arguments.
    pub fn start_with(count: usize, extra: &[&str]) -> Option<Self> {
        let schema = Schema::create()?;
        let temp = tempfile::tempdir().unwrap();
        let servers = (0..count)
            .map(|i| replica(&schema, &temp.path().join(format!("replica-{i}")), extra))
            .collect();
        Some(Self {
            servers,
            schema,
            temp,
        })
    }

    /// Replica `i`'s local directory.
    pub fn local(&self, i: usize) -> PathBuf {
        self.temp.path().join(format!("replica-{i}"))
    }
}
