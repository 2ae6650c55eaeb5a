//! DDM in admitd at module level, on both backends: admin changes decided and stored, one
//! DeclarativeManagement command per channel whose DeclarationsToken moves (recorded by an
//! in-memory `Commands`), the check-in endpoints answering what `ddm` computes on its own
//! from the same declarations, and status reports stored and reconciled.
//!
//! Known answers come from KMFDDM's docs and test data in `../shared/vectors/ddm/kmfddm`
//! (quickstart declarations, their DeclarationItemsResponse and TokensResponse, and real
//! device status reports); the command bodies are read back with the `plist` crate, not with
//! our own code.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use admitd::ddm::change::Op;
use admitd::ddm::postgres::PgDdm;
use admitd::ddm::store::DdmStore;
use admitd::ddm::{DdmError, Outcome, RecordedCommands, Server};
use admitd::mdm::NewCommand;
use admitd::scep::postgres::PgStore;
use admitd::storage::Storage;
use ddm::{Channel, Declaration, DeclarationSet, Limits, TokenMode};
use mdm_proto::plist;
use serde_json::{Value, json};

const QUICKSTART: &str = "ddm/kmfddm/docs-quickstart";

fn vector(name: &str) -> Vec<u8> {
    testkit::vector(&format!("{QUICKSTART}/{name}"))
}

fn vector_json(rel: &str) -> Value {
    serde_json::from_slice(&testkit::vector(rel)).unwrap()
}

fn body_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

/// The KMFDDM quickstart's TokensResponse time, so the Timestamp is a known answer too.
fn kmfddm_now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_659_998_710)
}

/// A fresh store on one database; every call opens another handle on the same database.
type Open<'a> = &'a dyn Fn() -> Arc<dyn DdmStore>;
type Case = fn(Open<'_>);

const CASES: &[(&str, Case)] = &[
    ("kmfddm_known_answers", kmfddm_known_answers),
    (
        "one_command_per_moved_channel",
        one_command_per_moved_channel,
    ),
    (
        "bad_declarations_store_nothing",
        bad_declarations_store_nothing,
    ),
    ("checkin_matches_ddm", checkin_matches_ddm),
    ("checkin_errors", checkin_errors),
    ("status_reports_reconciled", status_reports_reconciled),
    ("deletes_and_conflicts", deletes_and_conflicts),
    ("status_report_resends", status_report_resends),
    ("tick_resends_with_backoff", tick_resends_with_backoff),
    ("stale_decision_is_refused", stale_decision_is_refused),
];

#[test]
fn sqlite() {
    for (name, case) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admit.sqlite3");
        eprintln!("sqlite: {name}");
        case(&|| Arc::new(Storage::open(&path).unwrap()));
    }
}

#[test]
fn postgres() {
    let pg = testkit::postgres::Postgres::start();
    for (i, (name, case)) in CASES.iter().enumerate() {
        let url = pg.create_database(&format!("ddm{i}"));
        eprintln!("postgres: {name}");
        case(&|| Arc::new(PgDdm::new(Arc::new(PgStore::open(&url, 2).unwrap()))));
    }
}

fn server(open: Open<'_>, mode: TokenMode) -> (Server, Arc<RecordedCommands>) {
    let commands = Arc::new(RecordedCommands::default());
    (Server::new(open(), commands.clone(), mode), commands)
}

fn put(s: &Server, bytes: &[u8]) -> Result<Outcome, DdmError> {
    let d = Declaration::parse(bytes, &Limits::default()).map_err(DdmError::Invalid)?;
    s.change(&Op::PutDeclaration(Box::new(d)))
}

fn put_set(s: &Server, name: &str, ids: &[&str]) -> Result<Outcome, DdmError> {
    s.change(&Op::PutSet {
        name: name.into(),
        declarations: ids.iter().map(|s| s.to_string()).collect(),
    })
}

fn assign(s: &Server, set: &str, channel: &str) -> Result<Outcome, DdmError> {
    s.change(&Op::Assign {
        set: set.into(),
        channel: channel.into(),
    })
}

