//! SCIM 2.0 against a live admitd: scim2-tester's default checks (an independent
//! implementation of RFC 7643/7644 checks, from PyPI), Okta's documented request sequence,
//! and bad input, on SQLite and PostgreSQL.

mod backend;
mod common;
mod inventory_support;

use std::path::PathBuf;
use std::process::Command;

use backend::Backend;
use inventory_support::Server;
use serde_json::{Value, json};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The Python of the tests' virtual environment (`cargo xtask test` installs scim2-tester
/// there), or `ADMIT_PYTHON_VENV`.
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("ADMIT_PYTHON_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-test"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "no Python virtual environment at {}: run `cargo xtask test` (it installs scim2-tester) \
         or set ADMIT_PYTHON_VENV",
        venv.display()
    );
    python
}

#[test]
fn scim2_tester_default_checks_pass() {
    let python = venv_python();
    for backend in Backend::both() {
        let tmp = tempfile::tempdir().unwrap();
        let server = Server::start(tmp.path(), &backend, "");
        let driver = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scim2_tester_driver.py");
        let out = Command::new(&python)
            .arg(&driver)
            .arg(format!("{}/scim/v2", server.base()))
            .arg(&server.scim_token)
            .arg(server.root())
            .output()
            .expect("run the scim2-tester driver");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "[{}] scim2-tester reported errors:\n{stdout}\n{stderr}\nserver log:\n{}",
            backend.name(),
            server.admitd.log_text()
        );
        assert!(stdout.contains(" 0 failed"), "{stdout}");
        // Nothing skipped either (the root `/.search` is served, so its checks run).
        assert!(
            !stdout.lines().any(|l| l.starts_with("SKIPPED")),
            "[{}] skipped checks:\n{stdout}",
            backend.name()
        );
        // The checks ran against resources: creation, replacement, PATCH on both types.
        for needle in ["SUCCESS [User]", "SUCCESS [Group]"] {
            assert!(
                stdout.contains(needle),
                "[{}] no {needle} in:\n{stdout}",
                backend.name()
            );
        }
    }
}

