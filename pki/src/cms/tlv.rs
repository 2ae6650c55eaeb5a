//! A small reader over DER tag-length-value triples, used where the exact bytes the peer sent
//! matter (signed attributes, signer identifiers, embedded certificates) and where the typed
//! decoders of the `cms` and `x509-cert` crates would reorder or refuse what real peers send.
//!
//! Input reaching this reader has already been checked to be DER (definite, shortest lengths),
//! but every step is still total: malformed bytes give an error, never a panic.

use crate::{Error, Result};

/// One element: its first identifier octet, the whole encoding, and the contents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// The first identifier octet (class, constructed bit, low tag number).
    pub tag: u8,
    /// Identifier, length and contents.
    pub full: &'a [u8],
    /// The contents octets.
    pub value: &'a [u8],
}

/// Append a definite-length TLV with a one-octet `tag` to `out`.
pub(crate) fn write(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// Read one element from the front of `input`; returns it and what follows.
pub(crate) fn read<'a>(input: &'a [u8], what: &'static str) -> Result<(Tlv<'a>, &'a [u8])> {
    let bad = |reason: &str| Error::Malformed {
        what,
        reason: reason.to_owned(),
    };
    let (&tag, rest) = input.split_first().ok_or_else(|| bad("missing element"))?;
    let mut rest = rest;
    if tag & 0x1f == 0x1f {
        // High tag number: skip the base-128 octets.
        loop {
            let (&b, r) = rest.split_first().ok_or_else(|| bad("truncated tag"))?;
            rest = r;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (&l, r) = rest.split_first().ok_or_else(|| bad("truncated length"))?;
    rest = r;
    let len = match l {
        0x00..=0x7f => usize::from(l),
        0x80 => return Err(bad("indefinite length in DER")),
        _ => {
            let count = usize::from(l & 0x7f);
            if count > core::mem::size_of::<usize>() {
                return Err(bad("length too large"));
            }
            let (bytes, r) = rest
                .split_at_checked(count)
                .ok_or_else(|| bad("truncated length"))?;
            rest = r;
            let mut len = 0usize;
            for b in bytes {
                len = (len << 8) | usize::from(*b);
            }
            len
        }
    };
    let header_len = input.len() - rest.len();
    let (value, after) = rest
        .split_at_checked(len)
        .ok_or_else(|| bad("element runs past the end of its container"))?;
    let full = input
        .get(..header_len + len)
        .ok_or_else(|| bad("element runs past the end of its container"))?;
    Ok((Tlv { tag, full, value }, after))
}

/// Read exactly one element spanning all of `input`.
pub(crate) fn read_one<'a>(input: &'a [u8], what: &'static str) -> Result<Tlv<'a>> {
    let (tlv, rest) = read(input, what)?;
    if !rest.is_empty() {
        return Err(Error::TrailingData {
            what,
            len: rest.len(),
        });
    }
    Ok(tlv)
}

/// The elements inside a constructed value, read in order.
pub(crate) struct Children<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Children<'a> {
    /// The children of `parent`, which must carry `tag`.
    pub(crate) fn of(parent: Tlv<'a>, tag: u8, what: &'static str) -> Result<Self> {
        if parent.tag != tag {
            return Err(Error::Malformed {
                what,
                reason: format!("expected tag 0x{tag:02x}, found 0x{:02x}", parent.tag),
            });
        }
        Ok(Self {
            rest: parent.value,
            what,
        })
    }

    /// The tag of the next child, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next child, whatever its tag.
    pub(crate) fn next_any(&mut self) -> Result<Tlv<'a>> {
        let (tlv, rest) = read(self.rest, self.what)?;
        self.rest = rest;
        Ok(tlv)
    }

    /// The next child, which must carry `tag`.
    pub(crate) fn field(&mut self, tag: u8, field: &str) -> Result<Tlv<'a>> {
        let tlv = self.next_any().map_err(|e| match e {
            Error::Malformed { what, reason } => Error::Malformed {
                what,
                reason: format!("{field}: {reason}"),
            },
            other => other,
        })?;
        if tlv.tag != tag {
            return Err(Error::Malformed {
                what: self.what,
                reason: format!("{field}: expected tag 0x{tag:02x}, found 0x{:02x}", tlv.tag),
            });
        }
        Ok(tlv)
    }

    /// The next child if it carries `tag`.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>> {
        if self.peek_tag() == Some(tag) {
            self.next_any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fail unless every child has been read.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::Malformed {
                what: self.what,
                reason: "unexpected extra fields".to_owned(),
            })
        }
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = self.next_any();
        if item.is_err() {
            self.rest = &[];
        }
        Some(item)
    }
}
