//! Helpers for the MDM tests: an admitd on one backend, its admin API through curl, and test
//! devices that enroll as a device does (profile through an invite, verified by `openssl cms`;
//! identity over SCEP; check-ins over HTTPS with curl, by TLS client certificate or with an
//! `Mdm-Signature` made by `openssl cms -sign`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mdm_proto::plist::{self, Dictionary, Value};
use serde_json::Value as Json;

use crate::backend::Backend;
use crate::common::{Admitd, curl};
use crate::scep_support;

/// A running admitd with what a client needs to reach it.
pub struct Server {
    /// The process (killed by PID when dropped).
    pub admitd: Admitd,
    /// Its data directory.
    pub data: PathBuf,
    /// A scratch directory for files the test makes.
    pub work: PathBuf,
    /// The admin bearer token.
    pub token: String,
    /// The root CA (PEM file) clients trust.
    pub root: PathBuf,
}

impl Server {
    /// Start admitd in `dir` on `backend` with `extra` flags (and a config file of `config`
    /// TOML when not empty).
    pub fn start(dir: &Path, backend: &Backend, config: &str, extra: &[&str]) -> Server {
        let data = dir.join("data");
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let mut args: Vec<&str> = backend.args();
        let cfg = dir.join("admitd.toml");
        let cfg_s = cfg.display().to_string();
        if !config.is_empty() {
            std::fs::write(&cfg, config).unwrap();
            args.extend(["--config", cfg_s.as_str()]);
        }
        args.extend(extra);
        let admitd = Admitd::start(&data, &args);
        let token = std::fs::read_to_string(data.join("devauth").join("admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        Server {
            root: data.join("ca").join("root.pem"),
            admitd,
            data,
            work,
            token,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("https://{}", self.admitd.https)
    }

    /// An admin API call: (status, JSON body or `null`).
    pub fn api(&self, method: &str, path: &str, body: Option<&Json>) -> (u16, Json) {
        self.try_api(method, path, body, "api-out")
            .unwrap_or_else(|| panic!("curl {method} {path} failed"))
    }

    /// [`Server::api`], `None` when no answer came (the server is gone); `out` names the
    /// scratch file, so threads do not share one.
    pub fn try_api(
        &self,
        method: &str,
        path: &str,
        body: Option<&Json>,
        out: &str,
    ) -> Option<(u16, Json)> {
        let out = self.work.join(out);
        let url = format!("{}{path}", self.base());
        let auth = format!("Authorization: Bearer {}", self.token);
        let body_s = body.map(|b| b.to_string());
        let mut args = vec![
            "--cacert",
            self.root.to_str().unwrap(),
            "-X",
            method,
            "-H",
            auth.as_str(),
            "-o",
            out.to_str().unwrap(),
            "-w",
            "%{http_code}",
        ];
        if let Some(b) = &body_s {
            args.extend(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        args.push(url.as_str());
        let (ok, status) = curl(&args);
        if !ok {
            return None;
        }
        let bytes = std::fs::read(&out).unwrap_or_default();
        let json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
        Some((status.trim().parse().ok()?, json))
    }

    /// A new invite's enrollment URL.
    pub fn invite(&self, owner: Option<&str>, uses: u32) -> String {
        let (st, j) = self.api(
            "POST",
            "/api/v1/mdm/invites",
            Some(&serde_json::json!({"owner": owner, "uses": uses})),
        );
        assert_eq!(st, 201, "{j}");
        j["url"].as_str().unwrap().replace("localhost", "127.0.0.1")
    }

    /// GET `url` over HTTPS without client credentials: (status, body).
    pub fn get(&self, url: &str) -> (u16, Vec<u8>) {
        let out = self.work.join("get-out");
        let _ = std::fs::remove_file(&out);
        let (ok, status) = curl(&[
            "--cacert",
            self.root.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-w",
            "%{http_code}",
            url,
        ]);
        assert!(ok, "curl {url}: {status}");
        (
            status.trim().parse().unwrap(),
            std::fs::read(&out).unwrap_or_default(),
        )
    }
}

/// How a test device proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// TLS client certificate.
    Tls,
    /// `Mdm-Signature` header.
    Signature,
    /// Nothing at all.
    Nothing,
}

/// A test device with its identity files.
pub struct Dev {
    /// Its UDID.
    pub udid: String,
    /// Identity certificate (PEM file).
    pub cert: PathBuf,
    /// Its key (PKCS#8 PEM file).
    pub key: PathBuf,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// Where its files are.
    pub dir: PathBuf,
    /// The enrollment profile as `openssl cms -verify` read it.
    pub profile: Dictionary,
    /// The key, with the identity certificate as its `cert` (what a SCEP renewal signs with).
    pub scep: scep_support::Device,
}

/// The payload of `ty` in a profile.
pub fn payload<'a>(profile: &'a Dictionary, ty: &str) -> &'a Dictionary {
    profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_dictionary)
        .find(|p| p.get("PayloadType").and_then(Value::as_string) == Some(ty))
        .unwrap_or_else(|| panic!("no {ty} payload"))
}

