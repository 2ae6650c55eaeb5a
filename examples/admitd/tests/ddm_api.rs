//! The DDM admin API of a running admitd, over HTTPS with curl, on SQLite and PostgreSQL:
//! declarations and sets stored and read back, bad declarations refused with 400 and nothing
//! stored (counted in the database itself), assignments reporting the DeclarativeManagement
//! command per channel, the channel view, the admin checks, and everything still there after
//! a restart. Declarations are KMFDDM's quickstart samples from `../shared/vectors/ddm`;
//! expected tokens are computed by `ddm` directly from the same files.

mod backend;
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use backend::Backend;
use common::Admitd;
use ddm::{Channel, Declaration, DeclarationSet, Limits, TokenMode};
use serde_json::{Value, json};

const QUICKSTART: &str = "ddm/kmfddm/docs-quickstart";

fn vector_path(name: &str) -> PathBuf {
    testkit::vector_file(&format!("{QUICKSTART}/{name}"))
}

fn vector(name: &str) -> Vec<u8> {
    testkit::vector(&format!("{QUICKSTART}/{name}"))
}

#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

struct Api<'a> {
    server: &'a Admitd,
    data: PathBuf,
    dir: PathBuf,
    token: String,
}

impl Api<'_> {
    fn new<'a>(server: &'a Admitd, data: &Path, dir: &Path) -> Api<'a> {
        let token = std::fs::read_to_string(data.join("devauth/admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        Api {
            server,
            data: data.to_owned(),
            dir: dir.to_owned(),
            token,
        }
    }

    /// `METHOD /api/v1/ddm{path}` over HTTPS with the admin token; `body` is a file to send
    /// (as `content_type`).
    fn call(&self, method: &str, path: &str, body: Option<(&Path, &str)>) -> Answer {
        let port = self.server.https.port();
        let url = format!("https://localhost:{port}/api/v1/ddm{path}");
        self.curl(method, &url, body, Some(&self.token.clone()))
    }

    fn put_json(&self, path: &str, v: &Value) -> Answer {
        let f = self.dir.join(format!("body-{}.json", unique()));
        std::fs::write(&f, v.to_string()).unwrap();
        self.call("PUT", path, Some((&f, "application/json")))
    }

    fn put_file(&self, path: &str, file: &Path) -> Answer {
        self.call("PUT", path, Some((file, "application/json")))
    }

    fn curl(
        &self,
        method: &str,
        url: &str,
        body: Option<(&Path, &str)>,
        token: Option<&str>,
    ) -> Answer {
        let out_file = self.dir.join(format!("out-{}", unique()));
        let port = self.server.https.port();
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "30", "-o"])
            .arg(&out_file)
            .args(["-w", "%{http_code}", "-X", method])
            .arg("--cacert")
            .arg(self.data.join("ca/root.pem"))
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        if let Some((file, ct)) = body {
            cmd.args(["-H", &format!("Content-Type: {ct}"), "--data-binary"])
                .arg(format!("@{}", file.display()));
        }
        cmd.arg(url);
        let out = common::run(&mut cmd);
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Answer {
            status: String::from_utf8_lossy(&out.stdout).trim().parse().unwrap(),
            body: std::fs::read_to_string(&out_file).unwrap_or_default(),
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `ddm`'s DeclarationsToken for these declaration files on `channel` (content mode).
fn token_of(channel: Channel, files: &[&str]) -> String {
    let mut set = DeclarationSet::new(channel, TokenMode::Content);
    for f in files {
        set.insert(Declaration::parse(&vector(f), &Limits::default()).unwrap())
            .unwrap();
    }
    set.validate().unwrap();
    set.declarations_token()
}

/// The declaration as `ddm` says a content-mode server serves it.
fn served(file: &str) -> Value {
    let mut d = Declaration::parse(&vector(file), &Limits::default()).unwrap();
    d.use_content_token();
    Value::Object(d.raw().clone())
}

#[test]
fn admin_api_on_both_backends() {
    for backend in Backend::both() {
        eprintln!("backend: {}", backend.name());
        run(&backend);
    }
}

fn run(backend: &Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &backend.args());
    let api = Api::new(&server, &data, tmp.path());
    let count = |table: &str| backend.count(&data, &format!("SELECT COUNT(*) FROM {table}"));

    // Admin checks: HTTPS only, the bearer token.
    let plain = api.curl(
        "GET",
        &format!("http://127.0.0.1:{}/api/v1/ddm/sets", server.http.port()),
        None,
        Some(&api.token.clone()),
    );
    assert_eq!(plain.status, 403, "{plain:?}");
    let port = server.https.port();
    let anon = api.curl(
        "GET",
        &format!("https://localhost:{port}/api/v1/ddm/sets"),
        None,
        None,
    );
    assert_eq!(anon.status, 401, "{anon:?}");

    // A declaration as uploaded (no ServerToken): stored with the content token `ddm` gives.
    let cfg = "decl.configuration.test.no-token.json";
    let a = api.put_file("/declarations/com.example.test", &vector_path(cfg));
    assert_eq!(a.status, 200, "{a:?}");
    let want = served(cfg);
    assert_eq!(a.json()["server_token"], want["ServerToken"]);
    assert_eq!(a.json()["channels"], json!([]));
    let a = api.call("GET", "/declarations/com.example.test", None);
    assert_eq!((a.status, a.json()), (200, want.clone()));
    let org = "decl.management.organization-info.json";
    let org_id = "274c52b0-fbc5-4453-af46-c4c493a75c6f";
    assert_eq!(
        api.put_file(&format!("/declarations/{org_id}"), &vector_path(org))
            .status,
        200
    );
    assert_eq!(count("ddm_declarations"), 2);

    // Bad declarations: 400 (415 for a body not sent as JSON), naming the problem, nothing
    // stored.
    let typo = api.put_file(
        "/declarations/com.example.act",
        &vector_path("decl.activation.simple.typo-ref.json"),
    );
    assert_eq!(typo.status, 400, "{typo:?}");
    assert!(typo.error().contains("com.example.testt"), "{typo:?}");
    let mismatch = api.put_file("/declarations/com.example.other", &vector_path(cfg));
    assert_eq!(mismatch.status, 400, "{mismatch:?}");
    assert!(
        mismatch.error().contains("com.example.other"),
        "{mismatch:?}"
    );
    let unknown_kind = api.put_json(
        "/declarations/x",
        &json!({"Type": "com.example.widget", "Identifier": "x", "Payload": {}}),
    );
    assert_eq!(unknown_kind.status, 400);
    assert!(
        unknown_kind.error().contains("com.example.widget"),
        "{unknown_kind:?}"
    );
    let bad_payload = api.put_json(
        "/declarations/x",
        &json!({"Type": "com.apple.configuration.management.test", "Identifier": "x",
                "Payload": {"Echo": 5}}),
    );
    assert_eq!(bad_payload.status, 400, "{bad_payload:?}");
    assert!(bad_payload.error().contains("Echo"), "{bad_payload:?}");
    let not_json_file = tmp.path().join("not.json");
    std::fs::write(&not_json_file, "{not json").unwrap();
    assert_eq!(api.put_file("/declarations/x", &not_json_file).status, 400);
    let as_text = api.call(
        "PUT",
        "/declarations/x",
        Some((&vector_path(cfg), "text/plain")),
    );
    assert_eq!(as_text.status, 415, "{as_text:?}");
    assert_eq!(count("ddm_declarations"), 2);

    // Sets: unknown declarations refused; a good one stored and listed.
    let bad_set = api.put_json(
        "/sets/s1",
        &json!({"declarations": ["com.example.test", "nope"]}),
    );
    assert_eq!(bad_set.status, 400, "{bad_set:?}");
    assert!(bad_set.error().contains("nope"));
    assert_eq!(count("ddm_sets"), 0);
    let s = api.put_json("/sets/s1", &json!({"declarations": ["com.example.test"]}));
    assert_eq!(s.status, 200, "{s:?}");
    let a = api.call("GET", "/sets/s1", None);
    assert_eq!(
        a.json(),
        json!({"name": "s1", "declarations": ["com.example.test"], "channels": []})
    );
    assert_eq!(api.call("GET", "/sets/none", None).status, 404);

    // Assignment to a device channel and (percent-encoded `:`) a user channel: each channel's
    // new DeclarationsToken, with the command the core queued or why it did not (these
    // channels never enrolled).
    let a = api.call("PUT", "/sets/s1/channels/UDID-1", None);
    assert_eq!(a.status, 200, "{a:?}");
    let ch = &a.json()["channels"];
    assert_eq!(ch.as_array().unwrap().len(), 1, "{a:?}");
    assert_eq!(ch[0]["channel_id"], "UDID-1");
    assert_eq!(
        ch[0]["declarations_token"],
        token_of(Channel::Device, &[cfg])
    );
    assert!(
        ch[0]["command_error"]
            .as_str()
            .unwrap()
            .contains("no enrolled channel"),
        "{a:?}"
    );
    let a = api.call("PUT", "/sets/s1/channels/UDID-1%3AUSER-1", None);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json()["channels"][0]["channel_id"], "UDID-1:USER-1");
    assert_eq!(
        a.json()["channels"][0]["declarations_token"],
        token_of(Channel::User, &[cfg])
    );
    // Assigning again moves nothing.
    let a = api.call("PUT", "/sets/s1/channels/UDID-1", None);
    assert_eq!(a.json()["channels"], json!([]));
    assert_eq!(count("ddm_set_channels"), 2);
    assert_eq!(
        api.call("PUT", "/sets/none/channels/UDID-1", None).status,
        404
    );

    // Adding the management declaration to the set moves both channels it is on.
    let s = api.put_json(
        "/sets/s1",
        &json!({"declarations": ["com.example.test", org_id]}),
    );
    assert_eq!(s.status, 200, "{s:?}");
    let mut moved: Vec<String> = s.json()["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel_id"].as_str().unwrap().to_owned())
        .collect();
    moved.sort();
    assert_eq!(moved, ["UDID-1", "UDID-1:USER-1"]);

    // The channel view: its sets, token and per-declaration state (nothing reported yet).
    let v = api.call("GET", "/channels/UDID-1", None);
    assert_eq!(v.status, 200, "{v:?}");
    let v = v.json();
    assert_eq!(v["sets"], json!(["s1"]));
    assert_eq!(v["channel"], "device");
    assert_eq!(
        v["declarations_token"],
        token_of(Channel::Device, &[cfg, org])
    );
    let states: Vec<&str> = v["declarations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["pending", "pending"], "{v}");
    assert_eq!(api.call("GET", "/channels/UDID-404", None).status, 404);

    // In use: 409; lists; wrong method; unknown resource.
    let del = api.call("DELETE", "/declarations/com.example.test", None);
    assert_eq!(del.status, 409, "{del:?}");
    assert!(del.error().contains("s1"));
    let list = api.call("GET", "/declarations", None).json();
    assert_eq!(list["declarations"].as_array().unwrap().len(), 2);
    let sets = api.call("GET", "/sets", None).json();
    assert_eq!(
        sets["sets"][0]["channels"],
        json!(["UDID-1", "UDID-1:USER-1"])
    );
    assert_eq!(api.call("POST", "/sets/s1", None).status, 405);
    assert_eq!(api.call("GET", "/widgets", None).status, 404);

    // Everything survives a restart.
    server.stop();
    let server = Admitd::start(&data, &backend.args());
    let api = Api::new(&server, &data, tmp.path());
    let a = api.call("GET", "/declarations/com.example.test", None);
    assert_eq!((a.status, a.json()), (200, want));
    let a = api.call("GET", "/sets/s1", None).json();
    assert_eq!(a["channels"], json!(["UDID-1", "UDID-1:USER-1"]));

    // Unassign and delete: the user channel moves to the empty set's token.
    let a = api.call("DELETE", "/sets/s1/channels/UDID-1%3AUSER-1", None);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        a.json()["channels"][0]["declarations_token"],
        DeclarationSet::new(Channel::User, TokenMode::Content).declarations_token()
    );
    assert_eq!(
        api.call("DELETE", "/sets/s1/channels/UDID-1%3AUSER-1", None)
            .status,
        404
    );
    assert_eq!(api.call("DELETE", "/sets/s1", None).status, 200);
    assert_eq!(count("ddm_set_channels"), 0);
    assert_eq!(
        api.call("DELETE", "/declarations/com.example.test", None)
            .status,
        200
    );
    assert_eq!(
        api.call("DELETE", "/declarations/com.example.test", None)
            .status,
        404
    );
    assert_eq!(count("ddm_declarations"), 1);
    server.stop();
}

