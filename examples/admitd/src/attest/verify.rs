//! `admitd attest verify`: verify attestation evidence handed over as files, and say what it
//! proves (or the typed error) as JSON.
//!
//! ```text
//! ACME device-attest-01:  payload {"attObj": ...} + token + keyAuthorization [+ identifier]
//!                         ──▶ attestation::acme::verify
//! WebAuthn:               attestationObject (CBOR) + clientDataJSON
//!                         ──▶ attestation::webauthn::verify
//!   roots (PEM/DER files) and time (RFC 3339, default now) are the caller's
//!
//! { "verified": { "protocol", "format", "permanentIdentifier", "identifiers", "keyFingerprint",
//!                 "ekUri", "aik", "mdaExtensions", "chain" } }
//! { "error": { "kind": "WebAuthn::NonceMismatch", "message": "..." } }
//! ```
//! With `--root` files, `apple` evidence chains to them instead of Apple's roots (for test
//! chains); without, `apple` trusts Apple's root and `tpm` trusts nothing.

use std::time::{Duration, SystemTime};

use attestation::acme::{self, Challenge, Evidence as AcmeEvidence, Payload};
use attestation::apple::MdaExtensions;
use attestation::webauthn::{self, Format, check_aik_profile};
use pki::cert::Cert;
use pki::cert::path::ValidatedPath;
use pki::provider::CryptoProvider;
use serde_json::{Map, Value, json};

use super::render;

/// The evidence to verify.
#[derive(Debug, Clone, Copy)]
pub enum Evidence<'a> {
    /// An ACME `device-attest-01` challenge response.
    Acme {
        /// The response body, `{"attObj": base64url(CBOR)}`.
        payload: &'a [u8],
        /// The challenge token.
        token: &'a str,
        /// The key authorization (`token.thumbprint`).
        key_authorization: &'a str,
        /// The permanent identifier the order asks for; `None` takes the first one the
        /// evidence claims (the AIK certificate's permanentIdentifier, the MDA serial
        /// number or UDID), so the check shows what the device attests.
        permanent_identifier: Option<&'a str>,
    },
    /// A WebAuthn registration.
    WebAuthn {
        /// The CBOR attestation object.
        attestation_object: &'a [u8],
        /// The clientDataJSON it was made over.
        client_data_json: &'a [u8],
    },
}

/// What to trust and when.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    /// Anchors for `tpm` AIK chains, and for `apple` chains when not empty.
    pub roots: &'a [Cert],
    /// The validation time.
    pub now: SystemTime,
    /// Accept RS1 (SHA-1) TPM signatures, as older Windows Hello TPMs make.
    pub allow_rs1: bool,
}

/// Verify `evidence`; the result is the JSON `admitd attest verify` prints.
pub fn verify(
    provider: &dyn CryptoProvider,
    evidence: Evidence<'_>,
    trust: Trust<'_>,
) -> Result<Value, attestation::Error> {
    match evidence {
        Evidence::Acme {
            payload,
            token,
            key_authorization,
            permanent_identifier,
        } => {
            let claimed;
            let permanent_identifier = match permanent_identifier {
                Some(p) => p,
                None => {
                    claimed = claimed_identifier(&Payload::from_json(payload)?);
                    claimed.as_str()
                }
            };
            let challenge = Challenge {
                token,
                key_authorization,
                permanent_identifier,
            };
            let mut options = acme::Options::new(trust.now, trust.roots);
            if !trust.roots.is_empty() {
                options = options.with_apple_roots(trust.roots);
            }
            if trust.allow_rs1 {
                options = options.allowing_rs1();
            }
            let v = acme::verify(provider, payload, &challenge, &options)?;
            Ok(acme_json(&v))
        }
        Evidence::WebAuthn {
            attestation_object,
            client_data_json,
        } => {
            let mut options = webauthn::Options::new(trust.now, trust.roots);
            if !trust.roots.is_empty() {
                options = options.with_apple_roots(trust.roots);
            }
            if trust.allow_rs1 {
                options = options.allowing_rs1();
            }
            let v = webauthn::verify(provider, attestation_object, client_data_json, &options)?;
            Ok(webauthn_json(&v))
        }
    }
}

