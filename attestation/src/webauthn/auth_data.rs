//! Authenticator data (W3C Web Authentication Level 2, section 6.1).

use super::WebAuthnError;
use super::cose::CoseKey;
use super::object::decode_prefix;

/// Flag UP: user present.
pub const FLAG_UP: u8 = 0x01;
/// Flag UV: user verified.
pub const FLAG_UV: u8 = 0x04;
/// Flag AT: attested credential data included.
pub const FLAG_AT: u8 = 0x40;
/// Flag ED: extension data included.
pub const FLAG_ED: u8 = 0x80;

/// Authenticator data.
///
/// ```text
/// rpIdHash               32 bytes
/// flags                   1 byte   (UP 0x01, UV 0x04, AT 0x40, ED 0x80)
/// signCount               4 bytes  big-endian
/// attestedCredentialData  variable (when AT)
///     aaguid              16 bytes
///     credentialIdLength   2 bytes big-endian
///     credentialId         credentialIdLength bytes
///     credentialPublicKey  COSE_Key, CBOR
/// extensions              variable (when ED), CBOR map
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthenticatorData {
    /// rpIdHash.
    pub rp_id_hash: [u8; 32],
    /// flags.
    pub flags: u8,
    /// signCount.
    pub sign_count: u32,
    /// attestedCredentialData, when the AT flag is set.
    pub attested_credential: Option<AttestedCredential>,
    /// The CBOR extensions map, undecoded, when the ED flag is set.
    pub extensions: Option<Vec<u8>>,
}

/// Attested credential data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttestedCredential {
    /// aaguid.
    pub aaguid: [u8; 16],
    /// credentialId.
    pub credential_id: Vec<u8>,
    /// credentialPublicKey.
    pub public_key: CoseKey,
}

fn short(need: usize, left: usize) -> WebAuthnError {
    WebAuthnError::AuthData(format!("truncated: needed {need} bytes, {left} left"))
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], WebAuthnError> {
    if input.len() < n {
        return Err(short(n, input.len()));
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

fn array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], WebAuthnError> {
    let mut out = [0u8; N];
    out.copy_from_slice(take(input, N)?);
    Ok(out)
}

impl AuthenticatorData {
    /// Parse authenticator data (the whole input).
    pub fn parse(input: &[u8]) -> Result<Self, WebAuthnError> {
        let mut rest = input;
        let rp_id_hash = array::<32>(&mut rest)?;
        let [flags] = array::<1>(&mut rest)?;
        let sign_count = u32::from_be_bytes(array::<4>(&mut rest)?);
        let attested_credential = if flags & FLAG_AT != 0 {
            let aaguid = array::<16>(&mut rest)?;
            let len = usize::from(u16::from_be_bytes(array::<2>(&mut rest)?));
            let credential_id = take(&mut rest, len)?.to_vec();
            let (value, used) = decode_prefix(rest, "credentialPublicKey")?;
            rest = rest.get(used..).unwrap_or_default();
            Some(AttestedCredential {
                aaguid,
                credential_id,
                public_key: CoseKey::from_value(value)?,
            })
        } else {
            None
        };
        let extensions = if flags & FLAG_ED != 0 {
            let (_, used) = decode_prefix(rest, "authenticator extensions")?;
            let ext = rest.get(..used).unwrap_or_default().to_vec();
            rest = rest.get(used..).unwrap_or_default();
            Some(ext)
        } else {
            None
        };
        if !rest.is_empty() {
            return Err(WebAuthnError::AuthData(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        Ok(Self {
            rp_id_hash,
            flags,
            sign_count,
            attested_credential,
            extensions,
        })
    }
}
