//! Helpers for the device-auth tests: device keys and signatures made by openssl (not by our
//! code), auth request bodies in the Mender client's layout, and curl against admitd.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::common::{self, Admitd};

/// A device key made by `openssl genpkey`, with its PKIX public key PEM.
pub struct DeviceKey {
    /// The private key file (PKCS#8 PEM).
    pub key: PathBuf,
    /// The public key PEM text.
    pub pubkey_pem: String,
    ed25519: bool,
    dir: PathBuf,
}

fn counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl DeviceKey {
    /// A fresh Ed25519 key in `dir`.
    pub fn ed25519(dir: &Path) -> DeviceKey {
        Self::generate(dir, &["-algorithm", "ed25519"], true)
    }

    /// A fresh ECDSA P-256 key in `dir`.
    pub fn p256(dir: &Path) -> DeviceKey {
        Self::generate(
            dir,
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            false,
        )
    }

    fn generate(dir: &Path, alg: &[&str], ed25519: bool) -> DeviceKey {
        let n = counter();
        let key = dir.join(format!("device-{n}.key"));
        let mut args = vec!["genpkey"];
        args.extend_from_slice(alg);
        args.extend_from_slice(&["-out", key.to_str().unwrap()]);
        common::openssl(dir, &args);
        let pubkey_pem = common::openssl(dir, &["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
        DeviceKey {
            key,
            pubkey_pem,
            ed25519,
            dir: dir.to_owned(),
        }
    }

    /// The body the Mender client sends (`id_data`, `pubkey`, `tenant_token`, then a newline).
    pub fn body(&self, id_data: &str) -> Vec<u8> {
        let v = serde_json::json!({
            "id_data": id_data,
            "pubkey": self.pubkey_pem,
            "tenant_token": "",
        });
        format!("{v}\n").into_bytes()
    }

    /// The X-MEN-Signature of `body`, computed by openssl.
    pub fn sign(&self, body: &[u8]) -> String {
        let n = counter();
        let msg = self.dir.join(format!("msg-{n}.bin"));
        let sig = self.dir.join(format!("sig-{n}.bin"));
        std::fs::write(&msg, body).unwrap();
        let (k, m, s) = (
            self.key.to_str().unwrap(),
            msg.to_str().unwrap(),
            sig.to_str().unwrap(),
        );
        if self.ed25519 {
            common::openssl(
                &self.dir,
                &[
                    "pkeyutl", "-sign", "-rawin", "-inkey", k, "-in", m, "-out", s,
                ],
            );
        } else {
            common::openssl(&self.dir, &["dgst", "-sha256", "-sign", k, "-out", s, m]);
        }
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&sig).unwrap())
    }

    /// A signed request for `id_data`: (body, signature).
    pub fn request(&self, id_data: &str) -> (Vec<u8>, String) {
        let body = self.body(id_data);
        let sig = self.sign(&body);
        (body, sig)
    }
}

/// An HTTP answer: status, headers (lower-cased names), body.
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

    /// A header's value (first occurrence, name in any case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// Run curl with `args` (plus `-sS`, a time limit, and output capture).
pub fn curl(dir: &Path, args: &[&str]) -> Answer {
    match try_curl(dir, args) {
        Ok(a) => a,
        Err(e) => panic!("curl {args:?}: {e}"),
    }
}

/// [`curl`], with a transfer failure (the server went away) as the error instead of a panic.
pub fn try_curl(dir: &Path, args: &[&str]) -> Result<Answer, String> {
    let n = counter();
    let body = dir.join(format!("curl-body-{n}"));
    let headers = dir.join(format!("curl-headers-{n}"));
    let out = common::run(
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "-o"])
            .arg(&body)
            .arg("-D")
            .arg(&headers)
            .args(["-w", "%{http_code}"])
            .args(args),
    );
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(Answer {
        status: String::from_utf8_lossy(&out.stdout).trim().parse().unwrap(),
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        body: std::fs::read_to_string(&body).unwrap_or_default(),
    })
}

/// A management API client over HTTPS, trusting the server's root.
pub struct Api<'a> {
    /// The server.
    pub server: &'a Admitd,
    /// Its data directory.
    pub data: PathBuf,
    /// Scratch directory.
    pub dir: PathBuf,
    /// The admin bearer token.
    pub token: String,
}