/// Fetch the profile at `url`, check its signature with `openssl cms -verify` against the
/// root, get an identity over SCEP with its challenge and subject, and keep it as `udid`.
pub fn enroll(s: &Server, url: &str, udid: &str, seed: u64) -> Dev {
    let (st, body) = s.get(url);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    enroll_profile(s, &body, udid, seed)
}

/// [`enroll`] with a profile fetched some other way (the ADE enrollment URL).
pub fn enroll_profile(s: &Server, body: &[u8], udid: &str, seed: u64) -> Dev {
    let dir = s.work.join(format!("dev-{udid}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("profile.der"), body).unwrap();
    // The peer's view: OpenSSL verifies the signature and the signer's chain to our root.
    testkit::openssl(
        &dir,
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            "profile.der",
            "-CAfile",
            s.root.to_str().unwrap(),
            "-purpose",
            "any",
            "-out",
            "profile.xml",
        ],
    );
    let profile = Value::from_file(dir.join("profile.xml"))
        .unwrap()
        .into_dictionary()
        .unwrap();
    let scep = payload(&profile, "com.apple.security.scep")["PayloadContent"]
        .as_dictionary()
        .unwrap()
        .clone();
    let challenge = scep["Challenge"].as_string().unwrap().to_owned();
    // Subject [[["O", org]], [["CN", ticket]]]: the CN is the last RDN.
    let cn = scep["Subject"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_array()
        .unwrap()[0]
        .as_array()
        .unwrap()[1]
        .as_string()
        .unwrap()
        .to_owned();
    let device = scep_support::Device::new(&cn, seed);
    let client = scep_support::client(s.admitd.http, "/scep");
    let out = scep_support::enrol(
        &client,
        s.admitd.http,
        "/scep",
        &device,
        Some(&challenge),
        true,
        seed,
    );
    let scep::CertRepOutcome::Success(certs) = out else {
        panic!("SCEP enrolment failed: {out:?}");
    };
    use pki::der::Encode as _;
    let cert_der = certs[0].to_der().unwrap();
    let scep = scep_support::Device {
        key: device.key.clone(),
        cert: certs[0].clone(),
        cn,
    };
    keep(udid, dir, cert_der, profile, scep)
}

fn keep(
    udid: &str,
    dir: PathBuf,
    cert_der: Vec<u8>,
    profile: Dictionary,
    scep: scep_support::Device,
) -> Dev {
    let cert = dir.join("identity.pem");
    let key = dir.join("identity.key");
    std::fs::write(&cert, scep_support::pem("CERTIFICATE", &cert_der)).unwrap();
    let key_der = scep.key.to_pkcs8_der().unwrap();
    std::fs::write(&key, scep_support::pem("PRIVATE KEY", &key_der)).unwrap();
    Dev {
        udid: udid.to_owned(),
        cert,
        key,
        cert_der,
        dir,
        profile,
        scep,
    }
}

/// Renew `dev`'s identity over SCEP (a request signed with the current certificate, no
/// challenge); the same device with the new certificate, its files in `dir_name`.
pub fn renew(s: &Server, dev: &Dev, dir_name: &str, seed: u64) -> Dev {
    let client = scep_support::client(s.admitd.http, "/scep");
    let out = scep_support::enrol(&client, s.admitd.http, "/scep", &dev.scep, None, true, seed);
    let scep::CertRepOutcome::Success(certs) = out else {
        panic!("SCEP renewal failed: {out:?}");
    };
    use pki::der::Encode as _;
    let dir = s.work.join(dir_name);
    std::fs::create_dir_all(&dir).unwrap();
    let scep = scep_support::Device {
        key: dev.scep.key.clone(),
        cert: certs[0].clone(),
        cn: dev.scep.cn.clone(),
    };
    keep(
        &dev.udid,
        dir,
        certs[0].to_der().unwrap(),
        dev.profile.clone(),
        scep,
    )
}

/// A device with a self-signed certificate of its own (made by openssl), claiming `udid`.
pub fn self_signed(s: &Server, udid: &str) -> Dev {
    let dir = s.work.join(format!("selfsigned-{udid}"));
    std::fs::create_dir_all(&dir).unwrap();
    testkit::openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=intruder",
            "-days",
            "1",
            "-keyout",
            "identity.key",
            "-out",
            "identity.pem",
        ],
    );
    let pem = std::fs::read(dir.join("identity.pem")).unwrap();
    let cert = pki::cert::Cert::from_pem(&pem).unwrap();
    Dev {
        udid: udid.to_owned(),
        cert: dir.join("identity.pem"),
        key: dir.join("identity.key"),
        cert_der: cert.der().to_vec(),
        dir,
        profile: Dictionary::new(),
        scep: scep_support::Device::new("unused", 1),
    }
}

