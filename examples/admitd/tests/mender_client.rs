//! The real Debian `mender-client` (3.4) against admitd on 127.0.0.1.
//!
//! `mender bootstrap` sends exactly one auth request and exits 0 with a token, 1 on a 401. The
//! client reads its identity from scripts in `/usr/share/mender/identity/` (fixed at build time,
//! empty on Debian), so each run happens as root in a private mount namespace
//! (`unshare -m --propagation private`) with a temporary directory bind-mounted over it, and a
//! temporary data directory; nothing outside the test's temporary directory is touched. A
//! recording TCP relay between the client and admitd counts the auth requests and captures the
//! token the client received, which the server's gateway check must then accept.

mod common;
mod devauth_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Admitd;
use devauth_support::{Api, ids};

const IDENTITY_DIR: &str = "/usr/share/mender/identity";
const AUTH_PATH: &str = "POST /api/devices/v1/authentication/auth_requests ";

/// Relays connections to admitd's HTTP listener and records both directions.
struct Relay {
    addr: SocketAddr,
    to_server: Arc<Mutex<Vec<u8>>>,
    to_client: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn pump(mut from: TcpStream, mut to: TcpStream, log: Arc<Mutex<Vec<u8>>>) {
    from.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                log.lock().unwrap().extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

impl Relay {
    fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let to_server = Arc::new(Mutex::new(Vec::new()));
        let to_client = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ts, tc, st) = (to_server.clone(), to_client.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let server = TcpStream::connect(upstream).unwrap();
                        let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                        let (ts, tc) = (ts.clone(), tc.clone());
                        std::thread::spawn(move || pump(client, server, ts));
                        std::thread::spawn(move || pump(s2, c2, tc));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Relay {
            addr,
            to_server,
            to_client,
            stop,
            thread: Some(thread),
        }
    }

    /// Forget what was recorded so far.
    fn reset(&self) {
        self.to_server.lock().unwrap().clear();
        self.to_client.lock().unwrap().clear();
    }

    fn auth_requests(&self) -> usize {
        let sent = String::from_utf8_lossy(&self.to_server.lock().unwrap()).into_owned();
        sent.matches(AUTH_PATH).count()
    }

    /// The body of the last 200 answer the client received.
    fn last_token(&self) -> Option<String> {
        let got = String::from_utf8_lossy(&self.to_client.lock().unwrap()).into_owned();
        let start = got.rfind("HTTP/1.1 200 ")?;
        let resp = &got[start..];
        let (head, body) = resp.split_once("\r\n\r\n")?;
        let len: usize = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })?;
        body.get(..len).map(str::to_owned)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One simulated device: its identity script, config and data directory.
struct Device {
    dir: PathBuf,
    identity: PathBuf,
    config: PathBuf,
    data: PathBuf,
}

impl Device {
    fn new(root: &Path, name: &str, server: SocketAddr, key: Option<&Path>, attrs: &str) -> Device {
        let dir = root.join(name);
        let identity = dir.join("identity");
        let data = dir.join("mender-data");
        std::fs::create_dir_all(&identity).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        let script = identity.join("mender-device-identity");
        std::fs::write(&script, format!("#!/bin/sh\nprintf '%s\\n' {attrs}\n")).unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        let mut conf = serde_json::json!({
            "ServerURL": format!("http://{server}"),
            "TenantToken": "",
            "UpdatePollIntervalSeconds": 1800,
            "InventoryPollIntervalSeconds": 28800,
            "RetryPollIntervalSeconds": 300,
        });
        if let Some(k) = key {
            conf["Security"] = serde_json::json!({ "AuthPrivateKey": k.display().to_string() });
        }
        let config = dir.join("mender.conf");
        std::fs::write(&config, conf.to_string()).unwrap();
        Device {
            dir,
            identity,
            config,
            data,
        }
    }

