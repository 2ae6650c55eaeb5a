//! SCIM 2.0 (RFC 7643, RFC 7644) as Okta and other identity providers send it: the
//! directory of people who own devices, and whether each is active.
//!
//! ```text
//!  /scim/v2/ServiceProviderConfig   GET
//!  /scim/v2/ResourceTypes[/{id}]    GET
//!  /scim/v2/Schemas[/{urn}]         GET
//!  /scim/v2/Users                   GET (filter, startIndex, count, attributes), POST
//!  /scim/v2/Users/.search           POST
//!  /scim/v2/Users/{id}              GET, PUT, PATCH, DELETE (= deactivate + tombstone)
//!  /scim/v2/Groups[...]             the same for groups (DELETE removes the group)
//!  /scim/v2/.search                 POST: Users then Groups, one list
//! ```
//!
//! HTTPS only, with the SCIM token as `Authorization: Bearer <token>` or the bare token
//! (Okta's "HTTP Header" mode sends it without the scheme). Bodies are
//! `application/scim+json` or `application/json`; answers are `application/scim+json`, and
//! errors are SCIM Error messages with `status` as a string. Deactivating a user
//! (`active: false`, or DELETE) takes effect in [`crate::inventory::Service::decide`]: with
//! the `suspend` policy the user's devices get no new certificates, tokens or enrollments
//! until the user is active again; nothing is deleted.

pub mod resource;
pub mod schema;
pub mod store;

use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::records::{Db, DbError, now_unix, rfc3339};
use crate::server::{Body, Listener};
use resource::{ScimError, intake, matches, parse_filter, patch, project, render};
use schema::Resource;

/// The SCIM base path.
pub const BASE: &str = "/scim/v2";
/// Most resources one list answer carries (`count` is capped to it).
pub const MAX_RESULTS: usize = 200;
const RETRIES: usize = 5;

/// The SCIM service.
pub struct Service {
    db: Db,
    token: Zeroizing<String>,
}

impl core::fmt::Debug for Service {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Service")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

fn scim_json(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Body::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    r
}

fn scim_error(e: &ScimError) -> Response<Body> {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": e.status.to_string(),
        "detail": e.detail,
    });
    if let Some(t) = e.scim_type {
        body["scimType"] = json!(t);
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    scim_json(status, &body)
}

fn db_error(e: DbError) -> ScimError {
    match e {
        DbError::Unique(what) => ScimError {
            status: 409,
            scim_type: Some("uniqueness"),
            detail: format!("a resource with this {} already exists", unique_name(&what)),
        },
        e => {
            tracing::error!(error = %e, "SCIM request failed");
            ScimError::status(500, "internal error")
        }
    }
}

fn unique_name(constraint: &str) -> &'static str {
    if constraint.contains("uid") {
        "uidNumber"
    } else if constraint.contains("gid") {
        "gidNumber"
    } else if constraint.contains("groups") || constraint.contains("display_name") {
        "displayName"
    } else {
        "userName"
    }
}

fn new_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // The OS RNG failing is fatal for the server anyway; a zero ID would collide and be
        // refused by the primary key rather than silently reused.
        tracing::error!("the OS random number generator failed");
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// What a list or search asks for.
#[derive(Debug, Default)]
struct Query {
    filter: Option<String>,
    start_index: usize,
    count: Option<usize>,
    attributes: Vec<String>,
    excluded: Vec<String>,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

fn int_param(name: &str, v: &str) -> Result<i64, ScimError> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::bad("invalidValue", format!("{name} must be an integer")))
}

