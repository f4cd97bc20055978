//! Audited authorized reads over loopback: one hospital node reading one patient node,
//! full path per read (libp2p request, consent decision, guard, search, Access block
//! durably appended, answer, hash check, durable Send payment).
//! Run: `cargo bench -p pdc-daemon --bench access_reads`
//!
//! The guard's hard per-minute limit is raised for the run (a benchmark is exactly the
//! burst it is there to stop); everything else is the production path.

use anyhow::{Context, Result, bail, ensure};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pdc_daemon::access::{FanOut, PatientOutcome, search_patients};
use pdc_daemon::config::{Config, Role};
use pdc_daemon::ledger::AccountId;
use pdc_daemon::node::{Node, init};
use pdc_daemon::peering::NetTransport;
use pdc_proto::records::{Condition, Record, record::Body};

async fn open(dir: &std::path::Path, genesis: &str, bootstrap: Vec<String>) -> Result<Arc<Node>> {
    std::fs::write(dir.join("genesis.toml"), genesis).context("writing the genesis")?;
    let mut cfg = Config::load(&dir.join("config.toml")).context("loading the config")?;
    cfg.genesis = Some("genesis.toml".into());
    cfg.bootstrap = bootstrap;
    cfg.guard.max_requests_per_minute = 10_000_000;
    cfg.guard.max_requests_per_hour = 10_000_000;
    cfg.guard.deny_threshold = 1.0;
    Node::open(cfg).await.context("opening a node")
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--test");
    let n = if quick { 20 } else { 2000 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let (hd, pd) = (tempfile::tempdir().context("creating a temporary directory")?, tempfile::tempdir().context("creating a temporary directory")?);
        let h_acct: AccountId = init(hd.path(), Role::Hospital, "BenchHospital").context("initialising the hospital")?.account.parse().context("the hospital's account")?;
        init(pd.path(), Role::Patient, "BenchPatient").context("initialising the patient")?;
        let text = format!("network_id = \"bench-net\"\ndefault_price = 500000\n[[balances]]\naccount = \"{h_acct}\"\namount = 1000000000000\n");
        let hospital = open(hd.path(), &text, vec![]).await?;
        let (hnet, _t1) = pdc_daemon::peering::start(hospital.clone()).await.context("starting a node's network")?;
        let addrs = hnet.listen_addrs().await.context("reading the hospital's listen addresses")?;
        let boot = format!("{}/p2p/{}", addrs.first().context("the hospital listens nowhere")?, hnet.local_peer_id());
        let patient = open(pd.path(), &text, vec![boot]).await?;
        let (_pnet, _t2) = pdc_daemon::peering::start(patient.clone()).await.context("starting a node's network")?;
        let now = pdc_daemon::records::now_ms();
        patient
            .records()
            .put(Record {
                id: pdc_daemon::records::new_id(),
                created_ms: now,
                updated_ms: now,
                salt: Vec::new(),
                body: Some(Body::Condition(Condition {
                    text: "Type 2 diabetes mellitus".into(),
                    status: "active".into(),
                    fhir_json: format!("{{\"note\": \"{}\"}}", "x".repeat(950)),
                    ..Default::default()
                })),
            })
            .await
            .context("storing the record")?;
        // Wait until each knows the other, then grant.
        let deadline = Instant::now() + Duration::from_secs(30);
        while hospital.ledger().read(|l| l.heads().len()) < 2 || patient.ledger().read(|l| l.heads().len()) < 2 {
            ensure!(Instant::now() < deadline, "the two nodes did not learn of each other within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pdc_daemon::access::grant(&patient, h_acct, vec!["treatment".into()], "conditions".into(), 0, 500_000).await.context("granting the hospital")?;
        while hospital.ledger().read(|l| l.grants_for_grantee(&h_acct).is_empty()) {
            ensure!(Instant::now() < deadline, "the grant did not reach the hospital within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let transport = Arc::new(NetTransport { client: hnet.clone() });
        // One untimed read opens the data protocol's stream path.
        let warm = FanOut {
            query: "diabetes".into(),
            purpose: "treatment".into(),
            staff_user: "bench".into(),
            timeout: Duration::from_secs(10),
            concurrency: 1,
            only: None,
        };
        search_patients(&hospital, transport.clone(), warm).await.context("the warm-up read failed")?;
        println!("audited authorized reads, 1 hospital -> 1 patient over loopback libp2p, ~1 KB record");
        for concurrency in [1usize, 16] {
            let started = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            let per = n / concurrency;
            for _ in 0..concurrency {
                let (h, t) = (hospital.clone(), transport.clone());
                tasks.spawn(async move {
                    let mut lat: Vec<Duration> = Vec::with_capacity(per);
                    for _ in 0..per {
                        let t0 = Instant::now();
                        let r = search_patients(
                            &h,
                            t.clone(),
                            FanOut {
                                query: "diabetes".into(),
                                purpose: "treatment".into(),
                                staff_user: "bench".into(),
                                timeout: Duration::from_secs(10),
                                concurrency: 1,
                                only: None,
                            },
                        )
                        .await
                        .context("a read failed")?;
                        match &r.patients[0].2 {
                            PatientOutcome::Answered(a) if !a.refused && a.records.len() == 1 && a.paid == 500_000 => {}
                            other => bail!("unexpected outcome: {other:?}"),
                        }
                        lat.push(t0.elapsed());
                    }
                    Ok(lat)
                });
            }
            let mut all = Vec::new();
            while let Some(r) = tasks.join_next().await {
                all.extend(r.context("a reader task died")??);
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "  concurrency {concurrency:>2}: {:>6.0} reads/s   p50 {:.2} ms   p99 {:.2} ms   ({} reads)",
                all.len() as f64 / secs,
                pct(&mut all, 0.5),
                pct(&mut all, 0.99),
                all.len()
            );
        }
        let audit = patient.ledger().read(|l| l.access_by_owner(&patient.account()).len());
        println!("  patient's audit trail: {audit} Access blocks");
        Ok(())
    })
}
