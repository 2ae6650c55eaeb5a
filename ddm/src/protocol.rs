//! The DeclarativeManagement check-in: endpoint routing, `Data` decoding, response bytes, and
//! the DeclarativeManagement command.
//!
//! ```text
//! device ── check-in MessageType=DeclarativeManagement, Endpoint, Data=base64(JSON) ──▶ CheckIn::parse
//!   "tokens"                              ──▶ TokensResponse              (set.tokens_response)
//!   "declaration-items"                   ──▶ DeclarationItemsResponse    (set.declaration_items_response)
//!   "declaration/<kind>/<Identifier>"     ──▶ the declaration's JSON      (set.get)
//!   "status"  + Data = status report      ──▶ empty 200                   (StatusReport → reconcile)
//! server ── command RequestType=DeclarativeManagement, Data = TokensResponse ──▶ device
//! ```

use std::time::SystemTime;

use mdm_proto::checkin::{CheckIn as MdmCheckIn, CheckInRequest};
use mdm_proto::generated::checkin::DeclarativeManagement as DmMessage;
use rand_core::CryptoRng;

use crate::declaration::Kind;
use crate::error::{Error, Result};
use crate::json::Limits;
use crate::set::{Channel, DeclarationSet};
use crate::status::StatusReport;

/// A DeclarativeManagement `Endpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `tokens`.
    Tokens,
    /// `declaration-items`.
    DeclarationItems,
    /// `declaration/<kind>/<Identifier>`.
    Declaration {
        /// The kind word.
        kind: Kind,
        /// The identifier (everything after the second `/`, which may itself hold `/`).
        identifier: String,
    },
    /// `status`.
    Status,
}

impl Endpoint {
    /// Route an `Endpoint` string.
    ///
    /// # Errors
    /// [`Error::UnknownEndpoint`] for anything else (including an empty identifier).
    pub fn parse(s: &str) -> Result<Endpoint> {
        Ok(match s {
            "tokens" => Endpoint::Tokens,
            "declaration-items" => Endpoint::DeclarationItems,
            "status" => Endpoint::Status,
            _ => {
                let unknown = || Error::UnknownEndpoint(s.chars().take(200).collect());
                let rest = s.strip_prefix("declaration/").ok_or_else(unknown)?;
                let (kind, identifier) = rest.split_once('/').ok_or_else(unknown)?;
                let kind = Kind::from_word(kind).ok_or_else(unknown)?;
                if identifier.is_empty() {
                    return Err(unknown());
                }
                Endpoint::Declaration {
                    kind,
                    identifier: identifier.to_owned(),
                }
            }
        })
    }

    /// The `Endpoint` string.
    pub fn as_string(&self) -> String {
        match self {
            Endpoint::Tokens => "tokens".into(),
            Endpoint::DeclarationItems => "declaration-items".into(),
            Endpoint::Status => "status".into(),
            Endpoint::Declaration { kind, identifier } => {
                format!("declaration/{kind}/{identifier}")
            }
        }
    }
}

/// A decoded DeclarativeManagement check-in.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckIn {
    /// The routed endpoint.
    pub endpoint: Endpoint,
    /// The channel (device or user) it came on, when the check-in carried identifiers.
    pub channel: Option<Channel>,
    /// The status report, for `status`.
    pub report: Option<StatusReport>,
    /// `Data` decoded from base64 (the JSON the device sent), when present.
    pub data: Option<Vec<u8>>,
}

impl CheckIn {
    /// Decode a check-in body (XML or binary plist) through `mdm-proto`, then route it.
    ///
    /// # Errors
    /// [`Error::CheckIn`] when `mdm-proto` rejects the plist, [`Error::Base64`] when `Data` is a
    /// string that is not base64, [`Error::NotDeclarativeManagement`] for another message type,
    /// and the errors of [`CheckIn::from_message`].
    pub fn parse(body: &[u8], limits: &Limits) -> Result<CheckIn> {
        // The plist carries `Data` in base64 (4/3 of the JSON) plus its own keys: twice the
        // JSON cap leaves room for both, and the JSON is held to `limits` once decoded.
        let mdm_limits = mdm_proto::Limits {
            max_bytes: limits.max_bytes.saturating_mul(2),
            max_depth: limits.max_depth,
            ..mdm_proto::Limits::default()
        };
        let req = CheckInRequest::parse(body, &mdm_limits).map_err(|e| match e {
            mdm_proto::Error::WrongType {
                path,
                expected: "data",
                found: "string",
            } => Error::Base64(path),
            other => Error::CheckIn(other),
        })?;
        let channel = req.channel.as_ref().map(Channel::of);
        match req.message {
            MdmCheckIn::DeclarativeManagement(m) => {
                let mut c = CheckIn::from_message(&m, limits)?;
                c.channel = channel;
                Ok(c)
            }
            other => Err(Error::NotDeclarativeManagement(other.message_type())),
        }
    }

    /// Route an already decoded DeclarativeManagement message.
    ///
    /// # Errors
    /// [`Error::UnknownEndpoint`], [`Error::MissingData`] for `status` without `Data`, and the
    /// status report's own errors.
    pub fn from_message(m: &DmMessage, limits: &Limits) -> Result<CheckIn> {
        let endpoint = Endpoint::parse(&m.endpoint)?;
        let data = m.data.as_ref().map(|d| d.0.clone());
        let report = match (&endpoint, &data) {
            (Endpoint::Status, Some(d)) => Some(StatusReport::parse(d, limits)?),
            (Endpoint::Status, None) => return Err(Error::MissingData(m.endpoint.clone())),
            _ => None,
        };
        Ok(CheckIn {
            endpoint,
            channel: None,
            report,
            data,
        })
    }

    /// The response body for this check-in from `set` at `now` (JSON; empty for `status`).
    ///
    /// # Errors
    /// [`Error::NotFound`] when `declaration/<kind>/<Identifier>` names a declaration the set
    /// lacks (answer 404).
    pub fn respond(&self, set: &DeclarationSet, now: SystemTime) -> Result<Vec<u8>> {
        Ok(match &self.endpoint {
            Endpoint::Tokens => to_vec(&set.tokens_response(now)),
            Endpoint::DeclarationItems => to_vec(&set.declaration_items_response()),
            Endpoint::Declaration { kind, identifier } => set
                .get(*kind, identifier)
                .ok_or_else(|| Error::NotFound {
                    kind: *kind,
                    identifier: identifier.clone(),
                })?
                .to_json(),
            Endpoint::Status => Vec::new(),
        })
    }
}

fn to_vec(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// The DeclarativeManagement command telling the device to sync: `Data` = the set's
/// TokensResponse at `now`, with a fresh `CommandUUID` from `rng`.
pub fn command<R: CryptoRng + ?Sized>(
    set: &DeclarationSet,
    now: SystemTime,
    rng: &mut R,
) -> mdm_proto::command::Command {
    let payload = mdm_proto::generated::commands::DeclarativeManagement {
        data: Some(mdm_proto::Data(to_vec(&set.tokens_response(now)))),
        ..Default::default()
    };
    mdm_proto::command::Command::new(payload, rng)
}
