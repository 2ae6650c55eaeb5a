//! Activation Lock bypass codes and the escrow key sent with `POST /device/activationlock`.
//!
//! ```text
//!   raw   = 16 random bytes (the caller draws them)
//!   code  = raw as a 128-bit big-endian integer → 25 five-bit symbols, then the low 3 bits,
//!           alphabet 0123456789ACDEFGHJKLMNPQRTUVWXYZ, grouped 5-5-4-4-4-4 with dashes
//!   escrow_key = hex( PBKDF2-HMAC-SHA256(password = raw, salt = 00 00 00 00,
//!                                        iterations = 50 000, length = 32) )
//! ```
//!
//! Apple keeps only the escrow key; the person holding the device types the code. Keep the code
//! (or the raw bytes) safe: both are secrets, zeroised on drop and redacted in `Debug`.

use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

const ALPHABET: &[u8; 32] = b"0123456789ACDEFGHJKLMNPQRTUVWXYZ";
const ITERATIONS: u32 = 50_000;

/// A bypass code: 16 secret bytes.
#[derive(Clone)]
pub struct BypassCode(Zeroizing<[u8; 16]>);

impl core::fmt::Debug for BypassCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BypassCode(<redacted>)")
    }
}

impl BypassCode {
    /// From 16 random bytes (use a CSPRNG).
    pub fn from_bytes(raw: [u8; 16]) -> BypassCode {
        BypassCode(Zeroizing::new(raw))
    }

    /// Draw a new code from `rng`.
    pub fn generate(rng: &mut dyn rand_core::CryptoRng) -> BypassCode {
        let mut raw = Zeroizing::new([0u8; 16]);
        rng.fill_bytes(&mut raw[..]);
        BypassCode(raw)
    }

    /// Read the human form (`XXXXX-XXXXX-XXXX-XXXX-XXXX-XXXX`); dashes and case are ignored.
    /// `None` when it is not 26 symbols of the alphabet or the last symbol carries more than
    /// three bits.
    pub fn parse(code: &str) -> Option<BypassCode> {
        let mut n: u128 = 0;
        let mut count = 0;
        for c in code.chars().filter(|c| *c != '-') {
            let c = c.to_ascii_uppercase();
            let v = ALPHABET.iter().position(|a| char::from(*a) == c)? as u128;
            count += 1;
            if count <= 25 {
                n = (n << 5) | v;
            } else if count == 26 {
                if v > 7 {
                    return None;
                }
                n = (n << 3) | v;
            } else {
                return None;
            }
        }
        (count == 26).then(|| BypassCode::from_bytes(n.to_be_bytes()))
    }

    /// The raw bytes. Never log them.
    pub fn expose(&self) -> &[u8; 16] {
        &self.0
    }

    /// The code a person types to bypass Activation Lock.
    pub fn code(&self) -> Zeroizing<String> {
        let n = u128::from_be_bytes(*self.0);
        let mut out = Zeroizing::new(String::with_capacity(31));
        for i in 0..26 {
            if [5, 10, 14, 18, 22].contains(&i) {
                out.push('-');
            }
            let v = if i < 25 {
                (n >> (128 - 5 * (i + 1))) & 0x1f
            } else {
                n & 0x7
            };
            out.push(char::from(ALPHABET[v as usize]));
        }
        out
    }

    /// The escrow key Apple stores: lower-case hex of PBKDF2-HMAC-SHA256 over the raw bytes.
    pub fn escrow_key(&self) -> String {
        let dk = pbkdf2_sha256_32(&self.0[..], &[0, 0, 0, 0], ITERATIONS);
        dk.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// PBKDF2 (RFC 8018 section 5.2) with HMAC-SHA256, one 32-byte block.
fn pbkdf2_sha256_32(password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    type H = hmac::Hmac<sha2::Sha256>;
    let Ok(keyed) = <H as KeyInit>::new_from_slice(password) else {
        return Zeroizing::new([0; 32]);
    };
    let mut m = keyed.clone();
    m.update(salt);
    m.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = m.finalize().into_bytes().into();
    let mut t = Zeroizing::new(u);
    for _ in 1..iterations {
        let mut m = keyed.clone();
        m.update(&u);
        u = m.finalize().into_bytes().into();
        for (a, b) in t.iter_mut().zip(u.iter()) {
            *a ^= b;
        }
    }
    t
}
