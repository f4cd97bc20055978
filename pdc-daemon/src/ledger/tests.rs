//! Tests of the ledger: every rule's exact error, hostile bytes, forks, replay, and
//! the order-independence of the fold.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::SigningKey;
use pdc_proto::Message;
use pdc_proto::ledger::SignedBlock;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::*;

const C: u64 = MICROS_PER_CREDIT;
const MAX: usize = 64 * 1024;

struct Actor {
    key: SigningKey,
    id: AccountId,
}

fn actor(seed: u8) -> Actor {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let id = AccountId::from(&key.verifying_key());
    Actor { key, id }
}

fn register(role: Role, name: &str) -> Kind {
    Kind::Register(Register {
        role: role.as_str().to_owned(),
        display_name: name.to_owned(),
        listen_addrs: vec!["/ip4/127.0.0.1/tcp/4001".to_owned()],
    })
}

fn grant(id: &[u8], grantee: &Actor) -> Kind {
    Kind::ConsentGrant(ConsentGrant {
        grant_id: id.to_vec(),
        grantee: grantee.id.0.to_vec(),
        scope: "conditions".to_owned(),
        purposes: vec!["research".to_owned()],
        not_after_ms: 0,
        price: 500_000,
    })
}

fn revoke(id: &[u8]) -> Kind {
    Kind::ConsentRevoke(ConsentRevoke {
        grant_id: id.to_vec(),
    })
}

fn access(requester: &Actor, request: u8) -> Kind {
    Kind::Access(Access {
        request_id: vec![request; 8],
        requester: requester.id.0.to_vec(),
        query: "diabetes".to_owned(),
        purpose: "research".to_owned(),
        decision: "granted".to_owned(),
        reason: "live grant".to_owned(),
        record_hashes: vec![vec![7; 32]],
        price: 500_000,
        staff_user: "dr.house".to_owned(),
    })
}

fn send(to: &Actor, amount: u64) -> Kind {
    Kind::Send(Send {
        to: to.id.0.to_vec(),
        amount,
        access_ref: Vec::new(),
    })
}

fn receive(send: &VerifiedBlock) -> Kind {
    Kind::Receive(Receive {
        send_hash: send.hash().0.to_vec(),
        sender: send.author().0.to_vec(),
        send_seq: send.seq(),
    })
}

fn test_genesis(balances: &[(&Actor, u64)]) -> Genesis {
    let mut g = Genesis::new("secnet-test", DEFAULT_PRICE);
    for (a, amount) in balances {
        g = g.with_balance(a.id, *amount).unwrap();
    }
    g
}

fn ledger(balances: &[(&Actor, u64)]) -> Ledger {
    Ledger::new(test_genesis(balances), LedgerConfig::default())
}

/// Prepares, signs and ingests the next block of `who`, asserting it applied.
fn append(l: &mut Ledger, who: &Actor, body: Kind, ts: u64) -> VerifiedBlock {
    let block = l
        .prepare(&who.id, body, ts)
        .unwrap()
        .sign(&who.key)
        .unwrap();
    let out = l.ingest(block.clone(), ts).unwrap();
    assert!(matches!(out, Ingested::Applied { .. }), "{out:?}");
    block
}

/// Signs a block with chosen header fields, bypassing `prepare`'s rule checks.
fn raw(
    l: &Ledger,
    who: &Actor,
    seq: u64,
    prev: BlockHash,
    balance: i64,
    body: Kind,
) -> VerifiedBlock {
    sign_block(&who.key, l.network(), seq, prev, 1, balance, body).unwrap()
}

fn head(l: &Ledger, who: &Actor) -> (u64, BlockHash) {
    l.head(&who.id)
        .map_or((0, BlockHash::ZERO), |h| (h.seq, h.hash))
}

/// A valid next block of `who` with `body`, whatever the rules say, for error tests.
fn next_raw(l: &Ledger, who: &Actor, balance: i64, body: Kind) -> VerifiedBlock {
    let (seq, hash) = head(l, who);
    raw(l, who, seq + 1, hash, balance, body)
}

fn err_of(l: &mut Ledger, b: VerifiedBlock) -> LedgerError {
    l.ingest(b, 0).unwrap_err()
}

