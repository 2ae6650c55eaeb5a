//! JSON renderings shared by `inspect` and `attest verify` for what the `attestation` crate
//! parses but does not render itself: MDA properties, AIK certificate facts, authenticator
//! data and attestation objects. Field names follow the specs (Apple's MDA property names,
//! TCG attribute names, W3C WebAuthn names); binary values are lowercase hex.

use attestation::apple::MdaExtensions;
use attestation::tpm::{Attest, Public, Signature};
use attestation::webauthn::{AikCertificate, AttestationObject, AuthenticatorData};
use serde_json::{Map, Value, json};

/// The provider used to compute Names while rendering (any compiled provider gives the same
/// digests).
pub(crate) fn provider() -> &'static dyn pki::provider::CryptoProvider {
    &pki::provider::rustcrypto::PROVIDER
}

/// The Managed Device Attestation properties of a certificate (Apple's names).
pub fn mda(m: &MdaExtensions) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    };
    put("serialNumber", m.serial_number.clone().map(Value::from));
    put("udid", m.udid.clone().map(Value::from));
    put(
        "softwareUpdateDeviceID",
        m.software_update_device_id.clone().map(Value::from),
    );
    put("osVersion", m.os_version.clone().map(Value::from));
    put("sepOSVersion", m.sepos_version.clone().map(Value::from));
    put("llbVersion", m.llb_version.clone().map(Value::from));
    put(
        "freshnessCode",
        m.freshness_code.as_deref().map(|c| hex::encode(c).into()),
    );
    put("sipStatus", m.sip_status.map(Value::from));
    put("secureBoot", m.secure_boot.clone().map(Value::from));
    put("thirdPartyKexts", m.third_party_kexts.map(Value::from));
    if !m.other.is_empty() {
        put(
            "other",
            Some(Value::Array(
                m.other
                    .iter()
                    .map(|e| {
                        json!({ "extnID": e.oid.to_string(), "critical": e.critical,
                                "extnValue": hex::encode(&e.value) })
                    })
                    .collect(),
            )),
        );
    }
    Value::Object(o)
}

/// Whether `m` carries any of the named MDA properties (not only unknown Apple extensions,
/// which other Apple certificates such as WebAuthn credential certificates carry too).
pub fn has_mda_properties(m: &MdaExtensions) -> bool {
    m.serial_number.is_some()
        || m.udid.is_some()
        || m.software_update_device_id.is_some()
        || m.os_version.is_some()
        || m.sepos_version.is_some()
        || m.llb_version.is_some()
        || m.freshness_code.is_some()
        || m.sip_status.is_some()
        || m.secure_boot.is_some()
        || m.third_party_kexts.is_some()
}

/// What an AIK certificate says about its TPM (TCG attribute names).
pub fn aik(a: &AikCertificate) -> Value {
    json!({
        "tpmManufacturer": a.tpm_manufacturer(),
        "tpmModel": a.tpm_model(),
        "tpmVersion": a.tpm_version(),
        "permanentIdentifiers": a.permanent_identifiers().iter().map(|p| json!({
            "identifierValue": p.identifier_value,
            "assigner": p.assigner.map(|o| o.to_string()),
        })).collect::<Vec<_>>(),
        "ekUri": a.ek_uri(),
        "aaguid": a.aaguid().map(hex::encode),
    })
}

/// Authenticator data (W3C WebAuthn Level 2, section 6.1).
pub fn auth_data(a: &AuthenticatorData) -> Value {
    let mut o = Map::new();
    o.insert("rpIdHash".into(), hex::encode(a.rp_id_hash).into());
    o.insert("flags".into(), json!(format!("0x{:02x}", a.flags)));
    o.insert("signCount".into(), a.sign_count.into());
    if let Some(c) = &a.attested_credential {
        let spki = c.public_key.spki();
        o.insert(
            "attestedCredentialData".into(),
            json!({
                "aaguid": hex::encode(c.aaguid),
                "credentialId": hex::encode(&c.credential_id),
                "credentialPublicKey": {
                    "alg": c.public_key.alg,
                    "algorithm": spki.algorithm.oid.to_string(),
                    "sha256Fingerprint": pki::public_key::fingerprint_sha256(spki)
                        .map(hex::encode)
                        .unwrap_or_default(),
                },
            }),
        );
    }
    if let Some(e) = &a.extensions {
        o.insert("extensions".into(), hex::encode(e).into());
    }
    Value::Object(o)
}

fn or_error<T>(bytes: &[u8], parsed: attestation::Result<T>, f: impl FnOnce(T) -> Value) -> Value {
    match parsed {
        Ok(v) => f(v),
        Err(e) => json!({ "error": e.to_string(), "hex": hex::encode(bytes) }),
    }
}

/// An attestation object (WebAuthn section 6.5.4; ACME device-attest-01 section 5): `fmt`,
/// `attStmt` with its TPM structures and certificates decoded, and `authData` when present.
pub fn attestation_object(obj: &AttestationObject) -> Value {
    let s = &obj.att_stmt;
    let mut stmt = Map::new();
    if let Some(v) = &s.ver {
        stmt.insert("ver".into(), v.clone().into());
    }
    if let Some(a) = s.alg {
        stmt.insert("alg".into(), a.into());
    }
    if !s.x5c.is_empty() {
        let certs = s
            .x5c
            .iter()
            .map(|der| match crate::inspect::certificate(der) {
                Ok(v) => v,
                Err(e) => json!({ "error": e.to_string(), "hex": hex::encode(der) }),
            })
            .collect();
        stmt.insert("x5c".into(), Value::Array(certs));
    }
    if let Some(sig) = &s.sig {
        // ACME sends a TPMT_SIGNATURE; WebAuthn (Windows) sends the raw signature.
        let v = match (obj.fmt.as_str(), Signature::parse(sig)) {
            ("tpm", Ok(parsed)) => json!({ "TPMT_SIGNATURE": parsed.to_json() }),
            _ => hex::encode(sig).into(),
        };
        stmt.insert("sig".into(), v);
    }
    if let Some(ci) = &s.cert_info {
        stmt.insert(
            "certInfo".into(),
            or_error(
                ci,
                Attest::parse(ci),
                |a| json!({ "TPMS_ATTEST": a.to_json() }),
            ),
        );
    }
    if let Some(pa) = &s.pub_area {
        stmt.insert(
            "pubArea".into(),
            or_error(
                pa,
                Public::parse(pa),
                |p| json!({ "TPMT_PUBLIC": p.to_json(provider()) }),
            ),
        );
    }
    for (k, cbor) in &s.other {
        stmt.insert(k.clone(), json!({ "cbor": hex::encode(cbor) }));
    }
    let mut o = Map::new();
    o.insert("fmt".into(), obj.fmt.clone().into());
    o.insert("attStmt".into(), Value::Object(stmt));
    if let Some(raw) = &obj.auth_data {
        let v = match AuthenticatorData::parse(raw) {
            Ok(a) => auth_data(&a),
            Err(e) => json!({ "error": e.to_string(), "hex": hex::encode(raw) }),
        };
        o.insert("authData".into(), v);
    }
    Value::Object(o)
}
