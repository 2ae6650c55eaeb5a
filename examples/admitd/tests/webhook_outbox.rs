//! The webhook outbox on both storage backends: events built by `mdm_proto::webhook` from the
//! real check-in and report plists in `../shared/vectors/mdm/nanomdm/mdm/testdata` reach
//! local HTTP and HTTPS receivers, each valid against NanoMDM's event JSON Schema
//! (`nanomdm/service/webhook/event.json`, checked with the `jsonschema` crate); a receiver that
//! fails first gets the events once it accepts, in order per device; events recorded before
//! the outbox stopped (its runtime dropped mid-retry, as a crash would) are delivered by the
//! next outbox on the same database.

mod backend;
mod common;
mod push_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use admitd::mdm::Events as _;
use admitd::mdm::webhook::{Outbox, OutboxStore, WebhookSettings};
use backend::Backend;
use mdm_proto::checkin::CheckInRequest;
use mdm_proto::command::Report;
use mdm_proto::webhook::{EventContext, checkin_event, report_event};
use push_support::{Certs, runtime, start_receiver, start_receiver_tls, wait_for};

fn store(rt: &tokio::runtime::Runtime, backend: &Backend, data: &Path) -> Arc<dyn OutboxStore> {
    rt.block_on(async {
        match backend {
            Backend::Sqlite => {
                Arc::new(admitd::storage::Storage::open(&data.join("admit.sqlite3")).unwrap())
                    as Arc<dyn OutboxStore>
            }
            Backend::Postgres(_, url) => {
                Arc::new(admitd::scep::postgres::PgStore::open(url, 2).unwrap())
            }
        }
    })
}

fn settings(urls: Vec<String>) -> WebhookSettings {
    WebhookSettings {
        urls,
        ca_file: None,
        retry_base: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
    }
}

/// The events, from the real plists: (device, event), in the order a device sends them.
fn events() -> Vec<serde_json::Value> {
    let limits = mdm_proto::value::Limits::default();
    let plist = |name: &str| testkit::vector(&format!("mdm/nanomdm/mdm/testdata/{name}"));
    let ctx = |n: u32, tally: Option<u64>| EventContext {
        event_id: format!("evt-{n}"),
        created_at: format!("2026-12-05T12:00:{n:02}Z"),
        url_params: Some(BTreeMap::from([("tenant".to_owned(), "t1".to_owned())])),
        token_update_tally: tally,
    };
    let checkin = |name: &str, n, tally| {
        let req = CheckInRequest::parse(&plist(name), &limits).unwrap();
        checkin_event(&req, &ctx(n, tally))
    };
    let report = Report::parse(&plist("DeviceInformation.1.plist"), &limits).unwrap();
    vec![
        checkin("Authenticate.2.plist", 1, None),
        checkin("Authenticate.1.plist", 2, None),
        checkin("TokenUpdate.2.plist", 3, Some(1)),
        checkin("TokenUpdate.1.plist", 4, Some(1)),
        report_event(&report, &ctx(5, None)),
    ]
}

fn schema() -> jsonschema::Validator {
    let text = testkit::vector("mdm/nanomdm/service/webhook/event.json");
    let schema: serde_json::Value = serde_json::from_slice(&text).unwrap();
    jsonschema::validator_for(&schema).expect("NanoMDM's event schema compiles")
}

fn device_of(e: &serde_json::Value) -> String {
    let body = e
        .get("checkin_event")
        .or_else(|| e.get("acknowledge_event"))
        .unwrap();
    body["udid"].as_str().unwrap().to_owned()
}

/// Events of each device in the order given.
fn per_device(events: &[serde_json::Value]) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut m: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for e in events {
        m.entry(device_of(e)).or_default().push(e.clone());
    }
    m
}

#[test]
fn events_reach_receivers_valid_in_order_and_across_restarts() {
    let validator = schema();
    let events = events();
    for e in &events {
        let errors: Vec<String> = validator.iter_errors(e).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{e}: {errors:?}");
    }
    // The schema does judge: a report without its status, or an unknown topic, fails it.
    let mut bad = events[4].clone();
    bad["acknowledge_event"]
        .as_object_mut()
        .unwrap()
        .remove("status");
    assert!(!validator.is_valid(&bad));
    let mut bad = events[0].clone();
    bad["topic"] = "mdm.Nonsense".into();
    assert!(!validator.is_valid(&bad));
    let certs = Certs::make();
    for backend in Backend::both() {
        outbox_on(&backend, &validator, &events, &certs);
    }
}

