//! admitd's ADE sync against the scripted Apple service (`ade_support`), on SQLite and
//! PostgreSQL: `admitd ade keypair`, a server token sealed to that certificate by
//! `openssl smime -encrypt` and imported with `admitd ade token import` (no secret in the
//! database afterwards), then the server's background sync. Round 1: account, profile
//! definition, a fetch whose session expires mid-way, a rotated session token, and an
//! assignment with a throttled device retried after `retry_after_seconds`. Round 2, after a
//! restart: continues with sync from the stored cursor and the kept session token. Round 3
//! (asked for through the admin API): a 429, honoured; round 4 follows by itself after the
//! `Retry-After`, not the hour-long interval.

mod ade_support;
mod backend;
mod common;
mod mdm_support;
mod scep_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ade_support::{Answer, Apple, TOKEN, answer, page, session_ok};
use backend::Backend;
use common::{ADMITD, Admitd, openssl, run};
use serde_json::{Value, json};

/// Run `admitd --data-dir DATA ARGS...`; returns (success, stdout, stderr).
fn admitd(data: &Path, backend: &Backend, args: &[&str]) -> (bool, String, String) {
    let out = run(Command::new(ADMITD)
        .arg("--data-dir")
        .arg(data)
        .args(backend.args())
        .args(args));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An admin API call: (status, JSON body).
fn api(server: &Admitd, data: &Path, method: &str, path: &str) -> (u16, Value) {
    let token = std::fs::read_to_string(data.join("devauth/admin-token")).unwrap();
    let out = run(Command::new("curl").args([
        "-sS",
        "--max-time",
        "20",
        "--cacert",
        data.join("ca/root.pem").to_str().unwrap(),
        "-H",
        &format!("Authorization: Bearer {}", token.trim()),
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        &format!("https://127.0.0.1:{}{path}", server.https.port()),
    ]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    let status = code.trim().parse().expect("status code");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Wait (bounded) until the token has finished `rounds` rounds; returns its listing.
fn wait_rounds(server: &Admitd, data: &Path, rounds: i64) -> Value {
    for _ in 0..600 {
        let (status, v) = api(server, data, "GET", "/api/v1/ade/tokens");
        assert_eq!(status, 200, "{v}");
        let t = &v["tokens"][0];
        if t["sync"]["rounds"].as_i64().unwrap_or(0) >= rounds {
            return t.clone();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("round {rounds} did not finish; log:\n{}", server.log_text());
}

/// Make the server token file Apple would send: the token JSON in a MIME part between
/// BEGIN/END MESSAGE, S/MIME-encrypted (RSA key transport, AES-128-CBC) to `cert` by openssl.
fn make_p7m(dir: &Path, cert: &Path) -> std::path::PathBuf {
    let message = format!(
        "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\
         -----BEGIN MESSAGE-----\n{}\n-----END MESSAGE-----\n",
        String::from_utf8_lossy(TOKEN)
    );
    std::fs::write(dir.join("message.txt"), message).unwrap();
    openssl(
        dir,
        &[
            "smime",
            "-encrypt",
            "-aes128",
            "-in",
            "message.txt",
            "-out",
            "token.p7m",
            cert.to_str().unwrap(),
        ],
    );
    dir.join("token.p7m")
}

/// Secrets that must never be stored in the clear.
const SECRETS: &[&str] = &["CS_scripted", "AT_scripted", "AS_scripted", "S2-rotated"];

/// Every byte the database holds about ADE secrets, as text to search.
fn stored_bytes(backend: &Backend, data: &Path) -> Vec<u8> {
    match backend {
        Backend::Sqlite => {
            let mut all = Vec::new();
            for f in ["admit.sqlite3", "admit.sqlite3-wal"] {
                all.extend(std::fs::read(data.join(f)).unwrap_or_default());
            }
            all
        }
        Backend::Postgres(pg, _) => pg
            .query(
                "admit",
                "SELECT string_agg(encode(t.sealed, 'escape') || ' ' || \
                 coalesce(encode(s.session_sealed, 'escape'), ''), ' ') \
                 FROM ade_tokens t JOIN ade_sync s ON s.token = t.name",
            )
            .into_bytes(),
    }
}

fn assert_no_secret(backend: &Backend, data: &Path) {
    let bytes = stored_bytes(backend, data);
    assert!(!bytes.is_empty(), "{}: nothing read", backend.name());
    for s in SECRETS {
        assert!(
            !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
            "{}: {s} stored in the clear",
            backend.name()
        );
    }
}

fn rotated(mut a: Answer, token: &str) -> Answer {
    a.headers.push(("X-ADM-Auth-Session", token.into()));
    a
}

fn devices_by_serial(server: &Admitd, data: &Path, query: &str) -> Vec<Value> {
    let (status, v) = api(server, data, "GET", &format!("/api/v1/ade/devices{query}"));
    assert_eq!(status, 200, "{v}");
    v["devices"].as_array().unwrap().clone()
}

fn scenario(backend: &Backend, rt: &tokio::runtime::Runtime) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");

    // The key pair and the certificate to upload.
    let (ok, out, err) = admitd(&data, backend, &["ade", "keypair"]);
    assert!(ok, "{err}");
    let cert = std::path::PathBuf::from(out.trim());
    assert_eq!(cert, data.join("ade/server.pem"));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(data.join("ade/server.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // openssl reads what we wrote: an RSA-2048 certificate.
    let text = openssl(
        dir,
        &["x509", "-in", cert.to_str().unwrap(), "-noout", "-text"],
    );
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");

    // A token encrypted to it, imported; nothing secret reaches the database.
    let p7m = make_p7m(dir, &cert);
    let (ok, out, err) = admitd(
        &data,
        backend,
        &[
            "ade",
            "token",
            "import",
            p7m.to_str().unwrap(),
            "--name",
            "abm1",
        ],
    );
    assert!(ok, "{err}");
    let imported: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(imported["consumer_key"], "CK_scripted");
    assert_eq!(imported["access_token_expiry"], "2030-01-01T00:00:00Z");
    for s in SECRETS {
        assert!(!out.contains(s) && !err.contains(s), "{s} printed");
    }
    assert_no_secret(backend, &data);
    // A token sealed for another key is refused with the reason.
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-subj",
            "/CN=other",
            "-days",
            "2",
        ],
    );
    std::fs::create_dir_all(dir.join("other")).unwrap();
    let other = make_p7m(&dir.join("other"), &dir.join("other.pem"));
    let (ok, _, err) = admitd(
        &data,
        backend,
        &[
            "ade",
            "token",
            "import",
            other.to_str().unwrap(),
            "--name",
            "x",
        ],
    );
    assert!(!ok);
    assert!(err.contains("recipient"), "{err}");

    // Round 1 at start: account, profile, a fetch with a session expiry and a rotation, and
    // an assignment with one device throttled.
    let apple = rt.block_on(Apple::start_for(
        vec![
            session_ok("S1"),
            answer(
                200,
                r#"{"server_name":"scripted-mdm","org_name":"Admit Test Org"}"#,
            ),
            answer(200, r#"{"profile_uuid":"P-test","devices":{}}"#),
            page("c1", true, &["A1", "A2"]),
            answer(401, "UNAUTHORIZED"),
            session_ok("S2"),
            rotated(page("c2", false, &["A3", "A4"]), "S2-rotated"),
            answer(
                200,
                json!({"profile_uuid":"P-test","devices":{"A1":"SUCCESS","A2":"THROTTLED",
                    "A3":"SUCCESS","A4":"NOT_ACCESSIBLE"},"retry_after_seconds":1})
                .to_string(),
            ),
            answer(
                200,
                r#"{"profile_uuid":"P-test","devices":{"A2":"SUCCESS"}}"#,
            ),
        ],
        admitd::ade::USER_AGENT,
    ));
    let config = dir.join("admitd.toml");
    std::fs::write(
        &config,
        format!(
            "[ade]\nurl = \"http://{}\"\nsync_interval_s = 3600\npage_limit = 2\n\
             [ade.profile]\nprofile_name = \"admit test\"\n\
             url = \"https://127.0.0.1/mdm/enroll/ade\"\nis_supervised = true\n",
            apple.addr
        ),
    )
    .unwrap();
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend(backend.args());
    let server = Admitd::start(&data, &args);
    let t = wait_rounds(&server, &data, 1);
    assert_eq!(t["sync"]["last_error"], Value::Null, "{t}");
    assert_eq!(t["name"], "abm1");
    assert_eq!(t["server_name"], "scripted-mdm");
    assert_eq!(t["sync"]["mode"], "sync");
    assert_eq!(t["sync"]["has_cursor"], true);
    assert_eq!(t["sync"]["session_cached"], true);
    assert_eq!(t["sync"]["profile_uuid"], "P-test");
    assert_eq!(
        apple.log(),
        [
            "GET /session",
            "GET /account [S1]",
            "POST /profile [S1]",
            "POST /server/devices [S1]",
            "POST /server/devices [S1]",
            "GET /session",
            "POST /server/devices [S2]",
            "POST /profile/devices [S2-rotated]",
            "POST /profile/devices [S2-rotated]",
        ]
    );
    assert_eq!(
        apple.bodies(),
        [
            json!({"profile_name":"admit test","url":"https://127.0.0.1/mdm/enroll/ade","is_supervised":true}),
            json!({"limit":2}),
            json!({"cursor":"c1","limit":2}),
            json!({"cursor":"c1","limit":2}),
            json!({"profile_uuid":"P-test","devices":["A1","A2","A3","A4"]}),
            json!({"profile_uuid":"P-test","devices":["A2"]}),
        ]
    );
    apple.assert_script_used();
    let devices = devices_by_serial(&server, &data, "");
    let states: Vec<(&str, &str, &str)> = devices
        .iter()
        .map(|d| {
            (
                d["serial"].as_str().unwrap(),
                d["assign_state"].as_str().unwrap_or("-"),
                d["profile_uuid"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("A1", "assigned", "P-test"),
            ("A2", "assigned", "P-test"),
            ("A3", "assigned", "P-test"),
            ("A4", "not_accessible", "-"),
        ]
    );
    assert_eq!(devices[0]["model"], "iPhone");
    assert_eq!(devices[0]["op_type"], "added");
    assert_eq!(devices[0]["profile_status"], "assigned");
    let a4 = devices_by_serial(&server, &data, "?serial=A4");
    assert_eq!(a4.len(), 1);
    assert_eq!(a4[0]["serial"], "A4");
    let assigned = devices_by_serial(&server, &data, "?profile_status=assigned&limit=2");
    assert_eq!(assigned.len(), 2);
    let (status, v) = api(&server, &data, "GET", "/api/v1/ade/devices?limit=x");
    assert_eq!(status, 400, "{v}");
    let (status, v) = api(&server, &data, "POST", "/api/v1/ade/tokens/nope/sync");
    assert_eq!(status, 404, "{v}");
    server.stop();
    assert_no_secret(backend, &data);

    // Round 2 after a restart: sync from the stored cursor, with the kept session token; no
    // new session, no account, no profile definition.
    apple.push(vec![
        page("c3", false, &["B1"]),
        answer(
            200,
            r#"{"profile_uuid":"P-test","devices":{"B1":"SUCCESS"}}"#,
        ),
    ]);
    let server = Admitd::start(&data, &args);
    let t = wait_rounds(&server, &data, 2);
    assert_eq!(t["sync"]["last_error"], Value::Null, "{t}");
    let log = apple.log();
    assert_eq!(
        log[9..],
        [
            "POST /devices/sync [S2-rotated]",
            "POST /profile/devices [S2-rotated]"
        ]
    );
    let bodies = apple.bodies();
    assert_eq!(
        bodies[6..],
        [
            json!({"cursor":"c2","limit":2}),
            json!({"profile_uuid":"P-test","devices":["B1"]}),
        ]
    );
    apple.assert_script_used();
    let b1 = devices_by_serial(&server, &data, "?serial=B1");
    assert_eq!(b1[0]["assign_state"], "assigned");

    // Round 3 on request: Apple throttles the page (429, Retry-After 1). The cursor stays;
    // round 4 runs after the Retry-After by itself.
    let mut throttled = answer(429, "");
    throttled.headers.push(("Retry-After", "1".into()));
    apple.push(vec![throttled, page("c4", false, &[])]);
    let (status, v) = api(&server, &data, "POST", "/api/v1/ade/tokens/abm1/sync");
    assert_eq!(status, 202, "{v}");
    let t = wait_rounds(&server, &data, 3);
    let error = t["sync"]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("throttled"), "{t}");
    let t = wait_rounds(&server, &data, 4);
    assert_eq!(t["sync"]["last_error"], Value::Null, "{t}");
    let log = apple.log();
    assert_eq!(
        log[11..],
        [
            "POST /devices/sync [S2-rotated]",
            "POST /devices/sync [S2-rotated]"
        ]
    );
    let bodies = apple.bodies();
    assert_eq!(
        bodies[8..],
        [
            json!({"cursor":"c3","limit":2}),
            json!({"cursor":"c3","limit":2})
        ]
    );
    apple.assert_script_used();
    server.stop();
    assert_no_secret(backend, &data);
}

#[test]
fn ade_sync_on_both_backends() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for backend in Backend::both() {
        scenario(&backend, &rt);
    }
}

/// A test device CA (standing in for Apple's), another CA, and a device certificate from each.
fn device_cas(dir: &Path) {
    for (name, subj) in [("root", "/CN=Test Device CA"), ("other", "/CN=Other CA")] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-days",
                "2",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-subj",
                subj,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("dev-{name}.key"),
                "-out",
                &format!("dev-{name}.csr"),
                "-subj",
                "/CN=Test Device",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("dev-{name}.csr"),
                "-CA",
                &format!("{name}.pem"),
                "-CAkey",
                &format!("{name}.key"),
                "-days",
                "2",
                "-set_serial",
                "42",
                "-out",
                &format!("dev-{name}.pem"),
            ],
        );
    }
}

/// The UDID in every test MachineInfo.
const UDID: &str = "00008030-001A2B3C4D5E802E";

/// A MachineInfo plist (written by Python's plistlib) for `serial`, signed by `openssl cms`
/// with the device certificate `signer` (`root` or `other`); returns the DER.
fn machine_info(dir: &Path, serial: &str, signer: &str) -> Vec<u8> {
    let plist = dir.join(format!("mi-{serial}.plist"));
    let script = format!(
        "import plistlib\nopen({plist:?}, 'wb').write(plistlib.dumps({{'UDID': \
         {UDID:?}, 'SERIAL': {serial:?}, 'PRODUCT': 'iPhone12,1', \
         'VERSION': '21A329', 'LANGUAGE': 'en-US'}}))\n"
    );
    let out = run(Command::new("python3").args(["-c", &script]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let der = dir.join(format!("mi-{serial}-{signer}.der"));
    openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-in",
            plist.to_str().unwrap(),
            "-signer",
            &format!("dev-{signer}.pem"),
            "-inkey",
            &format!("dev-{signer}.key"),
            "-outform",
            "DER",
            "-out",
            der.to_str().unwrap(),
        ],
    );
    std::fs::read(der).unwrap()
}

/// `/mdm/enroll/ade` with the MachineInfo in the header (or, with `post`, as the body):
/// (status, content type, body).
fn enroll(
    server: &Admitd,
    data: &Path,
    dir: &Path,
    mi: Option<&[u8]>,
    post: bool,
) -> (u16, String, Vec<u8>) {
    use base64::Engine as _;
    let out_file = dir.join("answer.bin");
    let _ = std::fs::remove_file(&out_file);
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "--max-time".into(),
        "20".into(),
        "--cacert".into(),
        data.join("ca/root.pem").display().to_string(),
        "-o".into(),
        out_file.display().to_string(),
        "-w".into(),
        "%{http_code} %{content_type}".into(),
    ];
    match (mi, post) {
        (Some(mi), false) => {
            args.push("-H".into());
            args.push(format!(
                "x-apple-aspen-deviceinfo: {}",
                base64::engine::general_purpose::STANDARD.encode(mi)
            ));
        }
        (Some(mi), true) => {
            std::fs::write(dir.join("body.der"), mi).unwrap();
            args.extend([
                "-H".into(),
                "Content-Type: application/pkcs7-signature".into(),
                "--data-binary".into(),
                format!("@{}", dir.join("body.der").display()),
            ]);
        }
        (None, _) => {}
    }
    args.push(format!(
        "https://127.0.0.1:{}/mdm/enroll/ade",
        server.https.port()
    ));
    let out = run(Command::new("curl").args(&args));
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let w = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, ct) = w.split_once(' ').unwrap_or((&w, ""));
    (
        code.parse().unwrap(),
        ct.to_owned(),
        std::fs::read(&out_file).unwrap_or_default(),
    )
}

fn enrollment_gate(backend: &Backend, rt: &tokio::runtime::Runtime) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let (ok, out, err) = admitd(&data, backend, &["ade", "keypair"]);
    assert!(ok, "{err}");
    let p7m = make_p7m(dir, Path::new(out.trim()));
    let (ok, _, err) = admitd(
        &data,
        backend,
        &["ade", "token", "import", p7m.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    device_cas(dir);
    let known = machine_info(dir, "F2LXK0AAHG7F", "root");
    let unknown = machine_info(dir, "C02UNKNOWN01", "root");
    let foreign = machine_info(dir, "F2LXK0AAHG7F", "other");
    // The serial changed inside the signed content (same length): the plist still reads,
    // the signature does not verify.
    let mut forged = known.clone();
    let at = forged
        .windows(12)
        .position(|w| w == b"F2LXK0AAHG7F")
        .expect("serial in the content");
    forged[at] = b'G';

    // The sync lists the known device (no profile configured: nothing is assigned).
    let apple = rt.block_on(Apple::start_for(
        vec![
            session_ok("S1"),
            answer(200, r#"{"server_name":"scripted-mdm"}"#),
            page("c1", false, &["F2LXK0AAHG7F"]),
        ],
        admitd::ade::USER_AGENT,
    ));
    let srv = mdm_support::Server::start(
        dir,
        backend,
        &format!(
            "[ade]\nurl = \"http://{}\"\nsync_interval_s = 3600\ndevice_ca = {:?}\n",
            apple.addr,
            dir.join("root.pem")
        ),
        &[],
    );
    let server = &srv.admitd;
    let t = wait_rounds(server, &data, 1);
    assert_eq!(t["sync"]["last_error"], Value::Null, "{t}");
    apple.assert_script_used();

    // Known, signed by the device CA: the signed enrollment profile, header or body.
    for post in [false, true] {
        let (status, ct, body) = enroll(server, &data, dir, Some(&known), post);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(ct, "application/x-apple-aspen-config");
        std::fs::write(dir.join("profile.der"), &body).unwrap();
        openssl(
            dir,
            &[
                "cms",
                "-verify",
                "-binary",
                "-noverify",
                "-inform",
                "DER",
                "-in",
                "profile.der",
                "-out",
                "profile.xml",
            ],
        );
        let xml = std::fs::read_to_string(dir.join("profile.xml")).unwrap();
        assert!(xml.contains("com.apple.mdm"), "{xml}");
        assert!(xml.contains("com.apple.security.scep"), "{xml}");
        if post {
            continue;
        }
        // The device enrolls with it (SCEP, Authenticate, TokenUpdate): its record is an ADE
        // enrollment and shows what the ADE sync knows about it.
        let dev = mdm_support::enroll_profile(&srv, &body, UDID, 7);
        let (st, b) = mdm_support::put(
            &srv,
            "/mdm/checkin",
            &mdm_support::authenticate(&dev, "F2LXK0AAHG7F"),
            &dev,
            mdm_support::Via::Tls,
        );
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        let (st, b) = mdm_support::put(
            &srv,
            "/mdm/checkin",
            &mdm_support::token_update(&dev),
            &dev,
            mdm_support::Via::Tls,
        );
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        let (st, j) = srv.api("GET", &format!("/api/v1/mdm/devices/{UDID}"), None);
        assert_eq!(st, 200, "{j}");
        assert_eq!(j["source"], "ade", "{j}");
        assert_eq!(j["ade"]["serial"], "F2LXK0AAHG7F", "{j}");
        assert_eq!(j["ade"]["op_type"], "added", "{j}");
        assert_eq!(j["ade"]["token"], "default", "{j}");
    }
    // Refusals, each 403 with its reason.
    let cases: [(Option<&[u8]>, &str); 4] = [
        (
            Some(&unknown),
            "C02UNKNOWN01 is not assigned to this MDM server",
        ),
        (Some(&forged), "signature does not verify"),
        (Some(&foreign), "not signed by the trusted device CA"),
        (None, "no MachineInfo"),
    ];
    for (mi, reason) in cases {
        let (status, _, body) = enroll(server, &data, dir, mi, false);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 403, "{reason}: {text}");
        assert!(text.contains(reason), "{reason}: {text}");
    }
    srv.admitd.stop();
}

#[test]
fn ade_enrollment_gate_on_both_backends() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for backend in Backend::both() {
        enrollment_gate(&backend, &rt);
    }
}

/// The sender to Apple over HTTPS, tried on admitd's own HTTPS listener: it verifies the
/// server against the roots it was given (admitd's CA passes, another CA does not).
#[test]
fn ade_transport_speaks_https_with_the_given_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("https://127.0.0.1:{}/healthz", server.https.port());
    let get = |t: &admitd::ade::client::Transport| {
        let req = ade_client::http::Request::get(&url)
            .body(Vec::new())
            .unwrap();
        rt.block_on(t.send(req))
    };
    let ours = admitd::ade::client::Transport::with_roots(&data.join("ca/root.pem")).unwrap();
    let resp = get(&ours).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body(), b"ok");
    openssl(
        tmp.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-subj",
            "/CN=other",
            "-days",
            "2",
        ],
    );
    let other = admitd::ade::client::Transport::with_roots(&tmp.path().join("other.pem")).unwrap();
    let err = get(&other).unwrap_err().to_string();
    assert!(err.contains("TLS handshake"), "{err}");
    let none = admitd::ade::client::Transport::without_tls("no roots".into());
    assert!(get(&none).unwrap_err().to_string().contains("no roots"));
    server.stop();
}

