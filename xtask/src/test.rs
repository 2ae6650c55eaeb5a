//! `cargo xtask test`: the whole test suite, in the order CI runs it, failing fast.
//!
//! The workspace is built and tested once with every feature (so `admitd` has both crypto
//! providers), and the library crates ([`LIBRARY_CRATES`]) once more per provider alone
//! ([`PROVIDERS`]): that proves each provider builds, lints, documents and passes every crypto
//! suite without the other compiled in.

use std::process::Command;

use anyhow::{Result, bail};

use crate::{fuzz, install, repo_root, run, vectors_dir};

/// The library crates whose crypto runs through `pki`'s providers; each forwards the
/// provider features to `pki`.
pub const LIBRARY_CRATES: &[&str] = &["pki", "scep", "devauth", "attestation"];

/// The provider features, each tested alone on [`LIBRARY_CRATES`].
pub const PROVIDERS: &[&str] = &["rustcrypto", "aws-lc"];

/// `cargo <sub> -p pki -p scep ... --no-default-features --features <provider>`.
fn one_provider_args(sub: &'static str, provider: &'static str) -> Vec<&'static str> {
    let mut args = vec![sub, "--locked"];
    for krate in LIBRARY_CRATES {
        args.extend(["-p", krate]);
    }
    args.extend(["--no-default-features", "--features", provider]);
    args
}

/// Options of `cargo xtask test`.
#[derive(Debug, Default)]
pub struct Options {
    /// Skip cargo-deny and the fuzz runs.
    pub quick: bool,
    /// Install nothing; fail when a tool is missing.
    pub no_install: bool,
}

/// Run every step; print the step times whether or not one fails.
pub fn run(opts: &Options) -> Result<()> {
    let mut steps = run::Steps::default();
    let r = all_steps(opts, &mut steps);
    println!("\n{}", steps.summary());
    let counts = r?;
    println!("xtask test: every step passed");
    // The closing line, in the plain `N passed, N failed` form CI logs are read for (libtest's
    // ignored tests counted as skipped).
    println!(
        "tests: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.ignored
    );
    Ok(())
}

fn all_steps(opts: &Options, steps: &mut run::Steps) -> Result<run::TestCounts> {
    let root = repo_root();
    let cargo = |args: &[&str]| {
        let mut c = Command::new("cargo");
        // Incremental state is only worth its disk for edit-compile loops; a suite run
        // compiles each crate once per feature set (it was 13 GB of a 32 GB target dir).
        c.args(args)
            .current_dir(&root)
            .env("CARGO_INCREMENTAL", "0");
        c
    };

    // The vectors first: without them most suites cannot run, so say so before building.
    let vectors = vectors_dir()?;
    println!("vectors: {}", vectors.display());

    if opts.no_install {
        steps.skip("install", "--no-install");
        if !opts.quick {
            install::check_cargo_tools(&["fuzz", "deny"])?;
        }
    } else {
        steps.step("install", || install::ensure(!opts.quick))?;
    }

    steps.step("fmt", || {
        run::status(&mut cargo(&["fmt", "--all", "--", "--check"]))
    })?;
    steps.step("clippy", || {
        run::status(&mut cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    for provider in PROVIDERS {
        steps.step(
            &format!("clippy ({provider} alone, library crates)"),
            || {
                let mut args = one_provider_args("clippy", provider);
                args.extend(["--all-targets", "--", "-D", "warnings"]);
                run::status(&mut cargo(&args))
            },
        )?;
    }
    steps.step("clippy (fuzz crate)", || {
        let mut c = Command::new("cargo");
        c.env("CARGO_INCREMENTAL", "0")
            .args([
                "clippy",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ])
            .current_dir(root.join("fuzz"));
        run::status(&mut c)
    })?;
    let mut counts = run::TestCounts::default();
    steps.step("test", || {
        counts = run::cargo_test(&mut cargo(&[
            "test",
            "--workspace",
            "--all-features",
            "--locked",
        ]))?;
        if counts.failed > 0 {
            bail!("{} tests failed", counts.failed);
        }
        if counts.passed == 0 {
            bail!("cargo test ran no test");
        }
        Ok(())
    })?;
    for provider in PROVIDERS {
        steps.step(&format!("test ({provider} alone, library crates)"), || {
            let c = run::cargo_test(&mut cargo(&one_provider_args("test", provider)))?;
            if c.failed > 0 {
                bail!("{} tests failed with {provider} alone", c.failed);
            }
            if c.passed == 0 {
                bail!("cargo test ran no test with {provider} alone");
            }
            counts.passed += c.passed;
            counts.ignored += c.ignored;
            Ok(())
        })?;
    }
    steps.step("bench smoke (cargo test --benches)", || {
        let c = run::cargo_test(&mut cargo(&[
            "test",
            "--benches",
            "--locked",
            "-p",
            "benches",
        ]))?;
        counts.passed += c.passed;
        Ok(())
    })?;
    // A doc link to an item of the other provider breaks only when that provider is compiled
    // out, so the library crates' docs are built once per provider alone too (before the
    // all-features docs, which are the ones left in target/doc).
    for provider in PROVIDERS {
        steps.step(&format!("doc ({provider} alone, library crates)"), || {
            let mut args = one_provider_args("doc", provider);
            args.push("--no-deps");
            let mut c = cargo(&args);
            c.env("RUSTDOCFLAGS", "-Dwarnings");
            run::status(&mut c)
        })?;
    }
    steps.step("doc", || {
        let mut c = cargo(&[
            "doc",
            "--workspace",
            "--no-deps",
            "--all-features",
            "--locked",
        ]);
        c.env("RUSTDOCFLAGS", "-Dwarnings");
        run::status(&mut c)
    })?;
    if opts.quick {
        steps.skip("deny", "--quick");
        steps.skip("fuzz", "--quick");
    } else {
        steps.step("deny", || {
            // No `--offline`: cargo metadata may have to download crates of other platforms.
            // The advisory database is not fetched (advisories are not checked).
            run::status(&mut cargo(&[
                "deny",
                "--locked",
                "--all-features",
                "check",
                "licenses",
                "bans",
                "sources",
            ]))
        })?;
        steps.step("fuzz seeds", || fuzz::copy_seeds(&root, &vectors))?;
        steps.step("fuzz build", || fuzz::build(&root))?;
        for (target, seconds) in fuzz::TARGETS {
            steps.step(&format!("fuzz {target} ({seconds}s)"), || {
                fuzz::smoke(&root, target, *seconds)
            })?;
        }
    }
    Ok(counts)
}
