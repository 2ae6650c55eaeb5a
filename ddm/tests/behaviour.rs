//! Token properties (proptest), reconciliation scenarios, and activation predicates.

use ddm::predicate::{self, Op, Operand, Predicate};
use ddm::reconcile::{DeclarationState, Event, Policy, Resend, State, reconcile};
use ddm::{Channel, Declaration, DeclarationSet, Limits, StatusReport, StatusSnapshot, TokenMode};
use proptest::prelude::*;
use serde_json::{Value, json};

fn decl(v: Value) -> Declaration {
    Declaration::parse(&serde_json::to_vec(&v).unwrap(), &Limits::default()).unwrap()
}

fn config(id: &str, echo: &str) -> Declaration {
    decl(
        json!({"Type": "com.apple.configuration.management.test", "Identifier": id,
                "Payload": {"Echo": echo}}),
    )
}

fn activation(id: &str, configs: &[&str]) -> Declaration {
    decl(
        json!({"Type": "com.apple.activation.simple", "Identifier": id,
                "Payload": {"StandardConfigurations": configs}}),
    )
}

fn set_of(channel: Channel, decls: Vec<Declaration>) -> DeclarationSet {
    let mut s = DeclarationSet::new(channel, TokenMode::Content);
    for d in decls {
        s.insert(d).unwrap();
    }
    s.validate().unwrap();
    s
}

// ---------------------------------------------------------------------------------------------
// Token properties.

fn payloads() -> impl Strategy<Value = Vec<(String, Vec<(String, String)>)>> {
    prop::collection::btree_map(
        "[a-z]{1,8}",
        // Distinct keys, so every value is one the payload keeps.
        prop::collection::btree_map("[A-Z][a-z]{0,6}", "[ -~]{1,12}", 1..4)
            .prop_map(|m| m.into_iter().collect::<Vec<_>>()),
        1..8,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn build(p: &[(String, Vec<(String, String)>)]) -> Vec<Declaration> {
    p.iter()
        .map(|(id, kv)| {
            let payload: serde_json::Map<String, Value> = kv
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            decl(
                json!({"Type": "com.apple.configuration.x.synthetic", "Identifier": id,
                        "Payload": payload}),
            )
        })
        .collect()
}

proptest! {
    #[test]
    fn declarations_token_ignores_order(p in payloads(), seed in any::<u64>()) {
        let decls = build(&p);
        let mut shuffled = decls.clone();
        // A deterministic shuffle from the seed.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.rotate_left(i as u32) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        let a = set_of(Channel::Device, decls);
        let b = set_of(Channel::Device, shuffled);
        prop_assert_eq!(a.declarations_token(), b.declarations_token());
        prop_assert!(a.declarations_token().len() <= ddm::MAX_DECLARATIONS_TOKEN_OCTETS);
    }

    #[test]
    fn any_payload_byte_change_changes_tokens(
        p in payloads(), which in any::<prop::sample::Index>(), key in any::<prop::sample::Index>(),
        byte in any::<prop::sample::Index>(), delta in 1u8..94,
    ) {
        let before = set_of(Channel::Device, build(&p));
        let mut q = p.clone();
        let d = which.index(q.len());
        let k = key.index(q[d].1.len());
        let mut bytes = q[d].1[k].1.clone().into_bytes();
        let i = byte.index(bytes.len());
        // Another printable ASCII byte at position i.
        bytes[i] = b' ' + (bytes[i] - b' ' + delta) % 95;
        q[d].1[k].1 = String::from_utf8(bytes).unwrap();
        let after = set_of(Channel::Device, build(&q));
        for (id, _) in &p {
            let t0 = before.by_identifier(id).unwrap().server_token();
            let t1 = after.by_identifier(id).unwrap().server_token();
            prop_assert!(t0.len() <= ddm::MAX_IDENTIFIER_OCTETS);
            if *id == p[d].0 { prop_assert_ne!(t0, t1); } else { prop_assert_eq!(t0, t1); }
        }
        prop_assert_ne!(before.declarations_token(), after.declarations_token());
    }
}

// ---------------------------------------------------------------------------------------------
// Reconciliation.

fn status(id: &str, token: &str, active: bool, valid: &str, reasons: Value) -> Value {
    json!({"identifier": id, "server-token": token, "active": active, "valid": valid,
           "reasons": reasons})
}

fn report(decls: Value) -> StatusReport {
    let v = json!({"StatusItems": {"management": {"declarations": decls}}, "Errors": []});
    StatusReport::parse(&serde_json::to_vec(&v).unwrap(), &Limits::default()).unwrap()
}

fn token(set: &DeclarationSet, id: &str) -> String {
    set.by_identifier(id).unwrap().server_token().to_owned()
}

fn state_of<'a>(s: &'a State, id: &str) -> &'a DeclarationState {
    &s.declarations[id].state
}

