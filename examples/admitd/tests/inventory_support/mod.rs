//! Helpers for the inventory and SCIM tests: an HTTPS client (curl, trusting the server's
//! root) with the admin or the SCIM token, and a server started with an `[inventory]` config.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::backend::Backend;
use crate::common::{self, Admitd};

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Raw header block.
    pub headers: String,
    /// Body text.
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// A running admitd with its data directory and tokens.
pub struct Server {
    /// The process.
    pub admitd: Admitd,
    /// Its data directory.
    pub data: PathBuf,
    /// Scratch space.
    pub dir: PathBuf,
    /// The admin token.
    pub admin_token: String,
    /// The SCIM token.
    pub scim_token: String,
}

/// The SCIM token the tests configure.
pub const SCIM_TOKEN: &str = "scim-token-0123456789abcdef";

impl Server {
    /// Start admitd on `backend` with `[inventory]` settings `inventory_toml` (lines of TOML).
    pub fn start(root: &Path, backend: &Backend, inventory_toml: &str) -> Server {
        Self::start_with(root, backend, inventory_toml, &[])
    }

    /// [`Server::start`] with more admitd flags.
    pub fn start_with(
        root: &Path,
        backend: &Backend,
        inventory_toml: &str,
        flags: &[&str],
    ) -> Server {
        let data = root.join("data");
        let dir = root.join("scratch");
        std::fs::create_dir_all(&dir).unwrap();
        let config = root.join("admitd.toml");
        std::fs::write(
            &config,
            format!(
                "[inventory]\nscim_token = \"{SCIM_TOKEN}\"\norg = \"acme\"\n{inventory_toml}\n"
            ),
        )
        .unwrap();
        let mut extra = vec!["--config", config.to_str().unwrap()];
        extra.extend(backend.args());
        extra.extend_from_slice(flags);
        let admitd = Admitd::start(&data, &extra);
        let admin_token = std::fs::read_to_string(data.join("devauth/admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        Server {
            admitd,
            data,
            dir,
            admin_token,
            scim_token: SCIM_TOKEN.into(),
        }
    }

    /// The root CA the HTTPS certificate chains to.
    pub fn root(&self) -> PathBuf {
        self.data.join("ca/root.pem")
    }

    /// `https://localhost:PORT`.
    pub fn base(&self) -> String {
        format!("https://localhost:{}", self.admitd.https.port())
    }

    /// A request with `Authorization: <auth>` (none when empty), optional body and content
    /// type.
    pub fn call(&self, method: &str, path: &str, auth: &str, body: Option<(&str, &str)>) -> Answer {
        let n = counter();
        let body_file = self.dir.join(format!("body-{n}"));
        let headers = self.dir.join(format!("headers-{n}"));
        let url = format!("{}{path}", self.base());
        let resolve = format!("localhost:{}:127.0.0.1", self.admitd.https.port());
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "30", "--globoff", "-o"])
            .arg(&body_file)
            .arg("-D")
            .arg(&headers)
            .args(["-w", "%{http_code}", "--cacert"])
            .arg(self.root())
            .args(["--resolve", &resolve, "-X", method]);
        if !auth.is_empty() {
            cmd.args(["-H", &format!("Authorization: {auth}")]);
        }
        if let Some((ct, b)) = body {
            let req = self.dir.join(format!("req-{n}"));
            std::fs::write(&req, b).unwrap();
            cmd.args(["-H", &format!("Content-Type: {ct}"), "--data-binary"])
                .arg(format!("@{}", req.display()));
        }
        cmd.arg(&url);
        let out = common::run(&mut cmd);
        assert!(
            out.status.success(),
            "curl {method} {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Answer {
            status: String::from_utf8_lossy(&out.stdout).trim().parse().unwrap(),
            headers: std::fs::read_to_string(&headers).unwrap_or_default(),
            body: std::fs::read_to_string(&body_file).unwrap_or_default(),
        }
    }

    /// An admin API call with a JSON body.
    pub fn admin(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Answer {
        let b = body.map(|b| b.to_string());
        self.call(
            method,
            path,
            &format!("Bearer {}", self.admin_token),
            b.as_deref().map(|b| ("application/json", b)),
        )
    }

    /// A SCIM call with a `application/scim+json` body, the token sent as Okta's header mode
    /// does (`Bearer` optional).
    pub fn scim(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Answer {
        let b = body.map(|b| b.to_string());
        self.call(
            method,
            &format!("/scim/v2{path}"),
            &format!("Bearer {}", self.scim_token),
            b.as_deref().map(|b| ("application/scim+json", b)),
        )
    }
}

fn counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Percent-encode an instance ID for a path segment.
pub fn enc(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
