//! Signature checks: one block with `verify_strict`, many with `verify_batch`, and the
//! same verdict for every block either way (as far as it can be had cheaply; see
//! [`verify_many`] for the one case it cannot).
//!
//! # Why batch verification needs extra checks
//! `ed25519_dalek::verify_batch` checks one random linear combination of the
//! *cofactorless* verification equations `R - sB + hA = 0`. It refuses non-canonical
//! `s` (as `verify_strict` does) but, unlike `verify_strict`, it does not
//! - refuse small-order keys `A` or small-order `R` (with such points one signature
//!   can be valid for many messages, and whoever holds a small-order "key" can sign
//!   anything),
//! - compare `R` byte for byte: it decompresses `R`, so a non-canonical encoding of a
//!   point is accepted, while `verify_strict` recomputes `R` and compares encodings,
//! - notice a torsion (order 2, 4 or 8) component in `R - sB + hA`: the random
//!   coefficient kills it whenever it is a multiple of the component's order, i.e. with
//!   probability 1/2 to 1/8, where `verify_strict` always refuses.
//!
//! A block's validity must not depend on which path checked it or on which other blocks
//! shared its batch, or nodes would fold different states. So a signature goes into a
//! batch only if cheap byte checks show that none of the cases above can apply, and is
//! otherwise checked alone with `verify_strict`:
//! - `s` canonical (`s < l`): otherwise the whole batch would fail on it,
//! - `R` a canonical encoding (`y < p`) and not one of the eight small-order points
//!   (compared by encoding, which costs nothing; decompressing `R` to call
//!   `is_small_order` would cost as much as a third of a batch verification),
//! - the key neither weak (`VerifyingKey::is_weak`) nor carrying a torsion component
//!   (`is_torsion_free`, ~25 µs, computed once per key and cached, since a few authors
//!   write most blocks).
//!
//! With those, the only difference left is a torsion component in `R` itself, which
//! only the key's holder can produce (the other terms are then prime-order and must
//! cancel, which takes the secret key). `verify_batch` accepts such a signature with
//! probability 1/2 to 1/8; ruling it out per block would need `is_torsion_free(R)`,
//! which costs more than `verify_strict`. So the rule ([`strict`]) accepts it on every
//! path instead: the single check falls back to the cofactored equation, and a batch
//! that fails falls back to the single check. A block is then valid or not whatever
//! path checked it and whatever shared its batch.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ed25519_dalek::{Signature, VerifyingKey};

use super::types::AccountId;

/// Most decompressed keys kept. Every valid author key is a few hundred bytes here;
/// the cache is cleared when full, so a flood of one-off keys costs time, not memory.
const MAX_KEYS: usize = 1 << 16;

/// Below this many batchable signatures `verify_batch` saves nothing over checking
/// each alone (it has a fixed setup cost and one extra point per signature).
const MIN_BATCH: usize = 4;

/// p = 2^255 - 19, little-endian: a point encoding's `y` must be below it.
const P_LE: [u8; 32] = [
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];

/// l = 2^252 + 27742317777372353535851937790883648493 (the prime group order),
/// little-endian: a signature's `s` must be below it.
const L_LE: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// The `y` coordinates (little-endian, sign bit clear) of the eight points of small
/// order: 1 (the identity), p - 1 (order 2), 0 (the two points of order 4) and the two
/// values of the four points of order 8. A test derives them from the curve.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [0; 32],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

