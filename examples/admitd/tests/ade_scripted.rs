//! `ade-client` against a scripted Apple ADE service over real HTTP on 127.0.0.1.
//!
//! The server is hyper, playing back recorded answer sequences; the client side is a thin
//! adapter that sends each `http::Request` the sans-IO client builds with hyper's HTTP/1
//! client and hands the `http::Response` back. Each scenario asserts the exact requests the
//! client made, in order: session expiry mid-sync, a rotated session token, 403 FORBIDDEN,
//! terms not signed, an expired cursor, an unchanged cursor, throttled devices and a 429.

mod ade_support;

use std::net::SocketAddr;

use ade_client::endpoints::{self, AssignMethod};
use ade_client::http::{Request, Response};
use ade_client::{
    Call, Checkpoint, Error, ErrorCode, Mode, Progress, RetryAfter, ServerToken, Session, Stamp,
    Step, SyncRound, Warning,
};
use ade_support::{Apple, TOKEN, answer, page, session_ok};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::json;

/// The thin adapter: send one `http::Request<Vec<u8>>` with hyper, return the whole response.
async fn send(addr: SocketAddr, req: Request<Vec<u8>>) -> Response<Vec<u8>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (mut parts, body) = req.into_parts();
    // HTTP/1 wants origin-form with a Host header; the URI built by ade-client is absolute.
    let host = parts.uri.authority().unwrap().to_string();
    parts.uri = parts
        .uri
        .path_and_query()
        .unwrap()
        .as_str()
        .parse()
        .unwrap();
    parts.headers.insert("host", host.parse().unwrap());
    let resp = sender
        .send_request(Request::from_parts(parts, Full::new(Bytes::from(body))))
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    Response::from_parts(parts, bytes)
}

const STAMP: Stamp<'static> = Stamp {
    timestamp: 1_740_830_400,
    nonce: "0f1e2d3c4b5a6978",
};

/// Drive one call to its end.
async fn drive<T>(addr: SocketAddr, session: &mut Session, mut call: Call<T>) -> Result<T, Error> {
    let mut req = call.start(session, STAMP)?;
    loop {
        let resp = send(addr, req).await;
        match call.handle(session, resp, STAMP)? {
            Step::Send(next) => req = next,
            Step::Done(v) => return Ok(v),
        }
    }
}

/// Run one sync round, storing every page; returns the stored serials, or the error.
async fn sync_round(
    apple: &Apple,
    session: &mut Session,
    round: &mut SyncRound,
) -> Result<Vec<String>, Error> {
    let mut stored = Vec::new();
    // The caller's checkpoint store, updated by compare-and-set.
    let mut store = round.checkpoint().clone();
    while let Some(call) = round.next_call(session.config())? {
        let outcome = drive(apple.addr, session, call).await;
        if let Progress::Page(devices) = round.handle(outcome)? {
            stored.extend(devices.into_iter().map(|d| d.serial_number));
            let commit = round.stored()?;
            assert_eq!(commit.expected, store, "compare-and-set precondition");
            store = commit.next;
        }
    }
    assert_eq!(&store, round.checkpoint());
    Ok(stored)
}

fn new_session(apple: &Apple) -> Session {
    Session::new(apple.config(), ServerToken::from_json(TOKEN).unwrap())
}

fn sync_checkpoint(cursor: &str) -> Checkpoint {
    Checkpoint {
        cursor: Some(cursor.into()),
        mode: Mode::Sync,
        cursor_at: Some(1_740_830_000),
    }
}

