//! The enrollment profile as a device reads it: where to get the identity (SCEP URL,
//! challenge, key size, subject), where to check in, and which CAs come with it.
//!
//! ```text
//! profile bytes (signed CMS or plain plist)
//!   ──▶ com.apple.security.scep  ─▶ url, challenge, keysize, subject
//!   ──▶ com.apple.mdm            ─▶ ServerURL, CheckInURL, Topic, SignMessage, ...
//!   ──▶ com.apple.security.root  ─▶ CA certificates the device will trust
//! ```

use mdm_proto::generated::profiles::security_scep::Keysize;
use mdm_proto::profile::{Profile, ProfilePayload};
use mdm_proto::signed;

use crate::error::{Error, Result};

/// What a device takes from an enrollment profile (kept in the device's state, so a resumed
/// device needs no second profile).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Enrollment {
    /// SCEP `URL`.
    pub scep_url: String,
    /// SCEP `Challenge`.
    pub challenge: Option<String>,
    /// SCEP `Keysize` in bits (RSA).
    pub key_bits: usize,
    /// SCEP `Subject`, as an RFC 4514 string (`None`: the device uses `CN=<UDID>`).
    pub subject: Option<String>,
    /// `ServerURL`: where reports go.
    pub server_url: String,
    /// `CheckInURL`: where check-ins go (the server URL when the profile has none).
    pub check_in_url: String,
    /// `Topic`.
    pub topic: String,
    /// `SignMessage`: sign every request with `Mdm-Signature` instead of presenting the
    /// identity as TLS client certificate.
    pub sign_message: bool,
    /// `CheckOutWhenRemoved`.
    pub check_out_when_removed: bool,
    /// `ServerCapabilities` names `com.apple.mdm.per-user-connections`.
    pub per_user_connections: bool,
    /// DER certificates of the `com.apple.security.root` and `.pkcs1` payloads.
    pub roots: Vec<Vec<u8>>,
    /// The profile's `PayloadIdentifier` (shown in ProfileList).
    pub identifier: String,
    /// The profile's `PayloadUUID`.
    pub uuid: String,
    /// The profile's `PayloadDisplayName`.
    pub display_name: Option<String>,
}

/// A CMS SignedData starts with a DER SEQUENCE; a plist starts with `<?xml`, `<plist` or
/// `bplist`.
fn is_plist(bytes: &[u8]) -> bool {
    let t = bytes.trim_ascii_start();
    t.starts_with(b"<") || t.starts_with(b"bplist")
}

impl Enrollment {
    /// Read a profile as served (signed or not). The signature is checked for integrity
    /// only: the simulator has no trust anchor for the profile signer, like a device that
    /// shows "Not Verified" and installs anyway.
    pub fn parse(bytes: &[u8]) -> Result<Enrollment> {
        let limits = mdm_proto::Limits::default();
        let profile = if is_plist(bytes) {
            Profile::parse(bytes, &limits).map_err(|e| Error::Profile(e.to_string()))?
        } else {
            let provider = crate::provider();
            signed::read_signed_profile(
                bytes,
                provider,
                &pki::verify::Policy::default(),
                None,
                &limits,
            )
            .map_err(|e| Error::Profile(e.to_string()))?
            .profile
        };
        Self::from_profile(&profile)
    }

