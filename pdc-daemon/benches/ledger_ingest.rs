//! Ledger ingest throughput on one core: verified, validated and durably stored.
//!
//! Builds a realistic history (registers, consent grants, access logs, payments and
//! their receipts among hospitals and patients), then measures on the same blocks, in
//! one run:
//! - raw ed25519: `verify_strict` one by one, and `verify_batch` over all signatures at
//!   once and in chunks;
//! - the full path of a sync range: `Node::ingest_remote_batch` on a real node with a
//!   real RocksDB in a temporary directory, chunk by chunk: decode and envelope checks,
//!   batch signature verification, every chain rule, the fold, and one synced RocksDB
//!   write per chunk; each call returns only once its chunk is durable;
//! - where the time goes: the same steps without the store, and one by one with
//!   `verify_strict` (the gossip path, in memory).
//!
//! One core: the process re-executes itself under `taskset -c <cpu>` (unless
//! `PDC_BENCH_NO_PIN` is set), so the async runtime (current-thread), the blocking
//! pool that verifies signatures and RocksDB's own threads (the store's writer, the WAL
//! sync, flushes) all share that one core. The process's total CPU time is printed too.
//!
//! Run: `cargo bench -p pdc-daemon --bench ledger_ingest -- [blocks]` (default 20000).
//! With `--profile-full-path` it runs only the pipelined full path, five times, for
//! `perf record`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use pdc_daemon::config::{Config, Role as NodeRole};
use pdc_daemon::ledger::{
    Access, AccountId, ConsentGrant, Genesis, Ingested, Kind, Ledger, LedgerConfig,
    MICROS_PER_CREDIT, Receive, Register, Role, Send, VerifiedBlock,
};
use pdc_daemon::node::{Node, init};
use pdc_proto::Message;
use pdc_proto::ledger::{SignedBlock, UnsignedBlock};

const HOSPITALS: usize = 4;
const PATIENTS: usize = 60;
const ROUNDS: usize = 5;
/// Blocks per call of the full path: a sync range response carries at most 256 blocks
/// (`peering::MAX_RANGE`), so that is what one `ingest_remote_batch` gets in practice.
const SYNC_CHUNK: usize = 256;
/// Blocks per chunk when the ledger is replayed on start-up (`persist::RELOAD_CHUNK`).
const RELOAD_CHUNK: usize = 1024;
/// Chunks applied but not yet known durable in the pipelined full path: the chunk
/// being verified overlaps the sync of the one or two before it.
const PIPELINE: usize = 2;

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
            encryption_key: Vec::new(),
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

fn timed<T>(f: impl FnOnce() -> Result<T, String>) -> Result<Duration, String> {
    let start = Instant::now();
    black_box(f()?);
    Ok(start.elapsed())
}

/// Every block of `results` must have been stored.
fn all_applied(results: &[Result<Ingested, impl std::fmt::Debug>]) -> Result<(), String> {
    match results
        .iter()
        .find(|r| !matches!(r, Ok(Ingested::Applied { .. })))
    {
        None => Ok(()),
        Some(other) => Err(format!("a block was not applied: {other:?}")),
    }
}

fn genesis_toml(g: &Genesis) -> String {
    let mut s = format!(
        "network_id = \"{}\"\ndefault_price = {}\n",
        g.network_id(),
        g.default_price()
    );
    for (a, amount) in g.balances() {
        s.push_str(&format!(
            "[[balances]]\naccount = \"{a}\"\namount = {amount}\n"
        ));
    }
    s
}

/// A fresh node (own key, own RocksDB in a temporary directory) on `genesis`.
async fn fresh_node(genesis: &Genesis) -> Result<(tempfile::TempDir, Arc<Node>), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    init(dir.path(), NodeRole::Patient, "bench").map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("genesis.toml"), genesis_toml(genesis))
        .map_err(|e| e.to_string())?;
    let mut cfg = Config::load(&dir.path().join("config.toml")).map_err(|e| e.to_string())?;
    cfg.genesis = Some("genesis.toml".into());
    let node = Node::open(cfg).await.map_err(|e| e.to_string())?;
    Ok((dir, node))
}

