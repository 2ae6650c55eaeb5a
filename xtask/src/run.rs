//! Running commands and timing steps.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A command line as the user would type it, for messages.
pub fn display(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    if let Some(dir) = cmd.get_current_dir() {
        s = format!("(cd {} && {s})", dir.display());
    }
    s
}

/// Run `cmd` with inherited stdio; a non-zero exit is an error naming the command.
pub fn status(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    println!("$ {line}");
    let st = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !st.success() {
        bail!("`{line}` failed ({st})");
    }
    Ok(())
}

/// Whether `cmd` runs and exits 0, with its output discarded.
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Run `cmd` and return its stdout; a non-zero exit is an error carrying its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let line = display(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Counts read from libtest's `test result:` lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

/// Run `cmd` (a `cargo test`), echoing its stdout line by line and adding up the
/// `test result: ok. N passed; M failed; K ignored; ...` lines.
pub fn cargo_test(cmd: &mut Command) -> Result<TestCounts> {
    let line = display(cmd);
    println!("$ {line}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    let mut counts = TestCounts::default();
    if let Some(out) = child.stdout.take() {
        for l in BufReader::new(out).lines() {
            let l = l.context("reading cargo test output")?;
            println!("{l}");
            if let Some(rest) = l.strip_prefix("test result: ") {
                add_counts(&mut counts, rest);
            }
        }
    }
    let st = child.wait().context("waiting for cargo test")?;
    if !st.success() {
        bail!("`{line}` failed ({st})");
    }
    Ok(counts)
}

fn add_counts(c: &mut TestCounts, rest: &str) {
    // "ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s"
    let rest = rest.split_once(". ").map_or(rest, |(_, r)| r);
    for part in rest.split(';') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match what {
            "passed" => c.passed += n,
            "failed" => c.failed += n,
            "ignored" => c.ignored += n,
            _ => {}
        }
    }
}

/// Named, timed steps, printed as a table at the end (or when one fails).
#[derive(Default)]
pub struct Steps {
    done: Vec<(String, Duration, &'static str)>,
}

impl Steps {
    /// Run `f` as the step `name`, recording its time; its error is returned with the name.
    pub fn step(&mut self, name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
        println!("\n==> {name}");
        let start = Instant::now();
        let r = f();
        let took = start.elapsed();
        self.done.push((
            name.to_owned(),
            took,
            if r.is_ok() { "ok" } else { "FAILED" },
        ));
        r.with_context(|| format!("step `{name}` failed"))
    }

    /// Record a step that was skipped on purpose.
    pub fn skip(&mut self, name: &str, why: &'static str) {
        println!("\n==> {name}: skipped ({why})");
        self.done.push((name.to_owned(), Duration::ZERO, why));
    }

    /// The timing table.
    pub fn summary(&self) -> String {
        let width = self
            .done
            .iter()
            .map(|d| d.0.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut s = format!("{:<width$}  {:>9}  result\n", "step", "time");
        let mut total = Duration::ZERO;
        for (name, took, res) in &self.done {
            total += *took;
            s.push_str(&format!(
                "{name:<width$}  {:>9}  {res}\n",
                fmt_duration(*took)
            ));
        }
        s.push_str(&format!(
            "{:<width$}  {:>9}\n",
            "total",
            fmt_duration(total)
        ));
        s
    }
}

/// `1m 23.4s` / `12.3s`.
pub fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 60.0 {
        format!("{}m {:04.1}s", (secs / 60.0).floor(), secs % 60.0)
    } else {
        format!("{secs:.1}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_summary_lines_add_up() {
        let mut c = TestCounts::default();
        add_counts(
            &mut c,
            "ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s",
        );
        add_counts(
            &mut c,
            "FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        assert_eq!((c.passed, c.failed, c.ignored), (13, 2, 3));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(fmt_duration(Duration::from_millis(83_400)), "1m 23.4s");
    }
}
