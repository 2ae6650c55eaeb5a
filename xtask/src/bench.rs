//! `cargo xtask bench-compare`: our providers beside OpenSSL, in ops/s.
//!
//! ```text
//!  cargo bench -p benches ──▶ <target>/criterion-compare/<op>/<provider|openssl>/new/*.json ─┐
//!  openssl speed -seconds 2 rsa2048 rsa3072 ecdsap256 ecdsap384 ed25519 sha256 ──▶ parsed ──┴─▶ table
//! ```
//!
//! OpenSSL's column comes from `openssl speed` where it prints the operation, and otherwise from
//! the `openssl` bench of the `benches` crate (OpenSSL in-process through the `openssl` crate).
//! A whole protocol operation (SCEP PKIOperation, devauth auth + mint, TPM checks) is put
//! beside the OpenSSL limit for its public-key primitives: 1 / (sum of the per-op times),
//! from the rates measured in the same run.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{install, repo_root, run, target_dir};

/// Where one operation's OpenSSL figure comes from in `openssl speed` output.
#[derive(Debug, Clone, Copy)]
enum SpeedRow {
    /// An asymmetric row (`rsa 2048 bits`, `ecdsa (nistp256)`, `EdDSA (Ed25519)`), column
    /// `sign/s` or `verify/s`.
    Asym(&'static str, &'static str),
    /// The `sha256` row at a block size: ops/s = (1000s of bytes/s) * 1000 / size.
    Digest(&'static str, u64),
}

/// One OpenSSL per-operation rate measured in the same run.
#[derive(Debug, Clone, Copy)]
enum Ref {
    /// A row of `openssl speed`.
    Speed(SpeedRow),
    /// The `openssl` function of a criterion group (OpenSSL in-process, for the operations
    /// `openssl speed` does not print).
    Bench(&'static str),
}

const RSA2048_SIGN: SpeedRow = SpeedRow::Asym("rsa 2048 bits", "sign/s");
const RSA2048_VERIFY: SpeedRow = SpeedRow::Asym("rsa 2048 bits", "verify/s");
const RSA3072_VERIFY: SpeedRow = SpeedRow::Asym("rsa 3072 bits", "verify/s");
const P256_SIGN: SpeedRow = SpeedRow::Asym("ecdsa (nistp256)", "sign/s");
const P256_VERIFY: SpeedRow = SpeedRow::Asym("ecdsa (nistp256)", "verify/s");
const P384_VERIFY: SpeedRow = SpeedRow::Asym("ecdsa (nistp384)", "verify/s");
const ED25519_VERIFY: SpeedRow = SpeedRow::Asym("EdDSA (Ed25519)", "verify/s");
const RSA2048_DECRYPT: Ref = Ref::Bench("rsa2048_decrypt_pkcs1v15");
const RSA2048_ENCRYPT: Ref = Ref::Bench("rsa2048_encrypt_pkcs1v15");

/// The `openssl speed` arguments: every algorithm a [`Ref::Speed`] names.
const SPEED_ALGS: &[&str] = &[
    "rsa2048",
    "rsa3072",
    "ecdsap256",
    "ecdsap384",
    "ed25519",
    "sha256",
];

/// The OpenSSL operations one of ours is made of, each with its count.
type Parts = &'static [(Ref, u32)];

/// Every operation in table order: (criterion group, label, the OpenSSL operations it is made
/// of with their counts). A composite operation's OpenSSL figure is the limit for doing those
/// primitives back to back on one core: 1 / (sum of count / rate).
const OPS: &[(&str, &str, Parts)] = &[
    (
        "rsa2048_sign_pkcs1v15_sha256",
        "RSA-2048 sign PKCS#1 v1.5 SHA-256",
        &[(Ref::Speed(RSA2048_SIGN), 1)],
    ),
    (
        "rsa2048_verify_pkcs1v15_sha256",
        "RSA-2048 verify PKCS#1 v1.5 SHA-256",
        &[(Ref::Speed(RSA2048_VERIFY), 1)],
    ),
    (
        "rsa2048_decrypt_pkcs1v15",
        "RSA-2048 decrypt PKCS#1 v1.5",
        &[],
    ),
    (
        "rsa2048_decrypt_oaep_sha256",
        "RSA-2048 decrypt OAEP SHA-256",
        &[],
    ),
    (
        "rsa2048_encrypt_pkcs1v15",
        "RSA-2048 encrypt PKCS#1 v1.5",
        &[],
    ),
    (
        "p256_sign_sha256",
        "ECDSA P-256 sign SHA-256",
        &[(Ref::Speed(P256_SIGN), 1)],
    ),
    (
        "p256_verify_sha256",
        "ECDSA P-256 verify SHA-256",
        &[(Ref::Speed(P256_VERIFY), 1)],
    ),
    (
        "ed25519_verify",
        "Ed25519 verify",
        &[(Ref::Speed(ED25519_VERIFY), 1)],
    ),
    (
        "sha256_1KiB",
        "SHA-256 1 KiB",
        &[(Ref::Speed(SpeedRow::Digest("sha256", 1024)), 1)],
    ),
    (
        "sha256_16KiB",
        "SHA-256 16 KiB",
        &[(Ref::Speed(SpeedRow::Digest("sha256", 16384)), 1)],
    ),
    (
        "cms_signed_data_verify_1KiB",
        "CMS SignedData verify 1 KiB",
        &[],
    ),
    (
        "cms_enveloped_data_open_1KiB",
        "CMS EnvelopedData open 1 KiB",
        &[],
    ),
    (
        "scep_pkioperation_rsa2048",
        "SCEP PKIOperation RSA-2048 (OpenSSL: 1 dec + 2 sign + 2 verify + 1 enc)",
        &[
            (RSA2048_DECRYPT, 1),
            (Ref::Speed(RSA2048_SIGN), 2),
            (Ref::Speed(RSA2048_VERIFY), 2),
            (RSA2048_ENCRYPT, 1),
        ],
    ),
    (
        "devauth_auth_rsa3072_mint_rs256",
        "devauth auth RSA-3072 + mint RS256 (OpenSSL: rsa3072 verify + rsa2048 sign)",
        &[
            (Ref::Speed(RSA3072_VERIFY), 1),
            (Ref::Speed(RSA2048_SIGN), 1),
        ],
    ),
    (
        "devauth_auth_p256_mint_rs256",
        "devauth auth P-256 + mint RS256 (OpenSSL: p256 verify + rsa2048 sign)",
        &[(Ref::Speed(P256_VERIFY), 1), (Ref::Speed(RSA2048_SIGN), 1)],
    ),
    (
        "devauth_auth_ed25519_mint_rs256",
        "devauth auth Ed25519 + mint RS256 (OpenSSL: ed25519 verify + rsa2048 sign)",
        &[
            (Ref::Speed(ED25519_VERIFY), 1),
            (Ref::Speed(RSA2048_SIGN), 1),
        ],
    ),
    (
        "tpm_quote_verify_rsa2048",
        "TPM quote verify RSA-2048 AK (OpenSSL: rsa2048 verify)",
        &[(Ref::Speed(RSA2048_VERIFY), 1)],
    ),
    (
        "tpm_certify_verify_rsa2048",
        "TPM certify verify RSA-2048 SHA-1 (OpenSSL: rsa2048 verify)",
        &[(Ref::Speed(RSA2048_VERIFY), 1)],
    ),
    (
        "acme_apple_verify_p384",
        "ACME apple verify, P-384 chain (OpenSSL: 2 p384 verify)",
        &[(Ref::Speed(P384_VERIFY), 2)],
    ),
    (
        "acme_tpm_verify_rsa2048",
        "ACME tpm verify, RSA-2048 AIK (OpenSSL: 2 rsa2048 verify: certInfo + AIK chain)",
        &[(Ref::Speed(RSA2048_VERIFY), 2)],
    ),
    (
        "tpm_make_credential_rsa2048",
        "TPM MakeCredential RSA-2048 EK (OpenSSL: rsa2048 PKCS#1 enc, OAEP costs the same)",
        &[(RSA2048_ENCRYPT, 1)],
    ),
];

/// The OpenSSL limit for `refs` done back to back: 1 / (sum of count / rate); `None` when a
/// rate is missing or `refs` is empty.
fn openssl_limit(refs: &[(Ref, u32)], measured: &[Measured], speed: &Speed) -> Option<f64> {
    if refs.is_empty() {
        return None;
    }
    let mut seconds = 0.0;
    for (r, count) in refs {
        let rate = match r {
            Ref::Speed(row) => speed.ops_per_sec(*row)?,
            Ref::Bench(group) => measured
                .iter()
                .find(|m| m.group == *group && m.function == "openssl")
                .map(|m| 1e9 / m.mean_ns)?,
        };
        seconds += f64::from(*count) / rate;
    }
    Some(1.0 / seconds)
}

/// One criterion result.
#[derive(Debug, Clone)]
struct Measured {
    group: String,
    function: String,
    /// Mean time per iteration, in nanoseconds.
    mean_ns: f64,
}

/// Run the benches and `openssl speed`, then print the comparison.
pub fn compare() -> Result<()> {
    let started = Instant::now();
    if let Some(missing) = install::missing_debian_packages()
        && missing
            .iter()
            .any(|p| matches!(*p, "openssl" | "libssl-dev" | "pkg-config"))
    {
        bail!(
            "bench-compare needs the Debian packages openssl, libssl-dev and pkg-config \
             (missing: {}); `cargo xtask test` installs them",
            missing.join(" ")
        );
    }
    let root = repo_root();
    let home = target_dir().join("criterion-compare");
    if home.exists() {
        fs::remove_dir_all(&home).with_context(|| format!("clearing {}", home.display()))?;
    }
    let mut c = Command::new("cargo");
    c.args(["bench", "-p", "benches", "--bench", "*", "--locked", "--"])
        .args(["--warm-up-time", "1", "--measurement-time", "3", "--noplot"])
        .env("CRITERION_HOME", &home)
        .current_dir(&root);
    run::status(&mut c)?;
    let measured = read_criterion(&home)?;
    if measured.is_empty() {
        bail!("no criterion results under {}", home.display());
    }

    println!("\n$ openssl speed -seconds 2 {}", SPEED_ALGS.join(" "));
    let speed_out = run::output(
        Command::new("openssl")
            .args(["speed", "-seconds", "2"])
            .args(SPEED_ALGS),
    )?;
    let speed = parse_speed(&speed_out);
    let version = run::output(Command::new("openssl").arg("version"))?;

    println!("\n{}", table(&measured, &speed));
    println!(
        "OpenSSL: {} (ops/s from `openssl speed`, or in-process via the `openssl` crate for the \
         rows speed lacks); ratio = ours / OpenSSL; bench-compare took {}",
        version.trim(),
        run::fmt_duration(started.elapsed())
    );
    Ok(())
}

fn table(measured: &[Measured], speed: &Speed) -> String {
    let mut rows: Vec<[String; 5]> = Vec::new();
    for (group, label, refs) in OPS {
        let openssl = measured
            .iter()
            .find(|m| m.group == *group && m.function == "openssl")
            .map(|m| 1e9 / m.mean_ns)
            .or_else(|| openssl_limit(refs, measured, speed));
        for m in measured
            .iter()
            .filter(|m| m.group == *group && m.function != "openssl")
        {
            let ours = 1e9 / m.mean_ns;
            rows.push([
                (*label).to_owned(),
                m.function.clone(),
                fmt_ops(ours),
                openssl.map_or_else(|| "n/a".to_owned(), fmt_ops),
                openssl.map_or_else(|| "n/a".to_owned(), |o| format!("{:.2}x", ours / o)),
            ]);
        }
    }
    for m in measured {
        if !OPS.iter().any(|(g, _, _)| *g == m.group) {
            rows.push([
                m.group.clone(),
                m.function.clone(),
                fmt_ops(1e9 / m.mean_ns),
                "n/a".to_owned(),
                "n/a".to_owned(),
            ]);
        }
    }
    let head = [
        "operation",
        "provider",
        "ours ops/s",
        "OpenSSL ops/s",
        "ratio",
    ];
    let mut w = head.map(str::len);
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            w[i] = w[i].max(cell.len());
        }
    }
    let line = |cells: [&str; 5]| {
        format!(
            "| {:<w0$} | {:<w1$} | {:>w2$} | {:>w3$} | {:>w4$} |\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4]
        )
    };
    let mut s = line(head);
    s.push_str(&format!(
        "|{}|{}|{}:|{}:|{}:|\n",
        "-".repeat(w[0] + 2),
        "-".repeat(w[1] + 2),
        "-".repeat(w[2] + 1),
        "-".repeat(w[3] + 1),
        "-".repeat(w[4] + 1)
    ));
    for r in &rows {
        s.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
    }
    s
}