/// A plist dictionary as XML bytes.
pub fn xml(d: &Dictionary) -> Vec<u8> {
    let mut out = Vec::new();
    plist::to_writer_xml(&mut out, &Value::Dictionary(d.clone())).unwrap();
    out
}

/// A dictionary from `(key, value)` pairs of strings.
pub fn dict(pairs: &[(&str, Value)]) -> Dictionary {
    let mut d = Dictionary::new();
    for (k, v) in pairs {
        d.insert((*k).to_owned(), v.clone());
    }
    d
}

/// A string value.
pub fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// PUT `body` to `path` as `dev` would (identity `via`, using `as_dev`'s files): (status, body).
pub fn put(s: &Server, path: &str, body: &[u8], as_dev: &Dev, via: Via) -> (u16, Vec<u8>) {
    try_put(s, path, body, as_dev, via).unwrap_or_else(|| panic!("curl PUT {path} failed"))
}

/// [`put`], `None` when no answer came (the server is gone).
pub fn try_put(
    s: &Server,
    path: &str,
    body: &[u8],
    as_dev: &Dev,
    via: Via,
) -> Option<(u16, Vec<u8>)> {
    let dir = &as_dev.dir;
    std::fs::write(dir.join("body"), body).unwrap();
    let out = dir.join("resp");
    let _ = std::fs::remove_file(&out);
    let url = format!("{}{path}", s.base());
    let mut args: Vec<String> = vec![
        "--cacert".into(),
        s.root.display().to_string(),
        "-X".into(),
        "PUT".into(),
        "-H".into(),
        "Content-Type: application/x-apple-aspen-mdm-checkin".into(),
        "--data-binary".into(),
        format!("@{}", dir.join("body").display()),
        "-o".into(),
        out.display().to_string(),
        "-w".into(),
        "%{http_code}".into(),
    ];
    match via {
        Via::Tls => {
            args.extend([
                "--cert".into(),
                as_dev.cert.display().to_string(),
                "--key".into(),
                as_dev.key.display().to_string(),
            ]);
        }
        Via::Signature => {
            // OpenSSL makes the detached signature over the body.
            testkit::openssl(
                dir,
                &[
                    "cms",
                    "-sign",
                    "-binary",
                    "-in",
                    "body",
                    "-signer",
                    as_dev.cert.to_str().unwrap(),
                    "-inkey",
                    as_dev.key.to_str().unwrap(),
                    "-outform",
                    "DER",
                    "-out",
                    "sig.der",
                ],
            );
            use base64::Engine as _;
            let sig = base64::engine::general_purpose::STANDARD
                .encode(std::fs::read(dir.join("sig.der")).unwrap());
            args.extend(["-H".into(), format!("Mdm-Signature: {sig}")]);
        }
        Via::Nothing => {}
    }
    args.push(url);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, status) = curl(&refs);
    if !ok {
        return None;
    }
    Some((
        status.trim().parse().ok()?,
        std::fs::read(&out).unwrap_or_default(),
    ))
}

