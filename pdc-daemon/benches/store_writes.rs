//! Durable record writes per second with 1 and 16 concurrent writers.
//!
//! Every write is an encrypted record acknowledged only after a synced WAL write; group
//! commit should make 16 writers far faster than one writer's fsync rate.
//! Run: `cargo bench -p pdc-daemon --bench store_writes`

use anyhow::{Context, Result};
use std::time::{Duration, Instant};

use pdc_daemon::records::{RecordStore, new_id, now_ms};
use pdc_daemon::store::Store;
use pdc_proto::records::{Note, Record, record::Body};

fn record() -> Record {
    let now = now_ms();
    Record {
        id: new_id(),
        created_ms: now,
        updated_ms: now,
        salt: Vec::new(),
        body: Some(Body::Note(Note {
            title: "bench".into(),
            text: "x".repeat(1024),
        })),
    }
}

async fn run(writers: usize, per_writer: usize) -> Result<(f64, Duration)> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let store = Store::open(dir.path()).context("opening the store")?;
    let rs = RecordStore::new(store.clone(), &[5u8; 32]);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let rs = rs.clone();
        tasks.push(tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            for _ in 0..per_writer {
                let t = Instant::now();
                rs.put(record()).await.context("a durable write failed")?;
                worst = worst.max(t.elapsed());
            }
            anyhow::Ok(worst)
        }));
    }
    let mut worst = Duration::ZERO;
    for t in tasks {
        worst = worst.max(t.await.context("a writer task died")??);
    }
    let secs = start.elapsed().as_secs_f64();
    store.close().await;
    Ok(((writers * per_writer) as f64 / secs, worst))
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let fast = std::env::args().any(|a| a == "--test");
    let n = if fast { 20 } else { 2000 };
    rt.block_on(async {
        let (one, w1) = run(1, n).await?;
        let (sixteen, w16) = run(16, n / 4).await?;
        println!("durable record writes (1 KiB encrypted note, synced WAL, group commit)");
        println!(
            "  1 writer:   {one:>9.0} writes/s   (worst latency {:.1} ms)",
            w1.as_secs_f64() * 1e3
        );
        println!(
            "  16 writers: {sixteen:>9.0} writes/s   (worst latency {:.1} ms)",
            w16.as_secs_f64() * 1e3
        );
        println!("  speed-up 16 vs 1: {:.1}x", sixteen / one);
        Ok(())
    })
}
