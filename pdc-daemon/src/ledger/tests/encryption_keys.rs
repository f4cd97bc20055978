//! Encryption keys on the ledger: in the Register or announced later, the shape
//! checks, the latest counted one wins, a fork freezes the key as it was.

use super::*;
use crate::seal::EncryptionPublic;

fn key(b: u8) -> [u8; 32] {
    [b; 32]
}

fn register_with_key(role: Role, name: &str, k: &[u8]) -> Kind {
    Kind::Register(Register {
        role: role.as_str().to_owned(),
        display_name: name.to_owned(),
        listen_addrs: Vec::new(),
        encryption_key: k.to_vec(),
    })
}

fn announce(k: &[u8]) -> Kind {
    Kind::EncryptionKey(EncryptionKey { key: k.to_vec() })
}

fn public(b: u8) -> Option<EncryptionPublic> {
    Some(EncryptionPublic(key(b)))
}

#[test]
fn key_in_register_is_published() {
    let h = actor(1);
    let mut l = ledger(&[(&h, 10 * C)]);
    append(
        &mut l,
        &h,
        register_with_key(Role::Hospital, "H", &key(5)),
        1,
    );
    assert_eq!(l.encryption_key(&h.id), public(5));
    assert_eq!(l.principal(&h.id).unwrap().encryption_key, public(5));
    // Moves no money.
    assert_eq!(l.balance(&h.id, 0).chain, 10 * C as i64);
}

#[test]
fn a_node_registered_without_a_key_announces_one_later_and_the_latest_wins() {
    let (mut l, h, p) = basic();
    assert_eq!(
        l.encryption_key(&p.id),
        None,
        "registered before keys existed"
    );
    assert_eq!(l.principal(&p.id).unwrap().encryption_key, None);
    let before = l.balance(&h.id, 0);
    append(&mut l, &h, announce(&key(8)), 2);
    append(&mut l, &p, announce(&key(9)), 2);
    assert_eq!(l.encryption_key(&h.id), public(8));
    assert_eq!(l.encryption_key(&p.id), public(9));
    assert_eq!(
        l.balance(&h.id, 0),
        before,
        "an announcement moves no money"
    );
    // A later announcement replaces the earlier one (and one in the Register).
    append(&mut l, &p, announce(&key(10)), 3);
    assert_eq!(l.encryption_key(&p.id), public(10));
    assert_eq!(l.principal(&p.id).unwrap().encryption_key, public(10));
    let q = actor(3);
    append(
        &mut l,
        &q,
        register_with_key(Role::Patient, "Q", &key(11)),
        1,
    );
    append(&mut l, &q, announce(&key(12)), 2);
    assert_eq!(l.encryption_key(&q.id), public(12));
    assert_eq!(l.encryption_key(&actor(4).id), None, "unknown account");
}

#[test]
fn announcement_before_register_is_refused() {
    let h = actor(1);
    let mut l = ledger(&[]);
    let b = raw(&l, &h, 1, BlockHash::ZERO, 0, announce(&key(5)));
    assert_eq!(
        err_of(&mut l, b),
        LedgerError::FirstBlockNotRegister {
            kind: "EncryptionKey"
        }
    );
    assert!(matches!(
        l.prepare(&h.id, announce(&key(5)), 0),
        Err(LedgerError::FirstBlockNotRegister { .. })
    ));
}

#[test]
fn key_shape_is_checked_in_register_and_announcement() {
    let h = actor(1);
    let net = *ledger(&[]).network();
    let malformed = |body: Kind, seq: u64| {
        let prev = if seq == 1 {
            BlockHash::ZERO
        } else {
            BlockHash([1; 32])
        };
        match sign_block(&h.key, &net, seq, prev, 0, 0, body) {
            Err(LedgerError::Malformed { reason }) => reason,
            other => panic!("expected malformed, got {other:?}"),
        }
    };
    let r = malformed(register_with_key(Role::Patient, "x", &[1; 31]), 1);
    assert!(r.contains("encryption_key must be 32 bytes, got 31"), "{r}");
    let r = malformed(register_with_key(Role::Patient, "x", &[0; 32]), 1);
    assert!(r.contains("encryption_key must not be all zero"), "{r}");
    let r = malformed(announce(&[]), 2);
    assert!(r.contains("key must be 32 bytes, got 0"), "{r}");
    let r = malformed(announce(&[2; 33]), 2);
    assert!(r.contains("key must be 32 bytes, got 33"), "{r}");
    let r = malformed(announce(&[0; 32]), 2);
    assert!(r.contains("key must not be all zero"), "{r}");
    // Empty in the Register is allowed: the key may come later.
    assert!(
        sign_block(
            &h.key,
            &net,
            1,
            BlockHash::ZERO,
            0,
            0,
            register_with_key(Role::Patient, "x", &[])
        )
        .is_ok()
    );
}

#[test]
fn a_fork_freezes_the_key_as_it_was_before() {
    let (mut l, _h, p) = basic();
    let (s1, h1) = head(&l, &p);
    append(&mut l, &p, announce(&key(20)), 2);
    assert_eq!(l.encryption_key(&p.id), public(20));
    // A rival block at the same seq: the author is frozen below seq 2.
    let rival = raw(&l, &p, s1 + 1, h1, 0, announce(&key(21)));
    assert!(matches!(l.ingest(rival, 0).unwrap(), Ingested::Fork { .. }));
    assert_eq!(l.encryption_key(&p.id), None, "no counted key is left");
}

#[test]
fn keys_do_not_depend_on_arrival_order() {
    let (mut src, h, p) = basic();
    append(&mut src, &h, announce(&key(30)), 2);
    append(&mut src, &h, announce(&key(31)), 3);
    append(&mut src, &p, announce(&key(32)), 2);
    let blocks: Vec<VerifiedBlock> = [&h, &p]
        .iter()
        .flat_map(|a| src.blocks_range(&a.id, 1, 10).into_iter().cloned())
        .collect();
    let mut rev = ledger(&[(&h, 100 * C)]);
    for b in blocks.iter().rev() {
        let _ = rev.ingest(b.clone(), 0).unwrap();
    }
    assert_eq!(rev.encryption_key(&h.id), public(31));
    assert_eq!(rev.encryption_key(&p.id), public(32));
    assert_eq!(rev.snapshot(0), src.snapshot(0));
}