impl<'a> Api<'a> {
    /// Read the generated admin token from the data directory.
    pub fn new(server: &'a Admitd, data: &Path, dir: &Path) -> Api<'a> {
        let token = std::fs::read_to_string(data.join("devauth/admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        Api {
            server,
            data: data.to_owned(),
            dir: dir.to_owned(),
            token,
        }
    }

    fn root(&self) -> String {
        self.data.join("ca/root.pem").display().to_string()
    }

    /// `METHOD https://server/api/management/v2/devauth{path}` with an optional JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        self.call_with_token(method, path, body, &self.token.clone())
    }

    /// The same with another bearer token.
    pub fn call_with_token(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: &str,
    ) -> Answer {
        let url = format!(
            "https://localhost:{}/api/management/v2/devauth{path}",
            self.server.https.port()
        );
        let auth = format!("Authorization: Bearer {token}");
        let root = self.root();
        let resolve = format!("localhost:{}:127.0.0.1", self.server.https.port());
        let mut args = vec![
            "--cacert",
            &root,
            "--resolve",
            &resolve,
            "-X",
            method,
            "-H",
            &auth,
        ];
        if let Some(b) = body {
            args.extend_from_slice(&["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        args.push(&url);
        curl(&self.dir, &args)
    }

    /// POST a signed auth request over HTTPS.
    pub fn auth_request(&self, body: &[u8], signature: &str) -> Answer {
        let url = format!(
            "https://localhost:{}/api/devices/v1/authentication/auth_requests",
            self.server.https.port()
        );
        self.post_auth(&url, body, signature, true)
    }

    /// POST a signed auth request over plain HTTP.
    pub fn auth_request_http(&self, body: &[u8], signature: &str) -> Answer {
        let url = format!(
            "http://127.0.0.1:{}/api/devices/v1/authentication/auth_requests",
            self.server.http.port()
        );
        self.post_auth(&url, body, signature, false)
    }

    /// POST a signed auth request over HTTPS; `Err` when the transfer fails (server gone).
    pub fn try_auth_request(&self, body: &[u8], signature: &str) -> Result<Answer, String> {
        let url = format!(
            "https://localhost:{}/api/devices/v1/authentication/auth_requests",
            self.server.https.port()
        );
        self.try_post_auth(&url, body, signature, true)
    }

    fn post_auth(&self, url: &str, body: &[u8], signature: &str, tls: bool) -> Answer {
        match self.try_post_auth(url, body, signature, tls) {
            Ok(a) => a,
            Err(e) => panic!("POST {url}: {e}"),
        }
    }

    fn try_post_auth(
        &self,
        url: &str,
        body: &[u8],
        signature: &str,
        tls: bool,
    ) -> Result<Answer, String> {
        let n = counter();
        let file = self.dir.join(format!("authreq-{n}.json"));
        std::fs::write(&file, body).unwrap();
        let data = format!("@{}", file.display());
        let sig = format!("X-MEN-Signature: {signature}");
        let root = self.root();
        let resolve = format!("localhost:{}:127.0.0.1", self.server.https.port());
        let mut args: Vec<&str> = Vec::new();
        if tls {
            args.extend_from_slice(&["--cacert", &root, "--resolve", &resolve]);
        }
        args.extend_from_slice(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-H",
            &sig,
            "--data-binary",
            &data,
            url,
        ]);
        try_curl(&self.dir, &args)
    }

    /// The gateway check of `token` over HTTPS.
    pub fn verify_token(&self, token: &str) -> Answer {
        let url = format!(
            "https://localhost:{}/api/internal/v1/devauth/tokens/verify",
            self.server.https.port()
        );
        let root = self.root();
        let resolve = format!("localhost:{}:127.0.0.1", self.server.https.port());
        let auth = format!("Authorization: Bearer {token}");
        curl(
            &self.dir,
            &[
                "--cacert",
                &root,
                "--resolve",
                &resolve,
                "-X",
                "POST",
                "-H",
                &auth,
                &url,
            ],
        )
    }

    /// The one device (panics unless exactly one exists).
    pub fn only_device(&self) -> serde_json::Value {
        let a = self.call("GET", "/devices", None);
        assert_eq!(a.status, 200, "{a:?}");
        let list = a.json();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        list[0].clone()
    }
}

/// The device's id and its first auth set's id.
pub fn ids(device: &serde_json::Value) -> (String, String) {
    (
        device["id"].as_str().unwrap().to_owned(),
        device["auth_sets"][0]["id"].as_str().unwrap().to_owned(),
    )
}
