//! The access guard in the owner's decision path, on real nodes (each its own RocksDB,
//! keys and, where it says so, libp2p swarm on 127.0.0.1).
//!
//! The patient's node judges requests at its guard clock. These tests set it to a
//! manual clock, so ordinary traffic can be spaced minutes apart and a burst seconds
//! apart without the test taking that long, and so nothing depends on the hour the
//! test happens to run at. Real daemon processes would need real minutes between
//! ordinary searches (searches seconds apart are themselves a burst), which is why
//! the two-hospital scenario runs in-process.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Dir, add_condition, make, request};
use pdc_daemon::access::{
    CheckedAnswer, FanOut, PatientOutcome, answer_at, grant, search_patients,
};
use pdc_daemon::config::{Config, Role};
use pdc_daemon::guard::Clock;
use pdc_daemon::ledger::{AccessDecision, AccountId};
use pdc_daemon::net::NetClient;
use pdc_daemon::node::Node;
use pdc_daemon::peering::NetTransport;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;

/// Price of one access in the test genesis, and what every grant here charges.
const PRICE: u64 = 500_000;

/// Opens a node on `genesis` (TOML text), with `tweak` applied to its config.
async fn open(
    d: &Dir,
    genesis: &str,
    bootstrap: Vec<String>,
    tweak: impl FnOnce(&mut Config),
) -> Arc<Node> {
    std::fs::write(d.dir.path().join("genesis.toml"), genesis).expect("genesis");
    let mut cfg = Config::load(&d.dir.path().join("config.toml")).expect("config");
    cfg.genesis = Some("genesis.toml".into());
    cfg.bootstrap = bootstrap;
    tweak(&mut cfg);
    Node::open(cfg).await.expect("open")
}

