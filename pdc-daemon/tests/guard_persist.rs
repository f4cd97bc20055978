//! What the access guard learned survives a restart of the node: saved on request,
//! and by the real daemon when it is stopped with SIGTERM.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Dir, add_condition, make, sync};
use pdc_daemon::access::{FanOut, PatientOutcome, grant, search_patients};
use pdc_daemon::config::{Config, Role};
use pdc_daemon::guard::RequestContext;
use pdc_daemon::node::{Node, init};
use pdc_daemon::peering::NetTransport;

#[tokio::test]
async fn guard_state_is_saved_and_restored() {
    let dir = tempfile::tempdir().expect("tmp");
    init(dir.path(), Role::Patient, "Guarded").expect("init");
    let cfg = Config::load(&dir.path().join("config.toml")).expect("config");
    let node = Node::open(cfg.clone()).await.expect("open");
    let fresh = node.guard().snapshot();
    let now = pdc_daemon::records::now_ms();
    for i in 0..20u64 {
        let ctx = RequestContext {
            requester: "hospital-a".into(),
            staff_user: Some("dr.ada".into()),
            query: format!("asthma {}", i % 3),
            disease_category: Some("J40-J4A".into()),
            purpose: "treatment".into(),
            now_ms: now + i * 60_000,
        };
        node.guard().assess(&ctx);
        node.guard().outcome(&ctx, 1, false);
    }
    let learned = node.guard().snapshot();
    assert!(learned != fresh, "the guard learned from the requests");
    node.guard().save().await.expect("save");
    node.store().close().await;
    drop(node);

    let again = Node::open(cfg).await.expect("reopen");
    // Compare the learned state, not the bytes: maps serialize in any order, and restore
    // rebuilds the forest from the saved history, which bumps its rebuild counter.
    let state = learned_state;
    let restored = state(&again.guard().snapshot());
    assert!(
        restored == state(&learned),
        "a restart keeps what the guard learned"
    );
    assert!(restored != state(&fresh), "and it is not the fresh prior");
}

/// The guard's learned state as JSON, without the forest's rebuild counter (restore
/// rebuilds the forest from the saved history, which bumps it).
fn learned_state(snapshot: &[u8]) -> serde_json::Value {
    let mut v = serde_json::from_slice::<serde_json::Value>(snapshot).expect("json snapshot");
    if let Some(m) = v.get_mut("model").and_then(|m| m.as_object_mut()) {
        m.remove("generation");
    }
    v
}

/// Opens `d` in-process on `genesis` (a file in its directory).
async fn open(d: &Dir, genesis: &str) -> Arc<Node> {
    std::fs::write(d.dir.path().join("genesis.toml"), genesis).expect("genesis");
    let mut cfg = Config::load(&d.dir.path().join("config.toml")).expect("config");
    cfg.genesis = Some("genesis.toml".into());
    Node::open(cfg).await.expect("open")
}

/// Runs the real `pdc-daemon` on the patient's directory, bootstrapping to the
/// hospital; the hospital searches it three times over libp2p; the daemon is then
/// stopped with `signal` ("TERM" or "KILL"). Returns the guard state the patient's
/// directory holds afterwards, and the fresh prior's.
async fn guard_after_daemon_stopped_with(signal: &str) -> (serde_json::Value, serde_json::Value) {
    let (dh, dp) = (make(Role::Hospital, "Clinic"), make(Role::Patient, "Alice"));
    let genesis = format!(
        "network_id = \"guard-sigterm\"\ndefault_price = 500000\n\
         [[balances]]\naccount = \"{}\"\namount = 1000000000\n",
        dh.account
    );
    // Alice grants the clinic and records a condition, then stops (her daemon takes
    // over the directory); the clinic has learned the grant.
    let hospital = open(&dh, &genesis).await;
    let fresh = {
        let alice = open(&dp, &genesis).await;
        add_condition(&alice, "Asthma").await;
        grant(
            &alice,
            dh.account,
            vec!["treatment".into()],
            "all".into(),
            0,
            500_000,
        )
        .await
        .expect("grant");
        sync(&alice, &hospital).await;
        sync(&hospital, &alice).await;
        let fresh = alice.guard().snapshot();
        alice.store().close().await;
        fresh
    };
    let (net, _task) = pdc_daemon::peering::start(hospital.clone())
        .await
        .expect("network");
    let listen = net.listen_addrs().await.expect("addrs");
    let boot = format!("{}/p2p/{}", listen[0], net.local_peer_id());

    let log = dp.dir.path().join("daemon.log");
    let mut daemon: Child = Command::new(env!("CARGO_BIN_EXE_pdc-daemon"))
        .args(["run", "--api-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dp.dir.path())
        .env("PDC_GENESIS", dp.dir.path().join("genesis.toml"))
        .env("PDC_BOOTSTRAP", &boot)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn pdc-daemon");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answered = 0;
    while answered < 3 {
        assert!(
            Instant::now() < deadline,
            "the patient's daemon did not answer three searches within 60 s: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let report = search_patients(
            &hospital,
            Arc::new(NetTransport {
                client: net.clone(),
            }),
            FanOut {
                query: "asthma".into(),
                purpose: "treatment".into(),
                staff_user: "dr.ada".into(),
                timeout: Duration::from_secs(5),
                concurrency: 1,
                only: None,
            },
        )
        .await
        .expect("search");
        match report.patients.first() {
            // Answered (allowed or refused by the guard): either way the guard judged it.
            Some((_, _, PatientOutcome::Answered(_))) => answered += 1,
            // Not connected yet: the daemon is still starting or dialling.
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let kill = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(daemon.id().to_string())
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .expect("join")
        .expect("wait");
    if signal == "TERM" {
        assert!(status.success(), "a clean stop after SIGTERM, got {status}");
    }
    let _ = net.shutdown().await;

    let alice = open(&dp, &genesis).await;
    let after = learned_state(&alice.guard().snapshot());
    alice.store().close().await;
    (after, learned_state(&fresh))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_saves_what_its_guard_learned_when_stopped_with_sigterm() {
    let (after_term, fresh) = guard_after_daemon_stopped_with("TERM").await;
    assert!(
        after_term != fresh,
        "after SIGTERM the directory holds what the guard learned from the three searches"
    );
    // The control: without a clean stop (and within the minute between periodic
    // saves) nothing was saved, so the state above came from the SIGTERM path.
    let (after_kill, fresh) = guard_after_daemon_stopped_with("KILL").await;
    assert!(
        after_kill == fresh,
        "SIGKILL within a minute of starting leaves the saved guard state as it was"
    );
}
