//! Property tests: total parsers (no panic on any input), encode/decode round trips, dedupe
//! invariants.

use ade_client::albc::BypassCode;
use ade_client::http::Response;
use ade_client::model::Device;
use ade_client::{ErrorCode, ServerToken, endpoints, oauth};
use proptest::prelude::*;

fn resp(status: u16, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder().status(status).body(body).unwrap()
}

proptest! {
    #[test]
    fn token_reader_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = ServerToken::envelope(&bytes);
        let _ = ServerToken::from_decrypted(&bytes);
        let _ = ServerToken::from_json(&bytes);
    }

    #[test]
    fn response_parsers_are_total(bytes in proptest::collection::vec(any::<u8>(), 0..1024), status in 100u16..600) {
        let r = resp(status, bytes.clone());
        let _ = endpoints::parse_device_page(&r);
        let _ = endpoints::parse_account(&r);
        let _ = endpoints::parse_device_statuses(&r);
        let _ = endpoints::parse_profile(&r);
        let _ = ErrorCode::classify(&bytes);
    }

    #[test]
    fn form_encoding_round_trips(pairs in proptest::collection::vec(("\\PC{0,12}", "\\PC{0,12}"), 0..6)) {
        let pairs: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| !k.is_empty()).collect();
        let encoded = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", oauth::encode(k), oauth::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert_eq!(oauth::parse_form(&encoded), pairs);
    }

    #[test]
    fn encode_leaves_only_unreserved(s in "\\PC{0,40}") {
        let e = oauth::encode(&s);
        prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
    }

    #[test]
    fn bypass_code_round_trips(raw in any::<[u8; 16]>()) {
        let c = BypassCode::from_bytes(raw);
        let code = c.code();
        prop_assert_eq!(code.len(), 31);
        let back = BypassCode::parse(&code).unwrap();
        prop_assert_eq!(back.expose(), &raw);
        let lower = BypassCode::parse(&code.to_lowercase()).unwrap();
        prop_assert_eq!(lower.expose(), &raw);
    }

    #[test]
    fn dedupe_keeps_one_latest_per_serial(entries in proptest::collection::vec((0u8..5, 0u32..100_000), 0..40)) {
        let devices: Vec<Device> = entries
            .iter()
            .map(|(s, t)| serde_json::from_value(serde_json::json!({
                "serial_number": format!("S{s}"),
                "op_date": format!("2024-01-01T00:{:02}:{:02}.{:03}Z", t / 60_000 % 60, t / 1000 % 60, t % 1000),
                "op_type": format!("{t}"),
            })).unwrap())
            .collect();
        let out = ade_client::sync::dedupe(devices.clone());
        let mut serials: Vec<&str> = out.iter().map(|d| d.serial_number.as_str()).collect();
        let n = serials.len();
        serials.sort();
        serials.dedup();
        prop_assert_eq!(serials.len(), n);
        for d in &out {
            let best = devices
                .iter()
                .filter(|x| x.serial_number == d.serial_number)
                .map(|x| x.op_date_millis().unwrap())
                .max()
                .unwrap();
            prop_assert_eq!(d.op_date_millis().unwrap(), best);
        }
    }
}

const TOKEN: &[u8] = br#"{"consumer_key":"CK","consumer_secret":"CS","access_token":"AT","access_secret":"AS","access_token_expiry":"2030-01-01T00:00:00Z"}"#;

proptest! {
    /// Whatever Apple answers, one call ends within four requests (session, request, session
    /// renewal, retry) and opens at most two sessions: it never loops.
    #[test]
    fn a_call_never_loops(answers in proptest::collection::vec((0usize..8, any::<bool>()), 1..12)) {
        use ade_client::{Call, Config, Session, Stamp, Step};
        const BODIES: [(u16, &str); 8] = [
            (200, r#"{"auth_session_token":"S"}"#),
            (200, "{}"),
            (401, ""),
            (403, "FORBIDDEN"),
            (403, "T_C_NOT_SIGNED"),
            (429, ""),
            (500, "oops"),
            (400, "EXPIRED_CURSOR"),
        ];
        let mut session = Session::new(Config::new("p/1").unwrap(), ServerToken::from_json(TOKEN).unwrap());
        let stamp = Stamp { timestamp: 0, nonce: "n" };
        let mut call = Call::new(endpoints::account(session.config()).unwrap(), endpoints::parse_account);
        let mut req = call.start(&session, stamp).unwrap();
        let mut sent = 0;
        let mut sessions = 0;
        let mut script = answers.into_iter();
        loop {
            sent += 1;
            if req.uri().path() == "/session" {
                sessions += 1;
            }
            prop_assert!(sent <= 4 && sessions <= 2, "{sent} requests, {sessions} sessions");
            let Some((i, rotate)) = script.next() else { break };
            let (status, body) = BODIES[i];
            let mut r = Response::builder().status(status);
            if rotate {
                r = r.header("X-ADM-Auth-Session", "R");
            }
            match call.handle(&mut session, r.body(body.as_bytes().to_vec()).unwrap(), stamp) {
                Ok(Step::Send(next)) => req = next,
                Ok(Step::Done(_)) | Err(_) => break,
            }
        }
    }
}
