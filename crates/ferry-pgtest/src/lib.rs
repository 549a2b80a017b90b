//! A real PostgreSQL server for tests, started by the tests themselves.
//!
//! [`PgServer::shared`] starts one throw-away cluster per test process (the
//! first test that asks pays for `initdb`), and [`PgServer::database`]
//! gives each test a fresh, empty database on it, so tests run in parallel
//! without seeing each other's rows. [`PgServer::dedicated`] starts a server
//! of a test's own, which it may stop and start again (an outage).
//!
//! The binaries are found on `PATH`, else in the newest
//! `/usr/lib/postgresql/*/bin` (where Debian's `postgresql` package puts
//! them, off `PATH`). Missing binaries fail the test with a message saying
//! how to install them; nothing is ever skipped. PostgreSQL refuses to run
//! as root, so as root the cluster belongs to the `postgres` system user
//! and the binaries run as it (through `setpriv`).
//!
//! A static's destructor never runs, so the shared server cannot be
//! stopped on drop: each server has a watchdog (a shell loop) that stops
//! the postmaster and deletes its directory once the test process is gone,
//! however it ended.
//!
//! `FERRY_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`)
//! points the shared server at an existing one instead: each test still
//! gets a fresh database there, dropped when the test's [`TestDatabase`]
//! drops.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

/// What to do when the binaries are missing.
pub const INSTALL: &str = "install Debian's postgresql package (apt-get install postgresql); .ci/run does";

/// The environment variable naming an existing server to use instead.
pub const URL_VAR: &str = "FERRY_TEST_POSTGRES_URL";

/// How long a server may take to start or stop.
const STARTUP: Duration = Duration::from_secs(60);

/// Databases created by this process (their names are unique per process).
static NEXT_DATABASE: AtomicU32 = AtomicU32::new(1);

/// A PostgreSQL server tests can create databases on.
#[derive(Debug)]
pub struct PgServer {
    /// `postgres://user@host:port` without a database.
    base: String,
    /// Set for a server this process started (none for an existing one).
    local: Option<Local>,
}

/// A server this process started.
#[derive(Debug)]
struct Local {
    bin: PathBuf,
    /// Holds the data directory; deleted by the watchdog, or on drop.
    dir: tempfile::TempDir,
    port: u16,
    /// Whom the binaries run as (`Some("postgres")` when we are root).
    run_as: Option<String>,
    postmaster: Option<Child>,
}

/// A fresh database on a [`PgServer`]; dropped with it when the server
/// is an existing one (a throw-away server goes as a whole).
#[derive(Debug)]
pub struct TestDatabase {
    /// `postgres://user@host:port/name`
    pub url: String,
    pub name: String,
    /// The server URL to drop it through, for an existing server.
    drop_via: Option<String>,
}

impl PgServer {
    /// The server shared by every test of this process: started on first
    /// use, or the one `FERRY_TEST_POSTGRES_URL` names.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(|| match std::env::var(URL_VAR) {
            Ok(url) if !url.trim().is_empty() => PgServer { base: server_base(url.trim()), local: None },
            _ => PgServer::start(),
        })
    }

    /// A server of the caller's own (never the external one), which it may
    /// [`stop`](Self::stop) and [`restart`](Self::restart); stopped when dropped.
    pub fn dedicated() -> PgServer {
        PgServer::start()
    }

    /// Initialises a cluster in a temporary directory and starts it on a
    /// free loopback port. Panics with [`INSTALL`] if PostgreSQL is missing.
    fn start() -> PgServer {
        let bin = find_bin().unwrap_or_else(|| panic!("PostgreSQL binaries (initdb, postgres) not found; {INSTALL}"));
        let run_as = is_root().then(|| "postgres".to_owned());
        let dir = tempfile::Builder::new().prefix("ferry-pg-").tempdir().expect("temporary directory");
        if let Some(user) = &run_as {
            let status = Command::new("chown").args(["-R", user]).arg(dir.path()).status().expect("run chown");
            assert!(status.success(), "chown {} to {user} failed", dir.path().display());
        }
        let data = dir.path().join("data");
        let out = command(&bin, "initdb", run_as.as_deref())
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-instructions"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run initdb ({e}); {INSTALL}"));
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let mut local = Local { bin, dir, port, run_as, postmaster: None };
        local.launch();
        watchdog(&local);
        PgServer { base: format!("postgres://postgres@127.0.0.1:{port}"), local: Some(local) }
    }

    /// `postgres://user@host:port` (no database).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Creates a fresh, empty database and returns its URL.
    pub async fn database(&self) -> TestDatabase {
        let name = format!("test_{}_{}", std::process::id(), NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
        let admin = format!("{}/postgres", self.base);
        execute(&admin, &format!("CREATE DATABASE {name}")).await;
        TestDatabase { url: format!("{}/{name}", self.base), name, drop_via: self.local.is_none().then_some(admin) }
    }

    /// Stops the server (fast shutdown: open connections are cut) and
    /// waits until it is gone. Panics for the external server.
    pub fn stop(&mut self) {
        let local = self.local.as_mut().expect("only a server this process started can be stopped");
        local.shut_down();
    }

    /// Starts a stopped server again on the same port and data.
    pub fn restart(&mut self) {
        let local = self.local.as_mut().expect("only a server this process started can be restarted");
        local.launch();
    }
}

