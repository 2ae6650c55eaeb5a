//! admitd's device auth end to end over HTTP and HTTPS with curl: the device endpoint, the
//! management API's status codes, the gateway token check, device limits under parallel
//! accepts, and bad input refused before any crypto. Device keys and signatures are openssl's;
//! the captured Mender client requests come from the vectors.

mod common;
mod devauth_support;

use std::path::PathBuf;

use common::Admitd;
use devauth_support::{Api, DeviceKey, ids};

fn vectors() -> PathBuf {
    testkit::vector_dir("devauth")
}

/// admitd with device auth allowed on plain HTTP too (these tests drive both listeners).
fn start(extra: &[&str]) -> (tempfile::TempDir, Admitd, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut args = vec!["--devauth-allow-plain-http"];
    args.extend_from_slice(extra);
    let server = Admitd::start(&data, &args);
    (tmp, server, data)
}

fn assert_error_body(a: &devauth_support::Answer, status: u16, contains: &str) {
    assert_eq!(a.status, status, "{a:?}");
    let v = a.json();
    assert!(
        v["error"].as_str().unwrap().contains(contains),
        "error {:?} lacks {contains:?}",
        v["error"]
    );
    assert!(!v["request_id"].as_str().unwrap().is_empty());
}

#[test]
fn management_api_answers_with_the_documented_status_codes() {
    let (tmp, server, data) = start(&["--devauth-max-devices", "1"]);
    let dir = tmp.path();
    let api = Api::new(&server, &data, dir);
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(data.join("devauth/admin-token"))
                .unwrap()
                .permissions()
        ) & 0o777,
        0o600
    );

    // Admin token required; management only over HTTPS.
    assert_error_body(
        &api.call_with_token("GET", "/devices", None, "wrong-token"),
        401,
        "admin bearer token",
    );
    let plain = devauth_support::curl(
        dir,
        &[&format!(
            "http://127.0.0.1:{}/api/management/v2/devauth/devices",
            server.http.port()
        )],
    );
    assert_error_body(&plain, 403, "HTTPS only");

    // First request over plain HTTP: pending, 401.
    let key = DeviceKey::ed25519(dir);
    let id = r#"{"mac":"02:00:00:00:00:01","serial":"SN-1"}"#;
    let (body, sig) = key.request(id);
    assert_error_body(&api.auth_request_http(&body, &sig), 401, "pending");
    let dev = api.only_device();
    assert_eq!(dev["status"], "pending");
    assert_eq!(dev["identity_data"]["serial"], "SN-1");
    assert_eq!(dev["auth_sets"][0]["pubkey"], key.pubkey_pem.as_str());
    let (dev_id, set_id) = ids(&dev);
    let list = api.call("GET", "/devices?status=pending&per_page=1", None);
    assert!(
        list.header("link").unwrap().contains("rel=\"first\""),
        "{list:?}"
    );

    // 404s, 400s, 405.
    let unknown = "00000000-0000-4000-8000-000000000000";
    assert_error_body(
        &api.call("GET", &format!("/devices/{unknown}"), None),
        404,
        "not found",
    );
    assert_error_body(
        &api.call("GET", "/devices/not-a-uuid", None),
        404,
        "not found",
    );
    let status_path = format!("/devices/{dev_id}/auth/{set_id}/status");
    assert_error_body(
        &api.call(
            "PUT",
            &format!("/devices/{dev_id}/auth/{unknown}/status"),
            Some(r#"{"status":"accepted"}"#),
        ),
        404,
        "auth set",
    );
    assert_error_body(
        &api.call("PUT", &status_path, Some(r#"{"status":"bogus"}"#)),
        400,
        "status",
    );
    assert_error_body(
        &api.call("PUT", &status_path, Some(r#"{"status":"preauthorized"}"#)),
        400,
        "status",
    );
    assert_error_body(
        &api.call("PUT", &status_path, Some("not json")),
        400,
        "malformed",
    );
    assert_eq!(api.call("PATCH", "/devices", None).status, 405);

    // Accept: 204; the next request gets a token.
    assert_eq!(
        api.call("PUT", &status_path, Some(r#"{"status":"accepted"}"#))
            .status,
        204
    );
    let st = api.call("GET", &status_path, None);
    assert_eq!(
        (st.status, st.json()["status"].as_str()),
        (200, Some("accepted"))
    );
    let (body, sig) = key.request(id);
    let granted = api.auth_request(&body, &sig);
    assert_eq!(granted.status, 200, "{granted:?}");
    assert_eq!(
        granted.header("content-type").as_deref(),
        Some("application/jwt")
    );
    let token = granted.body.clone();
    let check = api.verify_token(&token);
    assert_eq!(check.status, 200, "{check:?}");
    let claims = &check.json()["claims"];
    assert_eq!(claims["sub"], dev_id.as_str());
    assert_eq!(claims["jti"], set_id.as_str());
    assert_eq!(claims["mender.device"], true);
    assert_eq!(check.json()["algorithm"], "EdDSA");
    assert_error_body(&api.verify_token("eyJhbGciOiJub25lIn0.e30."), 401, "token");

    // Preauthorize: 409 for the existing identity (with that device), 201 for a new one.
    let key2 = DeviceKey::p256(dir);
    let pre = |identity: &str, pubkey: &str, force: bool| {
        serde_json::json!({"identity_data": serde_json::from_str::<serde_json::Value>(identity).unwrap(), "pubkey": pubkey, "force": force}).to_string()
    };
    let conflict = api.call("POST", "/devices", Some(&pre(id, &key2.pubkey_pem, false)));
    assert_eq!(conflict.status, 409, "{conflict:?}");
    assert_eq!(conflict.json()["id"], dev_id.as_str());
    let id2 = r#"{"serial":"SN-2"}"#;
    let created = api.call("POST", "/devices", Some(&pre(id2, &key2.pubkey_pem, false)));
    assert_eq!(created.status, 201, "{created:?}");
    let location = created.header("location").unwrap();
    let dev2_id = location.rsplit('/').next().unwrap().to_owned();
    let dev2 = api.call("GET", &format!("/devices/{dev2_id}"), None);
    assert_eq!(dev2.json()["status"], "preauthorized");
    assert_error_body(
        &api.call(
            "POST",
            "/devices",
            Some(r#"{"identity_data":"{\"a\":1}","pubkey":"x"}"#),
        ),
        400,
        "identity_data",
    );
    let rsa_pkcs1 =
        std::fs::read_to_string(vectors().join("generated/negative-pkcs1-rsa-public-key/body.bin"))
            .unwrap();
    let rsa_pkcs1: serde_json::Value = serde_json::from_str(&rsa_pkcs1).unwrap();
    assert_error_body(
        &api.call(
            "POST",
            "/devices",
            Some(&pre(
                r#"{"serial":"SN-3"}"#,
                rsa_pkcs1["pubkey"].as_str().unwrap(),
                false,
            )),
        ),
        400,
        "PKCS#1",
    );

    // The device limit is 1 and device 1 is accepted: the preauthorized device is refused on
    // the device side (401), and a manual accept of another pending device is 422.
    let (body2, sig2) = key2.request(id2);
    assert_error_body(&api.auth_request(&body2, &sig2), 401, "limit");
    let key3 = DeviceKey::ed25519(dir);
    let (body3, sig3) = key3.request(r#"{"serial":"SN-3"}"#);
    assert_error_body(&api.auth_request(&body3, &sig3), 401, "pending");
    let list = api.call("GET", "/devices?status=pending", None).json();
    let (dev3_id, set3_id) = ids(&list[0]);
    assert_error_body(
        &api.call(
            "PUT",
            &format!("/devices/{dev3_id}/auth/{set3_id}/status"),
            Some(r#"{"status":"accepted"}"#),
        ),
        422,
        "limit of 1",
    );
    assert_eq!(
        api.call("GET", "/limits/max_devices", None).json()["limit"],
        1
    );
    assert_eq!(
        api.call("GET", "/devices/count?status=accepted", None)
            .json()["count"],
        1
    );
    assert_eq!(api.call("GET", "/devices/count", None).json()["count"], 3);
    let search = api.call(
        "POST",
        "/devices/search",
        Some(&format!(r#"{{"id":["{dev3_id}"]}}"#)),
    );
    assert_eq!(search.json().as_array().unwrap().len(), 1);

    // Rejecting device 1 revokes its token at once.
    assert_eq!(
        api.call("PUT", &status_path, Some(r#"{"status":"rejected"}"#))
            .status,
        204
    );
    assert_error_body(&api.verify_token(&token), 401, "revoked");
    assert_error_body(&api.auth_request(&body, &sig), 401, "rejected");

    // Deletions: auth set, then decommissioning; token revocation by jti.
    let del = format!("/devices/{dev3_id}/auth/{set3_id}");
    assert_eq!(api.call("DELETE", &del, None).status, 204);
    assert_error_body(&api.call("DELETE", &del, None), 404, "auth set");
    assert_eq!(
        api.call("DELETE", &format!("/devices/{dev_id}"), None)
            .status,
        204
    );
    assert_error_body(
        &api.call("GET", &format!("/devices/{dev_id}"), None),
        404,
        "device",
    );
    assert_error_body(
        &api.call("DELETE", &format!("/devices/{dev_id}"), None),
        404,
        "device",
    );
    assert_eq!(
        api.call("DELETE", &format!("/tokens/{set_id}"), None)
            .status,
        204
    );
    // The decommissioned device starts over as a new pending device.
    let (body, sig) = key.request(id);
    assert_error_body(&api.auth_request(&body, &sig), 401, "pending");
    let again = api.call("GET", "/devices?status=pending", None).json();
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["identity_data"]["serial"] == "SN-1" && d["id"] != dev_id.as_str())
    );
    server.stop();
}

/// The status path of every device's first auth set.
fn status_paths(api: &Api<'_>) -> Vec<String> {
    let list = api.call("GET", "/devices?per_page=100", None).json();
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let (dev, set) = ids(d);
            format!("/devices/{dev}/auth/{set}/status")
        })
        .collect()
}

/// PUT `accepted` to every path at once, each on its own connection, spread over `apis` in
/// turn; the status codes in path order.
fn accept_all_at_once(apis: &[&Api<'_>], paths: &[String]) -> Vec<u16> {
    std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let api = apis[i % apis.len()];
                s.spawn(move || api.call("PUT", p, Some(r#"{"status":"accepted"}"#)).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn parallel_accepts_never_exceed_the_device_limit() {
    const LIMIT: usize = 3;
    const DEVICES: usize = 10;
    let (tmp, server, data) = start(&["--devauth-max-devices", &LIMIT.to_string()]);
    let dir = tmp.path();
    let api = Api::new(&server, &data, dir);
    for i in 0..DEVICES {
        let key = DeviceKey::ed25519(dir);
        let (body, sig) = key.request(&format!(r#"{{"serial":"P-{i}"}}"#));
        assert_eq!(api.auth_request_http(&body, &sig).status, 401);
    }
    let paths = status_paths(&api);
    assert_eq!(paths.len(), DEVICES);

    // Every accept at once, each on its own connection.
    let codes = accept_all_at_once(&[&api], &paths);
    let ok = codes.iter().filter(|c| **c == 204).count();
    let over = codes.iter().filter(|c| **c == 422).count();
    assert_eq!((ok, over), (LIMIT, DEVICES - LIMIT), "{codes:?}");
    assert_eq!(
        api.call("GET", "/devices/count?status=accepted", None)
            .json()["count"],
        LIMIT
    );
    server.stop();
}

#[test]
fn parallel_preauthorized_devices_never_exceed_the_device_limit() {
    const LIMIT: usize = 2;
    const DEVICES: usize = 8;
    let (tmp, server, data) = start(&["--devauth-max-devices", &LIMIT.to_string()]);
    let dir = tmp.path();
    let api = Api::new(&server, &data, dir);
    let mut requests = Vec::new();
    for i in 0..DEVICES {
        let key = DeviceKey::ed25519(dir);
        let id = format!(r#"{{"serial":"Q-{i}"}}"#);
        let pre = serde_json::json!({
            "identity_data": serde_json::from_str::<serde_json::Value>(&id).unwrap(),
            "pubkey": key.pubkey_pem,
        });
        assert_eq!(
            api.call("POST", "/devices", Some(&pre.to_string())).status,
            201
        );
        requests.push(key.request(&id));
    }
    let codes: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = requests
            .iter()
            .map(|(body, sig)| {
                let api = &api;
                s.spawn(move || api.auth_request(body, sig).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        codes.iter().filter(|c| **c == 200).count(),
        LIMIT,
        "{codes:?}"
    );
    assert_eq!(codes.iter().filter(|c| **c == 401).count(), DEVICES - LIMIT);
    assert_eq!(
        api.call("GET", "/devices/count?status=accepted", None)
            .json()["count"],
        LIMIT
    );
    server.stop();
}

#[test]
fn captured_mender_requests_verify_and_negative_vectors_are_refused() {
    let (tmp, server, data) = start(&[]);
    let api = Api::new(&server, &data, tmp.path());
    let v = vectors();
    let mut seen = 0;
    for entry in std::fs::read_dir(v.join("mender-client-3.4")).unwrap() {
        let case = entry.unwrap().path();
        let body = std::fs::read(case.join("body.bin")).unwrap();
        let sig = std::fs::read_to_string(case.join("x-men-signature.b64")).unwrap();
        let a = api.auth_request_http(&body, sig.trim());
        // Verified, then pending (every capture uses the same identity: one device, new keys).
        assert_error_body(&a, 401, "pending");
        seen += 1;
    }
    assert_eq!(seen, 6);
    let dev = api.only_device();
    assert_eq!(dev["auth_sets"].as_array().unwrap().len(), 6);

    for case in [
        "authreq-ecdsa-p521-utils-TestECDSAPrivate",
        "authreq-ed25519-utils-TestED25519Private",
        "authreq-rsa2048-api_http_testdata_private",
    ] {
        let c = v.join("generated").join(case);
        let sig = std::fs::read_to_string(c.join("x-men-signature.b64")).unwrap();
        for neg in [
            "negative-body-no-trailing-newline.bin",
            "negative-body-tampered.bin",
        ] {
            let body = std::fs::read(c.join(neg)).unwrap();
            let a = api.auth_request_http(&body, sig.trim());
            assert!(a.status == 401 || a.status == 400, "{case}/{neg}: {a:?}");
            if a.status == 401 {
                assert_error_body(&a, 401, "signature verification failed");
            }
        }
    }
    let raw = v.join("generated/negative-ecdsa-p256-raw-rs");
    let a = api.auth_request_http(
        &std::fs::read(raw.join("body.bin")).unwrap(),
        std::fs::read_to_string(raw.join("x-men-signature.b64"))
            .unwrap()
            .trim(),
    );
    assert_error_body(&a, 401, "signature verification failed");
    let p1 = v.join("generated/negative-pkcs1-rsa-public-key");
    let a = api.auth_request_http(
        &std::fs::read(p1.join("body.bin")).unwrap(),
        std::fs::read_to_string(p1.join("x-men-signature.b64"))
            .unwrap()
            .trim(),
    );
    assert_error_body(&a, 400, "PKCS#1");
    // None of the refused requests created anything.
    assert_eq!(api.only_device()["auth_sets"].as_array().unwrap().len(), 6);
    server.stop();
}

#[test]
fn oversized_and_unsigned_requests_are_refused_before_any_crypto() {
    let (tmp, server, data) = start(&[]);
    let dir = tmp.path();
    let api = Api::new(&server, &data, dir);
    let key = DeviceKey::ed25519(dir);
    // A validly signed request whose body is over the 16 KiB cap: refused for its size, so the
    // cap is checked before the signature.
    let big_id = format!(r#"{{"serial":"{}"}}"#, "x".repeat(20 * 1024));
    let (body, sig) = key.request(&big_id);
    assert_error_body(
        &api.auth_request_http(&body, &sig),
        400,
        "over the limit of 16384",
    );
    // The same with a garbage signature: the same size answer, not a signature failure.
    assert_error_body(
        &api.auth_request_http(&body, "AAAA"),
        400,
        "over the limit of 16384",
    );
    // An over-long signature header.
    let (body, _) = key.request(r#"{"serial":"S"}"#);
    assert_error_body(
        &api.auth_request_http(&body, &"A".repeat(4096)),
        400,
        "X-MEN-Signature",
    );
    // Unsigned, and signed by another key: no pending device is created.
    let no_sig = devauth_support::curl(
        dir,
        &[
            "-X",
            "POST",
            "--data-binary",
            std::str::from_utf8(&body).unwrap(),
            &format!(
                "http://127.0.0.1:{}/api/devices/v1/authentication/auth_requests",
                server.http.port()
            ),
        ],
    );
    assert_error_body(&no_sig, 400, "X-MEN-Signature");
    let other = DeviceKey::ed25519(dir);
    assert_error_body(
        &api.auth_request_http(&body, &other.sign(&body)),
        401,
        "signature verification failed",
    );
    assert_eq!(
        api.call("GET", "/devices", None).json(),
        serde_json::json!([])
    );
    // Bodies over the server's limit never reach the handler (413); nor do huge heads (431).
    let huge = vec![b'{'; 2 * 1024 * 1024];
    assert_eq!(api.auth_request_http(&huge, "AAAA").status, 413);
    let resp = common::raw_exchange(
        server.http,
        format!(
            "POST /api/devices/v1/authentication/auth_requests HTTP/1.1\r\nHost: x\r\nX-MEN-Signature: {}\r\nContent-Length: 2\r\n\r\n{{}}",
            "A".repeat(64 * 1024)
        )
        .as_bytes(),
        std::time::Duration::from_secs(10),
    );
    assert_eq!(common::status_of(&resp), Some(431), "{resp}");
    server.stop();
}

#[test]
fn expired_tokens_are_refused_by_the_gateway_check_and_inspect_reads_them() {
    let (tmp, server, data) = start(&[
        "--devauth-token-lifetime-s",
        "1",
        "--devauth-jwt-key-type",
        "rsa",
    ]);
    let dir = tmp.path();
    let api = Api::new(&server, &data, dir);
    let key = DeviceKey::ed25519(dir);
    let id = r#"{"serial":"E-1"}"#;
    let pre = serde_json::json!({"identity_data": {"serial": "E-1"}, "pubkey": key.pubkey_pem});
    assert_eq!(
        api.call("POST", "/devices", Some(&pre.to_string())).status,
        201
    );
    let (body, sig) = key.request(id);
    let granted = api.auth_request(&body, &sig);
    assert_eq!(granted.status, 200, "{granted:?}");
    let token = granted.body;
    let check = api.verify_token(&token);
    assert_eq!(check.status, 200, "{check:?}");
    assert_eq!(check.json()["algorithm"], "RS256");

    // admitd inspect verifies the token with the data directory's public key, and the request.
    std::fs::write(dir.join("token.jwt"), &token).unwrap();
    let out = common::run(
        std::process::Command::new(common::ADMITD)
            .args(["--data-dir", data.to_str().unwrap(), "inspect", "token.jwt"])
            .current_dir(dir),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jwt"]["signature"], "verified");
    assert_eq!(v["jwt"]["algorithm"], "RS256");
    assert_eq!(v["jwt"]["claims"]["sub"], check.json()["claims"]["sub"]);

    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_error_body(&api.verify_token(&token), 401, "expired");
    let out = common::run(
        std::process::Command::new(common::ADMITD)
            .args(["--data-dir", data.to_str().unwrap(), "inspect", "token.jwt"])
            .current_dir(dir),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("token expired at"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();
}

#[test]
fn device_auth_is_https_only_unless_plain_http_is_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &[]);
    let dir = tmp.path();
    let api = Api::new(&server, &data, dir);
    let key = DeviceKey::ed25519(dir);
    let (body, sig) = key.request(r#"{"mac":"02:00:00:00:00:aa"}"#);
    // Over HTTP: refused before anything is read or stored.
    assert_error_body(&api.auth_request_http(&body, &sig), 403, "HTTPS only");
    let plain_verify = devauth_support::curl(
        dir,
        &[
            "-X",
            "POST",
            "-H",
            "Authorization: Bearer x.y.z",
            &format!(
                "http://127.0.0.1:{}/api/internal/v1/devauth/tokens/verify",
                server.http.port()
            ),
        ],
    );
    assert_error_body(&plain_verify, 403, "HTTPS only");
    assert_eq!(
        api.call("GET", "/devices", None).json(),
        serde_json::json!([])
    );
    // Over HTTPS the same request is served: a pending device.
    assert_eq!(api.auth_request(&body, &sig).status, 401);
    assert_eq!(api.only_device()["status"], "pending");
    assert!(!server.log_text().contains("allow_plain_http"));
    server.stop();

    // Allowed: served on HTTP, with a warning at start.
    let server = Admitd::start(&data, &["--devauth-allow-plain-http"]);
    let api = Api::new(&server, &data, dir);
    assert_eq!(api.auth_request_http(&body, &sig).status, 401);
    let log = server.log_text();
    assert!(
        log.contains("WARN") && log.contains("allow_plain_http"),
        "{log}"
    );
    server.stop();
}

/// A tenant token made with the openssl CLI: RS256 over `header.payload`.
fn tenant_token(dir: &std::path::Path, key: &std::path::Path, tenant: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!(
        "{}.{}",
        b64.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64.encode(format!(r#"{{"mender.tenant":"{tenant}","iss":"Mender"}}"#))
    );
    let file = dir.join(format!("tenant-input-{tenant}"));
    std::fs::write(&file, &input).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    format!("{input}.{}", b64.encode(out.stdout))
}

/// The claims of a JWT, decoded by hand (not by the code under test).
fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn body_with_tenant(key: &DeviceKey, id_data: &str, tenant_token: &str) -> (Vec<u8>, String) {
    let v = serde_json::json!({
        "id_data": id_data,
        "pubkey": serde_json::from_slice::<serde_json::Value>(&key.body(id_data)).unwrap()["pubkey"],
        "tenant_token": tenant_token,
    });
    let body = format!("{v}\n").into_bytes();
    let sig = key.sign(&body);
    (body, sig)
}

#[test]
fn the_tenant_claim_comes_only_from_a_verified_tenant_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let tenant_key = dir.join("tenant.key");
    common::openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            tenant_key.to_str().unwrap(),
        ],
    );
    let tenant_pub = dir.join("tenant.pub.pem");
    common::openssl(
        dir,
        &[
            "pkey",
            "-pubout",
            "-in",
            tenant_key.to_str().unwrap(),
            "-out",
            tenant_pub.to_str().unwrap(),
        ],
    );
    let forger_key = dir.join("forger.key");
    common::openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-out",
            forger_key.to_str().unwrap(),
        ],
    );

    // Without a tenant key, a device's tenant token never becomes a claim.
    let server = Admitd::start(&data, &[]);
    let api = Api::new(&server, &data, dir);
    let key = DeviceKey::ed25519(dir);
    let id = r#"{"mac":"02:00:00:00:00:b1"}"#;
    let (body, sig) = body_with_tenant(&key, id, "i-say-i-am-tenant-42");
    assert_eq!(api.auth_request(&body, &sig).status, 401);
    let (dev, set) = ids(&api.only_device());
    let path = format!("/devices/{dev}/auth/{set}/status");
    assert_eq!(
        api.call("PUT", &path, Some(r#"{"status":"accepted"}"#))
            .status,
        204
    );
    let a = api.auth_request(&body, &sig);
    assert_eq!(a.status, 200, "{a:?}");
    let claims = claims_of(&a.body);
    assert!(claims.get("mender.tenant").is_none(), "{claims}");
    server.stop();

    // With the tenant service's key: a forged tenant token is refused and stores nothing; an
    // authentic one sets the claim.
    let data2 = dir.join("data2");
    let server = Admitd::start(
        &data2,
        &["--devauth-tenant-key", tenant_pub.to_str().unwrap()],
    );
    let api = Api::new(&server, &data2, dir);
    let forged = tenant_token(dir, &forger_key, "tenant-1");
    let (body, sig) = body_with_tenant(&key, id, &forged);
    assert_error_body(&api.auth_request(&body, &sig), 401, "tenant token");
    assert_eq!(
        api.call("GET", "/devices", None).json(),
        serde_json::json!([])
    );
    let good = tenant_token(dir, &tenant_key, "tenant-1");
    let (body, sig) = body_with_tenant(&key, id, &good);
    assert_eq!(api.auth_request(&body, &sig).status, 401);
    let (dev, set) = ids(&api.only_device());
    let path = format!("/devices/{dev}/auth/{set}/status");
    assert_eq!(
        api.call("PUT", &path, Some(r#"{"status":"accepted"}"#))
            .status,
        204
    );
    let a = api.auth_request(&body, &sig);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(claims_of(&a.body)["mender.tenant"], "tenant-1");
    server.stop();
}

#[test]
fn two_servers_on_one_postgres_accept_no_more_than_the_device_limit() {
    const LIMIT: usize = 3;
    const DEVICES: usize = 10;
    let pg = testkit::postgres::Postgres::start();
    let url = pg.create_database("admit");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a_data = dir.join("a/data");
    let b_data = dir.join("b/data");
    let limit = LIMIT.to_string();
    let args = ["--database", &url, "--devauth-max-devices", &limit];
    Admitd::start(&a_data, &args).stop();
    // The second server shares the CA, TLS and device-auth keys (and admin token).
    std::fs::create_dir_all(&b_data).unwrap();
    for sub in ["ca", "scep", "tls", "devauth"] {
        let out = common::run(
            std::process::Command::new("cp")
                .arg("-a")
                .arg(a_data.join(sub))
                .arg(&b_data),
        );
        assert!(out.status.success());
    }
    let a = Admitd::start(&a_data, &args);
    let b = Admitd::start(&b_data, &args);
    let api_a = Api::new(&a, &a_data, dir);
    let api_b = Api::new(&b, &b_data, dir);
    // Devices ask through either server; both see every device.
    for i in 0..DEVICES {
        let key = DeviceKey::ed25519(dir);
        let (body, sig) = key.request(&format!(r#"{{"serial":"PG-{i}"}}"#));
        let api = if i % 2 == 0 { &api_a } else { &api_b };
        assert_eq!(api.auth_request(&body, &sig).status, 401);
    }
    let paths = status_paths(&api_b);
    assert_eq!(paths.len(), DEVICES);

    // Ten accepts at once, split across the two processes.
    let codes = accept_all_at_once(&[&api_a, &api_b], &paths);
    let ok = codes.iter().filter(|c| **c == 204).count();
    let over = codes.iter().filter(|c| **c == 422).count();
    assert_eq!((ok, over), (LIMIT, DEVICES - LIMIT), "{codes:?}");
    for api in [&api_a, &api_b] {
        assert_eq!(
            api.call("GET", "/devices/count?status=accepted", None)
                .json()["count"],
            LIMIT
        );
    }
    // Counted by PostgreSQL itself, not through our code.
    assert_eq!(
        pg.query(
            "admit",
            "SELECT COUNT(*) FROM devauth_auth_sets WHERE status = 'accepted'"
        ),
        LIMIT.to_string()
    );
    a.stop();
    b.stop();
}
