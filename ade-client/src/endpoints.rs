//! Every ADE endpoint as a request builder and a response parser.
//!
//! Builders return an [`http::Request`] with the common headers ([`Config::request`]) but no
//! session; drive it with [`crate::Call`] (which adds `X-ADM-Auth-Session`, renews and retries)
//! or authorise it yourself with [`crate::Session::authorize`]. Parsers take the response,
//! turn any non-2xx into the typed error ([`crate::session::classify`]), cap the body at
//! [`MAX_RESPONSE_BODY`](crate::session::MAX_RESPONSE_BODY) and keep the raw bytes in
//! [`Reply::raw`].
//!
//! | endpoint | builder | parser |
//! |---|---|---|
//! | `GET /account` | [`account`] | [`parse_account`] |
//! | `POST /server/devices` | [`fetch_devices`] | [`parse_device_page`] |
//! | `POST /devices/sync` | [`sync_devices`] | [`parse_device_page`] |
//! | `POST /devices` | [`device_details`] | [`parse_device_details`] |
//! | `POST /profile` | [`define_profile`] | [`parse_define_profile`] |
//! | `GET /profile?profile_uuid=` | [`get_profile`] | [`parse_profile`] |
//! | `POST` (or `PUT`) `/profile/devices` | [`assign_profile`] | [`parse_device_statuses`] |
//! | `DELETE /profile/devices` | [`remove_profile`] | [`parse_device_statuses`] |
//! | `POST /devices/disown` | [`disown_devices`] | [`parse_device_statuses`] |
//! | `POST /device/activationlock` | [`activation_lock`] | [`parse_activation_lock`] |
//! | `GET /os-beta-enrollment/tokens` | [`beta_tokens`] | [`parse_beta_tokens`] |
//! | `GET`/`POST`/`DELETE /account-driven-enrollment/profile` | [`get_ade_profile`], [`set_ade_profile`], [`delete_ade_profile`] | [`parse_ade_profile`], [`parse_empty`] |

use http::{Method, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::model::{
    Account, ActivationLockRequest, ActivationLockResponse, AdeProfile, BetaTokens, CursorRequest,
    DefineProfileResponse, DeviceDetails, DeviceListRequest, DevicePage, DeviceStatuses, Profile,
    ProfileDevicesRequest,
};
use crate::session::{Config, check_size, classify};

/// Most serial numbers Apple takes in one request.
pub const MAX_SERIALS: usize = 1000;

/// A parsed success answer and the bytes it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<T> {
    /// The typed view.
    pub value: T,
    /// The body as received (for fields the type does not model, and for audit).
    pub raw: Vec<u8>,
}

/// Split serial numbers into request-sized chunks of at most [`MAX_SERIALS`].
pub fn batches(serials: &[String]) -> impl Iterator<Item = &[String]> {
    serials.chunks(MAX_SERIALS)
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|_| Error::ApiMisuse("request body does not serialise to JSON"))
}

fn check_serials(serials: &[String]) -> Result<()> {
    if serials.is_empty() {
        return Err(Error::ApiMisuse("no serial numbers given"));
    }
    if serials.len() > MAX_SERIALS {
        return Err(Error::TooManySerials {
            len: serials.len(),
            max: MAX_SERIALS,
        });
    }
    Ok(())
}

/// `GET /account`.
pub fn account(cfg: &Config) -> Result<Request<Vec<u8>>> {
    cfg.request(Method::GET, "/account", Vec::new())
}