fn okta_user(name: &str) -> Value {
    // The body Okta's SCIM 2.0 guide shows for "Create the user".
    json!({
        "schemas": [USER],
        "userName": name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": true, "value": name, "type": "work"}],
        "displayName": "Ada Lovelace",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

#[test]
fn okta_request_sequence() {
    for backend in Backend::both() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Server::start(tmp.path(), &backend, "");
        let b = backend.name();
        // 1. Lookup by filter: not there yet; integers for the paging numbers.
        let r = s.scim(
            "GET",
            "/Users?filter=userName%20eq%20%22ada%40example.com%22&startIndex=1&count=100",
            None,
        );
        assert_eq!(r.status, 200, "[{b}] {}", r.body);
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/scim+json")
        );
        let j = r.json();
        assert_eq!(
            (
                j["totalResults"].clone(),
                j["startIndex"].clone(),
                j["itemsPerPage"].clone()
            ),
            (json!(0), json!(1), json!(0))
        );
        // 2. Create, then a duplicate (409, status as a string).
        let r = s.scim("POST", "/Users", Some(&okta_user("ada@example.com")));
        assert_eq!(r.status, 201, "[{b}] {}", r.body);
        let user = r.json();
        let uid = user["id"].as_str().unwrap().to_owned();
        assert_eq!(user["active"], json!(true));
        assert!(user.get("password").is_none(), "password is never returned");
        assert!(
            r.header("location")
                .unwrap()
                .ends_with(&format!("/scim/v2/Users/{uid}"))
        );
        let posix = &user["urn:admit:params:scim:schemas:extension:posix:1.0:User"];
        assert!(posix.is_null(), "the directory supplied no POSIX IDs");
        let r = s.scim("POST", "/Users", Some(&okta_user("ADA@example.com")));
        assert_eq!(r.status, 409, "[{b}] {}", r.body);
        assert_eq!(r.json()["status"], json!("409"));
        assert_eq!(r.json()["scimType"], json!("uniqueness"));
        // 3. Lookup by filter, case-insensitively.
        let r = s.scim(
            "GET",
            "/Users?filter=userName%20eq%20%22ADA%40Example.COM%22&startIndex=1&count=100",
            None,
        );
        assert_eq!(r.json()["totalResults"], json!(1), "[{b}] {}", r.body);
        assert_eq!(r.json()["Resources"][0]["id"], json!(uid));
        // 4. Full PUT without `active`: everything replaced, `active` left as it was.
        let mut put = okta_user("ada@example.com");
        put["name"]["familyName"] = json!("King");
        put.as_object_mut().unwrap().remove("active");
        let r = s.scim("PUT", &format!("/Users/{uid}"), Some(&put));
        assert_eq!(r.status, 200, "[{b}] {}", r.body);
        assert_eq!(r.json()["name"]["familyName"], json!("King"));
        assert_eq!(r.json()["active"], json!(true));
        // 5. Deactivate (PATCH replace without a path), then reactivate.
        for active in [false, true] {
            let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": active}}]});
            let r = s.scim("PATCH", &format!("/Users/{uid}"), Some(&body));
            assert_eq!(r.status, 200, "[{b}] {}", r.body);
            assert_eq!(r.json()["active"], json!(active));
        }
        // 6. Group push with a '/' in the name, rename, membership.
        let r = s.scim(
            "POST",
            "/Groups",
            Some(&json!({"schemas": [GROUP], "displayName": "eng/backend", "members": []})),
        );
        assert_eq!(r.status, 201, "[{b}] {}", r.body);
        let gid = r.json()["id"].as_str().unwrap().to_owned();
        let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"id": gid, "displayName": "eng/platform"}}]});
        let r = s.scim("PATCH", &format!("/Groups/{gid}"), Some(&rename));
        assert_eq!(
            (r.status, r.json()["displayName"].clone()),
            (200, json!("eng/platform")),
            "[{b}] {}",
            r.body
        );
        let add = json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": uid, "display": "ada@example.com"}]}]});
        let r = s.scim("PATCH", &format!("/Groups/{gid}"), Some(&add));
        assert_eq!(r.status, 200, "[{b}] {}", r.body);
        assert_eq!(r.json()["members"][0]["value"], json!(uid));
        let r = s.scim("GET", &format!("/Users/{uid}"), None);
        assert_eq!(
            r.json()["groups"][0]["display"],
            json!("eng/platform"),
            "[{b}] {}",
            r.body
        );
        let remove = json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": format!("members[value eq \"{uid}\"]")}]});
        let r = s.scim("PATCH", &format!("/Groups/{gid}"), Some(&remove));
        assert_eq!(r.status, 200, "[{b}] {}", r.body);
        assert!(r.json().get("members").is_none(), "[{b}] {}", r.body);
        assert!(
            s.scim("GET", &format!("/Users/{uid}"), None)
                .json()
                .get("groups")
                .is_none()
        );
        // 7. DELETE of the group.
        assert_eq!(
            s.scim("DELETE", &format!("/Groups/{gid}"), None).status,
            204
        );
        let r = s.scim("GET", &format!("/Groups/{gid}"), None);
        assert_eq!((r.status, r.json()["status"].clone()), (404, json!("404")));
        // 8. Paging: a stable order with integer numbers.
        for n in 1..=3 {
            assert_eq!(
                s.scim(
                    "POST",
                    "/Users",
                    Some(&okta_user(&format!("user{n}@example.com")))
                )
                .status,
                201
            );
        }
        let page = |start: u32| {
            s.scim("GET", &format!("/Users?startIndex={start}&count=2"), None)
                .json()
        };
        let (p1, p2) = (page(1), page(3));
        assert_eq!(
            (p1["totalResults"].clone(), p1["itemsPerPage"].clone()),
            (json!(4), json!(2))
        );
        assert_eq!(
            (p2["startIndex"].clone(), p2["itemsPerPage"].clone()),
            (json!(3), json!(2))
        );
        let names: Vec<Value> = [&p1, &p2]
            .iter()
            .flat_map(|p| {
                p["Resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["userName"].clone())
            })
            .collect();
        assert_eq!(
            names,
            vec![
                json!("ada@example.com"),
                json!("user1@example.com"),
                json!("user2@example.com"),
                json!("user3@example.com")
            ]
        );
        // 9. The token with or without "Bearer "; a wrong one is 401 with a SCIM error.
        let bare = s.call("GET", "/scim/v2/Users?count=1", &s.scim_token, None);
        assert_eq!(bare.status, 200);
        let wrong = s.call("GET", "/scim/v2/Users", "Bearer not-the-token-at-all", None);
        assert_eq!(
            (wrong.status, wrong.json()["status"].clone()),
            (401, json!("401"))
        );
        // application/json is accepted too.
        let r = s.call(
            "POST",
            "/scim/v2/Users",
            &s.scim_token,
            Some((
                "application/json",
                &okta_user("json@example.com").to_string(),
            )),
        );
        assert_eq!(r.status, 201, "[{b}] {}", r.body);
        // 10. User DELETE: a tombstone; the name can be provisioned again.
        assert_eq!(s.scim("DELETE", &format!("/Users/{uid}"), None).status, 204);
        assert_eq!(s.scim("GET", &format!("/Users/{uid}"), None).status, 404);
        let r = s.scim("POST", "/Users", Some(&okta_user("ada@example.com")));
        assert_eq!(r.status, 201, "[{b}] {}", r.body);
        assert_ne!(r.json()["id"], json!(uid));
        // The tombstone row is kept.
        assert_eq!(
            backend.count(&s.data, "SELECT COUNT(*) FROM scim_users WHERE deleted = 1"),
            1
        );
    }
}

