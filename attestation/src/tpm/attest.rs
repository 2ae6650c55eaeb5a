//! TPMS_ATTEST (TPM 2.0 Part 2, section 10.12.12): what the TPM signs.

use serde_json::{Value, json};

use super::alg;
use super::name::{MAX_NAME_BYTES, Name};
use super::pcr::PcrSelection;
use super::wire::{Reader, Writer, hex};
use crate::{Error, Result};

/// TPM_GENERATED_VALUE: `0xff 'T' 'C' 'G'`.
pub const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
/// Largest TPMS_ATTEST accepted (sizeof(TPMS_ATTEST) with a 2048-byte NV buffer, rounded up).
pub const MAX_ATTEST_BYTES: usize = 4096;
/// Largest TPM2B_MAX_NV_BUFFER accepted (MAX_NV_BUFFER_SIZE is 1024 or 2048 in practice).
pub const MAX_NV_BUFFER: usize = 2048;
/// Largest TPM2B_DATA (extraData) accepted: sizeof(TPMT_HA).
pub const MAX_DATA_BYTES: usize = 2 + alg::MAX_DIGEST;

/// TPM_ST values of the attestation structures (Part 2, section 6.9).
pub mod st {
    /// TPM_ST_ATTEST_NV
    pub const NV: u16 = 0x8014;
    /// TPM_ST_ATTEST_COMMAND_AUDIT
    pub const COMMAND_AUDIT: u16 = 0x8015;
    /// TPM_ST_ATTEST_SESSION_AUDIT
    pub const SESSION_AUDIT: u16 = 0x8016;
    /// TPM_ST_ATTEST_CERTIFY
    pub const CERTIFY: u16 = 0x8017;
    /// TPM_ST_ATTEST_QUOTE
    pub const QUOTE: u16 = 0x8018;
    /// TPM_ST_ATTEST_TIME
    pub const TIME: u16 = 0x8019;
    /// TPM_ST_ATTEST_CREATION
    pub const CREATION: u16 = 0x801A;
    /// TPM_ST_ATTEST_NV_DIGEST
    pub const NV_DIGEST: u16 = 0x801C;
}

/// TPMS_CLOCK_INFO (Part 2, section 10.11.1).
///
/// ```text
/// TPMS_CLOCK_INFO { clock: UINT64, resetCount: UINT32, restartCount: UINT32, safe: TPMI_YES_NO }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClockInfo {
    /// clock (milliseconds the TPM has been powered since manufacture-ish)
    pub clock: u64,
    /// resetCount
    pub reset_count: u32,
    /// restartCount
    pub restart_count: u32,
    /// safe (YES = 1, NO = 0)
    pub safe: bool,
}