fn two() -> DeclarationSet {
    set_of(
        Channel::Device,
        vec![activation("act", &["cfg"]), config("cfg", "hello")],
    )
}

#[test]
fn first_report_verifies() {
    let set = two();
    let p = Policy::default();
    let d = reconcile(&set, &State::default(), Event::Tick, 0, &p);
    assert_eq!(d.resend, Resend::Now, "never sent");
    assert_eq!(d.expected_version, 0);
    let d = reconcile(&set, &d.state, Event::CommandSent, 10, &p);
    assert_eq!(*state_of(&d.state, "cfg"), DeclarationState::Pending);
    assert_eq!(d.resend, Resend::At(610));
    let d = reconcile(
        &set,
        &d.state,
        Event::Synced {
            declarations_token: &set.declarations_token(),
        },
        20,
        &p,
    );
    assert!(!d.stale);
    let r = report(json!({
        "activations": [status("act", &token(&set, "act"), true, "valid", json!([]))],
        "configurations": [status("cfg", &token(&set, "cfg"), true, "valid", json!([]))],
        "assets": [], "management": []}));
    let d = reconcile(&set, &d.state, Event::Report(&r), 30, &p);
    assert_eq!(*state_of(&d.state, "act"), DeclarationState::Verified);
    assert_eq!(*state_of(&d.state, "cfg"), DeclarationState::Verified);
    assert_eq!(d.resend, Resend::No);
    assert!(!d.stale);
    assert_eq!(d.state.version, 4);
}

#[test]
fn incremental_reports_change_only_what_they_carry() {
    let set = two();
    let p = Policy::default();
    let s = reconcile(&set, &State::default(), Event::CommandSent, 0, &p).state;
    // Only the configuration is reported.
    let r = report(
        json!({"configurations": [status("cfg", &token(&set, "cfg"), true, "valid", json!([]))]}),
    );
    let s = reconcile(&set, &s, Event::Report(&r), 5, &p).state;
    assert_eq!(*state_of(&s, "cfg"), DeclarationState::Verified);
    assert_eq!(*state_of(&s, "act"), DeclarationState::Pending);
    // A report without a declarations section changes nothing.
    let other = StatusReport::parse(
        br#"{"StatusItems":{"device":{"model":{"family":"iPad"}}},"Errors":[]}"#,
        &Limits::default(),
    )
    .unwrap();
    assert!(other.declarations().is_none());
    let d = reconcile(&set, &s, Event::Report(&other), 6, &p);
    assert_eq!(d.state.declarations, s.declarations);
    assert_eq!(d.resend, Resend::At(600));
}

