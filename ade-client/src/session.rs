//! The ADE session: OAuth-signed `GET /session`, then `X-ADM-Auth-Session` on every call.
//!
//! ```text
//!                 ┌──────────── Call::start ────────────┐
//!                 ▼                                      │ session active
//!   no session ──GET /session (OAuth 1.0a)──▶ active ───┴──▶ API request + X-ADM-Auth-Session
//!        ▲                                     ▲  │                 │
//!        │       any response carrying a new   │  │                 ▼
//!        │       X-ADM-Auth-Session ───────────┘  │     2xx ──▶ parsed value (Step::Done)
//!        │                                        │     401, 403 FORBIDDEN ──▶ renew once,
//!        └──────────── invalidate ◀───────────────┘         then retry the same request;
//!                                                          a second refusal is SessionRejected
//!   T_C_NOT_SIGNED, ACCESS_DENIED, token_rejected, signature_invalid ──▶ ActionRequired (terminal)
//!   429 / 503 with Retry-After ──▶ Throttled { retry_after }
//! ```
//!
//! [`Session`] holds the server token and the current session token; [`Call`] drives one API
//! request through it. Neither does IO: the caller sends each [`http::Request`] and hands back
//! the [`http::Response`].

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, Request, Response, StatusCode};

use crate::error::{ApiError, Error, ErrorCode, ErrorKind, Result, RetryAfter};
use crate::oauth;
use crate::token::{Secret, ServerToken};

/// Apple's production ADE service.
pub const APPLE_BASE_URL: &str = "https://mdmenrollment.apple.com";

/// The newest `X-Server-Protocol-Version` the vectors document (the one current clients send).
pub const PROTOCOL_VERSION: u32 = 3;

/// The session token header, sent on every call and possibly rotated in any response.
pub const SESSION_HEADER: &str = "x-adm-auth-session";

/// The protocol version header.
pub const PROTOCOL_VERSION_HEADER: &str = "x-server-protocol-version";

/// Largest success body parsed (a 5,000-device page is about 3 MiB).
pub const MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;

/// Where and how to talk to Apple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    base_url: String,
    user_agent: String,
    protocol_version: u32,
    oauth_version: bool,
}

impl Config {
    /// A configuration for Apple's production service with the given `User-Agent` (Apple
    /// refuses requests without one: `USER_AGENT_MISSING`). Empty or non-visible-ASCII
    /// user agents are [`Error::ApiMisuse`].
    pub fn new(user_agent: &str) -> Result<Config> {
        if user_agent.trim().is_empty() || HeaderValue::from_str(user_agent).is_err() {
            return Err(Error::ApiMisuse(
                "the User-Agent must be a non-empty header value naming the MDM server",
            ));
        }
        Ok(Config {
            base_url: APPLE_BASE_URL.to_owned(),
            user_agent: user_agent.to_owned(),
            protocol_version: PROTOCOL_VERSION,
            oauth_version: true,
        })
    }

    /// Talk to another base URL (a test server, a proxy). It must be absolute
    /// (`http://127.0.0.1:8080`); a trailing `/` is dropped.
    pub fn with_base_url(mut self, base_url: &str) -> Result<Config> {
        let trimmed = base_url.trim_end_matches('/');
        if !(trimmed.starts_with("https://") || trimmed.starts_with("http://"))
            || trimmed.parse::<http::Uri>().is_err()
        {
            return Err(Error::ApiMisuse("base URL must be an absolute http(s) URL"));
        }
        self.base_url = trimmed.to_owned();
        Ok(self)
    }

    /// Send another `X-Server-Protocol-Version` (default [`PROTOCOL_VERSION`]).
    pub fn with_protocol_version(mut self, version: u32) -> Config {
        self.protocol_version = version;
        self
    }

    /// Whether `GET /session` carries `oauth_version="1.0"` (default yes; RFC 5849 makes it
    /// optional and Apple accepts both).
    pub fn with_oauth_version(mut self, include: bool) -> Config {
        self.oauth_version = include;
        self
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The User-Agent sent.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The protocol version sent.
    pub fn protocol_version(&self) -> u32 {
        self.protocol_version
    }

    /// A request to `path_and_query` with the headers every ADE call carries (User-Agent,
    /// `X-Server-Protocol-Version`, `Content-Type: application/json;charset=UTF8` and
    /// `Accept: application/json`, bodiless requests included) and no session yet.
    pub fn request(
        &self,
        method: Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<Request<Vec<u8>>> {
        Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base_url, path_and_query))
            .header(USER_AGENT, &self.user_agent)
            .header(PROTOCOL_VERSION_HEADER, self.protocol_version.to_string())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json;charset=UTF8")
            .body(body)
            .map_err(|_| Error::ApiMisuse("request URI or header is not valid HTTP"))
    }
}

/// Nonce and timestamp for the OAuth signature of `GET /session`, chosen by the caller.
///
/// The nonce must be unique per timestamp (16 random bytes in hex is plenty); the timestamp is
/// Unix seconds.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// Unix seconds.
    pub timestamp: u64,
    /// A fresh random string.
    pub nonce: &'a str,
}