async fn wait(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Midnight UTC of today, so simulated request times stay close to real ones.
fn today() -> u64 {
    pdc_daemon::records::now_ms() / DAY * DAY
}

/// A node with its network started.
struct Peer {
    node: Arc<Node>,
    net: NetClient,
}

async fn start(d: &Dir, genesis: &str, bootstrap: Vec<String>) -> Peer {
    let node = open(d, genesis, bootstrap, |_| {}).await;
    let (net, _task) = pdc_daemon::peering::start(node.clone())
        .await
        .expect("network");
    Peer { node, net }
}

impl Peer {
    async fn addr(&self) -> String {
        let listen = self.net.listen_addrs().await.expect("addrs");
        format!("{}/p2p/{}", listen[0], self.net.local_peer_id())
    }

    /// A hospital search over libp2p to every consenting patient (here: one), checked
    /// against the patient's Access block and paid, as the hospital portal does it.
    async fn search(&self, query: &str, staff: &str) -> CheckedAnswer {
        let report = search_patients(
            &self.node,
            Arc::new(NetTransport {
                client: self.net.clone(),
            }),
            FanOut {
                query: query.into(),
                purpose: "treatment".into(),
                staff_user: staff.into(),
                timeout: Duration::from_secs(20),
                concurrency: 1,
                only: None,
            },
        )
        .await
        .expect("search");
        assert_eq!(report.patients.len(), 1, "one consenting patient");
        match report.patients.into_iter().next().map(|p| p.2) {
            Some(PatientOutcome::Answered(a)) => a,
            other => panic!("search for {query:?}: {other:?}"),
        }
    }
}

/// GET `path` from the node's real HTTP API, served on a loopback port.
async fn api_get(node: &Arc<Node>, path: &str) -> Value {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = pdc_daemon::api::router(node.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        node.identity().api_token.as_str()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.expect("read");
    server.abort();
    let at = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head");
    let status = String::from_utf8_lossy(&resp[..at]).to_string();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    serde_json::from_slice(&resp[at + 4..]).expect("JSON body")
}

/// Diseases across many ICD-10-CM blocks: what a bulk pull walks through.
const MANY_DISEASES: &[&str] = &[
    "diabetes",
    "hypertension",
    "asthma",
    "copd",
    "pneumonia",
    "tuberculosis",
    "hiv",
    "breast cancer",
    "lung cancer",
    "melanoma",
    "leukemia",
    "lymphoma",
    "anemia",
    "hypothyroidism",
    "obesity",
    "depression",
    "schizophrenia",
    "bipolar disorder",
    "anxiety",
    "alcohol dependence",
    "epilepsy",
    "migraine",
    "parkinson disease",
    "alzheimer disease",
    "multiple sclerosis",
    "cataract",
    "glaucoma",
    "myocardial infarction",
    "heart failure",
    "stroke",
    "gastritis",
    "crohn disease",
    "cirrhosis",
    "rheumatoid arthritis",
    "osteoarthritis",
    "osteoporosis",
    "kidney failure",
    "urinary tract infection",
    "prostate cancer",
    "psoriasis",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_pull_across_many_diseases_is_denied_and_ordinary_traffic_is_never_flagged() {
    let (da, db, dp) = (
        make(Role::Hospital, "HospitalA"),
        make(Role::Hospital, "HospitalB"),
        make(Role::Patient, "Alice"),
    );
    let genesis = format!(
        "network_id = \"guard-net\"\ndefault_price = {PRICE}\n\
         [[balances]]\naccount = \"{}\"\namount = 1000000000\n\
         [[balances]]\naccount = \"{}\"\namount = 1000000000\n",
        da.account, db.account
    );
    let alice = start(&dp, &genesis, vec![]).await;
    let boot = alice.addr().await;
    let ha = start(&da, &genesis, vec![boot.clone()]).await;
    let hb = start(&db, &genesis, vec![boot]).await;
    let all = [&alice, &ha, &hb];
    wait(30, "every Register block on every node", || {
        all.iter()
            .all(|p| p.node.ledger().read(|l| l.heads().len()) == 3)
    })
    .await;

    for c in [
        "Type 2 diabetes mellitus",
        "Essential hypertension",
        "Asthma",
    ] {
        add_condition(&alice.node, c).await;
    }
    for h in [&ha, &hb] {
        grant(
            &alice.node,
            h.node.account(),
            vec!["treatment".into()],
            "conditions".into(),
            0,
            PRICE,
        )
        .await
        .expect("grant");
    }
    wait(30, "both hospitals to learn their grants", || {
        [&ha, &hb].iter().all(|h| {
            h.node
                .ledger()
                .read(|l| l.grants_for_grantee(&h.node.account()).len())
                == 1
        })
    })
    .await;

    // 03:00 UTC on a brand-new patient node: the hour a fixed "clinical day" prior
    // would have held against both hospitals.
    let start_at = today() + 3 * HOUR;
    let clock = Clock::manual(start_at);
    alice.node.guard().set_clock(clock.clone());

    // Hospital A: a clinician's ordinary searches, minutes apart, a few diseases.
    let ordinary = [
        (0, "type 2 diabetes"),
        (6, "hypertension"),
        (14, "asthma"),
        (23, "diabetes"),
        (37, "high blood pressure"),
        (52, "asthma"),
    ];
    for (minute, q) in ordinary {
        clock.set(start_at + minute * MIN);
        let a = ha.search(q, "dr.ada").await;
        assert!(
            !a.refused && a.reason.contains("access guard: allow score="),
            "ordinary search {q:?} at +{minute} min: {}",
            a.reason
        );
    }

    // Hospital B suddenly pulls hundreds of requests across many diseases, 2 s apart.
    let burst_at = start_at + 70 * MIN;
    clock.set(burst_at);
    let mut first_denied: Option<(usize, String)> = None;
    for i in 0..200 {
        clock.advance(2_000);
        let q = MANY_DISEASES[i % MANY_DISEASES.len()];
        let a = hb.search(q, "svc.export").await;
        match (&first_denied, a.refused) {
            (None, true) => {
                assert!(
                    a.reason.starts_with("access guard: deny score="),
                    "B refused by the guard, not by consent or payment: {}",
                    a.reason
                );
                first_denied = Some((i + 1, a.reason.clone()));
            }
            (Some((n, _)), false) => {
                panic!(
                    "B's request {} answered after the denial at {n}: {}",
                    i + 1,
                    a.reason
                )
            }
            _ => {}
        }
    }
    let (n, why) = first_denied.expect("the bulk pull was never denied");
    assert!(n <= 5, "denied only at B's request {n}: {why}");

    // A keeps working normally after B's pull, judged on its own behaviour.
    for (minute, q) in [(95, "diabetes"), (118, "hypertension")] {
        clock.set(start_at + minute * MIN);
        let a = ha.search(q, "dr.ada").await;
        assert!(
            !a.refused && a.reason.contains("access guard: allow score="),
            "A's search {q:?} after B's pull: {}",
            a.reason
        );
    }

    // The patient's audit (the real HTTP API) shows every decision with its reason.
    let audit = api_get(&alice.node, "/api/v1/audit").await;
    let rows = audit["accesses"].as_array().expect("accesses");
    let of = |acct: &AccountId| -> Vec<&Value> {
        rows.iter()
            .filter(|r| r["requester"] == acct.to_string().as_str())
            .collect()
    };
    let (a_rows, b_rows) = (of(&ha.node.account()), of(&hb.node.account()));
    assert_eq!(a_rows.len(), ordinary.len() + 2);
    for r in &a_rows {
        assert_eq!(r["decision"], "granted", "A never flagged: {r}");
        assert!(
            r["reason"]
                .as_str()
                .is_some_and(|s| s.contains("access guard: allow score=")),
            "{r}"
        );
    }
    assert_eq!(b_rows.len(), 200);
    let denials: Vec<&str> = b_rows
        .iter()
        .filter(|r| r["decision"] == "denied")
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert!(denials.len() >= 195, "{} of B's 200 denied", denials.len());
    assert!(
        denials
            .iter()
            .all(|r| r.starts_with("access guard: deny score=")),
        "{denials:?}"
    );
    assert!(
        b_rows
            .iter()
            .all(|r| r["requester_name"] == "HospitalB" && r["staff_user"] == "svc.export"),
        "the audit names who asked"
    );
    // The reasons are in words: how fast and how broad B was, against what is usual.
    assert!(
        denials
            .iter()
            .any(|r| r.contains("distinct disease categories")),
        "{why}\n{}",
        denials.last().copied().unwrap_or_default()
    );
    assert!(why.contains("; usual"), "{why}");
    // The ledger agrees: the same decisions as Access blocks on the patient's chain.
    let flagged = alice.node.ledger().read(|l| {
        l.access_by_owner(&alice.node.account())
            .iter()
            .filter(|a| a.decision == AccessDecision::Flagged && a.requester == ha.node.account())
            .count()
    });
    assert_eq!(flagged, 0);
}

#[tokio::test]
async fn a_brand_new_node_grants_ordinary_first_requests_at_every_hour() {
    let hospital = make(Role::Hospital, "Hospital1");
    let genesis = "network_id = \"hours-net\"\ndefault_price = 500000\n";
    for hour in 0..24 {
        let d = make(Role::Patient, &format!("P{hour}"));
        let node = open(&d, genesis, vec![], |_| {}).await;
        add_condition(&node, "Type 2 diabetes mellitus").await;
        grant(
            &node,
            hospital.account,
            vec!["treatment".into()],
            "conditions".into(),
            0,
            PRICE,
        )
        .await
        .expect("grant");
        let start_at = today() + hour * HOUR + 7 * MIN;
        for (minute, q) in [
            (0, "diabetes"),
            (4, "hypertension"),
            (13, "type 2 diabetes"),
        ] {
            let r = answer_at(
                &node,
                hospital.account,
                request(q, "treatment", "dr.ada"),
                start_at + minute * MIN,
            )
            .await
            .expect("answer");
            assert!(
                !r.refused && r.reason.contains("access guard: allow score="),
                "{hour:02}:{:02} UTC, {q:?}: {}",
                7 + minute,
                r.reason
            );
        }
        node.store().close().await;
    }
}

#[tokio::test]
async fn a_denial_can_revoke_the_grant_on_the_ledger() {
    let hospital = make(Role::Hospital, "Hospital1");
    let d = make(Role::Patient, "Alice");
    let genesis = "network_id = \"revoke-net\"\ndefault_price = 500000\n";
    let node = open(&d, genesis, vec![], |c| {
        c.guard.revoke_on_deny = true;
        c.guard.max_requests_per_minute = 3;
    })
    .await;
    add_condition(&node, "Asthma").await;
    let g = grant(
        &node,
        hospital.account,
        vec!["treatment".into()],
        "conditions".into(),
        0,
        PRICE,
    )
    .await
    .expect("grant");
    let t = today() + 10 * HOUR;
    let mut last = None;
    // Four requests 18 s apart: the fourth is one more than 3 in a minute.
    for i in 0..4 {
        let r = answer_at(
            &node,
            hospital.account,
            request("asthma", "treatment", "dr.ada"),
            t + i * 18_000,
        )
        .await
        .expect("answer");
        last = Some(r);
    }
    let r = last.expect("answers");
    assert!(r.refused, "{}", r.reason);
    assert!(
        r.reason
            .contains("4 requests in the last minute; the limit is 3")
            && r.reason
                .contains("1 grant(s) of this requester revoked on the ledger"),
        "{}",
        r.reason
    );
    let revoked = node.ledger().read(|l| {
        l.grants_by_patient(&node.account())
            .into_iter()
            .find(|x| x.block == g.hash())
            .is_some_and(|x| x.revoked_by.is_some())
    });
    assert!(revoked, "a ConsentRevoke block on the patient's chain");
    // An hour later the rate is ordinary again, but there is no grant any more.
    let later = answer_at(
        &node,
        hospital.account,
        request("asthma", "treatment", "dr.ada"),
        t + HOUR,
    )
    .await
    .expect("answer");
    assert!(
        later.refused && later.reason.contains("revoked"),
        "{}",
        later.reason
    );
}
