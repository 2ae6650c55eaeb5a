//! Helpers shared by the integration tests of `attestation`.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The shared vectors folder: `$ADMIT_VECTORS`, else `../shared/vectors` beside the repo root.
/// Panics (never skips) with the places it looked when the folder is missing.
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    assert!(
        dir.is_dir(),
        "test vectors not found: looked at $ADMIT_VECTORS (unset) and {}",
        dir.display()
    );
    dir
}

/// Read a file below the vectors folder.
pub fn vector(rel: &str) -> Vec<u8> {
    let path = vectors().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading vector {}: {e}", path.display()))
}

/// A deterministic RNG for tests.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Every provider compiled into this build.
pub fn providers() -> Vec<&'static dyn pki::provider::CryptoProvider> {
    let v = pki::provider::compiled();
    assert!(!v.is_empty());
    v
}

/// The output of a bounded command run.
pub struct Run {
    pub ok: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Run `cmd` in `dir` with a deadline; the child is killed (by its own handle) on timeout.
pub fn run_bounded(cmd: &mut Command, dir: &Path, timeout: Duration) -> Run {
    let tag = format!("{:?}", cmd.get_program());
    let out_path = dir.join(format!(".out-{}", std::process::id()));
    let err_path = dir.join(format!(".err-{}", std::process::id()));
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
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
            panic!("{tag} {:?} timed out after {timeout:?}", cmd.get_args());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = std::fs::read(&out_path).unwrap_or_default();
    let stderr =
        String::from_utf8_lossy(&std::fs::read(&err_path).unwrap_or_default()).into_owned();
    let _ = std::fs::remove_file(out_path);
    let _ = std::fs::remove_file(err_path);
    Run {
        ok: status.success(),
        stdout,
        stderr,
    }
}

/// Run `openssl` with `args` in `dir` (bounded), panicking with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let r = run_bounded(
        Command::new("openssl").args(args),
        dir,
        Duration::from_secs(20),
    );
    assert!(r.ok, "openssl {} failed: {}", args.join(" "), r.stderr);
    r.stdout
}

/// Decode the first PEM block of `pem` to DER.
pub fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    pem_all(pem).into_iter().next().expect("a PEM block")
}

/// Decode every PEM block of `pem` to DER.
pub fn pem_all(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = std::str::from_utf8(pem).expect("PEM is text");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let block = &rest[begin..];
        let end = block.find("-----END ").expect("PEM end");
        let line_end = block[end..]
            .find('\n')
            .map(|i| end + i + 1)
            .unwrap_or(block.len());
        let (_, der) = pki::der::pem::decode_vec(&block.as_bytes()[..line_end]).expect("valid PEM");
        out.push(der);
        rest = &block[line_end..];
    }
    out
}

/// The provider names this build must have compiled, from the enabled cargo features.
pub fn expected_provider_names() -> Vec<&'static str> {
    let mut v = vec!["rustcrypto"];
    if cfg!(feature = "aws-lc") {
        v.push("aws-lc");
    }
    v
}
