//! Fuzz targets: seed corpora from the vectors, and short smoke runs.
//!
//! The corpora live in `fuzz/corpus/<target>/` (gitignored) and are refilled from the shared
//! vectors on every run; libFuzzer adds what it finds beside them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::run;

/// Every fuzz target in `fuzz/fuzz_targets/` with the seconds `cargo xtask test` runs it for,
/// in that order. The CMS/X.509 core and path building get the longest runs; the small
/// protocol parsers 8 s each, keeping the whole fuzz step near 3 minutes plus the build.
pub const TARGETS: &[(&str, u32)] = &[
    ("ber_to_der", 12),
    ("signed_data", 12),
    ("enveloped_data", 12),
    ("certificate", 12),
    ("csr", 12),
    ("public_key", 12),
    ("cert_path", 10),
    ("scep_pki_message", 12),
    ("scep_operation", 8),
    ("scep_caps", 8),
    ("devauth_auth_request", 8),
    ("devauth_token", 8),
    ("tpm_structures", 10),
    ("tpm_eventlog", 8),
    ("webauthn_attestation_object", 8),
    ("apple_mda", 8),
    ("acme_payload", 8),
    ("ade_token", 8),
    ("ade_response", 8),
    ("mdm_checkin", 8),
    ("mdm_report", 8),
    ("mdm_profile", 8),
    ("mdm_machine_info", 8),
    ("ddm_status_report", 6),
    ("ddm_declaration", 6),
    ("ddm_predicate", 6),
    ("pkcs12", 6),
];

/// Files larger than this are not used as seeds.
const MAX_SEED_LEN: u64 = 256 * 1024;

/// Build every fuzz target (instrumented, with AddressSanitizer).
pub fn build(root: &Path) -> Result<()> {
    let mut c = cargo_fuzz(root);
    c.args(["build", "--fuzz-dir", "fuzz"]);
    run::status(&mut c)
}

/// Run `target` for `seconds` on its corpus (built by [`build`]).
pub fn smoke(root: &Path, target: &str, seconds: u32) -> Result<()> {
    let mut c = cargo_fuzz(root);
    c.args(["run", target, "--fuzz-dir", "fuzz", "--"])
        .arg(format!("-max_total_time={seconds}"))
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1");
    run::status(&mut c)
}

fn cargo_fuzz(root: &Path) -> Command {
    let mut c = Command::new("cargo");
    c.arg("fuzz").current_dir(root);
    // cargo-fuzz passes nightly-only flags (-Zsanitizer=address ...); RUSTC_BOOTSTRAP lets the
    // stable toolchain accept them, so no nightly toolchain has to be installed.
    c.env("RUSTC_BOOTSTRAP", "1");
    // The fuzz workspace has its own lock file and flags: keep its build out of the main
    // workspace's target dir, where the instrumented artifacts would evict the normal ones.
    c.env("CARGO_TARGET_DIR", crate::target_dir().join("fuzz"));
    c
}