#[test]
fn failed_then_fixed() {
    let mut set = two();
    let p = Policy::default();
    let s = reconcile(&set, &State::default(), Event::CommandSent, 0, &p).state;
    let r = report(json!({
        "activations": [status("act", &token(&set, "act"), true, "valid", json!([]))],
        "configurations": [status("cfg", &token(&set, "cfg"), false, "invalid", json!([
            {"code": "Error.ConfigurationCannotBeApplied", "description": "echo failed"}]))]}));
    let d = reconcile(&set, &s, Event::Report(&r), 5, &p);
    let DeclarationState::Failed { reasons } = state_of(&d.state, "cfg") else {
        panic!("{:?}", state_of(&d.state, "cfg"));
    };
    assert_eq!(reasons[0].code, "Error.ConfigurationCannotBeApplied");
    assert_eq!(
        d.resend,
        Resend::No,
        "resending the same content cannot help"
    );
    // The operator fixes the configuration: new content, new token, send at once.
    set.insert(config("cfg", "hello, fixed")).unwrap();
    let d = reconcile(&set, &d.state, Event::Tick, 6, &p);
    assert_eq!(*state_of(&d.state, "cfg"), DeclarationState::Pending);
    assert_eq!(d.resend, Resend::Now);
    let s = reconcile(&set, &d.state, Event::CommandSent, 7, &p).state;
    let r = report(
        json!({"configurations": [status("cfg", &token(&set, "cfg"), true, "valid", json!([]))]}),
    );
    let d = reconcile(&set, &s, Event::Report(&r), 8, &p);
    assert_eq!(*state_of(&d.state, "cfg"), DeclarationState::Verified);
    assert_eq!(d.resend, Resend::No);
}

#[test]
fn unknown_type_and_inactive_and_management() {
    let set = set_of(
        Channel::Device,
        vec![
            config("cfg", "x"),
            decl(
                json!({"Type": "com.apple.configuration.from.the.future", "Identifier": "fut",
                        "Payload": {}}),
            ),
            decl(
                json!({"Type": "com.apple.management.organization-info", "Identifier": "org",
                        "Payload": {"Name": "ACME"}}),
            ),
        ],
    );
    let p = Policy::default();
    let s = reconcile(&set, &State::default(), Event::CommandSent, 0, &p).state;
    let r = report(json!({
        "configurations": [
            status("fut", &token(&set, "fut"), false, "invalid", json!([{"code": "Error.UnknownDeclarationType"}])),
            status("cfg", &token(&set, "cfg"), false, "unknown", json!([{"code": "Info.NotReferencedByActivation"}])),
        ],
        "management": [status("org", &token(&set, "org"), false, "valid", json!([]))]}));
    let d = reconcile(&set, &s, Event::Report(&r), 1, &p);
    assert_eq!(
        *state_of(&d.state, "fut"),
        DeclarationState::UnknownToDevice
    );
    assert!(
        matches!(state_of(&d.state, "cfg"), DeclarationState::Inactive { reasons } if reasons[0].code == "Info.NotReferencedByActivation")
    );
    assert_eq!(
        *state_of(&d.state, "org"),
        DeclarationState::Verified,
        "management is never active"
    );
    assert_eq!(d.resend, Resend::No);
}

#[test]
fn stale_device() {
    let set = two();
    let p = Policy::default();
    let s = reconcile(&set, &State::default(), Event::CommandSent, 0, &p).state;
    // The device synced to an old DeclarationsToken.
    let d = reconcile(
        &set,
        &s,
        Event::Synced {
            declarations_token: "0123",
        },
        1,
        &p,
    );
    assert!(d.stale);
    assert_eq!(d.resend, Resend::At(600));
    // It reports an older revision of the configuration.
    let r =
        report(json!({"configurations": [status("cfg", "old-token", true, "valid", json!([]))]}));
    let d = reconcile(&set, &d.state, Event::Report(&r), 2, &p);
    assert_eq!(
        *state_of(&d.state, "cfg"),
        DeclarationState::Superseded {
            reported_token: "old-token".into()
        }
    );
    assert!(d.stale);
    // And a declaration the set no longer has.
    let r = report(json!({"configurations": [status("gone", "t", true, "valid", json!([]))]}));
    let d = reconcile(&set, &d.state, Event::Report(&r), 3, &p);
    assert_eq!(d.state.extra_on_device, vec!["gone".to_owned()]);
    // Syncing to the current token clears it.
    let d = reconcile(
        &set,
        &d.state,
        Event::Synced {
            declarations_token: &set.declarations_token(),
        },
        4,
        &p,
    );
    assert!(d.state.extra_on_device.is_empty());
}

