//! PCR selections and PCR values: TPML_PCR_SELECTION (TPM 2.0 Part 2, section 10.9.7), the
//! quote's pcrDigest, and the PCR files `tpm2-tools` writes.

use std::collections::BTreeMap;

use pki::provider::CryptoProvider;
use serde_json::{Value, json};

use super::alg;
use super::wire::{Reader, Writer, hex};
use crate::{Error, Result};

/// Most banks in one TPML_PCR_SELECTION (HASH_COUNT; 16 as in the reference implementation).
pub const MAX_BANKS: usize = 16;
/// Largest sizeofSelect accepted (PCR_SELECT_MAX: 32 PCRs).
pub const MAX_SELECT_BYTES: usize = 4;

/// TPMS_PCR_SELECTION (Part 2, section 10.6.2): one bank and a bitmap of its PCRs.
///
/// ```text
/// TPMS_PCR_SELECTION { hash: TPMI_ALG_HASH, sizeofSelect: UINT8, pcrSelect[sizeofSelect]: BYTE }
/// ```
/// Bit `i % 8` of byte `i / 8` selects PCR `i`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PcrSelect {
    /// hash: the bank.
    pub hash: u16,
    /// pcrSelect (its length is sizeofSelect).
    pub select: Vec<u8>,
}

impl PcrSelect {
    /// A selection of `indices` in bank `hash` (sizeofSelect 3, as TPMs with 24 PCRs use).
    pub fn new(hash: u16, indices: &[u8]) -> Result<Self> {
        let mut select = vec![0u8; 3];
        for &i in indices {
            let byte = usize::from(i / 8);
            if byte >= MAX_SELECT_BYTES {
                return Err(Error::ApiMisuse("PCR index above 31"));
            }
            if byte >= select.len() {
                select.resize(byte + 1, 0);
            }
            select[byte] |= 1 << (i % 8);
        }
        Ok(Self { hash, select })
    }

    /// The selected PCR indices, ascending.
    pub fn indices(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (byte, bits) in self.select.iter().take(MAX_SELECT_BYTES).enumerate() {
            for bit in 0..8u8 {
                if bits & (1 << bit) != 0 {
                    // byte < MAX_SELECT_BYTES, so this fits in u8.
                    out.push((byte as u8) * 8 + bit);
                }
            }
        }
        out
    }

    /// Whether PCR `index` is selected.
    pub fn contains(&self, index: u8) -> bool {
        self.select
            .get(usize::from(index / 8))
            .is_some_and(|b| b & (1 << (index % 8)) != 0)
    }
}

/// TPML_PCR_SELECTION (Part 2, section 10.9.7).
///
/// ```text
/// TPML_PCR_SELECTION { count: UINT32, pcrSelections[count]: TPMS_PCR_SELECTION }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PcrSelection(pub Vec<PcrSelect>);

impl PcrSelection {
    /// Parse a marshalled TPML_PCR_SELECTION (no trailing bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let s = Self::read(&mut r)?;
        r.finish("TPML_PCR_SELECTION")?;
        Ok(s)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let count = r.u32("TPML_PCR_SELECTION.count")? as usize;
        if count > MAX_BANKS {
            return Err(Error::TooLarge {
                what: "TPML_PCR_SELECTION.count",
                len: count,
                limit: MAX_BANKS,
            });
        }
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            let hash = r.u16("TPMS_PCR_SELECTION.hash")?;
            let size = usize::from(r.u8("TPMS_PCR_SELECTION.sizeofSelect")?);
            if size > MAX_SELECT_BYTES {
                return Err(Error::TooLarge {
                    what: "TPMS_PCR_SELECTION.sizeofSelect",
                    len: size,
                    limit: MAX_SELECT_BYTES,
                });
            }
            let select = r.bytes(size, "TPMS_PCR_SELECTION.pcrSelect")?.to_vec();
            v.push(PcrSelect { hash, select });
        }
        Ok(Self(v))
    }

    /// Marshal.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.into_vec()
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.u32(self.0.len() as u32);
        for s in &self.0 {
            w.u16(s.hash).u8(s.select.len() as u8).bytes(&s.select);
        }
    }

    /// Every selected `(bank, index)` in the order the TPM concatenates them for pcrDigest:
    /// selections in order, indices ascending within each.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u8)> + '_ {
        self.0
            .iter()
            .flat_map(|s| s.indices().into_iter().map(move |i| (s.hash, i)))
    }

    /// Whether `(bank, index)` is selected.
    pub fn contains(&self, bank: u16, index: u8) -> bool {
        self.0.iter().any(|s| s.hash == bank && s.contains(index))
    }

    /// Rendered as `tpm2_print` does: `[{hash, pcrSelect: [indices]}]`.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|s| json!({ "hash": alg::name(s.hash), "pcrSelect": s.indices() }))
                .collect(),
        )
    }
}

