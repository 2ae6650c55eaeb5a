//! Property: a check-in or report with any extra keys (nested arrays and dictionaries of every
//! scalar type) decodes and re-encodes to the same plist value, written as XML and as binary.

use mdm_proto::checkin::CheckInRequest;
use mdm_proto::command::Report;
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{Limits, ToPlist};
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,12}".prop_map(Value::String),
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        (-1000i32..1000).prop_map(|q| Value::Real(f64::from(q) / 4.0)),
        any::<bool>().prop_map(Value::Boolean),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Data),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Dictionary(m.into_iter().collect())),
        ]
    })
}

fn extras() -> impl Strategy<Value = Vec<(String, Value)>> {
    proptest::collection::vec(("X-[A-Za-z]{1,8}", value()), 0..5)
}

fn bytes(v: &Value, binary: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if binary {
        v.to_writer_binary(&mut out).unwrap();
    } else {
        v.to_writer_xml(&mut out).unwrap();
    }
    out
}

proptest! {
    #[test]
    fn token_update_keeps_unknown_keys(extra in extras(), binary in any::<bool>(), token in proptest::collection::vec(any::<u8>(), 1..40)) {
        let mut d = Dictionary::new();
        d.insert("MessageType".into(), Value::String("TokenUpdate".into()));
        d.insert("Topic".into(), Value::String("com.apple.mgmt.External.x".into()));
        d.insert("UDID".into(), Value::String("U".into()));
        d.insert("Token".into(), Value::Data(token));
        d.insert("PushMagic".into(), Value::String("M".into()));
        for (k, v) in extra {
            d.insert(k, v);
        }
        let v = Value::Dictionary(d);
        let req = CheckInRequest::parse(&bytes(&v, binary), &Limits::default()).unwrap();
        prop_assert_eq!(req.message.to_plist(), v);
    }

    #[test]
    fn device_information_result_keeps_unknown_keys(extra in extras(), inner in extras(), binary in any::<bool>()) {
        let mut q = Dictionary::new();
        q.insert("OSVersion".into(), Value::String("17.4".into()));
        for (k, v) in inner {
            q.insert(k, v);
        }
        let mut d = Dictionary::new();
        d.insert("Status".into(), Value::String("Acknowledged".into()));
        d.insert("CommandUUID".into(), Value::String("C".into()));
        d.insert("UDID".into(), Value::String("U".into()));
        d.insert("QueryResponses".into(), Value::Dictionary(q));
        for (k, v) in extra {
            d.insert(k, v);
        }
        let v = Value::Dictionary(d);
        let mut r = Report::parse(&bytes(&v, binary), &Limits::default()).unwrap();
        prop_assert!(r.type_result("DeviceInformation").unwrap().is_some());
        prop_assert_eq!(r.to_plist(), v);
    }
}
