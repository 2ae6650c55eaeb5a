//! Hardware attestation in `admitd`: `admitd inspect` for TPM structures, EK and MDA
//! certificates and CBOR attestation objects ([`inspect`]), and `admitd attest verify` for
//! ACME `device-attest-01` and WebAuthn evidence ([`verify`]).
//!
//! ```text
//!   bytes ──▶ inspect::recognise ──▶ { "<TPM type name>": { fields as the TPM spec names them } }
//!             (TPMS_ATTEST, TPMT_PUBLIC, TPM2B_PUBLIC, TPMT_SIGNATURE, TPML_PCR_SELECTION,
//!              tpm2-tools PCR and credential files, EK certificate NV blobs, attestation objects)
//!
//!   evidence files + roots + time ──▶ verify::run ──▶ { "verified": {...} } | { "error": {...} }
//! ```
//! Both are thin shells over the `attestation` crate: every structure is parsed and rendered
//! by it (`to_json`), every check is its verifier's.

pub mod inspect;
pub mod render;
pub mod verify;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `admitd attest ...`.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Verify ACME device-attest-01 or WebAuthn attestation evidence; print what it proves,
    /// or the typed error (exit 1), as JSON.
    Verify(VerifyArgs),
}

/// `admitd attest verify` flags.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// An ACME device-attest-01 challenge response (`{"attObj": ...}`).
    #[arg(long, value_name = "FILE", requires_all = ["token", "key_authorization"],
          required_unless_present = "webauthn", conflicts_with = "webauthn")]
    pub acme: Option<PathBuf>,
    /// The ACME challenge token.
    #[arg(long)]
    pub token: Option<String>,
    /// The ACME key authorization (`token.thumbprint`).
    #[arg(long)]
    pub key_authorization: Option<String>,
    /// The permanent identifier the ACME order asks for (default: the one the evidence claims).
    #[arg(long)]
    pub permanent_identifier: Option<String>,
    /// A WebAuthn attestation object (CBOR).
    #[arg(long, value_name = "FILE", requires = "client_data")]
    pub webauthn: Option<PathBuf>,
    /// The WebAuthn clientDataJSON.
    #[arg(long, value_name = "FILE")]
    pub client_data: Option<PathBuf>,
    /// A trust anchor (PEM, possibly several, or DER); repeatable.
    #[arg(long = "root", value_name = "FILE")]
    pub roots: Vec<PathBuf>,
    /// The validation time, RFC 3339 (default: now).
    #[arg(long)]
    pub time: Option<String>,
    /// Accept RS1 (SHA-1) TPM signatures.
    #[arg(long)]
    pub allow_rs1: bool,
    /// The crypto provider (default: the first compiled in).
    #[arg(long)]
    pub crypto_provider: Option<String>,
}

/// Most bytes read from one evidence or root file.
const MAX_FILE: u64 = 1024 * 1024;

fn read(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let mut out = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut out))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if out.len() as u64 > MAX_FILE {
        return Err(format!("{}: over {MAX_FILE} bytes", path.display()));
    }
    Ok(out)
}

fn print(v: &serde_json::Value) -> bool {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush())
        .is_ok()
}

/// Run an `admitd attest` command: exit 0 when verified, 1 when the evidence was refused
/// (the error printed as JSON on stdout), 2 on a usage or file error.
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Verify(args) => match run_verify(&args) {
            Ok(Ok(v)) => {
                if print(&v) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Ok(Err(e)) => {
                print(&verify::error_json(&e));
                ExitCode::FAILURE
            }
            Err(usage) => {
                eprintln!("admitd attest verify: {usage}");
                ExitCode::from(2)
            }
        },
    }
}

type Outcome = Result<serde_json::Value, attestation::Error>;

fn run_verify(a: &VerifyArgs) -> Result<Outcome, String> {
    let provider = match &a.crypto_provider {
        Some(n) => pki::provider::by_name(n).ok_or_else(|| format!("no provider {n:?}"))?,
        None => render::provider(),
    };
    let now = match &a.time {
        Some(t) => verify::parse_rfc3339(t)?,
        None => std::time::SystemTime::now(),
    };
    let mut roots = Vec::new();
    for r in &a.roots {
        roots.extend(verify::load_roots(&read(r)?).map_err(|e| format!("{}: {e}", r.display()))?);
    }
    let trust = verify::Trust {
        roots: &roots,
        now,
        allow_rs1: a.allow_rs1,
    };
    if let Some(path) = &a.acme {
        let payload = read(path)?;
        let token = a.token.as_deref().ok_or("--acme needs --token")?;
        let key_authorization = a
            .key_authorization
            .as_deref()
            .ok_or("--acme needs --key-authorization")?;
        let evidence = verify::Evidence::Acme {
            payload: &payload,
            token,
            key_authorization,
            permanent_identifier: a.permanent_identifier.as_deref(),
        };
        return Ok(verify::verify(provider, evidence, trust));
    }
    let (Some(obj), Some(cd)) = (&a.webauthn, &a.client_data) else {
        return Err("give --acme FILE or --webauthn FILE --client-data FILE".into());
    };
    let (obj, cd) = (read(obj)?, read(cd)?);
    let evidence = verify::Evidence::WebAuthn {
        attestation_object: &obj,
        client_data_json: &cd,
    };
    Ok(verify::verify(provider, evidence, trust))
}
