//! Gossip convergence: time for a block appended at one node to be stored by every node
//! of an in-process network of N real nodes (own RocksDB, own libp2p swarm on
//! 127.0.0.1), for N = 20 and 50; p50/p99 over 30 blocks from random authors.
//! Run: `cargo bench -p pdc-daemon --bench convergence`

use anyhow::{Context, Result, ensure};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pdc_daemon::config::{Config, Role};
use pdc_daemon::ledger::{ConsentGrant, Kind};
use pdc_daemon::node::{Node, init};

type Network = (
    Vec<Arc<Node>>,
    Vec<tempfile::TempDir>,
    Vec<(pdc_daemon::net::NetClient, tokio::task::JoinHandle<()>)>,
);

async fn network(n: usize) -> Result<Network> {
    network_with(n, "convergence", 3600, "n").await
}

async fn network_with(n: usize, id: &str, sync_secs: u64, prefix: &str) -> Result<Network> {
    let genesis = format!("network_id = \"{id}\"\ndefault_price = 1\n");
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    let mut nets = Vec::new();
    let mut boot = Vec::new();
    for i in 0..n {
        let d = tempfile::tempdir().context("creating a temporary directory")?;
        init(d.path(), Role::Patient, &format!("{prefix}{i}")).context("initialising a node")?;
        std::fs::write(d.path().join("genesis.toml"), &genesis).context("writing the genesis")?;
        let mut cfg = Config::load(&d.path().join("config.toml")).context("loading the config")?;
        cfg.genesis = Some("genesis.toml".into());
        cfg.bootstrap = boot.clone();
        cfg.sync_interval_secs = sync_secs;
        let node = Node::open(cfg).await.context("opening a node")?;
        let (net, task) = pdc_daemon::peering::start(node.clone())
            .await
            .context("starting a node's network")?;
        if i == 0 {
            let addrs = net
                .listen_addrs()
                .await
                .context("reading listen addresses")?;
            let first = addrs.first().context("the first node listens nowhere")?;
            boot = vec![format!("{first}/p2p/{}", net.local_peer_id())];
        }
        nodes.push(node);
        dirs.push(d);
        nets.push((net, task));
    }
    Ok((nodes, dirs, nets))
}

/// Stops every swarm and serving task and closes every store, so no RocksDB outlives
/// the runtime.
async fn shut_down((nodes, dirs, nets): Network) {
    for (net, task) in nets {
        let _ = net.shutdown().await;
        task.abort();
        let _ = task.await;
    }
    for n in &nodes {
        n.store().close().await;
    }
    drop(nodes);
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(dirs);
}

/// Two groups of `n / 2` nodes on one genesis that never met write blocks apart, then one
/// dial joins them: time until every node holds the same heads (anti-entropy every 1 s).
async fn heal(n: usize) -> Result<()> {
    let a = network_with(n / 2, "heal", 1, "a").await?;
    let b = network_with(n / 2, "heal", 1, "b").await?;
    let all: Vec<Arc<Node>> = a.0.iter().chain(b.0.iter()).cloned().collect();
    for (i, node) in all.iter().enumerate() {
        let grantee = all[(i + 1) % all.len()].account().0.to_vec();
        node.ledger()
            .append(Kind::ConsentGrant(ConsentGrant {
                grant_id: vec![i as u8; 16],
                grantee,
                scope: "all".into(),
                purposes: vec!["treatment".into()],
                not_after_ms: 0,
                price: 1,
            }))
            .await
            .context("appending a block")?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let b0 = &b.2.first().context("an empty group")?.0;
    let addrs = b0
        .listen_addrs()
        .await
        .context("reading listen addresses")?;
    let target = addrs
        .first()
        .context("the group's first node listens nowhere")?;
    let target = format!("{target}/p2p/{}", b0.local_peer_id());
    let t = Instant::now();
    a.2.first()
        .context("an empty group")?
        .0
        .dial(target.parse().context("the dial address")?)
        .await
        .context("dialling the other group")?;
    let heads = |x: &Arc<Node>| x.ledger().read(|l| l.heads());
    loop {
        let first = heads(&all[0]);
        if first.len() == all.len() && all.iter().all(|x| heads(x) == first) {
            break;
        }
        ensure!(
            t.elapsed() < Duration::from_secs(120),
            "the partition did not heal within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "  partition heal, {} + {} nodes with 1 block each side: identical heads on all after {:.0} ms",
        n / 2,
        n / 2,
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(all);
    shut_down(a).await;
    shut_down(b).await;
    Ok(())
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--test");
    let sizes: Vec<usize> = if quick { vec![5] } else { vec![20, 50] };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        println!("gossip convergence: block appended at one node -> stored by all N nodes");
        for n in sizes {
            let net = network(n).await?;
            let nodes = net.0.clone();
            let t0 = Instant::now();
            while !nodes
                .iter()
                .all(|x| x.ledger().read(|l| l.heads().len()) == n)
            {
                ensure!(
                    t0.elapsed() < Duration::from_secs(120),
                    "a network of {n} did not form within 120 s"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let formed = t0.elapsed();
            tokio::time::sleep(Duration::from_secs(3)).await; // let the gossip mesh settle
            let mut lat = Vec::new();
            for k in 0..30usize {
                let author = &nodes[(k * 7 + 3) % n];
                let grantee = nodes[(k * 7 + 4) % n].account().0.to_vec();
                let t = Instant::now();
                let b = author
                    .ledger()
                    .append(Kind::ConsentGrant(ConsentGrant {
                        grant_id: vec![k as u8; 16],
                        grantee,
                        scope: "all".into(),
                        purposes: vec!["treatment".into()],
                        not_after_ms: 0,
                        price: 1,
                    }))
                    .await
                    .context("appending a block")?;
                let h = b.hash();
                while !nodes
                    .iter()
                    .all(|x| x.ledger().read(|l| l.block(&h).is_some()))
                {
                    ensure!(
                        t.elapsed() < Duration::from_secs(30),
                        "a block did not reach every node within 30 s"
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                lat.push(t.elapsed());
            }
            println!(
                "  N = {n:>3}: p50 {:.1} ms  p99 {:.1} ms  (30 blocks; network formed in {:.1} s)",
                pct(&mut lat, 0.5),
                pct(&mut lat, 0.99),
                formed.as_secs_f64()
            );
            drop(nodes);
            shut_down(net).await;
        }
        heal(if quick { 4 } else { 20 }).await
    })
}
