//! TPM attestation that raises a device to high assurance: credential activation binds an AK
//! to the EK, and a quote by that AK over a server nonce proves the TPM is present now.
//!
//! ```text
//!  agent                                         admitd
//!  POST /api/v1/attest/tpm/challenge
//!    {instance_id, ek_cert? | ek_public, ak_public}
//!                                  EK cert ──▶ chain to a configured vendor root; bound to ek_public
//!                                  EK URI (SHA-256 of the EK SPKI) == the record's instance ID?
//!                                  secret, nonce ◀── OS RNG; MakeCredential(EK, Name(AK), secret)
//!    ◀── {challenge_id, credential (tpm2-tools file), nonce}
//!  tpm2_activatecredential ──▶ secret      tpm2_quote -q nonce ──▶ attest, signature, pcrs
//!  POST /api/v1/attest/tpm/verify
//!    {challenge_id, secret, attest, signature, pcrs}
//!                                  challenge consumed (one use, 5 minutes)
//!                                  secret == the challenge's (only EK + AK in one TPM open it)
//!                                  quote signed by the AK (restricted, fixedTPM), extraData == nonce
//!                                  ──▶ Device::attested(EK URI): high assurance
//! ```
//!
//! Every refusal is logged with the instance ID it was for. Binary fields travel as standard
//! base64: `ek_cert` as DER or as read from NV (header and padding are accepted by the
//! `attestation` crate's intake), `ek_public`/`ak_public` as TPM2B_PUBLIC, `attest` as
//! TPMS_ATTEST, `signature` as TPMT_SIGNATURE, `pcrs` as the file `tpm2_quote -o` writes.

use ::inventory::InstanceId;
use attestation::tpm::{
    EkCertificate, PcrSelection, PcrValues, Public, QuoteEvidence, Signature, Verifier,
    make_credential,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::{Error as InvError, Service};
use crate::records::{DbError, Stmt, Val, now_unix};

/// The challenge path.
pub const CHALLENGE_PATH: &str = "/api/v1/attest/tpm/challenge";
/// The verification path.
pub const VERIFY_PATH: &str = "/api/v1/attest/tpm/verify";
/// How long a challenge may be answered, in seconds.
pub const CHALLENGE_TTL: i64 = 300;

/// Why a TPM attestation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TpmError {
    /// The request is malformed (400).
    #[error("{0}")]
    Bad(String),
    /// No such device or challenge (404).
    #[error("{0}")]
    NotFound(String),
    /// The evidence does not prove what it must (403).
    #[error("{0}")]
    Refused(String),
    /// Our own failure (500).
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<InvError> for TpmError {
    fn from(e: InvError) -> Self {
        match e {
            InvError::Db(d) => TpmError::Db(d),
            InvError::NotFound(m) => TpmError::NotFound(m),
            InvError::Rule(r @ ::inventory::Error::InstanceMismatch { .. }) => {
                TpmError::Refused(r.to_string())
            }
            other => TpmError::Bad(other.to_string()),
        }
    }
}

fn b64(field: &str, v: &Value) -> Result<Vec<u8>, TpmError> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| TpmError::Bad(format!("{field} (standard base64) is required")))?;
    B64.decode(s)
        .map_err(|_| TpmError::Bad(format!("{field} is not standard base64")))
}

fn public_2b(field: &str, v: &Value) -> Result<Public, TpmError> {
    Public::parse_2b(&b64(field, v)?)
        .map_err(|e| TpmError::Bad(format!("{field} is not a TPM2B_PUBLIC: {e}")))
}

fn random<const N: usize>() -> Result<[u8; N], TpmError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| TpmError::Db(DbError::Backend(format!("OS random number generator: {e}"))))?;
    Ok(b)
}

