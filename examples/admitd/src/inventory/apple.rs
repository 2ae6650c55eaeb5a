//! Apple Managed Device Attestation that raises a device to high assurance.
//!
//! ```text
//!  AppleAttestation::command(channel, serial) ──▶ DeviceInformation {Queries:
//!      [DevicePropertiesAttestation, SerialNumber, UDID], DeviceAttestationNonce: 32 random bytes}
//!      (nonce and CommandUUID recorded) ──▶ Commands::enqueue (MDM core) ──▶ device
//!  device ──▶ report committed ──▶ ResultHook::on_result
//!      ──▶ QueryResponses.DevicePropertiesAttestation (leaf first, DER)
//!      ──▶ attestation::apple::verify: chain to the Enterprise Attestation root (or the
//!          configured roots), P-384 leaf, freshness code == this command's nonce (an earlier
//!          nonce is reported stale), serial == the record's, UDID == the channel's
//!      ──▶ Device::attested(serial): high assurance
//! ```
//!
//! A result is acted on once: its request row is deleted when read. Refusals are logged with
//! the serial and channel.

use std::sync::Arc;
use std::time::SystemTime;

use ::inventory::InstanceId;
use attestation::apple::{FreshnessCode, Options};
use mdm_proto::plist::{Dictionary, Value};
use pki::cert::Cert;

use super::{Record, Service};
use crate::mdm::{CommandResult, Commands, EnqueueError, NewCommand, ResultHook};
use crate::records::{DbError, Stmt, Val, now_unix};

/// Why an Apple attestation did not raise assurance.
#[derive(Debug, thiserror::Error)]
pub enum AppleError {
    /// The result is not one this module asked for (not an error to log).
    #[error("not an attestation request of ours")]
    NotOurs,
    /// The device answered without an attestation (an error status, an OS too old).
    #[error("no attestation in the result: {0}")]
    Missing(String),
    /// The attestation did not verify or names another device.
    #[error("attestation refused: {0}")]
    Refused(String),
    /// Our own failure.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Asks devices for Managed Device Attestation and verifies their answers.
#[derive(Debug)]
pub struct AppleAttestation {
    inventory: Arc<Service>,
    provider: &'static dyn pki::provider::CryptoProvider,
    /// `None`: Apple's Enterprise Attestation Root CA.
    anchors: Option<Vec<Cert>>,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], DbError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| DbError::Backend(format!("OS random number generator: {e}")))?;
    Ok(b)
}

