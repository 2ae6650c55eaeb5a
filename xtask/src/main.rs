//! Project automation for the admit workspace.
//!
//! ```text
//! cargo xtask test [--quick] [--no-install]   the whole test suite (what CI runs)
//! cargo xtask bench-compare                   criterion benches next to OpenSSL
//! cargo xtask load [driver options]            SCEP load: admitd (each provider) vs scepserver
//! cargo xtask load-mdm [driver options]        MDM load: admit-sim devices against admitd (SQLite, PostgreSQL)
//! cargo xtask fuzz-seeds                      fill fuzz/corpus/<target>/ from the vectors
//! cargo xtask gen-apple                       regenerate mdm-proto/src/generated/ and ddm/src/generated/ from Apple's schema
//! ```
//!
//! Plain `std::process::Command`: every step is a cargo (or openssl) invocation that a developer
//! could type by hand; this program only orders them, installs what is missing and times them.

#![forbid(unsafe_code)]

mod bench;
mod fuzz;
mod gen_apple;
mod install;
mod load;
mod run;
mod test;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test            fmt, clippy (workspace and fuzz crate), tests, bench smoke run, docs,
                  cargo-deny and a short run of every fuzz target
      --quick       skip cargo-deny and the fuzz runs (local use)
      --no-install  do not install missing Debian packages or cargo tools
  bench-compare   run the criterion benches in release and print them beside OpenSSL
  load            SCEP load in a private network namespace: admitd (aws-lc, rustcrypto)
                  against Debian's scepserver at concurrency 1, 4, 16 (throughput, p50, p99)
      --messages N  --levels 1,4,16  --no-scepserver
  load-mdm        MDM load with admit-sim: N enrollments (invite, SCEP, Authenticate,
                  TokenUpdate), then R Idle check-ins per device, on SQLite and PostgreSQL
                  (throughput, p50/p99 per endpoint, admitd CPU seconds per request)
      --devices 1000  --rounds 10  --concurrency 32  --backends sqlite,postgres
  fuzz-seeds      copy seed corpora from the vectors into fuzz/corpus/<target>/
  gen-apple       regenerate mdm-proto/src/generated/ and ddm/src/generated/ from Apple's schema
  help            this text
";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("\nxtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_else(|| "help".to_owned());
    let rest: Vec<String> = args.collect();
    match cmd.as_str() {
        "test" => {
            let mut opts = test::Options::default();
            for a in &rest {
                match a.as_str() {
                    "--quick" => opts.quick = true,
                    "--no-install" => opts.no_install = true,
                    other => bail!("unknown option for `test`: {other}\n\n{USAGE}"),
                }
            }
            test::run(&opts)
        }
        "bench-compare" => {
            if let Some(a) = rest.first() {
                bail!("`bench-compare` takes no options (got {a})\n\n{USAGE}");
            }
            bench::compare()
        }
        "load" => load::run(&rest),
        "load-mdm" => load::run_mdm(&rest),
        "fuzz-seeds" => {
            let vectors = vectors_dir()?;
            fuzz::copy_seeds(&repo_root(), &vectors)
        }
        "gen-apple" => {
            if let Some(a) = rest.first() {
                bail!("`gen-apple` takes no options (got {a})\n\n{USAGE}");
            }
            gen_apple::run(&vectors_dir()?, &repo_root())
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command: {other}\n\n{USAGE}"),
    }
}

/// The workspace root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The shared vectors folder: `$ADMIT_VECTORS`, else `../shared/vectors` beside the repo root.
/// Missing is an error naming the places looked at.
pub fn vectors_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ADMIT_VECTORS") {
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            bail!(
                "test vectors not found: ADMIT_VECTORS={} is not a directory",
                dir.display()
            );
        }
        return Ok(dir);
    }
    let dir = repo_root().join("../shared/vectors");
    if !dir.is_dir() {
        bail!(
            "test vectors not found: looked at $ADMIT_VECTORS (unset) and {}; \
             put the shared vectors folder beside the repository or set ADMIT_VECTORS",
            dir.display()
        );
    }
    dir.canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))
}

/// The cargo target directory in effect (`$CARGO_TARGET_DIR`, else `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                repo_root().join(d)
            }
        }
        None => repo_root().join("target"),
    }
}
