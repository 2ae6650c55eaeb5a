//! Commands sent to a device, and the reports it sends back.
//!
//! ```text
//! <dict>                                  <dict>
//!   CommandUUID  <string>                   Status       Idle|Acknowledged|Error|
//!   Command      <dict>                                  CommandFormatError|NotNow
//!     RequestType <string>                  CommandUUID  <string>   (absent when Idle)
//!     ...payload keys                       UDID | EnrollmentID [+ UserID ...]
//! </dict>                                   ErrorChain   <array>    (Error)
//!                                           ...result keys          (Acknowledged)
//!                                         </dict>
//! ```

use plist::{Dictionary, Value};
use rand_core::CryptoRng;

use crate::availability::SupportedOs;
use crate::checkin::Channel;
use crate::error::{Error, Result};
use crate::generated::commands::{CommandPayload, CommandResponse};
use crate::value::{self, FromPlist, Limits, ToPlist};

/// What the generator knows about one command type (implemented by every request payload in
/// [`crate::generated::commands`]).
pub trait CommandSchema: FromPlist + ToPlist {
    /// The `RequestType`.
    const REQUEST_TYPE: &'static str;
    /// The typed result keys of an `Acknowledged` report.
    type Response: FromPlist + ToPlist;
    /// The schema file the type was generated from.
    const SCHEMA_PATH: &'static str;
    /// Where the command is available.
    const SUPPORTED_OS: SupportedOs;
}

/// The content type of a command body sent to a device.
pub const CONTENT_TYPE: &str = "application/xml";

/// A command's payload: a generated type, or a raw dictionary for a `RequestType` the schema
/// does not have.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A command from the schema.
    Typed(Box<CommandPayload>),
    /// Anything else: the `RequestType` and the other keys of the `Command` dictionary.
    Raw {
        /// `RequestType`.
        request_type: String,
        /// The other keys.
        dictionary: Dictionary,
    },
}

impl Payload {
    /// The `RequestType`.
    pub fn request_type(&self) -> &str {
        match self {
            Payload::Typed(p) => p.name(),
            Payload::Raw { request_type, .. } => request_type,
        }
    }
}

/// A command: `CommandUUID` and the `Command` dictionary. Equality compares the content, not
/// the bytes a parsed command came from.
#[derive(Debug, Clone)]
pub struct Command {
    /// `CommandUUID`.
    pub command_uuid: String,
    /// The `Command` dictionary.
    pub payload: Payload,
    /// Top-level keys other than `Command` and `CommandUUID`, kept as sent.
    pub unknown: Dictionary,
    raw: Option<Vec<u8>>,
}

impl PartialEq for Command {
    fn eq(&self, other: &Self) -> bool {
        self.command_uuid == other.command_uuid
            && self.payload == other.payload
            && self.unknown == other.unknown
    }
}

/// A random (version 4) UUID in Apple's upper-case form, from the caller's RNG.
pub fn new_uuid<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    let h =
        |r: std::ops::Range<usize>| -> String { b[r].iter().map(|x| format!("{x:02X}")).collect() };
    format!(
        "{}-{}-{}-{}-{}",
        h(0..4),
        h(4..6),
        h(6..8),
        h(8..10),
        h(10..16)
    )
}

impl Command {
    /// A command from the schema with a fresh `CommandUUID` from `rng`.
    pub fn new<R: CryptoRng + ?Sized>(payload: impl Into<CommandPayload>, rng: &mut R) -> Self {
        Command {
            command_uuid: new_uuid(rng),
            payload: Payload::Typed(Box::new(payload.into())),
            unknown: Dictionary::new(),
            raw: None,
        }
    }

    /// A command the schema lacks, from its `RequestType` and the other keys of its `Command`
    /// dictionary, with a fresh `CommandUUID` from `rng`.
    pub fn from_dictionary<R: CryptoRng + ?Sized>(
        request_type: impl Into<String>,
        dictionary: Dictionary,
        rng: &mut R,
    ) -> Self {
        Command {
            command_uuid: new_uuid(rng),
            payload: Payload::Raw {
                request_type: request_type.into(),
                dictionary,
            },
            unknown: Dictionary::new(),
            raw: None,
        }
    }