    /// `mender bootstrap` in a private mount namespace; returns the exit code and the output.
    fn bootstrap(&self) -> (i32, String) {
        let out = common::run(
            Command::new("unshare")
                .args(["-m", "--propagation", "private", "sh", "-c"])
                .arg(
                    "mount --bind \"$1\" \"$2\" && exec mender --config \"$3\" \
                     --fallback-config \"$4\" --data \"$5\" --no-syslog --log-level info bootstrap",
                )
                .arg("sh")
                .arg(&self.identity)
                .arg(IDENTITY_DIR)
                .arg(&self.config)
                .arg(self.dir.join("no-fallback.conf"))
                .arg(&self.data)
                .current_dir(&self.dir),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }
}

fn preflight() {
    let uid = common::run(Command::new("id").arg("-u"));
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the mender-client tests run the client in a private mount namespace and need root"
    );
    let v = common::run(Command::new("mender").arg("--version"));
    assert!(
        v.status.success() && String::from_utf8_lossy(&v.stdout).starts_with("3."),
        "the Debian mender-client 3.x package must be installed (apt-get install mender-client)"
    );
    assert!(
        Path::new(IDENTITY_DIR).is_dir(),
        "{IDENTITY_DIR} must exist (it comes with the mender-client package)"
    );
}

fn identity_dir_untouched() {
    assert_eq!(
        std::fs::read_dir(IDENTITY_DIR).unwrap().count(),
        0,
        "the bind mount leaked out of its namespace"
    );
}

#[test]
fn rsa_key_generated_by_the_client_is_pending_then_accepted_by_the_operator() {
    preflight();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("admit-data");
    let server = Admitd::start(&data, &["--devauth-allow-plain-http"]);
    let api = Api::new(&server, &data, tmp.path());
    let relay = Relay::start(server.http);
    let dev = Device::new(
        tmp.path(),
        "rsa",
        relay.addr,
        None,
        "mac=02:00:00:00:00:21 serial=MC-RSA",
    );

    // First request: pending, 401, exit 1.
    let (code, out) = dev.bootstrap();
    assert_eq!(code, 1, "{out}");
    assert_eq!(relay.auth_requests(), 1, "{out}");
    identity_dir_untouched();
    let device = api.only_device();
    assert_eq!(device["status"], "pending");
    assert_eq!(device["identity_data"]["serial"], "MC-RSA");
    assert_eq!(device["identity_data"]["mac"], "02:00:00:00:00:21");
    // The key is the one the client generated into its data directory (read by openssl).
    let key_file = dev.data.join("mender-agent.pem");
    assert!(key_file.exists(), "the client did not generate its key");
    let client_pub = common::openssl(
        tmp.path(),
        &["pkey", "-in", key_file.to_str().unwrap(), "-pubout"],
    );
    assert_eq!(device["auth_sets"][0]["pubkey"], client_pub.as_str());
    let modulus = common::openssl(
        tmp.path(),
        &["pkey", "-in", key_file.to_str().unwrap(), "-noout", "-text"],
    );
    assert!(modulus.contains("3072 bit"), "{modulus}");

    // The operator accepts; the next bootstrap gets a token the server accepts.
    let (dev_id, set_id) = ids(&device);
    let put = api.call(
        "PUT",
        &format!("/devices/{dev_id}/auth/{set_id}/status"),
        Some(r#"{"status":"accepted"}"#),
    );
    assert_eq!(put.status, 204, "{put:?}");
    relay.reset();
    let (code, out) = dev.bootstrap();
    assert_eq!(code, 0, "{out}");
    assert_eq!(relay.auth_requests(), 1, "{out}");
    let token = relay.last_token().expect("the client received a token");
    let check = api.verify_token(&token);
    assert_eq!(check.status, 200, "{check:?}");
    assert_eq!(check.json()["claims"]["sub"], dev_id.as_str());
    assert_eq!(check.json()["claims"]["jti"], set_id.as_str());
    identity_dir_untouched();
    drop(relay);
    server.stop();
}

#[test]
fn preauthorized_ed25519_device_gets_its_token_on_the_first_request() {
    preflight();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("admit-data");
    let server = Admitd::start(
        &data,
        &[
            "--devauth-jwt-key-type",
            "rsa",
            "--devauth-allow-plain-http",
        ],
    );
    let api = Api::new(&server, &data, tmp.path());
    let relay = Relay::start(server.http);
    let key = tmp.path().join("device-ed25519.pem");
    common::openssl(
        tmp.path(),
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            key.to_str().unwrap(),
        ],
    );
    let pubkey = common::openssl(
        tmp.path(),
        &["pkey", "-in", key.to_str().unwrap(), "-pubout"],
    );
    let pre = serde_json::json!({
        "identity_data": {"mac": "02:00:00:00:00:22", "serial": "MC-ED"},
        "pubkey": pubkey,
    });
    let created = api.call("POST", "/devices", Some(&pre.to_string()));
    assert_eq!(created.status, 201, "{created:?}");
    let dev_id = created
        .header("location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    let dev = Device::new(
        tmp.path(),
        "ed",
        relay.addr,
        Some(&key),
        "mac=02:00:00:00:00:22 serial=MC-ED",
    );
    let (code, out) = dev.bootstrap();
    assert_eq!(code, 0, "{out}");
    assert_eq!(relay.auth_requests(), 1, "{out}");
    let token = relay.last_token().expect("the client received a token");
    let check = api.verify_token(&token);
    assert_eq!(check.status, 200, "{check:?}");
    assert_eq!(check.json()["claims"]["sub"], dev_id.as_str());
    assert_eq!(check.json()["algorithm"], "RS256");
    let device = api.only_device();
    assert_eq!(device["status"], "accepted");

    // Rejected by the operator: the token is refused at once and the client gets 401 (exit 1).
    let (_, set_id) = ids(&device);
    let put = api.call(
        "PUT",
        &format!("/devices/{dev_id}/auth/{set_id}/status"),
        Some(r#"{"status":"rejected"}"#),
    );
    assert_eq!(put.status, 204);
    assert_eq!(api.verify_token(&token).status, 401);
    relay.reset();
    let (code, out) = dev.bootstrap();
    assert_eq!(code, 1, "{out}");
    assert_eq!(relay.auth_requests(), 1, "{out}");
    identity_dir_untouched();
    drop(relay);
    server.stop();
}