#[test]
fn posix_ids() {
    for backend in Backend::both() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Server::start(tmp.path(), &backend, "");
        let b = backend.name();
        let posix = "urn:admit:params:scim:schemas:extension:posix:1.0:User";
        let mut supplied = okta_user("posix@example.com");
        supplied[posix] = json!({"uidNumber": 5001, "gidNumber": 5000});
        supplied["schemas"] = json!([USER, posix]);
        let r = s.scim("POST", "/Users", Some(&supplied));
        assert_eq!(r.status, 201, "[{b}] {}", r.body);
        assert_eq!(r.json()[posix]["uidNumber"], json!(5001));
        assert!(
            r.json()["schemas"]
                .as_array()
                .unwrap()
                .contains(&json!(posix))
        );
        // The same uidNumber for someone else: 409, nothing created.
        let mut dup = okta_user("dup@example.com");
        dup[posix] = json!({"uidNumber": 5001});
        let r = s.scim("POST", "/Users", Some(&dup));
        assert_eq!(
            (r.status, r.json()["scimType"].clone()),
            (409, json!("uniqueness")),
            "[{b}] {}",
            r.body
        );
        assert_eq!(
            backend.count(
                &s.data,
                "SELECT COUNT(*) FROM scim_users WHERE user_name_lc = 'dup@example.com'"
            ),
            0
        );
        // Assigned IDs: unique, from 100000, stable across updates.
        s.scim("POST", "/Users", Some(&okta_user("a@example.com")));
        s.scim("POST", "/Users", Some(&okta_user("b@example.com")));
        let uids = |who: &str| {
            backend.count(
                &s.data,
                &format!("SELECT uid FROM scim_users WHERE user_name_lc = '{who}' AND deleted = 0"),
            )
        };
        let (a, bb) = (uids("a@example.com"), uids("b@example.com"));
        assert!(a >= 100_000 && bb >= 100_000 && a != bb, "{a} {bb}");
        let id = s
            .scim(
                "GET",
                "/Users?filter=userName%20eq%20%22a%40example.com%22",
                None,
            )
            .json()["Resources"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        s.scim(
            "PUT",
            &format!("/Users/{id}"),
            Some(&okta_user("a@example.com")),
        );
        assert_eq!(uids("a@example.com"), a);
        assert_eq!(
            backend.count(
                &s.data,
                "SELECT gid FROM scim_users WHERE user_name_lc = 'a@example.com' AND deleted = 0"
            ),
            a
        );
    }
}

