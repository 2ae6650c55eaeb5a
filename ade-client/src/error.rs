//! The one error type of this crate, the classified Apple error codes, and `Retry-After`.

use crate::open_enum::open_enum;

/// Most bytes of a response body kept in [`ApiError::body`].
pub const MAX_ERROR_BODY: usize = 2048;

/// Everything that can go wrong in `ade-client`.
///
/// Three families: the caller misused the API ([`Error::ApiMisuse`], [`Error::TooManySerials`]),
/// the server token could not be read ([`Error::Token`]), and Apple answered with something other
/// than success ([`Error::Api`], [`Error::ActionRequired`], [`Error::SessionRejected`],
/// [`Error::Throttled`], [`Error::BodyTooLarge`], [`Error::MalformedBody`]). No variant ever
/// carries a secret: token values, OAuth signatures and session tokens are never formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller used the API out of order or with values that cannot be sent (an empty
    /// User-Agent, a sync step taken before the previous page was stored).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
    /// More serial numbers than one request may carry; split them with [`crate::batches`].
    #[error("{len} serial numbers in one request, over Apple's limit of {max}")]
    TooManySerials {
        /// How many were given.
        len: usize,
        /// The limit (1,000).
        max: usize,
    },
    /// The server token file could not be read or decrypted.
    #[error("server token: {0}")]
    Token(#[from] TokenError),
    /// Apple answered with an error status that the client cannot handle on its own.
    #[error("{0}")]
    Api(ApiError),
    /// Apple refused for a reason only a person can fix in Apple Business (or School) Manager:
    /// new terms and conditions to accept, a revoked or replaced server token, a bad signature.
    /// Retrying will not help; download a new token or accept the terms first.
    #[error(
        "Apple refused with HTTP {status}{}: a person must act in Apple Business Manager (accept the terms, or download a new server token)",
        code.as_ref().map(|c| format!(" {c}")).unwrap_or_default()
    )]
    ActionRequired {
        /// The HTTP status.
        status: u16,
        /// The classified Apple code; `None` when `GET /session` was refused (401/403) with a
        /// body that names no code.
        code: Option<ErrorCode>,
    },
    /// The request was still refused as unauthorised after the session was renewed once. The
    /// client stops here rather than renewing in a loop.
    #[error("HTTP {status} after renewing the session once: the server token may be revoked")]
    SessionRejected {
        /// The HTTP status of the second refusal.
        status: u16,
    },
    /// Apple asked the caller to slow down (HTTP 429, or 503 with `Retry-After`).
    #[error("throttled by Apple (HTTP {status}): {retry_after}")]
    Throttled {
        /// The HTTP status.
        status: u16,
        /// How long to wait before trying again.
        retry_after: RetryAfter,
    },
    /// A response body is larger than the cap for its endpoint.
    #[error("response body is {len} bytes, over the limit of {limit}")]
    BodyTooLarge {
        /// The body's size.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A response body is not the JSON the endpoint returns (not JSON, wrong types, missing
    /// fields). `reason` names the position, never the content.
    #[error("malformed {what} response: {reason}")]
    MalformedBody {
        /// Which response.
        what: &'static str,
        /// What is wrong, by position.
        reason: String,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why a server token could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The input is empty.
    #[error("input is empty")]
    Empty,
    /// The input is larger than [`crate::token::MAX_TOKEN_FILE`].
    #[error("input is {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Input size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Neither a MIME `.p7m`, bare base64, nor BER/DER.
    #[error("not an S/MIME .p7m, base64 or BER: {0}")]
    Format(&'static str),
    /// The CMS layer failed: malformed EnvelopedData, a token sealed for another key
    /// (`recipient not found`), or decryption failure.
    #[error("CMS EnvelopedData: {0}")]
    Cms(pki::Error),
    /// The decrypted content has no `-----BEGIN MESSAGE-----` block.
    #[error("decrypted content has no BEGIN/END MESSAGE block")]
    NoMessage,
    /// The JSON inside the message block is malformed or misses a field.
    #[error("token JSON: {0}")]
    Json(String),
}

/// An error answer from Apple: status, classified code and the start of the body.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("Apple answered HTTP {status}{}", self.code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The Apple error code found in the body, if any.
    pub code: Option<ErrorCode>,
    /// The body, cut at [`MAX_ERROR_BODY`] bytes.
    pub body: Vec<u8>,
    /// Whether the body was cut.
    pub truncated: bool,
}

impl core::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("truncated", &self.truncated)
            .finish()
    }
}

