//! Check-in messages: decode, dispatch on `MessageType`, resolve the enrollment channel, answer.
//!
//! ```text
//! device ── PUT /checkin (application/x-apple-aspen-mdm-checkin, plist) ──▶ CheckInRequest::parse
//!                                                                            │ MessageType
//!        ◀── Answer::to_http (200 empty | 200 plist | 410) ◀── server decides ┘
//! ```
//!
//! Dispatch reads `MessageType` from the dictionary by hand and then decodes the generated type
//! for it, so `<data>` and `<date>` keep their plist types (serde's internally tagged enums
//! would buffer them as untyped content).

use plist::{Dictionary, Value};

use crate::error::{Error, Result};
use crate::generated::checkin::{
    Authenticate, CheckOut, DeclarativeManagement, GetBootstrapToken, GetToken, GetTokenResponse,
    ReturnToService, ReturnToServiceResponse, SetBootstrapToken, TokenUpdate, UserAuthenticate,
};
use crate::value::{self, Data, FromPlist, Limits, ToPlist};

/// What the generator knows about one check-in type (implemented by every message in
/// [`crate::generated::checkin`]).
pub trait CheckInSchema: FromPlist + ToPlist {
    /// The `MessageType`.
    const MESSAGE_TYPE: &'static str;
    /// The typed answer, for the check-ins that have one (empty struct otherwise).
    type Response: FromPlist + ToPlist;
    /// The schema file the type was generated from.
    const SCHEMA_PATH: &'static str;
}

/// The content type devices send check-ins with.
pub const CONTENT_TYPE: &str = "application/x-apple-aspen-mdm-checkin";

/// The `UserID` a Shared iPad sends for a user whose identity is its `UserShortName`.
pub const SHARED_IPAD_USER_ID: &str = "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF";

/// Every check-in message type, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckIn {
    /// `Authenticate`: the first message of an enrollment.
    Authenticate(Authenticate),
    /// `TokenUpdate`: push token, push magic and (device channel) unlock token.
    TokenUpdate(TokenUpdate),
    /// `CheckOut`: the MDM profile was removed.
    CheckOut(CheckOut),
    /// `UserAuthenticate`: the two-phase digest exchange for a macOS network user.
    UserAuthenticate(UserAuthenticate),
    /// `SetBootstrapToken`: escrow of the bootstrap token.
    SetBootstrapToken(SetBootstrapToken),
    /// `GetBootstrapToken`: the device asks for the escrowed token.
    GetBootstrapToken(GetBootstrapToken),
    /// `DeclarativeManagement`: a DDM endpoint request carried in a check-in.
    DeclarativeManagement(DeclarativeManagement),
    /// `GetToken`: a token for a service (such as Platform SSO).
    GetToken(GetToken),
    /// `ReturnToService`: the device asks for its Return to Service configuration.
    ReturnToService(ReturnToService),
}

impl CheckIn {
    /// The `MessageType`.
    pub fn message_type(&self) -> &'static str {
        match self {
            CheckIn::Authenticate(_) => "Authenticate",
            CheckIn::TokenUpdate(_) => "TokenUpdate",
            CheckIn::CheckOut(_) => "CheckOut",
            CheckIn::UserAuthenticate(_) => "UserAuthenticate",
            CheckIn::SetBootstrapToken(_) => "SetBootstrapToken",
            CheckIn::GetBootstrapToken(_) => "GetBootstrapToken",
            CheckIn::DeclarativeManagement(_) => "DeclarativeManagement",
            CheckIn::GetToken(_) => "GetToken",
            CheckIn::ReturnToService(_) => "ReturnToService",
        }
    }

    /// Decode a check-in from its plist dictionary, dispatching on `MessageType`.
    pub fn from_dictionary(d: Dictionary) -> Result<Self> {
        let mt = match d.get("MessageType") {
            None => {
                return Err(Error::MissingKey {
                    path: "MessageType".into(),
                });
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(Error::WrongType {
                    path: "MessageType".into(),
                    expected: "string",
                    found: value::type_name(other),
                });
            }
        };
        let v = Value::Dictionary(d);
        Ok(match mt.as_str() {
            "Authenticate" => CheckIn::Authenticate(FromPlist::from_plist(v)?),
            "TokenUpdate" => CheckIn::TokenUpdate(FromPlist::from_plist(v)?),
            "CheckOut" => CheckIn::CheckOut(FromPlist::from_plist(v)?),
            "UserAuthenticate" => CheckIn::UserAuthenticate(FromPlist::from_plist(v)?),
            "SetBootstrapToken" => CheckIn::SetBootstrapToken(FromPlist::from_plist(v)?),
            "GetBootstrapToken" => CheckIn::GetBootstrapToken(FromPlist::from_plist(v)?),
            "DeclarativeManagement" => CheckIn::DeclarativeManagement(FromPlist::from_plist(v)?),
            "GetToken" => CheckIn::GetToken(FromPlist::from_plist(v)?),
            "ReturnToService" => CheckIn::ReturnToService(FromPlist::from_plist(v)?),
            _ => return Err(Error::UnknownMessageType(mt)),
        })
    }
}

