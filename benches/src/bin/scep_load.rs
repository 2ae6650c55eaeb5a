//! SCEP load: the same number of distinct PKCSReq messages replayed over HTTP against `admitd`
//! (with each crypto provider) and against Debian's `scepserver` (micromdm/scep), at several
//! concurrencies, in one run; throughput, p50 and p99 latency for each, and `/healthz` p99
//! during the `admitd` floods. A benchmark, not a test: it asserts nothing about speed.
//!
//! ```text
//! cargo xtask load      (builds in release, then runs this inside a private network namespace)
//! scep_load --admitd target/release/admitd [--messages 200] [--levels 1,4,16] [--no-scepserver]
//!           [--providers aws-lc,rustcrypto] [--baseline OTHER_ADMITD]
//! ```
//!
//! `--baseline` runs a second `admitd` build (say, the one before a change) beside the first, with
//! the same providers, in the same run, so a before/after comparison shares the machine's state.
//!
//! Every server gets an RSA-2048 CA and the static challenge `s3cret`. The messages are made by
//! this crate's `scep::Client` for each server's own RA certificate (a PKCSReq is sealed to its
//! recipient, so one server's messages cannot be replayed to another), before the clock starts;
//! each is signed by one of a few pre-made RSA-2048 device keys and carries its own
//! transactionID, so no server answers from a cache. A request counts as failed unless the
//! answer is HTTP 200 with a CertRep whose pkiStatus is SUCCESS (read without keys).

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use pki::cert::issue::{Template, issue};
use pki::key::{KeySpec, PrivateKey};
use pki::x509_cert::Certificate;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use scep::{CaCerts, Capabilities, Client, Identity, PkiMessage, PkiStatus, TransactionId};

const CHALLENGE: &str = "s3cret";
const DEVICE_KEYS: usize = 8;

struct Options {
    admitd: PathBuf,
    /// Another `admitd` binary run beside `admitd` (labelled `base`).
    baseline: Option<PathBuf>,
    providers: Vec<String>,
    messages: usize,
    levels: Vec<usize>,
    scepserver: bool,
}

fn options() -> Options {
    let mut o = Options {
        admitd: PathBuf::from("target/release/admitd"),
        baseline: None,
        providers: vec!["aws-lc".into(), "rustcrypto".into()],
        messages: 200,
        levels: vec![1, 4, 16],
        scepserver: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--admitd" => o.admitd = args.next().expect("--admitd PATH").into(),
            "--messages" => o.messages = args.next().and_then(|n| n.parse().ok()).expect("N"),
            "--levels" => {
                o.levels = args
                    .next()
                    .expect("--levels 1,4,16")
                    .split(',')
                    .map(|n| n.parse().expect("a number"))
                    .collect()
            }
            "--no-scepserver" => o.scepserver = false,
            "--baseline" => o.baseline = Some(args.next().expect("--baseline PATH").into()),
            "--providers" => {
                o.providers = args
                    .next()
                    .expect("--providers aws-lc,rustcrypto")
                    .split(',')
                    .map(str::to_owned)
                    .collect()
            }
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// A server under load, stopped by PID when dropped.
struct Target {
    name: String,
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_admitd(bin: &Path, provider: &str, label: &str) -> Target {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args(["--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--http",
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
            "--log",
            "warn",
        ])
        .args(["--crypto-provider", provider, "--ca-key-type", "rsa"])
        .args(["--scep-challenge", CHALLENGE])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("admitd.log")).unwrap())
        .spawn()
        .expect("spawn admitd");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let http = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("admitd said {line:?}"));
    Target {
        name: format!("{label} ({provider})"),
        child,
        addr: http,
        _dir: dir,
    }
}

