//! Support code shared by the integration tests of the admit crates. It is a dev-dependency
//! only: nothing here is part of any published API.
//!
//! - [`vectors`], [`vector`], [`vector_file`], [`vector_dir`]: the shared vectors folder (`$ADMIT_VECTORS`, else
//!   `../shared/vectors` beside the repo root). A missing folder or file panics: tests never skip.
//! - [`openssl`], [`openssl_status`]: the `openssl` command, bounded in time.
//! - [`openssl_spki_der`], [`openssl_ek_uri`]: known answers about a certificate from `openssl`.
//! - [`run_bounded`] and [`Run`]: any external command with a deadline, killed by its own handle.
//! - [`rng`]: a deterministic ChaCha20 RNG from a seed.
//! - [`pem_to_der`], [`pem_all`]: PEM blocks to DER.
//! - [`swtpm::Swtpm`]: a software TPM on 127.0.0.1 driven by `tpm2-tools`.
//! - [`providers!`] and [`check_provider_names`]: the crypto providers a test crate runs,
//!   checked against its cargo features.
//!
//! It does not depend on `pki` (whose tests use it), so [`providers!`] is a macro expanded in
//! the test crate, with that crate's `pki` and features.

#![forbid(unsafe_code)]

pub mod postgres;
pub mod swtpm;

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// How long one `openssl` run may take before it is killed and the test fails.
pub const OPENSSL_TIMEOUT: Duration = Duration::from_secs(60);

/// The shared vectors folder: `$ADMIT_VECTORS`, else `../shared/vectors` beside the repo root
/// (the folder above this crate). Panics (never skips) with the places it looked when the folder
/// is missing.
pub fn vectors() -> PathBuf {
    if let Some(dir) = std::env::var_os("ADMIT_VECTORS") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_dir(),
            "ADMIT_VECTORS={} is not a directory",
            dir.display()
        );
        return dir;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("../shared/vectors");
    assert!(
        dir.is_dir(),
        "test vectors not found: looked at $ADMIT_VECTORS (unset) and {}",
        dir.display()
    );
    dir
}

/// The path of the file `rel` below the vectors folder; panics unless it is a file.
pub fn vector_file(rel: &str) -> PathBuf {
    let path = vectors().join(rel);
    assert!(path.is_file(), "missing vector {}", path.display());
    path
}

/// The path of the folder `rel` below the vectors folder; panics unless it is a folder.
pub fn vector_dir(rel: &str) -> PathBuf {
    let path = vectors().join(rel);
    assert!(path.is_dir(), "missing vector folder {}", path.display());
    path
}

/// Read the file `rel` below the vectors folder; panics when it cannot be read.
pub fn vector(rel: &str) -> Vec<u8> {
    let path = vectors().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading vector {}: {e}", path.display()))
}

/// A deterministic RNG for tests (one fixed seed per call site).
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The output of a bounded command run.
#[derive(Debug)]
pub struct Run {
    /// Whether the command exited successfully.
    pub ok: bool,
    /// Its exit code (`None` when a signal ended it).
    pub code: Option<i32>,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr, lossily decoded.
    pub stderr: String,
}

/// Run `cmd` in `dir` with stdin closed and a deadline; on timeout the child is killed (by its
/// own handle, never by name) and the call panics. Output is captured in anonymous temporary
/// files, so a grandchild holding the streams open cannot hang the test.
pub fn run_bounded(cmd: &mut Command, dir: &Path, timeout: Duration) -> Run {
    let tag = format!("{:?} {:?}", cmd.get_program(), cmd.get_args());
    let mut out = tempfile::tempfile().expect("stdout file");
    let mut err = tempfile::tempfile().expect("stderr file");
    let mut child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("stdout handle"))
        .stderr(err.try_clone().expect("stderr handle"))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {tag}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{tag} timed out after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stdout = Vec::new();
    out.rewind().expect("rewinding stdout");
    out.read_to_end(&mut stdout).expect("reading stdout");
    let mut stderr = Vec::new();
    err.rewind().expect("rewinding stderr");
    err.read_to_end(&mut stderr).expect("reading stderr");
    Run {
        ok: status.success(),
        code: status.code(),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Run `openssl` with `args` in `dir` (bounded by [`OPENSSL_TIMEOUT`]), panicking with its
/// stderr on failure; returns stdout.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let r = openssl_run(dir, args);
    assert!(r.ok, "openssl {} failed: {}", args.join(" "), r.stderr);
    r.stdout
}

/// Run `openssl` (bounded) and return whether it succeeded, with its stderr.
pub fn openssl_status(dir: &Path, args: &[&str]) -> (bool, String) {
    let r = openssl_run(dir, args);
    (r.ok, r.stderr)
}

fn openssl_run(dir: &Path, args: &[&str]) -> Run {
    run_bounded(Command::new("openssl").args(args), dir, OPENSSL_TIMEOUT)
}

/// The DER SubjectPublicKeyInfo of the DER certificate `cert_der`, as `openssl x509 -pubkey`
/// and `openssl pkey -outform DER` extract it (working files `oracle-*` in `dir`).
pub fn openssl_spki_der(dir: &Path, cert_der: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("oracle-cert.der"), cert_der).expect("writing the certificate");
    openssl(
        dir,
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            "oracle-cert.der",
            "-pubkey",
            "-noout",
            "-out",
            "oracle-pub.pem",
        ],
    );
    openssl(
        dir,
        &[
            "pkey",
            "-pubin",
            "-in",
            "oracle-pub.pem",
            "-outform",
            "DER",
            "-out",
            "oracle-spki.der",
        ],
    );
    std::fs::read(dir.join("oracle-spki.der")).expect("reading the SPKI")
}

