//! The APNs stand-in: an HTTP/2 push from a client holding the push certificate wakes the
//! device whose token and push magic it names; wrong token, magic or topic get APNs's
//! reasons; a client without the push certificate gets no connection.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mdm_proto::apns::{Environment, Push};
use pki::cert::issue::{Template, issue, self_signed_ca};
use pki::der::Encode;
use pki::key::KeySpec;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::sync::Notify;

const TOPIC: &str = "com.apple.mgmt.External.test";

struct PushCert {
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn push_cert() -> PushCert {
    let p = admit_sim::provider();
    let mut rng = admit_sim::rng();
    let now = SystemTime::now();
    let (nb, na) = (
        now - Duration::from_secs(60),
        now + Duration::from_secs(3600),
    );
    let ca_key = p
        .generate_key(KeySpec::Ec(pki::alg::Curve::P256), &mut rng)
        .unwrap();
    let ca = self_signed_ca(
        p,
        &*ca_key,
        "CN=Test Push CA".parse().unwrap(),
        nb,
        na,
        Some(0),
        &mut rng,
    )
    .unwrap();
    let key = p
        .generate_key(KeySpec::Ec(pki::alg::Curve::P256), &mut rng)
        .unwrap();
    let cert = issue(
        p,
        &*ca_key,
        Some(&ca),
        key.spki(),
        &Template::end_entity(nb, na)
            .with_subject(format!("UID={TOPIC},CN=APSP:test").parse().unwrap())
            .with_eku(const_oid::db::rfc5280::ID_KP_CLIENT_AUTH),
        &mut rng,
    )
    .unwrap();
    PushCert {
        ca: ca.to_der().unwrap(),
        cert: cert.to_der().unwrap(),
        key: key.to_pkcs8_der().unwrap().to_vec(),
    }
}

type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

async fn connect(
    addr: std::net::SocketAddr,
    server_ca: &[u8],
    client: Option<&PushCert>,
) -> Result<Sender, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(server_ca.to_vec())).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match client {
        Some(c) => b
            .with_client_auth_cert(
                vec![CertificateDer::from(c.cert.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key.clone())),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(send)
}

async fn push(
    s: &mut Sender,
    addr: std::net::SocketAddr,
    p: &Push,
) -> Result<(u16, String), String> {
    let req = p.to_request(Environment::Production).unwrap();
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("https://{addr}{}", parts.uri.path())
        .parse()
        .unwrap();
    let resp = s
        .send_request(hyper::Request::from_parts(
            parts,
            Full::new(Bytes::from(body)),
        ))
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_wakes_its_device() {
    let pc = push_cert();
    let stand_in = admit_sim::apns::serve(
        "127.0.0.1:0".parse().unwrap(),
        std::slice::from_ref(&pc.ca),
        Some(TOPIC.into()),
    )
    .await
    .unwrap();
    let wake = Arc::new(Notify::new());
    let token = vec![0xAB; 32];
    stand_in
        .registry
        .register(token.clone(), "MAGIC-1".into(), wake.clone());
    let mut s = connect(stand_in.addr, &stand_in.ca_der, Some(&pc))
        .await
        .unwrap();
    let mut p = Push::new(token.clone(), "MAGIC-1");
    p.topic = Some(TOPIC.into());
    p.push_type = true;
    let woken = wake.notified();
    assert_eq!(
        push(&mut s, stand_in.addr, &p).await.unwrap(),
        (200, String::new())
    );
    tokio::time::timeout(Duration::from_secs(10), woken)
        .await
        .expect("the device was woken");
    assert_eq!(stand_in.registry.pushes(), 1);

    let reason = |r: (u16, String)| {
        (
            r.0,
            serde_json::from_str::<serde_json::Value>(&r.1).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    let mut bad = p.clone();
    bad.push_magic = "MAGIC-2".into();
    assert_eq!(
        reason(push(&mut s, stand_in.addr, &bad).await.unwrap()),
        (400, "BadMessageId".into())
    );
    let mut bad = p.clone();
    bad.token = vec![0xCD; 32];
    assert_eq!(
        reason(push(&mut s, stand_in.addr, &bad).await.unwrap()),
        (400, "BadDeviceToken".into())
    );
    let mut bad = p.clone();
    bad.topic = Some("com.apple.mgmt.External.other".into());
    assert_eq!(
        reason(push(&mut s, stand_in.addr, &bad).await.unwrap()),
        (400, "TopicDisallowed".into())
    );
    assert_eq!(stand_in.registry.refused(), 3);
    assert_eq!(stand_in.registry.pushes(), 1);

    // Without the push certificate there is no push at all.
    let refused = match connect(stand_in.addr, &stand_in.ca_der, None).await {
        Err(_) => true,
        Ok(mut s) => push(&mut s, stand_in.addr, &p).await.is_err(),
    };
    assert!(refused, "a client without the push certificate got through");
    // Nor with a certificate from another CA.
    let other = push_cert();
    let refused = match connect(stand_in.addr, &stand_in.ca_der, Some(&other)).await {
        Err(_) => true,
        Ok(mut s) => push(&mut s, stand_in.addr, &p).await.is_err(),
    };
    assert!(refused, "a client with a foreign certificate got through");
    assert_eq!(stand_in.registry.pushes(), 1);
}

mod support;

/// A fleet that waits for pushes between rounds: each device's second round starts when the
/// server pushes to its token (the wait is far longer than the run, so without the push the
/// run would stop at its limit with the devices unfinished).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_wait_for_their_push() {
    use admit_sim::device::{Options, Source};
    use admit_sim::enrollment::Enrollment;
    use admit_sim::metrics::Metrics;
    use admit_sim::run::{RunOptions, run};
    use admit_sim::scenario::Scenario;
    use admit_sim::state::Keys;
    use admit_sim::transport::Allowed;

    let mini = support::Mini::start(false, false).await;
    let pc = push_cert();
    let stand_in = admit_sim::apns::serve(
        "127.0.0.1:0".parse().unwrap(),
        std::slice::from_ref(&pc.ca),
        Some(support::TOPIC.into()),
    )
    .await
    .unwrap();
    let e = Enrollment::parse(&mini.profile_xml).unwrap();
    let mut allowed = Allowed::default();
    for u in e.urls() {
        allowed.allow(u).unwrap();
    }
    let scenario = Scenario::parse(
        "[[step]]\ndo = \"enroll\"\n[[step]]\ndo = \"sessions\"\nrounds = 2\nwait_ms = 3600000\n",
    )
    .unwrap();
    let fleet = tokio::spawn(run(RunOptions {
        devices: 2,
        concurrency: 2,
        duration: Duration::from_secs(120),
        max_requests: None,
        scenario,
        state_dir: None,
        device: Arc::new(Options {
            roots: e.roots.clone(),
            source: Source::Profile(Arc::new(e)),
            allowed: Arc::new(allowed),
            timeout: Duration::from_secs(20),
            keys: Keys::Generate,
            attestation: None,
            metrics: Arc::new(Metrics::default()),
        }),
        apns: Some(stand_in.registry.clone()),
        progress: false,
    }));
    // The server side: once a device's TokenUpdate is in, push to it with what it sent.
    let mut sender = connect(stand_in.addr, &stand_in.ca_der, Some(&pc))
        .await
        .unwrap();
    let mut pushed = std::collections::BTreeSet::new();
    for _ in 0..1200 {
        let targets: Vec<(String, Vec<u8>, String)> = {
            let seen = mini.seen();
            seen.tokens
                .iter()
                .map(|(k, v)| (k.clone(), v.clone(), seen.magics[k].clone()))
                .collect()
        };
        for (udid, token, magic) in targets {
            // Push once the device sent its first Idle (its first round is done).
            let idle = mini.seen().idles.contains(&udid);
            if !idle || pushed.contains(&udid) {
                continue;
            }
            let mut p = Push::new(token, magic);
            p.topic = Some(support::TOPIC.into());
            assert_eq!(push(&mut sender, stand_in.addr, &p).await.unwrap().0, 200);
            pushed.insert(udid);
        }
        if pushed.len() == 2 || fleet.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = fleet.await.unwrap().unwrap();
    assert_eq!(pushed.len(), 2);
    assert!(out.summary.errors.is_empty(), "{:?}", out.summary.errors);
    assert!(!out.summary.stopped_early, "the devices did not wake");
    assert_eq!(out.summary.completed, 2);
    assert_eq!(stand_in.registry.pushes(), 2);
    // Two rounds each: two Idle reports per device.
    assert_eq!(out.summary.endpoints["connect"].answered, 4);
}
