//! `cargo xtask test`: the whole test suite, in the order CI runs it, failing fast.

use std::process::Command;

use anyhow::{Result, bail};

use crate::{fuzz, install, repo_root, run, vectors_dir};

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
        c.args(args).current_dir(&root);
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
    steps.step("clippy (fuzz crate)", || {
        let mut c = Command::new("cargo");
        c.args([
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
