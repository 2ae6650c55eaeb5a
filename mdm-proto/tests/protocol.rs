//! Check-in answers, enrollment channels, the command queue, and bad input. Plists here are
//! written by Python's `plistlib` at run time (see `plist` below), never by this crate.

use std::io::Write;
use std::process::{Command as Process, Stdio};

use mdm_proto::checkin::{Answer, Channel, CheckIn, CheckInRequest};
use mdm_proto::command::{Command, Report, Status};
use mdm_proto::generated::commands::{CommandResponse, DeviceInformation, DeviceLock};
use mdm_proto::queue::{Change, Queue};
use mdm_proto::{Error, Limits};

/// Write a plist with Python's plistlib from a Python literal (`fmt` is XML or BINARY).
fn plist(literal: &str, fmt: &str) -> Vec<u8> {
    let code = format!(
        "import plistlib,sys,datetime\nsys.stdout.buffer.write(plistlib.dumps({literal}, fmt=plistlib.FMT_{fmt}))"
    );
    let mut child = Process::new("python3")
        .arg("-c")
        .arg(&code)
        .stdout(Stdio::piped())
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().flush().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python failed for {literal}");
    out.stdout
}

fn xml(literal: &str) -> Vec<u8> {
    plist(literal, "XML")
}

const UDID: &str = "00008030-001A2B3C4D5E802E";

#[test]
fn channels() {
    let l = Limits::default();
    let cases = [
        (
            format!("{{'MessageType':'TokenUpdate','Topic':'t','UDID':'{UDID}','Token':b'\\x01','PushMagic':'m'}}"),
            Channel::Device { udid: UDID.into() },
            UDID.to_owned(),
        ),
        (
            format!("{{'MessageType':'TokenUpdate','Topic':'t','UDID':'{UDID}','UserID':'U-1','UserShortName':'ann','UserLongName':'Ann','Token':b'\\x01','PushMagic':'m'}}"),
            Channel::User { udid: UDID.into(), user_id: "U-1".into() },
            format!("{UDID}:U-1"),
        ),
        (
            format!("{{'MessageType':'TokenUpdate','Topic':'t','UDID':'{UDID}','UserID':'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF','UserShortName':'ann@example.com','Token':b'\\x01','PushMagic':'m'}}"),
            Channel::SharedIpadUser { udid: UDID.into(), user_short_name: "ann@example.com".into() },
            format!("{UDID}:ann@example.com"),
        ),
        (
            "{'MessageType':'TokenUpdate','Topic':'t','EnrollmentID':'E-1','Token':b'\\x01','PushMagic':'m'}".to_owned(),
            Channel::UserEnrollmentDevice { enrollment_id: "E-1".into() },
            "E-1".to_owned(),
        ),
        (
            "{'MessageType':'TokenUpdate','Topic':'t','EnrollmentID':'E-1','EnrollmentUserID':'EU-1','Token':b'\\x01','PushMagic':'m'}".to_owned(),
            Channel::UserEnrollmentUser { enrollment_id: "E-1".into(), enrollment_user_id: "EU-1".into() },
            "E-1:EU-1".to_owned(),
        ),
    ];
    for (lit, want, id) in cases {
        let req = CheckInRequest::parse(&xml(&lit), &l).unwrap();
        let ch = req.channel.unwrap();
        assert_eq!(ch, want);
        assert_eq!(ch.id(), id);
    }
}

#[test]
fn answers() {
    let l = Limits::default();
    // GetBootstrapToken from Setup Assistant: no identifiers.
    let req = CheckInRequest::parse(
        &xml("{'MessageType':'GetBootstrapToken','AwaitingConfiguration':True}"),
        &l,
    )
    .unwrap();
    assert!(matches!(req.message, CheckIn::GetBootstrapToken(_)));
    assert_eq!(req.channel, None);
    let a = Answer::BootstrapToken(None);
    assert_eq!((a.status(), a.body()), (200, Vec::new()));
    let a = Answer::BootstrapToken(Some(b"tok".to_vec().into()));
    // Read back with plistlib: {BootstrapToken: b'tok'}.
    let back = python_reads(&a.body());
    assert_eq!(back, "{'BootstrapToken': b'tok'}");

    let first = CheckInRequest::parse(
        &xml(&format!(
            "{{'MessageType':'UserAuthenticate','UDID':'{UDID}','UserID':'U-1'}}"
        )),
        &l,
    )
    .unwrap();
    let CheckIn::UserAuthenticate(u) = &first.message else {
        panic!()
    };
    assert!(u.is_first_phase());
    let a = Answer::DigestChallenge("Digest nonce=\"abc\"".into());
    assert_eq!(
        python_reads(&a.body()),
        "{'DigestChallenge': 'Digest nonce=\"abc\"'}"
    );
    let a = Answer::UserAuthenticateDeclined;
    assert_eq!((a.status(), a.body().len()), (410, 0));
    let second = CheckInRequest::parse(&xml(&format!("{{'MessageType':'UserAuthenticate','UDID':'{UDID}','UserID':'U-1','DigestResponse':'r'}}")), &l).unwrap();
    let CheckIn::UserAuthenticate(u) = &second.message else {
        panic!()
    };
    assert!(!u.is_first_phase());
    let r = Answer::Empty.to_http();
    assert_eq!(r.status(), 200);
    assert!(r.body().is_empty());
}

