//! TCG PC Client event logs in the crypto-agile format (TCG PC Client Platform Firmware
//! Profile, section 10 "Event Logging"): parse, replay, and check against a quote.
//!
//! ```text
//! first event   TCG_PCClientPCREvent { pcrIndex: u32, eventType: u32 (EV_NO_ACTION),
//!                 digest: [u8; 20] (zeros), eventSize: u32, event: TCG_EfiSpecIDEvent }
//! TCG_EfiSpecIDEvent { signature: "Spec ID Event03\0", platformClass: u32,
//!                 specVersionMinor, specVersionMajor, specErrata, uintnSize: u8,
//!                 numberOfAlgorithms: u32, digestSizes[n]: { algorithmId: u16, digestSize: u16 },
//!                 vendorInfoSize: u8, vendorInfo[vendorInfoSize] }
//! then          TCG_PCR_EVENT2 { pcrIndex: u32, eventType: u32,
//!                 digests: TPML_DIGEST_VALUES { count: u32, { hashAlg: u16, digest }[count] },
//!                 eventSize: u32, event[eventSize] }
//! ```
//! All integers little-endian. Replay extends `PCR = H(PCR || digest)` from zeros for every
//! event but EV_NO_ACTION; a StartupLocality EV_NO_ACTION event sets PCR 0's starting value.

use std::collections::BTreeMap;

use pki::provider::CryptoProvider;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::alg;
use super::pcr::PcrValues;
use super::verify::VerifiedQuote;
use super::wire::{Reader, hex};
use crate::{Error, Result};

/// Largest event log accepted.
pub const MAX_LOG_BYTES: usize = 16 << 20;
/// Largest single event accepted.
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// Most events accepted.
pub const MAX_EVENTS: usize = 100_000;
/// Most digest algorithms in the Spec ID event or in one event.
pub const MAX_ALGORITHMS: usize = 16;
/// Highest PCR index accepted (PC Client platforms have 24).
pub const MAX_PCR_INDEX: u32 = 23;

/// EV_NO_ACTION: not extended.
pub const EV_NO_ACTION: u32 = 0x0000_0003;

const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";
const STARTUP_LOCALITY: &[u8; 16] = b"StartupLocality\0";

/// The TCG_EfiSpecIDEvent that opens a crypto-agile log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecIdEvent {
    /// platformClass
    pub platform_class: u32,
    /// specVersionMinor
    pub spec_version_minor: u8,
    /// specVersionMajor
    pub spec_version_major: u8,
    /// specErrata
    pub spec_errata: u8,
    /// uintnSize
    pub uintn_size: u8,
    /// digestSizes: (algorithmId, digestSize)
    pub algorithms: Vec<(u16, u16)>,
    /// vendorInfo
    pub vendor_info: Vec<u8>,
}

/// One TCG_PCR_EVENT2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the log (0 is the Spec ID event).
    pub number: usize,
    /// pcrIndex
    pub pcr_index: u32,
    /// eventType
    pub event_type: u32,
    /// digests: (hashAlg, digest)
    pub digests: Vec<(u16, Vec<u8>)>,
    /// event data
    pub data: Vec<u8>,
}

impl Event {
    /// The event's digest in bank `alg`.
    pub fn digest(&self, alg: u16) -> Option<&[u8]> {
        self.digests
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, d)| d.as_slice())
    }

    /// The fields as the TCG spec names them.
    pub fn to_json(&self) -> Value {
        json!({
            "EventNum": self.number,
            "PCRIndex": self.pcr_index,
            "EventType": event_type_name(self.event_type),
            "Digests": self.digests.iter().map(|(a, d)| json!({ "AlgorithmId": alg::name(*a), "Digest": hex(d) })).collect::<Vec<_>>(),
            "EventSize": self.data.len(),
            "Event": hex(&self.data),
        })
    }
}

/// A parsed crypto-agile event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    /// The Spec ID event.
    pub spec_id: SpecIdEvent,
    /// The events after it.
    pub events: Vec<Event>,
    startup_locality: u8,
}

/// An event log whose replay matched a verified quote: the events of the quoted PCRs.
#[derive(Debug, Clone)]
pub struct VerifiedEventLog {
    events: Vec<Event>,
}