/// The DeclarationsToken inside a queued command, read with the `plist` crate: the command
/// is `DeclarativeManagement` and its `Data` is a TokensResponse.
fn command_token(c: &NewCommand) -> String {
    assert_eq!(c.request_type, "DeclarativeManagement");
    let v = plist::Value::from_reader_xml(&c.body[..]).expect("command body is an XML plist");
    let top = v.as_dictionary().unwrap();
    assert_eq!(
        top.get("CommandUUID").and_then(plist::Value::as_string),
        Some(c.command_uuid.as_str())
    );
    let cmd = top.get("Command").unwrap().as_dictionary().unwrap();
    assert_eq!(
        cmd.get("RequestType").and_then(plist::Value::as_string),
        Some("DeclarativeManagement")
    );
    let data = cmd.get("Data").and_then(plist::Value::as_data).unwrap();
    let tokens = body_json(data);
    tokens["SyncTokens"]["DeclarationsToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `ddm`'s own answer for a set of declarations on a channel.
fn independent(channel: Channel, mode: TokenMode, decls: &[&[u8]]) -> DeclarationSet {
    let mut set = DeclarationSet::new(channel, mode);
    for d in decls {
        set.insert(Declaration::parse(d, &Limits::default()).unwrap())
            .unwrap();
    }
    set.validate().unwrap();
    set
}

/// KMFDDM mode reproduces the quickstart's bodies exactly: the declaration as KMFDDM stored it
/// (its ServerToken kept), assigned to a device, served as `declaration-items`, `tokens` and
/// the declaration endpoint.
fn kmfddm_known_answers(open: Open<'_>) {
    let (s, commands) = server(open, TokenMode::Kmfddm);
    put(&s, &vector("decl.configuration.test.token-v2.json")).unwrap();
    put_set(&s, "quickstart", &["com.example.test"]).unwrap();
    let out = assign(&s, "quickstart", "UDID-1").unwrap();
    let want_items = vector_json(&format!("{QUICKSTART}/declaration-items.1decl.json"));
    let want_tokens = vector_json(&format!("{QUICKSTART}/tokens-response.1decl.json"));
    let token = want_tokens["SyncTokens"]["DeclarationsToken"]
        .as_str()
        .unwrap();
    assert_eq!(out.announced.len(), 1);
    assert_eq!(out.announced[0].declarations_token, token);
    let queued = commands.take();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0, vec!["UDID-1".to_owned()]);
    assert_eq!(command_token(&queued[0].1), token);

    let now = kmfddm_now();
    let items = s
        .checkin_at("UDID-1", "declaration-items", None, now)
        .unwrap();
    assert_eq!(body_json(&items), want_items);
    let tokens = s.checkin_at("UDID-1", "tokens", None, now).unwrap();
    assert_eq!(body_json(&tokens), want_tokens);
    let decl = s
        .checkin_at(
            "UDID-1",
            "declaration/configuration/com.example.test",
            None,
            now,
        )
        .unwrap();
    assert_eq!(
        body_json(&decl),
        vector_json(&format!(
            "{QUICKSTART}/declaration-endpoint.configuration.com.example.test.json"
        ))
    );
    // KMFDDM rejects an activation naming a configuration it does not have.
    let typo = put(&s, &vector("decl.activation.simple.typo-ref.json")).unwrap_err();
    assert_eq!(typo.http_status(), 400, "{typo}");
    assert!(typo.to_string().contains("com.example.testt"), "{typo}");
}

fn one_command_per_moved_channel(open: Open<'_>) {
    let (s, commands) = server(open, TokenMode::Content);
    let v1 = vector("decl.configuration.test.no-token.json");
    let v2 = vector("decl.configuration.test.token-v2.json");
    let org = vector("decl.management.organization-info.json");
    // Stored, not in a set, in a set not assigned: nothing to send.
    assert!(put(&s, &v1).unwrap().announced.is_empty());
    assert!(put(&s, &org).unwrap().announced.is_empty());
    assert!(
        put_set(&s, "a", &["com.example.test"])
            .unwrap()
            .announced
            .is_empty()
    );
    assert!(commands.take().is_empty());
    // Assigned to a device channel and a user channel: one command each, with the tokens
    // `ddm` computes for each channel from the same declarations.
    let dev = assign(&s, "a", "UDID-1").unwrap();
    let user = assign(&s, "a", "UDID-1:USER-1").unwrap();
    let queued = commands.take();
    assert_eq!(queued.len(), 2);
    let want_dev = independent(Channel::Device, TokenMode::Content, &[&v1]).declarations_token();
    let want_user = independent(Channel::User, TokenMode::Content, &[&v1]).declarations_token();
    assert_eq!(queued[0].0, vec!["UDID-1".to_owned()]);
    assert_eq!(command_token(&queued[0].1), want_dev);
    assert_eq!(dev.announced[0].declarations_token, want_dev);
    assert_eq!(
        dev.announced[0].command.as_deref(),
        Ok(queued[0].1.command_uuid.as_str())
    );
    assert_eq!(queued[1].0, vec!["UDID-1:USER-1".to_owned()]);
    assert_eq!(command_token(&queued[1].1), want_user);
    assert_eq!(user.announced.len(), 1);
    assert_ne!(queued[0].1.command_uuid, queued[1].1.command_uuid);
    // The same content again, now with the ServerToken KMFDDM stored for it (content mode
    // replaces it with the content token): no token moves, no command.
    let v1_token = vector("decl.configuration.test.token-v1.json");
    assert!(put(&s, &v1_token).unwrap().announced.is_empty());
    // A second set with the same declaration on the same channel moves nothing either.
    put_set(&s, "b", &["com.example.test"]).unwrap();
    assert!(assign(&s, "b", "UDID-1").unwrap().announced.is_empty());
    assert!(commands.take().is_empty());
    // Changed content: exactly one command per channel holding it.
    let out = put(&s, &v2).unwrap();
    let queued = commands.take();
    assert_eq!(queued.len(), 2, "{queued:?}");
    let mut chans: Vec<&str> = queued.iter().map(|q| q.0[0].as_str()).collect();
    chans.sort();
    assert_eq!(chans, ["UDID-1", "UDID-1:USER-1"]);
    let want = independent(Channel::Device, TokenMode::Content, &[&v2]).declarations_token();
    let dev_cmd = queued.iter().find(|q| q.0[0] == "UDID-1").unwrap();
    assert_eq!(command_token(&dev_cmd.1), want);
    assert_eq!(out.announced.len(), 2);
    // Adding the management declaration to set b moves only UDID-1 (b is not on the user
    // channel).
    put_set(
        &s,
        "b",
        &["com.example.test", "274c52b0-fbc5-4453-af46-c4c493a75c6f"],
    )
    .unwrap();
    let queued = commands.take();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0, vec!["UDID-1".to_owned()]);
    let want = independent(Channel::Device, TokenMode::Content, &[&v2, &org]).declarations_token();
    assert_eq!(command_token(&queued[0].1), want);
    // Unassigning a's duplicate from UDID-1 moves nothing (b still holds it); unassigning
    // from the user channel empties it: one command with the empty set's token.
    assert!(
        s.change(&Op::Unassign {
            set: "a".into(),
            channel: "UDID-1".into()
        })
        .unwrap()
        .announced
        .is_empty()
    );
    s.change(&Op::Unassign {
        set: "a".into(),
        channel: "UDID-1:USER-1".into(),
    })
    .unwrap();
    let queued = commands.take();
    assert_eq!(queued.len(), 1);
    let empty = DeclarationSet::new(Channel::User, TokenMode::Content).declarations_token();
    assert_eq!(command_token(&queued[0].1), empty);
    // A channel the core does not know: the change is stored, the answer says why no
    // command went out.
    let commands = Arc::new(RecordedCommands::refusing(&["UDID-GONE"]));
    let s2 = Server::new(open(), commands.clone(), TokenMode::Content);
    let out = assign(&s2, "b", "UDID-GONE").unwrap();
    assert_eq!(out.announced.len(), 1);
    assert!(
        out.announced[0]
            .command
            .as_ref()
            .unwrap_err()
            .contains("UDID-GONE")
    );
    assert!(commands.take().is_empty());
    assert!(
        s2.snapshot().unwrap().sets["b"]
            .channels
            .contains("UDID-GONE")
    );
}

