//! Management API shapes: routing and typed parsing, Device JSON, error bodies, status codes,
//! Link paging, and the device endpoint's answers.

mod common;

use common::*;
use devauth::Error;
use devauth::admission::{self, AdmissionPolicy};
use devauth::api::{self, DeviceQuery, MANAGEMENT_BASE, ManagementRequest};
use devauth::http::{Method, Request, StatusCode, header};
use devauth::model::{AuthSetStatus, DeviceStatus};
use devauth::store::{MemStore, SnapshotKey, Store as _};
use testkit::rng;

fn req(method: Method, path: &str, body: &str) -> Request<Vec<u8>> {
    Request::builder()
        .method(method)
        .uri(format!("{MANAGEMENT_BASE}{path}"))
        .body(body.as_bytes().to_vec())
        .expect("request")
}

fn json(r: &devauth::http::Response<Vec<u8>>) -> serde_json::Value {
    serde_json::from_slice(r.body()).expect("json body")
}

const T0: u64 = 1_700_000_000;
const ID: &str = "5c4b0c39-5d0e-4b0e-8f6b-2a9d6a8e7f10";
const AID: &str = "0b1d7a2e-6a3f-4a7e-9a55-5d7f5c0b9c11";

#[test]
fn routes_parse_into_typed_requests() {
    use ManagementRequest as M;
    assert!(matches!(
        ManagementRequest::parse(&req(
            Method::GET,
            "/devices?status=pending&page=2&per_page=5",
            ""
        )),
        Ok(M::ListDevices(DeviceQuery {
            status: Some(DeviceStatus::Pending),
            page: 2,
            per_page: 5,
            ..
        }))
    ));
    assert!(matches!(
        ManagementRequest::parse(&req(Method::GET, &format!("/devices/{ID}"), "")),
        Ok(M::GetDevice(id)) if id.to_string() == ID
    ));
    assert!(matches!(
        ManagementRequest::parse(&req(Method::DELETE, &format!("/devices/{ID}"), "")),
        Ok(M::Decommission(_))
    ));
    assert!(matches!(
        ManagementRequest::parse(&req(
            Method::PUT,
            &format!("/devices/{ID}/auth/{AID}/status"),
            r#"{"status":"accepted"}"#
        )),
        Ok(M::SetStatus {
            status: AuthSetStatus::Accepted,
            ..
        })
    ));
    assert!(matches!(
        ManagementRequest::parse(&req(
            Method::GET,
            &format!("/devices/{ID}/auth/{AID}/status"),
            ""
        )),
        Ok(M::GetStatus { .. })
    ));
    assert!(matches!(
        ManagementRequest::parse(&req(
            Method::DELETE,
            &format!("/devices/{ID}/auth/{AID}"),
            ""
        )),
        Ok(M::DeleteAuthSet { .. })
    ));
    assert!(matches!(
        ManagementRequest::parse(&req(Method::GET, "/devices/count?status=accepted", "")),
        Ok(M::Count(Some(DeviceStatus::Accepted)))
    ));
    assert!(matches!(
        ManagementRequest::parse(&req(Method::DELETE, &format!("/tokens/{AID}"), "")),
        Ok(M::RevokeToken(j)) if j == AID
    ));
    assert!(matches!(
        ManagementRequest::parse(&req(Method::GET, "/limits/max_devices", "")),
        Ok(M::MaxDevices)
    ));
    assert!(matches!(
        ManagementRequest::parse(&req(Method::POST, "/devices/search?page=1", &format!(r#"{{"status":"rejected","id":["{ID}"]}}"#))),
        Ok(M::SearchDevices(DeviceQuery { status: Some(DeviceStatus::Rejected), ref ids, .. })) if ids.len() == 1
    ));
    let pem =
        String::from_utf8(vector("deviceauth/testdata/api_http_testdata_public.pem")).expect("pem");
    let body = serde_json::json!({"identity_data": {"mac": "00:01:02:03:04:05"}, "pubkey": pem, "force": true}).to_string();
    match ManagementRequest::parse(&req(Method::POST, "/devices", &body)) {
        Ok(M::Preauthorize(p)) => {
            assert!(p.force);
            // The identity hash of {"mac":"00:01:02:03:04:05"} from idhash-cases.jsonl.
            assert_eq!(
                p.identity.hash_hex(),
                "9f736bcb28bfaa989b5f5e1409dbf0eac7a66126b632d03af0fe34ac28bf4a72"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_management_requests_get_their_status() {
    let pem =
        String::from_utf8(vector("deviceauth/testdata/api_http_testdata_public.pem")).expect("pem");
    let status_path = format!("/devices/{ID}/auth/{AID}/status");
    let cases: Vec<(Method, String, String, StatusCode)> = vec![
        (
            Method::GET,
            "/devices?status=bogus".into(),
            String::new(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/devices?per_page=0".into(),
            String::new(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/devices?per_page=501".into(),
            String::new(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/devices?page=x".into(),
            String::new(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/devices/not-a-uuid".into(),
            String::new(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/nothing".into(),
            String::new(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PATCH,
            "/devices".into(),
            String::new(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::PUT,
            status_path.clone(),
            r#"{"status":"preauthorized"}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            status_path.clone(),
            r#"{"status":"bogus"}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            status_path.clone(),
            r#"{"status":1}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            status_path.clone(),
            r#"{"status":"accepted""#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            status_path.clone(),
            "{}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/devices".into(),
            serde_json::json!({"identity_data": "{\"mac\":\"x\"}", "pubkey": pem}).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/devices".into(),
            serde_json::json!({"identity_data": {}, "pubkey": pem}).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/devices".into(),
            serde_json::json!({"identity_data": {"mac": "x"}}).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/devices".into(),
            serde_json::json!({"identity_data": {"mac": "x"}, "pubkey": pem, "force": "yes"})
                .to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/devices".into(),
            " ".repeat(api::MAX_MANAGEMENT_BODY + 1),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/devices/search".into(),
            r#"{"id":"x"}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (m, path, body, want) in cases {
        let e = ManagementRequest::parse(&req(m.clone(), &path, &body)).unwrap_err();
        assert_eq!(e.status(), want, "{m} {path} {body:.60}: {e:?}");
        let r = e.to_response("req-1");
        assert_eq!(r.status(), want);
        let b = json(&r);
        assert_eq!(b["request_id"], "req-1");
        assert_eq!(b["error"], e.to_string());
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}

#[test]
fn device_json_paging_and_answers() {
    let store = MemStore::new();
    let policy = AdmissionPolicy::default().with_max_devices(1);
    let pem =
        String::from_utf8(vector("deviceauth/testdata/api_http_testdata_public.pem")).expect("pem");
    let mut created = Vec::new();
    for i in 0..5u64 {
        let body = serde_json::json!({"identity_data": {"n": i}, "pubkey": pem}).to_string();
        let Ok(ManagementRequest::Preauthorize(p)) =
            ManagementRequest::parse(&req(Method::POST, "/devices", &body))
        else {
            panic!("preauth request")
        };
        let mut r = rng(i);
        let res = store
            .run(SnapshotKey::Identity(&p.identity), 3, |snap| {
                admission::preauthorize(snap, &p.identity, &p.pubkey, p.force, T0 + i, &mut r)
            })
            .expect("applied");
        let resp = api::preauthorize_response(&res, None, "r");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let id = res.expect("ok").device_id;
        assert_eq!(
            resp.headers()[header::LOCATION],
            format!("{MANAGEMENT_BASE}/devices/{id}")
        );
        created.push(id);
        // Preauthorizing the same identity again: 409 with the existing device.
        let snap = store.snapshot(SnapshotKey::Identity(&p.identity));
        let d = admission::preauthorize(&snap, &p.identity, &p.pubkey, false, T0, &mut rng(99));
        let resp = api::preauthorize_response(&d.answer, snap.record.as_ref(), "r");
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(json(&resp)["id"], id.to_string());
    }

    // Device JSON.
    let rec = store.device(created[0]).expect("device");
    let resp = api::device_response(&rec);
    assert_eq!(resp.status(), StatusCode::OK);
    let j = json(&resp);
    assert_eq!(j["id"], created[0].to_string());
    assert_eq!(j["identity_data"], serde_json::json!({"n": 0}));
    assert_eq!(j["status"], "preauthorized");
    assert_eq!(j["decommissioning"], false);
    assert_eq!(j["created_ts"], "2023-11-14T22:13:20Z");
    assert_eq!(j["updated_ts"], "2023-11-14T22:13:20Z");
    let sets = j["auth_sets"].as_array().expect("sets");
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0]["status"], "preauthorized");
    assert_eq!(sets[0]["identity_data"], serde_json::json!({"n": 0}));
    assert_eq!(sets[0]["ts"], "2023-11-14T22:13:20Z");
    // The stored key is the canonical PEM of the one sent (here already canonical).
    assert_eq!(sets[0]["pubkey"], pem);
    let keys: Vec<&String> = j.as_object().expect("obj").keys().collect();
    assert_eq!(
        keys,
        [
            "auth_sets",
            "created_ts",
            "decommissioning",
            "id",
            "identity_data",
            "status",
            "updated_ts"
        ]
    );

    // Paging: 5 devices, 2 per page.
    let all = store.devices();
    let q = |page| DeviceQuery {
        page,
        per_page: 2,
        ..DeviceQuery::default()
    };
    let (p1, more) = q(1).select(&all);
    assert_eq!((p1.len(), more), (2, true));
    let resp = q(1).response(&p1, more);
    assert_eq!(
        resp.headers()[header::LINK],
        format!(
            "<{MANAGEMENT_BASE}/devices?page=1&per_page=2>; rel=\"first\", <{MANAGEMENT_BASE}/devices?page=2&per_page=2>; rel=\"next\""
        )
    );
    assert_eq!(json(&resp).as_array().expect("array").len(), 2);
    let (p3, more) = q(3).select(&all);
    assert_eq!((p3.len(), more), (1, false));
    assert_eq!(p3[0].device.id, created[4]);
    assert_eq!(
        q(3).response(&p3, more).headers()[header::LINK],
        format!(
            "<{MANAGEMENT_BASE}/devices?page=1&per_page=2>; rel=\"first\", <{MANAGEMENT_BASE}/devices?page=2&per_page=2>; rel=\"prev\""
        )
    );
    let filtered = DeviceQuery {
        status: Some(DeviceStatus::Accepted),
        ..DeviceQuery::default()
    };
    assert_eq!(filtered.select(&all).0.len(), 0);

    // Small answers.
    assert_eq!(
        json(&api::count_response(5)),
        serde_json::json!({"count": 5})
    );
    assert_eq!(
        json(&api::limit_response(policy.max_devices)),
        serde_json::json!({"limit": 1})
    );
    assert_eq!(
        json(&api::limit_response(None)),
        serde_json::json!({"limit": 0})
    );
    assert_eq!(
        json(&api::status_response(AuthSetStatus::Rejected)),
        serde_json::json!({"status": "rejected"})
    );
    assert_eq!(
        api::unit_response(&Ok(()), "r").status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api::unit_response(&Err(Error::LimitExceeded { limit: 1 }), "r").status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Device endpoint answers.
    let ok = api::auth_response(&Ok("a.b.c".into()), "r");
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()[header::CONTENT_TYPE], "application/jwt");
    assert_eq!(ok.body(), b"a.b.c");
    for (e, code) in [
        (Error::Pending, StatusCode::UNAUTHORIZED),
        (Error::Rejected, StatusCode::UNAUTHORIZED),
        (Error::SignatureInvalid, StatusCode::UNAUTHORIZED),
        (
            Error::DeviceLimitReached { limit: 1 },
            StatusCode::UNAUTHORIZED,
        ),
        (Error::Pkcs1PublicKey, StatusCode::BAD_REQUEST),
        (Error::MissingField("id_data"), StatusCode::BAD_REQUEST),
    ] {
        let r = api::auth_response(&Err(e.clone()), "abc");
        assert_eq!(r.status(), code);
        assert_eq!(
            json(&r),
            serde_json::json!({"error": e.to_string(), "request_id": "abc"})
        );
    }
}