impl ApiError {
    /// Build from a status and body: classify the code and cap the body.
    pub fn new(status: u16, body: &[u8]) -> Self {
        let truncated = body.len() > MAX_ERROR_BODY;
        ApiError {
            status,
            code: ErrorCode::classify(body),
            body: body[..body.len().min(MAX_ERROR_BODY)].to_vec(),
            truncated,
        }
    }
}

impl Error {
    /// The classified Apple code behind this error, if there is one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Api(a) => a.code.as_ref(),
            Error::ActionRequired { code, .. } => code.as_ref(),
            _ => None,
        }
    }
}

open_enum! {
    /// The error codes Apple's ADE service puts in error bodies (the table in the vectors:
    /// cursor, validation, authentication, Activation Lock, beta, account-driven enrollment and
    /// OAuth codes). Use [`ErrorCode::kind`] to learn what to do about one.
    pub enum ErrorCode {
        /// No cursor in a request that needs one.
        CursorRequired = "CURSOR_REQUIRED",
        /// The cursor is not one Apple issued.
        InvalidCursor = "INVALID_CURSOR",
        /// A fetch cursor has returned everything; continue with sync.
        ExhaustedCursor = "EXHAUSTED_CURSOR",
        /// The cursor is older than 7 days; start again with a fetch.
        ExpiredCursor = "EXPIRED_CURSOR",
        /// The User-Agent is not acceptable.
        UserAgentInvalid = "USER_AGENT_INVALID",
        /// No User-Agent.
        UserAgentMissing = "USER_AGENT_MISSING",
        /// The body is not valid JSON.
        MalformedRequestBody = "MALFORMED_REQUEST_BODY",
        /// No serial numbers in the request.
        DeviceIdRequired = "DEVICE_ID_REQUIRED",
        /// No profile UUID in the request.
        ProfileUuidRequired = "PROFILE_UUID_REQUIRED",
        /// The profile UUID is unknown.
        ProfileNotFound = "PROFILE_NOT_FOUND",
        /// A profile or service-discovery URL is unknown.
        NotFound = "NOT_FOUND",
        /// profile_name empty or too long.
        ConfigNameInvalid = "CONFIG_NAME_INVALID",
        /// profile_name missing.
        ConfigNameRequired = "CONFIG_NAME_REQUIRED",
        /// url empty or too long.
        ConfigUrlInvalid = "CONFIG_URL_INVALID",
        /// url missing.
        ConfigUrlRequired = "CONFIG_URL_REQUIRED",
        /// department empty or too long.
        DepartmentInvalid = "DEPARTMENT_INVALID",
        /// Inconsistent flags (is_mdm_removable false needs is_supervised).
        FlagsInvalid = "FLAGS_INVALID",
        /// Unsupported language/region combination.
        LocaleInvalid = "LOCALE_INVALID",
        /// org_magic empty or too long.
        MagicInvalid = "MAGIC_INVALID",
        /// support_email_address empty or too long.
        SupportEmailInvalid = "SUPPORT_EMAIL_INVALID",
        /// support_phone_number empty or too long.
        SupportPhoneInvalid = "SUPPORT_PHONE_INVALID",
        /// The session token has expired: renew it.
        Unauthorized = "UNAUTHORIZED",
        /// The organisation has not accepted the latest terms and conditions.
        TermsNotSigned = "T_C_NOT_SIGNED",
        /// The session token is not valid: renew it.
        Forbidden = "FORBIDDEN",
        /// The server token's access was denied.
        AccessDenied = "ACCESS_DENIED",
        /// OAuth: the access token was rejected (revoked, replaced or expired server token).
        TokenRejected = "token_rejected",
        /// OAuth: the request signature does not verify.
        SignatureInvalid = "signature_invalid",
        /// OAuth: unsupported parameters or signature method.
        OauthBadRequest = "OAUTH_BAD_REQUEST",
        /// OAuth: bad consumer key, token or signature.
        OauthUnauthorized = "OAUTH_UNAUTHORIZED",
        /// OAuth: the server or its keys may not use this service.
        OauthForbidden = "OAUTH_FORBIDDEN",
        /// A device is not accessible to this server.
        NotAccessible = "NOT_ACCESSIBLE",
        /// Activation Lock is not supported on this device type.
        DeviceNotSupported = "DEVICE_NOT_SUPPORTED",
        /// The device is already Activation-Locked.
        DeviceAlreadyLocked = "DEVICE_ALREADY_LOCKED",
        /// The operation failed on Apple's side.
        Failed = "FAILED",
        /// The organisation does not allow beta access.
        AppleSeedForItTurnedOff = "APPLE_SEED_FOR_IT_TURNED_OFF",
        /// Account-driven enrollment is not supported for this organisation.
        OrgNotSupported = "ORG_NOT_SUPPORTED",
        /// The service-discovery URL is missing.
        MdmServiceDiscoveryUrlRequired = "MDM_SERVICE_DISCOVERY_URL_REQUIRED",
        /// The service-discovery URL is malformed or unreachable.
        MdmServiceDiscoveryUrlNotValid = "MDM_SERVICE_DISCOVERY_URL_NOT_VALID",
    }
}

