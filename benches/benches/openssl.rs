//! OpenSSL in-process, for the rows `openssl speed` does not print: RSA-2048 PKCS#1 v1.5
//! decrypt, OAEP (SHA-256) decrypt and PKCS#1 v1.5 public encrypt, on the same key as the
//! `primitives` bench. Group = operation ([`benches::op`]), function = `openssl`.

use std::hint::black_box;

use benches::{WRAPPED_KEY, keys, op};
use criterion::Criterion;
use openssl::encrypt::{Decrypter, Encrypter};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Padding;

fn encrypter(key: &PKey<Public>, oaep: bool) -> Encrypter<'_> {
    let mut e = Encrypter::new(key).expect("EVP_PKEY_encrypt_init");
    if oaep {
        e.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
        e.set_rsa_oaep_md(MessageDigest::sha256()).unwrap();
        e.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
    } else {
        e.set_rsa_padding(Padding::PKCS1).unwrap();
    }
    e
}

fn decrypter(key: &PKey<Private>, oaep: bool) -> Decrypter<'_> {
    let mut d = Decrypter::new(key).expect("EVP_PKEY_decrypt_init");
    if oaep {
        d.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
        d.set_rsa_oaep_md(MessageDigest::sha256()).unwrap();
        d.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
    } else {
        d.set_rsa_padding(Padding::PKCS1).unwrap();
    }
    d
}

fn encrypt(e: &Encrypter<'_>, pt: &[u8]) -> Vec<u8> {
    let mut out = vec![0; e.encrypt_len(pt).unwrap()];
    let n = e.encrypt(pt, &mut out).unwrap();
    out.truncate(n);
    out
}

fn decrypt(d: &Decrypter<'_>, ct: &[u8]) -> Vec<u8> {
    let mut out = vec![0; d.decrypt_len(ct).unwrap()];
    let n = d.decrypt(ct, &mut out).unwrap();
    out.truncate(n);
    out
}

fn rsa(c: &mut Criterion) {
    let private = PKey::private_key_from_der(&keys().rsa2048).expect("OpenSSL loads the key");
    let public = PKey::public_key_from_der(&private.public_key_to_der().unwrap()).unwrap();

    for (name, oaep) in [(op::RSA_DECRYPT_PKCS1, false), (op::RSA_DECRYPT_OAEP, true)] {
        let ct = encrypt(&encrypter(&public, oaep), &WRAPPED_KEY);
        let d = decrypter(&private, oaep);
        assert_eq!(decrypt(&d, &ct), WRAPPED_KEY, "{name} round trip");
        c.benchmark_group(name)
            .sample_size(20)
            .bench_function("openssl", |b| b.iter(|| decrypt(&d, black_box(&ct))));
    }

    let e = encrypter(&public, false);
    c.benchmark_group(op::RSA_ENCRYPT_PKCS1)
        .bench_function("openssl", |b| {
            b.iter(|| encrypt(&e, black_box(&WRAPPED_KEY)))
        });
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    rsa(&mut c);
    c.final_summary();
}