#[test]
fn lost_report_is_resent_with_backoff() {
    let set = two();
    let p = Policy {
        resend_after: 600,
        max_backoff: 2000,
    };
    let s = reconcile(&set, &State::default(), Event::CommandSent, 0, &p).state;
    assert_eq!(
        reconcile(&set, &s, Event::Tick, 300, &p).resend,
        Resend::At(600)
    );
    assert_eq!(
        reconcile(&set, &s, Event::Tick, 600, &p).resend,
        Resend::Now
    );
    let s = reconcile(&set, &s, Event::CommandSent, 700, &p).state;
    assert_eq!(
        reconcile(&set, &s, Event::Tick, 701, &p).resend,
        Resend::At(1900)
    );
    let s = reconcile(&set, &s, Event::CommandSent, 1900, &p).state;
    // 600 * 4 = 2400 is capped at 2000: nothing waits longer than max_backoff.
    assert_eq!(
        reconcile(&set, &s, Event::Tick, 1901, &p).resend,
        Resend::At(3900)
    );
    let mut s = s;
    for i in 0..50 {
        s = reconcile(&set, &s, Event::CommandSent, 10_000 * i, &p).state;
    }
    assert_eq!(
        reconcile(&set, &s, Event::Tick, 10_000 * 49 + 1, &p).resend,
        Resend::At(10_000 * 49 + 2000)
    );
}

#[test]
fn device_and_user_channels_side_by_side() {
    let device = two();
    let user = set_of(
        Channel::User,
        vec![activation("uact", &["ucfg"]), config("ucfg", "user")],
    );
    let p = Policy::default();
    let sd = reconcile(&device, &State::default(), Event::CommandSent, 0, &p).state;
    let su = reconcile(&user, &State::default(), Event::CommandSent, 0, &p).state;
    let ru = report(json!({
        "activations": [status("uact", &token(&user, "uact"), true, "valid", json!([]))],
        "configurations": [status("ucfg", &token(&user, "ucfg"), true, "valid", json!([]))]}));
    let du = reconcile(&user, &su, Event::Report(&ru), 1, &p);
    assert_eq!(du.resend, Resend::No);
    // The same user report applied to the device channel's state touches nothing of it and
    // shows the device channel holds declarations it does not know.
    let dd = reconcile(&device, &sd, Event::Report(&ru), 1, &p);
    assert_eq!(*state_of(&dd.state, "cfg"), DeclarationState::Pending);
    assert!(dd.stale);
    assert_ne!(device.declarations_token(), user.declarations_token());
}

// ---------------------------------------------------------------------------------------------
// Predicates.

/// The snapshot the predicate cases run against: (path, value).
fn snapshot_values() -> Vec<(&'static str, Value)> {
    vec![
        ("device.model.family", json!("iPad")),
        ("device.operating-system.family", json!("iPadOS")),
        ("device.operating-system.version", json!("17.4.1")),
        ("device.model.marketing-name", json!("iPad Pro (12.9-inch)")),
        ("mdm.is-supervised", json!(true)),
        ("test.integer-value", json!(42)),
        ("user.name", json!("Ångström")),
    ]
}

fn snapshot() -> StatusSnapshot {
    let mut s = StatusSnapshot::new();
    for (p, v) in snapshot_values() {
        s.set(p, v);
    }
    s
}

