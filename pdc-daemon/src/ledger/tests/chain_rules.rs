//! Chain rules: gaps and the pending buffer, links, body rules, balances, receipts.

use super::*;

#[test]
fn gap_is_pending_and_reported_missing() {
    let (mut l, h, p) = basic();
    let (_, h1) = head(&l, &h);
    // Build seq 2 and 3 elsewhere, deliver only 3.
    let mut other = ledger(&[(&h, 100 * C)]);
    other.ingest(l.block(&h1).unwrap().clone(), 0).unwrap();
    let b2 = append(&mut other, &h, send(&p, C), 2);
    let b3 = append(&mut other, &h, send(&p, C), 3);
    let out = l.ingest(b3.clone(), 0).unwrap();
    let want = MissingRange {
        author: h.id,
        from_seq: 2,
        to_seq: 2,
    };
    assert_eq!(out, Ingested::Pending { missing: want });
    assert_eq!(l.missing(), vec![want]);
    assert_eq!(
        l.ingest(b3.clone(), 0).unwrap(),
        Ingested::Pending { missing: want }
    );
    // The predecessor arrives: both apply, predecessor first.
    let out = l.ingest(b2.clone(), 0).unwrap();
    assert_eq!(
        out,
        Ingested::Applied {
            stored: vec![b2.hash(), b3.hash()]
        }
    );
    assert!(l.missing().is_empty());
    assert_eq!(l.balance(&h.id, 0).chain, 98 * C as i64);
}

#[test]
fn pending_buffer_is_bounded() {
    let h = actor(1);
    let p = actor(2);
    let cfg = LedgerConfig {
        max_pending: 2,
        ..LedgerConfig::default()
    };
    let mut src = ledger(&[(&h, 100 * C)]);
    let mut l = Ledger::new(test_genesis(&[(&h, 100 * C)]), cfg);
    let blocks: Vec<_> = (0..5)
        .map(|i| {
            if i == 0 {
                append(&mut src, &h, register(Role::Hospital, "H"), 0)
            } else {
                append(&mut src, &h, send(&p, 1), 0)
            }
        })
        .collect();
    for b in blocks[1..].iter().rev() {
        assert!(matches!(
            l.ingest(b.clone(), 0).unwrap(),
            Ingested::Pending { .. }
        ));
    }
    assert_eq!(l.pending_len(), 2);
    // The oldest pending (seq 5, 4) were evicted; seq 1 brings in 2 and 3 only.
    let out = l.ingest(blocks[0].clone(), 0).unwrap();
    assert_eq!(
        out,
        Ingested::Applied {
            stored: vec![blocks[0].hash(), blocks[1].hash(), blocks[2].hash()]
        }
    );
    assert_eq!(l.head(&h.id).unwrap().seq, 3);
}

#[test]
fn prev_mismatch_is_refused() {
    let (mut l, h, _) = basic();
    let (seq, tip) = head(&l, &h);
    let b = raw(
        &l,
        &h,
        seq + 1,
        BlockHash([3; 32]),
        100 * C as i64,
        access(&h, 1),
    );
    // Our chain is at seq 1, so an unknown prev at seq 2 is a mismatch, not a gap.
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::PrevMismatch {
            seq: 2,
            expected: tip,
            got: BlockHash([3; 32])
        }
    );
    let newbie = actor(5);
    let b = raw(
        &l,
        &newbie,
        1,
        BlockHash([3; 32]),
        0,
        register(Role::Patient, "x"),
    );
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::PrevMismatch {
            seq: 1,
            expected: BlockHash::ZERO,
            got: BlockHash([3; 32])
        }
    );
    // A later block whose prev is a block of another account.
    let foreign = l.head(&actor(2).id).unwrap().hash;
    let b = raw(&l, &h, 2, foreign, 100 * C as i64, access(&h, 1));
    assert!(matches!(
        err_of(&mut l, b),
        LedgerError::PrevMismatch { seq: 2, .. }
    ));
}

#[test]
fn seq_must_follow_prev() {
    let (mut l, h, p) = basic();
    let (_, tip) = head(&l, &h);
    append(&mut l, &h, send(&p, 1), 2);
    // prev names seq 1 but the block claims seq 4.
    let b = raw(&l, &h, 4, tip, 0, send(&p, 1));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::SeqMismatch {
            seq: 4,
            prev_seq: 1
        }
    );
}

