//! Runs the `devauth-hyper` binary on 127.0.0.1:0 and authenticates devices against it over
//! real HTTP (curl), the way the Mender client does: Ed25519 keys and `X-MEN-Signature`
//! signatures are made by the `openssl` CLI (`pkeyutl -sign -rawin`), never by our code.
//!
//! A device that is not preauthorized gets 401 (pending); the device preauthorized with
//! `--preauthorize` gets 200 and a JWT, which the verify endpoint accepts; the same token with
//! its signature or its claims changed is refused (401).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use base64::Engine as _;

/// The running example; killed (by its PID) and reaped when dropped, whatever the test did.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(preauthorize: &Path) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_devauth-hyper"))
            .args(["--listen", "127.0.0.1:0", "--preauthorize"])
            .arg(preauthorize)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn devauth-hyper");
        // The guard exists from here on, so a failed start still kills the child.
        let mut server = Server {
            child,
            addr: String::new(),
        };
        let stdout = server.child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        // EOF (an empty line) means the server exited before listening; its stderr says why.
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        let addr = line.trim().strip_prefix("listening ");
        server.addr = addr
            .unwrap_or_else(|| panic!("first line {line:?}"))
            .to_owned();
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A device: an Ed25519 key made by openssl in `dir/name.key`, and its public key PEM.
struct Device<'a> {
    dir: &'a Path,
    name: &'static str,
    pubkey_pem: String,
}

impl<'a> Device<'a> {
    fn new(dir: &'a Path, name: &'static str) -> Self {
        let key = format!("{name}.key");
        openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", &key]);
        let pubkey_pem = openssl(dir, &["pkey", "-in", &key, "-pubout"]);
        Device {
            dir,
            name,
            pubkey_pem,
        }
    }

    /// POST a signed auth request for `mac`, as the Mender client lays it out: status, body.
    fn authenticate(&self, server: &Server, mac: &str) -> (u16, String) {
        let id_data = serde_json::json!({ "mac": mac }).to_string();
        let body = serde_json::json!({ "id_data": id_data, "pubkey": self.pubkey_pem, "tenant_token": "" });
        let (msg, sig) = (format!("{}.body", self.name), format!("{}.sig", self.name));
        std::fs::write(self.dir.join(&msg), format!("{body}\n")).unwrap();
        let key = format!("{}.key", self.name);
        openssl(
            self.dir,
            &[
                "pkeyutl", "-sign", "-rawin", "-inkey", &key, "-in", &msg, "-out", &sig,
            ],
        );
        let signature = base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(self.dir.join(&sig)).unwrap());
        let url = format!(
            "http://{}/api/devices/v1/authentication/auth_requests",
            server.addr
        );
        let header = format!("X-MEN-Signature: {signature}");
        let data = format!("@{msg}");
        curl(
            self.dir,
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-H",
                &header,
                "--data-binary",
                &data,
                &url,
            ],
        )
    }
}

/// curl with `args`: status and body.
fn curl(dir: &Path, args: &[&str]) -> (u16, String) {
    let out = run(Command::new("curl")
        .current_dir(dir)
        .args([
            "-sS",
            "--max-time",
            "60",
            "-o",
            "curl.out",
            "-w",
            "%{http_code}",
        ])
        .args(args));
    let status = String::from_utf8(out.stdout).unwrap().parse().unwrap();
    (
        status,
        std::fs::read_to_string(dir.join("curl.out")).unwrap(),
    )
}

fn verify(dir: &Path, server: &Server, token: &str) -> (u16, String) {
    let url = format!(
        "http://{}/api/internal/v1/devauth/tokens/verify",
        server.addr
    );
    curl(
        dir,
        &["-H", &format!("Authorization: Bearer {token}"), &url],
    )
}

#[test]
fn a_preauthorized_device_gets_a_token_that_verifies_and_others_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let known = Device::new(dir, "known");
    let preauth = serde_json::json!({ "identity_data": { "mac": "02:00:00:00:00:01" }, "pubkey": known.pubkey_pem });
    std::fs::write(dir.join("preauth.json"), preauth.to_string()).unwrap();
    let server = Server::start(&dir.join("preauth.json"));

    // Not preauthorized: recorded as pending, told 401 in Mender's error body.
    let stranger = Device::new(dir, "stranger");
    let (status, body) = stranger.authenticate(&server, "02:00:00:00:00:02");
    assert_eq!(status, 401, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("pending"),
        "{body}"
    );
    // The right identity with another key is not the preauthorized auth set either.
    assert_eq!(stranger.authenticate(&server, "02:00:00:00:00:01").0, 401);

    // Preauthorized: a JWT.
    let (status, token) = known.authenticate(&server, "02:00:00:00:00:01");
    assert_eq!(status, 200, "{token}");
    assert_eq!(token.split('.').count(), 3, "{token}");

    // The gateway check accepts it and shows its claims.
    let (status, body) = verify(dir, &server, &token);
    assert_eq!(status, 200, "{body}");
    let claims = &serde_json::from_str::<serde_json::Value>(&body).unwrap()["claims"];
    assert_eq!(
        (claims["iss"].as_str(), claims["mender.device"].as_bool()),
        (Some("Mender"), Some(true))
    );

    // Tampered: another signature, or other claims under the same signature.
    let (head, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut sig = b64.decode(signature).unwrap();
    sig[0] ^= 1;
    let forged_sig = format!("{head}.{payload}.{}", b64.encode(sig));
    let claims = String::from_utf8(b64.decode(payload).unwrap()).unwrap();
    let longer = claims.replacen("\"exp\":", "\"exp\":9", 1);
    let forged_claims = format!("{head}.{}.{signature}", b64.encode(longer));
    for forged in [forged_sig, forged_claims] {
        let (status, body) = verify(dir, &server, &forged);
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(verify(dir, &server, "not-a-token").0, 401);
}
