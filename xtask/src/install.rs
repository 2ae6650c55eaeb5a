//! Installing what the test suite needs on a fresh Debian machine.

use std::process::Command;

use anyhow::{Result, bail};

use crate::run;

/// Debian packages the tests and builds use: OpenSSL (tool and headers, for the interop tests and
/// the `openssl` crate in the benches), the C toolchain aws-lc-sys builds with, and the real peers
/// the interop tests start (swtpm + tpm2-tools as a TPM, certmonger as a SCEP client, iproute2
/// for network namespaces); `xxhash` (xxhsum) and `python3-yaml` are the independent sides of
/// the `ddm` tests (KMFDDM's token hash, synthetic declarations built from the schema), and
/// `gobjc` + `libgnustep-base-dev` + `gnustep-make` build GNUstep's NSPredicate for its
/// predicate tests; `python3-venv` holds the Python peers of [`PYTHON_PACKAGES`].
pub const DEBIAN_PACKAGES: &[&str] = &[
    "openssl",
    "libssl-dev",
    "pkg-config",
    "cmake",
    "clang",
    "curl",
    "swtpm",
    "swtpm-tools",
    "tpm2-tools",
    "certmonger",
    "iproute2",
    "util-linux",
    "mender-client",
    "scep",
    "postgresql",
    "xxhash",
    "python3-yaml",
    "gobjc",
    "libgnustep-base-dev",
    "gnustep-make",
    "python3-venv",
];

/// Python packages (from PyPI, pinned) the tests run as independent peers, installed into the
/// virtual environment [`PYTHON_VENV`]: `scim2-tester` checks admitd's SCIM server.
pub const PYTHON_PACKAGES: &[&str] = &["scim2-tester[httpx2]==0.5.2"];

/// The tests' Python virtual environment, relative to the workspace root (the tests find it
/// there, or where `ADMIT_PYTHON_VENV` says).
pub const PYTHON_VENV: &str = ".venv-test";

/// Cargo subcommands the test suite runs: (subcommand, crate to install).
pub const CARGO_TOOLS: &[(&str, &str)] = &[("fuzz", "cargo-fuzz"), ("deny", "cargo-deny")];

/// Rustup components the test suite runs: (cargo subcommand, component).
const COMPONENTS: &[(&str, &str)] = &[("fmt", "rustfmt"), ("clippy", "clippy")];

/// Install whatever is missing: Debian packages (as root, with apt-get), rustup components and
/// cargo tools. `need_cargo_tools` is false for `--quick`, which runs neither deny nor fuzz.
pub fn ensure(need_cargo_tools: bool) -> Result<()> {
    ensure_debian_packages()?;
    ensure_python_packages()?;
    for (sub, component) in COMPONENTS {
        if !run::succeeds(Command::new("cargo").args([sub, "--version"])) {
            run::status(Command::new("rustup").args(["component", "add", component]))?;
        }
    }
    if need_cargo_tools {
        let missing: Vec<&str> = CARGO_TOOLS
            .iter()
            .filter(|(sub, _)| !cargo_subcommand_present(sub))
            .map(|(_, krate)| *krate)
            .collect();
        if !missing.is_empty() {
            let mut cmd = Command::new("cargo");
            cmd.args(["install", "--locked"]).args(&missing);
            // Build the tools in their own directory, not the workspace's target dir.
            cmd.env_remove("CARGO_TARGET_DIR");
            run::status(&mut cmd)?;
        }
    }
    Ok(())
}

/// Fail with a clear message when a tool that `--no-install` promised not to install is absent.
pub fn check_cargo_tools(need: &[&str]) -> Result<()> {
    for sub in need {
        if !cargo_subcommand_present(sub) {
            let krate = CARGO_TOOLS
                .iter()
                .find(|(s, _)| s == sub)
                .map_or(*sub, |(_, k)| *k);
            bail!("`cargo {sub}` is not installed: run `cargo install --locked {krate}`");
        }
    }
    Ok(())
}

fn cargo_subcommand_present(sub: &str) -> bool {
    run::succeeds(Command::new("cargo").args([sub, "--version"]))
}

/// The packages of [`DEBIAN_PACKAGES`] that dpkg does not list as installed. `None` when this is
/// not a dpkg system.
pub fn missing_debian_packages() -> Option<Vec<&'static str>> {
    if !run::succeeds(Command::new("dpkg-query").arg("--version")) {
        return None;
    }
    Some(
        DEBIAN_PACKAGES
            .iter()
            .copied()
            .filter(|p| {
                let out = Command::new("dpkg-query")
                    .args(["-W", "-f=${Status}", p])
                    .output();
                !matches!(out, Ok(o) if o.status.success()
                    && String::from_utf8_lossy(&o.stdout).ends_with("install ok installed"))
            })
            .collect(),
    )
}

fn ensure_debian_packages() -> Result<()> {
    let Some(missing) = missing_debian_packages() else {
        println!(
            "not a Debian system (no dpkg-query): make sure these are installed: {}",
            DEBIAN_PACKAGES.join(" ")
        );
        return Ok(());
    };
    if missing.is_empty() {
        println!("Debian packages: all present");
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing Debian packages: {m}; install them with \
             `sudo apt-get update && sudo apt-get install -y {m}` (or run as root)",
            m = missing.join(" ")
        );
    }
    run::status(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    run::status(
        Command::new("apt-get")
            .args(["install", "-y"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    Ok(())
}

fn is_root() -> bool {
    run::output(Command::new("id").arg("-u")).is_ok_and(|s| s.trim() == "0")
}

/// Create the tests' virtual environment if needed and install [`PYTHON_PACKAGES`] into it
/// (pip skips what is already there at the pinned version).
fn ensure_python_packages() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let venv = root.join(PYTHON_VENV);
    let python = venv.join("bin/python");
    if !python.exists() {
        run::status(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let present = PYTHON_PACKAGES.iter().all(|p| {
        let name = p.split(['[', '=']).next().unwrap_or(p);
        let version = p.rsplit("==").next().unwrap_or("");
        run::output(Command::new(&python).args(["-m", "pip", "show", name]))
            .is_ok_and(|o| o.lines().any(|l| l.trim() == format!("Version: {version}")))
    });
    if present {
        println!("Python packages: all present");
        return Ok(());
    }
    run::status(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PYTHON_PACKAGES),
    )
}