/// The whole path, as a node syncing `blocks` from a peer range by range: every chunk
/// is verified, validated, folded and written durably by `Node`'s own batch ingest.
/// Sequential: one `ingest_remote_batch` call after another, each returning once its
/// chunk is durable. Pipelined: as a node pulling several ranges does, each chunk is
/// verified (`verify_remote_batch`) and applied and queued (`apply_verified_batch`)
/// while the writes of the previous ones are still syncing, and its results are taken
/// (`PendingWrite::durable`) only once it is durable; the core does not sit idle
/// during fsyncs.
fn full_path(
    rt: &tokio::runtime::Runtime,
    genesis: &Genesis,
    blocks: &[Vec<u8>],
    chunk: usize,
    pipelined: bool,
) -> Result<(Duration, Duration), String> {
    rt.block_on(async {
        let (dir, node) = fresh_node(genesis).await?;
        let err = |e: pdc_daemon::node::NodeError| e.to_string();
        let cpu0 = process_cpu();
        let start = Instant::now();
        if pipelined {
            // Up to PIPELINE writes queued or syncing while the next chunk is verified.
            let mut writing = std::collections::VecDeque::new();
            for c in blocks.chunks(chunk) {
                let decoded = node
                    .ledger()
                    .verify_remote_batch(c.to_vec())
                    .await
                    .map_err(err)?;
                writing.push_back(
                    node.ledger()
                        .apply_verified_batch(decoded)
                        .await
                        .map_err(err)?,
                );
                if writing.len() >= PIPELINE
                    && let Some(oldest) = writing.pop_front()
                {
                    all_applied(&oldest.durable().await.map_err(err)?)?;
                }
            }
            for w in writing {
                all_applied(&w.durable().await.map_err(err)?)?;
            }
        } else {
            for c in blocks.chunks(chunk) {
                all_applied(
                    &node
                        .ledger()
                        .ingest_remote_batch(c.to_vec())
                        .await
                        .map_err(err)?,
                )?;
            }
        }
        let wall = start.elapsed();
        let cpu = process_cpu().saturating_sub(cpu0);
        node.store().close().await;
        drop(node);
        drop(dir);
        Ok((wall, cpu))
    })
}

