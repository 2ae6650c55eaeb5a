//! Every `ade_client` response parser, and the call and sync machines that consume them, on any
//! answer: the first byte picks the HTTP status, the second the parser, the rest is the body.
//! A `Result`, never a panic, and never a second session renewal.
#![no_main]

use ade_client::http::Response;
use ade_client::{Config, ServerToken, Session, Stamp, Step, SyncRound, endpoints};
use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 12] = [200, 201, 204, 400, 401, 403, 404, 429, 500, 503, 302, 599];
const TOKEN: &[u8] = br#"{"consumer_key":"CK","consumer_secret":"CS","access_token":"AT","access_secret":"AS","access_token_expiry":"2030-01-01T00:00:00Z"}"#;

fuzz_target!(|data: &[u8]| {
    let [s, p, body @ ..] = data else {
        return;
    };
    let status = STATUSES[usize::from(*s) % STATUSES.len()];
    let mut builder = Response::builder().status(status);
    if s & 0x80 != 0 {
        builder = builder.header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT");
    }
    if s & 0x40 != 0 {
        builder = builder.header("X-ADM-Auth-Session", "rotated");
    }
    let Ok(resp) = builder.body(body.to_vec()) else {
        return;
    };
    match p % 9 {
        0 => drop(endpoints::parse_account(&resp)),
        1 => drop(endpoints::parse_device_details(&resp)),
        2 => drop(endpoints::parse_define_profile(&resp)),
        3 => drop(endpoints::parse_profile(&resp)),
        4 => drop(endpoints::parse_device_statuses(&resp).map(|r| r.value.summary())),
        5 => drop(endpoints::parse_activation_lock(&resp)),
        6 => drop(endpoints::parse_beta_tokens(&resp)),
        7 => drop(endpoints::parse_ade_profile(&resp)),
        _ => {
            // A device page through a Call (with an active session) and a SyncRound.
            let (Ok(cfg), Ok(token)) = (Config::new("fuzz/1"), ServerToken::from_json(TOKEN))
            else {
                return;
            };
            let mut session = Session::new(cfg, token);
            session.resume(ade_client::Secret::new("S"));
            let mut round = SyncRound::new(None, 0, Some(100), None);
            let Ok(Some(mut call)) = round.next_call(session.config()) else {
                return;
            };
            let stamp = Stamp {
                timestamp: 0,
                nonce: "n",
            };
            if call.start(&session, stamp).is_err() {
                return;
            }
            let outcome = match call.handle(&mut session, resp, stamp) {
                Ok(Step::Done(page)) => Ok(page),
                Ok(Step::Send(_)) => return,
                Err(e) => Err(e),
            };
            if let Ok(ade_client::Progress::Page(_)) = round.handle(outcome) {
                let _ = round.stored();
            }
        }
    }
});