fn python_reads(body: &[u8]) -> String {
    let mut child = Process::new("python3")
        .arg("-c")
        .arg("import plistlib,sys\nprint(repr(plistlib.loads(sys.stdin.buffer.read())),end='')")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

fn report(status: &str, uuid: Option<&str>, udid: &str, extra: &str) -> Vec<u8> {
    let uuid = uuid
        .map(|u| format!("'CommandUUID':'{u}',"))
        .unwrap_or_default();
    xml(&format!(
        "{{'Status':'{status}',{uuid}'UDID':'{udid}'{extra}}}"
    ))
}

#[test]
fn queue_scenarios() {
    let l = Limits::default();
    let mut rng = testkit::rng(13);
    let lock = Command::new(
        DeviceLock {
            pin: Some("123456".into()),
            ..Default::default()
        },
        &mut rng,
    );
    let info = Command::new(
        DeviceInformation {
            queries: vec![],
            ..Default::default()
        },
        &mut rng,
    );
    // The command a device receives reads back in Python as the same keys.
    let sent = python_reads(&lock.to_xml());
    assert!(
        sent.contains("'RequestType': 'DeviceLock'") && sent.contains("'PIN': '123456'"),
        "{sent}"
    );
    assert!(sent.contains(&format!("'CommandUUID': '{}'", lock.command_uuid)));
    assert_eq!(lock.command_uuid.len(), 36);
    assert_eq!(&lock.command_uuid[14..15], "4");

    let mut q = Queue::default();
    q.push(
        lock.command_uuid.clone(),
        "DeviceLock".into(),
        lock.to_xml(),
    );
    q.push(
        info.command_uuid.clone(),
        "DeviceInformation".into(),
        info.to_xml(),
    );

    // Idle: send the first command.
    let d = q.decide(&report("Idle", None, UDID, ""), &l).unwrap();
    assert_eq!(d.changes, vec![Change::ClearNotNow]);
    assert_eq!(d.next.as_deref(), Some(lock.command_uuid.as_str()));
    q.apply(&d.changes);

    // NotNow: skipped until the next Idle; the next command goes instead.
    let d = q
        .decide(&report("NotNow", Some(&lock.command_uuid), UDID, ""), &l)
        .unwrap();
    assert_eq!(d.next.as_deref(), Some(info.command_uuid.as_str()));
    q.apply(&d.changes);
    assert!(q.items[0].not_now);

    // Acknowledged with a typed result (RequestType from the queue).
    let d = q
        .decide(
            &report(
                "Acknowledged",
                Some(&info.command_uuid),
                UDID,
                ",'QueryResponses':{'OSVersion':'17.4','BatteryLevel':1}",
            ),
            &l,
        )
        .unwrap();
    let Some(CommandResponse::DeviceInformation(r)) = &d.report.typed else {
        panic!("{:?}", d.report.typed)
    };
    assert_eq!(r.query_responses.os_version.as_deref(), Some("17.4"));
    assert_eq!(r.query_responses.battery_level, Some(1.0));
    assert_eq!(d.next, None, "the NotNow'd command waits for Idle");
    q.apply(&d.changes);
    assert_eq!(q.items.len(), 1);

    // Unknown CommandUUID: nothing changes, nothing blocks.
    let before = q.clone();
    let d = q
        .decide(
            &report(
                "Acknowledged",
                Some("5A1B7C3D-0000-4000-8000-000000000000"),
                UDID,
                "",
            ),
            &l,
        )
        .unwrap();
    assert!(d.unknown_command && d.changes.is_empty());
    q.apply(&d.changes);
    assert_eq!(q, before);

    // Idle again: the NotNow'd command is eligible.
    let d = q.decide(&report("Idle", None, UDID, ""), &l).unwrap();
    assert_eq!(d.next.as_deref(), Some(lock.command_uuid.as_str()));
    q.apply(&d.changes);

    // Error with ErrorChain.
    let d = q
        .decide(&report("Error", Some(&lock.command_uuid), UDID, ",'ErrorChain':[{'ErrorCode':12021,'ErrorDomain':'MCMDMErrorDomain','LocalizedDescription':'x'}]"), &l)
        .unwrap();
    assert_eq!(
        d.report.error_chain.as_ref().unwrap()[0].error_code,
        Some(12021)
    );
    assert!(matches!(
        &d.changes[0],
        Change::Finish {
            status: Status::Error,
            ..
        }
    ));
    q.apply(&d.changes);
    assert!(q.items.is_empty());

    // CommandFormatError finishes a command too.
    let mut q = Queue::default();
    q.push("C-1".into(), "DeviceLock".into(), Vec::new());
    let d = q
        .decide(&report("CommandFormatError", Some("C-1"), UDID, ""), &l)
        .unwrap();
    assert!(matches!(
        &d.changes[0],
        Change::Finish {
            status: Status::CommandFormatError,
            ..
        }
    ));

    // Undecodable report: typed error, nothing to apply.
    let before = q.clone();
    assert!(matches!(
        q.decide(b"<plist><dict><key>Status", &l),
        Err(Error::Plist(_))
    ));
    assert!(matches!(
        q.decide(&report("Maybe", Some("C-1"), UDID, ""), &l),
        Err(Error::UnknownStatus(_))
    ));
    assert_eq!(q, before);
}

#[test]
fn user_and_device_channels_have_separate_queues() {
    let l = Limits::default();
    let mut device = Queue::default();
    let mut user = Queue::default();
    device.push("D-1".into(), "DeviceLock".into(), Vec::new());
    user.push("U-1".into(), "ProfileList".into(), Vec::new());
    let from_user = xml(&format!(
        "{{'Status':'Acknowledged','CommandUUID':'U-1','UDID':'{UDID}','UserID':'U','ProfileList':[]}}"
    ));
    let r = Report::parse(&from_user, &l).unwrap();
    // The server picks the queue by channel ID.
    assert_eq!(r.channel.id(), format!("{UDID}:U"));
    let d = user.decide(&from_user, &l).unwrap();
    assert!(matches!(
        d.report.typed,
        Some(CommandResponse::ProfileList(_))
    ));
    user.apply(&d.changes);
    let d = device.decide(&from_user, &l).unwrap();
    assert!(d.unknown_command);
    device.apply(&d.changes);
    assert_eq!((device.items.len(), user.items.len()), (1, 0));
}

#[test]
fn bad_input() {
    let l = Limits::default();
    // Wrong content type.
    let body = xml(&format!(
        "{{'MessageType':'CheckOut','Topic':'t','UDID':'{UDID}'}}"
    ));
    let e = CheckInRequest::parse_http(Some("application/json"), &body, &l).unwrap_err();
    assert_eq!(
        (e.http_status(), matches!(e, Error::ContentType(_))),
        (415, true)
    );
    assert!(
        CheckInRequest::parse_http(Some("application/x-apple-aspen-mdm-checkin"), &body, &l)
            .is_ok()
    );
    // Truncated.
    // (A body cut after its closing `</dict>` still reads: the plist crate does not need `</plist>`.)
    for cut in [1, body.len() / 2, body.len() - 25] {
        let e = CheckInRequest::parse(&body[..cut], &l).unwrap_err();
        assert_eq!(e.http_status(), 400, "{e}");
    }
    let bin = plist(
        &format!("{{'MessageType':'CheckOut','Topic':'t','UDID':'{UDID}'}}"),
        "BINARY",
    );
    assert!(CheckInRequest::parse(&bin, &l).is_ok());
    assert!(CheckInRequest::parse(&bin[..bin.len() - 5], &l).is_err());
    // Missing MessageType, unknown MessageType.
    let e = CheckInRequest::parse(&xml(&format!("{{'UDID':'{UDID}'}}")), &l).unwrap_err();
    assert_eq!(
        e,
        Error::MissingKey {
            path: "MessageType".into()
        }
    );
    let e = CheckInRequest::parse(
        &xml(&format!("{{'MessageType':'Hello','UDID':'{UDID}'}}")),
        &l,
    )
    .unwrap_err();
    assert_eq!(
        (e.clone(), e.http_status()),
        (Error::UnknownMessageType("Hello".into()), 400)
    );
    // Wrong type for a required key (Token is <data>; an array cannot be read as data).
    let e = CheckInRequest::parse(&xml(&format!("{{'MessageType':'TokenUpdate','Topic':'t','UDID':'{UDID}','Token':[1],'PushMagic':'m'}}")), &l).unwrap_err();
    assert_eq!(
        e,
        Error::WrongType {
            path: "Token".into(),
            expected: "data",
            found: "array"
        }
    );
    // Missing required key.
    let e = CheckInRequest::parse(
        &xml(&format!(
            "{{'MessageType':'TokenUpdate','Topic':'t','UDID':'{UDID}','Token':b'x'}}"
        )),
        &l,
    )
    .unwrap_err();
    assert_eq!(
        e,
        Error::MissingKey {
            path: "PushMagic".into()
        }
    );
    // Huge.
    let small = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        CheckInRequest::parse(&body, &small),
        Err(Error::TooLarge { .. })
    ));
    // Deep, XML and binary (python builds a 100-deep nest).
    let deep = "{'MessageType':'CheckOut','UDID':'x','Topic':'t','Deep':".to_owned()
        + &"[".repeat(100)
        + &"]".repeat(100)
        + "}";
    assert_eq!(
        CheckInRequest::parse(&xml(&deep), &l).unwrap_err(),
        Error::TooDeep { max: 64 }
    );
    assert_eq!(
        CheckInRequest::parse(&plist(&deep, "BINARY"), &l).unwrap_err(),
        Error::TooDeep { max: 64 }
    );
    // Very deep XML (written by hand: 100k nested arrays) is refused before it is built.
    let mut s =
        String::from("<plist><dict><key>MessageType</key><string>CheckOut</string><key>D</key>");
    s.push_str(&"<array>".repeat(100_000));
    s.push_str(&"</array>".repeat(100_000));
    s.push_str("</dict></plist>");
    assert_eq!(
        CheckInRequest::parse(s.as_bytes(), &l).unwrap_err(),
        Error::TooDeep { max: 64 }
    );
    // A binary reference bomb: python shares one list object 2^k times.
    let bomb = "(lambda: (lambda a: [a]*64)((lambda b: [b]*64)((lambda c: [c]*64)([1]*64))))()";
    let bomb = plist(
        &format!("{{'MessageType':'CheckOut','UDID':'x','Topic':'t','B':{bomb}}}"),
        "BINARY",
    );
    assert!(bomb.len() < 20_000, "{}", bomb.len());
    assert!(matches!(
        CheckInRequest::parse(&bomb, &l),
        Err(Error::TooManyValues { .. })
    ));
    // Not a dictionary.
    assert!(matches!(
        CheckInRequest::parse(&xml("[1,2]"), &l),
        Err(Error::WrongType { .. })
    ));
}

