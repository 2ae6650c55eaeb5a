//! `ddm::Declaration::parse`, a set holding it (scopes, references, tokens, responses), on any
//! bytes: a `Result`, never a panic.
#![no_main]

use std::time::SystemTime;

use ddm::{Channel, Declaration, DeclarationSet, Limits, TokenMode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = Declaration::parse(data, &Limits::default()) {
        let _ = d.to_json();
        for (channel, mode) in [
            (Channel::Device, TokenMode::Content),
            (Channel::User, TokenMode::Kmfddm),
        ] {
            let mut set = DeclarationSet::new(channel, mode);
            if set.insert(d.clone()).is_ok() {
                let _ = set.validate();
                let _ = set.declaration_items_response();
                let _ = set.tokens_response(SystemTime::UNIX_EPOCH);
            }
        }
    }
});
