//! GetCACaps: the server's capabilities (RFC 8894 section 3.5.2).
//!
//! The answer is `text/plain`, one keyword per line. Keywords compare case-insensitively;
//! unknown ones are kept as sent.

use pki::alg::{ContentCipher, HashAlg};

/// One capability keyword.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// `AES`: AES-128-CBC content encryption.
    Aes,
    /// `DES3`: DES-EDE3-CBC content encryption.
    Des3,
    /// `GetNextCACert`: CA rollover.
    GetNextCaCert,
    /// `POSTPKIOperation`: PKIOperation over POST.
    PostPkiOperation,
    /// `Renewal`: RenewalReq.
    Renewal,
    /// `SHA-1`.
    Sha1,
    /// `SHA-256`.
    Sha256,
    /// `SHA-512`.
    Sha512,
    /// `SCEPStandard`: implies AES, POSTPKIOperation and SHA-256.
    ScepStandard,
    /// Any other keyword, kept as sent.
    Other(String),
}

impl Capability {
    /// The keyword as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Capability::Aes => "AES",
            Capability::Des3 => "DES3",
            Capability::GetNextCaCert => "GetNextCACert",
            Capability::PostPkiOperation => "POSTPKIOperation",
            Capability::Renewal => "Renewal",
            Capability::Sha1 => "SHA-1",
            Capability::Sha256 => "SHA-256",
            Capability::Sha512 => "SHA-512",
            Capability::ScepStandard => "SCEPStandard",
            Capability::Other(s) => s,
        }
    }

    fn parse(word: &str) -> Self {
        const KNOWN: [Capability; 9] = [
            Capability::Aes,
            Capability::Des3,
            Capability::GetNextCaCert,
            Capability::PostPkiOperation,
            Capability::Renewal,
            Capability::Sha1,
            Capability::Sha256,
            Capability::Sha512,
            Capability::ScepStandard,
        ];
        KNOWN
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(word))
            .unwrap_or_else(|| Capability::Other(word.to_owned()))
    }
}

/// A capability list, in the order it was configured or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities(pub Vec<Capability>);

/// Longest GetCACaps body we read, and the most keywords we keep.
const MAX_BODY: usize = 4096;
const MAX_WORDS: usize = 64;

impl Default for Capabilities {
    /// AES, DES3, POSTPKIOperation, Renewal, SHA-1, SHA-256, SHA-512, SCEPStandard.
    /// GetNextCACert is added by [`crate::Responder::with_next_ca_chain`], so it is advertised
    /// only when a next CA exists.
    fn default() -> Self {
        Capabilities(vec![
            Capability::Aes,
            Capability::Des3,
            Capability::PostPkiOperation,
            Capability::Renewal,
            Capability::Sha1,
            Capability::Sha256,
            Capability::Sha512,
            Capability::ScepStandard,
        ])
    }
}

impl Capabilities {
    /// Parse a GetCACaps body (LF or CRLF separated, blank lines ignored; at most 4 KiB and 64
    /// keywords are read).
    pub fn parse(body: &[u8]) -> Self {
        let body = &body[..body.len().min(MAX_BODY)];
        let text = String::from_utf8_lossy(body);
        Capabilities(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(MAX_WORDS)
                .map(Capability::parse)
                .collect(),
        )
    }

    /// The body to send: keywords separated by LF, no trailing LF.
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(Capability::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Add `cap` if it is not listed yet.
    pub fn add(&mut self, cap: Capability) {
        if !self.has(&cap) {
            self.0.push(cap);
        }
    }

    /// Whether the list holds `cap` (SCEPStandard implies AES, POSTPKIOperation and SHA-256).
    pub fn has(&self, cap: &Capability) -> bool {
        self.0.contains(cap)
            || (self.0.contains(&Capability::ScepStandard)
                && matches!(
                    cap,
                    Capability::Aes | Capability::PostPkiOperation | Capability::Sha256
                ))
    }

    /// The content cipher a client should use: AES-128-CBC when offered, else 3DES, else
    /// `None` (the server offers nothing we will send: single DES is never used).
    pub fn content_cipher(&self) -> Option<ContentCipher> {
        if self.has(&Capability::Aes) {
            Some(ContentCipher::Aes128Cbc)
        } else if self.has(&Capability::Des3) {
            Some(ContentCipher::DesEde3Cbc)
        } else {
            None
        }
    }

    /// The strongest digest offered: SHA-512, then SHA-256, then SHA-1 (also the RFC's
    /// assumption for a server that lists none).
    pub fn digest(&self) -> HashAlg {
        if self.has(&Capability::Sha512) {
            HashAlg::Sha512
        } else if self.has(&Capability::Sha256) {
            HashAlg::Sha256
        } else {
            HashAlg::Sha1
        }
    }

    /// Whether PKIOperation may be POSTed.
    pub fn post(&self) -> bool {
        self.has(&Capability::PostPkiOperation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scep_standard_implies_its_three() {
        let caps = Capabilities::parse(b"SCEPStandard\r\n");
        assert!(caps.has(&Capability::Aes) && caps.post());
        assert_eq!(caps.digest(), HashAlg::Sha256);
    }

    #[test]
    fn case_insensitive_and_unknown_words_kept() {
        let caps = Capabilities::parse(b"aes\n\nsha-512\nFancyNewThing");
        assert_eq!(
            caps.0,
            vec![
                Capability::Aes,
                Capability::Sha512,
                Capability::Other("FancyNewThing".into())
            ]
        );
        assert_eq!(caps.encode(), "AES\nSHA-512\nFancyNewThing");
    }

    #[test]
    fn nothing_offered_means_sha1_and_no_cipher() {
        let caps = Capabilities::parse(b"");
        assert_eq!(caps.digest(), HashAlg::Sha1);
        assert_eq!(caps.content_cipher(), None);
        assert!(!caps.post());
    }

    #[test]
    fn default_list() {
        assert_eq!(
            Capabilities::default().encode(),
            "AES\nDES3\nPOSTPKIOperation\nRenewal\nSHA-1\nSHA-256\nSHA-512\nSCEPStandard"
        );
    }
}
