//! MachineInfo, OTA phase 2, signed profiles and `Mdm-Signature`, against blobs made by
//! `openssl cms -sign` over plists written by Python's plistlib, with a test CA standing in for
//! Apple's device CA; our verdicts are checked against `openssl cms -verify`.

use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::SystemTime;

use base64::Engine as _;
use mdm_proto::generated::profiles::security_scep::{Keysize, PayloadContent};
use mdm_proto::profile::{CertificatePayload, EnrollmentProfile, IdentityPayload, ProfilePayload};
use mdm_proto::signed::{self, Trust};
use mdm_proto::{Error, Limits};
use pki::cert::Cert;
use pki::verify::Policy;
use testkit::{openssl, openssl_status, pem_to_der};

fn provider() -> &'static dyn pki::provider::CryptoProvider {
    pki::provider::compiled()[0]
}

fn python_plist(dir: &Path, name: &str, literal: &str) {
    let code = format!(
        "import plistlib\nopen({:?},'wb').write(plistlib.dumps({literal}))",
        dir.join(name).to_string_lossy()
    );
    assert!(
        Process::new("python3")
            .arg("-c")
            .arg(code)
            .stdin(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
}

/// A test CA and a device certificate it issued (both RSA 2048, SHA-256).
fn pki_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, subj) in [("root", "/CN=Test Device CA"), ("other", "/CN=Other CA")] {
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-days",
                "2",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-subj",
                subj,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "dev.key",
            "-out",
            "dev.csr",
            "-subj",
            "/CN=00008030-001A2B3C4D5E802E",
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "dev.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-sha256",
            "-days",
            "1",
            "-out",
            "dev.pem",
        ],
    );
    dir
}

fn cert(d: &Path, name: &str) -> Cert {
    Cert::from_pem(&std::fs::read(d.join(name)).unwrap()).unwrap()
}

fn cms_sign(d: &Path, input: &str, out: &str, detached: bool) -> Vec<u8> {
    let mut args = vec![
        "cms", "-sign", "-binary", "-md", "sha256", "-in", input, "-signer", "dev.pem", "-inkey",
        "dev.key", "-outform", "DER", "-out", out,
    ];
    if !detached {
        args.push("-nodetach");
    }
    openssl(d, &args);
    std::fs::read(d.join(out)).unwrap()
}

#[test]
fn machine_info_and_ota_phase2() {
    let dir = pki_dir();
    let d = dir.path();
    python_plist(
        d,
        "mi.plist",
        "{'UDID':'00008030-001A2B3C4D5E802E','SERIAL':'F2LXK0AAHG7F','PRODUCT':'iPhone14,2','VERSION':'21E236','LANGUAGE':'en','OS_VERSION':'17.4'}",
    );
    let blob = cms_sign(d, "mi.plist", "mi.p7", false);
    let root = [cert(d, "root.pem")];
    let trust = Trust {
        anchors: &root,
        now: SystemTime::now(),
        policy: Policy::default(),
    };
    let header = base64::engine::general_purpose::STANDARD.encode(&blob);
    let v = signed::machine_info_header(&header, provider(), &trust, &Limits::default()).unwrap();
    assert_eq!(
        v.machine_info.udid.as_deref(),
        Some("00008030-001A2B3C4D5E802E")
    );
    assert_eq!(v.machine_info.product, "iPhone14,2");
    assert_eq!(v.machine_info.version, "21E236");
    assert_eq!(
        v.verified.signer_der(),
        pem_to_der(&std::fs::read(d.join("dev.pem")).unwrap())
    );
    assert_eq!(v.verified.path().unwrap().chain().len(), 2);
    // openssl agrees it verifies to this root...
    assert!(
        openssl_status(
            d,
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "mi.p7",
                "-CAfile",
                "root.pem",
                "-out",
                "/dev/null"
            ]
        )
        .0
    );
    // ...and that it does not verify to another root; so do we.
    assert!(
        !openssl_status(
            d,
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "mi.p7",
                "-CAfile",
                "other.pem",
                "-out",
                "/dev/null"
            ]
        )
        .0
    );
    let other = [cert(d, "other.pem")];
    let wrong = Trust {
        anchors: &other,
        ..trust.clone()
    };
    assert!(matches!(
        signed::machine_info_header(&header, provider(), &wrong, &Limits::default()),
        Err(Error::Signature(_))
    ));
    // A flipped byte in the content: openssl refuses, so do we.
    let plist_start = blob.windows(6).position(|w| w == b"<plist").unwrap();
    let mut bad = blob.clone();
    bad[plist_start + 40] ^= 1;
    std::fs::write(d.join("bad.p7"), &bad).unwrap();
    assert!(
        !openssl_status(
            d,
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "bad.p7",
                "-CAfile",
                "root.pem",
                "-out",
                "/dev/null"
            ]
        )
        .0
    );
    assert!(matches!(
        signed::machine_info(&bad, provider(), &trust, &Limits::default()),
        Err(Error::Signature(_))
    ));
    assert!(
        signed::machine_info_header("not base64!", provider(), &trust, &Limits::default()).is_err()
    );

    // OTA phase 2: device attributes with the phase-1 challenge.
    python_plist(
        d,
        "attrs.plist",
        "{'UDID':'00008030-001A2B3C4D5E802E','CHALLENGE':'c-123','PRODUCT':'iPhone14,2','SERIAL':'F2LXK0AAHG7F','VERSION':'21E236'}",
    );
    let blob = cms_sign(d, "attrs.plist", "attrs.p7", false);
    let v = signed::ota_phase2(&blob, provider(), &trust, &Limits::default()).unwrap();
    assert_eq!(v.challenge(), Some("c-123"));
    assert_eq!(v.udid(), Some("00008030-001A2B3C4D5E802E"));
}