/// What an [`ErrorCode`] asks the client (or a person) to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The cursor is unusable; the sync machine restarts or switches mode.
    Cursor,
    /// The session expired or is invalid: renew it once and retry.
    RenewSession,
    /// Only a person in Apple Business Manager can fix it; never retried.
    ActionRequired,
    /// The request was wrong (validation, missing fields, unknown profile).
    BadRequest,
    /// A per-device or per-organisation refusal.
    Refused,
    /// A code this crate does not know.
    Unknown,
}

impl ErrorCode {
    /// Find an Apple error code in an error body.
    ///
    /// Apple sends either the bare code as text (`EXPIRED_CURSOR`, sometimes with a trailing
    /// newline or a message after it), a JSON string, or a JSON object with a `code`,
    /// `error_code` or `error` field. The first run of `[A-Za-z0-9_]` is the candidate; a
    /// candidate that does not look like a code (lower-case prose) gives `None`.
    pub fn classify(body: &[u8]) -> Option<ErrorCode> {
        let head = &body[..body.len().min(MAX_ERROR_BODY)];
        let text = core::str::from_utf8(head).ok()?.trim();
        let candidate: String = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(serde_json::Value::Object(m)) => ["code", "error_code", "error"]
                .iter()
                .find_map(|k| m.get(*k).and_then(|v| v.as_str()).map(str::to_owned))?,
            _ => text.to_owned(),
        };
        let token: String = candidate
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if token.is_empty() {
            return None;
        }
        let code = ErrorCode::parse(&token);
        match &code {
            ErrorCode::Other(s)
                if !s.contains('_') && s.chars().any(|c| c.is_ascii_lowercase()) =>
            {
                None
            }
            _ => Some(code),
        }
    }

    /// What the code asks for.
    pub fn kind(&self) -> ErrorKind {
        use ErrorCode as C;
        match self {
            C::InvalidCursor | C::ExhaustedCursor | C::ExpiredCursor | C::CursorRequired => {
                ErrorKind::Cursor
            }
            C::Unauthorized | C::Forbidden => ErrorKind::RenewSession,
            C::TermsNotSigned
            | C::AccessDenied
            | C::TokenRejected
            | C::SignatureInvalid
            | C::OauthUnauthorized
            | C::OauthForbidden
            | C::OauthBadRequest => ErrorKind::ActionRequired,
            C::NotAccessible
            | C::DeviceNotSupported
            | C::DeviceAlreadyLocked
            | C::Failed
            | C::AppleSeedForItTurnedOff
            | C::OrgNotSupported => ErrorKind::Refused,
            C::Other(_) => ErrorKind::Unknown,
            _ => ErrorKind::BadRequest,
        }
    }
}

