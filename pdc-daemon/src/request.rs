//! Requester-signed data requests: what the requester signs, how the owner checks it,
//! and the window in which a request id is remembered so it cannot be replayed.
//!
//! The owner acts only on the signed body, never on loose request fields, and keeps
//! the signed bytes in the access record: neither side can later forge the other's
//! half of the audit (the owner cannot claim a query the requester never sent; the
//! requester cannot deny one it did).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use pdc_proto::Message;
use pdc_proto::wire::{RequestBody, SignedRequest};

use crate::ledger::AccountId;

/// Domain separation: a request signature can never be taken for a block's.
const DOMAIN: &[u8] = b"secnet-pdc/request/v1\0";

/// Largest encoded body accepted (the query is bounded far below this).
pub const MAX_BODY_BYTES: usize = 4096;

/// Most request ids remembered at once. Only requests that passed the signature,
/// clock and rate checks are remembered, and each is forgotten once its time leaves
/// the clock-skew window (after which the clock check refuses it anyway).
pub const MAX_REMEMBERED: usize = 100_000;

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No signed body at all.
    #[error("the request is not signed; sign it with the requester's node key")]
    Unsigned,
    /// The body does not decode or is too large.
    #[error("the signed request is malformed: {0}")]
    Malformed(String),
    /// Signed by another key than the connection's, or the body names another requester.
    #[error("the request is signed by another key than the connection's")]
    WrongSigner,
    /// The signature does not verify.
    #[error("the request's signature does not verify")]
    BadSignature,
    /// Addressed to another owner or network.
    #[error("the request is addressed to another {0}")]
    Misaddressed(&'static str),
    /// Its time is outside the allowed clock skew.
    #[error(
        "the request's time is {off_secs} s from the owner's clock (at most {skew_secs} s allowed); check the requester's clock"
    )]
    Stale {
        /// How far off, in seconds.
        off_secs: u64,
        /// The window.
        skew_secs: u64,
    },
    /// This request id was seen already.
    #[error("request id already used; a replayed request is refused")]
    Replayed,
}

/// A request whose signature, addressing and time checked out.
#[derive(Debug, Clone)]
pub struct VerifiedRequest {
    /// The decoded body (what the owner acts on).
    pub body: RequestBody,
    /// The exact signed bytes, kept in the access record.
    pub signed: SignedRequest,
}

/// Signs a request body with the requester's node key.
pub fn sign(key: &SigningKey, body: &RequestBody) -> SignedRequest {
    let bytes = body.encode_to_vec();
    let sig = key.sign(&signed_bytes(&bytes));
    SignedRequest {
        body: bytes,
        signature: sig.to_bytes().to_vec(),
    }
}

fn signed_bytes(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + body.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(body);
    m
}

/// Checks a signed request arriving on a connection authenticated as `connection`,
/// at owner `me` of network `network`, at `now_ms` with `skew_ms` allowed either way.
pub fn verify(
    signed: Option<&SignedRequest>,
    connection: &AccountId,
    me: &AccountId,
    network: &[u8; 32],
    now_ms: u64,
    skew_ms: u64,
) -> Result<VerifiedRequest, RequestError> {
    let signed = signed
        .filter(|s| !s.body.is_empty() || !s.signature.is_empty())
        .ok_or(RequestError::Unsigned)?;
    if signed.body.len() > MAX_BODY_BYTES {
        return Err(RequestError::Malformed(format!(
            "{} bytes, at most {MAX_BODY_BYTES}",
            signed.body.len()
        )));
    }
    let body = RequestBody::decode(signed.body.as_slice())
        .map_err(|e| RequestError::Malformed(e.to_string()))?;
    if body.requester != connection.0 {
        return Err(RequestError::WrongSigner);
    }
    let key = VerifyingKey::from_bytes(&connection.0).map_err(|_| RequestError::WrongSigner)?;
    let sig = Signature::from_slice(&signed.signature).map_err(|_| RequestError::BadSignature)?;
    key.verify_strict(&signed_bytes(&signed.body), &sig)
        .map_err(|_| RequestError::BadSignature)?;
    if body.owner != me.0 {
        return Err(RequestError::Misaddressed("owner"));
    }
    if body.network != network {
        return Err(RequestError::Misaddressed("network"));
    }
    let off = now_ms.abs_diff(body.time_ms);
    if off > skew_ms {
        return Err(RequestError::Stale {
            off_secs: off / 1000,
            skew_secs: skew_ms / 1000,
        });
    }
    Ok(VerifiedRequest {
        body,
        signed: signed.clone(),
    })
}

/// Request ids seen within the clock-skew window, per requester. Bounded: when full,
/// expired ids are dropped; if it is still full, new requests are refused until ids
/// expire (deny by default rather than forget one that could be replayed).
#[derive(Debug)]
pub struct ReplayWindow {
    skew_ms: u64,
    seen: Mutex<HashMap<(AccountId, Vec<u8>), u64>>,
}