fn bad_declarations_store_nothing(open: Open<'_>) {
    let (s, commands) = server(open, TokenMode::Content);
    put(&s, &vector("decl.configuration.test.no-token.json")).unwrap();
    put_set(&s, "a", &["com.example.test"]).unwrap();
    assign(&s, "a", "UDID-1").unwrap();
    commands.take();
    let before = s.snapshot().unwrap();
    let bad: &[&[u8]] = &[
        b"not json",
        br#"{"Type": "com.example.nothing", "Identifier": "x", "Payload": {}}"#,
        br#"{"Type": "com.apple.configuration.management.test", "Identifier": "x"}"#,
        // Echo must be a string (Apple's schema).
        br#"{"Type": "com.apple.configuration.management.test", "Identifier": "x", "Payload": {"Echo": 5}}"#,
        &vector("decl.activation.simple.typo-ref.json"),
        br#"{"Type": "com.apple.activation.simple", "Identifier": "act", "Payload": {"StandardConfigurations": ["com.example.test"], "Predicate": "@status(device.model.family) ==="}}"#,
    ];
    for b in bad {
        let e = put(&s, b).unwrap_err();
        assert_eq!(e.http_status(), 400, "{e}");
    }
    // A set naming a declaration that is not stored, one missing what its activation names,
    // and a user-only type on the device channel's set.
    assert_eq!(
        put_set(&s, "a", &["com.example.test", "nope"])
            .unwrap_err()
            .http_status(),
        400
    );
    put(
        &s,
        br#"{"Type": "com.apple.activation.simple", "Identifier": "act", "Payload": {"StandardConfigurations": ["com.example.test"]}}"#,
    )
    .unwrap();
    let e = put_set(&s, "c", &["act"]).unwrap_err();
    assert_eq!(e.http_status(), 400);
    assert!(e.to_string().contains("com.example.test"), "{e}");
    assert_eq!(assign(&s, "nope", "UDID-1").unwrap_err().http_status(), 404);
    let after = s.snapshot().unwrap();
    assert_eq!(after.sets, before.sets);
    assert_eq!(after.declarations.len(), before.declarations.len() + 1);
    assert!(commands.take().is_empty());
}

