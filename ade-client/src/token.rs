//! The server token Apple Business Manager hands out (`*_Token_*_smime.p7m`).
//!
//! ```text
//!   .p7m file ── MIME headers (LF or CRLF) + base64 body ─┐
//!   bare base64 ──────────────────────────────────────────┼─▶ BER ContentInfo (indefinite lengths)
//!   raw BER / DER ────────────────────────────────────────┘        │ pki::ber::to_der
//!                                                                  ▼
//!     EnvelopedData ── ktri (RSA PKCS#1 v1.5) ──▶ pki::key::Decrypter (in memory, HSM, KMS)
//!                   ── AES-CBC content ──▶ MIME part:
//!                          Content-Type: text/plain;charset=UTF-8
//!                          -----BEGIN MESSAGE-----
//!                          {"consumer_key":…,"consumer_secret":…,"access_token":…,
//!                           "access_secret":…,"access_token_expiry":"2026-01-17T11:02:21Z"}
//!                          -----END MESSAGE-----
//! ```
//!
//! The four credentials are [`Secret`]s: zeroised on drop, `<redacted>` in `Debug`, and never
//! part of an error message.

use base64::Engine as _;
use pki::cms::{EnvelopedData, OpenOptions};
use pki::key::Decrypter;
use pki::provider::CryptoProvider;
use pki::x509_cert::Certificate;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Result, TokenError};

/// Largest token file read (real ones are about 1.5 KiB).
pub const MAX_TOKEN_FILE: usize = 64 * 1024;

/// A secret string: zeroised when dropped, redacted in `Debug`, compared in constant time.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself, for signing. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        use subtle_eq::ct_eq;
        ct_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

mod subtle_eq {
    /// Compare without an early exit on the first differing byte (lengths are not secret).
    pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// The OAuth 1.0a credentials inside a server token.
///
/// `consumer_key` identifies the MDM server to Apple and appears in every `Authorization`
/// header, so it is shown in `Debug`; the other four values are secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerToken {
    /// OAuth consumer key (`CK_…`).
    pub consumer_key: String,
    /// OAuth consumer secret (`CS_…`).
    pub consumer_secret: Secret,
    /// OAuth access token (`AT_…`).
    pub access_token: Secret,
    /// OAuth access token secret (`AS_…`).
    pub access_secret: Secret,
    /// When the token stops working, as Apple wrote it (RFC 3339, UTC).
    pub access_token_expiry: String,
}

impl ServerToken {
    /// Decrypt a server token file with the MDM server's key.
    ///
    /// `input` may be the `.p7m` as downloaded (MIME headers with LF or CRLF line ends, then
    /// base64), bare base64, or the raw BER/DER `ContentInfo`. `key` is the private key whose
    /// certificate was uploaded to Apple Business Manager; it goes through [`Decrypter`], so it
    /// may live in an HSM. Apple names the recipient by issuer and serial number, so pass that
    /// `certificate`. A token sealed for another key is [`TokenError::Cms`] with
    /// `pki::Error::NotFound("recipient")`. `rng` feeds pki's RFC 3218 fallback (a failed key
    /// unwrap still decrypts with a random key so timing does not tell the two apart).
    pub fn decrypt(
        input: &[u8],
        provider: &dyn CryptoProvider,
        key: &dyn Decrypter,
        certificate: Option<&Certificate>,
        rng: &mut dyn CryptoRng,
    ) -> Result<ServerToken> {
        let env = Self::envelope(input)?;
        let mut opts = OpenOptions::new();
        if let Some(c) = certificate {
            opts = opts.recipient_certificate(c.clone());
        }
        let content = env
            .open(provider, key, &opts, rng)
            .map_err(TokenError::Cms)?;
        Self::from_decrypted(&content)
    }

    /// The EnvelopedData of a token file, before decryption (for inspection: recipients,
    /// algorithms). Accepts the same three forms as [`ServerToken::decrypt`].
    pub fn envelope(input: &[u8]) -> Result<EnvelopedData> {
        let ber = token_ber(input)?;
        let limits = pki::ber::Limits {
            max_len: MAX_TOKEN_FILE,
            ..pki::ber::Limits::default()
        };
        Ok(EnvelopedData::from_ber(&ber, &limits).map_err(TokenError::Cms)?)
    }

    /// Read the decrypted content: a MIME part whose `-----BEGIN MESSAGE-----` block holds the
    /// JSON. Content that is bare JSON (no MIME part) is accepted too.
    pub fn from_decrypted(content: &[u8]) -> Result<ServerToken> {
        const BEGIN: &[u8] = b"-----BEGIN MESSAGE-----";
        const END: &[u8] = b"-----END MESSAGE-----";
        let json = match find(content, BEGIN) {
            Some(start) => {
                let body = &content[start + BEGIN.len()..];
                let end = find(body, END).ok_or(TokenError::NoMessage)?;
                &body[..end]
            }
            None if content.trim_ascii_start().starts_with(b"{") => content,
            None => return Err(TokenError::NoMessage.into()),
        };
        Self::from_json(json.trim_ascii())
    }