fn start_scepserver() -> Target {
    let dir = tempfile::tempdir().unwrap();
    let depot = dir.path().join("depot");
    let st = Command::new("scepserver")
        .args(["ca", "-init", "-keySize", "2048", "-depot"])
        .arg(&depot)
        .stdout(Stdio::null())
        .status()
        .expect("scepserver");
    assert!(st.success());
    let port = free_port();
    let child = Command::new("scepserver")
        .args(["-depot"])
        .arg(&depot)
        .args([
            "-port",
            &port.to_string(),
            "-challenge",
            CHALLENGE,
            "-allowrenew",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("scepserver.log")).unwrap())
        .spawn()
        .expect("spawn scepserver");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let t = Target {
        name: "scepserver".into(),
        child,
        addr,
        _dir: dir,
    };
    for _ in 0..300 {
        if let Ok(mut c) = Conn::open(addr)
            && c.get("/scep?operation=GetCACaps")
                .is_ok_and(|(s, _)| s == 200)
        {
            return t;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("scepserver did not start");
}

/// One HTTP/1.1 keep-alive connection.
struct Conn {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn {
            stream: BufReader::new(s),
            addr,
        })
    }

    fn exchange(&mut self, head: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut status = 0;
        let mut len = 0usize;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(rest) = line.strip_prefix("HTTP/1.1 ") {
                status = rest.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
            } else if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = v.trim().eq_ignore_ascii_case("chunked");
                }
            }
        }
        if !chunked {
            let mut buf = vec![0; len];
            self.stream.read_exact(&mut buf)?;
            return Ok((status, buf));
        }
        // Chunked (Go's net/http answers so when it does not know the length up front).
        let mut buf = Vec::new();
        loop {
            let mut size = String::new();
            self.stream.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
            let start = buf.len();
            buf.resize(start + size, 0);
            self.stream.read_exact(&mut buf[start..])?;
            let mut crlf = String::new();
            self.stream.read_line(&mut crlf)?;
            if size == 0 {
                return Ok((status, buf));
            }
        }
    }

    fn get(&mut self, target: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let head = format!("GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        self.exchange(&head, &[])
    }

    fn post_scep(&mut self, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let head = format!(
            "POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: {}\r\n\
             Content-Type: application/x-pki-message\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        self.exchange(&head, body)
    }
}

struct DeviceKey {
    key: Arc<dyn PrivateKey>,
    cert: Certificate,
}

fn device_keys(rng: &mut ChaCha20Rng) -> Vec<DeviceKey> {
    let p = pki::provider::by_name("aws-lc").unwrap_or(pki::provider::compiled()[0]);
    let now = SystemTime::now();
    (0..DEVICE_KEYS)
        .map(|i| {
            let key = p.generate_key(KeySpec::Rsa(2048), rng).unwrap();
            let t = Template::end_entity(
                now - Duration::from_secs(60),
                now + Duration::from_secs(86_400),
            )
            .with_subject(format!("CN=load-device-{i}").parse().unwrap());
            let cert = issue(p, &*key, None, key.spki(), &t, rng).unwrap();
            DeviceKey { key, cert }
        })
        .collect()
}

/// `n` distinct PKCSReq messages for `target`, sealed to its RA.
fn messages(
    target: &Target,
    keys: &[DeviceKey],
    n: usize,
    tag: &str,
    rng: &mut ChaCha20Rng,
) -> Vec<Vec<u8>> {
    let p = pki::provider::by_name("aws-lc").unwrap_or(pki::provider::compiled()[0]);
    let mut c = Conn::open(target.addr).unwrap();
    let (_, caps) = c.get("/scep?operation=GetCACaps").unwrap();
    let (status, ca) = c.get("/scep?operation=GetCACert").unwrap();
    assert_eq!(status, 200, "{}: GetCACert", target.name);
    // An RA chain (degenerate SignedData) or a single CA certificate.
    let certs = CaCerts::from_body("application/x-x509-ca-ra-cert", &ca)
        .or_else(|_| CaCerts::from_body("application/x-x509-ca-cert", &ca))
        .unwrap();
    let client = Client::new(p, Capabilities::parse(&caps), certs);
    (0..n)
        .map(|i| {
            let k = &keys[i % keys.len()];
            let csr =
                pki::cert::csr::CsrBuilder::new(format!("CN=load-{tag}-{i}").parse().unwrap())
                    .with_challenge_password(CHALLENGE)
                    .build(&*k.key, rng)
                    .unwrap();
            let me = Identity {
                signer: &*k.key,
                decrypter: &*k.key,
                certificate: &k.cert,
            };
            let tx = client
                .pkcs_req(
                    me,
                    &csr,
                    Some(TransactionId(format!("load-{tag}-{i}"))),
                    rng,
                )
                .unwrap();
            tx.to_request(
                &format!("http://{}/scep", target.addr).parse().unwrap(),
                true,
            )
            .unwrap()
            .into_body()
        })
        .collect()
}

struct Run {
    first_failure: Option<String>,
    seconds: f64,
    latencies: Vec<Duration>,
    failed: usize,
    healthz: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn flood(target: &Target, msgs: &[Vec<u8>], concurrency: usize, healthz: bool) -> Run {
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let latencies = Mutex::new(Vec::with_capacity(msgs.len()));
    let first_failure = Mutex::new(None);
    let health = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        if healthz {
            s.spawn(|| {
                let mut c = Conn::open(target.addr).unwrap();
                while !done.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let ok = c.get("/healthz").is_ok_and(|(st, _)| st == 200);
                    if ok {
                        health.lock().unwrap().push(t.elapsed());
                    } else {
                        c = Conn::open(target.addr).unwrap();
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                s.spawn(|| {
                    let mut c = Conn::open(target.addr).unwrap();
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(m) = msgs.get(i) else { break };
                        let t = Instant::now();
                        let answer = c.post_scep(m);
                        mine.push(t.elapsed());
                        let success = matches!(&answer, Ok((200, body)) if PkiMessage::parse(body)
                            .is_ok_and(|pm| pm.attributes().pki_status == Some(PkiStatus::Success)));
                        if !success {
                            failed.fetch_add(1, Ordering::Relaxed);
                            let why = match &answer {
                                Ok((200, body)) => match PkiMessage::parse(body) {
                                    Ok(pm) => format!(
                                        "pkiStatus {:?}, failInfo {:?} {:?}",
                                        pm.attributes().pki_status,
                                        pm.attributes().fail_info,
                                        pm.attributes().fail_info_text
                                    ),
                                    Err(e) => format!("unreadable CertRep: {e}"),
                                },
                                Ok((status, body)) => format!(
                                    "HTTP {status}: {}",
                                    String::from_utf8_lossy(&body[..body.len().min(200)])
                                ),
                                Err(e) => format!("connection: {e}"),
                            };
                            first_failure.lock().unwrap().get_or_insert(why);
                            if answer.is_err() {
                                c = Conn::open(target.addr).unwrap();
                            }
                        }
                    }
                    latencies.lock().unwrap().extend(mine);
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    let mut latencies = latencies.into_inner().unwrap();
    latencies.sort();
    let mut healthz = health.into_inner().unwrap();
    healthz.sort();
    Run {
        first_failure: first_failure.into_inner().unwrap(),
        seconds: started.elapsed().as_secs_f64(),
        latencies,
        failed: failed.into_inner(),
        healthz,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let o = options();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let keys = device_keys(&mut rng);
    let mut targets: Vec<Box<dyn Fn() -> Target>> = Vec::new();
    for provider in &o.providers {
        let builds = std::iter::once((o.admitd.clone(), "admitd"))
            .chain(o.baseline.clone().map(|b| (b, "admitd-base")));
        for (bin, label) in builds {
            let provider = provider.clone();
            targets.push(Box::new(move || start_admitd(&bin, &provider, label)));
        }
    }
    if o.scepserver {
        targets.push(Box::new(start_scepserver));
    }
    println!(
        "{} distinct PKCSReq messages per server and concurrency; RSA-2048 CA; POST over HTTP/1.1 keep-alive\n",
        o.messages
    );
    println!(
        "{:<22} {:>5} {:>9} {:>9} {:>9} {:>7} {:>12}",
        "server", "conc", "req/s", "p50 ms", "p99 ms", "failed", "healthz p99"
    );
    let mut table: Vec<(String, usize, f64, Duration)> = Vec::new();
    for start in &targets {
        let t = start();
        for &c in &o.levels {
            let msgs = messages(
                &t,
                &keys,
                o.messages,
                &format!("{}-{c}", t.name.replace([' ', '(', ')'], "")),
                &mut rng,
            );
            let is_admitd = t.name.starts_with("admitd");
            let r = flood(&t, &msgs, c, is_admitd);
            let rps = r.latencies.len() as f64 / r.seconds;
            let p50 = percentile(&r.latencies, 0.50);
            let p99 = percentile(&r.latencies, 0.99);
            let hz = if is_admitd {
                ms(percentile(&r.healthz, 0.99))
            } else {
                "-".into()
            };
            println!(
                "{:<22} {:>5} {:>9.1} {:>9} {:>9} {:>7} {:>12}",
                t.name,
                c,
                rps,
                ms(p50),
                ms(p99),
                r.failed,
                hz
            );
            if let Some(why) = &r.first_failure {
                println!("    first failure: {why}");
            }
            table.push((t.name.clone(), c, rps, p99));
        }
    }
    if o.scepserver {
        println!("\nratios against scepserver (throughput x, p99 x):");
        for (name, c, rps, p99) in &table {
            if name == "scepserver" {
                continue;
            }
            if let Some((_, _, base_rps, base_p99)) = table
                .iter()
                .find(|(n, bc, ..)| n == "scepserver" && bc == c)
            {
                println!(
                    "  {name:<22} c={c:<3} throughput {:.2}x  p99 {:.2}x",
                    rps / base_rps,
                    p99.as_secs_f64() / base_p99.as_secs_f64()
                );
            }
        }
    }
}
