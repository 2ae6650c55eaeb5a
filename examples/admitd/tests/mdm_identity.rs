//! Who may speak for an enrollment: the abuse cases first. A certificate for another UDID,
//! a revoked certificate, a self-signed certificate, a missing certificate and a signature
//! over other bytes are each refused with 401, over the TLS client certificate and over
//! `Mdm-Signature`; a SCEP renewal takes the old certificate's place. On SQLite and
//! PostgreSQL.

mod backend;
mod common;
mod mdm_support;
mod scep_support;

use backend::Backend;
use mdm_support::{
    Server, Via, authenticate, enroll, put, raw, renew, report, self_signed, signature,
    token_update,
};

fn enrolled(srv: &Server, udid: &str, seed: u64) -> mdm_support::Dev {
    let url = srv.invite(None, 1);
    let dev = enroll(srv, &url, udid, seed);
    let (st, b) = put(
        srv,
        "/mdm/checkin",
        &authenticate(&dev, "SERIAL"),
        &dev,
        Via::Tls,
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    let (st, _) = put(srv, "/mdm/checkin", &token_update(&dev), &dev, Via::Tls);
    assert_eq!(st, 200);
    dev
}

/// `dev`'s report, sent with `with`'s credentials.
fn idle_as(srv: &Server, dev: &mdm_support::Dev, with: &mdm_support::Dev, via: Via) -> u16 {
    put(
        srv,
        "/mdm/connect",
        &report(dev, "Idle", None, &[]),
        with,
        via,
    )
    .0
}

#[test]
fn identities_that_do_not_belong_are_refused() {
    for backend in Backend::both() {
        let dir = tempfile::tempdir().unwrap();
        let srv = Server::start(
            dir.path(),
            &backend,
            "",
            &[
                "--scep-cert-validity-s",
                "3600",
                "--scep-renewal-window-s",
                "7200",
            ],
        );
        let ctx = backend.name();
        let a = enrolled(&srv, "UDID-A", 11);
        let b = enrolled(&srv, "UDID-B", 12);
        for via in [Via::Tls, Via::Signature] {
            assert_eq!(idle_as(&srv, &a, &a, via), 200, "{ctx} {via:?}");
            // B's certificate speaking for A.
            assert_eq!(idle_as(&srv, &a, &b, via), 401, "{ctx} {via:?}");
            // A self-signed certificate.
            let intruder = self_signed(&srv, "UDID-A");
            assert_eq!(idle_as(&srv, &a, &intruder, via), 401, "{ctx} {via:?}");
        }
        // No credentials at all.
        assert_eq!(idle_as(&srv, &a, &a, Via::Nothing), 401, "{ctx}");
        // B's certificate claiming A's enrollment with a fresh Authenticate.
        let (st, _) = put(
            &srv,
            "/mdm/checkin",
            &authenticate(&a, "SERIAL"),
            &b,
            Via::Tls,
        );
        assert_eq!(
            st, 401,
            "{ctx}: Authenticate took another device's enrollment"
        );
        // A signature over other bytes than the body.
        let body = report(&a, "Idle", None, &[]);
        let sig = signature(&a, b"something else");
        std::fs::write(srv.work.join("body"), &body).unwrap();
        let header = format!("Mdm-Signature: {sig}");
        let data = format!("@{}", srv.work.join("body").display());
        let (st, _) = raw(
            &srv,
            &format!("{}/mdm/connect", srv.base()),
            &["-X", "PUT", "-H", &header, "--data-binary", &data],
        );
        assert_eq!(st, 401, "{ctx}");
        // The right signature over the same body passes.
        let header = format!("Mdm-Signature: {}", signature(&a, &body));
        let (st, _) = raw(
            &srv,
            &format!("{}/mdm/connect", srv.base()),
            &["-X", "PUT", "-H", &header, "--data-binary", &data],
        );
        assert_eq!(st, 200, "{ctx}");

        // Not a plist, a wrong content type, a wrong method, the plain listener.
        let (st, _) = put(&srv, "/mdm/checkin", b"<plist><dict><key>", &a, Via::Tls);
        assert_eq!(st, 400, "{ctx}");
        let (st, _) = raw(
            &srv,
            &format!("{}/mdm/checkin", srv.base()),
            &[
                "-X",
                "PUT",
                "-H",
                "Content-Type: image/png",
                "--data-binary",
                "x",
                "--cert",
                a.cert.to_str().unwrap(),
                "--key",
                a.key.to_str().unwrap(),
            ],
        );
        assert_eq!(st, 400, "{ctx}");
        let (st, _) = raw(&srv, &format!("{}/mdm/connect", srv.base()), &[]);
        assert_eq!(st, 405, "{ctx}");
        let (ok, out) = common::curl(&[
            "-X",
            "PUT",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data-binary",
            "x",
            &format!("http://{}/mdm/connect", srv.admitd.http),
        ]);
        assert!(ok && out.trim() == "403", "{ctx}: {out}");

        // A SCEP renewal of A's certificate takes its place at first use; then the old one
        // is refused.
        let a2 = renew(&srv, &a, "renewed-a", 21);
        assert_eq!(
            idle_as(&srv, &a, &a2, Via::Tls),
            200,
            "{ctx}: renewed certificate"
        );
        assert_eq!(
            idle_as(&srv, &a, &a, Via::Tls),
            401,
            "{ctx}: replaced certificate"
        );

        // Revoking B's certificate locks B out.
        let serial = hex::encode(
            pki::cert::Cert::from_der(&b.cert_der)
                .unwrap()
                .certificate()
                .tbs_certificate()
                .serial_number()
                .as_bytes(),
        );
        let mut revoke = std::process::Command::new(common::ADMITD);
        revoke.args(["--data-dir", srv.data.to_str().unwrap()]);
        revoke.args(backend.args());
        revoke.args(["scep", "revoke", &serial]);
        let out = common::run(&mut revoke);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for via in [Via::Tls, Via::Signature] {
            assert_eq!(
                idle_as(&srv, &b, &b, via),
                401,
                "{ctx} {via:?}: revoked certificate"
            );
        }
        // A released enrollment can be taken by a new identity for the same UDID.
        let (st, j) = srv.api("POST", "/api/v1/mdm/devices/UDID-B/release", None);
        assert_eq!(st, 200, "{j}");
        let url = srv.invite(None, 1);
        let b2 = enroll(&srv, &url, "UDID-B", 31);
        let (st, _) = put(
            &srv,
            "/mdm/checkin",
            &authenticate(&b2, "SERIAL"),
            &b2,
            Via::Tls,
        );
        assert_eq!(st, 200, "{ctx}: re-enrollment after release");
        srv.admitd.stop();
    }
}

/// The admin API: HTTPS with the bearer token only.
#[test]
fn admin_api_needs_the_token_over_https() {
    let backend = backend::Backend::Sqlite;
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), &backend, "", &[]);
    let url = format!("{}/api/v1/mdm/devices", srv.base());
    let (st, _) = raw(&srv, &url, &[]);
    assert_eq!(st, 401);
    let (st, _) = raw(
        &srv,
        &url,
        &["-H", "Authorization: Bearer wrong-token-wrong-token"],
    );
    assert_eq!(st, 401);
    let auth = format!("Authorization: Bearer {}", srv.token);
    let (ok, out) = common::curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &auth,
        &format!("http://{}/api/v1/mdm/devices", srv.admitd.http),
    ]);
    assert!(ok && out.trim() == "403", "{out}");
    let (st, j) = srv.api("GET", "/api/v1/mdm/devices?limit=0", None);
    assert_eq!(st, 400, "{j}");
    let (st, j) = srv.api(
        "POST",
        "/api/v1/mdm/invites",
        Some(&serde_json::json!({"uses": 0})),
    );
    assert_eq!(st, 400, "{j}");
    let (st, j) = srv.api(
        "POST",
        "/api/v1/mdm/invites",
        Some(&serde_json::json!({"bogus": 1})),
    );
    assert_eq!(st, 400, "{j}");
    let (st, j) = srv.api(
        "POST",
        "/api/v1/mdm/commands",
        Some(&serde_json::json!({"channels": []})),
    );
    assert_eq!(st, 400, "{j}");
    let (st, _) = srv.api("GET", "/api/v1/mdm/nothing-here", None);
    assert_eq!(st, 404);

    // The CLI goes through the same API.
    let cli = |args: &[&str]| {
        let mut c = std::process::Command::new(common::ADMITD);
        c.args([
            "--data-dir",
            srv.data.to_str().unwrap(),
            "mdm",
            "--server",
            &srv.base(),
        ]);
        c.args(args);
        common::run(&mut c)
    };
    let out = cli(&["invite", "--owner", "bob@example.com", "--uses", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["owner"], "bob@example.com", "{j}");
    assert_eq!(j["uses"], 2, "{j}");
    assert!(
        j["url"].as_str().unwrap().contains("/mdm/enroll?invite="),
        "{j}"
    );
    let out = cli(&["devices"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["devices"], serde_json::json!([]), "{j}");
    let out = cli(&[
        "send",
        "--channel",
        "NOPE",
        "--json",
        r#"{"RequestType":"ProfileList"}"#,
    ]);
    assert!(!out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j["error"].as_str().unwrap().contains("NOPE"), "{j}");
    srv.admitd.stop();
}