    /// Take the payloads a device needs from a decoded profile.
    pub fn from_profile(profile: &Profile) -> Result<Enrollment> {
        let mut scep = None;
        let mut mdm = None;
        let mut roots = Vec::new();
        for p in &profile.payloads {
            match p {
                ProfilePayload::Scep(s) => scep = Some(s.payload_content.clone()),
                ProfilePayload::Mdm(m) => mdm = Some(m.clone()),
                ProfilePayload::Root(r) => roots.push(r.payload_content.0.clone()),
                ProfilePayload::Pkcs1(r) => roots.push(r.payload_content.0.clone()),
                _ => {}
            }
        }
        let scep = scep.ok_or_else(|| {
            Error::Profile(
                "no com.apple.security.scep payload (the simulator enrolls over SCEP)".into(),
            )
        })?;
        let mdm = mdm.ok_or_else(|| Error::Profile("no com.apple.mdm payload".into()))?;
        let scep_url = scep
            .url
            .clone()
            .ok_or_else(|| Error::Profile("the SCEP payload has no URL".into()))?;
        let key_bits = match scep.keysize {
            None | Some(Keysize::V2048) => 2048,
            Some(Keysize::V1024) => 1024,
            Some(Keysize::V4096) => 4096,
            Some(Keysize::Other(n)) => usize::try_from(n)
                .ok()
                .filter(|n| (1024..=8192).contains(n))
                .ok_or_else(|| Error::Profile(format!("SCEP Keysize {n} is not usable")))?,
        };
        let subject = match &scep.subject {
            None => None,
            Some(rdns) => {
                let mut parts = Vec::new();
                for rdn in rdns {
                    for atv in rdn {
                        match atv.as_slice() {
                            [ty, value] => parts.push(format!("{ty}={}", escape_rdn(value))),
                            _ => {
                                return Err(Error::Profile(
                                    "SCEP Subject entries must be [type, value] pairs".into(),
                                ));
                            }
                        }
                    }
                }
                // The profile lists RDNs from the root (C, O, ...) down to CN; RFC 4514 strings
                // list them the other way.
                parts.reverse();
                (!parts.is_empty()).then(|| parts.join(","))
            }
        };
        let caps = mdm.server_capabilities.clone().unwrap_or_default();
        let per_user = caps
            .iter()
            .any(|c| c.as_str() == "com.apple.mdm.per-user-connections");
        Ok(Enrollment {
            scep_url,
            challenge: scep.challenge.clone(),
            key_bits,
            subject,
            check_in_url: mdm
                .check_in_url
                .clone()
                .unwrap_or_else(|| mdm.server_url.clone()),
            server_url: mdm.server_url.clone(),
            topic: mdm.topic.clone(),
            sign_message: mdm.sign_message.unwrap_or(false),
            check_out_when_removed: mdm.check_out_when_removed.unwrap_or(false),
            per_user_connections: per_user,
            roots,
            identifier: profile.top.payload_identifier.clone(),
            uuid: profile.top.payload_uuid.clone(),
            display_name: profile.top.payload_display_name.clone(),
        })
    }

    /// Settings that point nowhere, for a device that has not fetched its profile yet.
    pub(crate) fn placeholder() -> Enrollment {
        Enrollment {
            scep_url: String::new(),
            challenge: None,
            key_bits: 2048,
            subject: None,
            server_url: String::new(),
            check_in_url: String::new(),
            topic: String::new(),
            sign_message: false,
            check_out_when_removed: false,
            per_user_connections: false,
            roots: Vec::new(),
            identifier: String::new(),
            uuid: String::new(),
            display_name: None,
        }
    }

    /// The URLs this profile makes a device contact (for the run's allow-list).
    pub fn urls(&self) -> [&str; 3] {
        [&self.scep_url, &self.server_url, &self.check_in_url]
    }
}

fn escape_rdn(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && matches!(c, ' ' | '#'))
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The certificates of a PEM file (or one DER certificate), as DER.
pub fn read_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Ok(vec![bytes.to_vec()]);
    }
    let out = crate::state::pem_blocks(bytes, "CERTIFICATE")?;
    if out.is_empty() {
        return Err(Error::Config("no CERTIFICATE in the PEM file".into()));
    }
    Ok(out)
}

/// Fetch an enrollment profile from `url` (GET; an invite in the query is sent as is),
/// trusting `roots` for TLS. Only `url`'s origin is contacted.
pub async fn fetch(url: &str, roots: &[Vec<u8>], timeout: std::time::Duration) -> Result<Vec<u8>> {
    use crate::transport::{Allowed, Tls, Transport};
    let mut allowed = Allowed::default();
    allowed.allow(url)?;
    let mut t = Transport::new(
        Tls::new(roots, None)?,
        std::sync::Arc::new(allowed),
        timeout,
    );
    let req = http::Request::get(url)
        .body(Vec::new())
        .map_err(|e| Error::Config(e.to_string()))?;
    let resp = t.send("enroll", req).await?;
    if resp.status() != http::StatusCode::OK {
        return Err(Error::Status {
            endpoint: "enroll".into(),
            status: resp.status().as_u16(),
            body: String::from_utf8_lossy(&resp.body()[..resp.body().len().min(200)]).into_owned(),
        });
    }
    Ok(resp.into_body())
}