fn checkin_matches_ddm(open: Open<'_>) {
    let (s, _commands) = server(open, TokenMode::Content);
    let cfg = vector("decl.configuration.test.token-v2.json");
    let org = vector("decl.management.organization-info.json");
    let act = br#"{"Type": "com.apple.activation.simple", "Identifier": "com.example.act", "Payload": {"StandardConfigurations": ["com.example.test"]}}"#;
    for d in [&cfg[..], &org, act] {
        put(&s, d).unwrap();
    }
    put_set(
        &s,
        "all",
        &[
            "com.example.test",
            "com.example.act",
            "274c52b0-fbc5-4453-af46-c4c493a75c6f",
        ],
    )
    .unwrap();
    assign(&s, "all", "UDID-2").unwrap();
    let want = independent(Channel::Device, TokenMode::Content, &[&cfg, &org, act]);
    let now = kmfddm_now();
    let tokens = s.checkin_at("UDID-2", "tokens", None, now).unwrap();
    assert_eq!(body_json(&tokens), want.tokens_response(now));
    let items = s
        .checkin_at("UDID-2", "declaration-items", None, now)
        .unwrap();
    let items = body_json(&items);
    assert_eq!(items, want.declaration_items_response());
    // Each declaration body carries the ServerToken the items list.
    for d in want.iter() {
        let ep = format!("declaration/{}/{}", d.kind(), d.identifier());
        let body = body_json(&s.checkin_at("UDID-2", &ep, None, now).unwrap());
        assert_eq!(body, Value::Object(d.raw().clone()), "{ep}");
        let listed = items["Declarations"][d.kind().items_key()]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["Identifier"] == d.identifier())
            .unwrap();
        assert_eq!(body["ServerToken"], listed["ServerToken"]);
    }
    // The channel view names the token the device synced to.
    let view = s.channel_view("UDID-2", now).unwrap();
    assert_eq!(view["declarations_token"], items["DeclarationsToken"]);
    assert_eq!(view["device_token"], items["DeclarationsToken"]);
    assert_eq!(view["sets"], json!(["all"]));
    assert_eq!(view["channel"], "device");
    // A channel with no sets is served the empty set.
    let empty = DeclarationSet::new(Channel::Device, TokenMode::Content);
    assert_eq!(
        body_json(
            &s.checkin_at("UDID-3", "declaration-items", None, now)
                .unwrap()
        ),
        empty.declaration_items_response()
    );
}

