//! Webhook JSON against NanoMDM's own renderings of the same plists.

use std::collections::BTreeMap;

use base64::Engine as _;
use mdm_proto::Limits;
use mdm_proto::checkin::CheckInRequest;
use mdm_proto::command::Report;
use mdm_proto::webhook::{EventContext, checkin_event, report_event};

fn json(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&testkit::vector(rel)).unwrap()
}

fn ctx(event_id: &str, created_at: &str) -> EventContext {
    EventContext {
        event_id: event_id.into(),
        created_at: created_at.into(),
        ..Default::default()
    }
}

#[test]
fn nanomdm_twins() {
    let l = Limits::default();
    let req = CheckInRequest::parse(
        &testkit::vector("mdm/nanomdm/mdm/testdata/Authenticate.2.plist"),
        &l,
    )
    .unwrap();
    let ours = checkin_event(&req, &ctx("test_event_id", "0001-01-01T00:00:00Z"));
    assert_eq!(
        ours,
        json("mdm/nanomdm/service/webhook/testdata/Authenticate.2.json")
    );

    let report = Report::parse(
        &testkit::vector("mdm/nanomdm/mdm/testdata/DeviceInformation.1.plist"),
        &l,
    )
    .unwrap();
    let ours = report_event(&report, &ctx("test_event_id", "0001-01-01T00:00:00Z"));
    assert_eq!(
        ours,
        json("mdm/nanomdm/service/webhook/testdata/DeviceInformation.1.json")
    );
}

/// nanocmd's TokenUpdate event predates `ids`; every field it has matches ours.
#[test]
fn nanocmd_token_update() {
    let theirs = json("mdm/nanocmd/mdm/foss/testdata/tokenupdate.json");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(theirs["checkin_event"]["raw_payload"].as_str().unwrap())
        .unwrap();
    let req = CheckInRequest::parse(&raw, &Limits::default()).unwrap();
    let c = EventContext {
        url_params: Some(BTreeMap::new()),
        token_update_tally: Some(1),
        ..ctx("", "2023-05-24T14:28:06.253316-07:00")
    };
    let ours = checkin_event(&req, &c);
    let mut ours_without_ids = ours.clone();
    ours_without_ids["checkin_event"]
        .as_object_mut()
        .unwrap()
        .remove("ids");
    assert_eq!(ours_without_ids, theirs);
    assert_eq!(ours["checkin_event"]["ids"]["type"], "Device");
}
