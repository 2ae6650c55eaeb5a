//! `admitd inspect` for attestation evidence: TPM 2.0 structures (TPM 2.0 Part 2 names), the
//! files `tpm2-tools` writes, EK certificates as read from NV, and CBOR attestation objects.
//!
//! Recognition tries each format in a fixed order and takes the first that parses the whole
//! input; the formats are told apart by their leading bytes where they can be, and
//! [`Kind`] (`admitd inspect --type`) forces one where they cannot.
//!
//! | order | leading bytes               | output key              | made by                  |
//! |-------|-----------------------------|-------------------------|--------------------------|
//! | 1     | `ff 54 43 47`               | `TPMS_ATTEST`           | `tpm2_quote -m`, certify |
//! | 2     | `<u16 size> ff 54 43 47`    | `TPM2B_ATTEST`          | TPM responses            |
//! | 3     | `ba dc c0 de`               | `credential`            | `tpm2_makecredential -o` |
//! | 4     | `10 01 00`                  | `ekCertificate`         | `tpm2_nvread` (TCG hdr)  |
//! | 5     | CBOR map                    | `attestationObject`     | WebAuthn, ACME           |
//! | 6     | `{`                         | `acmePayload`           | ACME challenge response  |
//! | 7     | TPM_ALG_ID of an object     | `TPMT_PUBLIC`           | `tpm2_print -f tpmt`     |
//! | 8     | `<u16 size>` = rest         | `TPM2B_PUBLIC`          | `tpm2_createak -u`       |
//! | 9     | TPM_ALG_ID of a sig scheme  | `TPMT_SIGNATURE`        | `tpm2_quote -s`          |
//! | 10    | fixed-size C structs        | `pcrValues`             | `tpm2_quote -o`          |
//! | 11    | `u32 count`                 | `TPML_PCR_SELECTION`    |                          |
//! | 12    | TPML_PCR_SELECTION ...      | `TPMS_CREATION_DATA`    | `tpm2_create --creation-data` |
//! | 13    | `u16 nameAlg` + digest      | `TPM2B_NAME`            | `tpm2_createak -n`       |
//! | 14    | `00000000 03000000` ...     | `eventLog`              | `binary_bios_measurements` |
//!
//! DER input (`30 ...`) goes to the X.509/CMS recogniser first; an EK certificate with 0xff
//! padding or trailing bytes (a raw NV read) falls back to the lenient EK intake, which
//! reports what it stepped over as `quirks`.

use std::str::FromStr;

use attestation::acme::Payload;
use attestation::apple::MdaExtensions;
use attestation::tpm::{
    Attest, CreationData, CredentialBlob, EkCertificate, EventLog, Name, PcrSelection, PcrValues,
    Public, Signature,
};
use attestation::webauthn::{AttestationObject, check_aik_profile};
use pki::x509_cert::ext::pkix::ExtendedKeyUsage;
use serde_json::{Map, Value, json};

use super::render;
use crate::inspect::Error;

/// tcg-kp-EKCertificate (TCG EK Credential Profile, section 3.2.16).
const TCG_KP_EK_CERTIFICATE: pki::der::asn1::ObjectIdentifier =
    pki::der::asn1::ObjectIdentifier::new_unwrap("2.23.133.8.1");
/// tcg-kp-AIKCertificate (TCG Infrastructure WG, AIK profile).
const TCG_KP_AIK_CERTIFICATE: pki::der::asn1::ObjectIdentifier =
    pki::der::asn1::ObjectIdentifier::new_unwrap("2.23.133.8.3");
/// Apple's arc for device attestation extensions (1.2.840.113635.100.8).
const APPLE_ATTESTATION_ARC: pki::der::asn1::ObjectIdentifier =
    pki::der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113635.100.8");

