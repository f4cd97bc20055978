//! Hospital fan-out search over N consenting patient nodes (N = 50, 200): one hospital
//! and N patients, each a real node (own RocksDB, own libp2p swarm on 127.0.0.1). Every
//! patient holds a matching condition and granted the hospital; each search asks all of
//! them at once (bounded concurrency), checks every answer against its Access block and
//! pays each with a durable Send. p50/p99 over 10 searches, each started once the
//! previous one's gossip has settled (the whole network under half a core). The
//! patients' guards keep only their hard limits (ten quick searches are the burst a
//! guard is there to stop).
//!
//! Besides the search's latency it prints what follows it: how long until every patient
//! has claimed its payment with a Receive and the hospital holds it, and the CPU the
//! whole network spent on the search until at rest again, above its idle use (most of a
//! search's gossip travels after the search returns).
//!
//! The hospital runs in this process; the patients run in child processes of this same
//! binary, 50 nodes each, as separate machines would. That keeps every process under
//! the file-descriptor limit (a node holds a RocksDB and tens of connections) and gives
//! the hospital its own runtime instead of one task queue shared with 200 other nodes.
//! All processes still share this machine's cores: the figures include the whole
//! network's gossip work (every node validates and stores every block of every search).
//!
//! Each patient connects to the hospital and to a few random patients (see
//! `PATIENT_PEERS`); the hospital reaches every patient directly.
//!
//! Run: `cargo bench -p pdc-daemon --bench fanout [-- N...]`

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use pdc_daemon::access::{FanOut, PatientOutcome, search_patients};
use pdc_daemon::config::{Config, Role};
use pdc_daemon::ledger::AccountId;
use pdc_daemon::net::NetClient;
use pdc_daemon::node::{Node, init};
use pdc_daemon::peering::NetTransport;
use pdc_proto::records::{Condition, Record, record::Body};

/// Patient nodes per child process.
const PER_PROCESS: usize = 50;

/// Patients each new patient dials besides the hospital. Patients run without
/// Kademlia discovery: with it, a lookup in a network of a few hundred nodes dials
/// nearly every node, and gossipsub keeps a stream open on every connection, so the
/// network ends up fully meshed (40,000 sockets at N = 200) and its pings and lazy
/// gossip alone saturate this machine's two cores before any search. A sparse random
/// graph (degree about 9) is what each node would keep on its own machine.
/// `PDC_BENCH_DISCOVERY=1` turns discovery on for the patients too (the connection
/// manager then trims what the lookups leave; see BENCHMARKS.md).
const PATIENT_PEERS: usize = 4;

async fn open(
    dir: &Path,
    genesis: &str,
    bootstrap: Vec<String>,
) -> Result<(Arc<Node>, NetClient, tokio::task::JoinHandle<()>)> {
    std::fs::write(dir.join("genesis.toml"), genesis).context("writing the genesis")?;
    let mut cfg = Config::load(&dir.join("config.toml")).context("loading the config")?;
    cfg.genesis = Some("genesis.toml".into());
    // Patients connect to the peers they are given and no others (see `PATIENT_PEERS`).
    cfg.p2p_discovery =
        cfg.role == Role::Hospital || std::env::var_os("PDC_BENCH_DISCOVERY").is_some();
    cfg.bootstrap = bootstrap;
    cfg.sync_interval_secs = 30;
    cfg.search_timeout_ms = 10_000;
    // Ten searches seconds apart from one hospital is exactly the burst the guard flags
    // and then denies; the benchmark measures the fan-out, so only hard limits stay on.
    cfg.guard.max_requests_per_minute = 10_000;
    cfg.guard.max_requests_per_hour = 100_000;
    cfg.guard.deny_threshold = 1.0;
    let node = Node::open(cfg).await.context("opening a node")?;
    let (net, task) = pdc_daemon::peering::start(node.clone())
        .await
        .context("starting a node's network")?;
    Ok((node, net, task))
}

async fn close(nodes: Vec<Arc<Node>>, nets: Vec<(NetClient, tokio::task::JoinHandle<()>)>) {
    for (c, t) in nets {
        let _ = c.shutdown().await;
        t.abort();
        let _ = t.await;
    }
    for x in &nodes {
        x.store().close().await;
    }
}