#[test]
fn mdm_signature_header() {
    let dir = pki_dir();
    let d = dir.path();
    python_plist(
        d,
        "body.plist",
        "{'MessageType':'Authenticate','Topic':'t','UDID':'00008030-001A2B3C4D5E802E'}",
    );
    let sig = cms_sign(d, "body.plist", "body.sig", true);
    let body = std::fs::read(d.join("body.plist")).unwrap();
    let header = base64::engine::general_purpose::STANDARD.encode(&sig);
    let v = signed::mdm_signature(&header, &body, provider(), &Policy::default(), None).unwrap();
    assert_eq!(
        v.signer_der(),
        pem_to_der(&std::fs::read(d.join("dev.pem")).unwrap())
    );
    assert!(v.path().is_none());
    let root = [cert(d, "root.pem")];
    let trust = Trust {
        anchors: &root,
        now: SystemTime::now(),
        policy: Policy::default(),
    };
    assert!(
        signed::mdm_signature(&header, &body, provider(), &Policy::default(), Some(&trust)).is_ok()
    );
    let mut other_body = body.clone();
    other_body.push(b'\n');
    let e = signed::mdm_signature(&header, &other_body, provider(), &Policy::default(), None)
        .unwrap_err();
    assert_eq!(e.http_status(), 401);
}

fn enrollment(root_der: Vec<u8>) -> EnrollmentProfile {
    EnrollmentProfile {
        identifier: "com.example.mdm".into(),
        display_name: "Example MDM".into(),
        organization: Some("Example".into()),
        server_url: "https://mdm.example.com/mdm/connect".into(),
        check_in_url: Some("https://mdm.example.com/mdm/checkin".into()),
        topic: "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9".into(),
        access_rights: 8191,
        sign_message: true,
        check_out_when_removed: true,
        per_user_connections: true,
        bootstrap_token: true,
        identity: IdentityPayload::Scep(Box::new(PayloadContent {
            url: Some("https://mdm.example.com/scep".into()),
            name: None,
            subject: Some(vec![vec![vec!["CN".into(), "device".into()]]]),
            challenge: Some("secret".into()),
            keysize: None,
            key_type: Some("RSA".into()),
            key_usage: Some(5),
            ca_fingerprint: None,
            retries: None,
            retry_delay: None,
            subject_alt_name: None,
            key_is_extractable: None,
            allow_all_apps_access: None,
            unknown: Default::default(),
        })),
        certificates: vec![CertificatePayload::Root(root_der)],
    }
}

