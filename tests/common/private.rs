//! Private PostgreSQL and Redis servers on ports of their own, for tests that stop and start
//! them: the machine's shared servers are never restarted under other tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cluster::free_port;

/// Runs a PostgreSQL tool as the `postgres` user when this process is root (`initdb` and
/// the server refuse to run as root).
fn as_postgres(program: &str) -> Command {
    let binary = postgres_binary(program);
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(binary);
        command
    } else {
        Command::new(binary)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `program` from PATH, else from Debian's versioned directory.
fn postgres_binary(program: &str) -> PathBuf {
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        versions.sort();
        if let Some(dir) = versions.last() {
            let candidate = dir.join("bin").join(program);
            if candidate.exists() {
                return candidate;
            }
        }
    }
    PathBuf::from(program)
}

/// A PostgreSQL server of its own in a temporary directory; stopped on drop.
pub struct PrivatePostgres {
    pub port: u16,
    data: PathBuf,
    /// More server options (`-c name=value …`).
    options: String,
    /// The CA that signed the server's certificate, when it speaks TLS.
    pub ca_file: Option<PathBuf>,
    _temp: tempfile::TempDir,
}

impl PrivatePostgres {
    /// Initialises and starts a server (trust authentication, no TLS), or `None` (after
    /// saying why) when PostgreSQL's tools are missing.
    pub fn start() -> Option<Self> {
        Self::start_with(None, false)
    }

    /// A server whose TCP connections need `password` (SCRAM), and that speaks TLS with a
    /// certificate for 127.0.0.1 signed by a CA of its own when `tls`.
    pub fn start_with(password: Option<&str>, tls: bool) -> Option<Self> {
        if !postgres_binary("initdb").exists()
            && Command::new("initdb").arg("--version").output().is_err()
        {
            super::skip_or_fail("PostgreSQL's initdb is not installed");
            return None;
        }
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().join("pgdata");
        std::fs::create_dir(&data).unwrap();
        // The server runs as `postgres` and must own its directory.
        if is_root() {
            let open = |path: &Path| {
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(path)
                    .status()
                    .unwrap();
            };
            Command::new("chmod")
                .arg("755")
                .arg(temp.path())
                .status()
                .unwrap();
            open(&data);
        }
        let mut initdb = as_postgres("initdb");
        initdb
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "-E", "UTF8", "--no-sync"]);
        match password {
            Some(password) => {
                let file = temp.path().join("pwfile");
                std::fs::write(&file, password).unwrap();
                Command::new("chmod")
                    .arg("644")
                    .arg(&file)
                    .status()
                    .unwrap();
                initdb
                    .args([
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        "--pwfile",
                    ])
                    .arg(&file);
            }
            None => {
                initdb.arg("--auth=trust");
            }
        }
        let status = initdb.stdout(Stdio::null()).status().unwrap();
        assert!(status.success(), "initdb failed");
        let mut options = String::new();
        let mut ca_file = None;
        if tls {
            let (ca, cert, key) = certificates(temp.path());
            if is_root() {
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&key)
                    .status()
                    .unwrap();
            }
            options = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert.display(),
                key.display()
            );
            ca_file = Some(ca);
        }
        let server = Self {
            port: free_port(),
            data,
            options,
            ca_file,
            _temp: temp,
        };
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it takes connections.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off{}",
            self.port, self.options
        );
        let status = as_postgres("pg_ctl")
            .args(["-D"])
            .arg(&self.data)
            .args(["-o", &options, "-l"])
            .arg(self.data.join("server.log"))
            .args(["-w", "start"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start failed");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "PostgreSQL did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server at once (connections broken, nothing flushed politely).
    pub fn stop(&self) {
        let _ = as_postgres("pg_ctl")
            .args(["-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status();
    }
}

/// A CA and a server certificate for 127.0.0.1 it signed: (CA, certificate, key) files.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca = super::certs::TestCa::new(dir);
    let (cert, key) = ca.server("server");
    (ca.cert, cert, key)
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis server of its own (nothing on disk); killed on drop.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            super::skip_or_fail("redis-server is not installed");
            return None;
        }
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.resume();
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again, on the same port) and waits until it answers.
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "Redis did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
