//! OAuth 1.0a request signing with HMAC-SHA1 (RFC 5849 section 3.4), as pure functions.
//!
//! ```text
//!   base string = METHOD & enc(scheme://host[:port]/path)
//!                        & enc( sorted "enc(name)=enc(value)" joined by "&" )
//!                 over query parameters + form parameters + oauth_* parameters
//!                 (realm and oauth_signature left out)
//!   key         = enc(consumer_secret) & enc(token_secret)
//!   signature   = base64( HMAC-SHA1(key, base string) )
//!   enc         = RFC 3986 percent-encoding; unreserved = ALPHA DIGIT - . _ ~
//! ```
//!
//! Nonce and timestamp are arguments; nothing here reads a clock or draws randomness. ADE uses
//! this only for `GET /session` ([`crate::session::Session`]), but the signer is general: any
//! method, query and `application/x-www-form-urlencoded` body parameters, host and port
//! normalised as section 3.4.1.2 says.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Everything except RFC 3986 unreserved characters is encoded (RFC 5849 section 3.6).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// RFC 5849 section 3.6 percent-encoding of a UTF-8 string (upper-case hex).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODE).to_string()
}

/// What to sign: a request and its parameters, all values decoded (not yet percent-encoded).
#[derive(Clone, Copy)]
pub struct SigningRequest<'a> {
    /// HTTP method, any case (it is upper-cased).
    pub method: &'a str,
    /// The absolute request URL; its query parameters are signed.
    pub url: &'a str,
    /// `application/x-www-form-urlencoded` body parameters, decoded; empty for other bodies.
    pub form: &'a [(&'a str, &'a str)],
    /// The protocol parameters (`oauth_consumer_key`, `oauth_token`, `oauth_nonce`, …, and
    /// `realm` if used). `realm` and `oauth_signature` are left out of the base string.
    pub oauth: &'a [(&'a str, &'a str)],
    /// The client (consumer) shared secret.
    pub consumer_secret: &'a str,
    /// The token shared secret (empty when there is no token).
    pub token_secret: &'a str,
}

impl core::fmt::Debug for SigningRequest<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("form_len", &self.form.len())
            .field(
                "oauth_names",
                &self.oauth.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The outcome of signing: the base string (for comparison with a peer's) and the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    /// The signature base string (RFC 5849 section 3.4.1).
    pub base_string: String,
    /// `oauth_signature`: base64 of the HMAC-SHA1, not yet percent-encoded.
    pub signature: String,
}

impl core::fmt::Debug for Signature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Signature(<redacted>)")
    }
}

/// Sign a request with HMAC-SHA1.
///
/// Fails with [`Error::ApiMisuse`] when the URL is not absolute (`scheme://host/...`) or the
/// method is empty.
pub fn sign(req: &SigningRequest<'_>) -> Result<Signature> {
    let base_string = base_string(req)?;
    let key = Zeroizing::new(format!(
        "{}&{}",
        encode(req.consumer_secret),
        encode(req.token_secret)
    ));
    let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key.as_bytes())
        .map_err(|_| Error::ApiMisuse("HMAC key rejected"))?;
    mac.update(base_string.as_bytes());
    let tag = mac.finalize().into_bytes();
    Ok(Signature {
        base_string,
        signature: base64::engine::general_purpose::STANDARD.encode(tag),
    })
}

/// The signature base string alone (RFC 5849 section 3.4.1).
pub fn base_string(req: &SigningRequest<'_>) -> Result<String> {
    if req.method.is_empty() || !req.method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Error::ApiMisuse(
            "HTTP method must be a non-empty token of letters",
        ));
    }
    let (base_uri, query) = base_uri(req.url)?;
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(q) = query {
        params.extend(
            parse_form(q)
                .into_iter()
                .map(|(k, v)| (encode(&k), encode(&v))),
        );
    }
    params.extend(req.form.iter().map(|(k, v)| (encode(k), encode(v))));
    params.extend(
        req.oauth
            .iter()
            .filter(|(k, _)| *k != "realm" && *k != "oauth_signature")
            .map(|(k, v)| (encode(k), encode(v))),
    );
    params.sort();
    let normalised = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    Ok(format!(
        "{}&{}&{}",
        req.method.to_ascii_uppercase(),
        encode(&base_uri),
        encode(&normalised)
    ))
}

/// Decode an `application/x-www-form-urlencoded` string (a query or a body): `+` is a space,
/// `%XX` a byte; invalid UTF-8 is replaced.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// RFC 5849 section 3.4.1.2: lower-case scheme and host, default port dropped, path as sent
/// (`/` when empty); the query is returned apart.
fn base_uri(url: &str) -> Result<(String, Option<&str>)> {
    const BAD: Error = Error::ApiMisuse("URL to sign must be absolute: scheme://host[:port]/path");
    let (scheme, rest) = url.split_once("://").ok_or(BAD)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return Err(BAD);
    }
    let rest = rest.split_once('#').map_or(rest, |(a, _)| a);
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i..]),
        None => (before_query, "/"),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let authority = authority.to_ascii_lowercase();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => {
            let port: u16 = p.parse().map_err(|_| BAD)?;
            (h.to_owned(), Some(port))
        }
        _ => (authority.clone(), None),
    };
    if host.is_empty() {
        return Err(BAD);
    }
    let default = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let host_port = match port {
        Some(p) if Some(p) != default => format!("{host}:{p}"),
        _ => host,
    };
    Ok((format!("{scheme}://{host_port}{path}"), query))
}

/// The `Authorization: OAuth …` header value for `oauth` parameters and a signature.
///
/// `realm` (if present) comes first and is quoted as is; every other value is percent-encoded
/// and quoted (RFC 5849 section 3.5.1), `oauth_signature` last.
pub fn authorization_header(oauth: &[(&str, &str)], signature: &Signature) -> String {
    let mut parts = Vec::with_capacity(oauth.len() + 1);
    if let Some((_, realm)) = oauth.iter().find(|(k, _)| *k == "realm") {
        parts.push(format!("realm=\"{}\"", realm.replace(['"', '\\'], "")));
    }
    for (k, v) in oauth
        .iter()
        .filter(|(k, _)| *k != "realm" && *k != "oauth_signature")
    {
        parts.push(format!("{}=\"{}\"", encode(k), encode(v)));
    }
    parts.push(format!(
        "oauth_signature=\"{}\"",
        encode(&signature.signature)
    ));
    format!("OAuth {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_uri_normalisation() {
        assert_eq!(
            base_uri("HTTP://Example.COM:80/a?b=c").unwrap(),
            ("http://example.com/a".to_owned(), Some("b=c"))
        );
        assert_eq!(
            base_uri("https://example.com:8443").unwrap().0,
            "https://example.com:8443/"
        );
        assert!(base_uri("/relative").is_err());
        assert!(base_uri("http://:80/").is_err());
        assert!(base_uri("http://h:99999/").is_err());
    }

    #[test]
    fn encode_is_rfc3986() {
        assert_eq!(encode("a b+*~"), "a%20b%2B%2A~");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
