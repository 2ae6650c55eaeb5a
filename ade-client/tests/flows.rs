//! The session, call and sync machines against a scripted Apple: each test lists the answers
//! Apple gives and asserts the exact requests made, in order.

use std::collections::VecDeque;

use ade_client::http::{Request, Response};
use ade_client::model::{Account, Device};
use ade_client::{
    Call, Checkpoint, Config, Error, ErrorCode, Mode, Progress, RetryAfter, ServerToken, Session,
    Stamp, Step, SyncRound, Warning, endpoints,
};
use serde_json::json;

const TOKEN: &[u8] = br#"{"consumer_key":"CK_test","consumer_secret":"CS_secret_value","access_token":"AT_secret_value","access_secret":"AS_secret_value","access_token_expiry":"2030-01-01T00:00:00Z"}"#;

fn session() -> Session {
    let cfg = Config::new("admit-flow-test/1")
        .unwrap()
        .with_base_url("https://apple.test")
        .unwrap();
    Session::new(cfg, ServerToken::from_json(TOKEN).unwrap())
}

const STAMP: Stamp<'static> = Stamp {
    timestamp: 1_700_000_000,
    nonce: "n0nce",
};

/// A scripted Apple: answers in order, records `METHOD path [session token]`.
struct Apple {
    script: VecDeque<Response<Vec<u8>>>,
    log: Vec<String>,
    bodies: Vec<serde_json::Value>,
}

impl Apple {
    fn new(script: Vec<Response<Vec<u8>>>) -> Apple {
        Apple {
            script: script.into(),
            log: Vec::new(),
            bodies: Vec::new(),
        }
    }

    fn send(&mut self, req: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        let auth = req
            .headers()
            .get("x-adm-auth-session")
            .map(|v| format!(" [{}]", v.to_str().unwrap()))
            .unwrap_or_default();
        self.log.push(format!(
            "{} {}{auth}",
            req.method(),
            req.uri().path_and_query().unwrap()
        ));
        assert_eq!(req.headers()["user-agent"], "admit-flow-test/1");
        assert_eq!(req.headers()["x-server-protocol-version"], "3");
        assert_eq!(
            req.headers()["content-type"],
            "application/json;charset=UTF8"
        );
        assert_eq!(req.headers()["accept"], "application/json");
        if !req.body().is_empty() {
            self.bodies
                .push(serde_json::from_slice(req.body()).unwrap());
        }
        self.script
            .pop_front()
            .expect("client sent more requests than scripted")
    }

    fn done(&self) {
        assert!(
            self.script.is_empty(),
            "{} scripted answers unused",
            self.script.len()
        );
    }
}