#[tokio::test]
async fn session_expires_mid_sync() {
    let apple = Apple::start(vec![
        session_ok("S1"),
        page("c1", true, &["A1", "A2"]),
        answer(401, "UNAUTHORIZED"),
        session_ok("S2"),
        page("c2", false, &["A3"]),
    ])
    .await;
    let mut s = new_session(&apple);
    let mut round = SyncRound::new(None, 1_740_830_400, Some(2), None);
    let stored = sync_round(&apple, &mut s, &mut round).await.unwrap();
    assert_eq!(stored, ["A1", "A2", "A3"]);
    assert_eq!(
        apple.log(),
        [
            "GET /session",
            "POST /server/devices [S1]",
            "POST /server/devices [S1]",
            "GET /session",
            "POST /server/devices [S2]",
        ]
    );
    // The retried page asks for the same cursor as the refused one.
    assert_eq!(
        apple.bodies(),
        [
            json!({"limit":2}),
            json!({"cursor":"c1","limit":2}),
            json!({"cursor":"c1","limit":2})
        ]
    );
    assert_eq!(round.checkpoint().cursor.as_deref(), Some("c2"));
    assert_eq!(round.checkpoint().mode, Mode::Sync);
    apple.assert_script_used();
}

#[tokio::test]
async fn rotated_session_token_is_used_next() {
    let mut rotated = page("c1", true, &["B1"]);
    rotated
        .headers
        .push(("X-ADM-Auth-Session", "S1-rotated".into()));
    let apple = Apple::start(vec![session_ok("S1"), rotated, page("c2", false, &["B2"])]).await;
    let mut s = new_session(&apple);
    let mut round = SyncRound::new(Some(sync_checkpoint("c0")), 1_740_830_400, None, None);
    let stored = sync_round(&apple, &mut s, &mut round).await.unwrap();
    assert_eq!(stored, ["B1", "B2"]);
    assert_eq!(
        apple.log(),
        [
            "GET /session",
            "POST /devices/sync [S1]",
            "POST /devices/sync [S1-rotated]"
        ]
    );
    apple.assert_script_used();
}

