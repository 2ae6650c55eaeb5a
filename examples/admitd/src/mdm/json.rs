//! JSON to plist for commands sent through the admin API.
//!
//! JSON has no data or date type, so two one-key objects stand for them:
//!
//! | JSON                              | plist      |
//! |-----------------------------------|------------|
//! | `{"$data": "<standard base64>"}`  | `<data>`   |
//! | `{"$date": "2026-01-02T03:04:05Z"}` | `<date>` |
//! | integer / other number            | `<integer>` / `<real>` |
//!
//! Results go the other way through [`super::inspect::to_json`] (data as hex).

use base64::Engine as _;
use mdm_proto::plist::{self, Dictionary, Value};
use serde_json::Value as Json;

/// Convert a JSON value to a plist value; the error names the path of the bad value.
pub fn to_plist(j: &Json) -> Result<Value, String> {
    to_plist_at(j, "")
}

fn to_plist_at(j: &Json, path: &str) -> Result<Value, String> {
    Ok(match j {
        Json::Null => return Err(format!("{path}: null has no plist form; leave the key out")),
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Integer(i.into()),
            (None, Some(u), _) => Value::Integer(u.into()),
            (_, _, Some(f)) => Value::Real(f),
            _ => return Err(format!("{path}: number out of range")),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| to_plist_at(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(o) => {
            if o.len() == 1 {
                if let Some(Json::String(b)) = o.get("$data") {
                    return base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .map(Value::Data)
                        .map_err(|e| format!("{path}: $data is not base64: {e}"));
                }
                if let Some(Json::String(d)) = o.get("$date") {
                    return plist::Date::from_xml_format(d)
                        .map(Value::Date)
                        .map_err(|e| format!("{path}: $date is not RFC 3339: {e}"));
                }
            }
            let mut d = Dictionary::new();
            for (k, v) in o {
                d.insert(k.clone(), to_plist_at(v, &format!("{path}.{k}"))?);
            }
            Value::Dictionary(d)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_dates_and_numbers() {
        let v = to_plist(&json!({
            "a": {"$data": "AAEC"},
            "b": {"$date": "2026-01-02T03:04:05Z"},
            "c": 7, "d": 1.5, "e": [true, "x"]
        }))
        .unwrap();
        let d = v.as_dictionary().unwrap();
        assert_eq!(d.get("a"), Some(&Value::Data(vec![0, 1, 2])));
        assert!(matches!(d.get("b"), Some(Value::Date(_))));
        assert_eq!(d.get("c"), Some(&Value::Integer(7.into())));
        assert_eq!(d.get("d"), Some(&Value::Real(1.5)));
        assert!(to_plist(&json!({"x": null})).unwrap_err().contains(".x"));
        assert!(to_plist(&json!({"x": {"$data": "%%"}})).is_err());
    }
}
