//! BER-to-DER intake: hand-derived X.690 cases, limits, truncation, and properties.

mod common;

use pki::Error;
use pki::ber::{Limits, to_der};
use proptest::prelude::*;

fn conv(input: &[u8]) -> Result<Vec<u8>, Error> {
    to_der(input, &Limits::default())
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// Each case: BER input, the DER that X.690 section 10 requires, and why.
#[test]
fn hand_built_cases() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "30 80 02 01 05 00 00",
            "30 03 02 01 05",
            "indefinite SEQUENCE { INTEGER 5 }: the three content octets get a definite length \
             (10.1), the end-of-contents octets go",
        ),
        (
            "30 80 31 80 02 01 01 00 00 04 01 AA 00 00",
            "30 08 31 03 02 01 01 04 01 AA",
            "nested indefinite: inner SET is 3 octets (31 03 ...), outer holds 5 + 3 = 8",
        ),
        (
            "24 08 04 02 01 02 04 02 03 04",
            "04 04 01 02 03 04",
            "constructed OCTET STRING of two segments becomes one primitive of 4 octets (10.2)",
        ),
        (
            "24 80 04 01 01 24 80 04 01 02 00 00 04 00 00 00",
            "04 02 01 02",
            "indefinite constructed OCTET STRING with a nested constructed segment and an empty \
             segment: contents 01 02",
        ),
        (
            "24 80 00 00",
            "04 00",
            "constructed OCTET STRING with no segments: the empty string",
        ),
        (
            "30 81 04 02 81 01 07",
            "30 03 02 01 07",
            "lengths 4 and 1 in long form (81 xx) become short form, so the SEQUENCE shrinks to 3 \
             (10.1)",
        ),
        (
            "04 84 00 00 00 01 FF",
            "04 01 FF",
            "four-octet long-form length with leading zeros becomes 01",
        ),
        (
            "23 80 03 02 00 0A 03 03 04 0B C0 00 00",
            "03 04 04 0A 0B C0",
            "constructed BIT STRING: segments (0 unused: 0A) and (4 unused: 0B C0) become one \
             primitive whose initial octet is the last segment's unused count, 4 (8.6.4)",
        ),
        (
            "2C 80 04 02 68 69 04 01 21 00 00",
            "0C 03 68 69 21",
            "constructed UTF8String made of OCTET STRING segments (8.23.6) becomes UTF8String \
             \"hi!\"",
        ),
        (
            "A0 80 04 01 05 00 00",
            "A0 03 04 01 05",
            "context-specific [0] with indefinite length: definite, still constructed",
        ),
        (
            "A0 80 24 80 04 01 05 00 00 00 00",
            "A0 03 04 01 05",
            "EXPLICIT [0] around a constructed OCTET STRING: the inner string is universal, so it \
             is flattened",
        ),
        (
            "31 80 02 01 02 02 01 01 00 00",
            "31 06 02 01 02 02 01 01",
            "SET OF {2, 1}: definite length, order kept as sent (DER would sort; signatures over \
             signed attributes need the sender's order)",
        ),
        (
            "BF 1F 80 05 00 00 00",
            "BF 1F 02 05 00",
            "high tag number [31] (BF 1F) constructed, indefinite, holding NULL",
        ),
    ];
    for (ber, der, why) in cases {
        let got = conv(&hex(ber)).unwrap_or_else(|e| panic!("{why}: {e}"));
        assert_eq!(got, hex(der), "{why}");
        // DER is a fixed point.
        assert_eq!(conv(&hex(der)).unwrap(), hex(der), "{why} (idempotent)");
    }

    // A length of 130 needs the long form, in one octet: 82 00 82 → 81 82.
    let mut ber = hex("04 82 00 82");
    ber.extend(std::iter::repeat_n(0x5a, 130));
    let mut der = hex("04 81 82");
    der.extend(std::iter::repeat_n(0x5a, 130));
    assert_eq!(conv(&ber).unwrap(), der);
}

fn malformed(input: &str) {
    let err = conv(&hex(input)).unwrap_err();
    assert!(
        matches!(err, Error::Malformed { .. }),
        "{input}: expected Malformed, got {err:?}"
    );
}