/// Hospital H (100 credits) and patient P, both registered.
fn basic() -> (Ledger, Actor, Actor) {
    let h = actor(1);
    let p = actor(2);
    let mut l = ledger(&[(&h, 100 * C)]);
    append(&mut l, &h, register(Role::Hospital, "Hospital1"), 1);
    append(&mut l, &p, register(Role::Patient, "Alice"), 1);
    (l, h, p)
}

// ----- genesis ------------------------------------------------------------------------

#[test]
fn demo_genesis_keys_follow_the_documented_seeds() {
    let g = Genesis::parse(include_str!("../../../config/genesis.toml")).unwrap();
    for (name, account) in g.names() {
        let seed = blake3::hash(format!("secnet-demo/{name}").as_bytes());
        let key = SigningKey::from_bytes(seed.as_bytes());
        assert_eq!(*account, AccountId::from(&key.verifying_key()), "{name}");
    }
}

#[test]
fn example_genesis_parses() {
    let g = Genesis::parse(include_str!("../../../config/genesis.toml")).unwrap();
    assert_eq!(g.network_id(), "secnet-demo");
    assert_eq!(g.default_price(), 500_000);
    assert!(!g.balances().is_empty());
    assert!(g.names().contains_key("Hospital1"));
}

#[test]
fn genesis_hash_ignores_layout_and_entry_order() {
    let a = actor(1).id;
    let b = actor(2).id;
    let one = format!(
        "network_id = \"n\"\n[[balances]]\naccount = \"{a}\"\namount = 5\n[[balances]]\naccount = \"{b}\"\namount = 7\n"
    );
    let two = format!(
        "# comment\nbalances = [ {{ account = \"{b}\", amount = 7 }},\n  {{ account = \"{a}\", amount = 5 }} ]\nnetwork_id=\"n\"\ndefault_price = 500000\n"
    );
    let g1 = Genesis::parse(&one).unwrap();
    let g2 = Genesis::parse(&two).unwrap();
    assert_eq!(g1.hash(), g2.hash());
    let g3 = Genesis::parse(&one.replace("amount = 7", "amount = 8")).unwrap();
    assert_ne!(g1.hash(), g3.hash());
    let g4 = Genesis::parse(&format!("default_price = 1\n{one}")).unwrap();
    assert_ne!(g1.hash(), g4.hash());
}

#[test]
fn genesis_errors_are_specific() {
    let a = actor(1).id;
    assert!(matches!(
        Genesis::parse("network_id = \"\""),
        Err(GenesisError::EmptyNetworkId)
    ));
    assert!(matches!(
        Genesis::parse("network_id = \"n\"\nbalances = [{ account = \"zz\", amount = 1 }]"),
        Err(GenesisError::BadAccount { .. })
    ));
    let dup = format!(
        "network_id = \"n\"\nbalances = [{{ account = \"{a}\", amount = 1 }}, {{ account = \"{a}\", amount = 2 }}]"
    );
    assert!(matches!(
        Genesis::parse(&dup),
        Err(GenesisError::DuplicateAccount(_))
    ));
    assert!(matches!(
        Genesis::parse("network_id = \"n\"\ndefault_prize = 3"),
        Err(GenesisError::Toml(m)) if m.contains("default_prize")
    ));
    let much = format!(
        "network_id = \"n\"\nbalances = [{{ account = \"{a}\", amount = 9223372036854775808 }}]"
    );
    assert!(Genesis::parse(&much).is_err());
}

// ----- bytes ----------------------------------------------------------------------------

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

// ----- chain rules --------------------------------------------------------------------

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

// ----- forks ----------------------------------------------------------------------------

struct ForkCase {
    h: Actor,
    p: Actor,
    q: Actor,
    common: Vec<VerifiedBlock>,
    a: VerifiedBlock,
    b: VerifiedBlock,
    receipt: VerifiedBlock,
}

