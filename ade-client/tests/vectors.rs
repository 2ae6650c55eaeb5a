//! Conformance against the shared ADE vectors (`../shared/vectors/ade/`): the real ABM server
//! token, the OAuth 1.0a known answers, the bypass-code known answers, the captured JSON
//! responses and the JSON schemas. Every expected value comes from the vectors.

use std::sync::Arc;

use ade_client::albc::BypassCode;
use ade_client::endpoints::{self, AssignMethod};
use ade_client::http::{Response, StatusCode};
use ade_client::model::{
    ActivationLockRequest, DeviceStatus, OpType, OrgType, Profile, ProfileStatus,
};
use ade_client::oauth::{self, SigningRequest};
use ade_client::{Config, Error, ServerToken, Session, Stamp, TokenError};
use pki::der::Decode;
use pki::key::PrivateKey;
use pki::provider::CryptoProvider;
use pki::x509_cert::Certificate;
use serde_json::Value;

const RES: &str = "ade/petarov-apple-mdm-clients/device-assignment-client/src/test/resources";
const SCHEMAS: &str = "ade/micromdm-apple-device-services/dep/schemas";
const TESTDATA: &str = "ade/micromdm-micromdm/dep/testdata";

fn json_vector(rel: &str) -> Value {
    serde_json::from_slice(&testkit::vector(rel)).unwrap()
}

/// The token's RSA key as PKCS#8, converted by openssl (the vector is PKCS#1 DER).
fn token_key_pkcs8() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = testkit::vector_file(&format!("{RES}/apple-mdm-client-tests-1.der"));
    testkit::openssl(
        dir.path(),
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-inform",
            "DER",
            "-in",
            path.to_str().unwrap(),
            "-outform",
            "DER",
        ],
    )
}

fn token_cert() -> Certificate {
    let pem = testkit::vector(&format!("{RES}/apple-mdm-client-tests-1.crt"));
    Certificate::from_der(&testkit::pem_to_der(&pem)).unwrap()
}

fn key(provider: &dyn CryptoProvider) -> Arc<dyn PrivateKey> {
    provider
        .private_key_from_pkcs8_der(&token_key_pkcs8())
        .unwrap()
}

fn assert_is_expected_token(t: &ServerToken) {
    let want = json_vector("ade/derived/petarov-token/token.json");
    assert_eq!(t.consumer_key, want["consumer_key"].as_str().unwrap());
    assert_eq!(
        t.consumer_secret.expose(),
        want["consumer_secret"].as_str().unwrap()
    );
    assert_eq!(
        t.access_token.expose(),
        want["access_token"].as_str().unwrap()
    );
    assert_eq!(
        t.access_secret.expose(),
        want["access_secret"].as_str().unwrap()
    );
    assert_eq!(
        t.access_token_expiry,
        want["access_token_expiry"].as_str().unwrap()
    );
}

#[test]
fn real_token_decrypts_in_every_form_with_every_provider() {
    let p7m = testkit::vector(&format!("{RES}/apple-mdm-client-tests-1-server-token.p7m"));
    let ber = testkit::vector("ade/derived/petarov-token/cms-envelopeddata.ber");
    let text = String::from_utf8(p7m.clone()).unwrap();
    let lf = text.replace("\r\n", "\n");
    let crlf = lf.replace('\n', "\r\n");
    let bare_b64: String = lf.split_once("\n\n").unwrap().1.to_owned();
    let forms: Vec<(&str, Vec<u8>)> = vec![
        ("p7m as stored", p7m),
        ("p7m LF", lf.into_bytes()),
        ("p7m CRLF", crlf.into_bytes()),
        ("bare base64", bare_b64.into_bytes()),
        ("raw BER", ber),
    ];
    let cert = token_cert();
    for provider in pki::provider::compiled() {
        let k = key(provider);
        for (name, input) in &forms {
            let mut rng = testkit::rng(1);
            let t = ServerToken::decrypt(input, provider, &*k, Some(&cert), &mut rng)
                .unwrap_or_else(|e| panic!("{name} with {}: {e}", provider.name()));
            assert_is_expected_token(&t);
        }
    }
}

#[test]
fn decrypted_mime_reads_to_token_json() {
    let mime = testkit::vector("ade/derived/petarov-token/decrypted-content.mime");
    assert_is_expected_token(&ServerToken::from_decrypted(&mime).unwrap());
    let json = testkit::vector("ade/derived/petarov-token/token.json");
    assert_is_expected_token(&ServerToken::from_json(&json).unwrap());
}