#[test]
fn lenient_scalars() {
    let l = Limits::default();
    // Data as base64 string, boolean as string and integer, date as ISO string, real as integer.
    let r = Report::parse(
        &xml(&format!(
            "{{'Status':'Acknowledged','CommandUUID':'C','UDID':'{UDID}','QueryResponses':{{'BatteryLevel':1,'IsSupervised':'true','IsCloudBackupEnabled':1,'LastCloudBackupDate':'2024-05-06T07:08:09Z','DeviceName':'d'}}}}"
        )),
        &l,
    );
    let mut r = r.unwrap();
    let Some(CommandResponse::DeviceInformation(di)) =
        r.type_result("DeviceInformation").unwrap().cloned()
    else {
        panic!()
    };
    let q = di.query_responses;
    assert_eq!(q.battery_level, Some(1.0));
    assert_eq!(q.is_supervised, Some(true));
    assert_eq!(q.is_cloud_backup_enabled, Some(true));
    assert_eq!(
        q.last_cloud_backup_date.map(|d| d.to_xml_format()),
        Some("2024-05-06T07:08:09Z".to_owned())
    );
    let t = CheckInRequest::parse(
        &xml(&format!("{{'MessageType':'TokenUpdate','Topic':'t','UDID':'{UDID}','Token':'AAEC','PushMagic':'m','AwaitingConfiguration':0}}")),
        &l,
    )
    .unwrap();
    let CheckIn::TokenUpdate(t) = t.message else {
        panic!()
    };
    assert_eq!(t.token.0, vec![0, 1, 2]);
    assert_eq!(t.awaiting_configuration, Some(false));
}