#[test]
fn enrollment_profile_signed_and_read() {
    let dir = pki_dir();
    let d = dir.path();
    let root_der = pem_to_der(&std::fs::read(d.join("root.pem")).unwrap());
    let profile = enrollment(root_der.clone()).build(&mut testkit::rng(5));
    let xml = profile.to_xml();
    std::fs::write(d.join("enroll.mobileconfig"), &xml).unwrap();
    // Python reads the profile: the required keys of com.apple.mdm and the SCEP defaults.
    let check = format!(
        "import plistlib\np=plistlib.load(open({:?},'rb'))\n\
         assert p['PayloadType']=='Configuration' and p['PayloadVersion']==1\n\
         scep,root,mdm=p['PayloadContent']\n\
         assert scep['PayloadType']=='com.apple.security.scep' and scep['PayloadContent']['Keysize']==2048\n\
         assert root['PayloadType']=='com.apple.security.root' and root['PayloadContent']=={}\n\
         assert mdm['PayloadType']=='com.apple.mdm' and mdm['IdentityCertificateUUID']==scep['PayloadUUID']\n\
         assert mdm['AccessRights']==8191 and mdm['SignMessage'] is True and mdm['CheckOutWhenRemoved'] is True\n\
         assert mdm['ServerCapabilities']==['com.apple.mdm.per-user-connections','com.apple.mdm.bootstraptoken']\n\
         assert all(k in mdm for k in ['ServerURL','Topic','IdentityCertificateUUID'])\n",
        d.join("enroll.mobileconfig").to_string_lossy(),
        python_bytes(&root_der),
    );
    assert!(
        Process::new("python3")
            .arg("-c")
            .arg(check)
            .status()
            .unwrap()
            .success()
    );

    // Sign with our code; openssl verifies it and gives back the same XML.
    let key_der = openssl(
        d,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "dev.key", "-outform", "DER",
        ],
    );
    let key = provider().private_key_from_pkcs8_der(&key_der).unwrap();
    let dev = cert(d, "dev.pem");
    let signed_der =
        signed::sign_profile(&xml, key.as_ref(), &dev, provider(), &mut testkit::rng(6)).unwrap();
    std::fs::write(d.join("signed.mobileconfig"), &signed_der).unwrap();
    openssl(
        d,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "signed.mobileconfig",
            "-CAfile",
            "root.pem",
            "-out",
            "content.xml",
        ],
    );
    assert_eq!(std::fs::read(d.join("content.xml")).unwrap(), xml);

    // Reading a profile signed by openssl: verified, signer returned, payloads typed.
    let theirs = cms_sign(d, "enroll.mobileconfig", "theirs.mobileconfig", false);
    let root = [cert(d, "root.pem")];
    let trust = Trust {
        anchors: &root,
        now: SystemTime::now(),
        policy: Policy::default(),
    };
    let v = signed::read_signed_profile(
        &theirs,
        provider(),
        &Policy::default(),
        Some(&trust),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(v.verified.signer_der(), dev.der());
    assert!(
        matches!(&v.profile.payloads[0], ProfilePayload::Scep(s) if s.payload_content.keysize == Some(Keysize::V2048))
    );
    assert!(
        matches!(&v.profile.payloads[2], ProfilePayload::Mdm(m) if m.access_rights == Some(8191))
    );
    assert_eq!(v.profile, profile);
}

fn python_bytes(b: &[u8]) -> String {
    let mut s = String::from("b'");
    for x in b {
        s.push_str(&format!("\\x{x:02x}"));
    }
    s.push('\'');
    s
}

#[test]
fn ota_phase1_profile() {
    use mdm_proto::profile::ProfileService;
    let p = ProfileService {
        identifier: "com.example.ota".into(),
        display_name: "Enroll".into(),
        url: "https://mdm.example.com/ota/phase2".into(),
        device_attributes: ProfileService::DEFAULT_ATTRIBUTES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        challenge: Some("c-123".into()),
    };
    let xml = mdm_proto::value::to_xml(&p.to_plist(&mut testkit::rng(9)));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p1.mobileconfig"), &xml).unwrap();
    let check = format!(
        "import plistlib\np=plistlib.load(open({:?},'rb'))\n\
         assert p['PayloadType']=='Profile Service' and p['PayloadVersion']==1\n\
         c=p['PayloadContent']\n\
         assert c['URL']=='https://mdm.example.com/ota/phase2' and c['Challenge']=='c-123'\n\
         assert c['DeviceAttributes']==['UDID','VERSION','PRODUCT','SERIAL','IMEI','MEID']\n\
         assert len(p['PayloadUUID'])==36\n",
        dir.path().join("p1.mobileconfig").to_string_lossy()
    );
    assert!(
        Process::new("python3")
            .arg("-c")
            .arg(check)
            .status()
            .unwrap()
            .success()
    );
}