/// Predicates in the forms Apple documents (the DDM activation docs' `@status(...)` key paths;
/// the Predicate Programming Guide's operators, modifiers, literals and aggregates), with the
/// answers NSPredicate's documented semantics give, written by hand from the documentation (not
/// computed by our evaluator). `gnustep_agrees` runs the same cases through GNUstep's
/// NSPredicate.
const CASES: &[(&str, bool)] = &[
    (r#"@status(device.model.family) == "iPad""#, true),
    (r#"@status(device.model.family) == 'iPhone'"#, false),
    (r#"@status(device.model.family) = "iPad""#, true),
    (r#"@status(device.model.family) != "iPad""#, false),
    (r#"@status(device.model.family) <> "iPhone""#, true),
    (
        r#"@status(device.model.family) IN {"iPhone", "iPad"}"#,
        true,
    ),
    (r#"@status(device.model.family) IN {"Mac"}"#, false),
    (r#"@status(device.model.family) IN "my iPad""#, true),
    (
        r#"@status(device.operating-system.version) BEGINSWITH "17.""#,
        true,
    ),
    (
        r#"@status(device.operating-system.version) ENDSWITH ".1""#,
        true,
    ),
    (
        r#"@status(device.model.marketing-name) CONTAINS "Pro""#,
        true,
    ),
    (
        r#"@status(device.model.marketing-name) CONTAINS "pro""#,
        false,
    ),
    (
        r#"@status(device.model.marketing-name) CONTAINS[c] "pro""#,
        true,
    ),
    (
        r#"@status(device.model.marketing-name) LIKE "iPad*(12.?-inch)""#,
        true,
    ),
    (
        r#"@status(device.model.marketing-name) LIKE[c] "IPAD*""#,
        true,
    ),
    (r#"@status(device.model.marketing-name) LIKE "iPad""#, false),
    // Only `*` and `?` are wildcards: `.` is itself.
    (r#"@status(device.model.family) LIKE "iP.d""#, false),
    (
        r#"@status(device.operating-system.version) MATCHES "1[7-9][.].*""#,
        true,
    ),
    (
        r#"@status(device.operating-system.version) MATCHES "7[.].*""#,
        false,
    ),
    (r#"@status(user.name) == "Angstrom""#, false),
    (r#"@status(user.name) ==[d] "Angstrom""#, true),
    (r#"@status(user.name) LIKE[cd] "angstrom""#, true),
    (r#"@status(test.integer-value) > 41"#, true),
    (
        r#"@status(test.integer-value) >= 42 AND @status(test.integer-value) <= 42"#,
        true,
    ),
    (
        r#"@status(test.integer-value) < 42.5 && @status(test.integer-value) =< 41"#,
        false,
    ),
    (
        r#"@status(test.integer-value) => 43 || @status(test.integer-value) == 42"#,
        true,
    ),
    (r#"@status(mdm.is-supervised) == TRUE"#, true),
    (
        r#"@status(mdm.is-supervised) == YES AND NOT @status(mdm.is-supervised) == NO"#,
        true,
    ),
    (r#"@status(not.reported) == nil"#, true),
    (
        r#"@status(not.reported) == NULL OR @status(not.reported) != NULL"#,
        true,
    ),
    (r#"!(@status(device.model.family) == "iPad")"#, false),
    (
        r#"not (@status(device.model.family) == "iPhone") and TRUEPREDICATE"#,
        true,
    ),
    (
        r#"FALSEPREDICATE or (@status(device.model.family) == "iPad" and @status(device.operating-system.family) == "iPadOS")"#,
        true,
    ),
    // Strings compare as strings: version order is not numeric.
    (
        r#"@status(device.operating-system.version) > "17.10""#,
        true,
    ),
    // Mixed types never compare equal.
    (r#"@status(test.integer-value) == "42""#, false),
];

#[test]
fn documented_forms() {
    let s = snapshot();
    for (text, want) in CASES {
        let p = predicate::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(p.evaluate(&s), *want, "{text}");
    }
}

/// Where GNUstep 1.28's NSPredicate differs from Apple's documented behaviour (checked here, so
/// a GNUstep that changes is noticed): `IN` with an aggregate literal is always false, `[d]`
/// does not fold diacritics, and `LIKE` hands its pattern to a regular expression unescaped
/// (`.` matches any character, parentheses group).
const GNUSTEP_DIFFERS: &[&str] = &[
    r#"@status(device.model.marketing-name) LIKE "iPad*(12.?-inch)""#,
    r#"@status(device.model.family) LIKE "iP.d""#,
    r#"@status(device.model.family) IN {"iPhone", "iPad"}"#,
    r#"@status(user.name) ==[d] "Angstrom""#,
    r#"@status(user.name) LIKE[cd] "angstrom""#,
];

/// Build the GNUstep oracle (`tests/gnustep/pred.m`) into a temp dir.
fn gnustep() -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gnustep/pred.m");
    let dir = std::env::temp_dir().join(format!("ddm-gnustep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("pred");
    let flags = |arg: &str| -> Vec<String> {
        let out = std::process::Command::new("gnustep-config")
            .arg(arg)
            .output()
            .expect("gnustep-config (Debian gnustep-make, libgnustep-base-dev) is needed: cargo xtask install");
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let status = std::process::Command::new("gcc")
        .arg(&src)
        .arg("-o")
        .arg(&bin)
        .args(flags("--objc-flags"))
        .args(flags("--base-libs"))
        .status()
        .expect("gcc with Objective-C (Debian gobjc) is needed: cargo xtask install");
    assert!(status.success(), "building the GNUstep oracle failed");
    bin
}

/// Run `text` through GNUstep: `@status(path)` becomes `$vN`, bound to the snapshot's value.
fn gnustep_eval(bin: &std::path::Path, text: &str) -> Result<bool, String> {
    let values = snapshot_values();
    let mut format = String::new();
    let mut args = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("@status(") {
        format.push_str(&rest[..i]);
        let after = &rest[i + 8..];
        let j = after.find(')').unwrap();
        let path = &after[..j];
        format.push_str(&format!("$v{}", args.len()));
        args.push(
            match values.iter().find(|(p, _)| *p == path).map(|(_, v)| v) {
                Some(Value::String(s)) => format!("s:{s}"),
                Some(Value::Number(n)) => format!("n:{n}"),
                Some(Value::Bool(b)) => format!("b:{}", u8::from(*b)),
                // Left unbound: nil in GNUstep.
                _ => "x:".to_owned(),
            },
        );
        rest = &after[j + 1..];
    }
    format.push_str(rest);
    let out = std::process::Command::new(bin)
        .arg(&format)
        .args(&args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match text.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(other.to_owned()),
    }
}

#[test]
fn gnustep_agrees() {
    let bin = gnustep();
    let mut agreed = 0;
    for (text, want) in CASES {
        let got = gnustep_eval(&bin, text).unwrap_or_else(|e| panic!("GNUstep: {text}: {e}"));
        if GNUSTEP_DIFFERS.contains(text) {
            assert_eq!(
                got, !want,
                "GNUstep now agrees with Apple on {text}: drop it from GNUSTEP_DIFFERS"
            );
        } else {
            assert_eq!(got, *want, "GNUstep disagrees on {text}");
            agreed += 1;
        }
    }
    // Malformed predicates are refused by both.
    for text in [
        "@status(a) ==",
        "(@status(a) == 1",
        "@status(a) == 1 AND",
        "@status(a) == 'open",
    ] {
        assert!(predicate::parse(text).is_err());
        assert!(gnustep_eval(&bin, text).is_err(), "GNUstep accepted {text}");
    }
    println!(
        "GNUstep NSPredicate agrees on {agreed}/{} cases; {} documented differences",
        CASES.len(),
        GNUSTEP_DIFFERS.len()
    );
    let _ = std::fs::remove_dir_all(bin.parent().unwrap());
}

#[test]
fn tree_shape() {
    let p = predicate::parse(
        r#"@status(a.b) == 1 OR @status(c) IN {'x', 2} AND NOT @status(d) CONTAINS[cd] "y""#,
    )
    .unwrap();
    let Predicate::Or(left, right) = p else {
        panic!()
    };
    assert_eq!(
        *left,
        Predicate::Compare {
            left: Operand::Status("a.b".into()),
            op: Op::Eq,
            options: Default::default(),
            right: Operand::Number(1.0)
        }
    );
    let Predicate::And(_, not) = *right else {
        panic!("AND binds tighter than OR")
    };
    let Predicate::Not(inner) = *not else {
        panic!()
    };
    let Predicate::Compare { op, options, .. } = *inner else {
        panic!()
    };
    assert_eq!(op, Op::Contains);
    assert!(options.case_insensitive && options.diacritic_insensitive);
}

#[test]
fn malformed_predicates_say_where() {
    // (predicate, byte offset of the error), offsets counted by hand.
    let cases: &[(&str, usize)] = &[
        ("", 0),
        ("@status(a) ==", 13),
        ("@status(a) === 1", 13),
        ("@status() == 1", 8),
        ("@status(a == 1", 10),
        ("(@status(a) == 1", 16),
        ("@status(a) == 1)", 15),
        ("@status(a) == 'open", 14),
        ("@status(a) BETWEEN {1, 2}", 11),
        ("@status(a) ==[x] 1", 14),
        ("@status(a) == {1, 2", 19),
        ("@status(a) == 1 AND", 19),
        ("@status(a) == 1.2.3", 14),
    ];
    for (text, pos) in cases {
        let e = predicate::parse(text).unwrap_err();
        assert_eq!(e.position, *pos, "{text}: {e}");
    }
    let deep = format!("{}@status(a) == 1{}", "(".repeat(100), ")".repeat(100));
    assert!(
        predicate::parse(&deep)
            .unwrap_err()
            .message
            .contains("nested deeper")
    );
    let nots = format!("{}TRUEPREDICATE", "NOT ".repeat(10_000));
    assert!(predicate::parse(&nots).is_err());
    assert!(predicate::parse(&"x".repeat(predicate::MAX_LEN + 1)).is_err());
}

#[test]
fn free_function_token_equals_the_sets() {
    let set = two();
    let mut entries: Vec<_> = set
        .iter()
        .map(|d| (d.identifier(), d.server_token()))
        .collect();
    entries.reverse();
    assert_eq!(ddm::declarations_token(entries), set.declarations_token());
}

#[test]
fn like_work_is_bounded() {
    let text = "a".repeat(20_000);
    let pattern = format!("{}b", "*a".repeat(10_000));
    let p = predicate::parse(&format!("'{text}' LIKE '{pattern}'")).unwrap();
    let start = std::time::Instant::now();
    assert!(!p.evaluate(&StatusSnapshot::new()));
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

// ---------------------------------------------------------------------------------------------
// Total parsers: arbitrary input gives a value or a typed error, never a panic.

proptest! {
    #[test]
    fn predicate_parser_is_total(s in r#"[@statusINOTANDLIKE()'"{}\[\]cd=!<>&|,. 0-9a-z€é\\-]{0,40}"#) {
        if let Ok(p) = predicate::parse(&s) {
            let _ = p.evaluate(&snapshot());
        }
    }

    #[test]
    fn json_parsers_are_total(bytes in prop::collection::vec(any::<u8>(), 0..200),
                              s in r#"\{("[A-Za-z]{1,10}":(\{|\[|"x"|1|true|null|\]|\}|,){0,6}){0,4}"#) {
        let limits = Limits::default();
        for input in [bytes.as_slice(), s.as_bytes()] {
            let _ = StatusReport::parse(input, &limits);
            let _ = Declaration::parse(input, &limits);
        }
    }
}

#[test]
fn multibyte_text_where_at_status_is_expected() {
    for s in ["@statu€(a) == 1", "€€€€€€€€ == 1", "@status(a) == '€'", "é"] {
        let _ = predicate::parse(s);
    }
}
