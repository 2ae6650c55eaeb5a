//! TPMS_CREATION_DATA (TPM 2.0 Part 2, section 15.1): what TPM2_Create says about a new object.

use serde_json::{Value, json};

use super::alg;
use super::attest::MAX_DATA_BYTES;
use super::name::{MAX_NAME_BYTES, Name};
use super::pcr::PcrSelection;
use super::wire::{Reader, hex};
use crate::{Error, Result};

/// Largest TPMS_CREATION_DATA accepted.
pub const MAX_CREATION_DATA_BYTES: usize = 1024;

/// TPMS_CREATION_DATA (Part 2, section 15.1).
///
/// ```text
/// TPMS_CREATION_DATA {
///   pcrSelect: TPML_PCR_SELECTION, pcrDigest: TPM2B_DIGEST, locality: TPMA_LOCALITY,
///   parentNameAlg: TPM_ALG_ID, parentName: TPM2B_NAME, parentQualifiedName: TPM2B_NAME,
///   outsideInfo: TPM2B_DATA
/// }
/// ```
/// The bytes as received are kept: creationHash is computed over them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CreationData {
    /// pcrSelect
    pub pcr_select: PcrSelection,
    /// pcrDigest
    pub pcr_digest: Vec<u8>,
    /// locality
    pub locality: u8,
    /// parentNameAlg
    pub parent_name_alg: u16,
    /// parentName
    pub parent_name: Name,
    /// parentQualifiedName
    pub parent_qualified_name: Name,
    /// outsideInfo
    pub outside_info: Vec<u8>,
    raw: Vec<u8>,
}

impl CreationData {
    /// Parse a TPMS_CREATION_DATA (no trailing bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_CREATION_DATA_BYTES {
            return Err(Error::TooLarge {
                what: "TPMS_CREATION_DATA",
                len: bytes.len(),
                limit: MAX_CREATION_DATA_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let pcr_select = PcrSelection::read(&mut r)?;
        let pcr_digest = r
            .tpm2b("TPMS_CREATION_DATA.pcrDigest", alg::MAX_DIGEST)?
            .to_vec();
        let locality = r.u8("TPMS_CREATION_DATA.locality")?;
        let parent_name_alg = r.u16("TPMS_CREATION_DATA.parentNameAlg")?;
        let parent_name = Name::parse(r.tpm2b("TPMS_CREATION_DATA.parentName", MAX_NAME_BYTES)?)?;
        let parent_qualified_name =
            Name::parse(r.tpm2b("TPMS_CREATION_DATA.parentQualifiedName", MAX_NAME_BYTES)?)?;
        let outside_info = r
            .tpm2b("TPMS_CREATION_DATA.outsideInfo", MAX_DATA_BYTES)?
            .to_vec();
        r.finish("TPMS_CREATION_DATA")?;
        Ok(Self {
            pcr_select,
            pcr_digest,
            locality,
            parent_name_alg,
            parent_name,
            parent_qualified_name,
            outside_info,
            raw: bytes.to_vec(),
        })
    }

    /// Parse a TPM2B_CREATION_DATA (`u16 size || TPMS_CREATION_DATA`, the layout of
    /// `tpm2_create --creation-data` files).
    pub fn parse_2b(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let inner = r.tpm2b("TPM2B_CREATION_DATA", MAX_CREATION_DATA_BYTES)?;
        r.finish("TPM2B_CREATION_DATA")?;
        Self::parse(inner)
    }

    /// The marshalled bytes (as received).
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The fields as the TPM spec names them.
    pub fn to_json(&self) -> Value {
        json!({
            "pcrSelect": self.pcr_select.to_json(),
            "pcrDigest": hex(&self.pcr_digest),
            "locality": self.locality,
            "parentNameAlg": alg::name(self.parent_name_alg),
            "parentName": hex(self.parent_name.as_bytes()),
            "parentQualifiedName": hex(self.parent_qualified_name.as_bytes()),
            "outsideInfo": hex(&self.outside_info),
        })
    }
}