/// `a < b` for little-endian 256-bit numbers.
fn less_le(a: &[u8; 32], b: &[u8; 32]) -> bool {
    for i in (0..32).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// The `y` of a point encoding: the encoding without its sign bit.
fn y_of(encoding: &[u8; 32]) -> [u8; 32] {
    let mut y = *encoding;
    y[31] &= 0x7f;
    y
}

/// Whether `encoding` is a canonical point encoding (`y < p`) of a point not of small
/// order, judged from the bytes alone. Non-canonical encodings of valid points exist
/// only for `y` in `[p, 2^255)`; the two with `x = 0` and the sign bit set are
/// encodings of small-order points and refused with them.
pub(crate) fn is_canonical_large_order(encoding: &[u8; 32]) -> bool {
    let y = y_of(encoding);
    less_le(&y, &P_LE) && !SMALL_ORDER_Y.contains(&y)
}

/// Whether `s` is a canonical scalar (`s < l`).
pub(crate) fn is_canonical_scalar(s: &[u8; 32]) -> bool {
    less_le(s, &L_LE)
}

#[derive(Clone, Copy)]
struct KnownKey {
    key: VerifyingKey,
    /// Neither weak nor with a torsion component; `None` until first needed.
    batchable: Option<bool>,
}

/// Decompressed author keys and whether each may be batch-verified. Decompressing a
/// key costs ~3 µs, a tenth of a whole verification, and the same few authors sign
/// most blocks.
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: Mutex<HashMap<AccountId, KnownKey>>,
}

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, KnownKey>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The author's key, or `None` if the bytes are not a curve point.
    pub(crate) fn key(&self, author: &AccountId) -> Option<VerifyingKey> {
        if let Some(k) = self.lock().get(author) {
            return Some(k.key);
        }
        // Invalid keys are not cached: anyone can make up any number of them.
        let key = author.verifying_key()?;
        let mut keys = self.lock();
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(
            *author,
            KnownKey {
                key,
                batchable: None,
            },
        );
        Some(key)
    }

    /// Whether signatures by this key can go into a batch (see the module docs).
    fn batchable(&self, author: &AccountId, key: &VerifyingKey) -> bool {
        if let Some(b) = self.lock().get(author).and_then(|k| k.batchable) {
            return b;
        }
        // Computed outside the lock: it is the slow part.
        let b = !key.is_weak() && key.to_edwards().is_torsion_free();
        if let Some(k) = self.lock().get_mut(author) {
            k.batchable = Some(b);
        }
        b
    }
}

/// One signature to check: `signature` by `author` (whose key is `key`) over `message`.
pub(crate) struct SigCheck<'a> {
    pub(crate) author: AccountId,
    pub(crate) key: VerifyingKey,
    pub(crate) message: &'a [u8],
    pub(crate) signature: Signature,
}

