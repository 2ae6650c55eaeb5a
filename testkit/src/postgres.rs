//! A private PostgreSQL cluster for one test: `initdb` into a temporary directory, `pg_ctl
//! start` on a free port of 127.0.0.1 (and a Unix socket in the same directory), and a stop by
//! the postmaster's PID when dropped. It never touches a cluster the machine already runs.
//!
//! Debian keeps `initdb` and `pg_ctl` in `/usr/lib/postgresql/<version>/bin`, off the PATH, and
//! `initdb` refuses to run as root: as root the cluster belongs to the `postgres` user and its
//! commands run through `runuser`. A missing PostgreSQL is a panic that says what to install,
//! never a skipped test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::run_bounded;

/// A running private cluster; stopped when dropped.
#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    port: u16,
    pid: u32,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").is_file());
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): \
             `apt-get install postgresql`, or run `cargo xtask test`, which installs it"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("running id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the postgres user exists (Debian's postgresql package creates it)")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Postgres {
    /// Create and start a cluster whose superuser is `admit` (trust authentication, local
    /// only; fsync off, since nothing here outlives the test).
    pub fn start() -> Postgres {
        let bin = pg_bin();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("admit-pg-")
            .tempdir()
            .expect("temporary directory");
        if as_postgres {
            std::os::unix::fs::chown(dir.path(), Some(id_of("-u")), Some(id_of("-g")))
                .expect("giving the cluster directory to postgres");
        }
        let mut pg = Postgres {
            dir,
            bin,
            as_postgres,
            port: 0,
            pid: 0,
        };
        let data = pg.data();
        let run = pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "admit",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(run.ok, "initdb failed: {}", run.stderr);
        // The port can be taken between our probe and the server's bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c max_connections=200",
                pg.dir.path().display()
            );
            let log = pg.dir.path().join("server.log");
            let run = pg.run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-o",
                    &opts,
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            if run.ok {
                pg.port = port;
                break;
            }
        }
        assert!(
            pg.port != 0,
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(pg.dir.path().join("server.log")).unwrap_or_default()
        );
        let pidfile = std::fs::read_to_string(data.join("postmaster.pid")).expect("postmaster.pid");
        pg.pid = pidfile
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("a PID in postmaster.pid");
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> crate::Run {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args);
        run_bounded(&mut cmd, self.dir.path(), Duration::from_secs(120))
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` as the `admit` superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://admit@127.0.0.1:{}/{db}", self.port)
    }

    /// Run one SQL statement in database `db` with `psql` and return its unaligned output.
    pub fn query(&self, db: &str, sql: &str) -> String {
        let run = self.psql(db, sql);
        assert!(run.ok, "{sql}: {}", run.stderr);
        String::from_utf8_lossy(&run.stdout).trim().to_owned()
    }

    fn psql(&self, db: &str, sql: &str) -> crate::Run {
        let psql = self.bin.join("psql");
        let psql = if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        };
        run_bounded(
            Command::new(psql).args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "admit",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ]),
            Path::new("/"),
            Duration::from_secs(60),
        )
    }

    /// Create an empty database `db` and return its URL.
    pub fn create_database(&self, db: &str) -> String {
        let run = self.psql("postgres", &format!("CREATE DATABASE \"{db}\""));
        assert!(run.ok, "CREATE DATABASE {db}: {}", run.stderr);
        self.url(db)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.pid == 0 {
            return;
        }
        // Fast shutdown by the postmaster's PID, then make sure it is gone.
        let pid = self.pid.to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    }
}