fn resp(status: u16, body: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn session_ok(tok: &str) -> Response<Vec<u8>> {
    resp(200, &json!({ "auth_session_token": tok }).to_string())
}

fn drive<T>(session: &mut Session, mut call: Call<T>, apple: &mut Apple) -> Result<T, Error> {
    let mut req = call.start(session, STAMP)?;
    loop {
        let r = apple.send(&req);
        match call.handle(session, r, STAMP)? {
            Step::Send(next) => req = next,
            Step::Done(v) => return Ok(v),
        }
    }
}

fn get_account(s: &mut Session, apple: &mut Apple) -> Result<ade_client::Reply<Account>, Error> {
    let call = account_call(s);
    drive(s, call, apple)
}

fn account_call(s: &Session) -> Call<ade_client::Reply<Account>> {
    Call::new(
        endpoints::account(s.config()).unwrap(),
        endpoints::parse_account,
    )
}

#[test]
fn first_call_opens_the_session_and_later_calls_reuse_it() {
    let mut s = session();
    let mut apple = Apple::new(vec![session_ok("S1"), resp(200, "{}"), resp(200, "{}")]);
    get_account(&mut s, &mut apple).unwrap();
    get_account(&mut s, &mut apple).unwrap();
    assert_eq!(
        apple.log,
        ["GET /session", "GET /account [S1]", "GET /account [S1]"]
    );
    assert_eq!(s.sessions_opened(), 1);
    apple.done();
}

#[test]
fn rotated_session_token_is_taken_over() {
    let mut s = session();
    let rotated = Response::builder()
        .status(200)
        .header("X-ADM-Auth-Session", "S2")
        .body(b"{}".to_vec())
        .unwrap();
    let mut apple = Apple::new(vec![session_ok("S1"), rotated, resp(200, "{}")]);
    get_account(&mut s, &mut apple).unwrap();
    get_account(&mut s, &mut apple).unwrap();
    assert_eq!(
        apple.log,
        ["GET /session", "GET /account [S1]", "GET /account [S2]"]
    );
    apple.done();
}

#[test]
fn expired_session_is_renewed_once_then_retried() {
    for refusal in [
        resp(401, "UNAUTHORIZED"),
        resp(401, ""),
        resp(403, "FORBIDDEN"),
    ] {
        let mut s = session();
        let mut apple = Apple::new(vec![
            session_ok("S1"),
            refusal,
            session_ok("S2"),
            resp(200, "{}"),
        ]);
        get_account(&mut s, &mut apple).unwrap();
        assert_eq!(
            apple.log,
            [
                "GET /session",
                "GET /account [S1]",
                "GET /session",
                "GET /account [S2]"
            ]
        );
        apple.done();
    }
}

#[test]
fn second_refusal_stops_instead_of_looping() {
    let mut s = session();
    let mut apple = Apple::new(vec![
        session_ok("S1"),
        resp(401, "UNAUTHORIZED"),
        session_ok("S2"),
        resp(401, "UNAUTHORIZED"),
    ]);
    let e = get_account(&mut s, &mut apple).unwrap_err();
    assert_eq!(e, Error::SessionRejected { status: 401 });
    assert_eq!(apple.log.len(), 4);
    apple.done();
}

#[test]
fn terms_not_signed_is_terminal() {
    for status in [403, 401] {
        let mut s = session();
        let mut apple = Apple::new(vec![session_ok("S1"), resp(status, "T_C_NOT_SIGNED")]);
        let e = get_account(&mut s, &mut apple).unwrap_err();
        assert_eq!(
            e,
            Error::ActionRequired {
                status,
                code: Some(ErrorCode::TermsNotSigned)
            }
        );
        assert_eq!(apple.log, ["GET /session", "GET /account [S1]"]);
        assert!(e.to_string().contains("Apple Business Manager"));
    }
}

#[test]
fn refused_oauth_on_session_is_terminal() {
    for (status, body, code) in [
        (401, "token_rejected", ErrorCode::TokenRejected),
        (401, "signature_invalid", ErrorCode::SignatureInvalid),
        (403, "ACCESS_DENIED", ErrorCode::AccessDenied),
        (403, "T_C_NOT_SIGNED", ErrorCode::TermsNotSigned),
    ] {
        let mut s = session();
        let mut apple = Apple::new(vec![resp(status, body)]);
        let e = get_account(&mut s, &mut apple).unwrap_err();
        assert_eq!(
            e,
            Error::ActionRequired {
                status,
                code: Some(code)
            }
        );
        assert_eq!(apple.log, ["GET /session"]);
        assert!(!s.is_active());
    }
    // A refusal of the OAuth request that names no code is still terminal.
    let mut s = session();
    let mut apple = Apple::new(vec![resp(401, "")]);
    let e = get_account(&mut s, &mut apple).unwrap_err();
    assert_eq!(
        e,
        Error::ActionRequired {
            status: 401,
            code: None
        }
    );
}

#[test]
fn throttled_with_retry_after() {
    let mut s = session();
    let r429 = Response::builder()
        .status(429)
        .header("Retry-After", "42")
        .body(Vec::new())
        .unwrap();
    let mut apple = Apple::new(vec![session_ok("S1"), r429]);
    let e = get_account(&mut s, &mut apple).unwrap_err();
    assert_eq!(
        e,
        Error::Throttled {
            status: 429,
            retry_after: RetryAfter::Seconds(42)
        }
    );
    assert_eq!(apple.log.len(), 2);
}

#[test]
fn bad_bodies_are_typed_errors() {
    let huge = format!(
        "{{\"x\":\"{}\"}}",
        "a".repeat(ade_client::session::MAX_RESPONSE_BODY)
    );
    let cases: Vec<(&str, String)> = vec![
        (
            "truncated",
            r#"{"cursor":"abc","devices":[{"serial_number":"#.to_owned(),
        ),
        ("not JSON", "<html>busy</html>".to_owned()),
        (
            "wrong type",
            r#"{"cursor":"c","more_to_follow":"yes"}"#.to_owned(),
        ),
        (
            "wrong type in device",
            r#"{"cursor":"c","devices":[{"serial_number":5}]}"#.to_owned(),
        ),
        ("missing cursor", r#"{"devices":[]}"#.to_owned()),
        ("array", "[]".to_owned()),
    ];
    for (name, body) in cases {
        let e = endpoints::parse_device_page(&resp(200, &body)).unwrap_err();
        assert!(matches!(e, Error::MalformedBody { .. }), "{name}: {e:?}");
    }
    let e = endpoints::parse_device_page(&resp(200, &huge)).unwrap_err();
    assert!(matches!(e, Error::BodyTooLarge { .. }), "{e:?}");
    // Error bodies are capped, and classified.
    let e = endpoints::parse_device_page(&resp(
        400,
        &format!("EXPIRED_CURSOR{}", " ".repeat(100_000)),
    ))
    .unwrap_err();
    let Error::Api(api) = &e else { panic!("{e:?}") };
    assert_eq!(api.status, 400);
    assert_eq!(api.code, Some(ErrorCode::ExpiredCursor));
    assert_eq!(api.body.len(), ade_client::MAX_ERROR_BODY);
    // A bad session answer.
    let mut s = session();
    for body in [
        "",
        "{}",
        r#"{"auth_session_token":7}"#,
        r#"{"auth_session_token":"a\nb"}"#,
    ] {
        let e = s.handle_session_response(&resp(200, body)).unwrap_err();
        assert!(matches!(e, Error::MalformedBody { .. }), "{body}: {e:?}");
    }
}

#[test]
fn serial_batches_and_limits() {
    let cfg = Config::new("ua").unwrap();
    let serials: Vec<String> = (0..2500).map(|i| format!("SN{i:05}")).collect();
    let sizes: Vec<usize> = ade_client::batches(&serials).map(<[String]>::len).collect();
    assert_eq!(sizes, [1000, 1000, 500]);
    assert_eq!(
        endpoints::device_details(&cfg, &serials).unwrap_err(),
        Error::TooManySerials {
            len: 2500,
            max: 1000
        }
    );
    for chunk in ade_client::batches(&serials) {
        endpoints::device_details(&cfg, chunk).unwrap();
        endpoints::remove_profile(&cfg, None, chunk).unwrap();
        endpoints::assign_profile(&cfg, "P", chunk, endpoints::AssignMethod::Post).unwrap();
    }
    assert!(matches!(Config::new(""), Err(Error::ApiMisuse(_))));
    assert!(matches!(Config::new("bad\nua"), Err(Error::ApiMisuse(_))));
}

#[test]
fn per_device_summary() {
    let body = json!({
        "profile_uuid": "P",
        "devices": { "A": "SUCCESS", "B": "NOT_ACCESSIBLE", "C": "FAILED", "D": "THROTTLED", "E": "SOMETHING_NEW" },
        "retry_after_seconds": 300
    });
    let r = endpoints::parse_device_statuses(&resp(200, &body.to_string())).unwrap();
    let s = r.value.summary();
    assert_eq!(s.success, ["A"]);
    assert_eq!(s.not_accessible, ["B"]);
    assert_eq!(s.failed, ["C"]);
    assert_eq!(s.throttled, ["D"]);
    assert_eq!(s.other.len(), 1);
    assert_eq!(s.retry_after_seconds, Some(300));
    assert!(!s.all_succeeded());
}

// ---- sync ----

fn page(cursor: &str, more: bool, serials: &[&str]) -> Response<Vec<u8>> {
    let devices: Vec<_> = serials
        .iter()
        .map(|s| json!({ "serial_number": s, "model": "iPad", "op_type": "added", "op_date": "2024-05-01T10:00:00Z" }))
        .collect();
    resp(
        200,
        &json!({ "cursor": cursor, "more_to_follow": more, "devices": devices, "fetched_until": "2024-05-01T10:00:00Z" })
            .to_string(),
    )
}

/// Run one round, storing every page; returns the serials stored and the final checkpoint.
fn round(
    s: &mut Session,
    r: &mut SyncRound,
    apple: &mut Apple,
) -> Result<(Vec<String>, Checkpoint), Error> {
    let mut stored = Vec::new();
    let mut cp = r.checkpoint().clone();
    while let Some(call) = r.next_call(s.config())? {
        let outcome = drive(s, call, apple);
        match r.handle(outcome)? {
            Progress::Page(devices) => {
                stored.extend(devices.into_iter().map(|d| d.serial_number));
                let commit = r.stored()?;
                assert_eq!(commit.expected, cp, "commits chain");
                cp = commit.next;
            }
            Progress::Continue => {}
            _ => unreachable!(),
        }
    }
    Ok((stored, cp))
}

#[test]
fn fetch_pages_then_sync_next_round() {
    let mut s = session();
    let mut apple = Apple::new(vec![
        session_ok("S1"),
        page("c1", true, &["A", "B"]),
        page("c2", false, &["C"]),
        page("c3", false, &["D"]),
    ]);
    let mut r = SyncRound::new(None, 1000, Some(100), None);
    let (got, cp) = round(&mut s, &mut r, &mut apple).unwrap();
    assert_eq!(got, ["A", "B", "C"]);
    assert_eq!(
        cp,
        Checkpoint {
            cursor: Some("c2".into()),
            mode: Mode::Sync,
            cursor_at: Some(1000)
        }
    );
    let mut r = SyncRound::new(Some(cp), 2000, Some(100), None);
    let (got, cp) = round(&mut s, &mut r, &mut apple).unwrap();
    assert_eq!(got, ["D"]);
    assert_eq!(cp.cursor.as_deref(), Some("c3"));
    assert_eq!(
        apple.log,
        [
            "GET /session",
            "POST /server/devices [S1]",
            "POST /server/devices [S1]",
            "POST /devices/sync [S1]"
        ]
    );
    assert_eq!(
        apple.bodies,
        [
            json!({"limit":100}),
            json!({"cursor":"c1","limit":100}),
            json!({"cursor":"c2","limit":100})
        ]
    );
    apple.done();
}

#[test]
fn cursor_is_committed_only_after_stored() {
    let mut s = session();
    let mut apple = Apple::new(vec![session_ok("S1"), page("c1", true, &["A"])]);
    let mut r = SyncRound::new(None, 0, None, None);
    let call = r.next_call(s.config()).unwrap().unwrap();
    let out = drive(&mut s, call, &mut apple);
    assert!(matches!(r.handle(out).unwrap(), Progress::Page(_)));
    assert_eq!(r.checkpoint().cursor, None);
    assert!(matches!(r.next_call(s.config()), Err(Error::ApiMisuse(_))));
    let commit = r.stored().unwrap();
    assert_eq!(commit.expected, Checkpoint::default());
    assert_eq!(commit.next.cursor.as_deref(), Some("c1"));
    assert!(matches!(r.stored(), Err(Error::ApiMisuse(_))));
}

#[test]
fn unchanged_cursor_ends_the_round() {
    let mut s = session();
    let mut apple = Apple::new(vec![session_ok("S1"), page("c1", true, &["A"])]);
    let cp = Checkpoint {
        cursor: Some("c1".into()),
        mode: Mode::Sync,
        cursor_at: Some(0),
    };
    let mut r = SyncRound::new(Some(cp), 10, None, None);
    round(&mut s, &mut r, &mut apple).unwrap();
    assert_eq!(apple.log, ["GET /session", "POST /devices/sync [S1]"]);
    assert!(r.warnings().contains(&Warning::UnchangedCursor));
    apple.done();

    // An empty cursor with more_to_follow is no progress either.
    let mut apple = Apple::new(vec![page("", true, &["B"])]);
    let mut r = SyncRound::new(None, 10, None, None);
    let (got, cp) = round(&mut s, &mut r, &mut apple).unwrap();
    assert_eq!(got, ["B"]);
    assert_eq!(cp.cursor, None);
    assert_eq!(apple.log, ["POST /server/devices [S1]"]);
}

#[test]
fn exhausted_cursor_switches_to_sync() {
    let mut s = session();
    let mut apple = Apple::new(vec![
        session_ok("S1"),
        resp(400, "EXHAUSTED_CURSOR"),
        page("c9", false, &[]),
    ]);
    let cp = Checkpoint {
        cursor: Some("c5".into()),
        mode: Mode::Fetch,
        cursor_at: Some(0),
    };
    let mut r = SyncRound::new(Some(cp), 10, None, None);
    let (_, cp) = round(&mut s, &mut r, &mut apple).unwrap();
    assert_eq!(
        apple.log,
        [
            "GET /session",
            "POST /server/devices [S1]",
            "POST /devices/sync [S1]"
        ]
    );
    assert_eq!(apple.bodies[1], json!({"cursor":"c5"}));
    assert_eq!(cp.cursor.as_deref(), Some("c9"));
    assert_eq!(cp.mode, Mode::Sync);
}

#[test]
fn expired_cursor_restarts_from_fetch_once() {
    let mut s = session();
    let mut apple = Apple::new(vec![
        session_ok("S1"),
        resp(400, "EXPIRED_CURSOR"),
        page("n1", false, &["A"]),
    ]);
    let cp = Checkpoint {
        cursor: Some("old".into()),
        mode: Mode::Sync,
        cursor_at: Some(0),
    };
    let mut r = SyncRound::new(Some(cp), 8 * 24 * 3600, None, None);
    assert!(
        matches!(r.warnings()[0], Warning::StaleCursor { age_secs } if age_secs == 8 * 24 * 3600)
    );
    let (got, cp) = round(&mut s, &mut r, &mut apple).unwrap();
    assert_eq!(got, ["A"]);
    assert_eq!(
        apple.log,
        [
            "GET /session",
            "POST /devices/sync [S1]",
            "POST /server/devices [S1]"
        ]
    );
    assert_eq!(apple.bodies[1], json!({}));
    assert_eq!(cp.cursor.as_deref(), Some("n1"));

    // A second cursor refusal in the same round is returned, not retried.
    let mut apple = Apple::new(vec![
        resp(400, "INVALID_CURSOR"),
        resp(400, "INVALID_CURSOR"),
    ]);
    let cp = Checkpoint {
        cursor: Some("bad".into()),
        mode: Mode::Fetch,
        cursor_at: None,
    };
    let mut r = SyncRound::new(Some(cp.clone()), 0, None, None);
    let e = round(&mut s, &mut r, &mut apple).unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::InvalidCursor));
    assert_eq!(apple.log.len(), 2);
    assert_eq!(r.checkpoint(), &cp);
}