impl Query {
    fn from_uri(q: Option<&str>) -> Result<Query, ScimError> {
        let mut out = Query {
            start_index: 1,
            ..Query::default()
        };
        for kv in q.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8()
                .map_err(|_| ScimError::bad("invalidValue", "query parameter is not UTF-8"))?
                .into_owned();
            match k {
                "filter" => out.filter = Some(v),
                "startIndex" => out.start_index = int_param(k, &v)?.max(1) as usize,
                "count" => out.count = Some(int_param(k, &v)?.max(0) as usize),
                "attributes" => out.attributes = split_list(&v),
                "excludedAttributes" => out.excluded = split_list(&v),
                // sortBy/sortOrder: sorting is not supported (ServiceProviderConfig says so);
                // the order is the stable creation order.
                _ => {}
            }
        }
        Ok(out)
    }

    fn from_search(body: &Value) -> Result<Query, ScimError> {
        let mut out = Query {
            start_index: 1,
            ..Query::default()
        };
        let Some(o) = body.as_object() else {
            return Err(ScimError::bad(
                "invalidSyntax",
                "a SearchRequest is a JSON object",
            ));
        };
        let list = |v: &Value| -> Vec<String> {
            match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                Value::String(s) => split_list(s),
                _ => Vec::new(),
            }
        };
        for (k, v) in o {
            match k.as_str() {
                "filter" => out.filter = v.as_str().map(str::to_owned),
                "startIndex" => out.start_index = v.as_i64().unwrap_or(1).max(1) as usize,
                "count" => out.count = Some(v.as_i64().unwrap_or(0).max(0) as usize),
                "attributes" => out.attributes = list(v),
                "excludedAttributes" => out.excluded = list(v),
                _ => {}
            }
        }
        Ok(out)
    }
}

fn base_url(req: &Request<Bytes>) -> String {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    format!("https://{host}{BASE}")
}

impl Service {
    /// The service over `db`, answering requests that carry `token`.
    pub fn new(db: Db, token: &str) -> Service {
        Service {
            db,
            token: Zeroizing::new(token.trim().to_owned()),
        }
    }