    /// The `RequestType`.
    pub fn request_type(&self) -> &str {
        self.payload.request_type()
    }

    /// Decode a command plist (what a server sends; also what other servers store).
    pub fn parse(body: &[u8], limits: &Limits) -> Result<Self> {
        let mut d = value::expect_dict(value::parse(body, limits)?)?;
        let command_uuid: String = value::required(
            d.remove("CommandUUID")
                .map(|v| value::field(v, "CommandUUID"))
                .transpose()?,
            "CommandUUID",
        )?;
        let mut cmd = value::expect_dict(value::required(d.remove("Command"), "Command")?)
            .map_err(|e| e.at("Command"))?;
        let request_type: String = value::required(
            cmd.remove("RequestType")
                .map(|v| value::field(v, "RequestType"))
                .transpose()?,
            "RequestType",
        )
        .map_err(|e| e.at("Command"))?;
        let payload = match CommandPayload::decode(&request_type, Value::Dictionary(cmd.clone()))
            .map_err(|e| e.at("Command"))?
        {
            Some(p) => Payload::Typed(Box::new(p)),
            None => Payload::Raw {
                request_type,
                dictionary: cmd,
            },
        };
        Ok(Command {
            command_uuid,
            payload,
            unknown: d,
            raw: Some(body.to_vec()),
        })
    }

    /// The bytes a parsed command came from (`None` for one built here).
    pub fn raw(&self) -> Option<&[u8]> {
        self.raw.as_deref()
    }

    /// The command as a plist value.
    pub fn to_plist(&self) -> Value {
        let mut cmd = Dictionary::new();
        cmd.insert(
            "RequestType".into(),
            Value::String(self.request_type().to_owned()),
        );
        let body = match &self.payload {
            Payload::Typed(p) => p.to_plist(),
            Payload::Raw { dictionary, .. } => Value::Dictionary(dictionary.clone()),
        };
        if let Value::Dictionary(b) = body {
            for (k, v) in b {
                cmd.insert(k, v);
            }
        }
        let mut d = Dictionary::new();
        d.insert("Command".into(), Value::Dictionary(cmd));
        d.insert(
            "CommandUUID".into(),
            Value::String(self.command_uuid.clone()),
        );
        for (k, v) in &self.unknown {
            d.insert(k.clone(), v.clone());
        }
        Value::Dictionary(d)
    }

    /// The XML plist body to send to the device.
    pub fn to_xml(&self) -> Vec<u8> {
        value::to_xml(&self.to_plist())
    }
}

/// A report's `Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The device has nothing to report and asks for the next command.
    Idle,
    /// The command ran; result keys (if any) are in the report.
    Acknowledged,
    /// The command failed; see `ErrorChain`.
    Error,
    /// The device could not parse the command.
    CommandFormatError,
    /// The device cannot run the command now; send it again after the next `Idle`.
    NotNow,
}

impl Status {
    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Idle => "Idle",
            Status::Acknowledged => "Acknowledged",
            Status::Error => "Error",
            Status::CommandFormatError => "CommandFormatError",
            Status::NotNow => "NotNow",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "Idle" => Status::Idle,
            "Acknowledged" => Status::Acknowledged,
            "Error" => Status::Error,
            "CommandFormatError" => Status::CommandFormatError,
            "NotNow" => Status::NotNow,
            other => return Err(Error::UnknownStatus(other.to_owned())),
        })
    }
}

/// One entry of a report's `ErrorChain`.
///
/// ```text
/// <dict>
///   ErrorCode            <integer>
///   ErrorDomain          <string>
///   LocalizedDescription <string>
///   USEnglishDescription <string>   optional
/// </dict>
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorChainItem {
    /// `ErrorCode`.
    pub error_code: Option<i64>,
    /// `ErrorDomain`.
    pub error_domain: Option<String>,
    /// `LocalizedDescription`.
    pub localized_description: Option<String>,
    /// `USEnglishDescription`.
    pub us_english_description: Option<String>,
    /// Other keys, kept as sent.
    pub unknown: Dictionary,
}

