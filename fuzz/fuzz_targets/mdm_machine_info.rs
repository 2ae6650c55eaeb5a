//! MachineInfo: the plist decoder on any bytes, and `signed::machine_info` (CMS parse and
//! signature check; no anchor can match, so the path step always fails): a `Result`, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_proto::generated::other::MachineInfo;
use mdm_proto::signed::Trust;
use mdm_proto::{FromPlist, Limits};
use pki::provider::rustcrypto::PROVIDER;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(v) = mdm_proto::value::parse(data, &limits) {
        let _ = MachineInfo::from_plist(v);
    }
    let trust = Trust {
        anchors: &[],
        now: std::time::UNIX_EPOCH,
        policy: Default::default(),
    };
    let _ = mdm_proto::signed::machine_info(data, &PROVIDER, &trust, &limits);
});