/// Fill `fuzz/corpus/<target>/` for every target from the vectors (and from `openssl`, for the
/// structures the vectors only hold wrapped inside others).
pub fn copy_seeds(root: &Path, vectors: &Path) -> Result<()> {
    let on_disk = targets_on_disk(root)?;
    let listed: BTreeSet<String> = TARGETS.iter().map(|(s, _)| s.to_string()).collect();
    anyhow::ensure!(
        on_disk == listed,
        "fuzz/fuzz_targets/ holds {on_disk:?} but xtask runs {listed:?}: update xtask's TARGETS"
    );
    let blobs = asn1_blobs(vectors)?;
    let scratch = root.join("fuzz/corpus/.scratch");
    fs::create_dir_all(&scratch)?;
    for (target, _) in TARGETS {
        let seeds: Vec<Vec<u8>> = match *target {
            "ber_to_der" => blobs.iter().map(|b| b.bytes.clone()).collect(),
            "signed_data" => blobs
                .iter()
                .filter(|b| b.kind == Kind::Pkcs7 || b.path_has("scep"))
                .map(|b| b.bytes.clone())
                .collect(),
            "enveloped_data" => enveloped_seeds(&blobs, &scratch)?,
            "certificate" => blobs
                .iter()
                .filter(|b| b.kind == Kind::Certificate)
                .map(|b| b.bytes.clone())
                .collect(),
            "csr" => csr_seeds(&blobs, vectors, &scratch)?,
            "public_key" => blobs
                .iter()
                .filter(|b| b.kind == Kind::PublicKey)
                .map(|b| b.bytes.clone())
                .collect(),
            "cert_path" => cert_path_seeds(&blobs),
            "scep_pki_message" => blobs
                .iter()
                .filter(|b| b.path_has("scep") && b.kind != Kind::Certificate)
                .map(|b| b.bytes.clone())
                .collect(),
            "scep_operation" => scep_operation_seeds(&blobs),
            "scep_caps" => {
                let mut seeds = files_named(vectors, |n| n == "getcacaps.txt")?;
                seeds.push(b"POSTPKIOperation\r\nSHA-256\r\nAES\r\nRenewal\r\n".to_vec());
                seeds
            }
            "devauth_auth_request" => files_under(&vectors.join("devauth"), |n| {
                n.ends_with(".bin") || n.ends_with("authrequest.json") || n == "id_data.txt"
            })?,
            "devauth_token" => files_under(&vectors.join("devauth"), |n| {
                n.starts_with("jwt-") && n.ends_with(".txt") || n.ends_with("-jwt.txt")
            })?
            .into_iter()
            .map(|t| t.trim_ascii().to_vec())
            .collect(),
            "tpm_structures" => tpm_structure_seeds(&blobs, vectors)?,
            "tpm_eventlog" => files_under(&vectors.join("attestation/eventlogs"), |n| {
                !n.ends_with(".md")
            })?,
            "webauthn_attestation_object" => attestation_objects(vectors)?,
            "apple_mda" => blobs
                .iter()
                .filter(|b| b.kind == Kind::Certificate && b.path_has("attestation"))
                .map(|b| b.bytes.clone())
                .collect(),
            "acme_payload" => attestation_objects(vectors)?
                .iter()
                .map(|cbor| format!("{{\"attObj\":\"{}\"}}", base64url_encode(cbor)).into_bytes())
                .collect(),
            "ade_token" => files_under(&vectors.join("ade"), |n| {
                n.ends_with(".p7m")
                    || n.ends_with(".ber")
                    || n.ends_with(".mime")
                    || n == "token.json"
            })?,
            // Prefix bytes: status index 0 (200), then parser 0..=8 (see the target).
            "ade_response" => {
                let bodies =
                    files_under(&vectors.join("ade/micromdm-micromdm/dep/testdata"), |n| {
                        n.ends_with(".json")
                    })?;
                let mut seeds = Vec::new();
                for b in &bodies {
                    for parser in 0u8..9 {
                        let mut s = vec![0, parser];
                        s.extend_from_slice(b);
                        seeds.push(s);
                    }
                }
                for err in [&b"EXPIRED_CURSOR"[..], b"T_C_NOT_SIGNED", b"FORBIDDEN"] {
                    seeds.push([&[4u8, 8][..], err].concat());
                }
                seeds
            }
            "mdm_checkin" | "mdm_report" | "mdm_machine_info" => {
                files_under(&vectors.join("mdm"), |n| n.ends_with(".plist"))?
            }
            "mdm_profile" => files_under(&vectors.join("mdm"), |n| n.ends_with(".mobileconfig"))?,
            "ddm_status_report" => files_under(&vectors.join("ddm"), |n| {
                n.ends_with(".status.json") || n.starts_with("status.")
            })?,
            "ddm_declaration" => files_under(&vectors.join("ddm"), |n| n.starts_with("decl"))?,
            "ddm_predicate" => [
                &br#"@status(device.model.family) IN {"iPhone", "iPad"}"#[..],
                br#"NOT (@status(device.operating-system.version) BEGINSWITH[cd] '16.') OR TRUEPREDICATE"#,
                br#"@status(a.b) MATCHES "x.*" && @status(c) >= 2.5 || @status(d) LIKE[c] 'a?*'"#,
            ]
            .iter()
            .map(|s| s.to_vec())
            .collect(),
            "pkcs12" => pkcs12_seeds(&scratch)?,
            other => anyhow::bail!("no seed rule for fuzz target {other}"),
        };
        let dir = root.join("fuzz/corpus").join(target);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut written = 0;
        for s in &seeds {
            if s.is_empty() {
                continue;
            }
            let name = format!("seed-{:016x}", fnv1a(s));
            fs::write(dir.join(name), s)?;
            written += 1;
        }
        println!("fuzz/corpus/{target}: {written} seeds");
        anyhow::ensure!(
            written > 0,
            "no seeds for fuzz target {target} in {}",
            vectors.display()
        );
    }
    let _ = fs::remove_dir_all(&scratch);
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A PEM CERTIFICATE block, or a `.crt`/`.cer` file.
    Certificate,
    /// A PEM PKCS7 block.
    Pkcs7,
    /// A PEM PUBLIC KEY block (SubjectPublicKeyInfo).
    PublicKey,
    /// Any other DER/BER file.
    Other,
}