impl ToPlist for CheckIn {
    fn to_plist(&self) -> Value {
        match self {
            CheckIn::Authenticate(m) => m.to_plist(),
            CheckIn::TokenUpdate(m) => m.to_plist(),
            CheckIn::CheckOut(m) => m.to_plist(),
            CheckIn::UserAuthenticate(m) => m.to_plist(),
            CheckIn::SetBootstrapToken(m) => m.to_plist(),
            CheckIn::GetBootstrapToken(m) => m.to_plist(),
            CheckIn::DeclarativeManagement(m) => m.to_plist(),
            CheckIn::GetToken(m) => m.to_plist(),
            CheckIn::ReturnToService(m) => m.to_plist(),
        }
    }
}

/// Which MDM channel a message came on. Resolved from the identifier keys every check-in and
/// report carries:
///
/// ```text
/// UDID                                   → Device
/// UDID + UserID                          → User            (macOS user channel)
/// UDID + UserID FFFFFFFF-… + UserShortName → SharedIpadUser
/// EnrollmentID                           → UserEnrollmentDevice
/// EnrollmentID + EnrollmentUserID        → UserEnrollmentUser
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The device channel of a device enrollment.
    Device {
        /// `UDID`.
        udid: String,
    },
    /// A user channel (a macOS user).
    User {
        /// `UDID` of the device.
        udid: String,
        /// `UserID` (a GUID).
        user_id: String,
    },
    /// A Shared iPad user, known by short name (the device sends the all-F `UserID`).
    SharedIpadUser {
        /// `UDID` of the device.
        udid: String,
        /// `UserShortName` (the Managed Apple Account).
        user_short_name: String,
    },
    /// The device channel of a User Enrollment.
    UserEnrollmentDevice {
        /// `EnrollmentID`.
        enrollment_id: String,
    },
    /// The user channel of a User Enrollment.
    UserEnrollmentUser {
        /// `EnrollmentID` of the device channel.
        enrollment_id: String,
        /// `EnrollmentUserID`.
        enrollment_user_id: String,
    },
}

impl Channel {
    /// Resolve the channel from a check-in or report dictionary.
    pub fn from_dictionary(d: &Dictionary) -> Result<Self> {
        Self::from_lookup(|k| d.get(k))
    }

    /// Resolve the channel from whatever holds the identifying keys (`get` returns the value
    /// of a key), so a report can resolve it from the envelope keys it has already moved out.
    pub(crate) fn from_lookup<'v>(get: impl Fn(&str) -> Option<&'v Value>) -> Result<Self> {
        let s = |k: &str| -> Result<Option<String>> {
            match get(k) {
                None => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(Error::WrongType {
                    path: k.to_owned(),
                    expected: "string",
                    found: value::type_name(other),
                }),
            }
        };
        if let Some(udid) = s("UDID")? {
            let user_id = s("UserID")?;
            let short = s("UserShortName")?;
            return Ok(match (user_id, short) {
                (Some(uid), Some(short)) if uid.eq_ignore_ascii_case(SHARED_IPAD_USER_ID) => {
                    Channel::SharedIpadUser {
                        udid,
                        user_short_name: short,
                    }
                }
                (Some(uid), _) => Channel::User { udid, user_id: uid },
                (None, _) => Channel::Device { udid },
            });
        }
        if let Some(enrollment_id) = s("EnrollmentID")? {
            return Ok(match s("EnrollmentUserID")? {
                Some(enrollment_user_id) => Channel::UserEnrollmentUser {
                    enrollment_id,
                    enrollment_user_id,
                },
                None => Channel::UserEnrollmentDevice { enrollment_id },
            });
        }
        Err(Error::MissingKey {
            path: "UDID".into(),
        })
    }

    /// One stable identifier per channel, for a server's tables:
    /// `UDID`, `UDID:UserID`, `UDID:UserShortName`, `EnrollmentID`,
    /// `EnrollmentID:EnrollmentUserID`.
    pub fn id(&self) -> String {
        match self {
            Channel::Device { udid } => udid.clone(),
            Channel::User { udid, user_id } => format!("{udid}:{user_id}"),
            Channel::SharedIpadUser {
                udid,
                user_short_name,
            } => format!("{udid}:{user_short_name}"),
            Channel::UserEnrollmentDevice { enrollment_id } => enrollment_id.clone(),
            Channel::UserEnrollmentUser {
                enrollment_id,
                enrollment_user_id,
            } => format!("{enrollment_id}:{enrollment_user_id}"),
        }
    }

    /// The ID of the device channel this channel belongs to (itself for a device channel).
    pub fn device_id(&self) -> &str {
        match self {
            Channel::Device { udid }
            | Channel::User { udid, .. }
            | Channel::SharedIpadUser { udid, .. } => udid,
            Channel::UserEnrollmentDevice { enrollment_id }
            | Channel::UserEnrollmentUser { enrollment_id, .. } => enrollment_id,
        }
    }

    /// A user channel (any of the three kinds).
    pub fn is_user(&self) -> bool {
        matches!(
            self,
            Channel::User { .. }
                | Channel::SharedIpadUser { .. }
                | Channel::UserEnrollmentUser { .. }
        )
    }
}