/// H registers and pays P 1 credit, then double-spends at seq 3: 4 credits to P in
/// one block, 7 to Q in another. P receives the first before anyone sees the fork.
fn fork_case() -> ForkCase {
    let h = actor(1);
    let p = actor(2);
    let q = actor(3);
    let mut l = ledger(&[(&h, 10 * C)]);
    let mut common = vec![
        append(&mut l, &h, register(Role::Hospital, "H"), 1),
        append(&mut l, &p, register(Role::Patient, "P"), 1),
        append(&mut l, &q, register(Role::Patient, "Q"), 1),
    ];
    let paid = append(&mut l, &h, send(&p, C), 2);
    common.push(paid.clone());
    common.push(append(&mut l, &p, receive(&paid), 3));
    let a = l
        .prepare(&h.id, send(&p, 4 * C), 5)
        .unwrap()
        .sign(&h.key)
        .unwrap();
    let b = l
        .prepare(&h.id, send(&q, 7 * C), 6)
        .unwrap()
        .sign(&h.key)
        .unwrap();
    l.ingest(a.clone(), 5).unwrap();
    let receipt = l
        .prepare(&p.id, receive(&a), 7)
        .unwrap()
        .sign(&p.key)
        .unwrap();
    ForkCase {
        h,
        p,
        q,
        common,
        a,
        b,
        receipt,
    }
}

fn fresh(c: &ForkCase) -> Ledger {
    let mut l = ledger(&[(&c.h, 10 * C)]);
    for b in &c.common {
        l.ingest(b.clone(), 0).unwrap();
    }
    l
}

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

// ----- batch ingest ---------------------------------------------------------------------

/// Ingests `delivery` one block at a time, as gossip does.
fn one_by_one(l: &mut Ledger, delivery: &[Vec<u8>]) -> Vec<Result<Ingested, LedgerError>> {
    delivery
        .iter()
        .map(|bytes| l.decode(bytes).and_then(|b| l.ingest(b, 0)))
        .collect()
}

/// Ingests `delivery` in batches of `chunk`, as sync and reload do.
fn in_batches(
    l: &mut Ledger,
    delivery: &[Vec<u8>],
    chunk: usize,
) -> Vec<Result<Ingested, LedgerError>> {
    let mut out = Vec::new();
    for c in delivery.chunks(chunk.max(1)) {
        let decoded = l.decode_batch(c.to_vec());
        out.extend(l.ingest_batch(decoded, 0));
    }
    out
}

/// The same bytes with one bit of the signature flipped.
fn forge(bytes: &[u8]) -> Vec<u8> {
    let mut signed = SignedBlock::decode(bytes).unwrap();
    signed.signature[5] ^= 0x10;
    signed.encode_to_vec()
}

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

// ----- order independence ---------------------------------------------------------------