/// PCR values keyed by `(bank, index)`, as a verifier receives them next to a quote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PcrValues(pub BTreeMap<(u16, u8), Vec<u8>>);

/// Size of `TPML_PCR_SELECTION` as the C struct `tpm2-tools` writes raw (u32 count + 16 x
/// 8-byte TPMS_PCR_SELECTION with a 4-byte pcrSelect and one pad byte).
const TOOLS_SELECTION_LEN: usize = 4 + MAX_BANKS * 8;
/// Size of one raw `TPML_DIGEST` C struct (u32 count + 8 x (u16 size + 64-byte buffer)).
const TOOLS_DIGEST_LIST_LEN: usize = 4 + 8 * (2 + 64);
/// Most TPML_DIGEST records in a `tpm2-tools` PCR file (TPM2_MAX_PCRS).
const TOOLS_MAX_LISTS: usize = 32;

impl PcrValues {
    /// Parse the "serialized" PCR file of `tpm2_quote -o` (tpm2-tools 4 and 5): the C structs
    /// written raw in the host's byte order (little-endian on every platform tpm2-tools ships
    /// for), not TPM-marshalled:
    ///
    /// ```text
    /// TPML_PCR_SELECTION  (u32 count; 16 x { u16 hash; u8 sizeofSelect; u8 pcrSelect[4]; pad })
    /// u32 count           (number of TPML_DIGEST records that follow)
    /// TPML_DIGEST[count]  (u32 count; 8 x { u16 size; u8 buffer[64] })
    /// ```
    /// Digests fill the selected PCRs in selection order. Returns the selection and the values.
    pub fn parse_tpm2_tools(bytes: &[u8]) -> Result<(PcrSelection, Self)> {
        const WHAT: &str = "tpm2-tools PCR file";
        let mut r = Reader::new(bytes);
        let sel = r.bytes(TOOLS_SELECTION_LEN, WHAT)?;
        let mut sr = Reader::new(sel);
        let count = sr.u32_le(WHAT)? as usize;
        if count > MAX_BANKS {
            return Err(Error::TooLarge {
                what: "tpm2-tools PCR file selection count",
                len: count,
                limit: MAX_BANKS,
            });
        }
        let mut selection = Vec::with_capacity(count);
        for _ in 0..count {
            let hash = sr.u16_le(WHAT)?;
            let size = usize::from(sr.u8(WHAT)?);
            let select = sr.bytes(MAX_SELECT_BYTES, WHAT)?;
            sr.u8(WHAT)?;
            if size > MAX_SELECT_BYTES {
                return Err(Error::TooLarge {
                    what: "tpm2-tools PCR file sizeofSelect",
                    len: size,
                    limit: MAX_SELECT_BYTES,
                });
            }
            selection.push(PcrSelect {
                hash,
                select: select[..size].to_vec(),
            });
        }
        let selection = PcrSelection(selection);
        let lists = r.u32_le(WHAT)? as usize;
        if lists > TOOLS_MAX_LISTS {
            return Err(Error::TooLarge {
                what: "tpm2-tools PCR file digest list count",
                len: lists,
                limit: TOOLS_MAX_LISTS,
            });
        }
        let mut digests = Vec::new();
        for _ in 0..lists {
            let list = r.bytes(TOOLS_DIGEST_LIST_LEN, WHAT)?;
            let mut lr = Reader::new(list);
            let n = lr.u32_le(WHAT)? as usize;
            if n > 8 {
                return Err(Error::TooLarge {
                    what: "tpm2-tools PCR file TPML_DIGEST.count",
                    len: n,
                    limit: 8,
                });
            }
            for _ in 0..n {
                let size = usize::from(lr.u16_le(WHAT)?);
                let buf = lr.bytes(64, WHAT)?;
                let d = buf.get(..size).ok_or(Error::TooLarge {
                    what: "tpm2-tools PCR file TPM2B_DIGEST.size",
                    len: size,
                    limit: 64,
                })?;
                digests.push(d.to_vec());
            }
        }
        r.finish(WHAT)?;
        let values = Self::assign(&selection, digests)?;
        Ok((selection, values))
    }

