//! A channel's reconciliation state (`ddm::reconcile::State`) as the JSON stored in
//! `ddm_channels.state` and shown by the admin API.
//!
//! ```text
//! { "version": 3, "device_token": "…" | null, "extra_on_device": ["…"],
//!   "last_sent": 1733400000 | null, "attempts": 1,
//!   "declarations": { "<Identifier>": { "kind": "configuration", "server_token": "…",
//!       "since": 1733400000, "state": "pending" | "verified" | "inactive" | "failed"
//!       | "superseded" | "unknown-to-device",
//!       "reasons": [{"code", "description", "details"}],     (inactive, failed)
//!       "reported_token": "…" } } }                           (superseded)
//! ```

use ddm::Kind;
use ddm::reconcile::{DeclarationState, Reason, State, Tracked};
use serde_json::{Map, Value, json};

/// The word the API shows for a declaration's state.
pub fn state_word(s: &DeclarationState) -> &'static str {
    match s {
        DeclarationState::Pending => "pending",
        DeclarationState::Verified => "verified",
        DeclarationState::Inactive { .. } => "inactive",
        DeclarationState::Failed { .. } => "failed",
        DeclarationState::Superseded { .. } => "superseded",
        DeclarationState::UnknownToDevice => "unknown-to-device",
    }
}

fn reasons_json(rs: &[Reason]) -> Value {
    Value::Array(
        rs.iter()
            .map(|r| {
                json!({
                    "code": r.code,
                    "description": r.description,
                    "details": r.details.clone().map(Value::Object),
                })
            })
            .collect(),
    )
}

fn reasons_from(v: Option<&Value>) -> Option<Vec<Reason>> {
    let Some(Value::Array(a)) = v else {
        return Some(Vec::new());
    };
    a.iter()
        .map(|r| {
            Some(Reason {
                code: r.get("code")?.as_str()?.to_owned(),
                description: r
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                details: r.get("details").and_then(Value::as_object).cloned(),
            })
        })
        .collect()
}

/// One tracked declaration as JSON.
pub fn tracked_json(t: &Tracked) -> Value {
    let mut o = Map::new();
    o.insert("kind".into(), t.kind.as_str().into());
    o.insert("server_token".into(), t.server_token.clone().into());
    o.insert("since".into(), t.since.into());
    o.insert("state".into(), state_word(&t.state).into());
    match &t.state {
        DeclarationState::Inactive { reasons } | DeclarationState::Failed { reasons } => {
            o.insert("reasons".into(), reasons_json(reasons));
        }
        DeclarationState::Superseded { reported_token } => {
            o.insert("reported_token".into(), reported_token.clone().into());
        }
        _ => {}
    }
    Value::Object(o)
}

/// The state as JSON.
pub fn to_json(st: &State) -> Value {
    let decls: Map<String, Value> = st
        .declarations
        .iter()
        .map(|(id, t)| (id.clone(), tracked_json(t)))
        .collect();
    json!({
        "version": st.version,
        "device_token": st.device_token,
        "extra_on_device": st.extra_on_device,
        "last_sent": st.last_sent,
        "attempts": st.attempts,
        "declarations": decls,
    })
}

fn tracked_from(v: &Value) -> Option<Tracked> {
    let kind = Kind::from_word(v.get("kind")?.as_str()?)?;
    let state = match v.get("state")?.as_str()? {
        "pending" => DeclarationState::Pending,
        "verified" => DeclarationState::Verified,
        "inactive" => DeclarationState::Inactive {
            reasons: reasons_from(v.get("reasons"))?,
        },
        "failed" => DeclarationState::Failed {
            reasons: reasons_from(v.get("reasons"))?,
        },
        "superseded" => DeclarationState::Superseded {
            reported_token: v.get("reported_token")?.as_str()?.to_owned(),
        },
        "unknown-to-device" => DeclarationState::UnknownToDevice,
        _ => return None,
    };
    Some(Tracked {
        kind,
        server_token: v.get("server_token")?.as_str()?.to_owned(),
        state,
        since: v.get("since")?.as_u64()?,
    })
}

/// The state back from [`to_json`]'s JSON text; `None` when it does not decode.
pub fn from_json(text: &str) -> Option<State> {
    let v: Value = serde_json::from_str(text).ok()?;
    let mut declarations = std::collections::BTreeMap::new();
    for (id, t) in v.get("declarations")?.as_object()? {
        declarations.insert(id.clone(), tracked_from(t)?);
    }
    Some(State {
        version: v.get("version")?.as_u64()?,
        declarations,
        device_token: match v.get("device_token") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        },
        extra_on_device: v
            .get("extra_on_device")?
            .as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<_>>()?,
        last_sent: v.get("last_sent").and_then(Value::as_u64),
        attempts: u32::try_from(v.get("attempts")?.as_u64()?).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_state() {
        let reason = Reason {
            code: "Error.ConfigurationCannotBeApplied".into(),
            description: Some("no".into()),
            details: Some(
                [("Error".to_owned(), Value::from("x"))]
                    .into_iter()
                    .collect(),
            ),
        };
        let states = [
            DeclarationState::Pending,
            DeclarationState::Verified,
            DeclarationState::Inactive {
                reasons: vec![Reason {
                    code: "Info.NotReferencedByActivation".into(),
                    description: None,
                    details: None,
                }],
            },
            DeclarationState::Failed {
                reasons: vec![reason],
            },
            DeclarationState::Superseded {
                reported_token: "abc".into(),
            },
            DeclarationState::UnknownToDevice,
        ];
        let mut st = State {
            version: 7,
            device_token: Some("tok".into()),
            extra_on_device: vec!["gone".into()],
            last_sent: Some(100),
            attempts: 2,
            ..State::default()
        };
        for (i, s) in states.into_iter().enumerate() {
            st.declarations.insert(
                format!("d{i}"),
                Tracked {
                    kind: Kind::Configuration,
                    server_token: format!("t{i}"),
                    state: s,
                    since: 5,
                },
            );
        }
        let text = to_json(&st).to_string();
        assert_eq!(from_json(&text), Some(st));
        assert_eq!(from_json("{}"), None);
        assert_eq!(from_json("not json"), None);
    }
}