/// Checks every signature; `result[i]` is exactly what `verify_strict` says about
/// `checks[i]`, except for the case the module docs describe. Signatures that pass
/// the byte checks are verified together with `verify_batch`; if the batch fails, each
/// of them is checked alone, so a bad one is found and the good ones still count. The
/// rest are checked alone from the start.
pub(crate) fn verify_many(checks: &[SigCheck<'_>], keys: &KeyCache) -> Vec<bool> {
    let mut ok = vec![false; checks.len()];
    let mut batch = Vec::with_capacity(checks.len());
    for (i, c) in checks.iter().enumerate() {
        let eligible = is_canonical_scalar(c.signature.s_bytes())
            && is_canonical_large_order(c.signature.r_bytes())
            && keys.batchable(&c.author, &c.key);
        if eligible {
            batch.push(i);
        } else {
            ok[i] = strict(c);
        }
    }
    let batch_ok = batch.len() >= MIN_BATCH && {
        let messages: Vec<&[u8]> = batch.iter().map(|&i| checks[i].message).collect();
        let signatures: Vec<Signature> = batch.iter().map(|&i| checks[i].signature).collect();
        let keys: Vec<VerifyingKey> = batch.iter().map(|&i| checks[i].key).collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    };
    for i in batch {
        ok[i] = batch_ok || strict(&checks[i]);
    }
    ok
}

/// The validity rule for one signature, the same on every path (see the module docs):
/// `verify_strict` (no malleable `s`, no small-order or non-canonical `R`, no weak
/// key), except that for a canonical signature by a torsion-free key a torsion
/// component in `R` is accepted, as the cofactored equation `8(sB - R - hA) = 0` does.
/// That is the one case batch verification cannot tell apart cheaply; accepting it
/// everywhere makes a block's validity independent of how it was checked, and it gives
/// nobody a second signature: only the key's holder can make one, and it is a signature
/// of a different `R`, hence of a different block hash.
pub(crate) fn strict(c: &SigCheck<'_>) -> bool {
    if c.key.verify_strict(c.message, &c.signature).is_ok() {
        return true;
    }
    // Rare (a forged or malformed signature): the slower cofactored check decides.
    is_canonical_scalar(c.signature.s_bytes())
        && is_canonical_large_order(c.signature.r_bytes())
        && !c.key.is_weak()
        && c.key.to_edwards().is_torsion_free()
        && cofactored(c)
}

/// `8(sB - R - hA) == 0` with `h = SHA-512(R || A || M) mod l`.
fn cofactored(c: &SigCheck<'_>) -> bool {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*c.signature.s_bytes()))
    else {
        return false;
    };
    let Some(r) = CompressedEdwardsY(*c.signature.r_bytes()).decompress() else {
        return false;
    };
    let mut h = Sha512::new();
    h.update(c.signature.r_bytes());
    h.update(c.key.as_bytes());
    h.update(c.message);
    let k = Scalar::from_hash(h);
    let sb_minus_ka =
        EdwardsPoint::vartime_double_scalar_mul_basepoint(&-k, &c.key.to_edwards(), &s);
    use curve25519_dalek::traits::IsIdentity;
    (sb_minus_ka - r).mul_by_cofactor().is_identity()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    fn order8_point() -> VerifyingKey {
        VerifyingKey::from_bytes(&SMALL_ORDER_Y[3]).expect("a curve point")
    }

    #[test]
    fn small_order_list_is_exactly_the_eight_torsion_points() {
        // Multiples of a point of order 8 are all eight small-order points.
        let p = order8_point().to_edwards();
        let mut q = p;
        let mut ys = BTreeSet::new();
        for _ in 0..8 {
            ys.insert(y_of(&q.compress().to_bytes()));
            q += p;
        }
        let listed: BTreeSet<[u8; 32]> = SMALL_ORDER_Y.iter().copied().collect();
        assert_eq!(ys, listed);
        for y in SMALL_ORDER_Y {
            for sign in [0u8, 0x80] {
                let mut enc = y;
                enc[31] |= sign;
                if let Ok(k) = VerifyingKey::from_bytes(&enc) {
                    assert!(k.is_weak(), "{}", hex::encode(enc));
                }
                assert!(!is_canonical_large_order(&enc));
            }
        }
    }

    #[test]
    fn byte_checks_match_the_curve() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let sig = key.sign(b"m");
        assert!(is_canonical_scalar(sig.s_bytes()));
        assert!(is_canonical_large_order(sig.r_bytes()));
        assert!(is_canonical_large_order(key.verifying_key().as_bytes()));
        // s + l is the same scalar, non-canonically: verify_strict refuses it.
        let mut s = *sig.s_bytes();
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(s[i]) + u16::from(L_LE[i]) + carry;
            s[i] = v as u8;
            carry = v >> 8;
        }
        assert!(!is_canonical_scalar(&s));
        let mut bad = sig.to_bytes();
        bad[32..].copy_from_slice(&s);
        let bad = Signature::from_bytes(&bad);
        assert!(key.verifying_key().verify_strict(b"m", &bad).is_err());
        // y = p + 2 encodes y = 2 non-canonically; y = p - 1 is canonical.
        let mut enc = P_LE;
        enc[0] += 2;
        assert!(!is_canonical_large_order(&enc));
        assert!(less_le(&SMALL_ORDER_Y[1], &P_LE));
    }

    /// A signature whose `R` carries an order-8 component, made by the key's holder:
    /// `R = rB + T`, `s = r + H(R || A || M) a`.
    fn torsion_r_signature(key: &SigningKey, msg: &[u8], seed: u8) -> Signature {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest, Sha512};
        let r = Scalar::from_bytes_mod_order([seed; 32]);
        let big_r = (ED25519_BASEPOINT_POINT * r + order8_point().to_edwards()).compress();
        let mut h = Sha512::new();
        h.update(big_r.as_bytes());
        h.update(key.verifying_key().as_bytes());
        h.update(msg);
        let s = r + Scalar::from_hash(h) * key.to_scalar();
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(big_r.as_bytes());
        bytes[32..].copy_from_slice(s.as_bytes());
        Signature::from_bytes(&bytes)
    }

    #[test]
    fn a_torsion_component_in_r_gets_the_same_verdict_on_every_path() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let id = AccountId::from(&key.verifying_key());
        let cache = KeyCache::default();
        let msgs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 50]).collect();
        // Every 5th signature has a torsion component in R.
        let sigs: Vec<Signature> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if i % 5 == 0 {
                    torsion_r_signature(&key, m, i as u8 + 1)
                } else {
                    key.sign(m)
                }
            })
            .collect();
        let checks: Vec<SigCheck<'_>> = msgs
            .iter()
            .zip(&sigs)
            .map(|(m, sig)| SigCheck {
                author: id,
                key: key.verifying_key(),
                message: m,
                signature: *sig,
            })
            .collect();
        // verify_strict alone would refuse them; the rule accepts them, alone ...
        assert!(
            key.verifying_key()
                .verify_strict(&msgs[0], &sigs[0])
                .is_err()
        );
        assert!(checks.iter().all(strict));
        // ... and in every batch, whatever the batch's random coefficients do.
        for size in [4, 5, 7, 40] {
            for chunk in checks.chunks(size) {
                assert!(verify_many(chunk, &cache).iter().all(|ok| *ok));
            }
        }
        // A torsion-R signature over another message is still refused everywhere.
        let wrong = SigCheck {
            author: id,
            key: key.verifying_key(),
            message: b"another message",
            signature: sigs[0],
        };
        assert!(!strict(&wrong));
    }

    #[test]
    fn keys_with_torsion_are_never_batched() {
        let cache = KeyCache::default();
        let honest = SigningKey::from_bytes(&[3; 32]).verifying_key();
        let honest_id = AccountId::from(&honest);
        assert!(cache.batchable(&honest_id, &cache.key(&honest_id).unwrap()));
        // An honest key plus a point of order 8: not weak, so verify_strict takes it,
        // but it has a torsion component, so it must be checked alone.
        let mixed = (honest.to_edwards() + order8_point().to_edwards()).compress();
        let mixed_id = AccountId(mixed.to_bytes());
        let key = cache.key(&mixed_id).unwrap();
        assert!(!key.is_weak());
        assert!(!cache.batchable(&mixed_id, &key));
        let weak_id = AccountId(SMALL_ORDER_Y[0]);
        let weak = cache.key(&weak_id).unwrap();
        assert!(!cache.batchable(&weak_id, &weak));
    }

    #[test]
    fn forgeries_that_plain_batch_verification_accepts_are_refused() {
        // The identity as key and as R with s = 0 satisfies R - sB + hA = 0 for every
        // message: a "signature" by no one that raw verify_batch accepts.
        let cache = KeyCache::default();
        let honest = SigningKey::from_bytes(&[5; 32]);
        let mut checks_owned = Vec::new();
        for i in 0..8u8 {
            let msg = vec![i; 40];
            let sig = honest.sign(&msg);
            checks_owned.push((AccountId::from(&honest.verifying_key()), msg, sig));
        }
        let identity = SMALL_ORDER_Y[0];
        let mut non_canonical_identity = P_LE;
        non_canonical_identity[0] += 1; // y = p + 1 = 1
        for r in [identity, non_canonical_identity] {
            let mut forged = [0u8; 64];
            forged[..32].copy_from_slice(&r);
            checks_owned.push((
                AccountId(identity),
                b"pay me".to_vec(),
                Signature::from_bytes(&forged),
            ));
        }
        let checks: Vec<SigCheck<'_>> = checks_owned
            .iter()
            .map(|(author, msg, sig)| SigCheck {
                author: *author,
                key: cache.key(author).unwrap(),
                message: msg,
                signature: *sig,
            })
            .collect();
        let raw_ok = ed25519_dalek::verify_batch(
            &checks.iter().map(|c| c.message).collect::<Vec<_>>(),
            &checks.iter().map(|c| c.signature).collect::<Vec<_>>(),
            &checks.iter().map(|c| c.key).collect::<Vec<_>>(),
        );
        assert!(
            raw_ok.is_ok(),
            "raw batch verification accepts the forgeries"
        );
        let ok = verify_many(&checks, &cache);
        let strict_ok: Vec<bool> = checks.iter().map(strict).collect();
        assert_eq!(ok, strict_ok);
        assert_eq!(ok, [vec![true; 8], vec![false; 2]].concat());
    }

    #[test]
    fn a_bad_signature_in_a_batch_is_found_and_the_rest_pass() {
        let cache = KeyCache::default();
        let keys: Vec<SigningKey> = (0..4u8).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
        let owned: Vec<(AccountId, Vec<u8>, Signature)> = (0..40u8)
            .map(|i| {
                let k = &keys[usize::from(i) % 4];
                let msg = vec![i; 10];
                let mut sig = k.sign(&msg);
                if i == 17 {
                    sig = k.sign(b"something else");
                }
                (AccountId::from(&k.verifying_key()), msg, sig)
            })
            .collect();
        let checks: Vec<SigCheck<'_>> = owned
            .iter()
            .map(|(a, m, s)| SigCheck {
                author: *a,
                key: cache.key(a).unwrap(),
                message: m,
                signature: *s,
            })
            .collect();
        let ok = verify_many(&checks, &cache);
        for (i, v) in ok.iter().enumerate() {
            assert_eq!(*v, i != 17, "signature {i}");
        }
    }
}