#[test]
fn register_must_be_first_and_first_must_be_register() {
    let (mut l, h, _) = basic();
    let b = next_raw(&l, &h, 100 * C as i64, register(Role::Hospital, "again"));
    assert_eq!(err_of(&mut l, b), LedgerError::RegisterNotFirst { seq: 2 });
    let newbie = actor(5);
    let b = raw(&l, &newbie, 1, BlockHash::ZERO, 0, access(&newbie, 1));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::FirstBlockNotRegister { kind: "Access" }
    );
}

#[test]
fn consent_blocks_only_by_patients() {
    let (mut l, h, p) = basic();
    let b = next_raw(&l, &h, 100 * C as i64, grant(b"g1", &p));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::NotPatient {
            kind: "ConsentGrant",
            author: h.id
        }
    );
    let b = next_raw(&l, &h, 100 * C as i64, revoke(b"g1"));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::NotPatient {
            kind: "ConsentRevoke",
            author: h.id
        }
    );
}

#[test]
fn revoke_must_name_own_live_grant() {
    let (mut l, h, p) = basic();
    let other = actor(3);
    append(&mut l, &other, register(Role::Patient, "Bob"), 1);
    append(&mut l, &other, grant(b"theirs", &h), 2);
    let b = next_raw(&l, &p, 0, revoke(b"theirs"));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::UnknownGrant {
            grant_id: hex::encode(b"theirs")
        }
    );
    append(&mut l, &p, grant(b"mine", &h), 2);
    let b = next_raw(&l, &p, 0, grant(b"mine", &h));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::DuplicateGrant {
            grant_id: hex::encode(b"mine")
        }
    );
    append(&mut l, &p, revoke(b"mine"), 3);
    let b = next_raw(&l, &p, 0, revoke(b"mine"));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::GrantAlreadyRevoked {
            grant_id: hex::encode(b"mine")
        }
    );
    let g = l.grant(&p.id, b"mine").unwrap();
    assert!(g.revoked_by.is_some() && !g.is_live(0));
    assert_eq!(l.grants_for_grantee(&h.id).len(), 2);
    assert_eq!(l.grants_by_patient(&p.id).len(), 1);
}

#[test]
fn access_only_by_the_data_owner() {
    let (mut l, h, p) = basic();
    let b = next_raw(&l, &h, 100 * C as i64, access(&p, 1));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::NotDataOwner { author: h.id }
    );
    append(&mut l, &p, access(&h, 1), 2);
    assert_eq!(l.access_by_owner(&p.id).len(), 1);
    assert_eq!(l.access_by_requester(&h.id)[0].staff_user, "dr.house");
}

#[test]
fn send_rules() {
    let (mut l, h, p) = basic();
    let b = next_raw(&l, &h, 0, send(&p, 101 * C));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::InsufficientBalance {
            balance: 100 * C as i64,
            amount: 101 * C
        }
    );
    let b = next_raw(&l, &h, 100 * C as i64, send(&p, 0));
    assert_eq!(err_of(&mut l, b), LedgerError::ZeroAmount);
    let b = next_raw(&l, &h, 100 * C as i64, send(&h, 1));
    assert_eq!(err_of(&mut l, b), LedgerError::SelfPayment);
}

#[test]
fn balance_after_must_match_arithmetic() {
    let (mut l, h, p) = basic();
    let b = next_raw(&l, &h, 100 * C as i64, send(&p, C));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::BalanceMismatch {
            claimed: 100 * C as i64,
            expected: 99 * C as i64
        }
    );
    // Non-money blocks leave the balance unchanged.
    let b = next_raw(&l, &p, 5, access(&h, 1));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::BalanceMismatch {
            claimed: 5,
            expected: 0
        }
    );
    let s = append(&mut l, &h, send(&p, C), 2);
    let b = next_raw(&l, &p, 2 * C as i64, receive(&s));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::BalanceMismatch {
            claimed: 2 * C as i64,
            expected: C as i64
        }
    );
    // Register: genesis balance.
    let b = raw(
        &l,
        &actor(7),
        1,
        BlockHash::ZERO,
        1,
        register(Role::Patient, "x"),
    );
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::BalanceMismatch {
            claimed: 1,
            expected: 0
        }
    );
}