#[test]
fn token_expiry_is_read() {
    let t =
        ServerToken::from_json(&testkit::vector("ade/derived/petarov-token/token.json")).unwrap();
    // 2026-01-17T11:02:21Z, as computed by `date -u -d 2026-01-17T11:02:21Z +%s`.
    let dir = tempfile::tempdir().unwrap();
    let out = testkit::run_bounded(
        std::process::Command::new("date").args(["-u", "-d", "2026-01-17T11:02:21Z", "+%s"]),
        dir.path(),
        std::time::Duration::from_secs(10),
    );
    let want: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(t.expires_at(), Some(want));
    assert!(t.is_expired(want as u64));
    assert!(!t.is_expired(want as u64 - 1));
}

#[test]
fn token_for_another_key_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    testkit::openssl(
        dir.path(),
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
    let other = testkit::openssl(
        dir.path(),
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "other.pem",
            "-outform",
            "DER",
        ],
    );
    let p7m = testkit::vector(&format!("{RES}/apple-mdm-client-tests-1-server-token.p7m"));
    for provider in pki::provider::compiled() {
        let k = provider.private_key_from_pkcs8_der(&other).unwrap();
        let mut rng = testkit::rng(2);
        let e = ServerToken::decrypt(&p7m, provider, &*k, None, &mut rng).unwrap_err();
        assert_eq!(
            e,
            Error::Token(TokenError::Cms(pki::Error::NotFound("recipient")))
        );
    }
}

fn kat() -> Vec<Value> {
    json_vector("ade/derived/oauth1/oauth1-hmac-sha1-kat.json")["vectors"]
        .as_array()
        .unwrap()
        .clone()
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect(),
        Value::Array(a) => a
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_owned(),
                    p[1].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
        _ => panic!("not parameters: {v}"),
    }
}