struct Blob {
    path: PathBuf,
    kind: Kind,
    bytes: Vec<u8>,
}

impl Blob {
    fn path_has(&self, part: &str) -> bool {
        self.path.components().any(|c| c.as_os_str() == part)
    }
}

/// Every DER/BER object in the vectors: `.der`, `.ber`, `.crt`, `.cer` files (decoded when they
/// are PEM) and the CERTIFICATE / PKCS7 / PUBLIC KEY blocks of `.pem` files.
fn asn1_blobs(vectors: &Path) -> Result<Vec<Blob>> {
    let mut files = Vec::new();
    walk(vectors, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !matches!(ext.as_str(), "der" | "ber" | "crt" | "cer" | "pem") {
            continue;
        }
        if fs::metadata(&path)?.len() > MAX_SEED_LEN {
            continue;
        }
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let cert_file = matches!(ext.as_str(), "crt" | "cer");
        if bytes.starts_with(b"-----BEGIN ") || ext == "pem" {
            for (label, der) in pem_blocks(&bytes) {
                let kind = match label.as_str() {
                    "CERTIFICATE" => Kind::Certificate,
                    "PKCS7" => Kind::Pkcs7,
                    "PUBLIC KEY" => Kind::PublicKey,
                    _ => continue,
                };
                out.push(Blob {
                    path: path.clone(),
                    kind,
                    bytes: der,
                });
            }
        } else {
            let in_cert_folder = path
                .components()
                .any(|c| matches!(c.as_os_str().to_str(), Some("tpm-ek-certs" | "tpm-ca")));
            let kind = if cert_file || (in_cert_folder && ext == "der") {
                Kind::Certificate
            } else {
                Kind::Other
            };
            out.push(Blob { path, kind, bytes });
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(&entry.path(), out)?;
        } else if ty.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// EnvelopedData seeds: the `.ber` envelopes in the vectors, plus the ContentInfo(EnvelopedData)
/// carried inside each SCEP pkiMessage.
fn enveloped_seeds(blobs: &[Blob], scratch: &Path) -> Result<Vec<Vec<u8>>> {
    let mut seeds: Vec<Vec<u8>> = blobs
        .iter()
        .filter(|b| b.path.extension().is_some_and(|e| e == "ber"))
        .map(|b| b.bytes.clone())
        .collect();
    seeds.extend(scep_envelopes(blobs, scratch)?);
    Ok(seeds)
}

/// The signed content of every SCEP message in the vectors (a DER ContentInfo(EnvelopedData)
/// for the messages that carry one), taken out by `openssl cms -verify -noverify`.
fn scep_envelopes(blobs: &[Blob], scratch: &Path) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for (i, b) in blobs.iter().filter(|b| b.path_has("scep")).enumerate() {
        let input = scratch.join(format!("msg-{i}.der"));
        let inner = scratch.join(format!("inner-{i}.der"));
        fs::write(&input, &b.bytes)?;
        let mut c = Command::new("openssl");
        c.args([
            "cms",
            "-verify",
            "-noverify",
            "-binary",
            "-inform",
            "DER",
            "-in",
        ])
        .arg(&input)
        .arg("-out")
        .arg(&inner);
        if run::succeeds(&mut c)
            && let Ok(bytes) = fs::read(&inner)
            && !bytes.is_empty()
        {
            out.push(bytes);
        }
    }
    Ok(out)
}

/// CSR seeds: the PKCS#10 requests inside the SCEP PKCSReq/RenewalReq captures (their envelopes
/// opened by `openssl cms -decrypt` with the CA keys kept beside them), and requests made by
/// `openssl req` for an RSA and a P-256 key.
/// `.p12` files made by `openssl pkcs12 -export` with the password `fuzz` and one iteration
/// (so each run is cheap): the OpenSSL 3 default form, the `-legacy` form, and one without MAC
/// or encryption.
fn pkcs12_seeds(scratch: &Path) -> Result<Vec<Vec<u8>>> {
    let key = scratch.join("p12.key");
    let cert = scratch.join("p12.pem");
    let mut c = Command::new("openssl");
    c.args([
        "req",
        "-x509",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/UID=fuzz/CN=fuzz seed",
    ])
    .args([
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-keyout",
    ])
    .arg(&key)
    .arg("-out")
    .arg(&cert);
    run::status(&mut c)?;
    let forms: [&[&str]; 3] = [
        &[],
        &["-legacy"],
        &["-nomac", "-certpbe", "NONE", "-keypbe", "NONE"],
    ];
    let mut seeds = Vec::new();
    for (i, extra) in forms.iter().enumerate() {
        let out = scratch.join(format!("seed-{i}.p12"));
        let mut c = Command::new("openssl");
        c.args([
            "pkcs12",
            "-export",
            "-passout",
            "pass:fuzz",
            "-iter",
            "1",
            "-nomaciter",
        ])
        .args(*extra)
        .arg("-inkey")
        .arg(&key)
        .arg("-in")
        .arg(&cert)
        .arg("-out")
        .arg(&out);
        run::status(&mut c)?;
        seeds.push(fs::read(&out)?);
    }
    Ok(seeds)
}

fn csr_seeds(blobs: &[Blob], vectors: &Path, scratch: &Path) -> Result<Vec<Vec<u8>>> {
    let mut keys = Vec::new();
    walk(&vectors.join("scep"), &mut keys)?;
    keys.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".key") || n.ends_with(".key.pem"))
    });
    keys.sort();
    let mut seeds = Vec::new();
    for (i, env) in scep_envelopes(blobs, scratch)?.iter().enumerate() {
        let input = scratch.join(format!("env-{i}.der"));
        fs::write(&input, env)?;
        for (j, key) in keys.iter().enumerate() {
            let out = scratch.join(format!("content-{i}-{j}.der"));
            let mut c = Command::new("openssl");
            c.args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
                .arg(&input)
                .arg("-inkey")
                .arg(key)
                .arg("-out")
                .arg(&out);
            if run::succeeds(&mut c)
                && let Ok(bytes) = fs::read(&out)
                && !bytes.is_empty()
            {
                seeds.push(bytes);
                break;
            }
        }
    }
    let made: [&[&str]; 2] = [
        &["-newkey", "rsa:2048"],
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    ];
    for (i, key_args) in made.iter().enumerate() {
        let out = scratch.join(format!("csr-{i}.der"));
        let key = scratch.join(format!("csr-{i}.key"));
        let mut c = Command::new("openssl");
        c.args(["req", "-new", "-nodes", "-subj", "/CN=fuzz seed/O=admit"])
            .args(*key_args)
            .arg("-keyout")
            .arg(&key)
            .args(["-outform", "DER", "-out"])
            .arg(&out);
        run::output(&mut c)?;
        seeds.push(fs::read(&out)?);
    }
    Ok(seeds)
}

