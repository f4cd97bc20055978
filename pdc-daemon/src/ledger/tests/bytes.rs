//! Exact bytes: round trips, size limits, forged and hostile encodings.

use super::*;

#[test]
fn bytes_round_trip_exactly() {
    let (l, h, _) = basic();
    let b = next_raw(&l, &h, 100 * C as i64, access(&h, 1));
    let again = VerifiedBlock::from_bytes(b.bytes(), l.network(), MAX).unwrap();
    assert_eq!(again, b);
    assert_eq!(again.hash(), BlockHash::of(b.bytes()));
    let via_msg = VerifiedBlock::from_signed(&b.to_signed().unwrap(), l.network(), MAX).unwrap();
    assert_eq!(via_msg.bytes(), b.bytes());
}

#[test]
fn oversized_is_refused_before_parsing() {
    let (l, h, _) = basic();
    let b = next_raw(&l, &h, 0, send(&h, 1));
    let err = VerifiedBlock::from_bytes(b.bytes(), l.network(), 10).unwrap_err();
    assert_eq!(
        err,
        LedgerError::Oversized {
            len: b.bytes().len(),
            max: 10
        }
    );
}

#[test]
fn forged_and_hostile_bytes_are_refused() {
    let (l, h, p) = basic();
    let b = next_raw(&l, &h, 99 * C as i64, send(&p, C));
    let mut signed = b.to_signed().unwrap();

    // Changing one signed byte (the amount) breaks the signature.
    let mut forged = signed.clone();
    let last = forged.unsigned.len() - 1;
    forged.unsigned[last] ^= 1;
    let err = VerifiedBlock::from_bytes(&forged.encode_to_vec(), l.network(), MAX).unwrap_err();
    assert_eq!(err, LedgerError::BadSignature { author: h.id });

    // A signature by another key over the same bytes.
    let other = actor(9);
    use ed25519_dalek::Signer;
    signed.signature = other.key.sign(&signed.unsigned).to_bytes().to_vec();
    let err = VerifiedBlock::from_bytes(&signed.encode_to_vec(), l.network(), MAX).unwrap_err();
    assert_eq!(err, LedgerError::BadSignature { author: h.id });

    // Another network.
    let err = VerifiedBlock::from_bytes(b.bytes(), &[9; 32], MAX).unwrap_err();
    assert!(matches!(err, LedgerError::WrongNetwork { .. }));

    // Truncated and garbage.
    let err = VerifiedBlock::from_bytes(&b.bytes()[..b.bytes().len() - 3], l.network(), MAX);
    assert!(matches!(err, Err(LedgerError::Malformed { .. })), "{err:?}");
    let err = VerifiedBlock::from_bytes(&[0xff; 40], l.network(), MAX);
    assert!(matches!(err, Err(LedgerError::Malformed { .. })), "{err:?}");

    // The same signed block in a re-wrapped envelope (an unknown field appended) would
    // have another hash: refused, so nobody can frame the author for a fork.
    let mut rewrapped = b.bytes().to_vec();
    rewrapped.extend_from_slice(&[0x18, 0x01]);
    let err = VerifiedBlock::from_bytes(&rewrapped, l.network(), MAX).unwrap_err();
    assert_eq!(err, LedgerError::NonCanonicalEncoding);
}

#[test]
fn bad_author_key_is_refused() {
    let (l, h, _) = basic();
    let b = next_raw(&l, &h, 100 * C as i64, access(&h, 1));
    let mut signed = b.to_signed().unwrap();
    let mut unsigned =
        pdc_proto::ledger::UnsignedBlock::decode(signed.unsigned.as_slice()).unwrap();
    unsigned.author = vec![1; 31];
    signed.unsigned = unsigned.encode_to_vec();
    let err = VerifiedBlock::from_bytes(&signed.encode_to_vec(), l.network(), MAX).unwrap_err();
    assert_eq!(err, LedgerError::BadAuthorKey);
}

#[test]
fn malformed_bodies_are_refused_at_signing() {
    let h = actor(1);
    let net = [0; 32];
    let bad_to = Kind::Send(Send {
        to: vec![1; 5],
        amount: 1,
        access_ref: vec![],
    });
    let err = sign_block(&h.key, &net, 2, BlockHash([1; 32]), 0, 0, bad_to).unwrap_err();
    assert!(matches!(err, LedgerError::Malformed { .. }));
    let bad_role = Kind::Register(Register {
        role: "doctor".into(),
        ..Default::default()
    });
    let err = sign_block(&h.key, &net, 1, BlockHash::ZERO, 0, 0, bad_role).unwrap_err();
    assert!(matches!(err, LedgerError::Malformed { reason } if reason.contains("doctor")));
    let err = sign_block(
        &h.key,
        &net,
        0,
        BlockHash::ZERO,
        0,
        0,
        register(Role::Patient, "x"),
    );
    assert!(matches!(err, Err(LedgerError::Malformed { .. })));
}