/// `OAuth k="v", ...` into sorted (k, v) pairs.
fn header_params(h: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = h
        .strip_prefix("OAuth ")
        .unwrap()
        .split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn oauth_known_answers() {
    let vectors = kat();
    assert_eq!(vectors.len(), 16);
    for v in &vectors {
        let id = v["id"].as_str().unwrap();
        let form = pairs(&v["body_form_params"]);
        let form: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let params = pairs(&v["oauth_params"]);
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let sig = oauth::sign(&SigningRequest {
            method: v["method"].as_str().unwrap(),
            url: v["url"].as_str().unwrap(),
            form: &form,
            oauth: &params,
            consumer_secret: v["consumer_secret"].as_str().unwrap(),
            token_secret: v["token_secret"].as_str().unwrap(),
        })
        .unwrap();
        assert_eq!(
            sig.base_string,
            v["signature_base_string"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            sig.signature,
            v["oauth_signature"].as_str().unwrap(),
            "{id}"
        );
        if let Some(h) = v["authorization_header"].as_str() {
            let ours = oauth::authorization_header(&params, &sig);
            assert_eq!(header_params(&ours), header_params(h), "{id}");
        }
    }
}

#[test]
fn session_request_signs_like_the_dep_vectors() {
    let token =
        ServerToken::from_json(&testkit::vector("ade/derived/petarov-token/token.json")).unwrap();
    for (id, with_version) in [("dep-session-v1.0", true), ("dep-session-noversion", false)] {
        let v = kat().into_iter().find(|v| v["id"] == id).unwrap();
        let cfg = Config::new("admit-test/1")
            .unwrap()
            .with_oauth_version(with_version);
        let session = Session::new(cfg, token.clone());
        let ts: u64 = v["oauth_params"]["oauth_timestamp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let req = session
            .session_request(Stamp {
                timestamp: ts,
                nonce: v["oauth_params"]["oauth_nonce"].as_str().unwrap(),
            })
            .unwrap();
        assert_eq!(req.uri().to_string(), v["url"].as_str().unwrap());
        assert_eq!(req.method().as_str(), "GET");
        let auth = req.headers()["authorization"].to_str().unwrap();
        let got = header_params(auth);
        let sig = got.iter().find(|(k, _)| k == "oauth_signature").unwrap();
        let want = oauth::encode(v["oauth_signature"].as_str().unwrap());
        assert_eq!(sig.1, want, "{id}");
        assert!(req.headers()["authorization"].is_sensitive());
        assert_eq!(req.headers()["x-server-protocol-version"], "3");
        assert_eq!(req.headers()["user-agent"], "admit-test/1");
    }
}

#[test]
fn bypass_code_known_answers() {
    let v = json_vector("ade/derived/albc/bypass-codes.json");
    let vectors = v["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 10);
    for x in vectors {
        let raw: [u8; 16] = hex::decode(x["raw_hex"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let code = BypassCode::from_bytes(raw);
        assert_eq!(code.code().as_str(), x["code"].as_str().unwrap());
        assert_eq!(code.escrow_key(), x["escrow_key_hex"].as_str().unwrap());
        let back = BypassCode::parse(x["code"].as_str().unwrap()).unwrap();
        assert_eq!(back.expose(), &raw);
        assert!(!format!("{code:?}").contains(x["code"].as_str().unwrap()));
    }
    assert!(BypassCode::parse("00000-00000-0000-0000-0000-000").is_none());
    assert!(BypassCode::parse("00000-00000-0000-0000-0000-000Z").is_none());
    assert!(BypassCode::parse("00000-00000-0000-0000-0000-000B").is_none());
}

fn ok(body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(StatusCode::OK)
        .body(body)
        .unwrap()
}

#[test]
fn captured_responses_parse() {
    let account = endpoints::parse_account(&ok(testkit::vector(&format!(
        "{TESTDATA}/account_response.json"
    ))))
    .unwrap();
    assert_eq!(account.value.org_type, Some(OrgType::Org));
    assert_eq!(account.value.max_limit("/server/devices"), Some(5000));
    assert_eq!(account.value.max_limit("/devices/sync"), Some(5000));
    assert_eq!(account.value.urls.len(), 18);

    let page = endpoints::parse_device_page(&ok(testkit::vector(&format!(
        "{TESTDATA}/device_response.json"
    ))))
    .unwrap();
    assert_eq!(page.value.devices.len(), 1);
    assert!(!page.value.more_to_follow);
    assert_eq!(page.value.devices[0].serial_number, "C02T0HL0GGC0");
    assert_eq!(
        page.value.devices[0].profile_status,
        Some(ProfileStatus::Assigned)
    );

    let empty = endpoints::parse_device_page(&ok(testkit::vector(&format!(
        "{TESTDATA}/empty_sync_response.json"
    ))))
    .unwrap();
    assert!(empty.value.devices.is_empty());

    let details = endpoints::parse_device_details(&ok(testkit::vector(&format!(
        "{TESTDATA}/device_details_response.json"
    ))))
    .unwrap();
    assert!(!details.value.devices.is_empty());
    for d in details.value.devices.values() {
        assert_eq!(d.response_status, Some(DeviceStatus::Success));
    }

    let profile = endpoints::parse_profile(&ok(testkit::vector(&format!(
        "{TESTDATA}/fetch_profile_response.json"
    ))))
    .unwrap();
    assert!(profile.value.profile_uuid.is_some());

    // Every capture keeps every key: typed fields and `extra` together serialise back to the
    // same JSON value.
    for f in [
        "account_response.json",
        "device_response.json",
        "empty_sync_response.json",
        "device_details_response.json",
        "fetch_profile_response.json",
    ] {
        let raw = testkit::vector(&format!("{TESTDATA}/{f}"));
        let want: Value = serde_json::from_slice(&raw).unwrap();
        let resp = ok(raw);
        let got = match f {
            "account_response.json" => {
                serde_json::to_value(endpoints::parse_account(&resp).unwrap().value)
            }
            "device_details_response.json" => {
                serde_json::to_value(endpoints::parse_device_details(&resp).unwrap().value)
            }
            "fetch_profile_response.json" => {
                serde_json::to_value(endpoints::parse_profile(&resp).unwrap().value)
            }
            _ => serde_json::to_value(endpoints::parse_device_page(&resp).unwrap().value),
        }
        .unwrap();
        assert_eq!(got, want, "{f}");
    }
}

#[test]
fn op_types_and_unknown_values_are_open() {
    let body = br#"{"cursor":"c","more_to_follow":false,"devices":[
        {"serial_number":"A","op_type":"added","op_date":"2024-01-01T00:00:00Z","os":"visionOS","new_key":1},
        {"serial_number":"B","op_type":"teleported","profile_status":"levitating"}]}"#;
    let page = endpoints::parse_device_page(&ok(body.to_vec()))
        .unwrap()
        .value;
    assert_eq!(page.devices[0].op_type, Some(OpType::Added));
    assert_eq!(page.devices[0].extra["new_key"], 1);
    assert_eq!(
        page.devices[1].op_type,
        Some(OpType::Other("teleported".into()))
    );
    assert_eq!(
        page.devices[1].profile_status,
        Some(ProfileStatus::Other("levitating".into()))
    );
}

// ---- request bodies against the JSON schemas ----

/// A schema with its `"$ref": "X.json"` replaced by the referenced schema (the vectors' schemas
/// refer to siblings by file name and carry no `$id`).
fn schema(name: &str) -> Value {
    fn inline(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref").cloned()
                    && r.ends_with(".json")
                {
                    let mut sub = schema(r.trim_end_matches(".json"));
                    if let Value::Object(s) = &mut sub {
                        s.remove("$schema");
                    }
                    *v = sub;
                    return;
                }
                m.values_mut().for_each(inline);
            }
            Value::Array(a) => a.iter_mut().for_each(inline),
            _ => {}
        }
    }
    let mut s = json_vector(&format!("{SCHEMAS}/{name}.json"));
    inline(&mut s);
    s
}

fn assert_valid(schema_name: &str, body: &[u8]) {
    assert_valid_formats(schema_name, body, true);
}

/// `formats`: also assert `format` keywords (date-time, uri). Our request bodies must pass them;
/// Apple's captured `/account` answer does not (its `urls[].uri` are paths, not URIs).
fn assert_valid_formats(schema_name: &str, body: &[u8], formats: bool) {
    let s = schema(schema_name);
    let validator = jsonschema::options()
        .should_validate_formats(formats)
        .build(&s)
        .unwrap_or_else(|e| panic!("schema {schema_name}: {e}"));
    let instance: Value = serde_json::from_slice(body).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{schema_name}: {errors:?} in {instance}");
}

fn assert_invalid(schema_name: &str, body: &Value) {
    let validator = jsonschema::validator_for(&schema(schema_name)).unwrap();
    assert!(!validator.is_valid(body), "{schema_name} accepted {body}");
}

#[test]
fn request_bodies_validate_against_schemas() {
    let cfg = Config::new("admit-test/1").unwrap();
    let serials: Vec<String> = vec!["C02T0HL0GGC0".into(), "DMQVX0ZHJF8J".into()];

    assert_valid(
        "FetchDeviceRequest",
        endpoints::fetch_devices(&cfg, None, Some(100))
            .unwrap()
            .body(),
    );
    assert_valid(
        "FetchDeviceRequest",
        endpoints::fetch_devices(&cfg, Some("MDow"), None)
            .unwrap()
            .body(),
    );
    assert_valid(
        "SyncDeviceRequest",
        endpoints::sync_devices(&cfg, "MDow", Some(1000))
            .unwrap()
            .body(),
    );
    assert_valid(
        "DeviceListRequest",
        endpoints::device_details(&cfg, &serials).unwrap().body(),
    );
    assert_valid(
        "DeviceListRequest",
        endpoints::disown_devices(&cfg, &serials).unwrap().body(),
    );
    for m in [AssignMethod::Post, AssignMethod::Put] {
        assert_valid(
            "ProfileServiceRequest",
            endpoints::assign_profile(&cfg, "C1F123098EB5074580041E69883004C3", &serials, m)
                .unwrap()
                .body(),
        );
    }
    assert_valid(
        "ClearProfileRequest",
        endpoints::remove_profile(&cfg, Some("C1F123098EB5074580041E69883004C3"), &serials)
            .unwrap()
            .body(),
    );
    let code = BypassCode::from_bytes([7; 16]);
    let lock = ActivationLockRequest {
        device: "C02T0HL0GGC0".into(),
        escrow_key: Some(code.escrow_key()),
        lost_message: Some("call IT".into()),
    };
    assert_valid(
        "ActivationLockRequest",
        endpoints::activation_lock(&cfg, &lock).unwrap().body(),
    );
    assert_valid(
        "AccountDrivenEnrollmentProfileRequest",
        endpoints::set_ade_profile(
            &cfg,
            "https://mdm.example.com/.well-known/com.apple.remotemanagement",
        )
        .unwrap()
        .body(),
    );

    // A profile as an MDM server defines it, and nanodep's template of every key round-tripped
    // through our type.
    let profile = Profile {
        profile_name: Some("Staff".into()),
        url: Some("https://mdm.example.com/enroll".into()),
        is_supervised: Some(true),
        is_mdm_removable: Some(false),
        is_mandatory: Some(true),
        org_magic: Some("913FABBB-0032-4E13-9966-D6BBAC900331".into()),
        department: Some("IT".into()),
        skip_setup_items: Some(vec!["Location".into(), "Restore".into()]),
        devices: Some(serials.clone()),
        ..Profile::default()
    };
    assert_valid(
        "Profile",
        endpoints::define_profile(&cfg, &profile).unwrap().body(),
    );

    // The schemas do reject what they should (so the checks above mean something).
    assert_invalid("SyncDeviceRequest", &serde_json::json!({ "limit": 5 }));
    assert_invalid(
        "ActivationLockRequest",
        &serde_json::json!({ "device": "X", "escrow_key": "abc" }),
    );
}

#[test]
fn nanodep_profile_template_keeps_every_key() {
    let raw = testkit::vector("ade/micromdm-nanodep/docs/dep-profile.example.json");
    let want: Value = serde_json::from_slice(&raw).unwrap();
    let p: Profile = serde_json::from_slice(&raw).unwrap();
    assert_eq!(serde_json::to_value(&p).unwrap(), want);
}

#[test]
fn captured_responses_validate_against_schemas() {
    // The other direction: the captures satisfy the schemas our parsers were written from.
    for (file, schema_name) in [
        ("account_response.json", "AccountDetail"),
        ("device_response.json", "FetchDeviceResponse"),
    ] {
        assert_valid_formats(
            schema_name,
            &testkit::vector(&format!("{TESTDATA}/{file}")),
            false,
        );
    }
}

#[test]
fn damaged_token_files_are_typed_errors() {
    let p7m = testkit::vector(&format!("{RES}/apple-mdm-client-tests-1-server-token.p7m"));
    let provider = pki::provider::compiled()[0];
    let k = key(provider);
    let cert = token_cert();
    let mut rng = testkit::rng(3);
    // Truncated anywhere: an error, never a panic, never a token.
    for cut in (0..p7m.len()).step_by(37) {
        let r = ServerToken::decrypt(&p7m[..cut], provider, &*k, Some(&cert), &mut rng);
        assert!(matches!(r, Err(Error::Token(_))), "cut at {cut}: {r:?}");
    }
    // A flipped bit in the encrypted content (the base64 near the end) fails decryption or
    // the MIME/JSON read, as a typed error.
    let text = String::from_utf8(p7m.clone()).unwrap();
    let (head, body) = text.split_once("\n\n").unwrap();
    let mut der = base64_decode(body);
    let n = der.len();
    der[n - 40] ^= 0x01;
    let r = ServerToken::decrypt(&der, provider, &*k, Some(&cert), &mut rng);
    assert!(matches!(r, Err(Error::Token(_))), "{r:?}");
    // Not base64, too large, empty.
    let bad = format!("{head}\n\n!!!not base64!!!\n");
    assert_eq!(
        ServerToken::decrypt(bad.as_bytes(), provider, &*k, None, &mut rng).unwrap_err(),
        Error::Token(TokenError::Format("body is not valid base64"))
    );
    let huge = vec![b'A'; ade_client::token::MAX_TOKEN_FILE + 1];
    assert!(matches!(
        ServerToken::decrypt(&huge, provider, &*k, None, &mut rng),
        Err(Error::Token(TokenError::TooLarge { .. }))
    ));
    assert_eq!(
        ServerToken::decrypt(b"", provider, &*k, None, &mut rng).unwrap_err(),
        Error::Token(TokenError::Empty)
    );
    // Decrypted content without the message block.
    assert_eq!(
        ServerToken::from_decrypted(b"Content-Type: text/plain\r\n\r\nhello").unwrap_err(),
        Error::Token(TokenError::NoMessage)
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b64"), s).unwrap();
    testkit::openssl(dir.path(), &["base64", "-d", "-in", "b64"])
}

#[test]
fn every_error_code_in_apples_table_is_known() {
    let table = testkit::vector(
        "ade/petarov-apple-mdm-clients/device-assignment-client/src/main/resources/messages_en.properties",
    );
    let text = String::from_utf8(table).unwrap();
    let codes: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| l.split_once('=').unwrap().0.trim())
        .collect();
    assert_eq!(codes.len(), 35);
    for code in codes {
        let c = ade_client::ErrorCode::classify(code.as_bytes())
            .unwrap_or_else(|| panic!("{code} not classified"));
        assert!(
            !matches!(c, ade_client::ErrorCode::Other(_)),
            "{code} unknown"
        );
        assert_eq!(c.as_str(), code);
        assert_ne!(c.kind(), ade_client::ErrorKind::Unknown, "{code}");
    }
}
