//! The scripted Apple ADE service: hyper on 127.0.0.1 playing back a recorded answer
//! sequence and logging each request it saw (method, path, session token, JSON body). Shared by
//! the `ade-client` flow tests (`ade_scripted.rs`) and admitd's own sync tests (`ade_sync.rs`).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ade_client::Config;
use ade_client::http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

pub const TOKEN: &[u8] = br#"{"consumer_key":"CK_scripted","consumer_secret":"CS_scripted","access_token":"AT_scripted","access_secret":"AS_scripted","access_token_expiry":"2030-01-01T00:00:00Z"}"#;
pub const UA: &str = "admitd-ade-test/1";

/// One recorded answer.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: String,
}

pub fn answer(status: u16, body: impl Into<String>) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: body.into(),
    }
}

pub fn session_ok(token: &str) -> Answer {
    answer(200, json!({ "auth_session_token": token }).to_string())
}

pub fn page(cursor: &str, more: bool, serials: &[&str]) -> Answer {
    let devices: Vec<Value> = serials
        .iter()
        .map(|s| json!({ "serial_number": s, "model": "iPhone", "os": "iOS", "op_type": "added", "op_date": "2025-03-01T12:00:00Z" }))
        .collect();
    answer(
        200,
        json!({ "cursor": cursor, "more_to_follow": more, "fetched_until": "2025-03-01T12:00:00Z", "devices": devices })
            .to_string(),
    )
}

/// What the scripted Apple saw.
#[derive(Default)]
pub struct Seen {
    /// `METHOD path [session token]` per request.
    pub log: Vec<String>,
    /// JSON bodies of requests that had one.
    pub bodies: Vec<Value>,
}

pub struct Apple {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    agent: &'static str,
}

impl Apple {
    /// Start with `script`, expecting ade-client's test User-Agent ([`UA`]).
    pub async fn start(script: Vec<Answer>) -> Apple {
        Self::start_for(script, UA).await
    }

    /// Start with `script`, expecting every request to carry `agent` as its User-Agent.
    pub async fn start_for(script: Vec<Answer>, agent: &'static str) -> Apple {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let (seen2, script2) = (seen.clone(), script.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, script) = (seen2.clone(), script2.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (seen, script) = (seen.clone(), script.clone());
                        async move { Ok::<_, hyper::Error>(play(req, &seen, &script, agent).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Apple {
            addr,
            seen,
            script,
            agent,
        }
    }

    /// An ade-client configuration pointing at it.
    pub fn config(&self) -> Config {
        Config::new(self.agent)
            .unwrap()
            .with_base_url(&format!("http://{}", self.addr))
            .unwrap()
    }

    /// Requests seen so far.
    pub fn log(&self) -> Vec<String> {
        self.seen.lock().unwrap().log.clone()
    }

    /// JSON bodies seen so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.seen.lock().unwrap().bodies.clone()
    }

    /// Add answers to the end of the script.
    pub fn push(&self, answers: Vec<Answer>) {
        self.script.lock().unwrap().extend(answers);
    }

    /// Panic unless every scripted answer was played.
    pub fn assert_script_used(&self) {
        assert!(
            self.script.lock().unwrap().is_empty(),
            "scripted answers left over"
        );
    }
}

async fn play(
    req: Request<Incoming>,
    seen: &Mutex<Seen>,
    script: &Mutex<VecDeque<Answer>>,
    agent: &str,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    // Every request carries the headers Apple requires.
    let h = &parts.headers;
    let ok_headers = h.get("user-agent").is_some_and(|v| v == agent)
        && h.get("x-server-protocol-version").is_some_and(|v| v == "3")
        && (parts.uri.path() != "/session"
            || h.get("authorization")
                .is_some_and(|v| v.as_bytes().starts_with(b"OAuth ")));
    let auth = h
        .get("x-adm-auth-session")
        .map(|v| format!(" [{}]", v.to_str().unwrap_or("?")))
        .unwrap_or_default();
    {
        let mut s = seen.lock().unwrap();
        s.log
            .push(format!("{} {}{auth}", parts.method, parts.uri.path()));
        if !body.is_empty() {
            s.bodies
                .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
    }
    if !ok_headers {
        return Response::builder()
            .status(400)
            .body(Full::new(Bytes::from_static(b"USER_AGENT_MISSING")))
            .unwrap();
    }
    let next = script.lock().unwrap().pop_front();
    let Some(a) = next else {
        return Response::builder()
            .status(500)
            .body(Full::new(Bytes::from_static(b"script exhausted")))
            .unwrap();
    };
    let mut b = Response::builder()
        .status(a.status)
        .header("content-type", "application/json;charset=UTF8");
    for (k, v) in a.headers {
        b = b.header(k, v);
    }
    b.body(Full::new(Bytes::from(a.body))).unwrap()
}