/// Builds a random valid history among `roles.len()` accounts from `ops`, returning the
/// reference ledger (which applied every block in creation order) and the blocks.
fn history(
    roles: &[bool],
    money: &[u64],
    ops: &[(u8, u8, u8, u64)],
) -> (Ledger, Vec<VerifiedBlock>) {
    let actors: Vec<Actor> = (0..roles.len()).map(|i| actor(10 + i as u8)).collect();
    let pairs: Vec<(&Actor, u64)> = actors.iter().zip(money).map(|(a, m)| (a, *m)).collect();
    let mut l = ledger(&pairs);
    let mut blocks = Vec::new();
    let mut sends: Vec<VerifiedBlock> = Vec::new();
    let mut grant_no = 0u32;
    for (t, &(who, action, target, amount)) in ops.iter().enumerate() {
        let i = who as usize % actors.len();
        let me = &actors[i];
        let other = &actors[target as usize % actors.len()];
        let ts = t as u64 * 1000;
        let body = if l.principal(&me.id).is_none() {
            let role = if roles[i] {
                Role::Patient
            } else {
                Role::Hospital
            };
            register(role, &format!("acct{i}"))
        } else {
            match action % 6 {
                0 => {
                    grant_no += 1;
                    grant(&grant_no.to_be_bytes(), other)
                }
                1 => {
                    let live: Vec<Grant> = l
                        .grants_by_patient(&me.id)
                        .into_iter()
                        .filter(|g| g.is_live(0))
                        .collect();
                    match live.get(target as usize % live.len().max(1)) {
                        Some(g) => revoke(&g.grant_id),
                        None => continue,
                    }
                }
                2 => access(other, target),
                3 | 4 => {
                    let bal = l.balance(&me.id, 0).chain as u64;
                    send(other, if bal == 0 { 0 } else { 1 + amount % bal })
                }
                _ => match sends.iter().find(|s| {
                    matches!(s.kind(), Kind::Send(x) if x.to == me.id.0.to_vec())
                        && l.prepare(&me.id, receive(s), ts).is_ok()
                }) {
                    Some(s) => receive(s),
                    None => continue,
                },
            }
        };
        // Rule-breaking choices (a hospital granting, paying oneself...) are skipped.
        let Ok(builder) = l.prepare(&me.id, body, ts) else {
            continue;
        };
        let block = builder.sign(&me.key).unwrap();
        assert!(matches!(
            l.ingest(block.clone(), ts).unwrap(),
            Ingested::Applied { .. }
        ));
        if matches!(block.kind(), Kind::Send(_)) {
            sends.push(block.clone());
        }
        blocks.push(block);
    }
    (l, blocks)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn fold_is_independent_of_order_and_duplicates(
        roles in prop::collection::vec(any::<bool>(), 3..=6),
        money in prop::collection::vec(0..20 * C, 6),
        ops in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u64>()), 10..80),
        seed in any::<u64>(),
    ) {
        let (reference, blocks) = history(&roles, &money, &ops);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut delivery: Vec<Vec<u8>> = blocks.iter().map(|b| b.bytes().to_vec()).collect();
        let dups: Vec<Vec<u8>> = delivery.iter().filter(|_| rand::Rng::gen_bool(&mut rng, 0.3)).cloned().collect();
        delivery.extend(dups);
        delivery.shuffle(&mut rng);
        let mut l = Ledger::new(reference.genesis().clone(), LedgerConfig::default());
        for bytes in &delivery {
            let b = l.decode(bytes).unwrap();
            l.ingest(b, 0).unwrap();
        }
        prop_assert_eq!(l.pending_len(), 0);
        prop_assert!(l.missing().is_empty());
        for now in [0, 40_000, u64::MAX] {
            prop_assert_eq!(l.snapshot(now), reference.snapshot(now));
        }
    }

    #[test]
    fn batch_ingest_equals_one_by_one(
        roles in prop::collection::vec(any::<bool>(), 3..=6),
        money in prop::collection::vec(0..20 * C, 6),
        ops in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u64>()), 10..80),
        seed in any::<u64>(),
        chunk in 1usize..40,
    ) {
        let (reference, blocks) = history(&roles, &money, &ops);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut delivery: Vec<Vec<u8>> = blocks.iter().map(|b| b.bytes().to_vec()).collect();
        // Some blocks come twice, some of those with a forged signature.
        let mut extra = Vec::new();
        for b in &delivery {
            match rand::Rng::gen_range(&mut rng, 0..10) {
                0 => extra.push(forge(b)),
                1 => extra.push(b.clone()),
                _ => {}
            }
        }
        delivery.extend(extra);
        delivery.shuffle(&mut rng);
        let mut single = Ledger::new(reference.genesis().clone(), LedgerConfig::default());
        let want = one_by_one(&mut single, &delivery);
        let mut batched = Ledger::new(reference.genesis().clone(), LedgerConfig::default());
        let got = in_batches(&mut batched, &delivery, chunk);
        prop_assert_eq!(got, want);
        for now in [0, 40_000, u64::MAX] {
            prop_assert_eq!(batched.snapshot(now), reference.snapshot(now));
        }
    }

    #[test]
    fn fork_fold_is_independent_of_order(seed in any::<u64>(), proof_first in any::<bool>()) {
        let c = fork_case();
        let reference = {
            let mut l = fresh(&c);
            for b in [&c.a, &c.receipt, &c.b] {
                l.ingest(b.clone(), 0).unwrap();
            }
            l
        };
        let proof = reference.fork_proof(&c.h.id).unwrap().clone();
        let mut delivery: Vec<&VerifiedBlock> = c.common.iter().collect();
        delivery.extend([&c.a, &c.b, &c.receipt, &c.a, &c.common[3]]);
        delivery.shuffle(&mut StdRng::seed_from_u64(seed));
        let mut l = ledger(&[(&c.h, 10 * C)]);
        if proof_first {
            l.ingest_fork_proof(&proof.to_msg()).unwrap();
        }
        for b in delivery {
            // Blocks from the fork on may be refused (AuthorFrozen); that is their fate.
            let _ = l.ingest(b.clone(), 0);
        }
        prop_assert_eq!(l.pending_len(), 0);
        for now in [0, u64::MAX] {
            prop_assert_eq!(l.snapshot(now), reference.snapshot(now));
        }
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        prop_assert!(VerifiedBlock::from_bytes(&bytes, &[0; 32], 512).is_err());
    }
}