impl Local {
    /// Starts the postmaster and waits until it accepts connections.
    fn launch(&mut self) {
        let data = self.dir.path().join("data");
        let log = std::fs::File::create(self.dir.path().join("postgres.log")).expect("log file");
        if let Some(user) = &self.run_as {
            let _ = Command::new("chown").arg(user).arg(self.dir.path().join("postgres.log")).status();
        }
        let child = command(&self.bin, "postgres", self.run_as.as_deref())
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "max_connections=200", "-c", "shared_buffers=32MB", "-c", "max_locks_per_transaction=256"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run postgres ({e}); {INSTALL}"));
        self.postmaster = Some(child);
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.postmaster.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
                panic!("postgres exited at start ({status}):\n{log}");
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
                panic!("postgres did not become ready on port {}:\n{log}", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fast shutdown (SIGINT), then waits for the postmaster to exit.
    fn shut_down(&mut self) {
        let Some(mut child) = self.postmaster.take() else { return };
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let deadline = Instant::now() + STARTUP;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(admin) = self.drop_via.take() else { return };
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop may run inside a runtime, which cannot be blocked on: a
        // thread of its own with a runtime of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(execute(&admin, &sql));
            }
        })
        .join();
    }
}

/// Runs one statement on `url`, panicking on failure.
async fn execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    let task = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = task.await;
}

/// `url` without its database, if it names one.
fn server_base(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

/// `name` from `bin`, run as `user` when given (through `setpriv`, which
/// execs it: the child's pid is the binary's own).
fn command(bin: &Path, name: &str, user: Option<&str>) -> Command {
    match user {
        Some(user) => {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={user}"))
                .arg(format!("--regid={user}"))
                .arg("--init-groups")
                .arg("--")
                .arg(bin.join(name));
            cmd
        }
        None => Command::new(bin.join(name)),
    }
}

/// The directory holding `initdb`, `postgres` and `pg_isready`: where
/// `initdb` on `PATH` really is, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn find_bin() -> Option<PathBuf> {
    let has_all = |dir: &Path| ["initdb", "postgres", "pg_isready"].iter().all(|b| dir.join(b).is_file());
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            // `initdb` on PATH may be a link into the real directory,
            // which also holds `pg_isready`.
            let real = dir.join("initdb").canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf));
            if let Some(real) = real.filter(|d| has_all(d)) {
                return Some(real);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has_all(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Starts a shell loop that, once this process is gone, stops the
/// postmaster (fast shutdown, then SIGKILL) and deletes the directory. The
/// pid comes from `postmaster.pid`, which a stopped server no longer has,
/// so a server stopped and deleted on drop is left alone (and no reused
/// pid is signalled).
fn watchdog(local: &Local) {
    let data = local.dir.path().join("data");
    let script = format!(
        r#"while kill -0 {me} 2>/dev/null; do sleep 1; done
[ -d "{dir}" ] || exit 0
pid=$(head -n 1 "{pidfile}" 2>/dev/null)
[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null
for _ in $(seq 100); do [ -f "{pidfile}" ] || break; sleep 0.1; done
[ -f "{pidfile}" ] && [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
rm -rf "{dir}""#,
        me = std::process::id(),
        pidfile = data.join("postmaster.pid").display(),
        dir = local.dir.path().display(),
    );
    // Detached: its own session, so a Ctrl-C to the test's process group
    // does not kill it before it has cleaned up.
    let spawned = Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("ferry-pgtest: no watchdog for postgres (setsid: {e}); it may outlive this process");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_base_drops_the_database() {
        assert_eq!(server_base("postgres://u:p@h:5/db?sslmode=disable"), "postgres://u:p@h:5");
        assert_eq!(server_base("postgres://u@h:5"), "postgres://u@h:5");
    }

    #[tokio::test]
    async fn databases_are_fresh_and_usable() {
        let server = PgServer::shared();
        let (a, b) = (server.database().await, server.database().await);
        assert_ne!(a.name, b.name);
        let (client, connection) = tokio_postgres::connect(&a.url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        let row = client.query_one("SELECT current_database()", &[]).await.expect("query");
        assert_eq!(row.get::<_, String>(0), a.name);
    }

    #[tokio::test]
    async fn a_dedicated_server_stops_and_restarts() {
        let mut server = PgServer::dedicated();
        let db = server.database().await;
        server.stop();
        assert!(tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.is_err(), "stopped");
        server.restart();
        let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.expect("back");
        tokio::spawn(connection);
        client.simple_query("SELECT 1").await.expect("query");
    }
}
