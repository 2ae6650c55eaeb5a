//! `admit-sim`: run a fleet of simulated Apple devices against an MDM server.
//!
//! ```sh
//! admit-sim run --profile https://mdm.example:8443/mdm/enroll?invite=TOKEN \
//!     --server-ca ca.pem --devices 100 --concurrency 20 --duration 5m \
//!     --scenario examples/admit-sim/scenario.toml --state ./fleet [--json]
//! admit-sim keys --count 1000 --out pool.pem     # a key pool for fast enrollments
//! ```

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use admit_sim::commands::AttestationCa;
use admit_sim::device::{Options, Source};
use admit_sim::enrollment::{Enrollment, read_certificates};
use admit_sim::metrics::Metrics;
use admit_sim::run::{RunOptions, run};
use admit_sim::scenario::Scenario;
use admit_sim::state::{Keys, generate_pool, pem_blocks};
use admit_sim::transport::Allowed;
use admit_sim::{Error, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "admit-sim",
    about = "Simulated Apple devices for testing an MDM server"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a fleet through a scenario and print a summary.
    Run(Box<RunArgs>),
    /// Write a pool of RSA keys (PEM) for `run --key-pool`.
    Keys {
        /// How many keys.
        #[arg(long)]
        count: usize,
        /// RSA modulus size.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Enrollment profile: a file, or an http(s) URL (an invite in `?invite=` is kept).
    #[arg(long)]
    profile: String,
    /// Devices in the fleet.
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Devices running at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Stop after this long (`90s`, `5m`, `1h`, or seconds).
    #[arg(long, default_value = "5m")]
    duration: String,
    /// Stop after this many answered requests.
    #[arg(long)]
    max_requests: Option<u64>,
    /// Scenario file (TOML); default: enroll and one command round.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// State directory: devices saved here are resumed by the next run.
    #[arg(long)]
    state: Option<PathBuf>,
    /// CA certificate(s) (PEM) to trust for the server's TLS, besides the profile's roots.
    #[arg(long)]
    server_ca: Vec<PathBuf>,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 15)]
    timeout: u64,
    /// Take device keys from this PEM pool (`admit-sim keys`) before generating any.
    #[arg(long)]
    key_pool: Option<PathBuf>,
    /// Attestation CA certificate chain (PEM, issuing CA first) for DevicePropertiesAttestation.
    #[arg(long, requires = "attestation_key")]
    attestation_ca: Option<PathBuf>,
    /// The attestation CA's key (PKCS#8 PEM).
    #[arg(long, requires = "attestation_ca")]
    attestation_key: Option<PathBuf>,
    /// Serve the APNs stand-in here (HTTP/2 over TLS); devices then wait for pushes.
    #[arg(long, requires = "apns_client_ca")]
    apns_listen: Option<SocketAddr>,
    /// CA (PEM) the push certificate presented to the stand-in must chain to.
    #[arg(long)]
    apns_client_ca: Option<PathBuf>,
    /// Write the stand-in's TLS CA (PEM) here, for the server to trust.
    #[arg(long)]
    apns_ca_out: Option<PathBuf>,
    /// Another origin devices may contact (a profile's SCEP or server URL elsewhere than the
    /// profile URL's origin).
    #[arg(long)]
    allow: Vec<String>,
    /// The push topic the APNs stand-in requires (default: the profile file's Topic; none
    /// checked for a profile URL unless given).
    #[arg(long)]
    apns_topic: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || Error::Config(format!("bad duration {s:?} (use 90s, 5m, 1h or seconds)"));
    let (num, mult) = match s.as_bytes().last() {
        Some(b's') => (&s[..s.len() - 1], 1),
        Some(b'm') => (&s[..s.len() - 1], 60),
        Some(b'h') => (&s[..s.len() - 1], 3600),
        _ => (s, 1),
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    Ok(Duration::from_secs(n.checked_mul(mult).ok_or_else(bad)?))
}

fn pem(der: &[u8], label: &str) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for c in b.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(c));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

