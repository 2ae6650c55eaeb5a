//! BER-to-DER intake.
//!
//! Some peers send CMS in BER (X.690 section 8): indefinite lengths, strings cut into
//! constructed segments, lengths with leading zero octets. Everything else in this crate decodes
//! strict DER only; [`to_der`] is the one explicit, bounded step that turns such input into DER
//! before it reaches a DER parser (see [`crate::cms::SignedData::from_ber`]).
//!
//! ```text
//!   peer bytes ──▶ ber::to_der (limits: size, depth, element count) ──▶ DER ──▶ from_der
//! ```
//!
//! What [`to_der`] changes (X.690 section 10 and 11):
//!
//! - indefinite lengths (`0x80` … `00 00`) become definite lengths (10.1);
//! - every length is written in its shortest form (10.1);
//! - constructed BIT STRING, OCTET STRING, ObjectDescriptor, time and restricted character
//!   string encodings (universal class) become one primitive encoding holding the concatenated
//!   segments (10.2, 8.6.4, 8.7.3, 8.23.6); for BIT STRING only the last segment may have unused
//!   bits.
//!
//! What it deliberately leaves alone:
//!
//! - **the order of `SET OF` elements.** DER (11.6) sorts them, but a CMS signature over signed
//!   attributes is checked over the attributes as the signer encoded them (RFC 5652 section
//!   5.4); a signer that did not sort would see its valid signature rejected if we sorted here.
//!   The DER decoders downstream accept unsorted `SET OF`.
//! - constructed encodings under a context-specific or application tag (`[0] IMPLICIT OCTET
//!   STRING` and the like): whether they are strings depends on the ASN.1 module, which this
//!   step does not know. They come out with definite lengths but still constructed.
//! - the content octets of primitive values (BOOLEAN, INTEGER, time formats, BIT STRING padding
//!   bits).
//!
//! The conversion is iterative (an explicit stack bounded by [`Limits::max_depth`]) and never
//! panics; every malformed input is an [`Error`].

use crate::{Error, Result};

/// Bounds on the work [`to_der`] will do for one input.
///
/// The defaults (`Limits::default()`) are 4 MiB of input, nesting 64 levels deep and 100 000
/// elements (tag-length-value triples): comfortably above any SCEP or MDM message, well below
/// what would hurt a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes ([`Error::TooLarge`] above it).
    pub max_len: usize,
    /// Deepest nesting of constructed elements accepted ([`Error::TooDeep`] beyond it).
    pub max_depth: usize,
    /// Largest number of elements accepted ([`Error::TooManyElements`] beyond it).
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_len: 4 * 1024 * 1024,
            max_depth: 64,
            max_elements: 100_000,
        }
    }
}

const WHAT: &str = "BER";

fn malformed(reason: &str) -> Error {
    Error::Malformed {
        what: WHAT,
        reason: reason.to_owned(),
    }
}

fn truncated() -> Error {
    malformed("input ends inside an element")
}

/// The universal tag numbers whose constructed form is a string cut into segments.
fn is_string_type(number: u32) -> bool {
    matches!(number, 3 | 4 | 7 | 12 | 18..=28 | 30)
}

/// The universal tag numbers that must be primitive.
fn must_be_primitive(number: u32) -> bool {
    matches!(number, 1 | 2 | 5 | 6 | 9 | 10 | 13)
}

/// The universal tag numbers that must be constructed.
fn must_be_constructed(number: u32) -> bool {
    matches!(number, 8 | 11 | 16 | 17 | 29)
}

/// A parsed identifier and length.
struct Header {
    /// The identifier octets as received (validated to be in their only valid form).
    ident: Vec<u8>,
    /// 0 universal, 1 application, 2 context-specific, 3 private.
    class: u8,
    constructed: bool,
    number: u32,
    /// `None` for the indefinite form.
    len: Option<usize>,
}

impl Header {
    fn universal(&self) -> bool {
        self.class == 0
    }
}

/// Read a header at `pos`, not reading past `bound`. Returns the header and the position of the
/// first content octet.
fn read_header(input: &[u8], pos: usize, bound: usize) -> Result<(Header, usize)> {
    let window = input.get(pos..bound).ok_or_else(truncated)?;
    let mut it = window.iter().copied();
    let mut used = 0usize;
    let mut next = || -> Result<u8> {
        let b = it.next().ok_or_else(truncated)?;
        used += 1;
        Ok(b)
    };
    let first = next()?;
    let mut ident = vec![first];
    let class = first >> 6;
    let constructed = first & 0x20 != 0;
    let mut number = u32::from(first & 0x1f);
    if number == 0x1f {
        // High tag number form (X.690 8.1.2.4): base-128, no leading 0x80 octet.
        number = 0;
        let mut octets = 0;
        loop {
            let b = next()?;
            ident.push(b);
            if octets == 0 && b == 0x80 {
                return Err(malformed("tag number with a leading zero octet"));
            }
            octets += 1;
            if octets > 4 {
                return Err(malformed("tag number too large"));
            }
            number = (number << 7) | u32::from(b & 0x7f);
            if b & 0x80 == 0 {
                break;
            }
        }
        if number < 31 {
            return Err(malformed("tag number below 31 in the long form"));
        }
    }
    let l = next()?;
    let len = match l {
        0x00..=0x7f => Some(usize::from(l)),
        0x80 => None,
        0xff => return Err(malformed("reserved length octet 0xFF")),
        _ => {
            let count = usize::from(l & 0x7f);
            let mut value: usize = 0;
            for _ in 0..count {
                let b = next()?;
                value = value
                    .checked_mul(256)
                    .and_then(|v| v.checked_add(usize::from(b)))
                    .ok_or_else(|| malformed("length too large"))?;
            }
            Some(value)
        }
    };
    let content_start = pos.checked_add(used).ok_or_else(truncated)?;
    Ok((
        Header {
            ident,
            class,
            constructed,
            number,
            len,
        },
        content_start,
    ))
}