fn checkin_errors(open: Open<'_>) {
    let (s, _commands) = server(open, TokenMode::Content);
    put(&s, &vector("decl.configuration.test.token-v2.json")).unwrap();
    put_set(&s, "a", &["com.example.test"]).unwrap();
    assign(&s, "a", "UDID-1").unwrap();
    let cases: &[(&str, Option<&[u8]>, u16)] = &[
        ("nonsense", None, 400),
        ("declaration/widget/com.example.test", None, 400),
        ("declaration/configuration/", None, 400),
        ("status", None, 400),
        ("status", Some(b"not json"), 400),
        ("status", Some(b"{\"Errors\": []}"), 400),
        ("declaration/configuration/com.example.missing", None, 404),
        // The right identifier under the wrong kind is not in the set either.
        ("declaration/activation/com.example.test", None, 404),
    ];
    for (ep, data, status) in cases {
        let e = s.checkin("UDID-1", ep, *data).unwrap_err();
        assert_eq!(e.http_status(), *status, "{ep}: {e}");
    }
    // Another channel does not see UDID-1's declarations.
    let e = s
        .checkin("UDID-9", "declaration/configuration/com.example.test", None)
        .unwrap_err();
    assert_eq!(e.http_status(), 404);
    assert_eq!(
        s.channel_view("UDID-9", SystemTime::now())
            .unwrap_err()
            .http_status(),
        404
    );
}

fn status_reports_reconciled(open: Open<'_>) {
    // The real report of an error: com.example.test (ServerToken 7c6d85989e823101) valid
    // "unknown", inactive, Info.NotReferencedByActivation. In KMFDDM mode the token is the
    // one uploaded, so the server holds exactly the revision the device reports.
    let (s, _commands) = server(open, TokenMode::Kmfddm);
    let report = testkit::vector("ddm/kmfddm/test/e2e/testdata/status.D0.error.json");
    let reported = body_json(&report);
    let r = &reported["StatusItems"]["management"]["declarations"]["configurations"][0];
    let decl = json!({
        "Type": "com.apple.configuration.management.test",
        "Identifier": r["identifier"],
        "ServerToken": r["server-token"],
        "Payload": {"Echo": "KMFDDM"},
    });
    put(&s, decl.to_string().as_bytes()).unwrap();
    put_set(&s, "t", &[r["identifier"].as_str().unwrap()]).unwrap();
    assign(&s, "t", "UDID-R").unwrap();
    let view = s.channel_view("UDID-R", SystemTime::now()).unwrap();
    assert_eq!(view["declarations"][0]["state"], "pending");
    let body = s.checkin("UDID-R", "status", Some(&report)).unwrap();
    assert!(body.is_empty());
    let view = s.channel_view("UDID-R", SystemTime::now()).unwrap();
    let d = &view["declarations"][0];
    assert_eq!(d["identifier"], r["identifier"]);
    assert_eq!(d["state"], "inactive", "{view}");
    assert_eq!(d["reasons"][0]["code"], r["reasons"][0]["code"]);
    assert_eq!(d["reasons"][0]["details"], r["reasons"][0]["details"]);
    assert_eq!(view["report"], reported);
    assert!(view["report_at"].is_u64());

    // A real device's report (2022): the server holds those identifiers and tokens; each
    // declaration the device calls invalid is failed with the device's reasons, each valid
    // one verified.
    let report = testkit::vector(
        "ddm/kmfddm/ddm/testdata/A047820F-FC6B-4104-BED0-466876D82BB8.20220628-103225.001918.status.json",
    );
    let reported = body_json(&report);
    let ds = &reported["StatusItems"]["management"]["declarations"];
    let mut ids = Vec::new();
    let configs: Vec<Value> = ds["configurations"].as_array().unwrap().clone();
    for c in &configs {
        let d = json!({"Type": "com.apple.configuration.management.test",
            "Identifier": c["identifier"], "ServerToken": c["server-token"],
            "Payload": {"Echo": "x"}});
        put(&s, d.to_string().as_bytes()).unwrap();
        ids.push(c["identifier"].as_str().unwrap().to_owned());
    }
    let a = &ds["activations"][0];
    let act = json!({"Type": "com.apple.activation.simple", "Identifier": a["identifier"],
        "ServerToken": a["server-token"],
        "Payload": {"StandardConfigurations": ids.clone()}});
    put(&s, act.to_string().as_bytes()).unwrap();
    ids.push(a["identifier"].as_str().unwrap().to_owned());
    let m = &ds["management"][0];
    let mgmt = json!({"Type": "com.apple.management.organization-info",
        "Identifier": m["identifier"], "ServerToken": m["server-token"],
        "Payload": {"Name": "x"}});
    put(&s, mgmt.to_string().as_bytes()).unwrap();
    ids.push(m["identifier"].as_str().unwrap().to_owned());
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    put_set(&s, "real", &refs).unwrap();
    assign(&s, "real", "A047820F-FC6B-4104-BED0-466876D82BB8").unwrap();
    s.checkin(
        "A047820F-FC6B-4104-BED0-466876D82BB8",
        "status",
        Some(&report),
    )
    .unwrap();
    let view = s
        .channel_view("A047820F-FC6B-4104-BED0-466876D82BB8", SystemTime::now())
        .unwrap();
    let shown = view["declarations"].as_array().unwrap();
    assert_eq!(shown.len(), 5);
    for kind in ["activations", "configurations", "management"] {
        for r in ds[kind].as_array().unwrap() {
            let d = shown
                .iter()
                .find(|d| d["identifier"] == r["identifier"])
                .unwrap();
            if r["valid"] == "invalid" {
                assert_eq!(d["state"], "failed", "{d}");
                assert_eq!(d["reasons"][0]["code"], r["reasons"][0]["code"]);
                assert_eq!(d["reasons"][0]["details"], r["reasons"][0]["details"]);
            } else {
                assert_eq!(d["state"], "verified", "{d}");
            }
        }
    }
    assert_eq!(view["report"], reported);

    // A first report without declarations (KMFDDM e2e) is stored raw, states unchanged.
    let first = testkit::vector("ddm/kmfddm/test/e2e/testdata/status.1st.json");
    s.checkin("UDID-R", "status", Some(&first)).unwrap();
    let view = s.channel_view("UDID-R", SystemTime::now()).unwrap();
    assert_eq!(view["report"], body_json(&first));
    assert_eq!(view["declarations"][0]["state"], "inactive");
}

