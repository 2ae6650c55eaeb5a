//! `admit-sim-load`: the MDM load bench (run by `cargo xtask load-mdm`). For each backend
//! (SQLite; PostgreSQL on a private cluster), start `admitd`, make one invite for the whole
//! fleet, then drive it with admit-sim in two phases:
//!
//! ```text
//! enroll    N devices: profile (invite), SCEP GetCACaps/GetCACert/PKIOperation,
//!           Authenticate, TokenUpdate
//! check-in  the same N devices resumed: R rounds each of Idle on the server URL
//! ```
//!
//! and print per phase: requests, throughput, p50/p99 per endpoint, and admitd's CPU seconds
//! per request (utime + stime from `/proc/PID/stat`, so cost compares across machines and
//! runs). Every device must be listed enrolled by the admin API afterwards.
//!
//! ```sh
//! admit-sim-load --admitd target/release/admitd [--devices 1000] [--rounds 10]
//!                [--concurrency 32] [--backends sqlite,postgres]
//! ```

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use admit_sim::device::{Options, Source};
use admit_sim::enrollment::read_certificates;
use admit_sim::metrics::{Metrics, Summary};
use admit_sim::run::{RunOptions, run};
use admit_sim::scenario::Scenario;
use admit_sim::state::Keys;
use admit_sim::transport::{Allowed, Tls, Transport};

struct Args {
    admitd: PathBuf,
    devices: usize,
    rounds: u32,
    concurrency: usize,
    backends: Vec<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        admitd: PathBuf::from("target/release/admitd"),
        devices: 1000,
        rounds: 10,
        concurrency: 32,
        backends: vec!["sqlite".into(), "postgres".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--admitd" => a.admitd = v.into(),
            "--devices" => a.devices = num(&v)?,
            "--rounds" => a.rounds = u32::try_from(num(&v)?).map_err(|e| e.to_string())?,
            "--concurrency" => a.concurrency = num(&v)?,
            "--backends" => a.backends = v.split(',').map(str::to_owned).collect(),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// A running admitd, killed by PID when dropped.
struct Admitd {
    child: Child,
    https: String,
    data: PathBuf,
}

impl Drop for Admitd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_admitd(bin: &Path, dir: &Path, database: Option<&str>) -> Admitd {
    let cfg = dir.join("admitd.toml");
    std::fs::write(
        &cfg,
        "[mdm]\ntopic = \"com.apple.mgmt.External.admit-sim-load\"\n",
    )
    .unwrap();
    let data = dir.join("data");
    let mut c = Command::new(bin);
    c.arg("--data-dir")
        .arg(&data)
        .args([
            "--http",
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
            "--log",
            "warn",
        ])
        .arg("--config")
        .arg(&cfg);
    if let Some(url) = database {
        c.args(["--database", url]);
    }
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("admitd.log")).unwrap())
        .spawn()
        .expect("spawn admitd");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let https = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("https="))
        .unwrap_or_else(|| panic!("admitd said {line:?}"))
        .to_owned();
    Admitd { child, https, data }
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state is field 3, utime 14, stime 15 (proc(5)).
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| f.get(*i)?.parse::<f64>().ok())
        .sum();
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    ticks / hz
}

async fn admin(
    t: &mut Transport,
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let req = b
        .body(body.map(|j| j.to_string().into_bytes()).unwrap_or_default())
        .unwrap();
    let resp = t.send("admin", req).await.expect("admin API");
    assert!(
        resp.status().is_success(),
        "{method} {path}: {} {}",
        resp.status(),
        String::from_utf8_lossy(resp.body())
    );
    serde_json::from_slice(resp.body()).unwrap()
}

struct Phase {
    name: &'static str,
    summary: Summary,
    cpu_s: f64,
}

fn print_phase(backend: &str, p: &Phase) {
    let s = &p.summary;
    println!(
        "\n### {backend}: {} — {} requests in {:.1} s = {:.0} req/s; admitd CPU {:.2} s = {:.3} ms/request; errors: {}",
        p.name,
        s.requests,
        s.elapsed_s,
        s.throughput_rps,
        p.cpu_s,
        1000.0 * p.cpu_s / (s.requests.max(1) as f64),
        if s.errors.is_empty() {
            "none".to_owned()
        } else {
            format!("{:?}", s.errors)
        }
    );
    println!(
        "| endpoint | answered | failed | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|"
    );
    for (name, e) in &s.endpoints {
        println!(
            "| {name} | {} | {} | {:.2} | {:.2} | {:.2} |",
            e.answered, e.failed, e.p50_ms, e.p99_ms, e.max_ms
        );
    }
}