#[test]
fn raw_commands_for_what_the_schema_lacks() {
    let mut d = mdm_proto::plist::Dictionary::new();
    d.insert(
        "Flavour".into(),
        mdm_proto::plist::Value::String("lime".into()),
    );
    let c = Command::from_dictionary("FutureCommand", d, &mut testkit::rng(2));
    let back = python_reads(&c.to_xml());
    assert!(
        back.contains("'RequestType': 'FutureCommand'") && back.contains("'Flavour': 'lime'"),
        "{back}"
    );
    let body =
        xml("{'CommandUUID':'C-9','Command':{'RequestType':'FutureCommand','Flavour':'lime'}}");
    let parsed = Command::parse(&body, &Limits::default()).unwrap();
    assert!(
        matches!(&parsed.payload, mdm_proto::command::Payload::Raw { request_type, .. } if request_type == "FutureCommand")
    );
    // Two draws from one RNG give different CommandUUIDs.
    let mut rng = testkit::rng(3);
    let a = Command::from_dictionary("X", Default::default(), &mut rng);
    let b = Command::from_dictionary("X", Default::default(), &mut rng);
    assert_ne!(a.command_uuid, b.command_uuid);
    // A schema command whose payload has a wrong type is refused, with the path.
    let bad = xml("{'CommandUUID':'C','Command':{'RequestType':'DeviceLock','PIN':7}}");
    assert_eq!(
        Command::parse(&bad, &Limits::default()).unwrap_err(),
        Error::WrongType {
            path: "Command/PIN".into(),
            expected: "string",
            found: "integer"
        }
    );
    // A result that does not fit its type is an error; the keys stay readable.
    let mut r = Report::parse(
        &xml("{'Status':'Acknowledged','CommandUUID':'C','UDID':'U','QueryResponses':[1]}"),
        &Limits::default(),
    )
    .unwrap();
    assert!(r.type_result("DeviceInformation").is_err());
    assert!(r.result.contains_key("QueryResponses") && r.typed.is_none());
}

