//! The one error type of this crate, and its single mapping onto HTTP status codes.

use http::StatusCode;

use crate::model::AuthSetStatus;

/// Everything that can go wrong in `devauth`.
///
/// Each variant says what was wrong in words an operator can act on. The HTTP answer is derived
/// from the variant in one place, [`Error::status`]: on the device side a malformed request is
/// 400 and every refusal to admit (bad signature, pending, rejected, over the limit, bad token)
/// is 401; on the management side bad input is 400, unknown records 404, a preauthorization
/// clash 409 and the device limit 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- auth request: malformed (400) ----
    /// The request body is larger than the configured cap (checked before any parsing or crypto).
    #[error("request body is {len} bytes, over the limit of {limit}")]
    BodyTooLarge {
        /// The body's size.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The `X-MEN-Signature` header is missing, repeated, too long or not standard base64.
    #[error("bad X-MEN-Signature header: {0}")]
    SignatureHeader(&'static str),
    /// The body is not the JSON the endpoint expects.
    #[error("malformed request body: {0}")]
    MalformedBody(String),
    /// A required field is missing or empty.
    #[error("{0} must be provided")]
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    #[error("{field} must be {expected}, found a JSON {found}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
        /// The JSON kind received.
        found: &'static str,
    },
    /// The key is a PKCS#1 `RSA PUBLIC KEY` PEM; only PKIX `PUBLIC KEY` is accepted.
    #[error(
        "cannot decode public key: PKCS#1 \"RSA PUBLIC KEY\" PEM is not accepted, send the PKIX \"PUBLIC KEY\" form (openssl rsa -pubout)"
    )]
    Pkcs1PublicKey,
    /// The public key is not a usable PKIX `PUBLIC KEY` (not PEM, bad DER, unsupported algorithm
    /// such as DSA, or refused by policy).
    #[error("cannot decode public key: {0}")]
    BadPublicKey(String),
    /// The identity (`id_data` or `identity_data`) is not a JSON object with at least one
    /// attribute; `reason` is the decoder's message (Go's wording where Go would fail too).
    #[error("invalid identity data: {reason}")]
    BadIdentity {
        /// What is wrong.
        reason: String,
    },

    // ---- device side refusals (401) ----
    /// The signature does not verify over the exact body with the key the body carries.
    #[error("signature verification failed")]
    SignatureInvalid,
    /// The auth set is pending an operator's decision.
    #[error("device is not accepted: its auth set is pending")]
    Pending,
    /// The auth set was rejected.
    #[error("device is not accepted: its auth set is rejected")]
    Rejected,
    /// Admitting this device (its preauthorized set) would exceed the device limit.
    #[error("device limit of {limit} accepted devices reached")]
    DeviceLimitReached {
        /// The limit in force.
        limit: u64,
    },
    /// The device already has as many auth sets as allowed; a new key is refused.
    #[error("device has {limit} auth sets, no more keys are accepted")]
    TooManyAuthSets {
        /// The limit in force.
        limit: usize,
    },
    /// The device is being decommissioned.
    #[error("device is being decommissioned")]
    Decommissioning,

    // ---- tokens (401) ----
    /// The token is not a well-formed JWT of the shape this service issues.
    #[error("malformed token: {0}")]
    TokenMalformed(String),
    /// The token's `alg` is not allowed (never `none`, never HMAC) or does not fit the key.
    #[error("token algorithm not allowed: {0}")]
    TokenAlgorithm(String),
    /// The token's signature does not verify.
    #[error("token signature verification failed")]
    TokenSignature,
    /// The token expired (beyond the leeway).
    #[error("token expired at {exp}, now {now}")]
    TokenExpired {
        /// The `exp` claim.
        exp: u64,
        /// The time of the check.
        now: u64,
    },
    /// The token's `jti` (auth set) was revoked (the set was rejected, deleted or its device
    /// decommissioned), or the set or device is no longer accepted.
    #[error("token revoked")]
    TokenRevoked,
    /// The auth request's tenant token did not verify against the tenant service's key.
    #[error("tenant token refused: {0}")]
    TenantToken(String),

    // ---- management side ----
    /// A query parameter or body field has a value the API does not know.
    #[error("invalid {what}: {value:?}")]
    InvalidParameter {
        /// Which parameter.
        what: &'static str,
        /// The value received.
        value: String,
    },
    /// A status change the admission rules do not allow.
    #[error("auth set status cannot change from {from} to {to}")]
    TransitionNotAllowed {
        /// The current status.
        from: AuthSetStatus,
        /// The requested status.
        to: AuthSetStatus,
    },
    /// No such device, auth set or route.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The method is not allowed on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Preauthorization clashes with an existing device (use `force` to add a preauthorized set
    /// to it) or with an existing auth set for the same key.
    #[error("device {device_id} already exists with this identity")]
    Conflict {
        /// The existing device.
        device_id: String,
    },
    /// Accepting would exceed the device limit (management side).
    #[error("accepting this device would exceed the limit of {limit} accepted devices")]
    LimitExceeded {
        /// The limit in force.
        limit: u64,
    },

    // ---- store and internals ----
    /// A decision's precondition no longer holds (another decision was applied first): compute
    /// the decision again from a fresh snapshot.
    #[error("records changed since the snapshot: {0}")]
    StaleSnapshot(&'static str),
    /// A crypto operation on our side (minting a token, loading a signing key) failed.
    #[error("crypto failure: {0}")]
    Crypto(#[from] pki::Error),
    /// The caller's store could not answer (a database error): our fault, never the client's.
    #[error("device-auth store failed: {0}")]
    Store(String),
}

impl Error {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        use Error::*;
        match self {
            BodyTooLarge { .. }
            | SignatureHeader(_)
            | MalformedBody(_)
            | MissingField(_)
            | WrongType { .. }
            | Pkcs1PublicKey
            | BadPublicKey(_)
            | BadIdentity { .. }
            | InvalidParameter { .. }
            | TransitionNotAllowed { .. } => StatusCode::BAD_REQUEST,
            SignatureInvalid
            | Pending
            | Rejected
            | DeviceLimitReached { .. }
            | TooManyAuthSets { .. }
            | Decommissioning
            | TokenMalformed(_)
            | TokenAlgorithm(_)
            | TokenSignature
            | TokenExpired { .. }
            | TokenRevoked
            | TenantToken(_) => StatusCode::UNAUTHORIZED,
            NotFound(_) => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict { .. } | StaleSnapshot(_) => StatusCode::CONFLICT,
            LimitExceeded { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Crypto(_) | Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error as Mender's error body, `{"error": "...", "request_id": "..."}`, with its
    /// status. Our own faults (500) say only "internal error": their cause is for the log,
    /// not for the peer.
    pub fn to_response(&self, request_id: &str) -> http::Response<Vec<u8>> {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        crate::api::json_response(
            status,
            &serde_json::json!({ "error": message, "request_id": request_id }),
        )
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