/// CPU time used so far by every thread of this process (user + system), from
/// `/proc/self/stat`; zero where that is not available.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are the 14th and
    // 15th fields of the whole line, in clock ticks (100 per second on Linux).
    let Some(rest) = stat.rsplit(')').next() else {
        return Duration::ZERO;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Re-executes this bench pinned to one CPU with `taskset`, so that every thread of it
/// (including RocksDB's) shares one core. Returns `Some(exit code)` if it did.
fn pin_to_one_core() -> Option<i32> {
    if std::env::var_os("PDC_BENCH_NO_PIN").is_some()
        || std::env::var_os("PDC_BENCH_PINNED").is_some()
    {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim()
        .to_owned();
    let first: String = allowed.chars().take_while(char::is_ascii_digit).collect();
    if first.is_empty() || first == allowed {
        return None; // already one CPU
    }
    let exe = std::env::current_exe().ok()?;
    let status = std::process::Command::new("taskset")
        .arg("-c")
        .arg(&first)
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env("PDC_BENCH_PINNED", &first)
        .status()
        .ok()?;
    Some(status.code().unwrap_or(1))
}

fn main() -> Result<(), String> {
    if let Some(code) = pin_to_one_core() {
        std::process::exit(code);
    }
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let (genesis, blocks) = history(n)?;
    let count = blocks.len();
    if std::env::args().any(|a| a == "--profile-full-path") {
        // Only the full path, repeatedly: for `perf record`.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        for _ in 0..5 {
            let (wall, cpu) = full_path(&rt, &genesis, &blocks, SYNC_CHUNK, true)?;
            println!(
                "{:.0} blocks/s, CPU {:.2} s",
                count as f64 / wall.as_secs_f64(),
                cpu.as_secs_f64()
            );
        }
        return Ok(());
    }

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

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let configs = [
        (SYNC_CHUNK, false),
        (SYNC_CHUNK, true),
        (RELOAD_CHUNK, true),
    ];
    let verify_in = |chunk: usize| -> Result<(), String> {
        for i in (0..count).step_by(chunk) {
            let j = (i + chunk).min(count);
            ed25519_dalek::verify_batch(&refs[i..j], &signatures[i..j], &keys[i..j])
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    // Every measurement once per round, rounds interleaved, best of each kept: a
    // change in the machine's load then shows in the raw rates and the full path alike
    // instead of in whichever ran last.
    let mut strict = Duration::MAX;
    let mut batch_all = Duration::MAX;
    let mut batch_sync = Duration::MAX;
    let mut batch_reload = Duration::MAX;
    let mut one_by_one = Duration::MAX;
    let mut decode_only = Duration::MAX;
    let mut apply_only = Duration::MAX;
    let mut full = vec![(Duration::MAX, Duration::ZERO); configs.len()];
    for _ in 0..ROUNDS {
        strict = strict.min(timed(|| {
            for i in 0..count {
                keys[i]
                    .verify_strict(refs[i], &signatures[i])
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        })?);
        batch_all = batch_all.min(timed(|| {
            ed25519_dalek::verify_batch(&refs, &signatures, &keys).map_err(|e| e.to_string())
        })?);
        batch_sync = batch_sync.min(timed(|| verify_in(SYNC_CHUNK))?);
        batch_reload = batch_reload.min(timed(|| verify_in(RELOAD_CHUNK))?);

        // In memory, to show where the time goes.
        let mut l = Ledger::new(genesis.clone(), LedgerConfig::default());
        one_by_one = one_by_one.min(timed(|| {
            for bytes in &blocks {
                let block = l.decode(bytes).map_err(|e| e.to_string())?;
                l.ingest(block, 0).map_err(|e| e.to_string())?;
            }
            Ok(())
        })?);
        let mut l = Ledger::new(genesis.clone(), LedgerConfig::default());
        let (mut d, mut a) = (Duration::ZERO, Duration::ZERO);
        for c in blocks.chunks(SYNC_CHUNK) {
            let owned = c.to_vec();
            let t = Instant::now();
            let decoded = l.decode_batch(owned);
            d += t.elapsed();
            let t = Instant::now();
            let results = l.ingest_batch(decoded, 0);
            a += t.elapsed();
            all_applied(&results)?;
        }
        decode_only = decode_only.min(d);
        apply_only = apply_only.min(a);

        for (slot, (chunk, pipelined)) in full.iter_mut().zip(configs) {
            let run = full_path(&rt, &genesis, &blocks, chunk, pipelined)?;
            if run.0 < slot.0 {
                *slot = run;
            }
        }
    }
    let full: Vec<(usize, bool, (Duration, Duration))> = configs
        .iter()
        .zip(full)
        .map(|(&(chunk, pipelined), run)| (chunk, pipelined, run))
        .collect();

    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    let avg = blocks.iter().map(Vec::len).sum::<usize>() / count.max(1);
    let pinned = std::env::var("PDC_BENCH_PINNED")
        .map(|c| format!("pinned to CPU {c}"))
        .unwrap_or_else(|_| "NOT pinned to one CPU".to_owned());
    println!("ledger_ingest: {count} blocks (avg {avg} bytes), best of {ROUNDS}, {pinned}");
    println!("  raw ed25519");
    println!(
        "    verify_strict, one by one            {:>9.0} blocks/s",
        rate(strict)
    );
    println!(
        "    verify_batch, all at once            {:>9.0} blocks/s",
        rate(batch_all)
    );
    println!(
        "    verify_batch, chunks of {SYNC_CHUNK:<4}         {:>9.0} blocks/s",
        rate(batch_sync)
    );
    println!(
        "    verify_batch, chunks of {RELOAD_CHUNK:<4}         {:>9.0} blocks/s",
        rate(batch_reload)
    );
    println!("  in memory (no store)");
    println!(
        "    decode + verify_strict + ingest, 1 by 1 {:>7.0} blocks/s",
        rate(one_by_one)
    );
    println!(
        "    decode_batch ({SYNC_CHUNK}): {:.1} µs/block; ingest_batch: {:.1} µs/block",
        decode_only.as_secs_f64() * 1e6 / count as f64,
        apply_only.as_secs_f64() * 1e6 / count as f64
    );
    println!("  full path: Node::ingest_remote_batch, durable (synced) RocksDB write per chunk");
    for (chunk, pipelined, (wall, cpu)) in &full {
        let fsyncs = count.div_ceil(*chunk);
        let how = if *pipelined {
            "pipelined"
        } else {
            "one after another"
        };
        let same_chunks = if *chunk == SYNC_CHUNK {
            batch_sync
        } else {
            batch_reload
        };
        println!(
            "    chunks of {chunk:<4}, {how:<17} ({fsyncs:>2} fsyncs) {:>9.0} blocks/s  ratio {:.2} (to verify_batch in the same chunks {:.2}); process CPU {:.1} µs/block",
            rate(*wall),
            rate(*wall) / rate(batch_all),
            rate(*wall) / rate(same_chunks),
            cpu.as_secs_f64() * 1e6 / count as f64,
        );
    }
    println!(
        "  ratio = full path blocks/s / raw verify_batch all at once blocks/s (target >= 0.50)"
    );
    Ok(())
}