#[test]
fn receive_rules() {
    let (mut l, h, p) = basic();
    let q = actor(3);
    append(&mut l, &q, register(Role::Patient, "Q"), 1);
    let s = append(&mut l, &h, send(&p, C), 2);
    // Addressed to p, claimed by q.
    let b = next_raw(&l, &q, C as i64, receive(&s));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::NotAddressedToAuthor {
            send_hash: s.hash(),
            to: p.id
        }
    );
    // Names a block that is not a Send.
    let reg = l.head(&q.id).unwrap().hash;
    let body = Kind::Receive(Receive {
        send_hash: reg.0.to_vec(),
        sender: q.id.0.to_vec(),
        send_seq: 1,
    });
    let b = next_raw(&l, &p, C as i64, body);
    assert_eq!(err_of(&mut l, b), LedgerError::NotASend { hash: reg });
    // Wrong sender/seq hints.
    let body = Kind::Receive(Receive {
        send_hash: s.hash().0.to_vec(),
        sender: h.id.0.to_vec(),
        send_seq: 7,
    });
    let b = next_raw(&l, &p, C as i64, body);
    assert!(matches!(
        err_of(&mut l, b),
        LedgerError::ReceiveMismatch {
            claimed_seq: 7,
            seq: 2,
            ..
        }
    ));
    // Once only, however late the replay.
    append(&mut l, &p, receive(&s), 3);
    let b = next_raw(&l, &p, 2 * C as i64, receive(&s));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::AlreadyReceived {
            send_hash: s.hash(),
            at_seq: 2
        }
    );
    assert_eq!(l.balance(&p.id, 0).chain, C as i64);
}

#[test]
fn receive_waits_for_its_send() {
    let (mut l, h, p) = basic();
    let mut other = ledger(&[(&h, 100 * C)]);
    for b in l
        .blocks_range(&h.id, 1, 10)
        .into_iter()
        .chain(l.blocks_range(&p.id, 1, 10))
    {
        other.ingest(b.clone(), 0).unwrap();
    }
    let s = append(&mut other, &h, send(&p, C), 2);
    let r = append(&mut other, &p, receive(&s), 3);
    assert_eq!(
        l.ingest(r.clone(), 0).unwrap(),
        Ingested::Pending {
            missing: MissingRange {
                author: h.id,
                from_seq: 2,
                to_seq: 2
            }
        }
    );
    assert!(matches!(
        l.prepare(&p.id, receive(&s), 0),
        Err(LedgerError::UnknownSend { .. })
    ));
    assert_eq!(
        l.ingest(s.clone(), 0).unwrap(),
        Ingested::Applied {
            stored: vec![s.hash(), r.hash()]
        }
    );
    assert_eq!(l.snapshot(0), other.snapshot(0));
}

#[test]
fn replayed_old_block_credits_nothing_twice() {
    let (mut l, h, p) = basic();
    let s = append(&mut l, &h, send(&p, C), 2);
    let r = append(&mut l, &p, receive(&s), 3);
    for _ in 0..50 {
        append(&mut l, &p, access(&h, 2), 4);
    }
    let before = l.snapshot(0);
    assert_eq!(l.ingest(s.clone(), 99).unwrap(), Ingested::Duplicate);
    assert_eq!(l.ingest(r.clone(), 99).unwrap(), Ingested::Duplicate);
    let replay = VerifiedBlock::from_bytes(r.bytes(), l.network(), MAX).unwrap();
    assert_eq!(l.ingest(replay, 99).unwrap(), Ingested::Duplicate);
    assert_eq!(l.snapshot(0), before);
    assert_eq!(l.balance(&p.id, 0).chain, C as i64);
}

#[test]
fn receipts_are_pending_for_the_quiet_period() {
    let (mut l, h, p) = basic();
    let q = l.config().quiet_period_ms;
    let s = append(&mut l, &h, send(&p, C), 1_000);
    append(&mut l, &p, receive(&s), 2_000);
    let at = |now| l.balance(&p.id, now);
    assert_eq!(
        at(2_000),
        Balance {
            chain: C as i64,
            confirmed: 0,
            pending: C as i64,
            void: 0
        }
    );
    assert_eq!(
        at(2_000 + q),
        Balance {
            chain: C as i64,
            confirmed: C as i64,
            pending: 0,
            void: 0
        }
    );
    assert!(matches!(
        l.movements(&p.id, 0)[0],
        Movement::Received { status: ReceiptStatus::Pending { confirms_at_ms }, .. } if confirms_at_ms == 2_000 + q
    ));
}