fn deletes_and_conflicts(open: Open<'_>) {
    let (s, commands) = server(open, TokenMode::Content);
    put(&s, &vector("decl.configuration.test.token-v2.json")).unwrap();
    put(
        &s,
        br#"{"Type": "com.apple.activation.simple", "Identifier": "act", "Payload": {"StandardConfigurations": ["com.example.test"]}}"#,
    )
    .unwrap();
    put_set(&s, "a", &["com.example.test"]).unwrap();
    assign(&s, "a", "UDID-1").unwrap();
    commands.take();
    // In a set: 409. Referred to by an activation: 409.
    let e = s
        .change(&Op::DeleteDeclaration("com.example.test".into()))
        .unwrap_err();
    assert_eq!(e.http_status(), 409, "{e}");
    put_set(&s, "a", &[]).unwrap();
    assert_eq!(commands.take().len(), 1);
    let e = s
        .change(&Op::DeleteDeclaration("com.example.test".into()))
        .unwrap_err();
    assert_eq!(e.http_status(), 409, "{e}");
    assert!(e.to_string().contains("act"), "{e}");
    s.change(&Op::DeleteDeclaration("act".into())).unwrap();
    s.change(&Op::DeleteDeclaration("com.example.test".into()))
        .unwrap();
    assert_eq!(
        s.change(&Op::DeleteDeclaration("com.example.test".into()))
            .unwrap_err()
            .http_status(),
        404
    );
    // Deleting a set takes it off its channels (no token moves: it was empty).
    assert!(
        s.change(&Op::DeleteSet("a".into()))
            .unwrap()
            .announced
            .is_empty()
    );
    assert!(s.snapshot().unwrap().sets.is_empty());
    assert_eq!(
        s.change(&Op::Unassign {
            set: "a".into(),
            channel: "UDID-1".into()
        })
        .unwrap_err()
        .http_status(),
        404
    );
}

/// A decision made from a revision another handle has since moved is refused, and nothing
/// of it is written.
fn stale_decision_is_refused(open: Open<'_>) {
    let a = open();
    let b = open();
    let snap = a.snapshot().unwrap();
    let set = |name: &str| admitd::ddm::store::Change::PutSet {
        name: name.into(),
        declarations: vec![],
    };
    b.apply(snap.revision, &[set("first")]).unwrap();
    assert!(matches!(
        a.apply(snap.revision, &[set("second")]),
        Err(admitd::ddm::store::StoreError::Stale(_))
    ));
    let now = a.snapshot().unwrap();
    assert_eq!(now.revision, snap.revision + 1);
    assert_eq!(now.sets.keys().collect::<Vec<_>>(), ["first"]);
    // The channel state is compare-and-set the same way.
    a.save_channel("C", 0, 1, "{}", None).unwrap();
    assert!(b.save_channel("C", 0, 1, "{}", None).is_err());
    b.save_channel("C", 1, 2, "{}", Some((b"{}", 5))).unwrap();
    assert!(a.save_channel("C", 1, 2, "{}", None).is_err());
    let r = a.channel("C").unwrap().unwrap();
    assert_eq!(
        (r.version, r.report.as_deref(), r.report_at),
        (2, Some(&b"{}"[..]), Some(5))
    );
}