#[test]
fn bad_input_changes_nothing() {
    for backend in Backend::both() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Server::start(tmp.path(), &backend, "");
        let b = backend.name();
        let user = s
            .scim("POST", "/Users", Some(&okta_user("ada@example.com")))
            .json();
        let uid = user["id"].as_str().unwrap().to_owned();
        let group = s
            .scim(
                "POST",
                "/Groups",
                Some(
                    &json!({"schemas": [GROUP], "displayName": "eng", "members": [{"value": uid}]}),
                ),
            )
            .json();
        let gid = group["id"].as_str().unwrap().to_owned();
        let snapshot = |s: &Server| {
            (
                s.scim("GET", &format!("/Users/{uid}"), None).body,
                s.scim("GET", &format!("/Groups/{gid}"), None).body,
            )
        };
        let before = snapshot(&s);
        let expect = |r: inventory_support::Answer, status: u16, scim_type: Option<&str>| {
            assert_eq!(r.status, status, "[{b}] {}", r.body);
            let j = r.json();
            assert_eq!(j["status"], json!(status.to_string()), "[{b}] {}", r.body);
            assert_eq!(
                j["schemas"],
                json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
            );
            if let Some(t) = scim_type {
                assert_eq!(j["scimType"], json!(t), "[{b}] {}", r.body);
            }
        };
        // Malformed filters.
        for f in [
            "userName%20eq",
            "userName%20xx%20%22a%22",
            "(userName%20eq%20%22a%22",
            "%22a%22%20eq%20userName",
        ] {
            expect(
                s.scim("GET", &format!("/Users?filter={f}"), None),
                400,
                Some("invalidFilter"),
            );
        }
        // Unknown attributes: nothing created.
        let mut odd = okta_user("odd@example.com");
        odd["shoeSize"] = json!(44);
        expect(
            s.scim("POST", "/Users", Some(&odd)),
            400,
            Some("invalidSyntax"),
        );
        assert_eq!(
            s.scim("GET", "/Users", None).json()["totalResults"],
            json!(1)
        );
        let p = |ops: Value| json!({"schemas": [PATCH_OP], "Operations": ops});
        expect(
            s.scim(
                "PATCH",
                &format!("/Users/{uid}"),
                Some(&p(
                    json!([{"op": "replace", "path": "shoeSize", "value": 44}]),
                )),
            ),
            400,
            Some("invalidPath"),
        );
        // PATCH on missing members: adding an unknown ID, removing one that is not there; the
        // first operation of a failing request is not applied either.
        let ops = json!([{"op": "replace", "path": "displayName", "value": "renamed"}, {"op": "add", "path": "members", "value": [{"value": "no-such-user"}]}]);
        expect(
            s.scim("PATCH", &format!("/Groups/{gid}"), Some(&p(ops))),
            400,
            Some("invalidValue"),
        );
        let ops = json!([{"op": "replace", "path": "displayName", "value": "renamed"}, {"op": "remove", "path": "members[value eq \"no-such-user\"]"}]);
        expect(
            s.scim("PATCH", &format!("/Groups/{gid}"), Some(&p(ops))),
            400,
            Some("noTarget"),
        );
        // Oversized lists.
        let many: Vec<Value> = (0..1001)
            .map(|_| json!({"op": "replace", "path": "displayName", "value": "x"}))
            .collect();
        expect(
            s.scim(
                "PATCH",
                &format!("/Groups/{gid}"),
                Some(&p(Value::Array(many))),
            ),
            413,
            None,
        );
        let members: Vec<Value> = (0..10_001)
            .map(|i| json!({"value": format!("m{i}")}))
            .collect();
        expect(
            s.scim(
                "PUT",
                &format!("/Groups/{gid}"),
                Some(&json!({"schemas": [GROUP], "displayName": "eng", "members": members})),
            ),
            413,
            None,
        );
        // A read-only attribute, a bad type, a wrong media type, a missing resource.
        expect(
            s.scim(
                "PATCH",
                &format!("/Users/{uid}"),
                Some(&p(json!([{"op": "replace", "path": "id", "value": "x"}]))),
            ),
            400,
            Some("mutability"),
        );
        expect(
            s.scim(
                "PATCH",
                &format!("/Users/{uid}"),
                Some(&p(
                    json!([{"op": "replace", "path": "active", "value": "maybe"}]),
                )),
            ),
            400,
            Some("invalidValue"),
        );
        let r = s.call(
            "POST",
            "/scim/v2/Users",
            &format!("Bearer {}", s.scim_token),
            Some(("text/plain", "{}")),
        );
        expect(r, 415, None);
        expect(s.scim("GET", "/Users/no-such-id", None), 404, None);
        expect(s.scim("DELETE", "/Users/no-such-id", None), 404, None);
        // Nothing was half-applied.
        assert_eq!(snapshot(&s), before, "[{b}]");
    }
}