impl ClockInfo {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let clock = r.u64("TPMS_CLOCK_INFO.clock")?;
        let reset_count = r.u32("TPMS_CLOCK_INFO.resetCount")?;
        let restart_count = r.u32("TPMS_CLOCK_INFO.restartCount")?;
        let safe = match r.u8("TPMS_CLOCK_INFO.safe")? {
            0 => false,
            1 => true,
            other => {
                return Err(Error::Malformed {
                    what: "TPMS_CLOCK_INFO.safe",
                    reason: format!("TPMI_YES_NO is {other}"),
                });
            }
        };
        Ok(Self {
            clock,
            reset_count,
            restart_count,
            safe,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.u64(self.clock)
            .u32(self.reset_count)
            .u32(self.restart_count)
            .u8(u8::from(self.safe));
    }

    fn to_json(self) -> Value {
        json!({
            "clock": self.clock,
            "resetCount": self.reset_count,
            "restartCount": self.restart_count,
            "safe": if self.safe { 1 } else { 0 },
        })
    }
}

/// TPMU_ATTEST (Part 2, section 10.12.11): the attested part, selected by the type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attested {
    /// TPMS_CERTIFY_INFO { name: TPM2B_NAME, qualifiedName: TPM2B_NAME }
    Certify {
        /// name: the certified object's Name.
        name: Name,
        /// qualifiedName
        qualified_name: Name,
    },
    /// TPMS_CREATION_INFO { objectName: TPM2B_NAME, creationHash: TPM2B_DIGEST }
    Creation {
        /// objectName
        object_name: Name,
        /// creationHash: H_nameAlg(TPMS_CREATION_DATA)
        creation_hash: Vec<u8>,
    },
    /// TPMS_QUOTE_INFO { pcrSelect: TPML_PCR_SELECTION, pcrDigest: TPM2B_DIGEST }
    Quote {
        /// pcrSelect
        pcr_select: PcrSelection,
        /// pcrDigest
        pcr_digest: Vec<u8>,
    },
    /// TPMS_COMMAND_AUDIT_INFO { auditCounter: UINT64, digestAlg: TPM_ALG_ID,
    /// auditDigest: TPM2B_DIGEST, commandDigest: TPM2B_DIGEST }
    CommandAudit {
        /// auditCounter
        audit_counter: u64,
        /// digestAlg
        digest_alg: u16,
        /// auditDigest
        audit_digest: Vec<u8>,
        /// commandDigest
        command_digest: Vec<u8>,
    },
    /// TPMS_SESSION_AUDIT_INFO { exclusiveSession: TPMI_YES_NO, sessionDigest: TPM2B_DIGEST }
    SessionAudit {
        /// exclusiveSession
        exclusive_session: bool,
        /// sessionDigest
        session_digest: Vec<u8>,
    },
    /// TPMS_TIME_ATTEST_INFO { time: TPMS_TIME_INFO { time: UINT64, clockInfo }, firmwareVersion: UINT64 }
    Time {
        /// time.time
        time: u64,
        /// time.clockInfo
        clock_info: ClockInfo,
        /// firmwareVersion
        firmware_version: u64,
    },
    /// TPMS_NV_CERTIFY_INFO { indexName: TPM2B_NAME, offset: UINT16, nvContents: TPM2B_MAX_NV_BUFFER }
    Nv {
        /// indexName
        index_name: Name,
        /// offset
        offset: u16,
        /// nvContents
        nv_contents: Vec<u8>,
    },
    /// TPMS_NV_DIGEST_CERTIFY_INFO { indexName: TPM2B_NAME, nvDigest: TPM2B_DIGEST }
    NvDigest {
        /// indexName
        index_name: Name,
        /// nvDigest
        nv_digest: Vec<u8>,
    },
}

/// TPMS_ATTEST (Part 2, section 10.12.12).
///
/// ```text
/// TPMS_ATTEST {
///   magic:           TPM_GENERATED        (0xff544347)
///   type:            TPMI_ST_ATTEST
///   qualifiedSigner: TPM2B_NAME
///   extraData:       TPM2B_DATA           (the caller's nonce / qualifyingData)
///   clockInfo:       TPMS_CLOCK_INFO
///   firmwareVersion: UINT64
///   [type]attested:  TPMU_ATTEST
/// }
/// ```
/// [`Attest::parse`] refuses a magic other than TPM_GENERATED_VALUE. Marshalling is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attest {
    /// qualifiedSigner
    pub qualified_signer: Name,
    /// extraData
    pub extra_data: Vec<u8>,
    /// clockInfo
    pub clock_info: ClockInfo,
    /// firmwareVersion
    pub firmware_version: u64,
    /// attested (its variant carries the type)
    pub attested: Attested,
}

fn name(r: &mut Reader<'_>, what: &'static str) -> Result<Name> {
    Name::parse(r.tpm2b(what, MAX_NAME_BYTES)?)
}