    fn authorized(&self, req: &Request<Bytes>) -> bool {
        let Some(v) = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let v = v.trim();
        let t = match v.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
            _ => v,
        };
        t.len() == self.token.len()
            && t.bytes()
                .zip(self.token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// Answer a request under `/scim/v2`, or `None` for other paths.
    pub fn handle(&self, listener: Listener, req: &Request<Bytes>) -> Option<Response<Body>> {
        let path = req.uri().path();
        let rest = path.strip_prefix(BASE)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        if listener != Listener::Https {
            return Some(scim_error(&ScimError::status(
                403,
                "SCIM is served on the HTTPS listener only",
            )));
        }
        if !self.authorized(req) {
            let mut r = scim_error(&ScimError::status(401, "missing or wrong SCIM token"));
            r.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
            return Some(r);
        }
        let base = base_url(req);
        let result = self.route(req, rest.trim_end_matches('/'), &base);
        Some(match result {
            Ok(r) => r,
            Err(e) => scim_error(&e),
        })
    }

    fn route(
        &self,
        req: &Request<Bytes>,
        rest: &str,
        base: &str,
    ) -> Result<Response<Body>, ScimError> {
        let m = req.method();
        let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let get_only = || -> Result<(), ScimError> {
            if m == Method::GET {
                Ok(())
            } else {
                Err(ScimError::status(405, "only GET is supported here"))
            }
        };
        match segs.as_slice() {
            ["ServiceProviderConfig"] => {
                get_only()?;
                Ok(scim_json(StatusCode::OK, &service_provider_config(base)))
            }
            ["ResourceTypes"] => {
                get_only()?;
                let all: Vec<Value> = [schema::user(), schema::group()]
                    .iter()
                    .map(|r| resource_type(r, base))
                    .collect();
                Ok(scim_json(StatusCode::OK, &list_response(all.len(), 1, all)))
            }
            ["ResourceTypes", id] => {
                get_only()?;
                [schema::user(), schema::group()]
                    .iter()
                    .find(|r| r.name == *id)
                    .map(|r| scim_json(StatusCode::OK, &resource_type(r, base)))
                    .ok_or_else(|| ScimError::status(404, format!("no resource type {id}")))
            }
            ["Schemas"] => {
                get_only()?;
                let all: Vec<Value> = schema::documents()
                    .iter()
                    .map(|d| schema_doc(d, base))
                    .collect();
                Ok(scim_json(StatusCode::OK, &list_response(all.len(), 1, all)))
            }
            ["Schemas", id] => {
                get_only()?;
                let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
                schema::documents()
                    .iter()
                    .find(|d| d["id"] == *id)
                    .map(|d| scim_json(StatusCode::OK, &schema_doc(d, base)))
                    .ok_or_else(|| ScimError::status(404, format!("no schema {id}")))
            }
            [".search"] if *m == Method::POST => {
                let body = json_body(req)?;
                self.search_all(&Query::from_search(&body)?, base)
            }
            [".search"] => Err(ScimError::status(405, "method not allowed")),
            [kind, rest @ ..] if *kind == "Users" || *kind == "Groups" => {
                let rt = if *kind == "Users" {
                    schema::user()
                } else {
                    schema::group()
                };
                match (rest, m) {
                    ([], &Method::GET) => {
                        let q = Query::from_uri(req.uri().query())?;
                        self.list(rt, &q, base)
                    }
                    ([], &Method::POST) => {
                        let body = json_body(req)?;
                        self.create(rt, &body, base)
                    }
                    ([".search"], &Method::POST) => {
                        let body = json_body(req)?;
                        self.list(rt, &Query::from_search(&body)?, base)
                    }
                    ([], _) | ([".search"], _) => Err(ScimError::status(405, "method not allowed")),
                    ([id], &Method::GET) => {
                        let q = Query::from_uri(req.uri().query())?;
                        let full = self.read(rt, id, base)?;
                        Ok(scim_json(
                            StatusCode::OK,
                            &project(rt, full, &q.attributes, &q.excluded),
                        ))
                    }
                    ([id], &Method::PUT) => {
                        let body = json_body(req)?;
                        self.replace(rt, id, &body, base)
                    }
                    ([id], &Method::PATCH) => {
                        let body = json_body(req)?;
                        self.modify(rt, id, &body, base)
                    }
                    ([id], &Method::DELETE) => self.delete(rt, id),
                    ([_], _) => Err(ScimError::status(405, "method not allowed")),
                    _ => Err(ScimError::status(404, "no such SCIM endpoint")),
                }
            }
            _ => Err(ScimError::status(404, "no such SCIM endpoint")),
        }
    }

    fn meta(
        rt: &Resource,
        id: &str,
        created: i64,
        updated: i64,
        version: i64,
        base: &str,
    ) -> Value {
        json!({
            "resourceType": rt.name,
            "created": rfc3339(created),
            "lastModified": rfc3339(updated),
            "location": format!("{base}{}/{id}", rt.endpoint),
            "version": format!("W/\"{version}\""),
        })
    }

    fn render_user(&self, u: &store::User, base: &str) -> Result<Value, ScimError> {
        let attrs = u.resource.as_object().cloned().unwrap_or_default();
        let mut extra = Map::new();
        let groups = store::groups_of(&self.db, &u.id).map_err(db_error)?;
        if !groups.is_empty() {
            extra.insert(
                "groups".into(),
                Value::Array(
                    groups
                        .into_iter()
                        .map(|(id, name)| json!({"value": id, "$ref": format!("{base}/Groups/{id}"), "display": name, "type": "direct"}))
                        .collect(),
                ),
            );
        }
        let rt = schema::user();
        Ok(render(
            rt,
            &u.id,
            &attrs,
            extra,
            Self::meta(rt, &u.id, u.created_at, u.updated_at, u.version, base),
        ))
    }

    fn render_group(g: &store::Group, base: &str) -> Value {
        let attrs = g.resource.as_object().cloned().unwrap_or_default();
        let rt = schema::group();
        render(
            rt,
            &g.id,
            &attrs,
            Map::new(),
            Self::meta(rt, &g.id, g.created_at, g.updated_at, g.version, base),
        )
    }

    fn live_user(&self, id: &str) -> Result<store::User, ScimError> {
        match store::user(&self.db, id).map_err(db_error)? {
            Some(u) if !u.deleted => Ok(u),
            _ => Err(ScimError::status(404, format!("no user {id}"))),
        }
    }

    fn group_by_id(&self, id: &str) -> Result<store::Group, ScimError> {
        store::group(&self.db, id)
            .map_err(db_error)?
            .ok_or_else(|| ScimError::status(404, format!("no group {id}")))
    }

    fn read(&self, rt: &Resource, id: &str, base: &str) -> Result<Value, ScimError> {
        if rt.name == "User" {
            self.render_user(&self.live_user(id)?, base)
        } else {
            Ok(Self::render_group(&self.group_by_id(id)?, base))
        }
    }

    fn list(&self, rt: &Resource, q: &Query, base: &str) -> Result<Response<Body>, ScimError> {
        let all = self.matching(rt, q, base)?;
        let total = all.len();
        let count = q.count.unwrap_or(MAX_RESULTS).min(MAX_RESULTS);
        let page: Vec<Value> = all
            .into_iter()
            .skip(q.start_index.saturating_sub(1))
            .take(count)
            .map(|r| project(rt, r, &q.attributes, &q.excluded))
            .collect();
        Ok(scim_json(
            StatusCode::OK,
            &list_response(total, q.start_index, page),
        ))
    }

    /// `POST /.search` (RFC 7644 §3.4.3): the same query over every resource type, users
    /// first, then groups, each in its own stable order; a filter naming an attribute one type
    /// lacks matches none of that type.
    fn search_all(&self, q: &Query, base: &str) -> Result<Response<Body>, ScimError> {
        let mut all: Vec<(&Resource, Value)> = Vec::new();
        for rt in [schema::user(), schema::group()] {
            all.extend(self.matching(rt, q, base)?.into_iter().map(|r| (rt, r)));
        }
        let total = all.len();
        let count = q.count.unwrap_or(MAX_RESULTS).min(MAX_RESULTS);
        let page: Vec<Value> = all
            .into_iter()
            .skip(q.start_index.saturating_sub(1))
            .take(count)
            .map(|(rt, r)| project(rt, r, &q.attributes, &q.excluded))
            .collect();
        Ok(scim_json(
            StatusCode::OK,
            &list_response(total, q.start_index, page),
        ))
    }

    /// Every resource of `rt` the query's filter matches, rendered, in stable order.
    fn matching(&self, rt: &Resource, q: &Query, base: &str) -> Result<Vec<Value>, ScimError> {
        let filter = q
            .filter
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(parse_filter)
            .transpose()?;
        let mut all: Vec<Value> = if rt.name == "User" {
            // `userName eq "x"` (Okta's lookup) is one indexed read.
            let by_name = filter.as_ref().and_then(|f| match f {
                scim_v2::filter::Filter::Attr(scim_v2::filter::AttrExp::Comparison(
                    p,
                    scim_v2::filter::CompareOp::Eq,
                    scim_v2::filter::CompValue::Str(s),
                )) if p.name.eq_ignore_ascii_case("userName")
                    && p.sub_attr.is_none()
                    && p.uri.is_none() =>
                {
                    Some(s.clone())
                }
                _ => None,
            });
            let users = match by_name {
                Some(n) => store::user_by_name(&self.db, &n)
                    .map_err(db_error)?
                    .into_iter()
                    .collect(),
                None => store::users(&self.db).map_err(db_error)?,
            };
            users
                .iter()
                .map(|u| self.render_user(u, base))
                .collect::<Result<_, _>>()?
        } else {
            store::groups(&self.db)
                .map_err(db_error)?
                .iter()
                .map(|g| Self::render_group(g, base))
                .collect()
        };
        if let Some(f) = &filter {
            all.retain(|r| matches(rt, f, r));
        }
        Ok(all)
    }

    fn create(&self, rt: &Resource, body: &Value, base: &str) -> Result<Response<Body>, ScimError> {
        let mut attrs = intake(rt, body)?;
        let id = new_id();
        let now = now_unix();
        if rt.name == "User" {
            attrs.entry("active").or_insert(Value::Bool(true));
            let f = user_fields(&attrs, None);
            if store::user_by_name(&self.db, &f.user_name)
                .map_err(db_error)?
                .is_some()
            {
                return Err(ScimError {
                    status: 409,
                    scim_type: Some("uniqueness"),
                    detail: format!("userName {:?} is taken", f.user_name),
                });
            }
            store::insert_user(&self.db, &id, &f, &Value::Object(attrs), now).map_err(db_error)?;
        } else {
            let (name, gid, members) = self.group_fields(&attrs)?;
            store::insert_group(
                &self.db,
                &id,
                &name,
                gid,
                &Value::Object(attrs),
                &members,
                now,
            )
            .map_err(db_error)?;
        }
        let full = self.read(rt, &id, base)?;
        let mut r = scim_json(StatusCode::CREATED, &full);
        if let Ok(loc) = HeaderValue::from_str(&format!("{base}{}/{id}", rt.endpoint)) {
            r.headers_mut().insert(LOCATION, loc);
        }
        Ok(r)
    }

    fn group_fields(
        &self,
        attrs: &Map<String, Value>,
    ) -> Result<(String, Option<i64>, Vec<String>), ScimError> {
        let name = attrs
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let gid = attrs
            .get(schema::POSIX_GROUP)
            .and_then(|e| e.get("gidNumber"))
            .and_then(Value::as_i64);
        let members: Vec<String> = attrs
            .get("members")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if attrs
            .get("members")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|m| !m.get("value").is_some_and(Value::is_string))
            })
        {
            return Err(ScimError::bad(
                "invalidValue",
                "every member needs a value (the member's id)",
            ));
        }
        let found = store::existing_members(&self.db, &members).map_err(db_error)?;
        if let Some(missing) = members.iter().find(|m| !found.contains(m)) {
            return Err(ScimError::bad(
                "invalidValue",
                format!("no user or group {missing:?} to be a member"),
            ));
        }
        Ok((name, gid, members))
    }

    fn replace(
        &self,
        rt: &Resource,
        id: &str,
        body: &Value,
        base: &str,
    ) -> Result<Response<Body>, ScimError> {
        let attrs = intake(rt, body)?;
        self.update(rt, id, base, |old| {
            let mut a = attrs.clone();
            // A PUT without `active` leaves it as it was (Okta omits it).
            if rt.name == "User"
                && !a.contains_key("active")
                && let Some(v) = old.get("active")
            {
                a.insert("active".into(), v.clone());
            }
            Ok(a)
        })
    }

    fn modify(
        &self,
        rt: &Resource,
        id: &str,
        body: &Value,
        base: &str,
    ) -> Result<Response<Body>, ScimError> {
        self.update(rt, id, base, |old| {
            let mut a = old.clone();
            patch(rt, &mut a, body)?;
            Ok(a)
        })
    }

    /// Read, compute the new attributes with `f`, write under compare-and-set; again on a
    /// concurrent change.
    fn update(
        &self,
        rt: &Resource,
        id: &str,
        base: &str,
        f: impl Fn(&Map<String, Value>) -> Result<Map<String, Value>, ScimError>,
    ) -> Result<Response<Body>, ScimError> {
        for _ in 0..RETRIES {
            let now = now_unix();
            let written = if rt.name == "User" {
                let old = self.live_user(id)?;
                let attrs = f(old.resource.as_object().unwrap_or(&Map::new()))?;
                let fields = user_fields(&attrs, Some(&old));
                if !fields.user_name.eq_ignore_ascii_case(&old.user_name)
                    && store::user_by_name(&self.db, &fields.user_name)
                        .map_err(db_error)?
                        .is_some()
                {
                    return Err(ScimError {
                        status: 409,
                        scim_type: Some("uniqueness"),
                        detail: format!("userName {:?} is taken", fields.user_name),
                    });
                }
                store::update_user(&self.db, &old, &fields, &Value::Object(attrs), now)
            } else {
                let old = self.group_by_id(id)?;
                let attrs = f(old.resource.as_object().unwrap_or(&Map::new()))?;
                let (name, gid, members) = self.group_fields(&attrs)?;
                store::update_group(
                    &self.db,
                    &old,
                    &name,
                    gid,
                    &Value::Object(attrs),
                    &members,
                    now,
                )
            };
            match written {
                Ok(()) => return Ok(scim_json(StatusCode::OK, &self.read(rt, id, base)?)),
                Err(DbError::Stale) => continue,
                Err(e) => return Err(db_error(e)),
            }
        }
        Err(ScimError::status(
            409,
            "the resource kept changing; try again",
        ))
    }

    fn delete(&self, rt: &Resource, id: &str) -> Result<Response<Body>, ScimError> {
        for _ in 0..RETRIES {
            let r = if rt.name == "User" {
                let old = self.live_user(id)?;
                store::tombstone_user(&self.db, &old, now_unix())
            } else {
                let old = self.group_by_id(id)?;
                store::delete_group(&self.db, &old)
            };
            match r {
                Ok(()) => {
                    let mut resp = Response::new(Body::new(Bytes::new()));
                    *resp.status_mut() = StatusCode::NO_CONTENT;
                    return Ok(resp);
                }
                Err(DbError::Stale) => continue,
                Err(e) => return Err(db_error(e)),
            }
        }
        Err(ScimError::status(
            409,
            "the resource kept changing; try again",
        ))
    }
}

