//! Hospital fan-out search over N consenting patient nodes (N = 50, 200): one hospital and
//! N patients, each a real node in this process (own RocksDB, own libp2p swarm on
//! 127.0.0.1). Every patient holds a matching condition and granted the hospital; each
//! search asks all of them at once (bounded concurrency), checks every answer against its
//! Access block and pays each with a durable Send. p50/p99 over 10 searches, each started
//! after the previous one's gossip settled. The patients' guards keep only their hard
//! limits (ten quick searches are the burst a guard is there to stop).
//! Run: `cargo bench -p pdc-daemon --bench fanout`

use std::sync::Arc;
use std::time::{Duration, Instant};

use pdc_daemon::access::{FanOut, PatientOutcome, search_patients};
use pdc_daemon::config::{Config, Role};
use pdc_daemon::ledger::AccountId;
use pdc_daemon::net::NetClient;
use pdc_daemon::node::{Node, init};
use pdc_daemon::peering::NetTransport;
use pdc_proto::records::{Condition, Record, record::Body};

struct Net {
    nodes: Vec<Arc<Node>>,
    nets: Vec<(NetClient, tokio::task::JoinHandle<()>)>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn open(
    dir: &std::path::Path,
    genesis: &str,
    bootstrap: Vec<String>,
) -> (Arc<Node>, NetClient, tokio::task::JoinHandle<()>) {
    std::fs::write(dir.join("genesis.toml"), genesis).expect("genesis");
    let mut cfg = Config::load(&dir.join("config.toml")).expect("config");
    cfg.genesis = Some("genesis.toml".into());
    cfg.bootstrap = bootstrap;
    cfg.sync_interval_secs = 30;
    cfg.search_timeout_ms = 10_000;
    // Ten searches seconds apart from one hospital is exactly the burst the guard flags
    // and then denies; the benchmark measures the fan-out, so only hard limits stay on.
    cfg.guard.max_requests_per_minute = 10_000;
    cfg.guard.max_requests_per_hour = 100_000;
    cfg.guard.deny_threshold = 1.0;
    let node = Node::open(cfg).await.expect("open");
    let (net, task) = pdc_daemon::peering::start(node.clone()).await.expect("net");
    (node, net, task)
}

async fn build(n: usize) -> Net {
    let hd = tempfile::tempdir().expect("tmp");
    let h: AccountId = init(hd.path(), Role::Hospital, "FanHospital")
        .expect("init")
        .account
        .parse()
        .expect("acct");
    let genesis = format!(
        "network_id = \"fanout\"\ndefault_price = 500000\n[[balances]]\naccount = \"{h}\"\namount = 1000000000000\n"
    );
    let (hospital, hnet, ht) = open(hd.path(), &genesis, vec![]).await;
    let boot = vec![format!(
        "{}/p2p/{}",
        hnet.listen_addrs().await.expect("addrs")[0],
        hnet.local_peer_id()
    )];
    let mut nodes = vec![hospital];
    let mut nets = vec![(hnet, ht)];
    let mut dirs = vec![hd];
    for i in 0..n {
        let d = tempfile::tempdir().expect("tmp");
        init(d.path(), Role::Patient, &format!("p{i}")).expect("init");
        let (node, net, t) = open(d.path(), &genesis, boot.clone()).await;
        let now = pdc_daemon::records::now_ms();
        node.records
            .put(Record {
                id: pdc_daemon::records::new_id(),
                created_ms: now,
                updated_ms: now,
                body: Some(Body::Condition(Condition {
                    text: "Asthma".into(),
                    status: "active".into(),
                    ..Default::default()
                })),
            })
            .await
            .expect("record");
        nodes.push(node);
        nets.push((net, t));
        dirs.push(d);
    }
    let t0 = Instant::now();
    while nodes[0].with_ledger(|l| l.heads().len()) < n + 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "patients did not register at the hospital"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for p in &nodes[1..] {
        pdc_daemon::access::grant(p, h, vec!["treatment".into()], "all".into(), 0, 500_000)
            .await
            .expect("grant");
    }
    while nodes[0].with_ledger(|l| l.grants_for_grantee(&h).len()) < n {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "grants did not reach the hospital"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Net {
        nodes,
        nets,
        _dirs: dirs,
    }
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    // `cargo bench --bench fanout -- 50` runs only the sizes given.
    let given: Vec<usize> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let sizes: Vec<usize> = if quick {
        vec![5]
    } else if given.is_empty() {
        vec![50, 200]
    } else {
        given
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async move {
        println!("fan-out search: 1 hospital -> N consenting patient nodes, all answered, checked and paid");
        for n in sizes {
            let net = build(n).await;
            let hospital = net.nodes[0].clone();
            let transport = Arc::new(NetTransport { client: net.nets[0].0.clone() });
            let mut lat = Vec::new();
            let (mut answered_ms, mut paid_ms) = (Vec::new(), Vec::new());
            // The first search of a run also opens a data stream to every patient; it is
            // run untimed so the figures are those of a hospital already connected.
            for round in 0..11 {
                tokio::time::sleep(Duration::from_secs(2)).await; // let the last search's gossip settle
                let t = Instant::now();
                let r = search_patients(
                    &hospital,
                    transport.clone(),
                    FanOut {
                        query: "asthma".into(),
                        purpose: "treatment".into(),
                        staff_user: "bench".into(),
                        timeout: Duration::from_secs(10),
                        concurrency: hospital.config.search_concurrency,
                        only: None,
                    },
                )
                .await
                .expect("search");
                if round > 0 {
                    lat.push(t.elapsed());
                    answered_ms.push(r.answered_after);
                    paid_ms.push(r.paid_after);
                }
                let answered = r.patients.iter().filter(|p| matches!(&p.2, PatientOutcome::Answered(a) if !a.refused && a.paid > 0)).count();
                if answered != n {
                    for p in &r.patients {
                        match &p.2 {
                            PatientOutcome::Answered(a) => eprintln!("{}: refused={} paid={} {}", p.1, a.refused, a.paid, a.reason),
                            other => eprintln!("{}: {other:?}", p.1),
                        }
                    }
                }
                assert_eq!(answered, n, "every patient answered and was paid");
            }
            println!("  N = {n:>3}: p50 {:.0} ms  p99 {:.0} ms  (10 searches)", pct(&mut lat, 0.5), pct(&mut lat, 0.99));
            // Where the time goes: until the last answer was checked, then until every
            // payment was durable.
            println!(
                "           last answer checked p50 {:.0} ms, all payments durable p50 {:.0} ms",
                pct(&mut answered_ms, 0.5),
                pct(&mut paid_ms, 0.5)
            );
            drop(hospital);
            drop(transport);
            for (c, t) in net.nets {
                let _ = c.shutdown().await;
                t.abort();
                let _ = t.await;
            }
            for x in &net.nodes {
                x.store.close().await;
            }
        }
    });
}