/// Authenticate for `dev` (a synthetic message, macOS-like).
pub fn authenticate(dev: &Dev, serial: &str) -> Vec<u8> {
    xml(&dict(&[
        ("MessageType", s("Authenticate")),
        ("UDID", s(&dev.udid)),
        ("Topic", s("com.apple.mgmt.External.admitd-unconfigured")),
        ("SerialNumber", s(serial)),
        ("Model", s("Mac14,2")),
        ("OSVersion", s("14.4")),
        ("BuildVersion", s("23E214")),
        ("ProductName", s("Mac14,2")),
        ("DeviceName", s("test mac")),
    ]))
}

/// TokenUpdate for `dev`.
pub fn token_update(dev: &Dev) -> Vec<u8> {
    xml(&dict(&[
        ("MessageType", s("TokenUpdate")),
        ("UDID", s(&dev.udid)),
        ("Topic", s("com.apple.mgmt.External.admitd-unconfigured")),
        ("Token", Value::Data(vec![0xAB; 32])),
        ("PushMagic", s("00000000-1111-2222-3333-444444444444")),
        (
            "UnlockToken",
            Value::Data(b"unlock-token-secret-bytes".to_vec()),
        ),
    ]))
}

/// A report from `dev`: `Status` and optionally `CommandUUID` plus extra keys.
pub fn report(dev: &Dev, status: &str, uuid: Option<&str>, extra: &[(&str, Value)]) -> Vec<u8> {
    let mut d = dict(&[("UDID", s(&dev.udid)), ("Status", s(status))]);
    if let Some(u) = uuid {
        d.insert("CommandUUID".into(), s(u));
    }
    for (k, v) in extra {
        d.insert((*k).to_owned(), v.clone());
    }
    xml(&d)
}

/// The `CommandUUID` and `RequestType` of a command body the server sent.
pub fn command_of(body: &[u8]) -> (String, String) {
    let d = Value::from_reader(std::io::Cursor::new(body))
        .unwrap()
        .into_dictionary()
        .unwrap();
    (
        d["CommandUUID"].as_string().unwrap().to_owned(),
        d["Command"].as_dictionary().unwrap()["RequestType"]
            .as_string()
            .unwrap()
            .to_owned(),
    )
}

/// `Mdm-Signature` (base64 DER, made by `openssl cms -sign`) of `body` by `dev`.
pub fn signature(dev: &Dev, body: &[u8]) -> String {
    std::fs::write(dev.dir.join("to-sign"), body).unwrap();
    testkit::openssl(
        &dev.dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-in",
            "to-sign",
            "-signer",
            dev.cert.to_str().unwrap(),
            "-inkey",
            dev.key.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            "to-sign.sig",
        ],
    );
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(dev.dir.join("to-sign.sig")).unwrap())
}

/// A raw request to `url` with `extra` curl arguments: (status, body).
pub fn raw(s: &Server, url: &str, extra: &[&str]) -> (u16, Vec<u8>) {
    let out = s.work.join("raw-out");
    let _ = std::fs::remove_file(&out);
    let mut args = vec![
        "--cacert",
        s.root.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-w",
        "%{http_code}",
    ];
    args.extend(extra);
    args.push(url);
    let (ok, status) = curl(&args);
    assert!(ok, "curl {url}: {status}");
    (
        status.trim().parse().unwrap(),
        std::fs::read(&out).unwrap_or_default(),
    )
}