/// A set assigned before the channel enrolled (no command could be queued) is announced when
/// the device's first report shows it holds something else; a second such report within the
/// resend interval queues nothing more.
fn status_report_resends(open: Open<'_>) {
    let early = Server::new(
        open(),
        Arc::new(RecordedCommands::refusing(&["UDID-S"])),
        TokenMode::Content,
    );
    put(&early, &vector("decl.configuration.test.token-v2.json")).unwrap();
    put_set(&early, "a", &["com.example.test"]).unwrap();
    let out = assign(&early, "a", "UDID-S").unwrap();
    assert!(out.announced[0].command.is_err());

    let (s, commands) = server(open, TokenMode::Content);
    // The device reports com.example.test at another revision (KMFDDM's token).
    let report = testkit::vector("ddm/kmfddm/test/e2e/testdata/status.D0.error.json");
    s.checkin("UDID-S", "status", Some(&report)).unwrap();
    let queued = commands.take();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0, vec!["UDID-S".to_owned()]);
    let want = independent(
        Channel::Device,
        TokenMode::Content,
        &[&vector("decl.configuration.test.token-v2.json")],
    );
    assert_eq!(command_token(&queued[0].1), want.declarations_token());
    let view = s.channel_view("UDID-S", SystemTime::now()).unwrap();
    assert_eq!(view["declarations"][0]["state"], "superseded");
    assert_eq!(
        view["declarations"][0]["reported_token"],
        "7c6d85989e823101"
    );
    assert_eq!(view["attempts"], 1);
    s.checkin("UDID-S", "status", Some(&report)).unwrap();
    assert!(commands.take().is_empty());
}

/// The periodic pass: a channel never told (enqueue refused before it enrolled) is told on the
/// next pass; a pending one again once the resend interval has passed, then after twice that;
/// nothing when everything is confirmed.
fn tick_resends_with_backoff(open: Open<'_>) {
    let t0 = kmfddm_now();
    let early = Server::new(
        open(),
        Arc::new(RecordedCommands::refusing(&["UDID-T"])),
        TokenMode::Kmfddm,
    );
    let report = testkit::vector("ddm/kmfddm/test/e2e/testdata/status.D0.error.json");
    let reported = body_json(&report);
    let r = &reported["StatusItems"]["management"]["declarations"]["configurations"][0];
    let decl = json!({
        "Type": "com.apple.configuration.management.test",
        "Identifier": r["identifier"],
        "ServerToken": r["server-token"],
        "Payload": {"Echo": "KMFDDM"},
    });
    put(&early, decl.to_string().as_bytes()).unwrap();
    put_set(&early, "t", &["com.example.test"]).unwrap();
    assign(&early, "t", "UDID-T").unwrap();
    assert_eq!(early.tick_at(t0).unwrap(), 0);

    let (s, commands) = server(open, TokenMode::Kmfddm);
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    assert_eq!(s.tick_at(at(0)).unwrap(), 1);
    assert_eq!(commands.take()[0].0, vec!["UDID-T".to_owned()]);
    // Default policy: again after 600 s, then after 1200 s more.
    assert_eq!(s.tick_at(at(599)).unwrap(), 0);
    assert_eq!(s.tick_at(at(600)).unwrap(), 1);
    assert_eq!(s.tick_at(at(600 + 1199)).unwrap(), 0);
    assert_eq!(s.tick_at(at(600 + 1200)).unwrap(), 1);
    assert_eq!(commands.take().len(), 2);
    // The device reports the declaration (inactive, not pending): nothing more to send.
    s.checkin_at("UDID-T", "status", Some(&report), at(2000))
        .unwrap();
    assert_eq!(s.tick_at(at(100_000)).unwrap(), 0);
    assert!(commands.take().is_empty());
}