/// Child mode: opens `count` patient nodes named from `first` on, each with a matching
/// condition and a grant to `hospital`; prints `ready` once all grants are durable and
/// published, then runs until its standard input closes.
async fn patients(
    genesis: String,
    boot: String,
    hospital: AccountId,
    first: usize,
    count: usize,
) -> Result<()> {
    let mut nodes = Vec::new();
    let mut nets = Vec::new();
    let mut dirs = Vec::new();
    let mut addrs: Vec<String> = Vec::new();
    for i in first..first + count {
        let d = tempfile::tempdir().context("creating a temporary directory")?;
        init(d.path(), Role::Patient, &format!("p{i}")).context("initialising a patient")?;
        // The hospital, plus a few patients opened before: a sparse random graph.
        let mut peers = vec![boot.clone()];
        peers.extend(
            rand::seq::SliceRandom::choose_multiple(
                addrs.as_slice(),
                &mut rand::thread_rng(),
                PATIENT_PEERS,
            )
            .cloned(),
        );
        let (node, net, t) = open(d.path(), &genesis, peers).await?;
        addrs.push(p2p_addr(&net).await?);
        let now = pdc_daemon::records::now_ms();
        node.records()
            .put(Record {
                id: pdc_daemon::records::new_id(),
                created_ms: now,
                updated_ms: now,
                salt: Vec::new(),
                body: Some(Body::Condition(Condition {
                    text: "Asthma".into(),
                    status: "active".into(),
                    ..Default::default()
                })),
            })
            .await
            .context("storing a record")?;
        nodes.push(node);
        nets.push((net, t));
        dirs.push(d);
    }
    for p in &nodes {
        pdc_daemon::access::grant(
            p,
            hospital,
            vec!["treatment".into()],
            "all".into(),
            0,
            500_000,
        )
        .await
        .context("granting the hospital")?;
    }
    println!("ready");
    std::io::stdout()
        .flush()
        .context("telling the parent we are ready")?;
    // The parent closes our stdin when it is done (or dies).
    let _ =
        tokio::task::spawn_blocking(|| std::io::stdin().lock().read_line(&mut String::new())).await;
    close(nodes, nets).await;
    drop(dirs);
    Ok(())
}

/// `node`'s first listen address with its peer id, as a bootstrap entry.
async fn p2p_addr(net: &NetClient) -> Result<String> {
    let addrs = net
        .listen_addrs()
        .await
        .context("reading listen addresses")?;
    let first = addrs.first().context("the node listens nowhere")?;
    Ok(format!("{first}/p2p/{}", net.local_peer_id()))
}

/// CPU seconds (user + system) used so far by the process `pid`.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0 // USER_HZ
}