/// Append a DER length (shortest form, X.690 10.1) to `out`.
pub(crate) fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Fits in seven bits.
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or(&[]);
    // At most size_of::<usize>() octets, so this fits in seven bits.
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// Append a whole TLV to `out`.
fn push_tlv(out: &mut Vec<u8>, ident: &[u8], content: &[u8]) {
    out.extend_from_slice(ident);
    push_len(out, content.len());
    out.extend_from_slice(content);
}

/// What an open constructed element turns into when it closes.
enum Kind {
    /// The pseudo-element holding the top-level output.
    Root,
    /// A constructed element re-emitted as constructed.
    Constructed,
    /// A constructed string being flattened. `outer` is the universal tag number of the string;
    /// `nested` is true for a constructed segment inside another string.
    String {
        outer: u32,
        nested: bool,
        /// For BIT STRING: the unused-bit count of the last segment seen.
        unused: u8,
    },
}

struct Frame {
    ident: Vec<u8>,
    /// Definite end of the content, or `None` for the indefinite form.
    end: Option<usize>,
    /// Where reading must stop: `end`, or the enclosing definite end.
    bound: usize,
    kind: Kind,
    /// Encoded children (constructed) or concatenated segment octets (strings).
    buf: Vec<u8>,
}

/// Add one segment's octets to an open string frame (X.690 8.6.4 / 8.7.3).
fn push_segment(frame: &mut Frame, octets: &[u8], segment_unused: Option<u8>) -> Result<()> {
    if let Kind::String { outer, unused, .. } = &mut frame.kind {
        if *outer == 3 {
            if *unused != 0 {
                return Err(malformed(
                    "a BIT STRING segment other than the last has unused bits",
                ));
            }
            *unused = segment_unused.unwrap_or(0);
        }
        frame.buf.extend_from_slice(octets);
        Ok(())
    } else {
        Err(malformed("internal: segment outside a string"))
    }
}

/// Check a primitive BIT STRING's contents (X.690 8.6.2) and split off the unused-bit count.
fn bit_string_parts(content: &[u8]) -> Result<(u8, &[u8])> {
    let (&unused, bits) = content
        .split_first()
        .ok_or_else(|| malformed("BIT STRING without its unused-bits octet"))?;
    if unused > 7 || (bits.is_empty() && unused != 0) {
        return Err(malformed("BIT STRING unused-bits count out of range"));
    }
    Ok((unused, bits))
}

/// Close the top frame and hand its encoding to its parent. Returns true when the top-level
/// element is complete.
fn close_top(stack: &mut Vec<Frame>) -> Result<bool> {
    let frame = stack
        .pop()
        .ok_or_else(|| malformed("internal: empty stack"))?;
    let parent = stack
        .last_mut()
        .ok_or_else(|| malformed("internal: closing the root"))?;
    match frame.kind {
        Kind::Root => return Err(malformed("internal: root below root")),
        Kind::Constructed => push_tlv(&mut parent.buf, &frame.ident, &frame.buf),
        Kind::String {
            outer,
            nested: true,
            unused,
        } => push_segment(parent, &frame.buf, (outer == 3).then_some(unused))?,
        Kind::String {
            outer,
            nested: false,
            unused,
        } => {
            let mut ident = frame.ident;
            if let Some(first) = ident.first_mut() {
                *first &= !0x20;
            }
            if outer == 3 {
                let mut content = Vec::with_capacity(frame.buf.len() + 1);
                content.push(unused);
                content.extend_from_slice(&frame.buf);
                push_tlv(&mut parent.buf, &ident, &content);
            } else {
                push_tlv(&mut parent.buf, &ident, &frame.buf);
            }
        }
    }
    // Only the root is left: the top-level element is complete.
    Ok(stack.len() == 1)
}