#[test]
fn malformed_inputs() {
    malformed(""); // nothing
    malformed("04 80 01 00 00"); // indefinite length on a primitive
    malformed("00 00"); // end-of-contents at the top level
    malformed("30 03 00 00 05"); // end-of-contents inside a definite-length element
    malformed("30 80 02 01 05"); // indefinite element never closed
    malformed("30 03 02 05 01 02 03"); // child runs past its parent
    malformed("22 03 02 01 01"); // constructed INTEGER
    malformed("10 00"); // primitive SEQUENCE
    malformed("24 03 02 01 01"); // OCTET STRING segment that is an INTEGER
    malformed("23 07 03 02 04 A0 03 01 00"); // BIT STRING: unused bits before the last segment
    malformed("03 01 08"); // BIT STRING: 8 unused bits
    malformed("03 00"); // BIT STRING without its initial octet
    malformed("03 01 03"); // BIT STRING: unused bits but no data
    malformed("04 FF 00"); // reserved length octet
    malformed("1F 80 20 00"); // long-form tag number with a leading zero octet
    malformed("1F 05 00"); // long form for a tag number below 31
    malformed("04 89 01 00 00 00 00 00 00 00 00"); // a length beyond any input
    malformed("30"); // no length
    malformed("04 82 01"); // length cut short
}

#[test]
fn trailing_bytes() {
    assert_eq!(
        conv(&hex("05 00 FF")).unwrap_err(),
        Error::TrailingData {
            what: "BER element",
            len: 1
        }
    );
    assert!(matches!(
        conv(&hex("30 80 05 00 00 00 00 00")),
        Err(Error::TrailingData { len: 2, .. })
    ));
}

fn nested(depth: usize, indefinite: bool) -> Vec<u8> {
    // depth SEQUENCEs around a NULL.
    let mut v = hex("05 00");
    for _ in 0..depth {
        if indefinite {
            let mut w = hex("30 80");
            w.extend_from_slice(&v);
            w.extend_from_slice(&[0, 0]);
            v = w;
        } else {
            let mut w = vec![0x30];
            if v.len() < 128 {
                w.push(v.len() as u8);
            } else {
                let n = (v.len() as u32).to_be_bytes();
                w.push(0x84);
                w.extend_from_slice(&n);
            }
            w.extend_from_slice(&v);
            v = w;
        }
    }
    v
}

#[test]
fn limits() {
    let d = Limits::default();
    assert_eq!(
        (d.max_len, d.max_depth, d.max_elements),
        (4 * 1024 * 1024, 64, 100_000)
    );

    let input = hex("30 80 05 00 05 00 00 00");
    let small = Limits {
        max_len: input.len() - 1,
        ..d
    };
    assert_eq!(
        to_der(&input, &small).unwrap_err(),
        Error::TooLarge {
            what: "BER input",
            len: input.len(),
            limit: input.len() - 1
        }
    );

    for indefinite in [true, false] {
        let at_limit = nested(64, indefinite);
        assert!(conv(&at_limit).is_ok());
        assert_eq!(
            conv(&nested(65, indefinite)).unwrap_err(),
            Error::TooDeep { limit: 64 }
        );
        // Deep input is refused without exhausting the stack.
        assert_eq!(
            conv(&nested(20_000, indefinite)).unwrap_err(),
            Error::TooDeep { limit: 64 }
        );
    }

    // One SEQUENCE and ten NULLs: eleven elements.
    let mut many = hex("30 14");
    for _ in 0..10 {
        many.extend_from_slice(&[5, 0]);
    }
    let exactly = Limits {
        max_elements: 11,
        ..d
    };
    assert!(to_der(&many, &exactly).is_ok());
    let fewer = Limits {
        max_elements: 10,
        ..d
    };
    assert_eq!(
        to_der(&many, &fewer).unwrap_err(),
        Error::TooManyElements { limit: 10 }
    );
}

#[test]
fn real_messages() {
    // DER vectors are fixed points.
    for rel in [
        "scep/jscep/src/samples/scep_req2.der",
        "scep/smallstep-scep/testdata/CertRep.der",
        "scep/local-capture/certmonger-0.79.17_scepserver-2.1.0/getcacert.der",
    ] {
        let der = testkit::vector(rel);
        assert_eq!(conv(&der).unwrap(), der, "{rel}");
    }

    // The indefinite-length SignedData: converts, the result is a fixed point, openssl reads both
    // to the same structure, and every truncation is an error.
    let ber = testkit::pem_to_der(&testkit::vector(
        "scep/smallstep-pkcs7/ber_test.go.testPKCS7.pem",
    ));
    let der = conv(&ber).unwrap();
    assert_ne!(der, ber);
    assert_eq!(conv(&der).unwrap(), der);
    assert_strict_der(&der);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ber.der"), &ber).unwrap();
    std::fs::write(dir.path().join("der.der"), &der).unwrap();
    // openssl's own re-encoding of the BER (d2i then i2d) is DER too; with one signer and
    // SETs that were already in order, it must equal ours byte for byte.
    testkit::openssl(
        dir.path(),
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "ber.der",
            "-outform",
            "DER",
            "-out",
            "openssl.der",
        ],
    );
    let openssl_der = std::fs::read(dir.path().join("openssl.der")).unwrap();
    assert_eq!(der, openssl_der);
    for len in 0..ber.len() {
        assert!(conv(&ber[..len]).is_err(), "prefix of {len} bytes");
    }
}

