//! Ledger ingest throughput on one core, in memory.
//!
//! Builds a realistic history (registers, consent grants, access logs, payments and
//! their receipts among hospitals and patients), then measures on the same blocks:
//! - raw ed25519: `verify_strict` one by one, and `verify_batch` over all signatures;
//! - the ledger: `Ledger::decode` (size, canonical envelope, network, strict
//!   signature, body shape) + `Ledger::ingest` (every chain rule, fold indexes).
//!
//! Run: `cargo bench -p pdc-daemon --bench ledger_ingest -- [blocks]` (default 20000).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use pdc_daemon::ledger::{
    Access, AccountId, ConsentGrant, Genesis, Ingested, Kind, Ledger, LedgerConfig,
    MICROS_PER_CREDIT, Receive, Register, Role, Send, VerifiedBlock,
};
use pdc_proto::Message;
use pdc_proto::ledger::{SignedBlock, UnsignedBlock};

const HOSPITALS: usize = 4;
const PATIENTS: usize = 60;
const ROUNDS: usize = 3;

struct Principal {
    key: SigningKey,
    id: AccountId,
}

fn principal(i: usize) -> Principal {
    let seed = blake3::hash(format!("bench/{i}").as_bytes());
    let key = SigningKey::from_bytes(seed.as_bytes());
    let id = AccountId::from(&key.verifying_key());
    Principal { key, id }
}

fn append(
    l: &mut Ledger,
    who: &Principal,
    body: Kind,
    ts: u64,
    out: &mut Vec<Vec<u8>>,
) -> Result<VerifiedBlock, String> {
    let block = l
        .prepare(&who.id, body, ts)
        .and_then(|b| b.sign(&who.key))
        .map_err(|e| e.to_string())?;
    l.ingest(block.clone(), ts).map_err(|e| e.to_string())?;
    out.push(block.bytes().to_vec());
    Ok(block)
}

/// A history of at least `n` blocks, as bytes in a valid order.
fn history(n: usize) -> Result<(Genesis, Vec<Vec<u8>>), String> {
    let hospitals: Vec<Principal> = (0..HOSPITALS).map(principal).collect();
    let patients: Vec<Principal> = (HOSPITALS..HOSPITALS + PATIENTS).map(principal).collect();
    let mut genesis = Genesis::new("bench", 500_000);
    for h in &hospitals {
        genesis = genesis
            .with_balance(h.id, 1_000_000 * MICROS_PER_CREDIT)
            .map_err(|e| e.to_string())?;
    }
    let mut l = Ledger::new(genesis.clone(), LedgerConfig::default());
    let mut out = Vec::with_capacity(n + 8);
    for (i, p) in hospitals.iter().chain(&patients).enumerate() {
        let role = if i < HOSPITALS {
            Role::Hospital
        } else {
            Role::Patient
        };
        let body = Kind::Register(Register {
            role: role.as_str().to_owned(),
            display_name: format!("principal {i}"),
            listen_addrs: vec![format!("/ip4/127.0.0.1/tcp/{}", 4000 + i)],
        });
        append(&mut l, p, body, 0, &mut out)?;
    }
    let mut round = 0u64;
    while out.len() < n {
        round += 1;
        for (j, p) in patients.iter().enumerate() {
            let h = &hospitals[(j + round as usize) % HOSPITALS];
            let ts = round * 1_000;
            if round % 8 == 1 {
                let body = Kind::ConsentGrant(ConsentGrant {
                    grant_id: round.to_be_bytes().to_vec(),
                    grantee: h.id.0.to_vec(),
                    scope: "conditions".to_owned(),
                    purposes: vec!["research".to_owned()],
                    not_after_ms: 0,
                    price: 500_000,
                });
                append(&mut l, p, body, ts, &mut out)?;
            }
            let access = Kind::Access(Access {
                request_id: [round.to_be_bytes(), (j as u64).to_be_bytes()].concat(),
                requester: h.id.0.to_vec(),
                query: "type 2 diabetes".to_owned(),
                purpose: "research".to_owned(),
                decision: "granted".to_owned(),
                reason: "live grant, normal behaviour".to_owned(),
                record_hashes: vec![blake3::hash(&ts.to_be_bytes()).as_bytes().to_vec()],
                price: 500_000,
                staff_user: "dr.lee".to_owned(),
            });
            let a = append(&mut l, p, access, ts, &mut out)?;
            let pay = Kind::Send(Send {
                to: p.id.0.to_vec(),
                amount: 500_000,
                access_ref: a.hash().0.to_vec(),
            });
            let s = append(&mut l, h, pay, ts, &mut out)?;
            let claim = Kind::Receive(Receive {
                send_hash: s.hash().0.to_vec(),
                sender: h.id.0.to_vec(),
                send_seq: s.seq(),
            });
            append(&mut l, p, claim, ts, &mut out)?;
        }
    }
    Ok((genesis, out))
}

fn best<T>(mut f: impl FnMut() -> Result<T, String>) -> Result<Duration, String> {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        black_box(f()?);
        best = best.min(start.elapsed());
    }
    Ok(best)
}

fn main() -> Result<(), String> {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let (genesis, blocks) = history(n)?;
    let count = blocks.len();

    // Raw signatures of the very same blocks, decoded outside the timed region.
    let mut messages = Vec::with_capacity(count);
    let mut signatures = Vec::with_capacity(count);
    let mut keys = Vec::with_capacity(count);
    for bytes in &blocks {
        let signed = SignedBlock::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
        let unsigned =
            UnsignedBlock::decode(signed.unsigned.as_slice()).map_err(|e| e.to_string())?;
        let author: [u8; 32] = unsigned
            .author
            .as_slice()
            .try_into()
            .map_err(|_| "author")?;
        keys.push(VerifyingKey::from_bytes(&author).map_err(|e| e.to_string())?);
        signatures.push(Signature::from_slice(&signed.signature).map_err(|e| e.to_string())?);
        messages.push(signed.unsigned);
    }
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();

    let single = best(|| {
        for i in 0..count {
            keys[i]
                .verify_strict(refs[i], &signatures[i])
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })?;
    let batch =
        best(|| ed25519_dalek::verify_batch(&refs, &signatures, &keys).map_err(|e| e.to_string()))?;
    let ingest = best(|| {
        let mut l = Ledger::new(genesis.clone(), LedgerConfig::default());
        for (i, bytes) in blocks.iter().enumerate() {
            let block = l.decode(bytes).map_err(|e| e.to_string())?;
            match l.ingest(block, 0).map_err(|e| e.to_string())? {
                Ingested::Applied { .. } => {}
                other => return Err(format!("block {i} not applied: {other:?}")),
            }
        }
        Ok(l)
    })?;

    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    let avg = blocks.iter().map(Vec::len).sum::<usize>() / count.max(1);
    println!("ledger_ingest: {count} blocks (avg {avg} bytes), best of {ROUNDS}, one core");
    println!(
        "  ed25519 verify_strict, one by one : {:>9.0} blocks/s",
        rate(single)
    );
    println!(
        "  ed25519 verify_batch, all at once : {:>9.0} blocks/s",
        rate(batch)
    );
    println!(
        "  ledger decode+verify+validate+apply: {:>9.0} blocks/s",
        rate(ingest)
    );
    println!(
        "  ratio ledger / verify_batch = {:.2}, ledger / verify_strict = {:.2}",
        rate(ingest) / rate(batch),
        rate(ingest) / rate(single)
    );
    Ok(())
}