fn fmt_ops(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Every `<home>/**/new/benchmark.json` with its `estimates.json`.
fn read_criterion(home: &Path) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    let mut stack = vec![home.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let p = e?.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "new") {
                    let bench = fs::read_to_string(p.join("benchmark.json"))
                        .with_context(|| format!("reading {}/benchmark.json", p.display()))?;
                    let est = fs::read_to_string(p.join("estimates.json"))
                        .with_context(|| format!("reading {}/estimates.json", p.display()))?;
                    let (Some(group), Some(function), Some(mean_ns)) = (
                        json_string(&bench, "group_id"),
                        json_string(&bench, "function_id"),
                        json_number_after(&est, "\"mean\"", "point_estimate"),
                    ) else {
                        bail!("unexpected criterion JSON in {}", p.display());
                    };
                    out.push(Measured {
                        group,
                        function,
                        mean_ns,
                    });
                } else {
                    stack.push(p);
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.group, &a.function).cmp(&(&b.group, &b.function)));
    Ok(out)
}

/// The string value of `"key":"..."` (criterion's ids have no escapes worth decoding beyond
/// `\"` and `\\`).
fn json_string(json: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":");
    let at = json.find(&pat)? + pat.len();
    let rest = json[at..].trim_start().strip_prefix('"')?;
    let mut s = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(s),
            '\\' => s.push(chars.next()?),
            c => s.push(c),
        }
    }
    None
}