async fn run_cmd(a: RunArgs) -> Result<bool> {
    let timeout = Duration::from_secs(a.timeout.max(1));
    let mut roots = Vec::new();
    for p in &a.server_ca {
        roots.extend(read_certificates(&read(p)?)?);
    }
    let is_url = a.profile.starts_with("https://") || a.profile.starts_with("http://");
    let mut allowed = Allowed::default();
    for u in &a.allow {
        allowed.allow(u)?;
    }
    let (source, topic) = if is_url {
        // Each device fetches its own profile (an invite gives each its own SCEP challenge);
        // the profile's URLs must be on this origin or one given with --allow.
        allowed.allow(&a.profile)?;
        (Source::Url(a.profile.clone()), a.apns_topic.clone())
    } else {
        let enrollment = Enrollment::parse(&read(std::path::Path::new(&a.profile))?)?;
        for u in enrollment.urls() {
            allowed.allow(u)?;
        }
        let topic = a
            .apns_topic
            .clone()
            .or_else(|| Some(enrollment.topic.clone()));
        (Source::Profile(Arc::new(enrollment)), topic)
    };
    let keys = match &a.key_pool {
        Some(p) => Keys::pool_from_pem(&read(p)?)?,
        None => Keys::Generate,
    };
    let attestation = match (&a.attestation_ca, &a.attestation_key) {
        (Some(c), Some(k)) => {
            let chain = read_certificates(&read(c)?)?
                .iter()
                .map(|d| {
                    pki::cert::Cert::from_der(d)
                        .map_err(|e| Error::Config(format!("attestation CA: {e}")))
                })
                .collect::<Result<Vec<_>>>()?;
            let key_der = pem_blocks(&read(k)?, "PRIVATE KEY")?
                .into_iter()
                .next()
                .ok_or_else(|| Error::Config("attestation key: no PRIVATE KEY block".into()))?;
            let key = admit_sim::provider()
                .private_key_from_pkcs8_der(&key_der)
                .map_err(|e| Error::Config(format!("attestation key: {e}")))?;
            Some(AttestationCa { key, chain })
        }
        _ => None,
    };
    let scenario = match &a.scenario {
        Some(p) => Scenario::parse(&String::from_utf8_lossy(&read(p)?))?,
        None => Scenario::default_steps(),
    };
    let apns = match (&a.apns_listen, &a.apns_client_ca) {
        (Some(listen), Some(ca)) => {
            let cas = read_certificates(&read(ca)?)?;
            let s = admit_sim::apns::serve(*listen, &cas, topic).await?;
            if let Some(out) = &a.apns_ca_out {
                std::fs::write(out, pem(&s.ca_der, "CERTIFICATE"))
                    .map_err(|e| Error::Config(format!("{}: {e}", out.display())))?;
            }
            eprintln!("APNs stand-in listening on https://{}", s.addr);
            Some(s)
        }
        _ => None,
    };
    let metrics = Arc::new(Metrics::default());
    let device = Arc::new(Options {
        source,
        roots,
        allowed: Arc::new(allowed),
        timeout,
        keys,
        attestation,
        metrics: metrics.clone(),
    });
    let outcome = run(RunOptions {
        devices: a.devices,
        concurrency: a.concurrency,
        duration: parse_duration(&a.duration)?,
        max_requests: a.max_requests,
        scenario,
        state_dir: a.state.clone(),
        device,
        apns: apns.as_ref().map(|s| s.registry.clone()),
        progress: !a.quiet && !a.json,
    })
    .await?;
    let mut summary = outcome.summary;
    if let Some(s) = &apns {
        summary
            .counters
            .insert("apns.pushes".into(), s.registry.pushes());
        summary
            .counters
            .insert("apns.refused".into(), s.registry.refused());
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
    } else {
        print!("{}", summary.to_text());
    }
    Ok(summary.errors.is_empty())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("admit-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Cmd::Run(a) => rt.block_on(run_cmd(*a)),
        Cmd::Keys { count, bits, out } => generate_pool(count, bits).and_then(|p| {
            std::fs::write(&out, p)
                .map(|()| true)
                .map_err(|e| Error::Config(format!("{}: {e}", out.display())))
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("admit-sim: {e}");
            ExitCode::from(2)
        }
    }
}