fn user_fields(attrs: &Map<String, Value>, old: Option<&store::User>) -> store::UserFields {
    let emails = attrs.get("emails").and_then(Value::as_array);
    let email = emails
        .and_then(|e| {
            e.iter()
                .find(|m| m.get("primary") == Some(&Value::Bool(true)))
                .or_else(|| e.first())
        })
        .and_then(|m| m.get("value"))
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    let posix = attrs.get(schema::POSIX_USER);
    store::UserFields {
        user_name: attrs
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        email,
        external_id: attrs
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        active: attrs
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or_else(|| old.is_none_or(|o| o.active)),
        uid: posix
            .and_then(|p| p.get("uidNumber"))
            .and_then(Value::as_i64),
        gid: posix
            .and_then(|p| p.get("gidNumber"))
            .and_then(Value::as_i64),
    }
}

#[allow(clippy::result_large_err)]
fn json_body(req: &Request<Bytes>) -> Result<Value, ScimError> {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/scim+json" && essence != "application/json" {
        return Err(ScimError::status(
            415,
            "send application/scim+json or application/json",
        ));
    }
    serde_json::from_slice(req.body())
        .map_err(|e| ScimError::bad("invalidSyntax", format!("bad JSON: {e}")))
}

fn list_response(total: usize, start: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The SCIM token, as 'Authorization: Bearer <token>' or the bare token",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

fn resource_type(rt: &Resource, base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": rt.name,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": if rt.name == "User" { "User Account" } else { "Group" },
        "schema": rt.core,
        "schemaExtensions": rt.extensions.iter().map(|(u, _)| json!({"schema": u, "required": false})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rt.name)},
    })
}

fn schema_doc(d: &Value, base: &str) -> Value {
    let mut d = d.clone();
    let id = d["id"].as_str().unwrap_or_default().to_owned();
    d["meta"] = json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")});
    d
}