/// How long Apple asked the caller to wait (`Retry-After`, RFC 9110 section 10.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAfter {
    /// Wait this many seconds.
    Seconds(u64),
    /// Wait until this time (Unix seconds), from an HTTP-date.
    Until(u64),
    /// No usable `Retry-After`: back off on the caller's own schedule.
    Unspecified,
}

impl RetryAfter {
    /// Read a `Retry-After` header value: delta-seconds or an IMF-fixdate.
    pub fn parse(value: Option<&[u8]>) -> RetryAfter {
        let Some(v) = value.and_then(|v| core::str::from_utf8(v).ok()) else {
            return RetryAfter::Unspecified;
        };
        let v = v.trim();
        if let Ok(s) = v.parse::<u64>() {
            return RetryAfter::Seconds(s);
        }
        parse_imf_fixdate(v).map_or(RetryAfter::Unspecified, RetryAfter::Until)
    }

    /// Seconds to wait from `now` (Unix seconds); `None` when unspecified.
    pub fn seconds_from(&self, now: u64) -> Option<u64> {
        match *self {
            RetryAfter::Seconds(s) => Some(s),
            RetryAfter::Until(t) => Some(t.saturating_sub(now)),
            RetryAfter::Unspecified => None,
        }
    }
}

impl core::fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RetryAfter::Seconds(s) => write!(f, "retry after {s} s"),
            RetryAfter::Until(t) => write!(f, "retry at Unix time {t}"),
            RetryAfter::Unspecified => f.write_str("no Retry-After given"),
        }
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` to Unix seconds.
fn parse_imf_fixdate(s: &str) -> Option<u64> {
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || parts.next().is_some() || !(1..=31).contains(&day) {
        return None;
    }
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = crate::time::days_from_civil(year, month, day)?;
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_bodies() {
        assert_eq!(
            ErrorCode::classify(b"EXPIRED_CURSOR"),
            Some(ErrorCode::ExpiredCursor)
        );
        assert_eq!(
            ErrorCode::classify(b"T_C_NOT_SIGNED\n"),
            Some(ErrorCode::TermsNotSigned)
        );
        assert_eq!(
            ErrorCode::classify(b"\"FORBIDDEN\""),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            ErrorCode::classify(br#"{"code":"token_rejected","message":"x"}"#),
            Some(ErrorCode::TokenRejected)
        );
        assert_eq!(
            ErrorCode::classify(b"NEW_CODE_2030"),
            Some(ErrorCode::Other("NEW_CODE_2030".into()))
        );
        assert_eq!(ErrorCode::classify(b"<html>oops</html>"), None);
        assert_eq!(ErrorCode::classify(b"Internal"), None);
        assert_eq!(ErrorCode::classify(&[0xff, 0xfe]), None);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(RetryAfter::parse(Some(b"120")), RetryAfter::Seconds(120));
        // RFC 9110 section 5.6.7 example date: 784111777.
        assert_eq!(
            RetryAfter::parse(Some(b"Sun, 06 Nov 1994 08:49:37 GMT")),
            RetryAfter::Until(784_111_777)
        );
        assert_eq!(RetryAfter::parse(Some(b"soon")), RetryAfter::Unspecified);
        assert_eq!(RetryAfter::parse(None), RetryAfter::Unspecified);
    }

    #[test]
    fn api_error_caps_body() {
        let e = ApiError::new(500, &vec![b'x'; 10_000]);
        assert_eq!(e.body.len(), MAX_ERROR_BODY);
        assert!(e.truncated);
    }
}