fn digest(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u8>> {
    Ok(r.tpm2b(what, alg::MAX_DIGEST)?.to_vec())
}

impl Attest {
    /// Parse a TPMS_ATTEST (the whole input: what `tpm2_quote -m` / `tpm2_certify -o` write).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_ATTEST_BYTES {
            return Err(Error::TooLarge {
                what: "TPMS_ATTEST",
                len: bytes.len(),
                limit: MAX_ATTEST_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let magic = r.u32("TPMS_ATTEST.magic")?;
        if magic != TPM_GENERATED_VALUE {
            return Err(Error::NotTpmGenerated { found: magic });
        }
        let ty = r.u16("TPMS_ATTEST.type")?;
        let qualified_signer = name(&mut r, "TPMS_ATTEST.qualifiedSigner")?;
        let extra_data = r.tpm2b("TPMS_ATTEST.extraData", MAX_DATA_BYTES)?.to_vec();
        let clock_info = ClockInfo::read(&mut r)?;
        let firmware_version = r.u64("TPMS_ATTEST.firmwareVersion")?;
        let attested = match ty {
            st::CERTIFY => Attested::Certify {
                name: name(&mut r, "TPMS_CERTIFY_INFO.name")?,
                qualified_name: name(&mut r, "TPMS_CERTIFY_INFO.qualifiedName")?,
            },
            st::CREATION => Attested::Creation {
                object_name: name(&mut r, "TPMS_CREATION_INFO.objectName")?,
                creation_hash: digest(&mut r, "TPMS_CREATION_INFO.creationHash")?,
            },
            st::QUOTE => Attested::Quote {
                pcr_select: PcrSelection::read(&mut r)?,
                pcr_digest: digest(&mut r, "TPMS_QUOTE_INFO.pcrDigest")?,
            },
            st::COMMAND_AUDIT => Attested::CommandAudit {
                audit_counter: r.u64("TPMS_COMMAND_AUDIT_INFO.auditCounter")?,
                digest_alg: r.u16("TPMS_COMMAND_AUDIT_INFO.digestAlg")?,
                audit_digest: digest(&mut r, "TPMS_COMMAND_AUDIT_INFO.auditDigest")?,
                command_digest: digest(&mut r, "TPMS_COMMAND_AUDIT_INFO.commandDigest")?,
            },
            st::SESSION_AUDIT => Attested::SessionAudit {
                exclusive_session: match r.u8("TPMS_SESSION_AUDIT_INFO.exclusiveSession")? {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(Error::Malformed {
                            what: "TPMS_SESSION_AUDIT_INFO.exclusiveSession",
                            reason: format!("TPMI_YES_NO is {other}"),
                        });
                    }
                },
                session_digest: digest(&mut r, "TPMS_SESSION_AUDIT_INFO.sessionDigest")?,
            },
            st::TIME => Attested::Time {
                time: r.u64("TPMS_TIME_INFO.time")?,
                clock_info: ClockInfo::read(&mut r)?,
                firmware_version: r.u64("TPMS_TIME_ATTEST_INFO.firmwareVersion")?,
            },
            st::NV => Attested::Nv {
                index_name: name(&mut r, "TPMS_NV_CERTIFY_INFO.indexName")?,
                offset: r.u16("TPMS_NV_CERTIFY_INFO.offset")?,
                nv_contents: r
                    .tpm2b("TPMS_NV_CERTIFY_INFO.nvContents", MAX_NV_BUFFER)?
                    .to_vec(),
            },
            st::NV_DIGEST => Attested::NvDigest {
                index_name: name(&mut r, "TPMS_NV_DIGEST_CERTIFY_INFO.indexName")?,
                nv_digest: digest(&mut r, "TPMS_NV_DIGEST_CERTIFY_INFO.nvDigest")?,
            },
            other => {
                return Err(Error::Malformed {
                    what: "TPMS_ATTEST.type",
                    reason: format!("0x{other:04x} is not a TPMI_ST_ATTEST"),
                });
            }
        };
        r.finish("TPMS_ATTEST")?;
        Ok(Self {
            qualified_signer,
            extra_data,
            clock_info,
            firmware_version,
            attested,
        })
    }

    /// Parse a TPM2B_ATTEST (`u16 size || TPMS_ATTEST`).
    pub fn parse_2b(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let inner = r.tpm2b("TPM2B_ATTEST", MAX_ATTEST_BYTES)?;
        r.finish("TPM2B_ATTEST")?;
        Self::parse(inner)
    }

    /// The TPM_ST type of the attested part.
    pub fn attest_type(&self) -> u16 {
        match self.attested {
            Attested::Certify { .. } => st::CERTIFY,
            Attested::Creation { .. } => st::CREATION,
            Attested::Quote { .. } => st::QUOTE,
            Attested::CommandAudit { .. } => st::COMMAND_AUDIT,
            Attested::SessionAudit { .. } => st::SESSION_AUDIT,
            Attested::Time { .. } => st::TIME,
            Attested::Nv { .. } => st::NV,
            Attested::NvDigest { .. } => st::NV_DIGEST,
        }
    }

    /// Marshal (magic included).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(TPM_GENERATED_VALUE)
            .u16(self.attest_type())
            .tpm2b(self.qualified_signer.as_bytes())
            .tpm2b(&self.extra_data);
        self.clock_info.write(&mut w);
        w.u64(self.firmware_version);
        match &self.attested {
            Attested::Certify {
                name,
                qualified_name,
            } => {
                w.tpm2b(name.as_bytes()).tpm2b(qualified_name.as_bytes());
            }
            Attested::Creation {
                object_name,
                creation_hash,
            } => {
                w.tpm2b(object_name.as_bytes()).tpm2b(creation_hash);
            }
            Attested::Quote {
                pcr_select,
                pcr_digest,
            } => {
                pcr_select.write(&mut w);
                w.tpm2b(pcr_digest);
            }
            Attested::CommandAudit {
                audit_counter,
                digest_alg,
                audit_digest,
                command_digest,
            } => {
                w.u64(*audit_counter)
                    .u16(*digest_alg)
                    .tpm2b(audit_digest)
                    .tpm2b(command_digest);
            }
            Attested::SessionAudit {
                exclusive_session,
                session_digest,
            } => {
                w.u8(u8::from(*exclusive_session)).tpm2b(session_digest);
            }
            Attested::Time {
                time,
                clock_info,
                firmware_version,
            } => {
                w.u64(*time);
                clock_info.write(&mut w);
                w.u64(*firmware_version);
            }
            Attested::Nv {
                index_name,
                offset,
                nv_contents,
            } => {
                w.tpm2b(index_name.as_bytes())
                    .u16(*offset)
                    .tpm2b(nv_contents);
            }
            Attested::NvDigest {
                index_name,
                nv_digest,
            } => {
                w.tpm2b(index_name.as_bytes()).tpm2b(nv_digest);
            }
        }
        w.into_vec()
    }

    /// The fields as the TPM spec names them (type names as `tpm2_print` writes them).
    pub fn to_json(&self) -> Value {
        let (ty, attested) = match &self.attested {
            Attested::Certify {
                name,
                qualified_name,
            } => (
                "certify",
                json!({ "certify": { "name": hex(name.as_bytes()), "qualifiedName": hex(qualified_name.as_bytes()) } }),
            ),
            Attested::Creation {
                object_name,
                creation_hash,
            } => (
                "creation",
                json!({ "creation": { "objectName": hex(object_name.as_bytes()), "creationHash": hex(creation_hash) } }),
            ),
            Attested::Quote {
                pcr_select,
                pcr_digest,
            } => (
                "quote",
                json!({ "quote": { "pcrSelect": pcr_select.to_json(), "pcrDigest": hex(pcr_digest) } }),
            ),
            Attested::CommandAudit {
                audit_counter,
                digest_alg,
                audit_digest,
                command_digest,
            } => (
                "commandAudit",
                json!({ "commandAudit": { "auditCounter": audit_counter, "digestAlg": alg::name(*digest_alg),
                    "auditDigest": hex(audit_digest), "commandDigest": hex(command_digest) } }),
            ),
            Attested::SessionAudit {
                exclusive_session,
                session_digest,
            } => (
                "sessionAudit",
                json!({ "sessionAudit": { "exclusiveSession": u8::from(*exclusive_session), "sessionDigest": hex(session_digest) } }),
            ),
            Attested::Time {
                time,
                clock_info,
                firmware_version,
            } => (
                "time",
                json!({ "time": { "time": { "time": time, "clockInfo": clock_info.to_json() }, "firmwareVersion": firmware_version } }),
            ),
            Attested::Nv {
                index_name,
                offset,
                nv_contents,
            } => (
                "nv",
                json!({ "nv": { "indexName": hex(index_name.as_bytes()), "offset": offset, "nvContents": hex(nv_contents) } }),
            ),
            Attested::NvDigest {
                index_name,
                nv_digest,
            } => (
                "nvDigest",
                json!({ "nvDigest": { "indexName": hex(index_name.as_bytes()), "nvDigest": hex(nv_digest) } }),
            ),
        };
        json!({
            "magic": format!("{TPM_GENERATED_VALUE:x}"),
            "type": ty,
            "qualifiedSigner": hex(self.qualified_signer.as_bytes()),
            "extraData": hex(&self.extra_data),
            "clockInfo": self.clock_info.to_json(),
            "firmwareVersion": format!("{:x}", self.firmware_version),
            "attested": attested,
        })
    }
}
