//! A set of declarations for one enrollment channel: scopes, references, tokens, responses.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::declaration::{Declaration, Kind};
use crate::error::{Error, Result};
use crate::token;

/// The enrollment channel a set is served on. The device channel takes declaration types whose
/// schema allows the `system` scope, the user channel those that allow `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The device channel (`system` scope).
    Device,
    /// A user channel (`user` scope): macOS user, Shared iPad user, user enrollment user.
    User,
}

impl Channel {
    /// The channel of a check-in, as `mdm-proto` resolved it.
    pub fn of(channel: &mdm_proto::checkin::Channel) -> Channel {
        use mdm_proto::checkin::Channel as C;
        match channel {
            C::Device { .. } | C::UserEnrollmentDevice { .. } => Channel::Device,
            _ => Channel::User,
        }
    }

    /// `device` or `user`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Device => "device",
            Channel::User => "user",
        }
    }
}

/// How the set's tokens are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenMode {
    /// ServerToken from each declaration's content (a given one is replaced), DeclarationsToken
    /// independent of order ([`token::declarations_token`]).
    #[default]
    Content,
    /// KMFDDM-compatible: ServerTokens taken as given (computed only when absent),
    /// DeclarationsToken = [`token::kmfddm_declarations_token`] in item order.
    Kmfddm,
}

/// The declarations one channel of one enrollment should hold, keyed by `Identifier`.
///
/// ```text
/// insert ──▶ scope check (allowed-scopes) ──▶ ServerToken (TokenMode)
/// validate ──▶ references (activation → configuration, configuration → asset) + predicates
/// declarations_token / tokens_response / declaration_items_response / get
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DeclarationSet {
    channel: Channel,
    mode: TokenMode,
    by_id: BTreeMap<String, Declaration>,
}

impl DeclarationSet {
    /// An empty set for `channel`.
    pub fn new(channel: Channel, mode: TokenMode) -> DeclarationSet {
        DeclarationSet {
            channel,
            mode,
            by_id: BTreeMap::new(),
        }
    }

    /// The channel this set serves.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The token mode.
    pub fn mode(&self) -> TokenMode {
        self.mode
    }

    /// Add or replace (same `Identifier`, same kind) a declaration; returns the one replaced.
    ///
    /// # Errors
    /// [`Error::ScopeNotAllowed`] when the schema does not allow the type on this channel (a
    /// type the schema lacks is allowed), [`Error::DuplicateIdentifier`] when the identifier is
    /// held by a declaration of another kind.
    pub fn insert(&mut self, mut d: Declaration) -> Result<Option<Declaration>> {
        if let Some(entry) = d.schema() {
            let ok = match self.channel {
                Channel::Device => entry.system_scope(),
                Channel::User => entry.user_scope(),
            };
            if !ok {
                return Err(Error::ScopeNotAllowed {
                    identifier: d.identifier().to_owned(),
                    declaration_type: d.declaration_type().to_owned(),
                    channel: self.channel.as_str(),
                });
            }
        }
        if let Some(old) = self.by_id.get(d.identifier())
            && old.kind() != d.kind()
        {
            return Err(Error::DuplicateIdentifier {
                identifier: d.identifier().to_owned(),
                first: old.kind(),
                second: d.kind(),
            });
        }
        if self.mode == TokenMode::Content {
            d.use_content_token();
        }
        Ok(self.by_id.insert(d.identifier().to_owned(), d))
    }

    /// Remove a declaration by identifier.
    pub fn remove(&mut self, identifier: &str) -> Option<Declaration> {
        self.by_id.remove(identifier)
    }

    /// The declaration of `kind` named `identifier`.
    pub fn get(&self, kind: Kind, identifier: &str) -> Option<&Declaration> {
        self.by_id.get(identifier).filter(|d| d.kind() == kind)
    }

    /// The declaration named `identifier`, whatever its kind.
    pub fn by_identifier(&self, identifier: &str) -> Option<&Declaration> {
        self.by_id.get(identifier)
    }

    /// Number of declarations.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// No declarations.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Declarations in DeclarationItemsResponse order: by kind (activations, assets,
    /// configurations, management), then by identifier.
    pub fn iter(&self) -> impl Iterator<Item = &Declaration> {
        Kind::ALL
            .into_iter()
            .flat_map(move |k| self.by_id.values().filter(move |d| d.kind() == k))
    }