/// The server token and the current session, shared by every call.
#[derive(Debug)]
pub struct Session {
    config: Config,
    token: ServerToken,
    auth: Option<Secret>,
    renewals: u64,
}

impl Session {
    /// A session for `token`, not yet opened.
    pub fn new(config: Config, token: ServerToken) -> Session {
        Session {
            config,
            token,
            auth: None,
            renewals: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server token.
    pub fn token(&self) -> &ServerToken {
        &self.token
    }

    /// Whether a session token is held.
    pub fn is_active(&self) -> bool {
        self.auth.is_some()
    }

    /// How many times `GET /session` has succeeded (the first opening included).
    pub fn sessions_opened(&self) -> u64 {
        self.renewals
    }

    /// Forget the session token (the next call opens a new session).
    pub fn invalidate(&mut self) {
        self.auth = None;
    }

    /// Use a session token obtained elsewhere (one cached from an earlier process).
    pub fn resume(&mut self, session_token: Secret) {
        self.auth = Some(session_token);
    }

    /// The current session token, to cache between processes. Never log it.
    pub fn session_token(&self) -> Option<&Secret> {
        self.auth.as_ref()
    }

    /// The OAuth-signed `GET /session` request.
    pub fn session_request(&self, stamp: Stamp<'_>) -> Result<Request<Vec<u8>>> {
        let mut req = self.config.request(Method::GET, "/session", Vec::new())?;
        let url = req.uri().to_string();
        let timestamp = stamp.timestamp.to_string();
        let mut params: Vec<(&str, &str)> = vec![
            ("oauth_consumer_key", &self.token.consumer_key),
            ("oauth_token", self.token.access_token.expose()),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", &timestamp),
            ("oauth_nonce", stamp.nonce),
        ];
        if self.config.oauth_version {
            params.push(("oauth_version", "1.0"));
        }
        let sig = oauth::sign(&oauth::SigningRequest {
            method: "GET",
            url: &url,
            form: &[],
            oauth: &params,
            consumer_secret: self.token.consumer_secret.expose(),
            token_secret: self.token.access_secret.expose(),
        })?;
        let header = oauth::authorization_header(&params, &sig);
        let mut value = HeaderValue::from_str(&header)
            .map_err(|_| Error::ApiMisuse("OAuth values must be visible ASCII"))?;
        value.set_sensitive(true);
        req.headers_mut().insert(AUTHORIZATION, value);
        Ok(req)
    }

    /// Read the answer to `GET /session`: on 200 the `auth_session_token` becomes current.
    ///
    /// A refusal is terminal: [`Error::ActionRequired`] when Apple names a code a person must
    /// act on (and for any 401/403: the OAuth credentials themselves were refused),
    /// [`Error::Throttled`] for 429/503, [`Error::Api`] otherwise. The body of a refusal is kept,
    /// but never a token.
    pub fn handle_session_response(&mut self, resp: &Response<Vec<u8>>) -> Result<()> {
        let status = resp.status();
        if !status.is_success() {
            let err = classify(resp);
            return Err(match err {
                Error::Api(ApiError {
                    status: s @ (401 | 403),
                    code,
                    ..
                }) => Error::ActionRequired { status: s, code },
                other => other,
            });
        }
        check_size(resp.body())?;
        const WHAT: &str = "GET /session";
        let v: serde_json::Value =
            serde_json::from_slice(resp.body()).map_err(|e| Error::MalformedBody {
                what: WHAT,
                reason: format!(
                    "not JSON ({:?} at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            })?;
        let token = v
            .get("auth_session_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty() && HeaderValue::from_str(t).is_ok())
            .ok_or(Error::MalformedBody {
                what: WHAT,
                reason: "auth_session_token missing, empty or not a header value".into(),
            })?;
        self.auth = Some(Secret::new(token));
        self.renewals += 1;
        Ok(())
    }

    /// Take over a rotated session token: Apple may send a new `X-ADM-Auth-Session` in any
    /// response, and the next call must use it.
    pub fn observe(&mut self, resp: &Response<Vec<u8>>) {
        if let Some(v) = resp.headers().get(SESSION_HEADER)
            && let Ok(s) = v.to_str()
            && !s.is_empty()
        {
            self.auth = Some(Secret::new(s));
        }
    }

    /// Add `X-ADM-Auth-Session` to a request; [`Error::ApiMisuse`] without a session.
    pub fn authorize(&self, mut req: Request<Vec<u8>>) -> Result<Request<Vec<u8>>> {
        let auth = self
            .auth
            .as_ref()
            .ok_or(Error::ApiMisuse("no session: send GET /session first"))?;
        let mut v = HeaderValue::from_str(auth.expose())
            .map_err(|_| Error::ApiMisuse("session token is not a header value"))?;
        v.set_sensitive(true);
        req.headers_mut().insert(SESSION_HEADER, v);
        Ok(req)
    }
}

pub(crate) fn check_size(body: &[u8]) -> Result<()> {
    if body.len() > MAX_RESPONSE_BODY {
        return Err(Error::BodyTooLarge {
            len: body.len(),
            limit: MAX_RESPONSE_BODY,
        });
    }
    Ok(())
}

/// The typed error for a non-success response (one place for every endpoint).
pub fn classify(resp: &Response<Vec<u8>>) -> Error {
    let status = resp.status();
    if status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::SERVICE_UNAVAILABLE
            && resp.headers().contains_key(http::header::RETRY_AFTER))
    {
        return Error::Throttled {
            status: status.as_u16(),
            retry_after: RetryAfter::parse(
                resp.headers()
                    .get(http::header::RETRY_AFTER)
                    .map(HeaderValue::as_bytes),
            ),
        };
    }
    let api = ApiError::new(status.as_u16(), resp.body());
    match &api.code {
        Some(code) if code.kind() == ErrorKind::ActionRequired => Error::ActionRequired {
            status: api.status,
            code: Some(code.clone()),
        },
        _ => Error::Api(api),
    }
}

/// Whether a refusal means "renew the session": 401, or 403 whose body is `FORBIDDEN` (or
/// `UNAUTHORIZED`).
fn wants_renewal(resp: &Response<Vec<u8>>) -> bool {
    let code = ErrorCode::classify(resp.body());
    match resp.status() {
        StatusCode::UNAUTHORIZED => code.is_none_or(|c| c.kind() != ErrorKind::ActionRequired),
        StatusCode::FORBIDDEN => code.is_some_and(|c| c.kind() == ErrorKind::RenewSession),
        _ => false,
    }
}

/// The next thing to do in a [`Call`].
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // both variants are large and short-lived; boxing buys nothing
pub enum Step<T> {
    /// Send this request and pass the response to [`Call::handle`].
    Send(Request<Vec<u8>>),
    /// The call is over.
    Done(T),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    AwaitSession,
    AwaitApi,
    Finished,
}

/// One API request driven through the [`Session`]: opens or renews the session as needed,
/// renews at most once, then parses the answer.
///
/// ```text
///   start ─▶ (GET /session ─▶)? request ─▶ 2xx ─▶ Done(parsed)
///                                  └─ 401 / 403 FORBIDDEN, first time ─▶ GET /session ─▶ request
///                                  └─ same, second time ─▶ Error::SessionRejected
/// ```
pub struct Call<T> {
    request: Request<Vec<u8>>,
    parse: fn(&Response<Vec<u8>>) -> Result<T>,
    phase: Phase,
    renewed: bool,
}

impl<T> core::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Call")
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .field("phase", &self.phase)
            .field("renewed", &self.renewed)
            .finish()
    }
}

impl<T> Call<T> {
    /// A call of `request` (built by one of [`crate::endpoints`]' builders) whose success body
    /// is read by `parse`.
    pub fn new(request: Request<Vec<u8>>, parse: fn(&Response<Vec<u8>>) -> Result<T>) -> Call<T> {
        Call {
            request,
            parse,
            phase: Phase::New,
            renewed: false,
        }
    }

    /// The API request this call is about (without the session header).
    pub fn request(&self) -> &Request<Vec<u8>> {
        &self.request
    }

    /// The first request to send: `GET /session` when no session is active, else the API
    /// request itself.
    pub fn start(&mut self, session: &Session, stamp: Stamp<'_>) -> Result<Request<Vec<u8>>> {
        if self.phase != Phase::New {
            return Err(Error::ApiMisuse("Call::start called twice"));
        }
        if session.is_active() {
            self.phase = Phase::AwaitApi;
            session.authorize(self.request.clone())
        } else {
            self.phase = Phase::AwaitSession;
            session.session_request(stamp)
        }
    }

    /// Handle the response to the last request sent. `stamp` is used only if the session must
    /// be renewed. Any error ends the call.
    pub fn handle(
        &mut self,
        session: &mut Session,
        resp: Response<Vec<u8>>,
        stamp: Stamp<'_>,
    ) -> Result<Step<T>> {
        let phase = core::mem::replace(&mut self.phase, Phase::Finished);
        match phase {
            Phase::New | Phase::Finished => {
                Err(Error::ApiMisuse("Call::handle without a request in flight"))
            }
            Phase::AwaitSession => {
                session.handle_session_response(&resp)?;
                self.phase = Phase::AwaitApi;
                Ok(Step::Send(session.authorize(self.request.clone())?))
            }
            Phase::AwaitApi => {
                session.observe(&resp);
                if resp.status().is_success() {
                    return Ok(Step::Done((self.parse)(&resp)?));
                }
                if wants_renewal(&resp) {
                    if self.renewed {
                        return Err(Error::SessionRejected {
                            status: resp.status().as_u16(),
                        });
                    }
                    self.renewed = true;
                    session.invalidate();
                    self.phase = Phase::AwaitSession;
                    return Ok(Step::Send(session.session_request(stamp)?));
                }
                Err(classify(&resp))
            }
        }
    }
}
