//! MDM enrollment asks the inventory: a device enrolled with an invite that names no owner is
//! self-enrolled and waits for approval; one whose owner the identity provider deactivated is
//! refused; commands keep flowing to enrolled devices of a deactivated owner (so they can still
//! be locked or wiped). On SQLite and PostgreSQL.

mod backend;
mod common;
mod mdm_support;
mod scep_support;

use backend::Backend;
use mdm_support::{Server, Via, authenticate, command_of, enroll, put, report, token_update};
use serde_json::{Value as Json, json};

const CONFIG: &str = "[inventory]\nenforce = [\"mdm_enrollment\"]\n";

/// A SCIM call with the data directory's SCIM token.
fn scim(srv: &Server, method: &str, path: &str, body: &Json) -> (u16, Json) {
    let token = std::fs::read_to_string(srv.data.join("scim-token")).unwrap();
    let out = srv.work.join("scim-out");
    let auth = format!("Authorization: Bearer {}", token.trim());
    let b = body.to_string();
    let url = format!("{}/scim/v2{path}", srv.base());
    let (ok, status) = common::curl(&[
        "--cacert",
        srv.root.to_str().unwrap(),
        "-X",
        method,
        "-H",
        &auth,
        "-H",
        "Content-Type: application/scim+json",
        "--data-binary",
        &b,
        "-o",
        out.to_str().unwrap(),
        "-w",
        "%{http_code}",
        &url,
    ]);
    assert!(ok, "{status}");
    let j = serde_json::from_slice(&std::fs::read(&out).unwrap_or_default()).unwrap_or(Json::Null);
    (status.trim().parse().unwrap(), j)
}

fn set_active(srv: &Server, id: &str, active: bool) {
    let (st, j) = scim(
        srv,
        "PATCH",
        &format!("/Users/{id}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": active}}]}),
    );
    assert_eq!(st, 200, "{j}");
}

#[test]
fn mdm_enrollment_asks_the_inventory() {
    for backend in Backend::both() {
        let dir = tempfile::tempdir().unwrap();
        let srv = Server::start(dir.path(), &backend, CONFIG, &[]);
        let ctx = backend.name();

        // No owner named: self-enrolled, refused until an administrator approves.
        let url = srv.invite(None, 1);
        let lone = enroll(&srv, &url, "UDID-LONE", 501);
        let (st, b) = put(
            &srv,
            "/mdm/checkin",
            &authenticate(&lone, "C02LONE0001"),
            &lone,
            Via::Tls,
        );
        assert_eq!(st, 403, "{ctx}: {}", String::from_utf8_lossy(&b));
        assert!(
            String::from_utf8_lossy(&b).contains("not_approved"),
            "{ctx}"
        );
        let (st, j) = srv.api(
            "POST",
            "/api/v1/collections/default/instances/C02LONE0001/approve",
            None,
        );
        assert_eq!(st, 200, "{ctx}: {j}");
        let (st, _) = put(
            &srv,
            "/mdm/checkin",
            &authenticate(&lone, "C02LONE0001"),
            &lone,
            Via::Tls,
        );
        assert_eq!(st, 200, "{ctx}: approved device enrolls");

        // An owner from the directory: approved (an import), refused while deactivated.
        let (st, user) = scim(
            &srv,
            "POST",
            "/Users",
            &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada@example.com", "active": true}),
        );
        assert_eq!(st, 201, "{ctx}: {user}");
        let ada = user["id"].as_str().unwrap().to_owned();
        let url = srv.invite(Some("ada@example.com"), 2);
        let owned = enroll(&srv, &url, "UDID-ADA", 502);
        let (st, b) = put(
            &srv,
            "/mdm/checkin",
            &authenticate(&owned, "C02ADA00001"),
            &owned,
            Via::Tls,
        );
        assert_eq!(st, 200, "{ctx}: {}", String::from_utf8_lossy(&b));
        let (st, _) = put(
            &srv,
            "/mdm/checkin",
            &token_update(&owned),
            &owned,
            Via::Tls,
        );
        assert_eq!(st, 200);
        let (_, rec) = srv.api(
            "GET",
            "/api/v1/collections/default/instances/C02ADA00001",
            None,
        );
        assert!(rec.to_string().contains("ada@example.com"), "{ctx}: {rec}");

        set_active(&srv, &ada, false);
        // A new enrollment of her device is refused...
        let again = enroll(&srv, &url, "UDID-ADA-2", 503);
        let (st, b) = put(
            &srv,
            "/mdm/checkin",
            &authenticate(&again, "C02ADA00002"),
            &again,
            Via::Tls,
        );
        assert_eq!(st, 403, "{ctx}: {}", String::from_utf8_lossy(&b));
        assert!(
            String::from_utf8_lossy(&b).contains("owner_inactive"),
            "{ctx}"
        );
        // ...while commands still reach the enrolled one.
        let (st, c) = srv.api(
            "POST",
            "/api/v1/mdm/commands",
            Some(&json!({"channels": ["UDID-ADA"], "command": {"RequestType": "DeviceLock"}})),
        );
        assert_eq!(st, 201, "{ctx}: {c}");
        let (st, b) = put(
            &srv,
            "/mdm/connect",
            &report(&owned, "Idle", None, &[]),
            &owned,
            Via::Tls,
        );
        assert_eq!(st, 200, "{ctx}");
        assert_eq!(command_of(&b).1, "DeviceLock", "{ctx}");
        // Reactivated: enrollment passes again.
        set_active(&srv, &ada, true);
        let (st, _) = put(
            &srv,
            "/mdm/checkin",
            &authenticate(&again, "C02ADA00002"),
            &again,
            Via::Tls,
        );
        assert_eq!(st, 200, "{ctx}: reactivated owner");
        srv.admitd.stop();
    }
}
