//! Challenge-password policies: static, one-time, or decided by the caller.
//!
//! The challengePassword travels inside the PKCS#10 (RFC 2985 section 5.4.1). A policy sees it
//! (or its absence) together with what the request is, and says yes or no; a refusal becomes a
//! FAILURE CertRep with failInfo badRequest.

use std::collections::HashSet;
use std::sync::Mutex;

use subtle::ConstantTimeEq;

use crate::message::{MessageType, TransactionId};

/// What a policy may look at besides the challenge itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeContext<'a> {
    /// The request's messageType.
    pub message_type: MessageType,
    /// The request's transactionID.
    pub transaction_id: &'a TransactionId,
    /// Whether the request is signed by a certificate that chains to our CA (a renewal).
    pub signed_by_issued_cert: bool,
}

/// Decides whether a challenge admits a request.
pub trait ChallengePolicy: Send + Sync {
    /// `true` admits the request. One-time policies consume the challenge here.
    fn admit(&self, challenge: Option<&str>, ctx: &ChallengeContext<'_>) -> bool;
}

/// One shared secret for every client, compared in constant time.
#[derive(Clone)]
pub struct StaticChallenge(String);

impl StaticChallenge {
    /// The policy admitting exactly `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        StaticChallenge(secret.into())
    }
}

impl core::fmt::Debug for StaticChallenge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StaticChallenge(..)")
    }
}

impl ChallengePolicy for StaticChallenge {
    fn admit(&self, challenge: Option<&str>, _: &ChallengeContext<'_>) -> bool {
        challenge.is_some_and(|c| bool::from(c.as_bytes().ct_eq(self.0.as_bytes())))
    }
}

/// Storage for one-time challenges: `consume` must remove the challenge and report whether it
/// was there as one atomic step (for SQL: `DELETE ... WHERE challenge = ?` and check the row
/// count), so that of two concurrent uses exactly one wins.
pub trait OneTimeStore: Send + Sync {
    /// Remove `challenge`; `true` if it was present.
    fn consume(&self, challenge: &str) -> bool;
}

/// An in-memory [`OneTimeStore`].
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

/// Each challenge admits one request, then is gone.
#[derive(Debug)]
pub struct OneTimeChallenge<S>(pub S);

impl<S: OneTimeStore> ChallengePolicy for OneTimeChallenge<S> {
    fn admit(&self, challenge: Option<&str>, _: &ChallengeContext<'_>) -> bool {
        challenge.is_some_and(|c| self.0.consume(c))
    }
}

/// The caller decides, e.g. by asking an MDM server which enrolment the challenge belongs to.
pub struct CallerVerified<F>(pub F);

impl<F> core::fmt::Debug for CallerVerified<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CallerVerified(..)")
    }
}

impl<F> ChallengePolicy for CallerVerified<F>
where
    F: Fn(Option<&str>, &ChallengeContext<'_>) -> bool + Send + Sync,
{
    fn admit(&self, challenge: Option<&str>, ctx: &ChallengeContext<'_>) -> bool {
        (self.0)(challenge, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
        assert!(p.admit(Some("secret"), &ctx(&t)));
        assert!(!p.admit(Some("secreT"), &ctx(&t)));
        assert!(!p.admit(Some("secret "), &ctx(&t)));
        assert!(!p.admit(None, &ctx(&t)));
        assert_eq!(format!("{p:?}"), "StaticChallenge(..)");
    }

    #[test]
    fn one_time_challenge_is_used_once_even_under_contention() {
        let store = MemoryOneTimeStore::default();
        store.insert("otp-1");
        let p = Arc::new(OneTimeChallenge(store));
        let wins: usize = (0..8)
            .map(|_| {
                let p = Arc::clone(&p);
                std::thread::spawn(move || {
                    let t = TransactionId("x".into());
                    usize::from(p.admit(Some("otp-1"), &ctx(&t)))
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(wins, 1);
        let t = TransactionId("y".into());
        assert!(!p.admit(Some("otp-1"), &ctx(&t)));
        assert!(!p.admit(None, &ctx(&t)));
    }

    #[test]
    fn caller_verified() {
        let p = CallerVerified(|c: Option<&str>, ctx: &ChallengeContext<'_>| {
            ctx.signed_by_issued_cert || c == Some("ok")
        });
        let t = TransactionId("1".into());
        assert!(p.admit(Some("ok"), &ctx(&t)));
        assert!(!p.admit(Some("no"), &ctx(&t)));
        let renewal = ChallengeContext {
            signed_by_issued_cert: true,
            ..ctx(&t)
        };
        assert!(p.admit(None, &renewal));
    }
}
