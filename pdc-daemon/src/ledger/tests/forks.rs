//! Forks: the same freeze whatever the order, the lower proof wins, invalid proofs.

use super::*;

#[test]
fn fork_freezes_identically_whatever_the_order() {
    let c = fork_case();

    let mut la = fresh(&c);
    assert!(matches!(
        la.ingest(c.a.clone(), 0).unwrap(),
        Ingested::Applied { .. }
    ));
    la.ingest(c.receipt.clone(), 0).unwrap();
    let Ingested::Fork { proof, .. } = la.ingest(c.b.clone(), 0).unwrap() else {
        panic!("second block at seq 3 must be a fork")
    };

    let mut lb = fresh(&c);
    assert!(matches!(
        lb.ingest(c.b.clone(), 0).unwrap(),
        Ingested::Applied { .. }
    ));
    let Ingested::Fork { proof: proof_b, .. } = lb.ingest(c.a.clone(), 0).unwrap() else {
        panic!("fork expected")
    };
    lb.ingest(c.receipt.clone(), 0).unwrap();

    // A third node gets the proof by gossip first, then only one of the blocks.
    let mut lc = fresh(&c);
    let got = lc.ingest_fork_proof(&proof.to_msg()).unwrap();
    assert!(got.news);
    // The proof's Send was kept as evidence when the proof arrived.
    assert_eq!(lc.ingest(c.a.clone(), 0).unwrap(), Ingested::Duplicate);
    // The payee's Receive of the voided Send still validates there.
    assert!(matches!(
        lc.ingest(c.receipt.clone(), 0).unwrap(),
        Ingested::Applied { .. }
    ));

    assert_eq!(proof, proof_b);
    assert_eq!(lc.fork_proof(&c.h.id), Some(&proof));
    assert_eq!(proof.frozen_at(), 2);
    for l in [&la, &lb, &lc] {
        assert_eq!(l.frozen().get(&c.h.id), Some(&2));
        assert_eq!(l.balance(&c.h.id, 0).chain, 9 * C as i64);
        assert_eq!(l.head(&c.h.id).unwrap().seq, 2);
        let pb = l.balance(&c.p.id, u64::MAX);
        assert_eq!(
            pb,
            Balance {
                chain: 5 * C as i64,
                confirmed: C as i64,
                pending: 0,
                void: 4 * C as i64
            }
        );
        assert_eq!(l.balance(&c.q.id, 0).chain, 0);
    }
    for now in [0, u64::MAX] {
        assert_eq!(la.snapshot(now), lb.snapshot(now));
        assert_eq!(la.snapshot(now), lc.snapshot(now));
    }
    // The frozen author can write nothing more, and a proof seen again is no news.
    let next = raw(&la, &c.h, 4, c.a.hash(), 5 * C as i64, access(&c.p, 1));
    assert_eq!(
        err_of(&mut la, next),
        LedgerError::AuthorFrozen {
            author: c.h.id,
            fork_seq: 3
        }
    );
    assert!(!la.ingest_fork_proof(&proof.to_msg()).unwrap().news);
    assert!(matches!(
        la.prepare(&c.h.id, send(&c.p, 1), 0),
        Err(LedgerError::AuthorFrozen { .. })
    ));
}

#[test]
fn lower_fork_proof_wins() {
    let c = fork_case();
    let mut l = fresh(&c);
    // A second fork at seq 2 (the already-applied payment) freezes lower.
    let alt = raw(
        &l,
        &c.h,
        2,
        c.common[0].hash(),
        8 * C as i64,
        send(&c.q, 2 * C),
    );
    l.ingest(c.a.clone(), 0).unwrap();
    let Ingested::Fork { proof: high, .. } = l.ingest(c.b.clone(), 0).unwrap() else {
        panic!()
    };
    let Ingested::Fork { proof: low, .. } = l.ingest(alt.clone(), 0).unwrap() else {
        panic!()
    };
    assert_eq!(low.seq(), 2);
    assert_eq!(l.frozen().get(&c.h.id), Some(&1));
    // The paid-then-forked payment is void for its payee now.
    assert_eq!(l.balance(&c.p.id, u64::MAX).void, C as i64);
    let mut other = fresh(&c);
    other.ingest_fork_proof(&high.to_msg()).unwrap();
    assert!(other.ingest_fork_proof(&low.to_msg()).unwrap().news);
    assert!(!other.ingest_fork_proof(&high.to_msg()).unwrap().news);
    assert_eq!(other.fork_proof(&c.h.id), Some(&low));
}

#[test]
fn invalid_fork_proofs_are_refused() {
    let c = fork_case();
    let l = fresh(&c);
    let mut l2 = fresh(&c);
    let a = c.a.to_signed().unwrap();
    let b = c.b.to_signed().unwrap();
    let other_seq = c.common[3].to_signed().unwrap();
    let other_author = c.receipt.to_signed().unwrap();
    let msg = |x: &SignedBlock, y: &SignedBlock| pdc_proto::ledger::ForkProof {
        first: Some(x.clone()),
        second: Some(y.clone()),
    };
    for (m, why) in [
        (msg(&a, &a), "same content"),
        (msg(&a, &other_seq), "different seqs"),
        (msg(&a, &other_author), "different authors"),
    ] {
        let err = l2.ingest_fork_proof(&m).unwrap_err();
        assert!(
            matches!(&err, LedgerError::InvalidForkProof { reason } if reason.contains(why)),
            "{err:?}"
        );
    }
    let mut forged = b.clone();
    forged.signature[0] ^= 1;
    let err = l2.ingest_fork_proof(&msg(&a, &forged)).unwrap_err();
    assert_eq!(err, LedgerError::BadSignature { author: c.h.id });
    let none = pdc_proto::ledger::ForkProof {
        first: Some(a),
        second: None,
    };
    assert!(matches!(
        l2.ingest_fork_proof(&none),
        Err(LedgerError::InvalidForkProof { .. })
    ));
    assert!(l2.fork_proofs().next().is_none());
    assert_eq!(l.snapshot(0), l2.snapshot(0));
}