    /// PCR values from the "values" layout (`tpm2_pcrread -o`, `tpm2_quote -F values`): the
    /// digests concatenated in the selection's order, nothing else.
    pub fn from_concatenated(selection: &PcrSelection, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let mut digests = Vec::new();
        for (bank, _) in selection.iter() {
            let size = alg::digest_size(bank).ok_or(Error::UnsupportedAlgorithm {
                what: "PCR bank",
                alg: bank,
            })?;
            digests.push(r.bytes(size, "PCR values")?.to_vec());
        }
        r.finish("PCR values")?;
        Self::assign(selection, digests)
    }

    fn assign(selection: &PcrSelection, digests: Vec<Vec<u8>>) -> Result<Self> {
        let slots: Vec<(u16, u8)> = selection.iter().collect();
        if slots.len() != digests.len() {
            return Err(Error::Malformed {
                what: "PCR values",
                reason: format!(
                    "{} PCRs selected but {} values given",
                    slots.len(),
                    digests.len()
                ),
            });
        }
        let mut map = BTreeMap::new();
        for ((bank, index), d) in slots.into_iter().zip(digests) {
            let size = alg::digest_size(bank).ok_or(Error::UnsupportedAlgorithm {
                what: "PCR bank",
                alg: bank,
            })?;
            if d.len() != size {
                return Err(Error::Malformed {
                    what: "PCR values",
                    reason: format!(
                        "PCR {index} of {} is {} bytes, expected {size}",
                        alg::name(bank),
                        d.len()
                    ),
                });
            }
            map.insert((bank, index), d);
        }
        Ok(Self(map))
    }

    /// The value of PCR `index` in bank `bank`.
    pub fn get(&self, bank: u16, index: u8) -> Option<&[u8]> {
        self.0.get(&(bank, index)).map(Vec::as_slice)
    }

    /// pcrDigest as TPM2_Quote computes it: `H(value_1 || ... || value_n)` over the PCRs of
    /// `selection` in order (Part 3, section 18.4). Fails when a selected PCR has no value.
    pub fn digest(
        &self,
        selection: &PcrSelection,
        hash: u16,
        provider: &dyn CryptoProvider,
    ) -> Result<Vec<u8>> {
        let h = alg::hash(hash)?;
        let mut cat = Vec::new();
        for (bank, index) in selection.iter() {
            let v = self.get(bank, index).ok_or(Error::PcrValueMissing {
                bank: alg::bank_name(bank),
                index,
            })?;
            cat.extend_from_slice(v);
        }
        Ok(provider.digest(h, &cat))
    }

    /// Rendered as `{bank: {index: hex}}`.
    pub fn to_json(&self) -> Value {
        let mut banks = serde_json::Map::new();
        for ((bank, index), v) in &self.0 {
            let e = banks
                .entry(alg::name(*bank))
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(m) = e.as_object_mut() {
                m.insert(index.to_string(), hex(v).into());
            }
        }
        Value::Object(banks)
    }
}