#[test]
fn token_and_return_to_service_answers() {
    use mdm_proto::generated::checkin::GetTokenResponse;
    use mdm_proto::generated::checkin::ReturnToServiceResponse;
    use mdm_proto::generated::checkin::return_to_service::ReturnToServiceResponseReturnToService;
    let l = Limits::default();
    let req = CheckInRequest::parse(
        &xml(&format!(
            "{{'MessageType':'GetToken','TokenServiceType':'com.apple.maid','UDID':'{UDID}'}}"
        )),
        &l,
    )
    .unwrap();
    assert!(matches!(req.message, CheckIn::GetToken(_)));
    let a = Answer::Token(GetTokenResponse {
        token_data: b"jwt".to_vec().into(),
        unknown: Default::default(),
    });
    assert_eq!(python_reads(&a.body()), "{'TokenData': b'jwt'}");
    let req = CheckInRequest::parse(
        &xml(&format!(
            "{{'MessageType':'ReturnToService','UDID':'{UDID}'}}"
        )),
        &l,
    )
    .unwrap();
    assert!(matches!(req.message, CheckIn::ReturnToService(_)));
    let a = Answer::ReturnToService(ReturnToServiceResponse {
        preserve_data_plan: Some(true),
        return_to_service: ReturnToServiceResponseReturnToService {
            enabled: true,
            wi_fi_profile_data: Some(b"wifi".to_vec().into()),
            mdm_profile_data: None,
            bootstrap_token: None,
            should_retry_enrollment: None,
            unknown: Default::default(),
        },
        unknown: Default::default(),
    });
    assert_eq!(
        python_reads(&a.body()),
        "{'PreserveDataPlan': True, 'ReturnToService': {'Enabled': True, 'WiFiProfileData': b'wifi'}}"
    );
    let a = Answer::DeclarativeManagement(br#"{"SyncTokens":{}}"#.to_vec());
    let r = a.to_http();
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.body(), br#"{"SyncTokens":{}}"#);
}