/// The first identifier the evidence claims (unverified; the verifier checks it).
fn claimed_identifier(p: &Payload) -> String {
    let stmt = &p.attestation_object.att_stmt;
    let Some(leaf) = stmt.x5c.first() else {
        return String::new();
    };
    match p.attestation_object.fmt.as_str() {
        "tpm" => Cert::from_der(leaf)
            .ok()
            .and_then(|c| check_aik_profile(&c).ok())
            .and_then(|a| {
                a.permanent_identifiers()
                    .iter()
                    .find_map(|i| i.identifier_value.clone())
            }),
        "apple" => MdaExtensions::from_certificate_der(leaf)
            .ok()
            .and_then(|m| m.serial_number.or(m.udid)),
        _ => None,
    }
    .unwrap_or_default()
}

fn chain(path: &ValidatedPath) -> Value {
    Value::Array(
        path.chain()
            .iter()
            .map(|c| json!({ "subject": c.subject_string(), "sha256Fingerprint": hex::encode(c.fingerprint_sha256()) }))
            .collect(),
    )
}

fn acme_json(v: &acme::VerifiedDeviceAttestation) -> Value {
    let mut m = Map::new();
    m.insert("protocol".into(), "acme-device-attest-01".into());
    m.insert("format".into(), v.format().into());
    m.insert(
        "permanentIdentifier".into(),
        v.permanent_identifier().into(),
    );
    m.insert(
        "keyFingerprint".into(),
        hex::encode(v.key_fingerprint()).into(),
    );
    if let Some(uri) = v.ek_uri() {
        m.insert("ekUri".into(), uri.into());
    }
    match v.evidence() {
        AcmeEvidence::Apple(mda) => {
            let x = mda.extensions();
            let ids: Vec<&String> = [&x.serial_number, &x.udid].into_iter().flatten().collect();
            m.insert("identifiers".into(), json!(ids));
            m.insert("mdaExtensions".into(), render::mda(x));
            m.insert("freshnessChecked".into(), mda.freshness_checked().into());
            m.insert("chain".into(), chain(mda.path()));
        }
        AcmeEvidence::Tpm {
            aik,
            path,
            public,
            attest,
        } => {
            let ids: Vec<&String> = aik
                .permanent_identifiers()
                .iter()
                .filter_map(|p| p.identifier_value.as_ref())
                .collect();
            m.insert("identifiers".into(), json!(ids));
            m.insert("aik".into(), render::aik(aik));
            m.insert("chain".into(), chain(path));
            m.insert(
                "attestedKey".into(),
                json!({ "TPMT_PUBLIC": public.to_json(render::provider()) }),
            );
            m.insert(
                "certInfo".into(),
                json!({ "TPMS_ATTEST": attest.to_json() }),
            );
        }
        _ => {}
    }
    json!({ "verified": m })
}

fn webauthn_json(v: &webauthn::VerifiedAttestation) -> Value {
    let mut m = Map::new();
    m.insert("protocol".into(), "webauthn".into());
    let format = match v.format() {
        Format::Apple => "apple",
        Format::Tpm => "tpm",
        _ => "unknown",
    };
    m.insert("format".into(), format.into());
    m.insert(
        "keyFingerprint".into(),
        hex::encode(v.key_fingerprint()).into(),
    );
    if let Some(aik) = v.aik() {
        if let Some(uri) = aik.ek_uri() {
            m.insert("ekUri".into(), uri.into());
        }
        let ids: Vec<&String> = aik
            .permanent_identifiers()
            .iter()
            .filter_map(|p| p.identifier_value.as_ref())
            .collect();
        m.insert("identifiers".into(), json!(ids));
        m.insert("aik".into(), render::aik(aik));
    }
    m.insert("authData".into(), render::auth_data(v.auth_data()));
    m.insert("chain".into(), chain(v.path()));
    json!({ "verified": m })
}