#[tokio::test]
async fn forbidden_renews_the_session_once() {
    let apple = Apple::start(vec![
        session_ok("S1"),
        answer(403, "FORBIDDEN"),
        session_ok("S2"),
        answer(200, r#"{"server_name":"scripted","org_type":"org"}"#),
    ])
    .await;
    let mut s = new_session(&apple);
    let call = Call::new(
        endpoints::account(s.config()).unwrap(),
        endpoints::parse_account,
    );
    let account = drive(apple.addr, &mut s, call).await.unwrap();
    assert_eq!(account.value.server_name.as_deref(), Some("scripted"));
    assert_eq!(
        apple.log(),
        [
            "GET /session",
            "GET /account [S1]",
            "GET /session",
            "GET /account [S2]"
        ]
    );
    apple.assert_script_used();
}

#[tokio::test]
async fn terms_not_signed_stops_the_sync() {
    let apple = Apple::start(vec![session_ok("S1"), answer(403, "T_C_NOT_SIGNED")]).await;
    let mut s = new_session(&apple);
    let cp = sync_checkpoint("c7");
    let mut round = SyncRound::new(Some(cp.clone()), 1_740_830_400, None, None);
    let e = sync_round(&apple, &mut s, &mut round).await.unwrap_err();
    assert_eq!(
        e,
        Error::ActionRequired {
            status: 403,
            code: Some(ErrorCode::TermsNotSigned)
        }
    );
    assert_eq!(apple.log(), ["GET /session", "POST /devices/sync [S1]"]);
    assert_eq!(round.checkpoint(), &cp);
    assert!(round.is_done());
    apple.assert_script_used();
}

#[tokio::test]
async fn expired_cursor_starts_again_with_fetch() {
    let apple = Apple::start(vec![
        session_ok("S1"),
        answer(400, "EXPIRED_CURSOR"),
        page("f1", true, &["C1"]),
        page("f2", false, &["C2"]),
    ])
    .await;
    let mut s = new_session(&apple);
    let mut cp = sync_checkpoint("old");
    cp.cursor_at = Some(1_740_830_400 - 8 * 86_400);
    let mut round = SyncRound::new(Some(cp), 1_740_830_400, None, None);
    assert_eq!(
        round.warnings(),
        [Warning::StaleCursor {
            age_secs: 8 * 86_400
        }]
    );
    let stored = sync_round(&apple, &mut s, &mut round).await.unwrap();
    assert_eq!(stored, ["C1", "C2"]);
    assert_eq!(
        apple.log(),
        [
            "GET /session",
            "POST /devices/sync [S1]",
            "POST /server/devices [S1]",
            "POST /server/devices [S1]",
        ]
    );
    assert_eq!(
        apple.bodies(),
        [json!({"cursor":"old"}), json!({}), json!({"cursor":"f1"})]
    );
    assert!(
        round
            .warnings()
            .contains(&Warning::Restarted(ErrorCode::ExpiredCursor))
    );
    assert_eq!(round.checkpoint().cursor.as_deref(), Some("f2"));
    apple.assert_script_used();
}

#[tokio::test]
async fn unchanged_cursor_ends_the_round() {
    let apple = Apple::start(vec![session_ok("S1"), page("same", true, &["D1"])]).await;
    let mut s = new_session(&apple);
    let mut round = SyncRound::new(Some(sync_checkpoint("same")), 1_740_830_400, None, None);
    let stored = sync_round(&apple, &mut s, &mut round).await.unwrap();
    assert_eq!(stored, ["D1"]);
    assert_eq!(apple.log(), ["GET /session", "POST /devices/sync [S1]"]);
    assert!(round.warnings().contains(&Warning::UnchangedCursor));
    apple.assert_script_used();
}

#[tokio::test]
async fn throttled_devices_are_retried_alone() {
    let apple = Apple::start(vec![
        session_ok("S1"),
        answer(
            200,
            json!({ "profile_uuid": "P1", "devices": { "E1": "SUCCESS", "E2": "THROTTLED", "E3": "NOT_ACCESSIBLE" }, "retry_after_seconds": 60 }).to_string(),
        ),
        answer(200, json!({ "profile_uuid": "P1", "devices": { "E2": "SUCCESS" } }).to_string()),
    ])
    .await;
    let mut s = new_session(&apple);
    let serials: Vec<String> = ["E1", "E2", "E3"].map(String::from).to_vec();
    let call = Call::new(
        endpoints::assign_profile(s.config(), "P1", &serials, AssignMethod::Post).unwrap(),
        endpoints::parse_device_statuses,
    );
    let first = drive(apple.addr, &mut s, call)
        .await
        .unwrap()
        .value
        .summary();
    assert_eq!(first.success, ["E1"]);
    assert_eq!(first.throttled, ["E2"]);
    assert_eq!(first.not_accessible, ["E3"]);
    assert_eq!(first.retry_after_seconds, Some(60));
    // The caller waits retry_after_seconds (not here: time is the caller's), then retries only
    // the throttled device.
    let call = Call::new(
        endpoints::assign_profile(s.config(), "P1", &first.throttled, AssignMethod::Post).unwrap(),
        endpoints::parse_device_statuses,
    );
    assert!(
        drive(apple.addr, &mut s, call)
            .await
            .unwrap()
            .value
            .summary()
            .all_succeeded()
    );
    assert_eq!(
        apple.log(),
        [
            "GET /session",
            "POST /profile/devices [S1]",
            "POST /profile/devices [S1]"
        ]
    );
    assert_eq!(
        apple.bodies(),
        [
            json!({"profile_uuid":"P1","devices":["E1","E2","E3"]}),
            json!({"profile_uuid":"P1","devices":["E2"]}),
        ]
    );
    apple.assert_script_used();
}

#[tokio::test]
async fn too_many_requests_surfaces_the_wait() {
    let mut r429 = answer(429, "");
    r429.headers.push(("Retry-After", "120".into()));
    let apple = Apple::start(vec![session_ok("S1"), r429]).await;
    let mut s = new_session(&apple);
    let mut round = SyncRound::new(None, 1_740_830_400, None, None);
    let e = sync_round(&apple, &mut s, &mut round).await.unwrap_err();
    assert_eq!(
        e,
        Error::Throttled {
            status: 429,
            retry_after: RetryAfter::Seconds(120)
        }
    );
    assert_eq!(apple.log(), ["GET /session", "POST /server/devices [S1]"]);
    assert_eq!(round.checkpoint(), &Checkpoint::default());
    apple.assert_script_used();
}
