//! Helpers for the admitd integration tests: start the built binary on port 0 in a temporary
//! data directory, read its bound addresses, and kill it by PID when the test ends.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The admitd binary cargo built for these tests.
pub const ADMITD: &str = env!("CARGO_BIN_EXE_admitd");

/// Names of the crypto providers compiled into admitd, default first.
pub fn providers() -> Vec<&'static str> {
    pki::provider::compiled().iter().map(|p| p.name()).collect()
}

/// A running admitd; killed (SIGKILL, by PID) when dropped.
pub struct Admitd {
    child: Option<Child>,
    /// HTTP listener.
    pub http: SocketAddr,
    /// HTTPS listener.
    pub https: SocketAddr,
    /// Where its stderr (logs) goes.
    pub log: PathBuf,
}

impl Admitd {
    /// Start admitd with `--data-dir data_dir`, both listeners on 127.0.0.1:0, and `extra` args.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Admitd {
        let mut args: Vec<String> = vec![
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--http".into(),
            "127.0.0.1:0".into(),
            "--https".into(),
            "127.0.0.1:0".into(),
        ];
        if !extra.contains(&"--crypto-provider") {
            args.push("--crypto-provider".into());
            args.push(providers()[providers().len() - 1].into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        // Logs go beside the data directory, which admitd itself must create.
        Self::start_args(data_dir.parent().unwrap_or(data_dir), &args)
    }

    /// Start admitd with exactly `args`; `log_dir` receives its stderr.
    pub fn start_args(log_dir: &Path, args: &[String]) -> Admitd {
        Self::start_args_env(log_dir, args, &[])
    }

    /// [`Admitd::start`] with extra environment variables (e.g. `ADMITD_FAILPOINT`).
    pub fn start_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Admitd {
        let mut args: Vec<String> = vec![
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--http".into(),
            "127.0.0.1:0".into(),
            "--https".into(),
            "127.0.0.1:0".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_args_env(data_dir.parent().unwrap_or(data_dir), &args, env)
    }

    /// Start admitd with exactly `args` and `env` added to the environment.
    pub fn start_args_env(log_dir: &Path, args: &[String], env: &[(&str, &str)]) -> Admitd {
        Self::spawn(ADMITD, log_dir, args, env)
    }

    /// Start `program` with `args`, where `program` execs admitd in its own process (e.g.
    /// `prlimit ... ADMITD ...`), so the PID is admitd's.
    pub fn start_program(program: &str, log_dir: &Path, args: &mut [String]) -> Admitd {
        Self::spawn(program, log_dir, args, &[])
    }

    fn spawn(program: &str, log_dir: &Path, args: &[String], env: &[(&str, &str)]) -> Admitd {
        std::fs::create_dir_all(log_dir).unwrap();
        let log = log_dir.join(format!("admitd-{}.log", unique()));
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn admitd");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut guard = Admitd {
            child: Some(child),
            http: "127.0.0.1:1".parse().unwrap(),
            https: "127.0.0.1:1".parse().unwrap(),
            log,
        };
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => panic!("admitd printed no address line; log:\n{}", guard.log_text()),
        };
        let (http, https) = parse_listening(&line)
            .unwrap_or_else(|| panic!("unexpected line {line:?}; log:\n{}", guard.log_text()));
        guard.http = http;
        guard.https = https;
        guard
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Send SIGTERM.
    pub fn sigterm(&self) {
        let st = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Wait up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st;
            }
            if Instant::now() > deadline {
                panic!(
                    "admitd did not exit in {limit:?}; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        self.sigterm();
        let st = self.wait_exit(Duration::from_secs(15));
        assert!(st.success(), "exit status {st}; log:\n{}", self.log_text());
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Admitd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Parse `listening http=ADDR https=ADDR`.
pub fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = line.trim().strip_prefix("listening ")?;
    let mut http = None;
    let mut https = None;
    for part in rest.split_whitespace() {
        if let Some(a) = part.strip_prefix("http=") {
            http = a.parse().ok();
        } else if let Some(a) = part.strip_prefix("https=") {
            https = a.parse().ok();
        }
    }
    Some((http?, https?))
}

/// Run a command with a time limit, returning its output.
pub fn run(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{cmd:?} did not finish in 60 s");
        }
    }
}

/// Run openssl with `args` in `dir` (bounded, see `testkit::openssl`); panics unless it
/// succeeds. Returns stdout as text.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(testkit::openssl(dir, args)).unwrap()
}

/// curl with a 20 s limit; returns (exit ok, stdout).
pub fn curl(args: &[&str]) -> (bool, String) {
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Send raw bytes on a new connection and read the response until the server closes it or
/// `limit` passes.
pub fn raw_exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    // The server may answer (and close) before taking the whole request: ignore write errors.
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The status code of the first response in `resp`.
pub fn status_of(resp: &str) -> Option<u16> {
    resp.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Run `admitd inspect` on `file` (or stdin with `-` and `stdin`).
pub fn inspect(file: &str, dir: &Path, stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(ADMITD)
        .current_dir(dir)
        .args(["inspect", file])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        w.write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}
