//! `admitd inspect` on Apple ADE material: the real server token from the vectors (envelope
//! without a key; with `--key` the token, secrets redacted, compared with the vector's
//! `token.json`), and every ADE JSON body recognised by type.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::{Value, json};

const RES: &str = "ade/petarov-apple-mdm-clients/device-assignment-client/src/test/resources";

fn run_inspect(dir: &Path, args: &[&str]) -> Output {
    Command::new(ADMITD)
        .current_dir(dir)
        .arg("inspect")
        .args(args)
        .output()
        .unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn server_token_envelope_and_decryption_with_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p7m = testkit::vector_file(&format!("{RES}/apple-mdm-client-tests-1-server-token.p7m"));
    let pem = testkit::vector_file(&format!("{RES}/apple-mdm-client-tests-1.pem"));
    let want: Value =
        serde_json::from_slice(&testkit::vector("ade/derived/petarov-token/token.json")).unwrap();
    let structure: Value =
        serde_json::from_slice(&testkit::vector("ade/derived/petarov-token/structure.json"))
            .unwrap();

    let v = ok_json(&run_inspect(d, &[p7m.to_str().unwrap()]));
    let env = &v["adeServerToken"]["envelope"];
    assert_eq!(env["recipientInfos"].as_array().unwrap().len(), 1);
    assert_eq!(
        env["contentEncryptionAlgorithm"], "Aes128Cbc",
        "{structure}"
    );
    assert_eq!(env["encryptedContentLength"], 512);

    // PKCS#1 PEM as uploaded, and the same key as PKCS#8 (converted by openssl).
    let pkcs8 = d.join("key8.pem");
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            pem.to_str().unwrap(),
            "-out",
            pkcs8.to_str().unwrap(),
        ],
    );
    for key in [pem.as_path(), pkcs8.as_path()] {
        let out = run_inspect(d, &[p7m.to_str().unwrap(), "--key", key.to_str().unwrap()]);
        let v = ok_json(&out);
        let t = &v["adeServerToken"];
        assert_eq!(t["consumer_key"], want["consumer_key"]);
        assert_eq!(t["access_token_expiry"], want["access_token_expiry"]);
        for secret in ["consumer_secret", "access_token", "access_secret"] {
            assert_eq!(t[secret], "<redacted>");
            let s = want[secret].as_str().unwrap();
            assert!(
                !String::from_utf8_lossy(&out.stdout).contains(s),
                "{secret} printed"
            );
            assert!(
                !String::from_utf8_lossy(&out.stderr).contains(s),
                "{secret} printed"
            );
        }
    }

    // A key that is not the token's: a typed message, exit 1, nothing secret.
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "other.pem",
        ],
    );
    let out = run_inspect(d, &[p7m.to_str().unwrap(), "--key", "other.pem"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opens none of the 1 recipients"), "{err}");
}

#[test]
fn ade_json_bodies_are_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let testdata = "ade/micromdm-micromdm/dep/testdata";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (testkit::vector(&format!("{testdata}/account_response.json")), "AccountDetail"),
        (testkit::vector(&format!("{testdata}/device_response.json")), "FetchDeviceResponse"),
        (testkit::vector(&format!("{testdata}/empty_sync_response.json")), "FetchDeviceResponse"),
        (testkit::vector(&format!("{testdata}/device_details_response.json")), "DeviceListResponse"),
        (testkit::vector(&format!("{testdata}/fetch_profile_response.json")), "Profile"),
        (testkit::vector("ade/micromdm-nanodep/docs/dep-profile.example.json"), "Profile"),
        (testkit::vector("ade/derived/petarov-token/token.json"), "ServerToken"),
        (br#"{"auth_session_token":"87a235815b8d6661ac73329f75815b8d6661ac73329f815"}"#.to_vec(), "SessionResponse"),
        (br#"{"profile_uuid":"P","devices":{"A":"SUCCESS","B":"THROTTLED"},"retry_after_seconds":30}"#.to_vec(), "AssignProfileResponse"),
        (br#"{"devices":{"A":"SUCCESS"}}"#.to_vec(), "DeviceStatusResponse"),
        (br#"{"serial_number":"A","response_status":"DEVICE_ALREADY_LOCKED"}"#.to_vec(), "ActivationLockStatusResponse"),
        (br#"{"device":"A","escrow_key":"deab860d28deb5b7121d6d8fcf0f78e1471756d1b2c566c03277c23ea8930b4f"}"#.to_vec(), "ActivationLockRequest"),
        (br#"{"betaEnrollmentTokens":[{"title":"iOS beta","os":"iOS","token":"t"}]}"#.to_vec(), "GetSeedBuildTokenResponse"),
        (br#"{"mdm_service_discovery_url":"https://x/y","last_updated_timestamp":"2024-01-01T00:00:00Z"}"#.to_vec(), "GetAccountDrivenEnrollmentProfileResponse"),
        (br#"{"mdm_service_discovery_url":"https://x/y"}"#.to_vec(), "AccountDrivenEnrollmentProfileRequest"),
        (br#"{"profile_uuid":"P","devices":["A"]}"#.to_vec(), "ProfileServiceRequest"),
        (br#"{"devices":["A","B"]}"#.to_vec(), "DeviceListRequest"),
        (br#"{"cursor":"MDow","limit":100}"#.to_vec(), "SyncDeviceRequest"),
        (br#"{"limit":100}"#.to_vec(), "FetchDeviceRequest"),
    ];
    for (i, (body, kind)) in cases.iter().enumerate() {
        let f = format!("body{i}.json");
        std::fs::write(d.join(&f), body).unwrap();
        let out = run_inspect(d, &[&f]);
        let v = ok_json(&out);
        assert_eq!(v["ade"]["type"], *kind, "{}", String::from_utf8_lossy(body));
        let text = String::from_utf8_lossy(&out.stdout);
        for secret in [
            "CS_810bb5ab",
            "AT_O8474885631",
            "AS_97b944",
            "87a235815b8d",
            "deab860d28de",
        ] {
            assert!(!text.contains(secret), "{secret} printed for {kind}");
        }
    }
    // Unknown keys survive.
    std::fs::write(
        d.join("page.json"),
        br#"{"cursor":"c","more_to_follow":false,"devices":[{"serial_number":"A","future":1}]}"#,
    )
    .unwrap();
    let v = ok_json(&run_inspect(d, &["page.json"]));
    assert_eq!(v["ade"]["value"]["devices"][0]["future"], json!(1));
}