struct Net {
    hospital: Arc<Node>,
    net: (NetClient, tokio::task::JoinHandle<()>),
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Net {
    fn cpu(&self) -> f64 {
        cpu_secs(std::process::id()) + self.children.iter().map(|c| cpu_secs(c.id())).sum::<f64>()
    }

    /// Cores the whole network uses at rest, over three seconds.
    async fn idle_cores(&self) -> f64 {
        self.rest().await;
        let c0 = self.cpu();
        tokio::time::sleep(Duration::from_secs(3)).await;
        (self.cpu() - c0) / 3.0
    }

    /// Waits until the whole network (every process) uses under half a core over one
    /// second, at most a minute; returns how long that took.
    async fn rest(&self) -> Duration {
        let t0 = Instant::now();
        loop {
            let c0 = self.cpu();
            tokio::time::sleep(Duration::from_secs(1)).await;
            if self.cpu() - c0 < 0.5 || t0.elapsed() > Duration::from_secs(60) {
                return t0.elapsed();
            }
        }
    }
}

async fn build(n: usize) -> Result<Net> {
    let started = Instant::now();
    let hd = tempfile::tempdir().context("creating a temporary directory")?;
    let h: AccountId = init(hd.path(), Role::Hospital, "FanHospital")
        .context("initialising the hospital")?
        .account
        .parse()
        .context("the hospital's account")?;
    let genesis = format!(
        "network_id = \"fanout\"\ndefault_price = 500000\n[[balances]]\naccount = \"{h}\"\namount = 1000000000000\n"
    );
    let (hospital, hnet, ht) = open(hd.path(), &genesis, vec![]).await?;
    let boot = p2p_addr(&hnet).await?;
    let genesis_file = hd.path().join("bench-genesis.toml");
    std::fs::write(&genesis_file, &genesis).context("writing the genesis for the children")?;
    let exe = std::env::current_exe().context("finding this bench's own binary")?;
    let mut children = Vec::new();
    for first in (0..n).step_by(PER_PROCESS) {
        let count = PER_PROCESS.min(n - first);
        let child = Command::new(&exe)
            .arg("--patients")
            .arg(&genesis_file)
            .arg(&boot)
            .arg(h.to_string())
            .arg(first.to_string())
            .arg(count.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting a patients process")?;
        children.push(child);
    }
    // Every child says `ready` once its patients are open and have granted.
    let outs: Vec<_> = children
        .iter_mut()
        .filter_map(|c| c.stdout.take())
        .collect();
    tokio::task::spawn_blocking(move || -> Result<()> {
        for out in outs {
            let mut line = String::new();
            std::io::BufReader::new(out)
                .read_line(&mut line)
                .context("reading a patients process")?;
            ensure!(
                line.trim() == "ready",
                "a patients process failed (its error is above)"
            );
        }
        Ok(())
    })
    .await
    .context("waiting for the patients processes")??;
    println!(
        "  {n} patient nodes open and granted in {} processes after {:.1} s",
        children.len(),
        started.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    while hospital.ledger().read(|l| l.grants_for_grantee(&h).len()) < n {
        ensure!(
            t0.elapsed() < Duration::from_secs(300),
            "only {} of {n} grants reached the hospital in 300 s",
            hospital.ledger().read(|l| l.grants_for_grantee(&h).len())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "  {n} grants known to the hospital {:.1} s later",
        t0.elapsed().as_secs_f64()
    );
    Ok(Net {
        hospital,
        net: (hnet, ht),
        children,
        _dir: hd,
    })
}

/// One search over every consenting patient; an error unless all `n` answered and were
/// paid (the others are listed on stderr).
async fn search(
    hospital: &Arc<Node>,
    transport: &Arc<NetTransport>,
    n: usize,
) -> Result<pdc_daemon::access::SearchReport> {
    let r = search_patients(
        hospital,
        transport.clone(),
        FanOut {
            query: "asthma".into(),
            purpose: "treatment".into(),
            staff_user: "bench".into(),
            timeout: Duration::from_secs(10),
            concurrency: hospital.config().search_concurrency,
            only: None,
        },
    )
    .await
    .context("the search failed")?;
    let ok =
        |o: &PatientOutcome| matches!(o, PatientOutcome::Answered(a) if !a.refused && a.paid > 0);
    let answered = r.patients.iter().filter(|p| ok(&p.2)).count();
    if answered != n {
        for p in r.patients.iter().filter(|p| !ok(&p.2)) {
            match &p.2 {
                PatientOutcome::Answered(a) => {
                    eprintln!(
                        "{}: refused={} paid={} {}",
                        p.1, a.refused, a.paid, a.reason
                    )
                }
                other => eprintln!("{}: {other:?}", p.1),
            }
        }
    }
    ensure!(
        answered == n,
        "only {answered} of {n} patients answered and were paid (listed above)"
    );
    Ok(r)
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn main() -> Result<()> {
    // `PDC_BENCH_LOG=pdc_daemon=debug` logs every node of every process to stderr.
    if let Ok(filter) = std::env::var("PDC_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--patients") {
        // Child mode, started by `build`.
        let Some([genesis, boot, hospital, first, count]) = args.get(2..7) else {
            bail!("usage: fanout --patients GENESIS BOOT HOSPITAL FIRST COUNT");
        };
        let genesis = std::fs::read_to_string(genesis)
            .with_context(|| format!("reading the genesis file {genesis}"))?;
        let hospital: AccountId = hospital.parse().context("HOSPITAL must be an account")?;
        let first = first.parse().context("FIRST must be a number")?;
        let count = count.parse().context("COUNT must be a number")?;
        return runtime()?.block_on(patients(genesis, boot.clone(), hospital, first, count));
    }
    let quick = args.iter().any(|a| a == "--test");
    // `cargo bench --bench fanout -- 50` runs only the sizes given.
    let given: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes: Vec<usize> = if quick {
        vec![5]
    } else if given.is_empty() {
        vec![50, 200]
    } else {
        given
    };
    runtime()?.block_on(async move {
        println!("fan-out search: 1 hospital -> N consenting patient nodes, all answered, checked and paid");
        for n in sizes {
            let mut net = build(n).await?;
            let hospital = net.hospital.clone();
            let transport = Arc::new(NetTransport { client: net.net.0.clone() });
            let mut lat = Vec::new();
            let (mut answered_ms, mut paid_ms, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
            let (mut cpu_total, mut claimed_ms) = (Vec::new(), Vec::new());
            // What the network burns doing nothing (pings, heartbeats, timers), in cores.
            let idle = net.idle_cores().await;
            println!("  network idles at {idle:.2} cores");
            // The first search of a run also opens a data stream to every patient; it is
            // run untimed so the figures are those of a hospital already connected.
            for round in 0..11 {
                // Each search starts on a network at rest: the last one's gossip has
                // settled once the whole network uses under half a core (at most a
                // minute). Already waited for after the previous search.
                let rest = net.rest().await;
                if round == 0 {
                    println!("  network at rest after {:.0} s", rest.as_secs_f64());
                }
                let cpu0 = net.cpu();
                let t = Instant::now();
                let r = search(&hospital, &transport, n).await?;
                let took = t.elapsed();
                let during = net.cpu() - cpu0;
                // The search's gossip (Access blocks and payments, then the patients'
                // Receives) travels after it returns: how long until every patient has
                // claimed its payment and the hospital knows, and what the network spent
                // in all, until at rest, above what it burns idle.
                let payments: Vec<_> = r
                    .patients
                    .iter()
                    .filter_map(|p| match &p.2 {
                        PatientOutcome::Answered(a) => a.payment,
                        _ => None,
                    })
                    .collect();
                while !hospital.ledger().read(|l| payments.iter().all(|s| l.is_received(s))) {
                    ensure!(
                        t.elapsed() < Duration::from_secs(120),
                        "payments of search {round} not all claimed after 120 s"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let claimed = t.elapsed();
                let settled = net.rest().await;
                let total = net.cpu() - cpu0 - idle * (took + settled).as_secs_f64();
                if round > 0 {
                    lat.push(took);
                    answered_ms.push(r.answered_after);
                    paid_ms.push(r.paid_after);
                    cpu.push(Duration::from_secs_f64(during));
                    cpu_total.push(Duration::from_secs_f64(total.max(0.0)));
                    claimed_ms.push(claimed);
                }
                println!("    search {round:>2}: {:>5.0} ms (last answer checked {:>5.0} ms)", took.as_secs_f64() * 1e3, r.answered_after.as_secs_f64() * 1e3);
            }
            println!("  N = {n:>3}: p50 {:.0} ms  p99 {:.0} ms  (10 searches)", pct(&mut lat, 0.5), pct(&mut lat, 0.99));
            // Where the time goes: until the last answer was checked, then until every
            // payment was durable; and the CPU the whole network spent meanwhile.
            println!(
                "           last answer checked p50 {:.0} ms, all payments durable p50 {:.0} ms, network CPU during a search p50 {:.0} ms",
                pct(&mut answered_ms, 0.5),
                pct(&mut paid_ms, 0.5),
                pct(&mut cpu, 0.5)
            );
            println!(
                "           every payment claimed (Receive at the hospital) p50 {:.0} ms  p99 {:.0} ms; network CPU per search above idle, until at rest, p50 {:.0} ms",
                pct(&mut claimed_ms, 0.5),
                pct(&mut claimed_ms, 0.99),
                pct(&mut cpu_total, 0.5)
            );
            // Back to back: each search starts as soon as the previous one returned, with
            // its gossip (and the Receives it triggers) still going through the network.
            let mut b2b = Vec::new();
            let t0 = Instant::now();
            for _ in 0..10 {
                let t = Instant::now();
                search(&hospital, &transport, n).await?;
                b2b.push(t.elapsed());
            }
            let all = t0.elapsed();
            println!(
                "           back to back: p50 {:.0} ms  p99 {:.0} ms  (10 searches in {:.1} s)",
                pct(&mut b2b, 0.5),
                pct(&mut b2b, 0.99),
                all.as_secs_f64()
            );
            drop(hospital);
            drop(transport);
            for c in &mut net.children {
                drop(c.stdin.take()); // tells the child to shut its nodes down
            }
            for c in &mut net.children {
                let _ = c.wait();
            }
            close(vec![net.hospital], vec![net.net]).await;
        }
        Ok(())
    })
}

/// Two worker threads, as a small node would run.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}
