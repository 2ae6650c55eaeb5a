//! A pre-flight walk over a binary plist's object graph (`bplist00`): nesting depth and the
//! number of values once references are expanded, computed from the trailer and offset table
//! without building anything. Binary plists may reference one object many times, so a small
//! file can expand into an enormous value; this refuses such a file before the `plist` crate
//! builds it. Malformed structure is left for the `plist` crate to report.

use crate::error::{Error, Result};
use crate::value::Limits;

fn be(bytes: &[u8]) -> Option<u64> {
    if bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

struct Graph<'a> {
    b: &'a [u8],
    offsets: Vec<usize>,
    ref_size: usize,
}

impl Graph<'_> {
    /// The child object indices of object `i` (empty for scalars); `None` if malformed.
    fn children(&self, i: usize) -> Option<Vec<usize>> {
        let off = *self.offsets.get(i)?;
        let marker = *self.b.get(off)?;
        let kind = marker >> 4;
        if kind != 0xA && kind != 0xC && kind != 0xD {
            return Some(Vec::new());
        }
        let mut pos = off + 1;
        let mut count = u64::from(marker & 0x0F);
        if count == 0x0F {
            let int_marker = *self.b.get(pos)?;
            if int_marker >> 4 != 1 {
                return None;
            }
            let n = 1usize << (int_marker & 0x0F);
            count = be(self.b.get(pos + 1..pos + 1 + n)?)?;
            pos += 1 + n;
        }
        let refs = if kind == 0xD {
            count.checked_mul(2)?
        } else {
            count
        };
        let refs = usize::try_from(refs).ok()?;
        let end = pos.checked_add(refs.checked_mul(self.ref_size)?)?;
        let table = self.b.get(pos..end)?;
        table
            .chunks(self.ref_size)
            .map(|c| be(c).and_then(|v| usize::try_from(v).ok()))
            .collect()
    }
}

/// Check depth and expanded size of a binary plist against `limits`.
pub fn check(b: &[u8], limits: &Limits) -> Result<()> {
    let Some(graph_and_top) = read_trailer(b) else {
        // Let the plist crate produce its own error for a malformed file.
        return Ok(());
    };
    let (graph, top) = graph_and_top;
    let n = graph.offsets.len();
    // Per object: expanded value count and depth, once known; state 1 = on the DFS stack.
    let mut size = vec![0usize; n];
    let mut depth = vec![0usize; n];
    let mut state = vec![0u8; n];
    let mut stack: Vec<(usize, Vec<usize>, usize)> = Vec::new();
    if top >= n {
        return Ok(());
    }
    let Some(c) = graph.children(top) else {
        return Ok(());
    };
    state[top] = 1;
    stack.push((top, c, 0));
    while let Some((obj, kids, next)) = stack.last_mut() {
        if *next < kids.len() {
            let k = kids[*next];
            *next += 1;
            if k >= n {
                return Ok(());
            }
            match state[k] {
                2 => {}
                1 => return Ok(()), // a cycle: the plist crate refuses it
                _ => {
                    let Some(c) = graph.children(k) else {
                        return Ok(());
                    };
                    state[k] = 1;
                    if stack.len() + 1 > limits.max_depth {
                        return Err(Error::TooDeep {
                            max: limits.max_depth,
                        });
                    }
                    stack.push((k, c, 0));
                }
            }
        } else {
            let obj = *obj;
            let mut s = 1usize;
            let mut d = 0usize;
            for &k in kids.iter() {
                s = s.saturating_add(size[k]);
                d = d.max(depth[k]);
            }
            size[obj] = s;
            depth[obj] = d + 1;
            state[obj] = 2;
            if s > limits.max_values {
                return Err(Error::TooManyValues {
                    max: limits.max_values,
                });
            }
            if depth[obj] > limits.max_depth {
                return Err(Error::TooDeep {
                    max: limits.max_depth,
                });
            }
            stack.pop();
        }
    }
    Ok(())
}

fn read_trailer(b: &[u8]) -> Option<(Graph<'_>, usize)> {
    if b.len() < 8 + 32 {
        return None;
    }
    let t = &b[b.len() - 32..];
    let offset_size = usize::from(t[6]);
    let ref_size = usize::from(t[7]);
    let num = usize::try_from(be(&t[8..16])?).ok()?;
    let top = usize::try_from(be(&t[16..24])?).ok()?;
    let table = usize::try_from(be(&t[24..32])?).ok()?;
    if offset_size == 0 || offset_size > 8 || ref_size == 0 || ref_size > 8 || num > b.len() {
        return None;
    }
    let end = table.checked_add(num.checked_mul(offset_size)?)?;
    let raw = b.get(table..end)?;
    let offsets = raw
        .chunks(offset_size)
        .map(|c| be(c).and_then(|v| usize::try_from(v).ok()))
        .collect::<Option<Vec<usize>>>()?;
    Some((
        Graph {
            b,
            offsets,
            ref_size,
        },
        top,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-built bplist00: object 0 is an array holding object 1 twice, object 1 an array
    /// holding object 2 twice, object 2 the integer 1 (so 7 values once expanded).
    fn shared() -> Vec<u8> {
        let mut b = b"bplist00".to_vec();
        let offsets = [b.len(), b.len() + 3, b.len() + 6];
        b.extend([0xA2, 1, 1]);
        b.extend([0xA2, 2, 2]);
        b.extend([0x10, 1]);
        let table = b.len();
        b.extend(offsets.iter().map(|o| *o as u8));
        let mut trailer = [0u8; 32];
        trailer[6] = 1;
        trailer[7] = 1;
        trailer[15] = 3;
        trailer[31] = table as u8;
        b.extend(trailer);
        b
    }

    #[test]
    fn expanded_count_and_depth() {
        let b = shared();
        let ok = Limits::default();
        assert!(check(&b, &ok).is_ok());
        let v = plist::Value::from_reader(std::io::Cursor::new(&b)).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        let six = Limits {
            max_values: 6,
            ..ok
        };
        assert_eq!(check(&b, &six), Err(Error::TooManyValues { max: 6 }));
        let shallow = Limits { max_depth: 2, ..ok };
        assert_eq!(check(&b, &shallow), Err(Error::TooDeep { max: 2 }));
    }

    #[test]
    fn malformed_is_left_to_the_plist_crate() {
        let mut b = shared();
        let n = b.len();
        b[n - 1] = 0xFF; // offset table beyond the end
        assert!(check(&b, &Limits::default()).is_ok());
        assert!(check(b"bplist00", &Limits::default()).is_ok());
    }
}