/// A decoded check-in with the bytes it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckInRequest {
    /// The typed message.
    pub message: CheckIn,
    /// The channel it came on. `None` only for the check-ins that carry no identifier
    /// (`SetBootstrapToken`/`GetBootstrapToken` from Setup Assistant before enrollment
    /// completes, where the server ties the request to its TLS or `Mdm-Signature` identity).
    pub channel: Option<Channel>,
    raw: Vec<u8>,
}

impl CheckInRequest {
    /// Decode a check-in body (XML or binary plist) under `limits`.
    pub fn parse(body: &[u8], limits: &Limits) -> Result<Self> {
        let v = value::parse(body, limits)?;
        let d = value::expect_dict(v)?;
        let channel = match Channel::from_dictionary(&d) {
            Ok(c) => Some(c),
            Err(Error::MissingKey { .. }) => None,
            Err(e) => return Err(e),
        };
        let message = CheckIn::from_dictionary(d)?;
        if channel.is_none()
            && !matches!(
                message,
                CheckIn::SetBootstrapToken(_) | CheckIn::GetBootstrapToken(_)
            )
        {
            return Err(Error::MissingKey {
                path: "UDID".into(),
            });
        }
        Ok(CheckInRequest {
            message,
            channel,
            raw: body.to_vec(),
        })
    }

    /// Check the `Content-Type` header, then [`parse`](Self::parse). Devices send
    /// `application/x-apple-aspen-mdm-checkin`; `application/xml` and a missing header are
    /// accepted for tools.
    pub fn parse_http(content_type: Option<&str>, body: &[u8], limits: &Limits) -> Result<Self> {
        if let Some(ct) = content_type {
            let base = ct.split(';').next().unwrap_or_default().trim();
            if !base.eq_ignore_ascii_case(CONTENT_TYPE)
                && !base.eq_ignore_ascii_case("application/xml")
                && !base.eq_ignore_ascii_case("text/xml")
                && !base.eq_ignore_ascii_case("application/x-plist")
            {
                return Err(Error::ContentType(ct.to_owned()));
            }
        }
        Self::parse(body, limits)
    }

    /// The bytes the message was decoded from.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
}

/// `UserAuthenticate` comes twice: first without `DigestResponse`, then with it.
impl UserAuthenticate {
    /// True for the first message of the exchange (no `DigestResponse`).
    pub fn is_first_phase(&self) -> bool {
        self.digest_response.is_none()
    }
}

/// The server's answer to a check-in, as HTTP status and body.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `200` with an empty body: Authenticate, TokenUpdate, CheckOut, SetBootstrapToken, and the
    /// final UserAuthenticate.
    Empty,
    /// `200` with `{BootstrapToken: <data>}`, or an empty body when the server holds none.
    BootstrapToken(Option<Data>),
    /// `200` with `{TokenData: <data>}` for GetToken.
    Token(GetTokenResponse),
    /// `200` with `{DigestChallenge: "..."}`: the first UserAuthenticate, when the server wants
    /// the user's password digest.
    DigestChallenge(String),
    /// `410 Gone`: the first UserAuthenticate, when the server does not manage this user's
    /// channel (the device then goes on without it).
    UserAuthenticateDeclined,
    /// `200` with the Return to Service configuration.
    ReturnToService(ReturnToServiceResponse),
    /// `200` with a DeclarativeManagement endpoint's JSON body (built by the `ddm` crate).
    DeclarativeManagement(Vec<u8>),
}

impl Answer {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Answer::UserAuthenticateDeclined => 410,
            _ => 200,
        }
    }

    /// The response body (XML plist, JSON for DeclarativeManagement, or empty).
    pub fn body(&self) -> Vec<u8> {
        let one = |k: &str, v: Value| {
            let mut d = Dictionary::new();
            d.insert(k.to_owned(), v);
            value::to_xml(&Value::Dictionary(d))
        };
        match self {
            Answer::Empty | Answer::UserAuthenticateDeclined | Answer::BootstrapToken(None) => {
                Vec::new()
            }
            Answer::BootstrapToken(Some(t)) => one("BootstrapToken", t.to_plist()),
            Answer::Token(t) => value::to_xml(&t.to_plist()),
            Answer::DigestChallenge(c) => one("DigestChallenge", Value::String(c.clone())),
            Answer::ReturnToService(r) => value::to_xml(&r.to_plist()),
            Answer::DeclarativeManagement(json) => json.clone(),
        }
    }

    /// The answer as an `http::Response`, with `Content-Type` set when there is a body.
    pub fn to_http(&self) -> http::Response<Vec<u8>> {
        let body = self.body();
        let mut b = http::Response::builder().status(self.status());
        if !body.is_empty() {
            b = b.header(
                http::header::CONTENT_TYPE,
                match self {
                    Answer::DeclarativeManagement(_) => "application/json",
                    _ => "application/xml",
                },
            );
        }
        // Status codes and header values above are constants that `http` accepts.
        b.body(body).unwrap_or_default()
    }
}