impl FromPlist for ErrorChainItem {
    fn from_plist(v: Value) -> Result<Self> {
        let d = value::expect_dict(v)?;
        let mut item = ErrorChainItem {
            error_code: None,
            error_domain: None,
            localized_description: None,
            us_english_description: None,
            unknown: Dictionary::new(),
        };
        for (k, v) in d {
            match k.as_str() {
                "ErrorCode" => item.error_code = Some(value::field(v, "ErrorCode")?),
                "ErrorDomain" => item.error_domain = Some(value::field(v, "ErrorDomain")?),
                "LocalizedDescription" => {
                    item.localized_description = Some(value::field(v, "LocalizedDescription")?)
                }
                "USEnglishDescription" => {
                    item.us_english_description = Some(value::field(v, "USEnglishDescription")?)
                }
                _ => {
                    item.unknown.insert(k, v);
                }
            }
        }
        Ok(item)
    }
}

impl ToPlist for ErrorChainItem {
    fn to_plist(&self) -> Value {
        let mut d = Dictionary::new();
        if let Some(c) = self.error_code {
            d.insert("ErrorCode".into(), c.to_plist());
        }
        for (k, v) in [
            ("ErrorDomain", &self.error_domain),
            ("LocalizedDescription", &self.localized_description),
            ("USEnglishDescription", &self.us_english_description),
        ] {
            if let Some(s) = v {
                d.insert(k.into(), Value::String(s.clone()));
            }
        }
        for (k, v) in &self.unknown {
            d.insert(k.clone(), v.clone());
        }
        Value::Dictionary(d)
    }
}

/// The keys of a report that belong to the envelope, not to the command's result.
const ENVELOPE: &[&str] = &[
    "Status",
    "CommandUUID",
    "ErrorChain",
    "UDID",
    "EnrollmentID",
    "EnrollmentUserID",
    "UserID",
    "UserShortName",
    "UserLongName",
    "RequestType",
];

/// The envelope key `k` is, as the static name (`None` for a result key).
fn envelope_key(k: &str) -> Option<&'static str> {
    ENVELOPE.iter().copied().find(|e| *e == k)
}

/// The envelope keys of a report as sent, in document order (a handful at most, so a list
/// searched by name beats a hashed map here).
type Envelope = Vec<(&'static str, Value)>;

fn envelope_get<'e>(envelope: &'e Envelope, key: &str) -> Option<&'e Value> {
    envelope.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// An envelope string, or [`Error::WrongType`] at `key`.
fn envelope_str<'e>(envelope: &'e Envelope, key: &str) -> Result<Option<&'e str>> {
    match envelope_get(envelope, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::WrongType {
            path: key.to_owned(),
            expected: "string",
            found: value::type_name(other),
        }),
    }
}

/// A command report (`PUT` to the server URL): status, channel, and result.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `Status`.
    pub status: Status,
    /// `CommandUUID` (absent on `Idle`).
    pub command_uuid: Option<String>,
    /// The channel the report came on.
    pub channel: Channel,
    /// `ErrorChain` (on `Error`).
    pub error_chain: Option<Vec<ErrorChainItem>>,
    /// `RequestType`, which some commands echo in their result.
    pub request_type: Option<String>,
    /// The keys that are not part of the envelope (result keys and anything unknown) while the
    /// result is untyped; empty once [`Report::typed`] holds them (unknown keys included).
    pub result: Dictionary,
    /// The typed result, once known: set by [`Report::parse`] when the report echoes
    /// `RequestType`, or by [`Report::type_result`] with the queued command's type.
    pub typed: Option<CommandResponse>,
    raw: Vec<u8>,
    envelope: Envelope,
    limits: Limits,
}