/// The contents of every file under `dir` whose name passes `keep`.
fn files_under(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<Vec<u8>>> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for f in files {
        if f.file_name().and_then(|n| n.to_str()).is_some_and(&keep)
            && fs::metadata(&f)?.len() <= MAX_SEED_LEN
        {
            out.push(fs::read(&f).with_context(|| format!("reading {}", f.display()))?);
        }
    }
    Ok(out)
}

/// [`files_under`] the whole vectors tree.
fn files_named(vectors: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<Vec<u8>>> {
    files_under(vectors, keep)
}

/// `cert_path` seeds: the certificates of each vector folder as (2-byte length, DER) chunks,
/// leaf first and the folder's other certificates after it (so the last one is the anchor),
/// and each certificate alone (leaf = anchor).
fn cert_path_seeds(blobs: &[Blob]) -> Vec<Vec<u8>> {
    let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<&[u8]>> = Default::default();
    for b in blobs.iter().filter(|b| b.kind == Kind::Certificate) {
        if let Some(parent) = b.path.parent()
            && b.bytes.len() <= usize::from(u16::MAX)
        {
            by_dir
                .entry(parent.to_path_buf())
                .or_default()
                .push(&b.bytes);
        }
    }
    let chunk = |certs: &[&[u8]]| {
        let mut out = Vec::new();
        for c in certs {
            out.extend_from_slice(&(c.len() as u16).to_be_bytes());
            out.extend_from_slice(c);
        }
        out
    };
    let mut seeds = Vec::new();
    for certs in by_dir.values() {
        for (i, leaf) in certs.iter().enumerate() {
            seeds.push(chunk(&[leaf]));
            let mut chain = vec![*leaf];
            chain.extend(
                certs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, c)| *c)
                    .take(5),
            );
            if chain.len() > 1 {
                seeds.push(chunk(&chain));
            }
        }
    }
    seeds
}

