//! The HTTP carrier (RFC 8894 section 4): `GET|POST <path>?operation=OPERATION&message=MESSAGE`.
//!
//! ```text
//! GET  ?operation=GetCACaps[&message=ca-ident]          -> text/plain
//! GET  ?operation=GetCACert[&message=ca-ident]          -> application/x-x509-ca-cert
//!                                                          or application/x-x509-ca-ra-cert
//! GET  ?operation=GetNextCACert[&message=ca-ident]      -> application/x-x509-next-ca-cert
//! GET  ?operation=PKIOperation&message=<base64 pkiMessage>
//! POST ?operation=PKIOperation   body: pkiMessage      -> application/x-pki-message
//! ```

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::{Method, Request, Uri};

use crate::Error;

/// Size limits applied before any parsing or crypto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest pkiMessage accepted, in bytes (decoded).
    pub max_message: usize,
}

impl Default for Limits {
    /// 256 KiB: a PKCSReq with a 4096-bit key and a chain is under 16 KiB.
    fn default() -> Self {
        Limits {
            max_message: 256 * 1024,
        }
    }
}

/// A SCEP operation, as a server receives it or a client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// GetCACaps, with the optional CA identifier.
    GetCaCaps {
        /// The `message` parameter, if any.
        ca_ident: Option<String>,
    },
    /// GetCACert, with the optional CA identifier.
    GetCaCert {
        /// The `message` parameter, if any.
        ca_ident: Option<String>,
    },
    /// GetNextCACert, with the optional CA identifier.
    GetNextCaCert {
        /// The `message` parameter, if any.
        ca_ident: Option<String>,
    },
    /// PKIOperation: the pkiMessage bytes (BER or DER; not yet parsed).
    PkiOperation(Vec<u8>),
}

/// Standard-alphabet base64 that accepts input with or without padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Percent-decode a query component, keeping `+` as a literal plus (base64 uses it; the
/// form-encoding rule that turns `+` into a space does not apply to SCEP).
fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

fn query_params(uri: &Uri) -> Vec<(String, Vec<u8>)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (
                String::from_utf8_lossy(&percent_decode(k)).into_owned(),
                percent_decode(v),
            ),
            None => (
                String::from_utf8_lossy(&percent_decode(p)).into_owned(),
                Vec::new(),
            ),
        })
        .collect()
}

