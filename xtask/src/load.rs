//! `cargo xtask load`: build `admitd` and the `scep_load` driver in release, then run the
//! driver inside a private network namespace (`unshare -n`, loopback brought up), where it
//! starts `admitd` with each provider and Debian's `scepserver` and floods each with the same
//! number of distinct PKCSReq messages. Nothing listens outside the namespace. Options after
//! `load` go to the driver (`--messages N`, `--levels 1,4,16`, `--no-scepserver`,
//! `--providers aws-lc,rustcrypto`, and `--baseline PATH` to run another `admitd` build beside
//! this one in the same run, e.g. a copy of `target/release/admitd` saved before a change).

use std::process::Command;

use anyhow::{Result, bail};

use crate::{repo_root, run, target_dir};

/// Build, then run the load driver with `args`.
pub fn run(args: &[String]) -> Result<()> {
    let root = repo_root();
    run::status(
        Command::new("cargo")
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "admitd",
                "--bin",
                "admitd",
            ])
            .args(["-p", "benches", "--bin", "scep_load"])
            .current_dir(&root),
    )?;
    let release = target_dir().join("release");
    let (admitd, driver) = (release.join("admitd"), release.join("scep_load"));
    if which("scepserver").is_none() && !args.iter().any(|a| a == "--no-scepserver") {
        bail!("scepserver not found: `apt-get install scep`, or pass --no-scepserver");
    }
    let mut c = Command::new("unshare");
    c.args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(&driver)
        .arg("--admitd")
        .arg(&admitd)
        .args(args)
        .current_dir(&root);
    run::status(&mut c)
}

/// `cargo xtask load-mdm`: build `admitd` and the `admit-sim-load` driver in release, then
/// run the driver (SQLite and PostgreSQL; enrollments, then check-ins; throughput, p99 per
/// endpoint, admitd's CPU seconds per request). Options after `load-mdm` go to the driver
/// (`--devices N`, `--rounds R`, `--concurrency C`, `--backends sqlite,postgres`).
pub fn run_mdm(args: &[String]) -> Result<()> {
    let root = repo_root();
    run::status(
        Command::new("cargo")
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "admitd",
                "--bin",
                "admitd",
            ])
            .args(["-p", "admit-sim", "--bin", "admit-sim-load"])
            .current_dir(&root),
    )?;
    let release = target_dir().join("release");
    run::status(
        Command::new(release.join("admit-sim-load"))
            .arg("--admitd")
            .arg(release.join("admitd"))
            .args(args)
            .current_dir(&root),
    )
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|f| f.is_file())
    })
}
