//! CMS SignedData verify and EnvelopedData open of a 1 KiB content, once per compiled provider,
//! on messages made by `openssl cms` (so the parse is part of the work, as in a server).
//!
//! Group = operation ([`benches::op`]), function = provider name.

use std::hint::black_box;

use benches::pki::cms::{EnvelopedData, OpenOptions, SignedData, VerifyOptions};
use benches::pki::der::Decode;
use benches::pki::verify::Policy;
use benches::pki::x509_cert::Certificate;
use benches::{CMS_CONTENT_LEN, keys, message, op, providers, rng};
use criterion::Criterion;

fn signed_data(c: &mut Criterion) {
    let der = &keys().signed_data;
    let opts = VerifyOptions::new(Policy::default());
    for p in providers() {
        let verified = SignedData::from_der(der)
            .and_then(|sd| sd.verify(p, &opts))
            .unwrap_or_else(|e| panic!("{}: openssl's SignedData verifies: {e}", p.name()));
        drop(verified);
        c.benchmark_group(op::CMS_SIGNED_VERIFY)
            .bench_function(p.name(), |b| {
                b.iter(|| {
                    SignedData::from_der(black_box(der))
                        .and_then(|sd| sd.verify(p, &opts))
                        .unwrap()
                })
            });
    }
}

fn enveloped_data(c: &mut Criterion) {
    let k = keys();
    let cert = Certificate::from_der(&k.rsa2048_cert).expect("openssl's certificate parses");
    let opts = OpenOptions::new().recipient_certificate(cert);
    for p in providers() {
        let key = p
            .private_key_from_pkcs8_der(&k.rsa2048)
            .expect("RSA key loads");
        let mut r = rng(4);
        let content = EnvelopedData::from_der(&k.enveloped_data)
            .and_then(|env| env.open(p, key.as_ref(), &opts, &mut r))
            .unwrap_or_else(|e| panic!("{}: openssl's EnvelopedData opens: {e}", p.name()));
        assert_eq!(*content, message(CMS_CONTENT_LEN), "{}", p.name());
        c.benchmark_group(op::CMS_ENVELOPED_OPEN)
            .sample_size(20)
            .bench_function(p.name(), |b| {
                b.iter(|| {
                    EnvelopedData::from_der(black_box(&k.enveloped_data))
                        .and_then(|env| env.open(p, key.as_ref(), &opts, &mut r))
                        .unwrap()
                })
            });
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    signed_data(&mut c);
    enveloped_data(&mut c);
    c.final_summary();
}
