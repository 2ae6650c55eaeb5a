//! `admitd inspect` on device-auth blobs: captured Mender auth requests (body plus
//! `--signature`) and JWTs, verified or refused with the typed error.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vectors() -> PathBuf {
    testkit::vector_dir("devauth")
}

fn inspect(dir: &Path, args: &[&str]) -> Output {
    common::run(
        Command::new(common::ADMITD)
            .arg("--data-dir")
            .arg(dir.join("no-data-dir"))
            .arg("inspect")
            .args(args)
            .current_dir(dir),
    )
}

fn ok_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn failed_with(out: &Output, msg: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(msg), "stderr {err:?} lacks {msg:?}");
}

#[test]
fn captured_auth_requests_verify_and_tampered_ones_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let v = vectors().join("mender-client-3.4");
    for (case, kind) in [
        ("rsa2048", "Rsa"),
        ("rsa3072-client-generated", "Rsa"),
        ("ecdsa-p256", "Ec(P256)"),
        ("ecdsa-p384", "Ec(P384)"),
        ("ecdsa-p521", "Ec(P521)"),
        ("ed25519", "Ed25519"),
    ] {
        let c = v.join(case);
        let sig = std::fs::read_to_string(c.join("x-men-signature.b64")).unwrap();
        let body = c.join("body.bin");
        let out = inspect(
            tmp.path(),
            &[body.to_str().unwrap(), "--signature", sig.trim()],
        );
        let j = ok_json(&out);
        let r = &j["authRequest"];
        assert_eq!(r["signature"], "verified", "{case}");
        assert!(
            r["pubkey"]["keyKind"].as_str().unwrap().starts_with(kind),
            "{case}: {}",
            r["pubkey"]["keyKind"]
        );
        // The identity hash is SHA-256 of the (already sorted) id_data, computed by openssl.
        let want = common::openssl(
            tmp.path(),
            &[
                "dgst",
                "-sha256",
                "-r",
                c.join("id_data.txt").to_str().unwrap(),
            ],
        );
        assert_eq!(
            r["identityHash"].as_str().unwrap(),
            want.split_whitespace().next().unwrap(),
            "{case}"
        );
        let pem = std::fs::read_to_string(c.join("pubkey.pem")).unwrap();
        assert_eq!(
            r["pubkey"]["pem"].as_str().unwrap().trim(),
            pem.trim(),
            "{case}"
        );

        // One flipped byte: the typed signature error.
        let mut bad = std::fs::read(&body).unwrap();
        let i = bad.len() / 2;
        bad[i] ^= 0x01;
        let badf = tmp.path().join(format!("{case}-tampered.bin"));
        std::fs::write(&badf, &bad).unwrap();
        let out = inspect(
            tmp.path(),
            &[badf.to_str().unwrap(), "--signature", sig.trim()],
        );
        assert!(!out.status.success(), "{case}: tampered body accepted");
    }
    let p1 = vectors().join("generated/negative-pkcs1-rsa-public-key");
    let sig = std::fs::read_to_string(p1.join("x-men-signature.b64")).unwrap();
    let out = inspect(
        tmp.path(),
        &[
            p1.join("body.bin").to_str().unwrap(),
            "--signature",
            sig.trim(),
        ],
    );
    failed_with(&out, "PKCS#1");
    let ed = vectors().join("mender-client-3.4/ed25519");
    let sig = std::fs::read_to_string(ed.join("x-men-signature.b64")).unwrap();
    let out = inspect(
        tmp.path(),
        &[
            ed.join("negative-does-not-exist").to_str().unwrap(),
            "--signature",
            sig.trim(),
        ],
    );
    failed_with(&out, "No such file");
    let nl = vectors().join("generated/authreq-ed25519-utils-TestED25519Private");
    let sig = std::fs::read_to_string(nl.join("x-men-signature.b64")).unwrap();
    let out = inspect(
        tmp.path(),
        &[
            nl.join("negative-body-no-trailing-newline.bin")
                .to_str()
                .unwrap(),
            "--signature",
            sig.trim(),
        ],
    );
    failed_with(&out, "signature verification failed");
}

#[test]
fn jwts_are_verified_against_the_given_key_with_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let v = vectors();
    let pub_of = |private: &str, name: &str| {
        let p = tmp.path().join(name);
        let pem = common::openssl(
            tmp.path(),
            &[
                "pkey",
                "-in",
                v.join("deviceauth/testdata")
                    .join(private)
                    .to_str()
                    .unwrap(),
                "-pubout",
            ],
        );
        std::fs::write(&p, pem).unwrap();
        p
    };
    let ed_pub = pub_of("jwt_testdata_ed25519.pem", "ed.pub.pem");
    let rsa_pub = pub_of("jwt_testdata_rsa.pem", "rsa.pub.pem");
    let ed_jwt = v.join("generated/jwt-EdDSA.txt");
    let rs_jwt = v.join("generated/jwt-RS256.txt");

    // The vector tokens expired in 2023 (exp 1700604800): verified signature, typed expiry.
    for (jwt, key) in [(&ed_jwt, &ed_pub), (&rs_jwt, &rsa_pub)] {
        let out = inspect(
            tmp.path(),
            &[jwt.to_str().unwrap(), "--key", key.to_str().unwrap()],
        );
        failed_with(&out, "token expired at 1700604800");
    }
    // Wrong key type for the algorithm, wrong key of the right type, no key at all.
    let out = inspect(
        tmp.path(),
        &[ed_jwt.to_str().unwrap(), "--key", rsa_pub.to_str().unwrap()],
    );
    failed_with(&out, "token algorithm not allowed");
    let other = tmp.path().join("other.key");
    common::openssl(
        tmp.path(),
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            other.to_str().unwrap(),
        ],
    );
    let other_pub = common::openssl(
        tmp.path(),
        &["pkey", "-in", other.to_str().unwrap(), "-pubout"],
    );
    std::fs::write(tmp.path().join("other.pub.pem"), other_pub).unwrap();
    let out = inspect(
        tmp.path(),
        &[ed_jwt.to_str().unwrap(), "--key", "other.pub.pem"],
    );
    failed_with(&out, "token signature verification failed");
    let out = inspect(tmp.path(), &[ed_jwt.to_str().unwrap()]);
    failed_with(&out, "no key to verify the token");
    // An alg "none" token is refused by name.
    let none = tmp.path().join("none.jwt");
    std::fs::write(&none, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").unwrap();
    let out = inspect(
        tmp.path(),
        &[none.to_str().unwrap(), "--key", ed_pub.to_str().unwrap()],
    );
    failed_with(&out, "\"none\" is never accepted");
}