fn outbox_on(
    backend: &Backend,
    validator: &jsonschema::Validator,
    events: &[serde_json::Value],
    certs: &Certs,
) {
    let name = backend.name();
    let work = tempfile::tempdir().unwrap();
    let data = work.path();
    let rt = runtime();
    let (ok_url, ok) = start_receiver_tls(&rt, certs);
    assert!(ok_url.starts_with("https://"));
    let (flaky_url, flaky) = start_receiver(&rt);
    let count = |sql: &str| backend.count(data, sql);

    // Two receivers, one over HTTPS (trusting the test CA); the other fails its first three
    // requests.
    flaky.fail_next.store(3, Ordering::SeqCst);
    let outbox = Outbox::start(
        rt.handle(),
        WebhookSettings {
            ca_file: Some(certs.path("ca.pem")),
            ..settings(vec![ok_url.clone(), flaky_url.clone()])
        },
        store(&rt, backend, data),
    )
    .unwrap();
    for e in events {
        outbox.record(e).unwrap();
    }
    wait_for(&format!("{name}: every event at both receivers"), || {
        ok.accepted().len() == events.len() && flaky.accepted().len() == events.len()
    });
    assert!(
        flaky.requests() > events.len(),
        "{name}: the failures happened"
    );
    for got in [ok.accepted(), flaky.accepted()] {
        for e in &got {
            let errors: Vec<String> = validator.iter_errors(e).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{name}: {e}: {errors:?}");
        }
        // Each delivered once, exactly as recorded, in order per device.
        assert_eq!(per_device(&got), per_device(events), "{name}");
    }
    wait_for("the outbox to empty", || outbox.backlog().unwrap() == 0);
    assert_eq!(count("SELECT COUNT(*) FROM webhook_outbox"), 0);
    drop(outbox);

    // Recorded while the receiver refuses; the outbox stops mid-retry (its runtime dropped,
    // as in a crash); the rows stay; the next outbox on the database delivers them.
    let (url, receiver) = start_receiver(&rt);
    receiver.refuse.store(true, Ordering::SeqCst);
    let crash_rt = runtime();
    let first = Outbox::start(
        crash_rt.handle(),
        settings(vec![url.clone()]),
        store(&crash_rt, backend, data),
    )
    .unwrap();
    for e in &events[..3] {
        first.record(e).unwrap();
    }
    wait_for("a refused attempt", || receiver.requests() >= 1);
    crash_rt.shutdown_background();
    drop(first);
    assert_eq!(count("SELECT COUNT(*) FROM webhook_outbox"), 3, "{name}");
    assert!(receiver.accepted().is_empty());
    receiver.refuse.store(false, Ordering::SeqCst);
    let second = Outbox::start(
        rt.handle(),
        settings(vec![url.clone()]),
        store(&rt, backend, data),
    )
    .unwrap();
    wait_for(&format!("{name}: delivery after the restart"), || {
        receiver.accepted().len() == 3
    });
    assert_eq!(per_device(&receiver.accepted()), per_device(&events[..3]));
    wait_for("the outbox to empty", || second.backlog().unwrap() == 0);

    // Events recorded later go out too; with no URLs, nothing is kept.
    let (other_url, other) = start_receiver(&rt);
    let third = Outbox::start(
        rt.handle(),
        settings(vec![other_url]),
        store(&rt, backend, data),
    )
    .unwrap();
    // No URLs at all: nothing is kept.
    let none = Outbox::start(rt.handle(), settings(vec![]), store(&rt, backend, data)).unwrap();
    none.record(&events[0]).unwrap();
    assert_eq!(none.backlog().unwrap(), 0);
    third.record(&events[4]).unwrap();
    wait_for("the other receiver", || other.accepted().len() == 1);
    assert_eq!(other.accepted()[0], events[4]);
    drop((second, third, none));
    rt.shutdown_timeout(Duration::from_secs(1));
}