impl Report {
    /// Decode a report body (XML or binary) under `limits`.
    pub fn parse(body: &[u8], limits: &Limits) -> Result<Self> {
        let mut result = value::expect_dict(value::parse(body, limits)?)?;
        // Move the few envelope keys out in one pass over the keys (no hashing, no copies);
        // the rest stays in place, in order, as the result.
        let mut envelope: Envelope = Vec::with_capacity(4);
        result.retain(|k, v| match envelope_key(k) {
            Some(name) => {
                envelope.push((name, std::mem::replace(v, Value::Boolean(false))));
                false
            }
            None => true,
        });
        let channel = Channel::from_lookup(|k| envelope_get(&envelope, k))?;
        let status = envelope_str(&envelope, "Status")?.ok_or_else(|| Error::MissingKey {
            path: "Status".into(),
        })?;
        let status = Status::parse(status)?;
        let command_uuid = envelope_str(&envelope, "CommandUUID")?.map(str::to_owned);
        if status != Status::Idle && command_uuid.is_none() {
            return Err(Error::MissingKey {
                path: "CommandUUID".into(),
            });
        }
        let error_chain = envelope_get(&envelope, "ErrorChain")
            .cloned()
            .map(|v| value::field(v, "ErrorChain"))
            .transpose()?;
        let request_type = envelope_str(&envelope, "RequestType")?.map(str::to_owned);
        let mut report = Report {
            status,
            command_uuid,
            channel,
            error_chain,
            request_type,
            result,
            typed: None,
            raw: body.to_vec(),
            envelope,
            limits: *limits,
        };
        if let Some(rt) = report.request_type.clone() {
            report.type_result(&rt)?;
        }
        Ok(report)
    }

    /// Decode the result keys as the response type of `request_type` (an `Acknowledged` report
    /// only; other statuses carry no result). Returns the typed result, or `None` when the
    /// schema has no such command or the status carries none.
    pub fn type_result(&mut self, request_type: &str) -> Result<Option<&CommandResponse>> {
        if self.status != Status::Acknowledged {
            return Ok(None);
        }
        if let Some(t) = &self.typed {
            if t.name() == request_type {
                return Ok(self.typed.as_ref());
            }
            // Typed as another command before: give the keys back and try again.
            if let Value::Dictionary(d) = t.to_plist() {
                self.result = d;
            }
            self.typed = None;
        }
        if !crate::generated::commands::ALL
            .iter()
            .any(|e| e.name == request_type)
        {
            return Ok(None);
        }
        // The typed value takes the keys (unknown ones included), so nothing is copied; on an
        // error the keys are read again from the raw bytes.
        let keys = std::mem::take(&mut self.result);
        match CommandResponse::decode(request_type, Value::Dictionary(keys)) {
            Ok(t) => self.typed = t,
            Err(e) => {
                self.result = self.result_from_raw();
                return Err(e);
            }
        }
        Ok(self.typed.as_ref())
    }

    fn result_from_raw(&self) -> Dictionary {
        match value::parse(&self.raw, &self.limits).and_then(value::expect_dict) {
            Ok(d) => d
                .into_iter()
                .filter(|(k, _)| !ENVELOPE.contains(&k.as_str()))
                .collect(),
            Err(_) => Dictionary::new(),
        }
    }

    /// The bytes the report was decoded from.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The report as a plist value: the envelope as sent plus the result (from the typed
    /// result when there is one, else the keys as sent).
    pub fn to_plist(&self) -> Value {
        let mut d = Dictionary::new();
        for (k, v) in &self.envelope {
            d.insert((*k).to_owned(), v.clone());
        }
        let result = match &self.typed {
            Some(t) => match t.to_plist() {
                Value::Dictionary(r) => r,
                _ => self.result.clone(),
            },
            None => self.result.clone(),
        };
        for (k, v) in result {
            d.insert(k, v);
        }
        Value::Dictionary(d)
    }
}