/// `POST /server/devices`: fetch every device, a page at a time. No cursor starts from the
/// beginning.
pub fn fetch_devices(
    cfg: &Config,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Request<Vec<u8>>> {
    let body = CursorRequest {
        cursor: cursor.map(str::to_owned),
        limit,
    };
    cfg.request(Method::POST, "/server/devices", json(&body)?)
}

/// `POST /devices/sync`: the changes since `cursor`.
pub fn sync_devices(cfg: &Config, cursor: &str, limit: Option<u32>) -> Result<Request<Vec<u8>>> {
    if cursor.is_empty() {
        return Err(Error::ApiMisuse(
            "sync needs the cursor of an earlier fetch or sync",
        ));
    }
    let body = CursorRequest {
        cursor: Some(cursor.to_owned()),
        limit,
    };
    cfg.request(Method::POST, "/devices/sync", json(&body)?)
}

/// `POST /devices`: details of up to 1,000 serial numbers.
pub fn device_details(cfg: &Config, serials: &[String]) -> Result<Request<Vec<u8>>> {
    check_serials(serials)?;
    let body = DeviceListRequest {
        devices: serials.to_vec(),
    };
    cfg.request(Method::POST, "/devices", json(&body)?)
}

/// `POST /devices/disown`: release up to 1,000 devices from the organisation. Irreversible.
pub fn disown_devices(cfg: &Config, serials: &[String]) -> Result<Request<Vec<u8>>> {
    check_serials(serials)?;
    let body = DeviceListRequest {
        devices: serials.to_vec(),
    };
    cfg.request(Method::POST, "/devices/disown", json(&body)?)
}

/// `POST /profile`: define an enrollment profile. Its `devices` list, if any, is limited to
/// 1,000 serial numbers like the other device lists.
pub fn define_profile(cfg: &Config, profile: &Profile) -> Result<Request<Vec<u8>>> {
    if let Some(d) = &profile.devices
        && d.len() > MAX_SERIALS
    {
        return Err(Error::TooManySerials {
            len: d.len(),
            max: MAX_SERIALS,
        });
    }
    cfg.request(Method::POST, "/profile", json(profile)?)
}

/// `GET /profile?profile_uuid=…`.
pub fn get_profile(cfg: &Config, profile_uuid: &str) -> Result<Request<Vec<u8>>> {
    if profile_uuid.is_empty() {
        return Err(Error::ApiMisuse("profile UUID is empty"));
    }
    let q = crate::oauth::encode(profile_uuid);
    cfg.request(
        Method::GET,
        &format!("/profile?profile_uuid={q}"),
        Vec::new(),
    )
}

/// How to assign a profile: `POST` is the documented method; `PUT` is what some simulators
/// (and older Apple documentation) expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssignMethod {
    /// `POST /profile/devices`.
    #[default]
    Post,
    /// `PUT /profile/devices`.
    Put,
}

/// `POST /profile/devices`: assign `profile_uuid` to up to 1,000 devices.
pub fn assign_profile(
    cfg: &Config,
    profile_uuid: &str,
    serials: &[String],
    method: AssignMethod,
) -> Result<Request<Vec<u8>>> {
    check_serials(serials)?;
    if profile_uuid.is_empty() {
        return Err(Error::ApiMisuse("profile UUID is empty"));
    }
    let body = ProfileDevicesRequest {
        profile_uuid: Some(profile_uuid.to_owned()),
        devices: serials.to_vec(),
    };
    let m = match method {
        AssignMethod::Post => Method::POST,
        AssignMethod::Put => Method::PUT,
    };
    cfg.request(m, "/profile/devices", json(&body)?)
}

/// `DELETE /profile/devices`: remove the profile from up to 1,000 devices.
pub fn remove_profile(
    cfg: &Config,
    profile_uuid: Option<&str>,
    serials: &[String],
) -> Result<Request<Vec<u8>>> {
    check_serials(serials)?;
    let body = ProfileDevicesRequest {
        profile_uuid: profile_uuid.map(str::to_owned),
        devices: serials.to_vec(),
    };
    cfg.request(Method::DELETE, "/profile/devices", json(&body)?)
}

/// `POST /device/activationlock`.
pub fn activation_lock(cfg: &Config, req: &ActivationLockRequest) -> Result<Request<Vec<u8>>> {
    if req.device.is_empty() {
        return Err(Error::ApiMisuse("no serial number given"));
    }
    if let Some(k) = &req.escrow_key
        && (k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(Error::ApiMisuse(
            "escrow_key must be 64 hex digits (BypassCode::escrow_key)",
        ));
    }
    cfg.request(Method::POST, "/device/activationlock", json(req)?)
}