/// The number of `"key":` found after `anchor`.
fn json_number_after(json: &str, anchor: &str, key: &str) -> Option<f64> {
    let from = json.find(anchor)?;
    let pat = format!("\"{key}\":");
    let at = from + json[from..].find(&pat)? + pat.len();
    let rest = json[at..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// `openssl speed` output, parsed.
#[derive(Debug, Default)]
struct Speed {
    /// (row name, column) -> value; asymmetric rows in ops/s, digests in 1000s of bytes/s
    /// keyed by block size.
    asym: BTreeMap<(String, String), f64>,
    digest: BTreeMap<(String, u64), f64>,
}

impl Speed {
    fn ops_per_sec(&self, row: SpeedRow) -> Option<f64> {
        match row {
            SpeedRow::Asym(name, col) => self.asym.get(&(name.to_owned(), col.to_owned())).copied(),
            SpeedRow::Digest(name, size) => self
                .digest
                .get(&(name.to_owned(), size))
                .map(|kbps| kbps * 1000.0 / size as f64),
        }
    }
}

/// Parse the tables `openssl speed` prints: the digest table (`type 16 bytes ...` header, then
/// `sha256 123.45k ...`) and the asymmetric ones (a header of column names, then a row whose
/// last values line up with the header's last columns).
fn parse_speed(out: &str) -> Speed {
    let mut speed = Speed::default();
    let mut sizes: Vec<u64> = Vec::new();
    let mut header: Vec<String> = Vec::new();
    for line in out.lines() {
        let t = line.trim();
        if t.starts_with("type ") && t.contains("bytes") {
            let toks: Vec<&str> = t.split_whitespace().collect();
            sizes = toks
                .windows(2)
                .filter(|w| w[1] == "bytes")
                .filter_map(|w| w[0].parse().ok())
                .collect();
            continue;
        }
        if t.starts_with("sign") || t.starts_with("keygen") {
            header = t.split_whitespace().map(str::to_owned).collect();
            continue;
        }
        let toks: Vec<&str> = t.split_whitespace().collect();
        let ks: Vec<f64> = toks
            .iter()
            .filter_map(|v| v.strip_suffix('k').and_then(|n| n.parse().ok()))
            .collect();
        if !sizes.is_empty() && ks.len() == sizes.len() && toks.len() > sizes.len() {
            let name = toks[..toks.len() - sizes.len()].join(" ");
            for (size, v) in sizes.iter().zip(ks) {
                speed.digest.insert((name.clone(), *size), v);
            }
            continue;
        }
        if header.is_empty() || toks.len() <= header.len() {
            continue;
        }
        let (name_toks, vals) = toks.split_at(toks.len() - header.len());
        let name = name_toks.join(" ");
        let name = [
            "rsa 2048 bits",
            "rsa 3072 bits",
            "ecdsa (nistp256)",
            "ecdsa (nistp384)",
            "EdDSA (Ed25519)",
        ]
        .into_iter()
        .find(|n| name.contains(n))
        .map_or(name.clone(), str::to_owned);
        for (col, v) in header.iter().zip(vals) {
            if col.ends_with("/s")
                && let Ok(v) = v.parse::<f64>()
            {
                speed.asym.insert((name.clone(), col.clone()), v);
            }
        }
    }
    speed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape printed by OpenSSL 3.0 (`openssl speed -seconds 1 rsa2048 ecdsap256 ed25519
    /// sha256`), numbers from one run on this project's machines.
    const SPEED_3_0: &str = "\
The 'numbers' are in 1000s of bytes per second processed.
type             16 bytes     64 bytes    256 bytes   1024 bytes   8192 bytes  16384 bytes
sha256          127111.25k   335535.80k   834838.93k  1427525.63k  1724381.14k  1783611.62k
                  sign    verify    sign/s verify/s
rsa 2048 bits 0.000277s 0.000017s   3615.2  57307.2
                              sign    verify    sign/s verify/s
 256 bits ecdsa (nistp256)   0.0000s   0.0001s  47071.4  16916.0
                              sign    verify    sign/s verify/s
 253 bits EdDSA (Ed25519)   0.0000s   0.0001s  26802.3   9724.2
";

    /// The wider RSA table of OpenSSL 3.2 and later.
    const SPEED_3_2_RSA: &str = "\
                   sign    verify    encrypt   decrypt   sign/s verify/s  encr./s  decr./s
rsa 2048 bits 0.000500s 0.000015s 0.000016s 0.000500s   2000.0  66666.7  62500.0   2000.0
";

    #[test]
    fn openssl_3_0_tables_parse() {
        let s = parse_speed(SPEED_3_0);
        let get = |r| s.ops_per_sec(r).unwrap();
        assert_eq!(get(SpeedRow::Asym("rsa 2048 bits", "sign/s")), 3615.2);
        assert_eq!(get(SpeedRow::Asym("rsa 2048 bits", "verify/s")), 57307.2);
        assert_eq!(get(SpeedRow::Asym("ecdsa (nistp256)", "sign/s")), 47071.4);
        assert_eq!(get(SpeedRow::Asym("ecdsa (nistp256)", "verify/s")), 16916.0);
        assert_eq!(get(SpeedRow::Asym("EdDSA (Ed25519)", "verify/s")), 9724.2);
        let sha1k = get(SpeedRow::Digest("sha256", 1024));
        assert!((sha1k - 1_427_525.63 * 1000.0 / 1024.0).abs() < 1e-6);
        assert!(s.ops_per_sec(SpeedRow::Digest("sha256", 4096)).is_none());
    }

    #[test]
    fn openssl_3_2_rsa_columns_line_up() {
        let s = parse_speed(SPEED_3_2_RSA);
        assert_eq!(
            s.ops_per_sec(SpeedRow::Asym("rsa 2048 bits", "verify/s")),
            Some(66666.7)
        );
        assert_eq!(
            s.ops_per_sec(SpeedRow::Asym("rsa 2048 bits", "sign/s")),
            Some(2000.0)
        );
    }

    #[test]
    fn composite_limit_adds_per_op_times() {
        let speed = parse_speed(SPEED_3_0);
        let measured = [
            Measured {
                group: "rsa2048_decrypt_pkcs1v15".into(),
                function: "openssl".into(),
                mean_ns: 250_000.0,
            },
            Measured {
                group: "rsa2048_encrypt_pkcs1v15".into(),
                function: "openssl".into(),
                mean_ns: 20_000.0,
            },
        ];
        let (_, _, refs) = OPS
            .iter()
            .find(|(g, _, _)| *g == "scep_pkioperation_rsa2048")
            .unwrap();
        let got = openssl_limit(refs, &measured, &speed).unwrap();
        let want = 1.0 / (250e-6 + 2.0 / 3615.2 + 2.0 / 57307.2 + 20e-6);
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        // rsa3072 is not in that output: no figure rather than a wrong one.
        let (_, _, refs) = OPS
            .iter()
            .find(|(g, _, _)| *g == "devauth_auth_rsa3072_mint_rs256")
            .unwrap();
        assert!(openssl_limit(refs, &measured, &speed).is_none());
        assert!(openssl_limit(&[], &measured, &speed).is_none());
    }

    #[test]
    fn criterion_json_fields() {
        let bench = r#"{"group_id":"sha256_1KiB","function_id":"aws-lc","value_str":null,"throughput":{"Bytes":1024},"full_id":"sha256_1KiB/aws-lc","directory_name":"sha256_1KiB/aws-lc","title":"sha256_1KiB/aws-lc"}"#;
        let est = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":710.1,"upper_bound":730.9},"point_estimate":720.5,"standard_error":5.2},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5e3,"standard_error":0.1}}"#;
        assert_eq!(json_string(bench, "group_id").unwrap(), "sha256_1KiB");
        assert_eq!(json_string(bench, "function_id").unwrap(), "aws-lc");
        assert_eq!(
            json_number_after(est, "\"mean\"", "point_estimate"),
            Some(720.5)
        );
        assert_eq!(
            json_number_after(est, "\"median\"", "point_estimate"),
            Some(1500.0)
        );
    }

    #[test]
    fn every_bench_group_has_a_row() {
        // The groups named in benches/src/lib.rs (`benches::op`), read as text so xtask does
        // not build the benches crate.
        let lib = fs::read_to_string(repo_root().join("benches/src/lib.rs")).unwrap();
        let named: Vec<&str> = lib
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| l.split('"').nth(1))
            .filter(|g| g.contains('_'))
            .collect();
        assert!(named.len() >= 10, "{named:?}");
        for g in named {
            assert!(OPS.iter().any(|(o, _, _)| *o == g), "{g} has no row");
        }
    }
}