/// `--ddm-token-mode kmfddm`: the ServerToken KMFDDM stored is kept and the channel's
/// DeclarationsToken is the one in KMFDDM's quickstart. (The token mode does not touch
/// storage, so one backend is enough here; the module suite covers both.)
#[test]
fn kmfddm_token_mode_over_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &["--ddm-token-mode", "kmfddm"]);
    let api = Api::new(&server, &data, tmp.path());
    let decl = "decl.configuration.test.token-v2.json";
    let a = api.put_file("/declarations/com.example.test", &vector_path(decl));
    assert_eq!(a.status, 200, "{a:?}");
    let given: Value = serde_json::from_slice(&vector(decl)).unwrap();
    assert_eq!(a.json()["server_token"], given["ServerToken"]);
    let a = api.call("GET", "/declarations/com.example.test", None);
    assert_eq!(
        a.json(),
        serde_json::from_slice::<Value>(&vector(
            "declaration-endpoint.configuration.com.example.test.json"
        ))
        .unwrap()
    );
    api.put_json("/sets/q", &json!({"declarations": ["com.example.test"]}));
    let a = api.call("PUT", "/sets/q/channels/UDID-K", None);
    let tokens: Value = serde_json::from_slice(&vector("tokens-response.1decl.json")).unwrap();
    assert_eq!(
        a.json()["channels"][0]["declarations_token"],
        tokens["SyncTokens"]["DeclarationsToken"]
    );
    server.stop();
}