/// An independent strict-DER check: definite lengths in shortest form, universal string types
/// primitive, nothing after the element. Recursion is bounded by the converter's depth limit.
fn assert_strict_der(input: &[u8]) {
    fn element(input: &[u8]) -> usize {
        let tag = input[0];
        let mut i = 1;
        if tag & 0x1f == 0x1f {
            while input[i] & 0x80 != 0 {
                i += 1;
            }
            i += 1;
        }
        let l = input[i];
        i += 1;
        let len = if l < 0x80 {
            l as usize
        } else {
            assert_ne!(l, 0x80, "indefinite length");
            let n = (l & 0x7f) as usize;
            assert_ne!(input[i], 0, "length with a leading zero");
            let mut len = 0usize;
            for b in &input[i..i + n] {
                len = len * 256 + *b as usize;
            }
            assert!(len >= 0x80, "long form for a short length");
            i += n;
            len
        };
        let content = &input[i..i + len];
        if tag & 0x20 != 0 {
            let universal_string =
                tag & 0xc0 == 0 && matches!(tag & 0x1f, 3 | 4 | 7 | 12 | 18..=28 | 30);
            assert!(!universal_string, "constructed universal string");
            let mut pos = 0;
            while pos < content.len() {
                pos += element(&content[pos..]);
            }
            assert_eq!(pos, content.len());
        }
        i + len
    }
    assert_eq!(element(input), input.len());
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// A value tree with, for each node, the BER encoding choices to exercise.
#[derive(Debug, Clone)]
enum Node {
    /// A primitive of a non-string type (INTEGER, NULL, OID, [0] IMPLICIT).
    Prim { tag: u8, content: Vec<u8>, pad: u8 },
    /// OCTET STRING or UTF8String, possibly cut into segments.
    Str {
        tag: u8,
        content: Vec<u8>,
        cuts: Vec<usize>,
        indefinite: bool,
        pad: u8,
    },
    /// BIT STRING, possibly cut into segments (only the last with unused bits).
    Bits {
        unused: u8,
        data: Vec<u8>,
        cuts: Vec<usize>,
        pad: u8,
    },
    /// SEQUENCE, SET or [1] constructed.
    Cons {
        tag: u8,
        children: Vec<Node>,
        indefinite: bool,
        pad: u8,
    },
}

/// A BER length with `pad` extra leading zero octets in long form (pad 0: shortest form).
fn ber_len(out: &mut Vec<u8>, len: usize, pad: u8) {
    if pad == 0 {
        der_len(out, len);
        return;
    }
    let bytes = (len as u32).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let sig = &bytes[skip..];
    out.push(0x80 | (sig.len() + pad as usize) as u8);
    out.extend(std::iter::repeat_n(0, pad as usize));
    out.extend_from_slice(sig);
}

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 128 {
        out.push(len as u8);
    } else if len < 256 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

fn segments(content: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (content.len() + 1)).collect();
    points.sort();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points {
        out.push(content[last..p].to_vec());
        last = p;
    }
    out.push(content[last..].to_vec());
    out
}

impl Node {
    fn der(&self) -> Vec<u8> {
        let (tag, content) = match self {
            Node::Prim { tag, content, .. } => (*tag, content.clone()),
            Node::Str { tag, content, .. } => (*tag, content.clone()),
            Node::Bits { unused, data, .. } => {
                let mut c = vec![if data.is_empty() { 0 } else { *unused }];
                c.extend_from_slice(data);
                (0x03, c)
            }
            Node::Cons { tag, children, .. } => {
                (*tag, children.iter().flat_map(Node::der).collect())
            }
        };
        let mut out = vec![tag];
        der_len(&mut out, content.len());
        out.extend(content);
        out
    }