/// A format `admitd inspect --type` can force. The names are the TPM spec's type names (as
/// `tpm2_print -t` takes them) or, for files that are not TPM structures, what makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// `TPMS_ATTEST` (Part 2, section 10.12.12).
    Attest,
    /// `TPM2B_ATTEST` (Part 2, section 10.12.13).
    Attest2b,
    /// `TPMT_PUBLIC` (Part 2, section 12.2.4).
    Public,
    /// `TPM2B_PUBLIC` (Part 2, section 12.2.5).
    Public2b,
    /// `TPMT_SIGNATURE` (Part 2, section 11.3.4).
    Signature,
    /// `TPML_PCR_SELECTION` (Part 2, section 10.9.7).
    PcrSelection,
    /// The PCR file of `tpm2_quote -o` (selection and values).
    PcrValues,
    /// `TPMS_CREATION_DATA` (Part 2, section 15.1).
    CreationData,
    /// `TPM2B_NAME` contents (Part 2, section 10.5.3), as `tpm2_createak -n` writes them.
    Name,
    /// The credential file of `tpm2_makecredential -o`.
    Credential,
    /// An EK certificate as read from NV (lenient intake).
    EkCertificate,
    /// A TCG PC Client crypto-agile event log.
    EventLog,
    /// A CBOR attestation object (WebAuthn, ACME).
    AttestationObject,
    /// An ACME device-attest-01 challenge response `{"attObj": ...}`.
    AcmePayload,
}

/// Every [`Kind`] with the name `--type` takes.
pub const KINDS: &[(&str, Kind)] = &[
    ("TPMS_ATTEST", Kind::Attest),
    ("TPM2B_ATTEST", Kind::Attest2b),
    ("TPMT_PUBLIC", Kind::Public),
    ("TPM2B_PUBLIC", Kind::Public2b),
    ("TPMT_SIGNATURE", Kind::Signature),
    ("TPML_PCR_SELECTION", Kind::PcrSelection),
    ("pcr-values", Kind::PcrValues),
    ("TPMS_CREATION_DATA", Kind::CreationData),
    ("TPM2B_NAME", Kind::Name),
    ("credential", Kind::Credential),
    ("ek-certificate", Kind::EkCertificate),
    ("eventlog", Kind::EventLog),
    ("attestation-object", Kind::AttestationObject),
    ("acme-payload", Kind::AcmePayload),
];

impl Kind {
    /// The name `--type` takes.
    pub fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        KINDS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
                format!("unknown type {s:?}; one of {}", names.join(", "))
            })
    }
}

/// Parse `input` as `kind` and render it; a failure is the parser's own error.
pub fn inspect_as(input: &[u8], kind: Kind) -> Result<Value, Error> {
    if input.len() > crate::inspect::MAX_INPUT {
        return Err(Error::TooLarge {
            len: input.len(),
            limit: crate::inspect::MAX_INPUT,
        });
    }
    parse(input, kind).map_err(|reason| Error::Malformed {
        what: kind.name(),
        reason,
    })
}

fn tpm_err(e: attestation::Error) -> String {
    e.to_string()
}

fn parse(input: &[u8], kind: Kind) -> Result<Value, String> {
    let p = render::provider();
    Ok(match kind {
        Kind::Attest => json!({ "TPMS_ATTEST": Attest::parse(input).map_err(tpm_err)?.to_json() }),
        Kind::Attest2b => {
            let a = Attest::parse_2b(input).map_err(tpm_err)?;
            json!({ "TPM2B_ATTEST": { "size": input.len() - 2, "attestationData": a.to_json() } })
        }
        Kind::Public => json!({ "TPMT_PUBLIC": Public::parse(input).map_err(tpm_err)?.to_json(p) }),
        Kind::Public2b => {
            let pubkey = Public::parse_2b(input).map_err(tpm_err)?;
            json!({ "TPM2B_PUBLIC": { "size": input.len() - 2, "publicArea": pubkey.to_json(p) } })
        }
        Kind::Signature => {
            json!({ "TPMT_SIGNATURE": Signature::parse(input).map_err(tpm_err)?.to_json() })
        }
        Kind::PcrSelection => {
            json!({ "TPML_PCR_SELECTION": PcrSelection::parse(input).map_err(tpm_err)?.to_json() })
        }
        Kind::PcrValues => {
            let (sel, values) = PcrValues::parse_tpm2_tools(input).map_err(tpm_err)?;
            json!({ "pcrValues": { "pcrSelection": sel.to_json(), "pcrs": values.to_json() } })
        }
        Kind::CreationData => {
            json!({ "TPMS_CREATION_DATA": CreationData::parse(input).map_err(tpm_err)?.to_json() })
        }
        Kind::Name => {
            let name = Name::parse(input).map_err(tpm_err)?;
            let mut m = Map::new();
            if let Some(a) = name.alg() {
                m.insert("nameAlg".into(), attestation::tpm::alg::name(a).into());
                m.insert("digest".into(), hex::encode(&input[2..]).into());
            } else if input.len() == 4 {
                m.insert("handle".into(), hex::encode(input).into());
            }
            m.insert("name".into(), hex::encode(input).into());
            json!({ "TPM2B_NAME": m })
        }
        Kind::Credential => {
            json!({ "credential": CredentialBlob::parse_tpm2_tools(input).map_err(tpm_err)?.to_json() })
        }
        Kind::EkCertificate => ek_certificate(&EkCertificate::from_nv(input).map_err(tpm_err)?),
        Kind::EventLog => json!({ "eventLog": EventLog::parse(input).map_err(tpm_err)?.to_json() }),
        Kind::AttestationObject => {
            let obj = AttestationObject::from_cbor(input).map_err(|e| e.to_string())?;
            json!({ "attestationObject": render::attestation_object(&obj) })
        }
        Kind::AcmePayload => {
            let payload = Payload::from_json(input).map_err(tpm_err)?;
            json!({ "acmePayload": { "attObj": render::attestation_object(&payload.attestation_object) } })
        }
    })
}