/// `POST /.search` (RFC 7644 §3.4.3) spans users and groups: users first, then groups, one
/// count, with the filter applied to each type.
#[test]
fn root_search_spans_resource_types() {
    for backend in Backend::both() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Server::start(tmp.path(), &backend, "");
        let ctx = backend.name();
        let r = s.scim("POST", "/Users", Some(&okta_user("grace@example.com")));
        assert_eq!(r.status, 201, "{ctx}: {}", r.body);
        let uid = r.json()["id"].as_str().unwrap().to_owned();
        let r = s.scim(
            "POST",
            "/Groups",
            Some(&json!({"schemas": [GROUP], "displayName": "eng/platform", "members": [{"value": uid}]})),
        );
        assert_eq!(r.status, 201, "{ctx}: {}", r.body);
        let search = |body: Value| {
            let r = s.scim("POST", "/.search", Some(&body));
            assert_eq!(r.status, 200, "{ctx}: {}", r.body);
            r.json()
        };
        let all =
            search(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}));
        assert_eq!(all["totalResults"], 2, "{ctx}: {all}");
        assert_eq!(
            all["Resources"][0]["meta"]["resourceType"], "User",
            "{ctx}: {all}"
        );
        assert_eq!(
            all["Resources"][1]["meta"]["resourceType"], "Group",
            "{ctx}: {all}"
        );
        let users = search(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                   "filter": "userName eq \"GRACE@example.com\""}),
        );
        assert_eq!(users["totalResults"], 1, "{ctx}: {users}");
        assert_eq!(users["Resources"][0]["id"], uid.as_str(), "{ctx}: {users}");
        let groups = search(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                    "filter": "displayName eq \"eng/platform\"", "attributes": ["displayName"]}),
        );
        assert_eq!(groups["totalResults"], 1, "{ctx}: {groups}");
        assert_eq!(
            groups["Resources"][0]["displayName"], "eng/platform",
            "{ctx}: {groups}"
        );
        assert!(
            groups["Resources"][0].get("members").is_none(),
            "{ctx}: {groups}"
        );
        let page = search(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                  "startIndex": 2, "count": 1}),
        );
        assert_eq!(
            (page["totalResults"].as_u64(), page["itemsPerPage"].as_u64()),
            (Some(2), Some(1)),
            "{ctx}: {page}"
        );
        assert_eq!(
            page["Resources"][0]["meta"]["resourceType"], "Group",
            "{ctx}: {page}"
        );
        let bad = s.scim("POST", "/.search", Some(&json!({"filter": "userName eq"})));
        assert_eq!(bad.status, 400, "{ctx}: {}", bad.body);
    }
}