#[test]
fn page_size_is_capped_by_the_account() {
    let account: Account = serde_json::from_value(json!({
        "urls": [
            { "uri": "/server/devices", "http_method": ["POST"], "limit": { "default": 100, "maximum": 1000 } },
            { "uri": "/devices/sync", "http_method": ["POST"], "limit": { "default": 100, "maximum": 500 } }
        ]
    }))
    .unwrap();
    let r = SyncRound::new(None, 0, Some(5000), Some(&account));
    assert_eq!(r.page_limit(), Some(1000));
    let cp = Checkpoint {
        cursor: Some("c".into()),
        mode: Mode::Sync,
        cursor_at: Some(0),
    };
    assert_eq!(
        SyncRound::new(Some(cp.clone()), 0, Some(5000), Some(&account)).page_limit(),
        Some(500)
    );
    assert_eq!(
        SyncRound::new(Some(cp.clone()), 0, Some(20), Some(&account)).page_limit(),
        Some(20)
    );
    assert_eq!(SyncRound::new(Some(cp), 0, None, None).page_limit(), None);
}

#[test]
fn devices_are_deduplicated_on_latest_op_date() {
    let d = |serial: &str, op: &str, date: Option<&str>| {
        let mut v = json!({ "serial_number": serial, "op_type": op });
        if let Some(date) = date {
            v["op_date"] = json!(date);
        }
        serde_json::from_value::<Device>(v).unwrap()
    };
    let out = ade_client::sync::dedupe(vec![
        d("A", "added", Some("2024-01-01T00:00:00Z")),
        d("B", "added", Some("2024-01-01T00:00:00Z")),
        d("A", "deleted", Some("2024-01-03T00:00:00Z")),
        d("A", "modified", Some("2024-01-02T00:00:00Z")),
        d("B", "modified", Some("2024-01-01T00:00:00.500Z")),
    ]);
    let got: Vec<(String, String)> = out
        .iter()
        .map(|d| {
            (
                d.serial_number.clone(),
                d.op_type.as_ref().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("A".to_owned(), "deleted".to_owned()),
            ("B".to_owned(), "modified".to_owned())
        ]
    );
}

#[test]
fn secrets_never_appear_in_debug_or_errors() {
    let secrets = [
        "CS_secret_value",
        "AT_secret_value",
        "AS_secret_value",
        "SESSION_SECRET_1",
        "SESSION_SECRET_2",
    ];
    let mut s = session();
    let rotated = Response::builder()
        .status(200)
        .header("X-ADM-Auth-Session", "SESSION_SECRET_2")
        .body(b"{}".to_vec())
        .unwrap();
    let mut apple = Apple::new(vec![
        session_ok("SESSION_SECRET_1"),
        rotated,
        resp(401, ""),
        session_ok("SESSION_SECRET_1"),
        resp(401, ""),
        resp(401, "token_rejected"),
    ]);
    let mut out = Vec::new();
    let mut call = account_call(&s);
    let req = call.start(&s, STAMP).unwrap();
    out.push(format!("{req:?} {call:?}"));
    let r = apple.send(&req);
    let step = call.handle(&mut s, r, STAMP).unwrap();
    out.push(format!("{step:?} {s:?} {call:?}"));
    out.push(format!("{:?}", get_account(&mut s, &mut apple)));
    let e = get_account(&mut s, &mut apple).unwrap_err();
    out.push(format!("{e:?} {e}"));
    let e = get_account(&mut s, &mut apple).unwrap_err();
    out.push(format!("{e:?} {e}"));
    out.push(format!("{:?} {:?}", s.token(), s.session_token()));
    out.push(format!(
        "{:?}",
        ServerToken::from_json(br#"{"consumer_key":"k","consumer_secret":"CS_secret_value"}"#)
    ));
    out.push(format!(
        "{:?}",
        s.handle_session_response(&resp(200, r#"{"auth_session_token":["SESSION_SECRET_1"]}"#))
    ));
    out.push(format!(
        "{:?}",
        s.handle_session_response(&resp(200, r#"{"auth_session_token":"SESSION_SECRET_1"#))
    ));
    let sig = ade_client::oauth::sign(&ade_client::oauth::SigningRequest {
        method: "GET",
        url: "https://apple.test/session",
        form: &[],
        oauth: &[("oauth_token", "AT_secret_value")],
        consumer_secret: "CS_secret_value",
        token_secret: "AS_secret_value",
    })
    .unwrap();
    out.push(format!("{sig:?}"));
    let all = out.join("\n");
    for secret in secrets {
        assert!(!all.contains(secret), "{secret} leaked in:\n{all}");
    }
    assert_eq!(apple.log.len(), 6);
}
