//! Signature, key-transport and digest primitives, once per compiled provider.
//!
//! Group = operation ([`benches::op`]), function = provider name.

use std::hint::black_box;

use benches::pki::alg::{HashAlg, KeyTransport, SignatureScheme};
use benches::{WRAPPED_KEY, keys, message, op, providers, rng};
use criterion::{Criterion, Throughput};

const RSA_SHA256: SignatureScheme = SignatureScheme::RsaPkcs1v15(HashAlg::Sha256);

fn rsa(c: &mut Criterion) {
    let msg = message(benches::SIGNED_MESSAGE_LEN);
    for p in providers() {
        let key = p
            .private_key_from_pkcs8_der(&keys().rsa2048)
            .expect("RSA key loads");
        let spki = key.spki().clone();
        let mut r = rng(1);
        let sig = key.sign(RSA_SHA256, &msg, &mut r).expect("RSA sign");
        p.verify(&spki, RSA_SHA256, &msg, &sig)
            .expect("the signature just made verifies");
        let ct_pkcs1 = p
            .key_transport_encrypt(&spki, KeyTransport::RsaPkcs1v15, &WRAPPED_KEY, &mut r)
            .expect("RSA encrypt");
        let ct_oaep = p
            .key_transport_encrypt(&spki, KeyTransport::OAEP_SHA256, &WRAPPED_KEY, &mut r)
            .expect("RSA-OAEP encrypt");
        for (transport, ct) in [
            (KeyTransport::RsaPkcs1v15, &ct_pkcs1),
            (KeyTransport::OAEP_SHA256, &ct_oaep),
        ] {
            let pt = key.decrypt(transport, ct, &mut r).expect("RSA decrypt");
            assert_eq!(pt, WRAPPED_KEY, "{} {transport:?} round trip", p.name());
        }

        c.benchmark_group(op::RSA_SIGN)
            .sample_size(20)
            .bench_function(p.name(), |b| {
                b.iter(|| key.sign(RSA_SHA256, black_box(&msg), &mut r).unwrap())
            });
        c.benchmark_group(op::RSA_VERIFY)
            .bench_function(p.name(), |b| {
                b.iter(|| p.verify(&spki, RSA_SHA256, black_box(&msg), &sig).unwrap())
            });
        c.benchmark_group(op::RSA_DECRYPT_PKCS1)
            .sample_size(20)
            .bench_function(p.name(), |b| {
                b.iter(|| {
                    key.decrypt(KeyTransport::RsaPkcs1v15, black_box(&ct_pkcs1), &mut r)
                        .unwrap()
                })
            });
        c.benchmark_group(op::RSA_DECRYPT_OAEP)
            .sample_size(20)
            .bench_function(p.name(), |b| {
                b.iter(|| {
                    key.decrypt(KeyTransport::OAEP_SHA256, black_box(&ct_oaep), &mut r)
                        .unwrap()
                })
            });
        c.benchmark_group(op::RSA_ENCRYPT_PKCS1)
            .bench_function(p.name(), |b| {
                b.iter(|| {
                    p.key_transport_encrypt(
                        &spki,
                        KeyTransport::RsaPkcs1v15,
                        black_box(&WRAPPED_KEY),
                        &mut r,
                    )
                    .unwrap()
                })
            });
    }
}

fn p256(c: &mut Criterion) {
    let scheme = SignatureScheme::ecdsa(HashAlg::Sha256);
    let msg = message(benches::SIGNED_MESSAGE_LEN);
    for p in providers() {
        let key = p
            .private_key_from_pkcs8_der(&keys().p256)
            .expect("P-256 key loads");
        let spki = key.spki().clone();
        let mut r = rng(2);
        let sig = key.sign(scheme, &msg, &mut r).expect("P-256 sign");
        p.verify(&spki, scheme, &msg, &sig)
            .expect("the signature just made verifies");
        c.benchmark_group(op::P256_SIGN)
            .bench_function(p.name(), |b| {
                b.iter(|| key.sign(scheme, black_box(&msg), &mut r).unwrap())
            });
        c.benchmark_group(op::P256_VERIFY)
            .bench_function(p.name(), |b| {
                b.iter(|| p.verify(&spki, scheme, black_box(&msg), &sig).unwrap())
            });
    }
}

fn ed25519(c: &mut Criterion) {
    let scheme = SignatureScheme::Ed25519;
    let msg = message(benches::SIGNED_MESSAGE_LEN);
    for p in providers() {
        let key = p
            .private_key_from_pkcs8_der(&keys().ed25519)
            .expect("Ed25519 key loads");
        let spki = key.spki().clone();
        let sig = key.sign(scheme, &msg, &mut rng(3)).expect("Ed25519 sign");
        p.verify(&spki, scheme, &msg, &sig)
            .expect("the signature just made verifies");
        c.benchmark_group(op::ED25519_VERIFY)
            .bench_function(p.name(), |b| {
                b.iter(|| p.verify(&spki, scheme, black_box(&msg), &sig).unwrap())
            });
    }
}

fn sha256(c: &mut Criterion) {
    for (name, len) in [(op::SHA256_1K, 1024), (op::SHA256_16K, 16 * 1024)] {
        let data = message(len);
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(len as u64));
        for p in providers() {
            g.bench_function(p.name(), |b| {
                b.iter(|| p.digest(HashAlg::Sha256, black_box(&data)))
            });
        }
        g.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    rsa(&mut c);
    p256(&mut c);
    ed25519(&mut c);
    sha256(&mut c);
    c.final_summary();
}