/// `scep_operation` seeds: (method byte, query, NUL, body) for every operation, the
/// PKIOperation ones carrying the SCEP messages of the vectors (POST) or a short one as a
/// base64 `message` parameter (GET).
fn scep_operation_seeds(blobs: &[Blob]) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        "operation=GetCACaps&message=ca",
        "operation=GetCACert",
        "operation=GetCACert&message=CA%20one",
        "operation=GetNextCACert",
    ]
    .iter()
    .map(|q| [b"\x00".as_slice(), q.as_bytes()].concat())
    .collect();
    for b in blobs
        .iter()
        .filter(|b| b.path_has("scep") && b.kind == Kind::Other)
        .take(4)
    {
        seeds.push([b"\x01operation=PKIOperation\x00".as_slice(), &b.bytes].concat());
        let msg: String = base64url_encode(&b.bytes)
            .chars()
            .map(|c| match c {
                '-' => "%2B".to_owned(),
                '_' => "%2F".to_owned(),
                c => c.to_string(),
            })
            .collect();
        seeds.push(format!("\x00operation=PKIOperation&message={msg}").into_bytes());
    }
    seeds
}

/// `tpm_structures` seeds: every TPM structure file of the vectors (tpm2-tools outputs, the
/// Windows Hello fields, the EK certificates) behind each of the ten selector bytes, so every
/// parser starts from real structures whichever file is its own.
fn tpm_structure_seeds(blobs: &[Blob], vectors: &Path) -> Result<Vec<Vec<u8>>> {
    let tpm = vectors.join("attestation/tpm-attest");
    let mut files = files_under(&tpm.join("keylime-test-data"), |n| !n.ends_with(".pem"))?;
    files.extend(files_under(
        &tpm.join("webauthn-rs/win-hello-tpm-rsa.split"),
        |n| n.ends_with(".bin"),
    )?);
    files.extend(
        blobs
            .iter()
            .filter(|b| b.path_has("tpm-ek-certs"))
            .map(|b| b.bytes.clone()),
    );
    let mut seeds = Vec::new();
    for f in &files {
        for selector in 0u8..10 {
            seeds.push([&[selector][..], f].concat());
        }
    }
    Ok(seeds)
}

