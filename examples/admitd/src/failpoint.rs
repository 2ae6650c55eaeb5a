//! Crash points for tests: `ADMITD_FAILPOINT=<name>` makes the process kill itself with SIGKILL
//! when it reaches the point called `<name>`, so a test can prove that a crash there loses
//! nothing a client was told was done. Unset (always, outside tests), a point costs one read
//! of a value cached at first use.
//!
//! Points: `scep-before-commit` (the SCEP issuance transaction is written but not committed)
//! and `scep-after-commit` (committed, reply not yet sent).

use std::sync::OnceLock;

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var("ADMITD_FAILPOINT").ok())
        .as_deref()
}

/// Die here, as `kill -9` would, if this point is armed.
pub fn hit(name: &str) {
    if armed() != Some(name) {
        return;
    }
    tracing::error!(point = name, "failpoint reached: killing the process");
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status();
    // If `kill` could not be run, stop just as abruptly: no destructors, no flushing.
    std::process::abort();
}