/// Convert one BER element to DER (see the module docs for exactly what changes).
///
/// `input` must hold exactly one element: bytes after it are [`Error::TrailingData`]. Input
/// over [`Limits::max_len`], nesting over [`Limits::max_depth`] and more than
/// [`Limits::max_elements`] elements fail with [`Error::TooLarge`], [`Error::TooDeep`] and
/// [`Error::TooManyElements`]. DER input comes back unchanged.
pub fn to_der(input: &[u8], limits: &Limits) -> Result<Vec<u8>> {
    if input.len() > limits.max_len {
        return Err(Error::TooLarge {
            what: "BER input",
            len: input.len(),
            limit: limits.max_len,
        });
    }
    if input.is_empty() {
        return Err(malformed("empty input"));
    }
    let mut stack = vec![Frame {
        ident: Vec::new(),
        end: Some(input.len()),
        bound: input.len(),
        kind: Kind::Root,
        buf: Vec::with_capacity(input.len()),
    }];
    let mut pos = 0usize;
    let mut elements = 0usize;
    loop {
        let top = stack
            .last()
            .ok_or_else(|| malformed("internal: empty stack"))?;
        let bound = top.bound;
        let in_string = match top.kind {
            Kind::String { outer, .. } => Some(outer),
            _ => None,
        };
        let is_root = matches!(top.kind, Kind::Root);
        if !is_root {
            match top.end {
                Some(end) if pos == end => {
                    if close_top(&mut stack)? {
                        break;
                    }
                    continue;
                }
                Some(_) => {}
                None => {
                    if input.get(pos..pos.saturating_add(2)) == Some(&[0, 0]) && pos + 2 <= bound {
                        pos += 2;
                        if close_top(&mut stack)? {
                            break;
                        }
                        continue;
                    }
                }
            }
        }
        let (header, content_start) = read_header(input, pos, bound)?;
        elements += 1;
        if elements > limits.max_elements {
            return Err(Error::TooManyElements {
                limit: limits.max_elements,
            });
        }
        if header.universal() && header.number == 0 {
            return Err(malformed(
                "end-of-contents outside an indefinite-length element",
            ));
        }
        if header.universal() && header.constructed && must_be_primitive(header.number) {
            return Err(malformed("constructed encoding of a primitive-only type"));
        }
        if header.universal() && !header.constructed && must_be_constructed(header.number) {
            return Err(malformed(
                "primitive encoding of a SEQUENCE, SET or similar",
            ));
        }
        if let Some(outer) = in_string {
            let allowed = header.universal()
                && (header.number == outer || (outer != 3 && header.number == 4));
            if !allowed {
                return Err(malformed("a string segment of the wrong type"));
            }
        }
        match (header.constructed, header.len) {
            (false, None) => {
                return Err(malformed("indefinite length on a primitive element"));
            }
            (false, Some(len)) => {
                let end = content_start
                    .checked_add(len)
                    .filter(|e| *e <= bound)
                    .ok_or_else(truncated)?;
                let content = input.get(content_start..end).ok_or_else(truncated)?;
                pos = end;
                let top = stack
                    .last_mut()
                    .ok_or_else(|| malformed("internal: empty stack"))?;
                if in_string.is_some() {
                    if header.number == 3 {
                        let (unused, bits) = bit_string_parts(content)?;
                        push_segment(top, bits, Some(unused))?;
                    } else {
                        push_segment(top, content, None)?;
                    }
                } else {
                    if header.universal() && header.number == 3 {
                        bit_string_parts(content)?;
                    }
                    push_tlv(&mut top.buf, &header.ident, content);
                    if is_root {
                        break;
                    }
                }
            }
            (true, len) => {
                // Depth counts open constructed elements, the root excluded.
                if stack.len() > limits.max_depth {
                    return Err(Error::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                let end = match len {
                    Some(len) => Some(
                        content_start
                            .checked_add(len)
                            .filter(|e| *e <= bound)
                            .ok_or_else(truncated)?,
                    ),
                    None => None,
                };
                let kind = match in_string {
                    Some(outer) => Kind::String {
                        outer,
                        nested: true,
                        unused: 0,
                    },
                    None if header.universal() && is_string_type(header.number) => Kind::String {
                        outer: header.number,
                        nested: false,
                        unused: 0,
                    },
                    None => Kind::Constructed,
                };
                stack.push(Frame {
                    ident: header.ident,
                    end,
                    bound: end.unwrap_or(bound),
                    kind,
                    buf: Vec::new(),
                });
                pos = content_start;
            }
        }
    }
    if pos != input.len() {
        return Err(Error::TrailingData {
            what: "BER element",
            len: input.len().saturating_sub(pos),
        });
    }
    let root = stack
        .into_iter()
        .next()
        .ok_or_else(|| malformed("internal: empty stack"))?;
    Ok(root.buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_shortest_form() {
        let mut v = Vec::new();
        push_len(&mut v, 0x7f);
        push_len(&mut v, 0x80);
        push_len(&mut v, 0x1234);
        assert_eq!(v, [0x7f, 0x81, 0x80, 0x82, 0x12, 0x34]);
    }
}