/// `GET /os-beta-enrollment/tokens`.
pub fn beta_tokens(cfg: &Config) -> Result<Request<Vec<u8>>> {
    cfg.request(Method::GET, "/os-beta-enrollment/tokens", Vec::new())
}

/// `GET /account-driven-enrollment/profile`.
pub fn get_ade_profile(cfg: &Config) -> Result<Request<Vec<u8>>> {
    cfg.request(
        Method::GET,
        "/account-driven-enrollment/profile",
        Vec::new(),
    )
}

/// `POST /account-driven-enrollment/profile`: set the MDM service discovery URL.
pub fn set_ade_profile(cfg: &Config, mdm_service_discovery_url: &str) -> Result<Request<Vec<u8>>> {
    if mdm_service_discovery_url.is_empty() {
        return Err(Error::ApiMisuse("service discovery URL is empty"));
    }
    let body = serde_json::json!({ "mdm_service_discovery_url": mdm_service_discovery_url });
    cfg.request(
        Method::POST,
        "/account-driven-enrollment/profile",
        json(&body)?,
    )
}

/// `DELETE /account-driven-enrollment/profile`.
pub fn delete_ade_profile(cfg: &Config) -> Result<Request<Vec<u8>>> {
    cfg.request(
        Method::DELETE,
        "/account-driven-enrollment/profile",
        Vec::new(),
    )
}

/// Parse a JSON success body as `T`: non-2xx becomes the typed error, the size is capped, and
/// JSON errors say where, by line and column.
pub fn parse_json<T: DeserializeOwned>(
    resp: &Response<Vec<u8>>,
    what: &'static str,
) -> Result<Reply<T>> {
    if !resp.status().is_success() {
        return Err(classify(resp));
    }
    let body = resp.body();
    check_size(body)?;
    let value = serde_json::from_slice(body).map_err(|e| Error::MalformedBody {
        what,
        reason: e.to_string(),
    })?;
    Ok(Reply {
        value,
        raw: body.clone(),
    })
}

/// `GET /account` answer.
pub fn parse_account(resp: &Response<Vec<u8>>) -> Result<Reply<Account>> {
    parse_json(resp, "account")
}

/// Fetch or sync page.
pub fn parse_device_page(resp: &Response<Vec<u8>>) -> Result<Reply<DevicePage>> {
    parse_json(resp, "device page")
}

/// `POST /devices` answer.
pub fn parse_device_details(resp: &Response<Vec<u8>>) -> Result<Reply<DeviceDetails>> {
    parse_json(resp, "device details")
}

/// `POST /profile` answer.
pub fn parse_define_profile(resp: &Response<Vec<u8>>) -> Result<Reply<DefineProfileResponse>> {
    parse_json(resp, "define profile")
}

/// `GET /profile` answer.
pub fn parse_profile(resp: &Response<Vec<u8>>) -> Result<Reply<Profile>> {
    parse_json(resp, "profile")
}

/// Assign, remove and disown answers.
pub fn parse_device_statuses(resp: &Response<Vec<u8>>) -> Result<Reply<DeviceStatuses>> {
    parse_json(resp, "device statuses")
}

/// `POST /device/activationlock` answer.
pub fn parse_activation_lock(resp: &Response<Vec<u8>>) -> Result<Reply<ActivationLockResponse>> {
    parse_json(resp, "activation lock")
}

/// `GET /os-beta-enrollment/tokens` answer.
pub fn parse_beta_tokens(resp: &Response<Vec<u8>>) -> Result<Reply<BetaTokens>> {
    parse_json(resp, "beta enrollment tokens")
}

/// `GET /account-driven-enrollment/profile` answer.
pub fn parse_ade_profile(resp: &Response<Vec<u8>>) -> Result<Reply<AdeProfile>> {
    parse_json(resp, "account-driven enrollment profile")
}

/// An answer whose body does not matter (set or delete the account-driven enrollment
/// profile): success or the typed error; the body is kept, capped.
pub fn parse_empty(resp: &Response<Vec<u8>>) -> Result<Reply<()>> {
    if !resp.status().is_success() {
        return Err(classify(resp));
    }
    check_size(resp.body())?;
    Ok(Reply {
        value: (),
        raw: resp.body().clone(),
    })
}