/// The store's rules, the same on both backends: a page lands only on the cursor it started
/// from (a second writer from the same checkpoint is refused and writes nothing), devices
/// without a profile wait for ours, throttled ones come back when due, removed ones are not
/// known to the gate. Through the library, two handles on one database.
#[test]
fn ade_store_rules_on_both_backends() {
    use ade_client::{Checkpoint, Commit, Mode};
    use admitd::ade::store::{AdeStore, Assignment, DeviceFilter, StoreError, TokenRecord};
    use std::sync::Arc;

    fn dev(serial: &str, extra: Value) -> ade_client::model::Device {
        let mut v = extra;
        v["serial_number"] = serial.into();
        serde_json::from_value(v).unwrap()
    }
    fn commit(from: &Checkpoint, cursor: &str) -> Commit {
        Commit {
            expected: from.clone(),
            next: Checkpoint {
                cursor: Some(cursor.into()),
                mode: Mode::Sync,
                cursor_at: Some(100),
            },
        }
    }
    for backend in Backend::both() {
        let tmp = tempfile::tempdir().unwrap();
        let open = || -> Arc<dyn AdeStore> {
            match &backend {
                Backend::Sqlite => Arc::new(
                    admitd::storage::Storage::open(&tmp.path().join("admit.sqlite3")).unwrap(),
                ),
                Backend::Postgres(_, url) => Arc::new(admitd::ade::postgres::PgAde::new(Arc::new(
                    admitd::scep::postgres::PgStore::open(url, 2).unwrap(),
                ))),
            }
        };
        let (a, b) = (open(), open());
        let name = backend.name();
        a.put_token(&TokenRecord {
            name: "t".into(),
            consumer_key: "CK".into(),
            sealed: vec![1, 2, 3],
            access_token_expiry: "2030-01-01T00:00:00Z".into(),
            expires_at: Some(1_893_456_000),
            server_name: None,
            imported_at: 1,
        })
        .unwrap();
        let start = b.sync_state("t").unwrap().checkpoint;
        let page = [
            dev("A", json!({"op_type": "added"})),
            dev("B", json!({"op_type": "added", "profile_status": "empty"})),
            dev(
                "C",
                json!({"op_type": "added", "profile_uuid": "X", "profile_status": "assigned"}),
            ),
            dev("D", json!({"op_type": "deleted"})),
        ];
        a.apply_page("t", &page, &commit(&start, "c1"), Mode::Fetch, true, 10)
            .unwrap();
        let late = [dev("E", json!({"op_type": "added"}))];
        assert!(
            matches!(
                b.apply_page("t", &late, &commit(&start, "c9"), Mode::Fetch, true, 11),
                Err(StoreError::Stale)
            ),
            "{name}"
        );
        let st = b.sync_state("t").unwrap();
        assert_eq!(st.checkpoint.cursor.as_deref(), Some("c1"), "{name}");
        assert_eq!(st.last_fetch_at, Some(10), "{name}");
        assert_eq!(
            b.devices(&DeviceFilter::default()).unwrap().len(),
            4,
            "{name}"
        );
        assert_eq!(
            b.pending_assignments("t", 10, 10).unwrap(),
            ["A", "B"],
            "{name}"
        );
        b.record_assignments(
            "P",
            &[
                ("A".into(), Assignment::Assigned),
                ("B".into(), Assignment::Throttled { after: 20 }),
            ],
        )
        .unwrap();
        assert!(
            a.pending_assignments("t", 19, 10).unwrap().is_empty(),
            "{name}"
        );
        assert_eq!(a.pending_assignments("t", 20, 10).unwrap(), ["B"], "{name}");
        let assigned = a
            .devices(&DeviceFilter {
                profile_status: Some("assigned".into()),
                ..DeviceFilter::default()
            })
            .unwrap();
        let serials: Vec<&str> = assigned.iter().map(|d| d.serial.as_str()).collect();
        assert_eq!(serials, ["A", "C"], "{name}");
        // A later page from Apple keeps what it does not repeat (first seen, model) and moves
        // a pending device out of our hands once it has another profile.
        let now = a.sync_state("t").unwrap().checkpoint;
        let b_again = [dev(
            "B",
            json!({"op_type": "modified", "profile_uuid": "X", "profile_status": "assigned"}),
        )];
        a.apply_page("t", &b_again, &commit(&now, "c2"), Mode::Sync, true, 30)
            .unwrap();
        assert!(
            b.pending_assignments("t", 40, 10).unwrap().is_empty(),
            "{name}"
        );
        let bd = &b
            .devices(&DeviceFilter {
                serial: Some("B".into()),
                ..DeviceFilter::default()
            })
            .unwrap()[0];
        assert_eq!((bd.first_seen, bd.last_seen), (10, 30), "{name}");
        assert_eq!(bd.op_type.as_deref(), Some("modified"), "{name}");
        assert!(b.is_known("A").unwrap() && !b.is_known("D").unwrap() && !b.is_known("Z").unwrap());
        let st = a.sync_state("t").unwrap();
        assert_eq!(
            (st.last_sync_at, st.checkpoint.mode),
            (Some(30), Mode::Sync),
            "{name}"
        );
        // Rounds and errors.
        a.finish_round("t", Some("Apple: throttled"), 50).unwrap();
        a.finish_round("t", None, 60).unwrap();
        let st = b.sync_state("t").unwrap();
        assert_eq!(
            (st.rounds, st.last_error, st.last_error_at),
            (2, None, Some(50)),
            "{name}"
        );
        assert!(matches!(
            b.sync_state("nope"),
            Err(StoreError::UnknownToken(_))
        ));

        // Without a device CA the gate refuses everyone, saying why.
        let provider = pki::provider::compiled()[0];
        let service =
            admitd::ade::Service::open(&admitd::ade::Settings::default(), a.clone(), provider)
                .unwrap();
        let refusal = service
            .check_enrollment(&Default::default(), b"", &[], std::time::SystemTime::now())
            .unwrap_err();
        assert_eq!(refusal, admitd::ade::gate::Refusal::NotConfigured);
        assert_eq!(refusal.status(), 403);
    }
}
