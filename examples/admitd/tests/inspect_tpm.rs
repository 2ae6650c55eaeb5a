//! `admitd inspect` on the files a real (software) TPM and `tpm2-tools` write, checked against
//! `tpm2_print` (TPMS_ATTEST, TPM2B_PUBLIC), against what `tpm2_quote` prints for the same
//! signature and PCR values, against Names `tpm2-tools` computed, and against EK URIs
//! `openssl` computes from the EK certificates in NV.
//!
//! `swtpm` runs on 127.0.0.1 in a temporary directory and is stopped by its PID; every external
//! command is bounded.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use testkit::swtpm::Swtpm;

const ADMITD: &str = env!("CARGO_BIN_EXE_admitd");

/// What these tests add to the shared harness: `admitd inspect` and `tpm2_print` in its
/// working directory.
trait Inspect {
    /// `admitd inspect [--type T] file`: the JSON on success, else the exit code and stderr.
    fn inspect(&self, file: &str, kind: Option<&str>) -> Result<Value, (Option<i32>, String)>;
    /// `admitd inspect file`, which must succeed.
    fn inspect_ok(&self, file: &str) -> Value;
    /// `tpm2_print -t ty file`, flattened.
    fn tpm2_print(&self, ty: &str, file: &str) -> (bool, BTreeMap<String, String>);
}

impl Inspect for Swtpm {
    fn inspect(&self, file: &str, kind: Option<&str>) -> Result<Value, (Option<i32>, String)> {
        let mut cmd = Command::new(ADMITD);
        cmd.arg("inspect");
        if let Some(k) = kind {
            cmd.args(["--type", k]);
        }
        cmd.arg(file);
        let r = testkit::run_bounded(&mut cmd, &self.work(), testkit::swtpm::TOOL_TIMEOUT);
        if r.ok {
            Ok(serde_json::from_slice(&r.stdout).expect("inspect prints JSON"))
        } else {
            Err((None, r.stderr))
        }
    }

    fn inspect_ok(&self, file: &str) -> Value {
        self.inspect(file, None)
            .unwrap_or_else(|e| panic!("admitd inspect {file}: {e:?}"))
    }

    fn tpm2_print(&self, ty: &str, file: &str) -> (bool, BTreeMap<String, String>) {
        let r = testkit::run_bounded(
            Command::new("tpm2_print").args(["-t", ty, file]),
            &self.work(),
            testkit::swtpm::TOOL_TIMEOUT,
        );
        (r.ok, yaml(&String::from_utf8_lossy(&r.stdout)))
    }
}

/// The YAML `tpm2-tools` prints, flattened to `a.b.c -> value` (two-space indentation,
/// `key: value` or `key:` opening a block; keys may contain spaces).
fn yaml(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let mut path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
        let key = k.trim().to_string();
        path.push(&key);
        let full = path.join(".");
        let v = v.trim();
        if v.is_empty() {
            stack.push((indent, key.clone()));
        } else {
            out.insert(full, v.to_string());
        }
    }
    out
}

/// TPM_ST values of TPM 2.0 Part 2, section 6.9, for the attestation types made here.
fn tpm_st_name(hex: &str) -> &'static str {
    match hex {
        "8017" => "certify",
        "8018" => "quote",
        "801a" => "creation",
        other => panic!("TPM_ST {other} not expected here"),
    }
}