/// An EK certificate from NV: the usual certificate fields, the EK URI and the intake quirks.
fn ek_certificate(ek: &EkCertificate) -> Value {
    let mut v = ek.to_json();
    if let (Some(m), Ok(cert)) = (v.as_object_mut(), crate::inspect::certificate(ek.der())) {
        m.insert("certificate".into(), cert);
    }
    json!({ "ekCertificate": v })
}

/// The order in which [`recognise`] tries the formats (see the module table).
const ORDER: &[Kind] = &[
    Kind::Attest,
    Kind::Attest2b,
    Kind::Credential,
    Kind::EkCertificate,
    Kind::AttestationObject,
    Kind::AcmePayload,
    Kind::Public,
    Kind::Public2b,
    Kind::Signature,
    Kind::PcrValues,
    Kind::PcrSelection,
    Kind::CreationData,
    Kind::Name,
    Kind::EventLog,
];

/// Whether `kind` is worth trying on input starting with `b` (cheap checks on leading bytes
/// keep a 16 MiB blob from going through every parser).
fn plausible(kind: Kind, b: &[u8]) -> bool {
    let u16_at = |i: usize| b.get(i..i + 2).map(|s| u16::from_be_bytes([s[0], s[1]]));
    match kind {
        Kind::Attest => b.starts_with(&[0xff, 0x54, 0x43, 0x47]),
        Kind::Attest2b => b.get(2..6) == Some(&[0xff, 0x54, 0x43, 0x47][..]),
        Kind::Credential => b.starts_with(&[0xba, 0xdc, 0xc0, 0xde]),
        Kind::EkCertificate => b.starts_with(&[0x10, 0x01, 0x00]),
        Kind::AttestationObject => matches!(b.first(), Some(0xa0..=0xbf)),
        Kind::AcmePayload => b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{'),
        // TPMI_ALG_PUBLIC: rsa, keyedhash, ecc, symcipher.
        Kind::Public => matches!(u16_at(0), Some(0x0001 | 0x0008 | 0x0023 | 0x0025)),
        Kind::Public2b => u16_at(0).map(usize::from) == Some(b.len().saturating_sub(2)),
        // TPMI_ALG_SIG_SCHEME: rsassa, rsapss, ecdsa, ecdaa, sm2, ecschnorr, hmac.
        Kind::Signature => matches!(
            u16_at(0),
            Some(0x0014 | 0x0016 | 0x0018 | 0x001a | 0x001b | 0x001c | 0x0005)
        ),
        Kind::PcrValues | Kind::PcrSelection | Kind::CreationData | Kind::Name => b.len() <= 4096,
        Kind::EventLog => b.starts_with(&[0, 0, 0, 0, 3, 0, 0, 0]),
    }
}

/// The first format (in the order of the module table) that parses the whole of `input`, rendered; `None` when
/// none does or when the input is DER (`30 ...`), which the X.509/CMS recogniser handles.
pub fn recognise(input: &[u8]) -> Option<Value> {
    if input.first() == Some(&0x30) {
        return None;
    }
    ORDER
        .iter()
        .filter(|k| plausible(**k, input))
        .find_map(|k| match (k, parse(input, *k)) {
            // A handle-form Name (any 4 bytes) or an empty one says nothing: not a match.
            (Kind::Name, Ok(_)) if input.len() <= 4 => None,
            (_, r) => r.ok(),
        })
}

/// After the X.509/CMS recogniser failed with `err`: an EK certificate with NV padding or
/// trailing bytes, or else `err` (extended with the TPM formats when nothing fits).
pub fn fallback(input: &[u8], err: Error) -> Result<Value, Error> {
    if input.first() == Some(&0x30) {
        // Only for certificates a TPM vendor made: any other certificate with a stray byte
        // after it is malformed, as the X.509 recogniser said.
        return match EkCertificate::from_nv(input) {
            Ok(ek) if is_tpm_certificate(ek.der()) => Ok(ek_certificate(&ek)),
            _ => Err(err),
        };
    }
    Err(match err {
        Error::Unrecognised(reason) => Error::Unrecognised(format!(
            "{reason}; and no TPM 2.0 or attestation format fits the whole input \
             (--type forces one and says why it does not parse)"
        )),
        other => other,
    })
}

/// Sections added to a certificate's rendering: `ekCertificate` (EK URI, quirks) for an EK
/// certificate, `aik` for an AIK certificate (the AIK profile's facts, or why it fails the
/// profile), `mdaExtensions` for an Apple MDA certificate.
pub fn certificate_extras(der: &[u8], m: &mut Map<String, Value>) {
    let Ok(cert) = pki::cert::Cert::from_der(der) else {
        return;
    };
    let ekus = ekus(&cert);
    if ekus.contains(&TCG_KP_EK_CERTIFICATE)
        && let Ok(ek) = EkCertificate::from_der(der)
    {
        let v = ek.to_json();
        m.insert(
            "ekCertificate".into(),
            json!({ "ekUri": v["ekUri"], "aia": v["aia"], "quirks": v["quirks"] }),
        );
    }
    if ekus.contains(&TCG_KP_AIK_CERTIFICATE) {
        let v = match check_aik_profile(&cert) {
            Ok(a) => render::aik(&a),
            Err(e) => json!({ "error": e.to_string() }),
        };
        m.insert("aik".into(), v);
    }
    if cert
        .extensions()
        .iter()
        .any(|e| e.extn_id.starts_with(APPLE_ATTESTATION_ARC))
    {
        match MdaExtensions::from_extensions(cert.extensions()) {
            Ok(x) if render::has_mda_properties(&x) => {
                m.insert("mdaExtensions".into(), render::mda(&x));
            }
            Ok(_) => {}
            Err(e) => {
                m.insert("mdaExtensions".into(), json!({ "error": e.to_string() }));
            }
        }
    }
}

fn ekus(cert: &pki::cert::Cert) -> Vec<pki::der::asn1::ObjectIdentifier> {
    cert.extensions()
        .iter()
        .filter(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE)
        .filter_map(|e| {
            <ExtendedKeyUsage as pki::der::Decode>::from_der(e.extn_value.as_bytes()).ok()
        })
        .flat_map(|eku| eku.0)
        .collect()
}

/// An EK certificate by its marks: the tcg-kp-EKCertificate EKU, or a subjectAltName
/// naming a TPM manufacturer (tcg-at-tpmManufacturer, 2.23.133.2.1), as older EK
/// certificates without the EKU have.
fn is_tpm_certificate(der: &[u8]) -> bool {
    /// The DER of OBJECT IDENTIFIER 2.23.133.2.1.
    const TPM_MANUFACTURER: &[u8] = &[0x06, 0x05, 0x67, 0x81, 0x05, 0x02, 0x01];
    let Ok(cert) = pki::cert::Cert::from_der(der) else {
        return false;
    };
    ekus(&cert).contains(&TCG_KP_EK_CERTIFICATE)
        || cert.extensions().iter().any(|e| {
            e.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME
                && e.extn_value
                    .as_bytes()
                    .windows(TPM_MANUFACTURER.len())
                    .any(|w| w == TPM_MANUFACTURER)
        })
}
