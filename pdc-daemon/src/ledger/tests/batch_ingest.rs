//! Batch ingest gives what one-by-one ingest gives, errors included.

use super::*;

#[test]
fn batch_ingest_gives_the_same_results_state_and_errors() {
    let c = fork_case();
    let l0 = fresh(&c);
    let q_reg = &c.common[2];
    // Q's seq 3, whose seq 2 never arrives: waits for its predecessor.
    let mut elsewhere = fresh(&c);
    append(&mut elsewhere, &c.q, access(&c.h, 1), 8);
    let orphan = append(&mut elsewhere, &c.q, access(&c.h, 2), 9);
    // Q's seq 2 claiming a balance it does not have.
    let bad_balance = next_raw(&l0, &c.q, 5, access(&c.h, 3));
    let other_net = sign_block(
        &c.q.key,
        &[7; 32],
        1,
        BlockHash::ZERO,
        0,
        0,
        register(Role::Patient, "Q"),
    )
    .unwrap();
    let bytes = |b: &VerifiedBlock| b.bytes().to_vec();
    let delivery = vec![
        bytes(&c.common[0]),
        bytes(&c.common[1]),
        forge(c.common[3].bytes()),
        bytes(q_reg),
        bytes(&c.receipt),
        bytes(&c.common[4]),
        bytes(&c.common[0]),
        bytes(&other_net),
        bytes(&orphan),
        bytes(&c.common[3]),
        bytes(&bad_balance),
        bytes(&c.a),
        bytes(&c.b),
        bytes(&c.a),
        vec![0xff; 40],
    ];
    let mut reference = ledger(&[(&c.h, 10 * C)]);
    let want = one_by_one(&mut reference, &delivery);
    // The cases really are distinct outcomes.
    assert_eq!(
        want[2],
        Err(LedgerError::BadSignature { author: c.h.id }),
        "forged signature"
    );
    assert!(
        matches!(want[4], Ok(Ingested::Pending { .. })),
        "{:?}",
        want[4]
    );
    assert_eq!(want[6], Ok(Ingested::Duplicate));
    assert!(matches!(want[7], Err(LedgerError::WrongNetwork { .. })));
    assert!(matches!(want[8], Ok(Ingested::Pending { .. })), "orphan");
    assert!(matches!(&want[9], Ok(Ingested::Applied { stored }) if stored.len() == 2));
    assert!(matches!(want[10], Err(LedgerError::BalanceMismatch { .. })));
    assert!(matches!(want[12], Ok(Ingested::Fork { .. })));
    assert!(matches!(want[14], Err(LedgerError::Malformed { .. })));
    for chunk in [1, 3, 4, 7, delivery.len()] {
        let mut l = ledger(&[(&c.h, 10 * C)]);
        let got = in_batches(&mut l, &delivery, chunk);
        assert_eq!(got, want, "chunk {chunk}");
        for now in [0, u64::MAX] {
            assert_eq!(l.snapshot(now), reference.snapshot(now), "chunk {chunk}");
        }
        assert_eq!(l.pending_len(), reference.pending_len());
        assert_eq!(l.missing(), reference.missing());
    }
}

#[test]
fn batch_verification_refuses_what_strict_verification_refuses() {
    let (l, h, p) = basic();
    let good: Vec<VerifiedBlock> = (0..6)
        .map(|i| raw(&l, &h, 2 + i, BlockHash([i as u8; 32]), 0, send(&p, 1)))
        .collect();
    let mut delivery: Vec<Vec<u8>> = good.iter().map(|b| b.bytes().to_vec()).collect();
    // A non-canonical s (s + l) on an otherwise valid signature.
    let mut signed = good[0].to_signed().unwrap();
    let l_le: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (i, l_byte) in l_le.iter().enumerate() {
        let v = u16::from(signed.signature[32 + i]) + u16::from(*l_byte) + carry;
        signed.signature[32 + i] = v as u8;
        carry = v >> 8;
    }
    delivery.insert(3, signed.encode_to_vec());
    // A block "signed" by the identity point: R = identity, s = 0 satisfies the
    // equation raw batch verification checks, for any message.
    let weak = sign_block(
        &h.key,
        l.network(),
        1,
        BlockHash::ZERO,
        0,
        0,
        register(Role::Patient, "W"),
    )
    .unwrap();
    let mut unsigned =
        pdc_proto::ledger::UnsignedBlock::decode(weak.to_signed().unwrap().unsigned.as_slice())
            .unwrap();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    unsigned.author = identity.to_vec();
    let mut sig = vec![0u8; 64];
    sig[0] = 1;
    let forged = SignedBlock {
        unsigned: unsigned.encode_to_vec(),
        signature: sig,
    };
    delivery.insert(5, forged.encode_to_vec());
    let single: Vec<_> = delivery.iter().map(|b| l.decode(b)).collect();
    let batch = l.decode_batch(delivery.clone());
    assert_eq!(batch, single);
    assert_eq!(
        single.iter().filter(|r| r.is_ok()).count(),
        good.len(),
        "{single:?}"
    );
    assert_eq!(
        batch[5],
        Err(LedgerError::BadSignature {
            author: AccountId(identity)
        })
    );
}