impl VerifiedEventLog {
    /// The events that extended the quoted PCRs, in log order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

impl EventLog {
    /// Parse a crypto-agile event log (the contents of `binary_bios_measurements`).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_LOG_BYTES {
            return Err(Error::TooLarge {
                what: "event log",
                len: bytes.len(),
                limit: MAX_LOG_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        const H: &str = "TCG_PCClientPCREvent";
        let _pcr = r.u32_le(H)?;
        let ty = r.u32_le(H)?;
        r.bytes(20, H)?;
        let size = r.u32_le(H)? as usize;
        if size > MAX_EVENT_BYTES {
            return Err(Error::TooLarge {
                what: "TCG_PCClientPCREvent.eventSize",
                len: size,
                limit: MAX_EVENT_BYTES,
            });
        }
        let spec = r.bytes(size, H)?;
        if ty != EV_NO_ACTION || spec.get(..16) != Some(&SPEC_ID_SIGNATURE[..]) {
            return Err(Error::Malformed {
                what: "event log",
                reason: "the first event is not a Spec ID Event03 (not a crypto-agile log)".into(),
            });
        }
        let spec_id = parse_spec_id(spec)?;
        let sizes: BTreeMap<u16, usize> = spec_id
            .algorithms
            .iter()
            .map(|(a, s)| (*a, usize::from(*s)))
            .collect();
        let mut events = Vec::new();
        let mut startup_locality = 0;
        const E: &str = "TCG_PCR_EVENT2";
        while r.remaining() > 0 {
            if events.len() >= MAX_EVENTS {
                return Err(Error::TooLarge {
                    what: "event log events",
                    len: events.len() + 1,
                    limit: MAX_EVENTS,
                });
            }
            let pcr_index = r.u32_le(E)?;
            if pcr_index > MAX_PCR_INDEX {
                return Err(Error::Malformed {
                    what: "TCG_PCR_EVENT2.pcrIndex",
                    reason: format!("PCR {pcr_index}"),
                });
            }
            let event_type = r.u32_le(E)?;
            let count = r.u32_le(E)? as usize;
            if count > MAX_ALGORITHMS {
                return Err(Error::TooLarge {
                    what: "TPML_DIGEST_VALUES.count",
                    len: count,
                    limit: MAX_ALGORITHMS,
                });
            }
            let mut digests = Vec::with_capacity(count);
            for _ in 0..count {
                let a = r.u16_le(E)?;
                let size = *sizes.get(&a).ok_or_else(|| Error::Malformed {
                    what: "TCG_PCR_EVENT2.digests",
                    reason: format!("algorithm {} is not in the Spec ID event", alg::name(a)),
                })?;
                digests.push((a, r.bytes(size, E)?.to_vec()));
            }
            let size = r.u32_le(E)? as usize;
            if size > MAX_EVENT_BYTES {
                return Err(Error::TooLarge {
                    what: "TCG_PCR_EVENT2.eventSize",
                    len: size,
                    limit: MAX_EVENT_BYTES,
                });
            }
            let data = r.bytes(size, E)?.to_vec();
            if event_type == EV_NO_ACTION
                && pcr_index == 0
                && data.len() == 17
                && data.starts_with(STARTUP_LOCALITY)
            {
                startup_locality = data[16];
            }
            events.push(Event {
                number: events.len() + 1,
                pcr_index,
                event_type,
                digests,
                data,
            });
        }
        Ok(Self {
            spec_id,
            events,
            startup_locality,
        })
    }

    /// Replay every bank the log carries: the PCR values the log implies, for the PCRs it
    /// extends. Banks whose hash the provider does not compute are skipped.
    pub fn replay(&self, provider: &dyn CryptoProvider) -> Result<PcrValues> {
        let mut out = BTreeMap::new();
        for &(bank, size) in &self.spec_id.algorithms {
            let Ok(h) = alg::hash(bank) else { continue };
            for e in &self.events {
                if e.event_type == EV_NO_ACTION {
                    continue;
                }
                let Some(d) = e.digest(bank) else {
                    return Err(Error::Malformed {
                        what: "TCG_PCR_EVENT2.digests",
                        reason: format!("event {} has no {} digest", e.number, alg::name(bank)),
                    });
                };
                let index = e.pcr_index as u8;
                let pcr = out.entry((bank, index)).or_insert_with(|| {
                    let mut v = vec![0u8; usize::from(size)];
                    if index == 0
                        && let Some(last) = v.last_mut()
                    {
                        *last = self.startup_locality;
                    }
                    v
                });
                let mut cat = pcr.clone();
                cat.extend_from_slice(d);
                *pcr = provider.digest(h, &cat);
            }
        }
        Ok(PcrValues(out))
    }

    /// Replay the log and check it against a verified quote: every quoted PCR the log extends
    /// must equal its replayed value. Returns the events of those PCRs.
    pub fn verify_against(
        &self,
        quote: &VerifiedQuote,
        provider: &dyn CryptoProvider,
    ) -> Result<VerifiedEventLog> {
        let replayed = self.replay(provider)?;
        let mut covered = Vec::new();
        for (&(bank, index), value) in &replayed.0 {
            if let Some(quoted) = quote.pcrs().get(bank, index) {
                if quoted.len() != value.len() || !bool::from(quoted.ct_eq(value)) {
                    return Err(Error::EventLogMismatch {
                        bank: alg::bank_name(bank),
                        index,
                    });
                }
                covered.push(index);
            }
        }
        let events = self
            .events
            .iter()
            .filter(|e| e.event_type != EV_NO_ACTION && covered.contains(&(e.pcr_index as u8)))
            .cloned()
            .collect();
        Ok(VerifiedEventLog { events })
    }

    /// The log rendered with the TCG field names.
    pub fn to_json(&self) -> Value {
        json!({
            "SpecID": {
                "platformClass": self.spec_id.platform_class,
                "specVersionMinor": self.spec_id.spec_version_minor,
                "specVersionMajor": self.spec_id.spec_version_major,
                "specErrata": self.spec_id.spec_errata,
                "uintnSize": self.spec_id.uintn_size,
                "Algorithms": self.spec_id.algorithms.iter().map(|(a, s)| json!({ "algorithmId": alg::name(*a), "digestSize": s })).collect::<Vec<_>>(),
                "vendorInfo": hex(&self.spec_id.vendor_info),
            },
            "events": self.events.iter().map(Event::to_json).collect::<Vec<_>>(),
        })
    }
}

fn parse_spec_id(b: &[u8]) -> Result<SpecIdEvent> {
    const S: &str = "TCG_EfiSpecIDEvent";
    let mut r = Reader::new(b);
    r.bytes(16, S)?;
    let platform_class = r.u32_le(S)?;
    let spec_version_minor = r.u8(S)?;
    let spec_version_major = r.u8(S)?;
    let spec_errata = r.u8(S)?;
    let uintn_size = r.u8(S)?;
    let n = r.u32_le(S)? as usize;
    if n == 0 || n > MAX_ALGORITHMS {
        return Err(Error::Malformed {
            what: "TCG_EfiSpecIDEvent.numberOfAlgorithms",
            reason: format!("{n} algorithms"),
        });
    }
    let mut algorithms = Vec::with_capacity(n);
    for _ in 0..n {
        let a = r.u16_le(S)?;
        let size = r.u16_le(S)?;
        if let Some(expected) = alg::digest_size(a)
            && expected != usize::from(size)
        {
            return Err(Error::Malformed {
                what: "TCG_EfiSpecIDEvent.digestSizes",
                reason: format!("{} with digest size {size}", alg::name(a)),
            });
        }
        if usize::from(size) > alg::MAX_DIGEST {
            return Err(Error::TooLarge {
                what: "TCG_EfiSpecIDEvent.digestSize",
                len: usize::from(size),
                limit: alg::MAX_DIGEST,
            });
        }
        algorithms.push((a, size));
    }
    let vlen = usize::from(r.u8(S)?);
    let vendor_info = r.bytes(vlen, S)?.to_vec();
    r.finish(S)?;
    Ok(SpecIdEvent {
        platform_class,
        spec_version_minor,
        spec_version_major,
        spec_errata,
        uintn_size,
        algorithms,
        vendor_info,
    })
}

/// The TCG name of an event type (`EV_SEPARATOR`...), or its hex value.
pub fn event_type_name(t: u32) -> String {
    let s = match t {
        0x0000_0000 => "EV_PREBOOT_CERT",
        0x0000_0001 => "EV_POST_CODE",
        0x0000_0003 => "EV_NO_ACTION",
        0x0000_0004 => "EV_SEPARATOR",
        0x0000_0005 => "EV_ACTION",
        0x0000_0006 => "EV_EVENT_TAG",
        0x0000_0007 => "EV_S_CRTM_CONTENTS",
        0x0000_0008 => "EV_S_CRTM_VERSION",
        0x0000_0009 => "EV_CPU_MICROCODE",
        0x0000_000A => "EV_PLATFORM_CONFIG_FLAGS",
        0x0000_000B => "EV_TABLE_OF_DEVICES",
        0x0000_000C => "EV_COMPACT_HASH",
        0x0000_000D => "EV_IPL",
        0x0000_000E => "EV_IPL_PARTITION_DATA",
        0x0000_000F => "EV_NONHOST_CODE",
        0x0000_0010 => "EV_NONHOST_CONFIG",
        0x0000_0011 => "EV_NONHOST_INFO",
        0x0000_0012 => "EV_OMIT_BOOT_DEVICE_EVENTS",
        0x8000_0001 => "EV_EFI_VARIABLE_DRIVER_CONFIG",
        0x8000_0002 => "EV_EFI_VARIABLE_BOOT",
        0x8000_0003 => "EV_EFI_BOOT_SERVICES_APPLICATION",
        0x8000_0004 => "EV_EFI_BOOT_SERVICES_DRIVER",
        0x8000_0005 => "EV_EFI_RUNTIME_SERVICES_DRIVER",
        0x8000_0006 => "EV_EFI_GPT_EVENT",
        0x8000_0007 => "EV_EFI_ACTION",
        0x8000_0008 => "EV_EFI_PLATFORM_FIRMWARE_BLOB",
        0x8000_0009 => "EV_EFI_HANDOFF_TABLES",
        0x8000_000A => "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
        0x8000_000B => "EV_EFI_HANDOFF_TABLES2",
        0x8000_000C => "EV_EFI_VARIABLE_BOOT2",
        0x8000_00E0 => "EV_EFI_VARIABLE_AUTHORITY",
        other => return format!("0x{other:08x}"),
    };
    s.to_string()
}