impl Service {
    /// The EK the request names, checked: an EK certificate must chain to a configured
    /// vendor root and hold the same key as `ek_public` when both are sent. Returns the EK
    /// public area and its EK URI.
    fn checked_ek(&self, req: &Value) -> Result<(Public, InstanceId), TpmError> {
        let tpm = self.tpm.as_ref().ok_or_else(|| {
            TpmError::Refused("TPM attestation is not configured on this server".into())
        })?;
        let provider = tpm.provider;
        let ek = public_2b("ek_public", req)?;
        if req.get("ek_cert").is_some_and(|c| !c.is_null()) {
            let cert = EkCertificate::from_nv(&b64("ek_cert", req)?)
                .map_err(|e| TpmError::Bad(format!("ek_cert: {e}")))?;
            let mut options =
                pki::cert::path::Options::new(&tpm.roots, std::time::SystemTime::now());
            options.partial_chain = true;
            // EK certificates carry a critical subjectAltName naming the TPM (a directoryName).
            options.handled_critical_extensions = &[const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME];
            cert.validate_chain(provider, &options)
                .map_err(|e| TpmError::Refused(format!("EK certificate: {e}")))?;
            cert.bind(&ek)
                .map_err(|e| TpmError::Refused(format!("EK certificate: {e}")))?;
        } else if tpm.require_ek_cert {
            return Err(TpmError::Refused(
                "this server requires the EK certificate (ek_cert)".into(),
            ));
        }
        let spki = ek
            .spki()
            .map_err(|e| TpmError::Bad(format!("ek_public: {e}")))?;
        let der =
            der::Encode::to_der(&spki).map_err(|e| TpmError::Bad(format!("ek_public: {e}")))?;
        let digest: [u8; 32] = sha2::Sha256::digest(&der).into();
        Ok((ek, InstanceId::from_ek_digest(&digest)))
    }

    /// Step 1: the MakeCredential challenge for the device `instance_id`.
    pub fn tpm_challenge(&self, req: &Value) -> Result<Value, TpmError> {
        let claimed = req
            .get("instance_id")
            .and_then(Value::as_str)
            .ok_or_else(|| TpmError::Bad("instance_id is required".into()))?;
        let claimed = InstanceId::parse(claimed).map_err(|e| TpmError::Bad(e.to_string()))?;
        let (ek, ek_uri) = self.checked_ek(req).inspect_err(|e| {
            tracing::warn!(instance = %claimed, "TPM attestation refused: {e}");
        })?;
        if self.device(&claimed)?.is_none() {
            return Err(TpmError::NotFound(format!(
                "no device {claimed} in the inventory"
            )));
        }
        if ek_uri != claimed {
            tracing::warn!(instance = %claimed, attested = %ek_uri, "TPM attestation refused: the EK is another TPM's");
            return Err(TpmError::Refused(format!(
                "the EK is {ek_uri}, not the device's {claimed}"
            )));
        }
        let tpm = self
            .tpm
            .as_ref()
            .ok_or_else(|| TpmError::Refused("TPM attestation is not configured".into()))?;
        let ak = public_2b("ak_public", req)?;
        let name = ak
            .name(tpm.provider)
            .map_err(|e| TpmError::Bad(format!("ak_public: {e}")))?;
        let secret: [u8; 32] = random()?;
        let nonce: [u8; 32] = random()?;
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let blob = make_credential(tpm.provider, &ek, &name, &secret, &mut rng)
            .map_err(|e| TpmError::Bad(format!("MakeCredential: {e}")))?;
        let id = hex::encode(random::<16>()?);
        let now = now_unix();
        self.db.write(&[
            Stmt::new(
                "DELETE FROM inventory_tpm_challenges WHERE expires_at < $1",
                vec![now.into()],
            ),
            Stmt::new(
                "INSERT INTO inventory_tpm_challenges (id, instance_id, ak_public, secret_sha256,
                     nonce, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                vec![
                    id.as_str().into(),
                    claimed.as_str().into(),
                    B64.encode(ak.encode_2b()).into(),
                    hex::encode(sha2::Sha256::digest(secret)).into(),
                    hex::encode(nonce).into(),
                    (now + CHALLENGE_TTL).into(),
                ],
            ),
        ])?;
        Ok(json!({
            "challenge_id": id,
            "credential": B64.encode(blob.to_tpm2_tools()),
            "nonce": hex::encode(nonce),
            "expires_in": CHALLENGE_TTL,
        }))
    }

