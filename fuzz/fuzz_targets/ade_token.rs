//! `ade_client::ServerToken`'s readers on any bytes: the `.p7m` / base64 / BER intake up to the
//! parsed EnvelopedData, the decrypted-MIME reader and the token JSON reader. A `Result`, never
//! a panic. (Decryption itself is `pki`'s, fuzzed by `enveloped_data`.)
#![no_main]

use ade_client::ServerToken;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = ServerToken::envelope(data) {
        let _ = (
            env.recipients().len(),
            env.content_cipher(),
            env.encrypted_content_len(),
        );
    }
    if let Ok(t) = ServerToken::from_decrypted(data) {
        let _ = (t.expires_at(), format!("{t:?}"));
    }
    let _ = ServerToken::from_json(data);
});