/// PCR indices set in a pcrSelect bitmap (bit i of byte n is PCR 8n + i).
fn bitmap_indices(hex_bitmap: &str) -> Vec<u64> {
    let bytes = hex::decode(hex_bitmap).expect("hex bitmap");
    let mut v = Vec::new();
    for (n, b) in bytes.iter().enumerate() {
        for i in 0..8 {
            if b & (1 << i) != 0 {
                v.push((n * 8 + i) as u64);
            }
        }
    }
    v
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The TPMS_ATTEST header fields, as `tpm2_print` printed them, equal ours.
fn assert_attest_header(ours: &Value, print: &BTreeMap<String, String>) {
    assert_eq!(s(&ours["magic"]), print["magic"]);
    assert_eq!(s(&ours["type"]), tpm_st_name(&print["type"]));
    assert_eq!(s(&ours["qualifiedSigner"]), print["qualifiedSigner"]);
    assert_eq!(s(&ours["extraData"]), print["extraData"]);
    for f in ["clock", "resetCount", "restartCount", "safe"] {
        assert_eq!(
            s(&ours["clockInfo"][f]),
            print[&format!("clockInfo.{f}")],
            "{f}"
        );
    }
    // tpm2_print writes the UINT64 firmwareVersion's bytes in host (little-endian) order;
    // the TPM marshals it big-endian, which is how the spec and we read it.
    let mut fw = hex::decode(&print["firmwareVersion"]).expect("hex");
    fw.reverse();
    assert_eq!(
        u64::from_str_radix(&s(&ours["firmwareVersion"]), 16).unwrap(),
        u64::from_be_bytes(fw.try_into().expect("8 bytes"))
    );
}

/// A TPMT_PUBLIC rendered by us equals `tpm2_print -t TPM2B_PUBLIC`'s fields.
fn assert_public(ours: &Value, print: &BTreeMap<String, String>) {
    assert_eq!(s(&ours["nameAlg"]), print["name-alg.value"]);
    assert_eq!(s(&ours["type"]), print["type.value"]);
    assert_eq!(
        s(&ours["objectAttributes"]["set"]),
        print["attributes.value"]
    );
    assert_eq!(
        s(&ours["objectAttributes"]["value"]),
        print["attributes.raw"]
    );
    assert_eq!(
        s(&ours["authPolicy"]),
        print
            .get("authorization policy")
            .cloned()
            .unwrap_or_default()
    );
    let p = &ours["parameters"];
    assert_eq!(s(&p["symmetric"]["algorithm"]), print["sym-alg.value"]);
    if print["sym-alg.value"] != "null" {
        assert_eq!(s(&p["symmetric"]["mode"]), print["sym-mode.value"]);
        assert_eq!(s(&p["symmetric"]["keyBits"]), print["sym-keybits"]);
    }
    assert_eq!(s(&p["scheme"]["scheme"]), print["scheme.value"]);
    if print["scheme.value"] != "null" {
        assert_eq!(s(&p["scheme"]["hashAlg"]), print["scheme-halg.value"]);
    }
    match print["type.value"].as_str() {
        "rsa" => {
            assert_eq!(s(&p["keyBits"]), print["bits"]);
            assert_eq!(s(&p["exponent"]), print["exponent"]);
            assert_eq!(s(&ours["unique"]["rsa"]), print["rsa"]);
        }
        "ecc" => {
            assert_eq!(s(&p["curveID"]), print["curve-id.value"]);
            assert_eq!(s(&p["kdf"]["scheme"]), print["kdfa-alg.value"]);
            assert_eq!(s(&ours["unique"]["ecc"]["x"]), print["x"]);
            assert_eq!(s(&ours["unique"]["ecc"]["y"]), print["y"]);
        }
        other => panic!("unexpected type {other}"),
    }
}

/// Strip leading zero bytes of a hex string (DER INTEGERs and TPM2B buffers pad differently).
fn strip_hex(h: &str) -> String {
    let b = hex::decode(h).expect("hex");
    let lead = b.iter().take_while(|x| **x == 0).count();
    hex::encode(&b[lead..])
}

/// r and s of a DER ECDSA-Sig-Value (two short-form INTEGERs in a SEQUENCE).
fn der_ecdsa_rs(der: &[u8]) -> (String, String) {
    assert_eq!(der[0], 0x30);
    let mut i = 2;
    let mut take = || {
        assert_eq!(der[i], 0x02);
        let len = der[i + 1] as usize;
        let v = hex::encode(&der[i + 2..i + 2 + len]);
        i += 2 + len;
        strip_hex(&v)
    };
    (take(), take())
}

#[test]
fn quotes_keys_and_signatures_match_tpm2_tools() {
    let tpm = Swtpm::start();
    tpm.create_rsa_ek();
    tpm.tool(&[
        "tpm2_pcrextend",
        &format!("7:sha1={},sha256={}", "ab".repeat(20), "cd".repeat(32)),
    ]);
    // The RSA EK (with a policy and AES-128-CFB) and the persistent ECC P-384 EK.
    tpm.tool(&["tpm2_readpublic", "-c", "0x81010016", "-o", "eccek.pub"]);
    for file in ["ek.pub", "eccek.pub"] {
        let (ok, print) = tpm.tpm2_print("TPM2B_PUBLIC", file);
        assert!(ok, "tpm2_print {file}");
        let ours = tpm.inspect_ok(file);
        assert_public(&ours["TPM2B_PUBLIC"]["publicArea"], &print);
        assert_eq!(
            ours["TPM2B_PUBLIC"]["size"],
            tpm.read(file).len() as u64 - 2
        );
    }
    for (key, scheme) in [("rsa", "rsassa"), ("rsa", "rsapss"), ("ecc256", "ecdsa")] {
        tpm.create_ak("ek.ctx", key, scheme);
        let quote_out = tpm.tool(&[
            "tpm2_quote",
            "-c",
            "ak.ctx",
            "-l",
            "sha1:0,1,7+sha256:0,7,16",
            "-q",
            "00112233445566778899",
            "-m",
            "quote.msg",
            "-s",
            "quote.sig",
            "-o",
            "quote.pcrs",
            "-g",
            "sha256",
            "--scheme",
            scheme,
        ]);
        let printed = yaml(&String::from_utf8_lossy(&quote_out));

        // TPMS_ATTEST against tpm2_print.
        let (ok, print) = tpm.tpm2_print("TPMS_ATTEST", "quote.msg");
        assert!(ok, "tpm2_print TPMS_ATTEST");
        let ours = tpm.inspect_ok("quote.msg");
        let a = &ours["TPMS_ATTEST"];
        assert_attest_header(a, &print);
        let q = &a["attested"]["quote"];
        assert_eq!(s(&q["pcrDigest"]), print["attested.quote.pcrDigest"]);
        let sel = q["pcrSelect"].as_array().expect("selection");
        assert_eq!(
            sel.len().to_string(),
            print["attested.quote.pcrSelect.count"]
        );
        for (n, bank) in sel.iter().enumerate() {
            let pre = format!("attested.quote.pcrSelect.pcrSelections.{n}");
            // "11 (sha256)"
            let hash = &print[&format!("{pre}.hash")];
            assert!(hash.ends_with(&format!("({})", s(&bank["hash"]))), "{hash}");
            let indices: Vec<u64> = bank["pcrSelect"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap())
                .collect();
            assert_eq!(indices, bitmap_indices(&print[&format!("{pre}.pcrSelect")]));
        }
        assert_eq!(printed["quoted"], hex::encode(tpm.read("quote.msg")));

        // TPM2B_PUBLIC against tpm2_print, and the Name tpm2_createak computed.
        let (ok, print) = tpm.tpm2_print("TPM2B_PUBLIC", "ak.pub");
        assert!(ok);
        let ours = tpm.inspect_ok("ak.pub");
        let public = &ours["TPM2B_PUBLIC"]["publicArea"];
        assert_public(public, &print);
        assert_eq!(s(&public["name"]), hex::encode(tpm.read("ak.name")));
        assert_eq!(
            tpm.inspect_ok("ak.name")["TPM2B_NAME"]["name"],
            public["name"]
        );
        // The TPMT_PUBLIC alone (tpm2_readpublic -f tpmt) renders the same.
        tpm.tool(&[
            "tpm2_readpublic",
            "-c",
            "ak.ctx",
            "-f",
            "tpmt",
            "-o",
            "ak.tpmt",
        ]);
        assert_eq!(&tpm.inspect_ok("ak.tpmt")["TPMT_PUBLIC"], public);

        // TPMT_SIGNATURE against what tpm2_quote printed (tpm2_print 5.4 has no such type):
        // the raw RSA signature, or the DER ECDSA signature.
        let ours = tpm.inspect_ok("quote.sig");
        let sig = &ours["TPMT_SIGNATURE"];
        assert_eq!(s(&sig["sigAlg"]), printed["signature.alg"]);
        assert_eq!(s(&sig["signature"]["hash"]), "sha256");
        if scheme == "ecdsa" {
            let (r, s_) = der_ecdsa_rs(&hex::decode(&printed["signature.sig"]).unwrap());
            assert_eq!(strip_hex(&s(&sig["signature"]["signatureR"])), r);
            assert_eq!(strip_hex(&s(&sig["signature"]["signatureS"])), s_);
        } else {
            assert_eq!(s(&sig["signature"]["sig"]), printed["signature.sig"]);
        }

        // The tpm2-tools PCR file against the values tpm2_quote printed.
        let ours = tpm.inspect_ok("quote.pcrs");
        let pcrs = &ours["pcrValues"]["pcrs"];
        let mut count = 0;
        for (k, v) in printed.iter().filter(|(k, _)| k.starts_with("pcrs.")) {
            let mut it = k["pcrs.".len()..].split('.');
            let (bank, index) = (it.next().unwrap(), it.next().unwrap());
            assert_eq!(
                format!("0x{}", s(&pcrs[bank][index])).to_lowercase(),
                v.to_lowercase(),
                "{k}"
            );
            count += 1;
        }
        assert_eq!(count, 6, "sha1 0,1,7 and sha256 0,7,16");
        assert_eq!(
            ours["pcrValues"]["pcrSelection"][1]["pcrSelect"],
            serde_json::json!([0, 7, 16])
        );

        // Forcing another type on these bytes fails with that type's own error.
        let (_, err) = tpm.inspect("ak.pub", Some("TPMS_ATTEST")).unwrap_err();
        assert!(err.contains("malformed TPMS_ATTEST"), "{err}");
        assert_eq!(
            tpm.inspect("ak.pub", Some("tpm2b_public")).unwrap(),
            tpm.inspect_ok("ak.pub")
        );
        // A cut-off structure is not recognised as anything.
        let msg = tpm.read("quote.msg");
        tpm.write("cut.msg", &msg[..msg.len() - 1]);
        let (_, err) = tpm.inspect("cut.msg", None).unwrap_err();
        assert!(
            err.contains("no TPM 2.0 or attestation format fits"),
            "{err}"
        );
        let (_, err) = tpm.inspect("cut.msg", Some("TPMS_ATTEST")).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
    }
}

#[test]
fn certify_attestations_and_credentials_match_tpm2_tools() {
    let tpm = Swtpm::start();
    tpm.create_rsa_ek();
    tpm.create_ak("ek.ctx", "ecc256", "ecdsa");
    tpm.tool(&[
        "tpm2_createprimary",
        "-C",
        "o",
        "-G",
        "ecc",
        "-c",
        "key.ctx",
    ]);
    tpm.tool(&[
        "tpm2_readpublic",
        "-c",
        "key.ctx",
        "-n",
        "key.name",
        "-o",
        "key.pub",
    ]);
    tpm.tool(&[
        "tpm2_certify",
        "-C",
        "ak.ctx",
        "-c",
        "key.ctx",
        "-g",
        "sha256",
        "-o",
        "certify.attest",
        "-s",
        "certify.sig",
    ]);
    // tpm2_print 5.4 prints the header of a certify attestation, then refuses the type.
    let (_, print) = tpm.tpm2_print("TPMS_ATTEST", "certify.attest");
    let ours = tpm.inspect_ok("certify.attest");
    let a = &ours["TPMS_ATTEST"];
    assert_attest_header(a, &print);
    assert_eq!(a["type"], "certify");
    // The attested Name is the key's Name as tpm2_readpublic computed it; the signer is the AK.
    assert_eq!(
        s(&a["attested"]["certify"]["name"]),
        hex::encode(tpm.read("key.name"))
    );
    assert_eq!(
        tpm.inspect_ok("key.pub")["TPM2B_PUBLIC"]["publicArea"]["name"],
        a["attested"]["certify"]["name"]
    );
    assert_eq!(
        tpm.inspect_ok("certify.sig")["TPMT_SIGNATURE"]["sigAlg"],
        "ecdsa"
    );

    // A credential for the AK under the RSA EK, made by tpm2_makecredential.
    tpm.write("secret.bin", b"0123456789abcdef");
    let name = hex::encode(tpm.read("ak.name"));
    tpm.tool(&[
        "tpm2_makecredential",
        "-T",
        "none",
        "-u",
        "ek.pub",
        "-s",
        "secret.bin",
        "-n",
        &name,
        "-o",
        "cred.out",
    ]);
    let file = tpm.read("cred.out");
    let ours = tpm.inspect_ok("cred.out");
    let c = &ours["credential"];
    // RSA-2048 EK: the encrypted seed is the last 256 bytes, after its u16 size.
    assert_eq!(s(&c["secret"]), hex::encode(&file[file.len() - 256..]));
    assert_eq!(&file[file.len() - 258..file.len() - 256], &[0x01, 0x00]);
    // integrityHMAC is a SHA-256 HMAC (the EK's nameAlg).
    assert_eq!(s(&c["credentialBlob"]["integrityHMAC"]).len(), 64);
    assert_eq!(tpm.inspect("cred.out", Some("credential")).unwrap(), ours);
}

#[test]
fn ek_certificates_from_nv_with_their_quirks() {
    let tpm = Swtpm::start();
    for nv in ["0x01c00002", "0x01c00016"] {
        tpm.tool(&["tpm2_nvread", nv, "-o", "ek.der"]);
        let der = tpm.read("ek.der");
        let uri = testkit::openssl_ek_uri(&tpm.work(), &der);
        // Plain DER (as swtpm stores it): a certificate with an EK section.
        let ours = tpm.inspect_ok("ek.der");
        let ek = &ours["certificate"]["ekCertificate"];
        assert_eq!(s(&ek["ekUri"]), uri);
        assert_eq!(ek["quirks"], serde_json::json!([]));
        // What other TPMs store: a TCG header, 0xff padding to the NV size, trailing bytes.
        let mut header = vec![0x10, 0x01, 0x00];
        header.extend_from_slice(&u16::try_from(der.len()).unwrap().to_be_bytes());
        header.extend_from_slice(&der);
        let mut padded = der.clone();
        padded.extend_from_slice(&[0xff; 500]);
        let mut trailing = der.clone();
        trailing.extend_from_slice(b"\x01\x02junk");
        for (file, bytes, quirk) in [
            ("hdr.bin", header, "TCG NV header"),
            ("pad.bin", padded, "500 bytes of padding"),
            ("trail.bin", trailing, "6 bytes of trailing data"),
        ] {
            tpm.write(file, &bytes);
            let ours = tpm.inspect_ok(file);
            let ek = &ours["ekCertificate"];
            assert_eq!(s(&ek["ekUri"]), uri, "{file}");
            let quirks = ek["quirks"].as_array().unwrap();
            assert_eq!(quirks.len(), 1, "{file}: {quirks:?}");
            assert!(s(&quirks[0]).contains(quirk), "{file}: {quirks:?}");
            // The full certificate fields come along, fingerprinted over the DER alone.
            let fp = &ek["certificate"]["certificate"]["sha256Fingerprint"];
            assert_eq!(fp, &ours_fingerprint(&tpm.inspect_ok("ek.der")), "{file}");
        }
        // A truncated certificate in a header is refused with the intake's error.
        let mut short = vec![0x10, 0x01, 0x00];
        short.extend_from_slice(&u16::try_from(der.len() + 10).unwrap().to_be_bytes());
        short.extend_from_slice(&der);
        tpm.write("short.bin", &short);
        let (_, err) = tpm.inspect("short.bin", None).unwrap_err();
        assert!(err.contains("no TPM 2.0 or attestation format"), "{err}");
        let (_, err) = tpm
            .inspect("short.bin", Some("ek-certificate"))
            .unwrap_err();
        assert!(err.contains("truncated EK certificate NV header"), "{err}");
    }
}

fn ours_fingerprint(v: &Value) -> Value {
    v["certificate"]["sha256Fingerprint"].clone()
}