    /// Step 2: the activated secret and a quote over the nonce; on success the device is
    /// high-assurance and its record is returned.
    pub fn tpm_verify(&self, req: &Value) -> Result<super::Record, TpmError> {
        let tpm = self
            .tpm
            .as_ref()
            .ok_or_else(|| TpmError::Refused("TPM attestation is not configured".into()))?;
        let id = req
            .get("challenge_id")
            .and_then(Value::as_str)
            .ok_or_else(|| TpmError::Bad("challenge_id is required".into()))?;
        let secret = b64("secret", req)?;
        let attest = b64("attest", req)?;
        let signature = Signature::parse(&b64("signature", req)?)
            .map_err(|e| TpmError::Bad(format!("signature: {e}")))?;
        let (selection, pcrs) = PcrValues::parse_tpm2_tools(&b64("pcrs", req)?)
            .map_err(|e| TpmError::Bad(format!("pcrs: {e}")))?;
        let _: PcrSelection = selection;
        // One use: the row is deleted by whoever reads it first.
        let row = self.db.query_opt(
            "SELECT instance_id, ak_public, secret_sha256, nonce, expires_at
             FROM inventory_tpm_challenges WHERE id = $1",
            &[id.into()],
        )?;
        let Some(row) = row else {
            return Err(TpmError::NotFound(format!(
                "no challenge {id:?} (unknown, used or expired)"
            )));
        };
        match self.db.write(&[Stmt::cas(
            "DELETE FROM inventory_tpm_challenges WHERE id = $1",
            vec![id.into()],
        )]) {
            Ok(()) => {}
            Err(DbError::Stale) => {
                return Err(TpmError::NotFound(format!(
                    "challenge {id:?} was already used"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        let text = |i: usize| {
            row.get(i)
                .and_then(Val::text)
                .unwrap_or_default()
                .to_owned()
        };
        let instance = InstanceId::parse(&text(0))
            .map_err(|e| TpmError::Db(DbError::Backend(e.to_string())))?;
        if row.get(4).and_then(Val::int).unwrap_or(0) < now_unix() {
            return Err(TpmError::NotFound(format!("challenge {id:?} expired")));
        }
        let refuse = |why: String| {
            tracing::warn!(instance = %instance, "TPM attestation refused: {why}");
            TpmError::Refused(why)
        };
        let want = hex::decode(text(2)).unwrap_or_default();
        let got = sha2::Sha256::digest(&secret);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            got.as_slice(),
            want.as_slice(),
        )) {
            return Err(refuse(
                "the activated secret is wrong: the AK is not in the TPM of that EK".into(),
            ));
        }
        let ak = Public::parse_2b(&B64.decode(text(1)).unwrap_or_default())
            .map_err(|e| TpmError::Db(DbError::Backend(format!("stored AK: {e}"))))?;
        let nonce = hex::decode(text(3)).unwrap_or_default();
        let empty = PcrSelection(Vec::new());
        Verifier::new(tpm.provider)
            .quote(
                &ak,
                QuoteEvidence {
                    attest: &attest,
                    signature: &signature,
                    nonce: &nonce,
                    pcrs: &pcrs,
                    required: &empty,
                },
            )
            .map_err(|e| refuse(format!("quote: {e}")))?;
        // The challenge was issued only for an EK whose URI is the instance ID; the record
        // may have changed since, which `attested` checks again.
        let r = self.attested(&instance, &instance)?;
        tracing::info!(instance = %instance, "TPM attestation verified: high assurance");
        Ok(r)
    }
}

/// The TPM attestation settings of the inventory service.
#[derive(Debug)]
pub struct Tpm {
    /// The crypto provider for MakeCredential and signature checks.
    pub provider: &'static dyn pki::provider::CryptoProvider,
    /// EK vendor roots (and intermediates, accepted as partial-chain anchors).
    pub roots: Vec<pki::cert::Cert>,
    /// Refuse agents that send only the EK public key.
    pub require_ek_cert: bool,
}