/// The EK URI (`urn:ek:sha256:` and the standard base64 of the SHA-256 of the DER
/// SubjectPublicKeyInfo) of the DER certificate `cert_der`, every step computed by `openssl`
/// (working files `oracle-*` in `dir`).
pub fn openssl_ek_uri(dir: &Path, cert_der: &[u8]) -> String {
    openssl_spki_der(dir, cert_der);
    openssl(
        dir,
        &[
            "dgst",
            "-sha256",
            "-binary",
            "-out",
            "oracle-spki.sha256",
            "oracle-spki.der",
        ],
    );
    let b64 = openssl(dir, &["base64", "-A", "-in", "oracle-spki.sha256"]);
    format!(
        "urn:ek:sha256:{}",
        String::from_utf8(b64).expect("base64").trim()
    )
}

/// Decode the first PEM block of `pem` (any label) to DER; panics when there is none.
pub fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    pem_all(pem).into_iter().next().expect("a PEM block")
}

/// Decode every PEM block of `pem` (any label) to DER, in order; text between blocks is
/// skipped.
pub fn pem_all(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = std::str::from_utf8(pem).expect("PEM is text");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let block = &rest[begin..];
        let end = block.find("-----END ").expect("PEM end");
        let line_end = block[end..].find('\n').map_or(block.len(), |i| end + i + 1);
        let (_, der) = der::pem::decode_vec(&block.as_bytes()[..line_end]).expect("valid PEM");
        out.push(der);
        rest = &block[line_end..];
    }
    out
}

/// Every crypto provider compiled into the calling test crate (`pki::provider::compiled()`),
/// after checking with [`check_provider_names`] that they are exactly the ones the crate's
/// own `rustcrypto` and `aws-lc` features ask for. Give the path of `pki` as the caller sees it:
/// `testkit::providers!(pki)` or `testkit::providers!(attestation::pki)`.
///
/// The check catches a dev-dependency that turns a provider on behind the test's back, so the
/// per-provider runs of `cargo xtask test` really test one provider each.
#[macro_export]
macro_rules! providers {
    ($($pki:ident)::+) => {{
        let v = $($pki)::+::provider::compiled();
        let names: ::std::vec::Vec<&str> = v.iter().map(|p| p.name()).collect();
        $crate::check_provider_names(
            &names,
            cfg!(feature = "rustcrypto"),
            cfg!(feature = "aws-lc"),
        );
        v
    }};
}

/// Panics unless `names` (the compiled providers, in `pki::provider::compiled()` order) are
/// exactly those the features ask for, `rustcrypto` first, and at least one is compiled.
pub fn check_provider_names(names: &[&str], rustcrypto: bool, aws_lc: bool) {
    let mut expected = Vec::new();
    if rustcrypto {
        expected.push("rustcrypto");
    }
    if aws_lc {
        expected.push("aws-lc");
    }
    assert!(
        !expected.is_empty(),
        "no crypto provider feature on: test with `--features rustcrypto` or `--features aws-lc`"
    );
    assert_eq!(
        names, expected,
        "the providers compiled in differ from the test crate's features (rustcrypto: \
         {rustcrypto}, aws-lc: {aws_lc}): a dependency turns a provider on"
    );
}

#[cfg(test)]
mod tests {

    #[test]
    fn provider_names_must_match_the_features() {
        check_provider_names(&["rustcrypto", "aws-lc"], true, true);
        check_provider_names(&["aws-lc"], false, true);
        let leaked = std::panic::catch_unwind(|| {
            check_provider_names(&["rustcrypto", "aws-lc"], false, true)
        });
        assert!(leaked.is_err(), "a provider the features did not ask for");
        let none = std::panic::catch_unwind(|| check_provider_names(&[], false, false));
        assert!(none.is_err(), "no provider at all");
    }
    use super::*;

    #[test]
    fn pem_blocks_decode_in_order() {
        let pem = b"junk\n-----BEGIN A-----\nAQI=\n-----END A-----\ntext\n-----BEGIN B-----\nAw==\n-----END B-----";
        assert_eq!(pem_all(pem), [vec![1, 2], vec![3]]);
        assert_eq!(pem_to_der(pem), [1, 2]);
    }

    #[test]
    fn bounded_runs_capture_output_and_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let r = run_bounded(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            dir.path(),
            Duration::from_secs(10),
        );
        assert!(!r.ok);
        assert_eq!(r.code, Some(3));
        assert_eq!(r.stdout, b"out\n");
        assert_eq!(r.stderr, "err\n");
        let slow = std::panic::catch_unwind(|| {
            run_bounded(
                Command::new("sleep").arg("5"),
                dir.path(),
                Duration::from_millis(100),
            )
        });
        assert!(slow.is_err(), "a run past its deadline panics");
    }

    #[test]
    fn openssl_oracles_read_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "k.pem",
                "-out",
                "c.der",
                "-outform",
                "DER",
                "-subj",
                "/CN=t",
            ],
        );
        openssl(
            d,
            &[
                "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "p.der",
            ],
        );
        let spki = std::fs::read(d.join("p.der")).unwrap();
        let cert = std::fs::read(d.join("c.der")).unwrap();
        assert_eq!(openssl_spki_der(d, &cert), spki);
        let uri = openssl_ek_uri(d, &cert);
        let b64 = uri.strip_prefix("urn:ek:sha256:").expect("EK URI prefix");
        assert_eq!(b64.len(), 44, "{uri}");
        let (ok, err) = openssl_status(d, &["x509", "-in", "missing.pem"]);
        assert!(!ok && !err.is_empty());
    }

    #[test]
    fn rng_is_deterministic() {
        use rand_core::Rng;
        assert_eq!(rng(7).next_u64(), rng(7).next_u64());
        assert_ne!(rng(7).next_u64(), rng(8).next_u64());
    }
}