async fn bench(a: &Args, backend: &str, keys: &[Vec<u8>]) {
    let dir = tempfile::tempdir().unwrap();
    let pg = (backend == "postgres").then(testkit::postgres::Postgres::start);
    let url = pg.as_ref().map(|p| p.create_database("admit"));
    let srv = start_admitd(&a.admitd, dir.path(), url.as_deref());
    let base = format!("https://{}", srv.https);
    let roots =
        read_certificates(&std::fs::read(srv.data.join("ca").join("root.pem")).unwrap()).unwrap();
    let token = std::fs::read_to_string(srv.data.join("devauth").join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    let mut allowed = Allowed::default();
    allowed.allow(&base).unwrap();
    let allowed = Arc::new(allowed);
    let mut t = Transport::new(
        Tls::new(&roots, None).unwrap(),
        allowed.clone(),
        Duration::from_secs(30),
    );
    let inv = admin(
        &mut t,
        &base,
        &token,
        "POST",
        "/api/v1/mdm/invites",
        Some(serde_json::json!({"uses": a.devices, "ttl_s": 7200})),
    )
    .await;
    let invite = inv["url"]
        .as_str()
        .unwrap()
        .replace("localhost", "127.0.0.1");
    let pid = srv.child.id();
    let state = dir.path().join("fleet");
    let pool = Keys::Pool(Arc::new(Mutex::new(keys.to_vec())));
    let mut phases = Vec::new();
    for (name, scenario) in [
        (
            "enroll (profile + SCEP + Authenticate + TokenUpdate)",
            "[[step]]\ndo = \"enroll\"\n".to_owned(),
        ),
        (
            "check-in (Idle on the server URL)",
            format!("[[step]]\ndo = \"sessions\"\nrounds = {}\n", a.rounds),
        ),
    ] {
        let before = cpu_seconds(pid);
        let out = run(RunOptions {
            devices: a.devices,
            concurrency: a.concurrency,
            duration: Duration::from_secs(1800),
            max_requests: None,
            scenario: Scenario::parse(&scenario).unwrap(),
            state_dir: Some(state.clone()),
            device: Arc::new(Options {
                source: Source::Url(invite.clone()),
                roots: roots.clone(),
                allowed: allowed.clone(),
                timeout: Duration::from_secs(60),
                keys: pool.clone(),
                attestation: None,
                metrics: Arc::new(Metrics::default()),
            }),
            apns: None,
            progress: false,
        })
        .await
        .unwrap();
        phases.push(Phase {
            name,
            summary: out.summary,
            cpu_s: cpu_seconds(pid) - before,
        });
    }
    // Every device is on record, enrolled.
    let mut enrolled = 0;
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("/api/v1/mdm/devices?state=enrolled&limit=500&after={a}"),
            None => "/api/v1/mdm/devices?state=enrolled&limit=500".to_owned(),
        };
        let j = admin(&mut t, &base, &token, "GET", &q, None).await;
        enrolled += j["devices"]
            .as_array()
            .map_or(0, |d| d.iter().filter(|x| x["kind"] == "device").count());
        match j["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    for p in &phases {
        print_phase(backend, p);
    }
    println!(
        "\n{backend}: {enrolled} of {} devices listed enrolled by the admin API",
        a.devices
    );
    assert_eq!(enrolled, a.devices, "every device must be on record");
}

fn main() {
    let a = args().unwrap_or_else(|e| {
        eprintln!("admit-sim-load: {e}");
        std::process::exit(2)
    });
    eprintln!(
        "generating {} RSA-2048 device keys (not timed)...",
        a.devices
    );
    let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
        let per = a.devices.div_ceil(2);
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let n = per.min(a.devices.saturating_sub(i * per));
                s.spawn(move || {
                    let pem = admit_sim::state::generate_pool(n, 2048).unwrap();
                    admit_sim::state::pem_blocks(pem.as_bytes(), "PRIVATE KEY").unwrap()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "## admit-sim load: {} devices, {} check-in rounds each, concurrency {}",
        a.devices, a.rounds, a.concurrency
    );
    for b in &a.backends {
        rt.block_on(bench(&a, b, &keys));
    }
}