impl ReplayWindow {
    /// A window of `skew_ms` either way.
    pub fn new(skew_ms: u64) -> Self {
        Self {
            skew_ms,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers `request_id` of `requester` signed at `time_ms`; false if it was seen
    /// already (or the window is full).
    pub fn first_use(
        &self,
        requester: &AccountId,
        request_id: &[u8],
        time_ms: u64,
        now_ms: u64,
    ) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (*requester, request_id.to_vec());
        if seen.contains_key(&key) {
            return false;
        }
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, forget_at| *forget_at > now_ms);
            if seen.len() >= MAX_REMEMBERED {
                return false;
            }
        }
        // Past time + skew the clock check refuses it, so it need not be remembered.
        seen.insert(key, time_ms.saturating_add(self.skew_ms));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SigningKey {
        SigningKey::from_bytes(&[b; 32])
    }

    fn account(k: &SigningKey) -> AccountId {
        AccountId(k.verifying_key().to_bytes())
    }

    fn body(requester: &SigningKey, owner: &AccountId, time_ms: u64) -> RequestBody {
        RequestBody {
            network: vec![7; 32],
            owner: owner.0.to_vec(),
            requester: account(requester).0.to_vec(),
            request_id: vec![1; 16],
            query: "diabetes".into(),
            purpose: "treatment".into(),
            staff_user: "dr.ada".into(),
            time_ms,
        }
    }

    const NOW: u64 = 1_800_000_000_000;
    const SKEW: u64 = 300_000;

    #[test]
    fn a_request_signed_by_the_connection_checks_out() {
        let (h, owner) = (key(1), account(&key(2)));
        let s = sign(&h, &body(&h, &owner, NOW));
        let v = verify(Some(&s), &account(&h), &owner, &[7; 32], NOW + 1000, SKEW).unwrap();
        assert_eq!(v.body.query, "diabetes");
        assert_eq!(v.signed, s);
    }

    #[test]
    fn unsigned_foreign_tampered_misaddressed_and_stale_requests_are_refused() {
        let (h, other, owner) = (key(1), key(3), account(&key(2)));
        let check = |s: Option<&SignedRequest>, conn: &AccountId| {
            verify(s, conn, &owner, &[7; 32], NOW, SKEW)
        };
        assert_eq!(
            check(None, &account(&h)).unwrap_err(),
            RequestError::Unsigned
        );
        // Signed by another key than the connection's.
        let by_other = sign(&other, &body(&other, &owner, NOW));
        assert_eq!(
            check(Some(&by_other), &account(&h)).unwrap_err(),
            RequestError::WrongSigner
        );
        // The body names the connection but another key signed it.
        let mut forged = sign(&other, &body(&h, &owner, NOW));
        assert_eq!(
            check(Some(&forged), &account(&h)).unwrap_err(),
            RequestError::BadSignature
        );
        // Altered after signing.
        let mut s = sign(&h, &body(&h, &owner, NOW));
        let mut b = RequestBody::decode(s.body.as_slice()).unwrap();
        b.query = "hiv".into();
        s.body = b.encode_to_vec();
        assert_eq!(
            check(Some(&s), &account(&h)).unwrap_err(),
            RequestError::BadSignature
        );
        forged.signature.truncate(10);
        assert_eq!(
            check(Some(&forged), &account(&h)).unwrap_err(),
            RequestError::BadSignature
        );
        // Another owner, another network.
        let elsewhere = sign(&h, &body(&h, &account(&key(9)), NOW));
        assert_eq!(
            check(Some(&elsewhere), &account(&h)).unwrap_err(),
            RequestError::Misaddressed("owner")
        );
        let s = sign(&h, &body(&h, &owner, NOW));
        assert_eq!(
            verify(Some(&s), &account(&h), &owner, &[8; 32], NOW, SKEW).unwrap_err(),
            RequestError::Misaddressed("network")
        );
        // Too old and too far ahead.
        for t in [NOW - SKEW - 1000, NOW + SKEW + 1000] {
            let s = sign(&h, &body(&h, &owner, t));
            assert!(matches!(
                check(Some(&s), &account(&h)),
                Err(RequestError::Stale { .. })
            ));
        }
        // Oversized.
        let big = SignedRequest {
            body: vec![0; MAX_BODY_BYTES + 1],
            signature: vec![0; 64],
        };
        assert!(matches!(
            check(Some(&big), &account(&h)),
            Err(RequestError::Malformed(_))
        ));
    }

    #[test]
    fn a_request_id_is_accepted_once_per_requester() {
        let w = ReplayWindow::new(SKEW);
        let (a, b) = (account(&key(1)), account(&key(2)));
        assert!(w.first_use(&a, &[1; 16], NOW, NOW));
        assert!(!w.first_use(&a, &[1; 16], NOW, NOW + 10), "replayed");
        assert!(
            w.first_use(&b, &[1; 16], NOW, NOW),
            "another requester's id space"
        );
        assert!(w.first_use(&a, &[2; 16], NOW, NOW));
    }
}