    /// Read the token JSON (the five fields; others are ignored).
    pub fn from_json(json: &[u8]) -> Result<ServerToken> {
        let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| {
            TokenError::Json(format!(
                "not JSON ({:?} at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let serde_json::Value::Object(mut map) = value else {
            return Err(TokenError::Json("not a JSON object".into()).into());
        };
        let mut take = |name: &'static str| -> Result<Zeroizing<String>> {
            match map.remove(name) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Zeroizing::new(s)),
                Some(serde_json::Value::String(_)) => {
                    Err(TokenError::Json(format!("{name} is empty")).into())
                }
                Some(_) => Err(TokenError::Json(format!("{name} is not a string")).into()),
                None => Err(TokenError::Json(format!("{name} is missing")).into()),
            }
        };
        let consumer_key = take("consumer_key")?;
        let consumer_secret = take("consumer_secret")?;
        let access_token = take("access_token")?;
        let access_secret = take("access_secret")?;
        let expiry = take("access_token_expiry")?;
        Ok(ServerToken {
            consumer_key: consumer_key.to_string(),
            consumer_secret: Secret(consumer_secret),
            access_token: Secret(access_token),
            access_secret: Secret(access_secret),
            access_token_expiry: expiry.to_string(),
        })
    }

    /// The expiry as Unix seconds, if Apple's timestamp parses.
    pub fn expires_at(&self) -> Option<i64> {
        crate::time::parse_rfc3339_millis(&self.access_token_expiry).map(|ms| ms.div_euclid(1000))
    }

    /// Whether the token has expired at `now` (Unix seconds). An unparseable expiry counts as
    /// not expired: Apple, not this check, has the last word.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at()
            .is_some_and(|t| i64::try_from(now).is_ok_and(|n| n >= t))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The BER bytes of a token file in any of its three forms.
fn token_ber(input: &[u8]) -> Result<Vec<u8>, TokenError> {
    if input.is_empty() {
        return Err(TokenError::Empty);
    }
    if input.len() > MAX_TOKEN_FILE {
        return Err(TokenError::TooLarge {
            len: input.len(),
            limit: MAX_TOKEN_FILE,
        });
    }
    if input[0] == 0x30 {
        return Ok(input.to_vec());
    }
    let text =
        core::str::from_utf8(input).map_err(|_| TokenError::Format("neither text nor BER"))?;
    let text = text.trim_start_matches('\u{feff}');
    // A MIME entity: header lines, an empty line, then the body.
    let body = match text.find("\n\n").or_else(|| text.find("\r\n\r\n")) {
        Some(_) if looks_like_headers(text) => {
            let normalised = text.replace("\r\n", "\n");
            let (headers, body) = normalised
                .split_once("\n\n")
                .ok_or(TokenError::Format("MIME headers without a body"))?;
            let lower = headers.to_ascii_lowercase();
            if lower.contains("content-transfer-encoding:") && !lower.contains("base64") {
                return Err(TokenError::Format("MIME body is not base64"));
            }
            body.to_owned()
        }
        _ => text.to_owned(),
    };
    // PEM armour (`-----BEGIN PKCS7-----`) is dropped with the other non-base64 lines.
    let b64: String = body
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars().filter(|c| !c.is_ascii_whitespace()))
        .collect();
    if b64.is_empty() {
        return Err(TokenError::Format("no base64 body"));
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| TokenError::Format("body is not valid base64"))
}

fn looks_like_headers(text: &str) -> bool {
    text.lines().next().is_some_and(|first| {
        first.split_once(':').is_some_and(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let t = ServerToken::from_json(
            br#"{"consumer_key":"CK_1","consumer_secret":"CS_top","access_token":"AT_top","access_secret":"AS_top","access_token_expiry":"2026-01-17T11:02:21Z"}"#,
        )
        .unwrap();
        let d = format!("{t:?}");
        assert!(d.contains("CK_1"));
        for s in ["CS_top", "AT_top", "AS_top"] {
            assert!(!d.contains(s), "{d}");
        }
    }

    #[test]
    fn json_errors_name_fields_not_values() {
        let e = ServerToken::from_json(br#"{"consumer_key":"CK","consumer_secret":7}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("consumer_secret is not a string"), "{e}");
        assert!(!e.contains('7'));
    }

    #[test]
    fn formats_rejected() {
        assert_eq!(token_ber(b""), Err(TokenError::Empty));
        assert!(matches!(token_ber(b"!!!"), Err(TokenError::Format(_))));
        assert!(matches!(token_ber(&[0xff; 10]), Err(TokenError::Format(_))));
        assert_eq!(token_ber(b"MDAw").unwrap(), b"000");
        assert_eq!(
            token_ber(b"Content-Type: x\r\nContent-Transfer-Encoding: base64\r\n\r\nMDAw\r\n")
                .unwrap(),
            b"000"
        );
    }
}