impl Operation {
    /// Read the operation from an HTTP request, enforcing `limits` before decoding.
    pub fn from_request(req: &Request<Vec<u8>>, limits: &Limits) -> Result<Self, Error> {
        let params = query_params(req.uri());
        let get = |name: &str| -> Option<&Vec<u8>> {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let op = get("operation").ok_or(Error::MissingParameter("operation"))?;
        let op = String::from_utf8_lossy(op).into_owned();
        let ca_ident = || get("message").map(|m| String::from_utf8_lossy(m).into_owned());
        let method = req.method();
        if method != Method::GET && method != Method::POST {
            return Err(Error::MethodNotAllowed(method.to_string()));
        }
        match op.as_str() {
            "GetCACaps" => Ok(Operation::GetCaCaps {
                ca_ident: ca_ident(),
            }),
            "GetCACert" => Ok(Operation::GetCaCert {
                ca_ident: ca_ident(),
            }),
            "GetNextCACert" => Ok(Operation::GetNextCaCert {
                ca_ident: ca_ident(),
            }),
            "PKIOperation" if method == Method::POST => {
                let body = req.body();
                if body.len() > limits.max_message {
                    return Err(Error::TooLarge {
                        len: body.len(),
                        limit: limits.max_message,
                    });
                }
                if let Some(ct) = req.headers().get(http::header::CONTENT_TYPE) {
                    let ct = ct.to_str().unwrap_or("").trim().to_ascii_lowercase();
                    let base = ct.split(';').next().unwrap_or("").trim();
                    // RFC 8894 names application/x-pki-message; octet-stream is what generic
                    // HTTP stacks send.
                    if !matches!(
                        base,
                        "application/x-pki-message" | "application/octet-stream"
                    ) {
                        return Err(Error::WrongContentType(ct));
                    }
                }
                if body.is_empty() {
                    return Err(Error::MissingParameter("message"));
                }
                Ok(Operation::PkiOperation(body.clone()))
            }
            "PKIOperation" => {
                let msg = get("message").ok_or(Error::MissingParameter("message"))?;
                // base64 grows by 4/3: refuse before decoding.
                if msg.len() / 4 * 3 > limits.max_message {
                    return Err(Error::TooLarge {
                        len: msg.len() / 4 * 3,
                        limit: limits.max_message,
                    });
                }
                let cleaned: Vec<u8> = msg
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                let der = B64
                    .decode(&cleaned)
                    .map_err(|e| Error::BadBase64(e.to_string()))?;
                if der.is_empty() {
                    return Err(Error::MissingParameter("message"));
                }
                Ok(Operation::PkiOperation(der))
            }
            other => Err(Error::UnknownOperation(other.to_owned())),
        }
    }

    /// The operation's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::GetCaCaps { .. } => "GetCACaps",
            Operation::GetCaCert { .. } => "GetCACert",
            Operation::GetNextCaCert { .. } => "GetNextCACert",
            Operation::PkiOperation(_) => "PKIOperation",
        }
    }

    /// Build the client's HTTP request to the SCEP endpoint `base` (e.g.
    /// `http://127.0.0.1:8080/scep`). PKIOperation goes by POST when `post` is true (the
    /// server's capabilities say POSTPKIOperation), else by GET with the message base64- and
    /// percent-encoded.
    pub fn to_request(&self, base: &Uri, post: bool) -> Result<Request<Vec<u8>>, Error> {
        const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let enc = |s: &[u8]| percent_encoding::percent_encode(s, COMPONENT).to_string();
        let path = base.path();
        let mut query = format!("operation={}", self.name());
        let mut body = Vec::new();
        let mut method = Method::GET;
        match self {
            Operation::GetCaCaps { ca_ident }
            | Operation::GetCaCert { ca_ident }
            | Operation::GetNextCaCert { ca_ident } => {
                if let Some(m) = ca_ident {
                    query.push_str("&message=");
                    query.push_str(&enc(m.as_bytes()));
                }
            }
            Operation::PkiOperation(der) if post => {
                method = Method::POST;
                body = der.clone();
            }
            Operation::PkiOperation(der) => {
                query.push_str("&message=");
                query.push_str(&enc(B64.encode(der).as_bytes()));
            }
        }
        let mut parts = base.clone().into_parts();
        parts.path_and_query = Some(
            format!("{path}?{query}")
                .parse()
                .map_err(|e: http::uri::InvalidUri| Error::BadHttp(e.to_string()))?,
        );
        let uri = Uri::from_parts(parts).map_err(|e| Error::BadHttp(e.to_string()))?;
        let mut builder = Request::builder().method(method).uri(uri);
        if !body.is_empty() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/x-pki-message");
        }
        builder
            .body(body)
            .map_err(|e| Error::BadHttp(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(uri: &str) -> Request<Vec<u8>> {
        Request::get(uri).body(Vec::new()).unwrap()
    }

    #[test]
    fn get_operations() {
        let l = Limits::default();
        assert_eq!(
            Operation::from_request(&get("/scep?operation=GetCACaps"), &l).unwrap(),
            Operation::GetCaCaps { ca_ident: None }
        );
        assert_eq!(
            Operation::from_request(&get("/scep?operation=GetCACert&message=ca%201"), &l).unwrap(),
            Operation::GetCaCert {
                ca_ident: Some("ca 1".into())
            }
        );
    }

    #[test]
    fn get_pkioperation_keeps_a_literal_plus() {
        // base64 of [0xfb, 0xef, 0xff] is "++//": a '+' left unescaped must stay a '+'.
        let req = get("/scep?operation=PKIOperation&message=++//");
        assert_eq!(
            Operation::from_request(&req, &Limits::default()).unwrap(),
            Operation::PkiOperation(vec![0xfb, 0xef, 0xff])
        );
        // The same with the characters percent-encoded, and with a newline in the middle.
        let req = get("/scep?operation=PKIOperation&message=%2B%2B%0A%2F%2F");
        assert_eq!(
            Operation::from_request(&req, &Limits::default()).unwrap(),
            Operation::PkiOperation(vec![0xfb, 0xef, 0xff])
        );
    }

    #[test]
    fn client_requests_parse_back() {
        let base: Uri = "http://127.0.0.1:8080/scep".parse().unwrap();
        let msg = vec![0x30, 0x03, 0xfb, 0xef, 0xff];
        for post in [false, true] {
            let op = Operation::PkiOperation(msg.clone());
            let req = op.to_request(&base, post).unwrap();
            assert_eq!(req.method() == Method::POST, post);
            assert_eq!(
                Operation::from_request(&req, &Limits::default()).unwrap(),
                op
            );
        }
        let op = Operation::GetCaCert {
            ca_ident: Some("a&b=c+d".into()),
        };
        let req = op.to_request(&base, false).unwrap();
        assert_eq!(
            Operation::from_request(&req, &Limits::default()).unwrap(),
            op
        );
    }

    #[test]
    fn bad_requests_get_typed_errors() {
        let l = Limits { max_message: 8 };
        assert!(matches!(
            Operation::from_request(&get("/scep"), &l),
            Err(Error::MissingParameter("operation"))
        ));
        assert!(matches!(
            Operation::from_request(&get("/scep?operation=Bogus"), &l),
            Err(Error::UnknownOperation(o)) if o == "Bogus"
        ));
        assert!(matches!(
            Operation::from_request(&get("/scep?operation=PKIOperation"), &l),
            Err(Error::MissingParameter("message"))
        ));
        assert!(matches!(
            Operation::from_request(&get("/scep?operation=PKIOperation&message=!!!!"), &l),
            Err(Error::BadBase64(_))
        ));
        let big = get(&format!(
            "/scep?operation=PKIOperation&message={}",
            "A".repeat(64)
        ));
        assert!(matches!(
            Operation::from_request(&big, &l),
            Err(Error::TooLarge { limit: 8, .. })
        ));
        let post = Request::post("/scep?operation=PKIOperation")
            .body(vec![0u8; 9])
            .unwrap();
        assert!(matches!(
            Operation::from_request(&post, &l),
            Err(Error::TooLarge { len: 9, limit: 8 })
        ));
        let wrong_type = Request::post("/scep?operation=PKIOperation")
            .header("content-type", "text/html")
            .body(vec![0u8; 4])
            .unwrap();
        assert!(matches!(
            Operation::from_request(&wrong_type, &l),
            Err(Error::WrongContentType(_))
        ));
        let put = Request::put("/scep?operation=GetCACaps")
            .body(Vec::new())
            .unwrap();
        assert!(matches!(
            Operation::from_request(&put, &l),
            Err(Error::MethodNotAllowed(_))
        ));
    }
}