fn uuid() -> Result<String, DbError> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode_upper(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

impl AppleAttestation {
    /// Verify with `provider`, trusting `anchors` (`None`: Apple's root).
    pub fn new(
        inventory: Arc<Service>,
        provider: &'static dyn pki::provider::CryptoProvider,
        anchors: Option<Vec<Cert>>,
    ) -> AppleAttestation {
        AppleAttestation {
            inventory,
            provider,
            anchors,
        }
    }

    /// A `DeviceInformation` command asking the device on `channel_id` (its UDID for a device
    /// channel) for an attestation with a fresh nonce; the nonce is recorded against the
    /// command's UUID and the device's `serial`. The caller queues it.
    pub fn command(&self, channel_id: &str, serial: &InstanceId) -> Result<NewCommand, DbError> {
        let nonce = random_bytes::<32>()?;
        let command_uuid = uuid()?;
        let mut command = Dictionary::new();
        command.insert(
            "RequestType".into(),
            Value::String("DeviceInformation".into()),
        );
        command.insert(
            "Queries".into(),
            Value::Array(
                ["DevicePropertiesAttestation", "SerialNumber", "UDID"]
                    .iter()
                    .map(|q| Value::String((*q).into()))
                    .collect(),
            ),
        );
        command.insert("DeviceAttestationNonce".into(), Value::Data(nonce.to_vec()));
        let mut top = Dictionary::new();
        top.insert("Command".into(), Value::Dictionary(command));
        top.insert("CommandUUID".into(), Value::String(command_uuid.clone()));
        let mut body = Vec::new();
        Value::Dictionary(top)
            .to_writer_xml(&mut body)
            .map_err(|e| DbError::Backend(format!("writing the command plist: {e}")))?;
        self.inventory.db.write(&[Stmt::new(
            "INSERT INTO inventory_mda_requests (command_uuid, channel_id, instance_id, nonce,
                 issued_at) VALUES ($1, $2, $3, $4, $5)",
            vec![
                command_uuid.as_str().into(),
                channel_id.into(),
                serial.as_str().into(),
                hex::encode(nonce).into(),
                now_unix().into(),
            ],
        )])?;
        Ok(NewCommand {
            command_uuid,
            request_type: "DeviceInformation".into(),
            body,
        })
    }

    /// [`AppleAttestation::command`], queued on `commands`.
    pub fn request(
        &self,
        commands: &dyn Commands,
        channel_id: &str,
        serial: &InstanceId,
    ) -> Result<String, EnqueueError> {
        let cmd = self
            .command(channel_id, serial)
            .map_err(|e| EnqueueError::Storage(crate::storage::Error::Connection(e.to_string())))?;
        commands.enqueue(&[channel_id.to_owned()], &cmd)?;
        Ok(cmd.command_uuid)
    }

    /// Verify the attestation in a committed `DeviceInformation` result and raise the device.
    pub fn verify_result(&self, result: CommandResult<'_>) -> Result<Record, AppleError> {
        if result.request_type != "DeviceInformation" {
            return Err(AppleError::NotOurs);
        }
        let db = &self.inventory.db;
        let Some(row) = db.query_opt(
            "SELECT channel_id, instance_id, nonce FROM inventory_mda_requests
             WHERE command_uuid = $1",
            &[result.command_uuid.into()],
        )?
        else {
            return Err(AppleError::NotOurs);
        };
        // One use: a replayed result finds nothing.
        match db.write(&[Stmt::cas(
            "DELETE FROM inventory_mda_requests WHERE command_uuid = $1",
            vec![result.command_uuid.into()],
        )]) {
            Ok(()) => {}
            Err(DbError::Stale) => return Err(AppleError::NotOurs),
            Err(e) => return Err(e.into()),
        }
        let text = |i: usize| {
            row.get(i)
                .and_then(Val::text)
                .unwrap_or_default()
                .to_owned()
        };
        let (channel, serial, nonce) = (text(0), text(1), hex::decode(text(2)).unwrap_or_default());
        if result.status != "Acknowledged" {
            return Err(AppleError::Missing(format!("status {}", result.status)));
        }
        let report = Value::from_reader(std::io::Cursor::new(result.raw))
            .map_err(|e| AppleError::Refused(format!("the report is not a plist: {e}")))?;
        let chain = report
            .as_dictionary()
            .and_then(|d| d.get("QueryResponses"))
            .and_then(Value::as_dictionary)
            .and_then(|q| q.get("DevicePropertiesAttestation"))
            .and_then(Value::as_array)
            .ok_or_else(|| {
                AppleError::Missing("no QueryResponses.DevicePropertiesAttestation".into())
            })?;
        let chain: Vec<Cert> = chain
            .iter()
            .map(|c| {
                c.as_data()
                    .ok_or_else(|| AppleError::Refused("a certificate is not <data>".into()))
                    .and_then(|d| {
                        Cert::from_der(d)
                            .map_err(|e| AppleError::Refused(format!("certificate: {e}")))
                    })
            })
            .collect::<Result<_, _>>()?;
        let earlier: Vec<FreshnessCode> = Vec::new();
        let udid = (!channel.contains(':')).then_some(channel.as_str());
        let mut options = Options::new(SystemTime::now(), FreshnessCode::from_mdm_nonce(&nonce))
            .with_earlier(&earlier)
            .with_expected_serial(&serial);
        if let Some(anchors) = &self.anchors {
            options = options.with_anchors(anchors);
        }
        if let Some(u) = udid {
            options = options.with_expected_udid(u);
        }
        let refuse = |why: String| {
            tracing::warn!(instance = %serial, channel = %channel, "Apple attestation refused: {why}");
            AppleError::Refused(why)
        };
        attestation::apple::verify(self.provider, &chain, &options)
            .map_err(|e| refuse(e.to_string()))?;
        let id = InstanceId::parse(&serial).map_err(|e| refuse(e.to_string()))?;
        let r = self.inventory.attested(&id, &id).map_err(|e| match e {
            super::Error::Db(d) => AppleError::Db(d),
            other => refuse(other.to_string()),
        })?;
        tracing::info!(instance = %id, channel = %channel, "Apple attestation verified: high assurance");
        Ok(r)
    }
}

impl ResultHook for AppleAttestation {
    /// Verify attestation results this module asked for; errors are logged, never returned
    /// to the device.
    fn on_result(&self, result: CommandResult<'_>) {
        match self.verify_result(result) {
            Ok(_) | Err(AppleError::NotOurs) | Err(AppleError::Refused(_)) => {}
            Err(AppleError::Missing(why)) => {
                tracing::info!(channel = result.channel_id, "no Apple attestation: {why}");
            }
            Err(AppleError::Db(e)) => {
                tracing::error!(error = %e, "Apple attestation result could not be handled");
            }
        }
    }
}