/// The error as JSON: `kind` is the variant path (`WebAuthn::NonceMismatch`, `Pki::...`),
/// `message` its operator-readable text.
pub fn error_json(e: &attestation::Error) -> Value {
    json!({ "error": { "kind": variant_path(&format!("{e:?}")), "message": e.to_string() } })
}

/// `Outer(Inner { .. })` → `Outer::Inner`: the leading identifiers of a `Debug` rendering,
/// followed into tuple variants.
fn variant_path(debug: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = debug;
    loop {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let ident = &rest[..end];
        if ident.is_empty() || !ident.starts_with(|c: char| c.is_ascii_uppercase()) {
            break;
        }
        parts.push(ident);
        match rest[end..].strip_prefix('(') {
            Some(inner) => rest = inner,
            None => break,
        }
    }
    parts.join("::")
}

/// Certificates from a PEM (one or more blocks) or DER file.
pub fn load_roots(bytes: &[u8]) -> Result<Vec<Cert>, String> {
    if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        Cert::from_pem_chain(bytes).map_err(|e| e.to_string())
    } else {
        Cert::from_der(bytes)
            .map(|c| vec![c])
            .map_err(|e| e.to_string())
    }
}

/// Parse an RFC 3339 date-time (`2024-05-01T12:00:00Z`, `...T12:00:00.5+02:00`) to a
/// `SystemTime`. Fractions of a second are dropped; leap seconds are refused.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    let bad = || format!("{s:?} is not an RFC 3339 date-time (e.g. 2024-05-01T12:00:00Z)");
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let t = s.get(r).ok_or_else(bad)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let year = u16::try_from(num(0..4)?).map_err(|_| bad())?;
    let [month, day, hour, minute, second] = [
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    ]
    .map(|v| u8::try_from(v).unwrap_or(u8::MAX));
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad());
        }
        i += digits;
    }
    let offset: i64 = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let h = i64::from(num(i + 1..i + 3)?);
            let m = i64::from(num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let o = h * 3600 + m * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return Err(bad()),
    };
    let dt = pki::der::DateTime::new(year, month, day, hour, minute, second).map_err(|_| bad())?;
    let utc = i64::try_from(dt.unix_duration().as_secs()).map_err(|_| bad())? - offset;
    let secs = u64::try_from(utc).map_err(|_| bad())?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> u64 {
        parse_rfc3339(s)
            .unwrap()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn rfc3339_known_answers() {
        // `date -u -d 2023-11-14T22:13:20Z +%s` = 1700000000.
        assert_eq!(secs("2023-11-14T22:13:20Z"), 1_700_000_000);
        assert_eq!(secs("2023-11-14T23:13:20+01:00"), 1_700_000_000);
        assert_eq!(secs("2023-11-14T21:13:20.999-01:00"), 1_700_000_000);
        assert_eq!(secs("2000-02-29T00:00:00Z"), 951_782_400);
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-02-30T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:60Z",
            "2023-11-14T22:13:20+1:00",
            "2023-11-14T22:13:20.Z",
            "+023-11-14T22:13:20Z",
            "2023-11-14T22:13:20Zjunk",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn variant_paths() {
        assert_eq!(variant_path("NonceMismatch"), "NonceMismatch");
        assert_eq!(
            variant_path("WebAuthn(NonceMismatch(\"certInfo.extraData\"))"),
            "WebAuthn::NonceMismatch"
        );
        assert_eq!(
            variant_path("Pki(Path(Expired { not_after: 1 }))"),
            "Pki::Path::Expired"
        );
        assert_eq!(
            variant_path("Malformed { what: \"x\", reason: \"y\" }"),
            "Malformed"
        );
    }
}
