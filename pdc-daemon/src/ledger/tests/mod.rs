//! Tests of the ledger: every rule's exact error, hostile bytes, forks, replay, and
//! the order-independence of the fold. The shared actors and block builders are here;
//! the tests sit in one file per topic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batch_ingest;
mod bytes;
mod chain_rules;
mod encryption_keys;
mod forks;
mod genesis;
mod order_independence;

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
        encryption_key: Vec::new(),
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

// ----- shared by the fork, batch and order tests ------------------------------------

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
