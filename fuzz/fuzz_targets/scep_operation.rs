//! `scep::Operation::from_request` on an arbitrary request: the first byte picks GET or POST,
//! the bytes up to the first NUL are the query string, the rest is the body. A `Result`,
//! never a panic; an operation that is read is written back as a request and read again to
//! the same operation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scep::http::{Method, Request, Uri};
use scep::{Limits, Operation};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let (query, body) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let method = if first & 1 == 0 {
        Method::GET
    } else {
        Method::POST
    };
    let uri = format!("/scep?{}", String::from_utf8_lossy(query));
    let Ok(uri) = uri.parse::<Uri>() else {
        return;
    };
    let Ok(req) = Request::builder()
        .method(method)
        .uri(uri)
        .body(body.to_vec())
    else {
        return;
    };
    let limits = Limits::default();
    let Ok(op) = Operation::from_request(&req, &limits) else {
        return;
    };
    let base: Uri = "http://127.0.0.1/scep".parse().expect("fixed URI parses");
    for post in [false, true] {
        if let Ok(again) = op.to_request(&base, post) {
            let back = Operation::from_request(&again, &limits)
                .expect("a request written by to_request reads back");
            assert_eq!(format!("{back:?}"), format!("{op:?}"));
        }
    }
});
