//! `mdm_proto::checkin::CheckInRequest::parse` on any bytes (XML or binary plist): a `Result`,
//! never a panic; a decoded message re-encodes without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_proto::checkin::CheckInRequest;
use mdm_proto::{Limits, ToPlist};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = CheckInRequest::parse(data, &Limits::default()) {
        let _ = req.message.to_plist();
        let _ = req.channel.map(|c| c.id());
    }
});