    /// Check references and predicates: every activation's `StandardConfigurations` names a
    /// configuration in the set and its `Predicate` parses; every asset reference the schema
    /// marks (`assettypes`) names an asset in the set, of an allowed asset type.
    ///
    /// # Errors
    /// The first problem found, in [`DeclarationSet::iter`] order:
    /// [`Error::MissingReference`] (naming both declarations) or [`Error::ActivationPredicate`].
    pub fn validate(&self) -> Result<()> {
        for d in self.iter() {
            if d.kind() == Kind::Activation {
                if let Some(Value::Array(ids)) = d.payload().get("StandardConfigurations") {
                    for (i, id) in ids.iter().enumerate() {
                        let Some(id) = id.as_str() else { continue };
                        if self.get(Kind::Configuration, id).is_none() {
                            return Err(Error::MissingReference {
                                from_kind: Kind::Activation,
                                from: d.identifier().to_owned(),
                                path: format!("Payload/StandardConfigurations/{i}"),
                                to_kind: Kind::Configuration,
                                to: id.to_owned(),
                                detail: self.other_kind(id),
                            });
                        }
                    }
                }
                if let Some(Value::String(p)) = d.payload().get("Predicate") {
                    crate::predicate::parse(p).map_err(|error| Error::ActivationPredicate {
                        identifier: d.identifier().to_owned(),
                        error,
                    })?;
                }
            }
            let Some(entry) = d.schema() else { continue };
            for (path, types) in entry.asset_references {
                let mut ids = Vec::new();
                collect_strings(
                    &Value::Object(d.payload().clone()),
                    &path.split('/').collect::<Vec<_>>(),
                    &mut ids,
                );
                for id in ids {
                    let detail = match self.get(Kind::Asset, &id) {
                        Some(a) if types.is_empty() || types.contains(&a.declaration_type()) => {
                            continue;
                        }
                        Some(a) => format!(
                            " as an allowed asset type (it is {}, the key takes {})",
                            a.declaration_type(),
                            types.join(" or ")
                        ),
                        None => self.other_kind(&id),
                    };
                    return Err(Error::MissingReference {
                        from_kind: d.kind(),
                        from: d.identifier().to_owned(),
                        path: format!("Payload/{path}"),
                        to_kind: Kind::Asset,
                        to: id,
                        detail,
                    });
                }
            }
        }
        Ok(())
    }

    fn other_kind(&self, id: &str) -> String {
        match self.by_id.get(id) {
            Some(o) => format!(" (a {} has that identifier)", o.kind()),
            None => String::new(),
        }
    }

    /// The DeclarationsToken of the set, per the [`TokenMode`].
    pub fn declarations_token(&self) -> String {
        match self.mode {
            // The map's identifier order is the token's order: no sort needed.
            TokenMode::Content => token::declarations_token_sorted(
                self.by_id.values().map(Declaration::server_token_bytes),
            ),
            TokenMode::Kmfddm => {
                token::kmfddm_declarations_token(self.iter().map(Declaration::server_token))
            }
        }
    }

    /// The `declaration-items` body (DeclarationItemsResponse): all four arrays always present.
    ///
    /// ```text
    /// { "Declarations": { "Activations": [ {Identifier, ServerToken} ], "Assets": [],
    ///                     "Configurations": [], "Management": [] },
    ///   "DeclarationsToken": "…" }
    /// ```
    /// Schema: `declarative/protocol/declarationitemsresponse.yaml`.
    pub fn declaration_items_response(&self) -> Value {
        let mut decls = Map::new();
        for k in Kind::ALL {
            let items: Vec<Value> = self
                .iter()
                .filter(|d| d.kind() == k)
                .map(|d| json!({"Identifier": d.identifier(), "ServerToken": d.server_token()}))
                .collect();
            decls.insert(k.items_key().to_owned(), Value::Array(items));
        }
        json!({"Declarations": decls, "DeclarationsToken": self.declarations_token()})
    }

    /// The `tokens` body (TokensResponse) at `now`.
    ///
    /// ```text
    /// { "SyncTokens": { "DeclarationsToken": "…", "Timestamp": "2022-08-08T22:45:10Z" } }
    /// ```
    /// Schema: `declarative/protocol/tokensresponse.yaml`.
    pub fn tokens_response(&self, now: SystemTime) -> Value {
        json!({"SyncTokens": {
            "DeclarationsToken": self.declarations_token(),
            "Timestamp": rfc3339(now),
        }})
    }
}

/// Strings found at `path` below `v` (arrays are walked through at any step).
fn collect_strings(v: &Value, path: &[&str], out: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, path, out)),
        Value::String(s) if path.is_empty() => out.push(s.clone()),
        Value::Object(m) => {
            if let Some((first, rest)) = path.split_first()
                && let Some(x) = m.get(*first)
            {
                collect_strings(x, rest, out);
            }
        }
        _ => {}
    }
}

/// `now` as an RFC 3339 UTC timestamp with seconds (`2022-08-08T22:45:10Z`); times before 1970
/// are written as the epoch.
pub fn rfc3339(now: SystemTime) -> String {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (proleptic Gregorian), after H. Hinnant's published algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let t = |s| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(t(0), "1970-01-01T00:00:00Z");
        // `date -u -d @1659998710` gives Mon Aug  8 22:45:10 UTC 2022.
        assert_eq!(t(1_659_998_710), "2022-08-08T22:45:10Z");
        assert_eq!(t(951_782_400), "2000-02-29T00:00:00Z");
    }
}
