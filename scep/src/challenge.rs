//! Challenge-password policies: static, one-time, or decided by the caller.
//!
//! The challengePassword travels inside the PKCS#10 (RFC 2985 section 5.4.1). A policy looks at
//! it (or its absence) together with what the request is and gives a [`Verdict`]. Policies do
//! no IO: a one-time challenge is not consumed here but handed back as a condition
//! ([`Verdict::ConsumeOnCommit`]) that the caller's store spends in the same transaction that
//! records the certificate, so a request refused for any later reason, or a crash before the
//! commit, leaves the challenge unspent.

use std::collections::HashSet;
use std::sync::Mutex;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::message::{MessageType, TransactionId};

/// What a policy may look at besides the challenge itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeContext<'a> {
    /// The request's messageType.
    pub message_type: MessageType,
    /// The request's transactionID.
    pub transaction_id: &'a TransactionId,
    /// Whether the request is signed by a certificate that chains to our CA. Such a request
    /// reaches the challenge policy only when it is not a valid renewal (see
    /// [`crate::issuance`]), so this says nothing about its right to a certificate.
    pub signed_by_issued_cert: bool,
}

/// A policy's answer.
#[derive(Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The challenge admits the request now (a static secret matched, or the caller said yes).
    Admitted,
    /// The challenge admits the request if the caller can consume it when it commits the
    /// issuance (one-time challenges). The value is the challenge as sent; `Debug` hides it.
    ConsumeOnCommit(Zeroizing<String>),
    /// The challenge is missing or wrong.
    Refused,
}

impl core::fmt::Debug for Verdict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Verdict::Admitted => f.write_str("Admitted"),
            Verdict::ConsumeOnCommit(_) => f.write_str("ConsumeOnCommit(..)"),
            Verdict::Refused => f.write_str("Refused"),
        }
    }
}

/// Decides whether a challenge admits a request. Implementations must not do IO that changes
/// state: anything to spend is returned as [`Verdict::ConsumeOnCommit`].
pub trait ChallengePolicy: Send + Sync {
    /// The verdict on `challenge` for the request described by `ctx`.
    fn check(&self, challenge: Option<&str>, ctx: &ChallengeContext<'_>) -> Verdict;
}

/// One shared secret for every client, compared in constant time.
#[derive(Clone)]
pub struct StaticChallenge(Zeroizing<String>);

impl StaticChallenge {
    /// The policy admitting exactly `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        StaticChallenge(Zeroizing::new(secret.into()))
    }
}

impl core::fmt::Debug for StaticChallenge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StaticChallenge(..)")
    }
}

impl ChallengePolicy for StaticChallenge {
    fn check(&self, challenge: Option<&str>, _: &ChallengeContext<'_>) -> Verdict {
        match challenge {
            Some(c) if bool::from(c.as_bytes().ct_eq(self.0.as_bytes())) => Verdict::Admitted,
            _ => Verdict::Refused,
        }
    }
}

/// Each challenge admits one request: any challenge present is handed back to be consumed at
/// commit ([`Verdict::ConsumeOnCommit`]); the store decides whether it exists. A missing
/// challenge is refused at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct OneTimeChallenge;

impl ChallengePolicy for OneTimeChallenge {
    fn check(&self, challenge: Option<&str>, _: &ChallengeContext<'_>) -> Verdict {
        match challenge {
            Some(c) if !c.is_empty() => Verdict::ConsumeOnCommit(Zeroizing::new(c.to_owned())),
            _ => Verdict::Refused,
        }
    }
}

/// Storage for one-time challenges: `consume` must remove the challenge and report whether it
/// was there as one atomic step (for SQL: `DELETE ... WHERE challenge = ?` and check the row
/// count, inside the transaction that records the certificate), so that of two concurrent uses
/// exactly one wins.
pub trait OneTimeStore: Send + Sync {
    /// Remove `challenge`; `true` if it was present.
    fn consume(&self, challenge: &str) -> bool;
}

/// An in-memory [`OneTimeStore`], for tests and single-process embedders.
#[derive(Debug, Default)]
pub struct MemoryOneTimeStore(Mutex<HashSet<String>>);

impl MemoryOneTimeStore {
    /// Add a challenge that admits one request.
    pub fn insert(&self, challenge: impl Into<String>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(challenge.into());
    }
}

impl OneTimeStore for MemoryOneTimeStore {
    fn consume(&self, challenge: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(challenge)
    }
}

/// The caller decides, e.g. by asking an MDM server which enrolment the challenge belongs to.
/// The closure must not spend anything: it answers [`Verdict::ConsumeOnCommit`] for that.
pub struct CallerVerified<F>(pub F);

impl<F> core::fmt::Debug for CallerVerified<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CallerVerified(..)")
    }
}

impl<F> ChallengePolicy for CallerVerified<F>
where
    F: Fn(Option<&str>, &ChallengeContext<'_>) -> Verdict + Send + Sync,
{
    fn check(&self, challenge: Option<&str>, ctx: &ChallengeContext<'_>) -> Verdict {
        (self.0)(challenge, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(t: &TransactionId) -> ChallengeContext<'_> {
        ChallengeContext {
            message_type: MessageType::PkcsReq,
            transaction_id: t,
            signed_by_issued_cert: false,
        }
    }

    #[test]
    fn static_challenge() {
        let t = TransactionId("1".into());
        let p = StaticChallenge::new("secret");
        assert_eq!(p.check(Some("secret"), &ctx(&t)), Verdict::Admitted);
        assert_eq!(p.check(Some("secreT"), &ctx(&t)), Verdict::Refused);
        assert_eq!(p.check(Some("secret "), &ctx(&t)), Verdict::Refused);
        assert_eq!(p.check(None, &ctx(&t)), Verdict::Refused);
        assert_eq!(format!("{p:?}"), "StaticChallenge(..)");
    }

    #[test]
    fn one_time_challenge_is_handed_back_not_spent() {
        let t = TransactionId("x".into());
        let v = OneTimeChallenge.check(Some("otp-1"), &ctx(&t));
        assert_eq!(v, Verdict::ConsumeOnCommit(Zeroizing::new("otp-1".into())));
        assert_eq!(format!("{v:?}"), "ConsumeOnCommit(..)");
        assert_eq!(OneTimeChallenge.check(None, &ctx(&t)), Verdict::Refused);
        assert_eq!(OneTimeChallenge.check(Some(""), &ctx(&t)), Verdict::Refused);
    }

    #[test]
    fn memory_store_consumes_once_under_contention() {
        let store = std::sync::Arc::new(MemoryOneTimeStore::default());
        store.insert("otp-1");
        let wins: usize = (0..8)
            .map(|_| {
                let s = std::sync::Arc::clone(&store);
                std::thread::spawn(move || usize::from(s.consume("otp-1")))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(wins, 1);
        assert!(!store.consume("otp-1"));
    }

    #[test]
    fn caller_verified() {
        let p = CallerVerified(|c: Option<&str>, _: &ChallengeContext<'_>| {
            if c == Some("ok") {
                Verdict::Admitted
            } else {
                Verdict::Refused
            }
        });
        let t = TransactionId("1".into());
        assert_eq!(p.check(Some("ok"), &ctx(&t)), Verdict::Admitted);
        assert_eq!(p.check(Some("no"), &ctx(&t)), Verdict::Refused);
    }
}