    fn ber(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Node::Prim { tag, content, pad } => {
                out.push(*tag);
                ber_len(&mut out, content.len(), *pad);
                out.extend_from_slice(content);
            }
            Node::Str {
                tag,
                content,
                cuts,
                indefinite,
                pad,
            } => {
                if cuts.is_empty() {
                    out.push(*tag);
                    ber_len(&mut out, content.len(), *pad);
                    out.extend_from_slice(content);
                } else {
                    let mut inner = Vec::new();
                    for seg in segments(content, cuts) {
                        inner.push(0x04);
                        ber_len(&mut inner, seg.len(), *pad);
                        inner.extend(seg);
                    }
                    wrap(&mut out, tag | 0x20, &inner, *indefinite, *pad);
                }
            }
            Node::Bits {
                unused,
                data,
                cuts,
                pad,
            } => {
                let unused = if data.is_empty() { 0 } else { *unused };
                if cuts.is_empty() {
                    out.push(0x03);
                    ber_len(&mut out, data.len() + 1, *pad);
                    out.push(unused);
                    out.extend_from_slice(data);
                } else {
                    let segs = segments(data, cuts);
                    let n = segs.len();
                    let mut inner = Vec::new();
                    for (i, seg) in segs.into_iter().enumerate() {
                        // Only the last segment may carry unused bits, and only with data
                        // (`consistent` leaves out trees where that loses information).
                        let u = if i + 1 == n && !seg.is_empty() {
                            unused
                        } else {
                            0
                        };
                        inner.push(0x03);
                        ber_len(&mut inner, seg.len() + 1, *pad);
                        inner.push(u);
                        inner.extend(seg);
                    }
                    wrap(&mut out, 0x23, &inner, true, *pad);
                }
            }
            Node::Cons {
                tag,
                children,
                indefinite,
                pad,
            } => {
                let inner: Vec<u8> = children.iter().flat_map(Node::ber).collect();
                wrap(&mut out, *tag, &inner, *indefinite, *pad);
            }
        }
        out
    }

    /// Whether the BER encoding keeps the value the DER encoding states (a cut BIT STRING
    /// whose last segment is empty loses its unused-bit count, so the tree is not used).
    fn consistent(&self) -> bool {
        match self {
            Node::Bits {
                unused, data, cuts, ..
            } => {
                if cuts.is_empty() || data.is_empty() || *unused == 0 {
                    return true;
                }
                let segs = segments(data, cuts);
                !segs.last().unwrap().is_empty()
            }
            Node::Cons { children, .. } => children.iter().all(Node::consistent),
            _ => true,
        }
    }
}

fn wrap(out: &mut Vec<u8>, tag: u8, inner: &[u8], indefinite: bool, pad: u8) {
    out.push(tag);
    if indefinite {
        out.push(0x80);
        out.extend_from_slice(inner);
        out.extend_from_slice(&[0, 0]);
    } else {
        ber_len(out, inner.len(), pad);
        out.extend_from_slice(inner);
    }
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (
            prop::sample::select(vec![0x02u8, 0x05, 0x06, 0x80]),
            prop::collection::vec(any::<u8>(), 0..20),
            0u8..3
        )
            .prop_map(|(tag, content, pad)| Node::Prim { tag, content, pad }),
        (
            prop::sample::select(vec![0x04u8, 0x0c]),
            prop::collection::vec(any::<u8>(), 0..300),
            prop::collection::vec(any::<usize>(), 0..4),
            any::<bool>(),
            0u8..3
        )
            .prop_map(|(tag, content, cuts, indefinite, pad)| Node::Str {
                tag,
                content,
                cuts,
                indefinite,
                pad
            }),
        (
            0u8..8,
            prop::collection::vec(any::<u8>(), 0..20),
            prop::collection::vec(any::<usize>(), 0..3),
            0u8..3
        )
            .prop_map(|(unused, data, cuts, pad)| Node::Bits {
                unused,
                data,
                cuts,
                pad
            }),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        (
            prop::sample::select(vec![0x30u8, 0x31, 0xa1]),
            prop::collection::vec(inner, 0..6),
            any::<bool>(),
            0u8..3,
        )
            .prop_map(|(tag, children, indefinite, pad)| Node::Cons {
                tag,
                children,
                indefinite,
                pad,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes never panic; whatever converts is strict DER and a fixed point.
    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(der) = conv(&input) {
            assert_strict_der(&der);
            prop_assert_eq!(conv(&der).unwrap(), der);
        }
    }

    /// Mutations of a real BER message never panic; what converts is DER and a fixed point.
    #[test]
    fn mutated_ber_never_panics(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut ber = testkit::pem_to_der(&testkit::vector(
            "scep/smallstep-pkcs7/ber_test.go.testPKCS7.pem",
        ));
        for (at, v) in flips {
            let i = at.index(ber.len());
            ber[i] = v;
        }
        let len = cut.index(ber.len() + 1);
        if let Ok(der) = conv(&ber[..len]) {
            assert_strict_der(&der);
            prop_assert_eq!(conv(&der).unwrap(), der);
        }
    }

    /// Random values encoded with random BER choices (indefinite lengths, padded lengths,
    /// segmented strings) convert to the DER encoding of the same values, encoded
    /// independently here.
    #[test]
    fn ber_encodings_convert_to_their_der(n in node()) {
        prop_assume!(n.consistent());
        let der = n.der();
        prop_assert_eq!(conv(&n.ber()).unwrap(), der.clone());
        prop_assert_eq!(conv(&der).unwrap(), der);
    }
}
