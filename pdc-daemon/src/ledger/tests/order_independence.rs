//! The fold does not depend on the order blocks arrive in (property tests).

use super::*;

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