/// The CBOR attestation objects of the vectors: the `.attobj.cbor` files and the
/// `attestationObject` fields of the fido2-net-lib registration responses.
fn attestation_objects(vectors: &Path) -> Result<Vec<Vec<u8>>> {
    let dir = vectors.join("attestation");
    let mut out = files_under(&dir, |n| n.ends_with(".attobj.cbor"))?;
    for json in files_under(&dir, |n| n.ends_with("Response.json"))? {
        let text = String::from_utf8_lossy(&json);
        if let Some(at) = text.find("\"attestationObject\"")
            && let Some(value) = text[at..].split('"').nth(3)
        {
            let standard: String = value
                .chars()
                .map(|c| match c {
                    '-' => '+',
                    '_' => '/',
                    c => c,
                })
                .collect();
            if let Some(cbor) = base64_decode(&standard) {
                out.push(cbor);
            }
        }
    }
    Ok(out)
}

/// base64url without padding (RFC 4648 section 5).
fn base64url_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// The blocks of a PEM file as (label, DER).
fn pem_blocks(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = after[..label_end].to_owned();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&end_marker) else {
            break;
        };
        let body: String = body_start[..body_end]
            .lines()
            .filter(|l| !l.contains(':')) // RFC 1421 headers
            .collect();
        if let Some(der) = base64_decode(&body) {
            out.push((label, der));
        }
        rest = &body_start[body_end + end_marker.len()..];
    }
    out
}

/// Standard base64 (whitespace ignored); `None` on any other character.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// FNV-1a, to name seed files by content (so reruns do not duplicate them).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Names found in `fuzz/fuzz_targets/` (to check [`TARGETS`] against).
fn targets_on_disk(root: &Path) -> Result<BTreeSet<String>> {
    let dir = root.join("fuzz/fuzz_targets");
    let mut names = BTreeSet::new();
    for e in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "rs")
            && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
        {
            names.insert(stem.to_owned());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // RFC 4648 section 10.
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("Zm9vYg==").unwrap(), b"foob");
        assert_eq!(base64_decode("Zm8=\n").unwrap(), b"fo");
        assert!(base64_decode("Zm9v!").is_none());
    }

    #[test]
    fn pem_blocks_keep_labels() {
        let pem = b"junk\n-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n\
                    -----BEGIN PKCS7-----\nYmFy\n-----END PKCS7-----\n";
        let blocks = pem_blocks(pem);
        assert_eq!(
            blocks,
            vec![
                ("CERTIFICATE".to_owned(), b"foo".to_vec()),
                ("PKCS7".to_owned(), b"bar".to_vec())
            ]
        );
    }

    #[test]
    fn every_target_on_disk_is_run() {
        let on_disk = targets_on_disk(&crate::repo_root()).unwrap();
        let listed: BTreeSet<String> = TARGETS.iter().map(|(s, _)| s.to_string()).collect();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        // RFC 4648 section 10, in the URL alphabet without padding.
        assert_eq!(base64url_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url_encode(b"foob"), "Zm9vYg");
        assert_eq!(base64url_encode(b"fo"), "Zm8");
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn fuzz_step_stays_short() {
        let total: u32 = TARGETS.iter().map(|(_, s)| s).sum();
        assert!(total <= 240, "fuzz runs add up to {total} s");
    }
}
