//! The fan-out of a hospital's search over `access::InProcess`: real nodes on temp dirs
//! (real RocksDB, keys, signatures, the owner's real `answer`), no libp2p. The timeout,
//! the concurrency bound, the checks and the payments are the fan-out's own code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Dir, add_condition, make, sync};
use pdc_daemon::access::{
    DataTransport, FanOut, InProcess, PatientOutcome, claim_payments, grant, revoke,
    search_patients,
};
use pdc_daemon::config::{Config, Role};
use pdc_daemon::ledger::{AccountId, Genesis, Movement};
use pdc_daemon::node::Node;
use pdc_proto::wire::{DataRequest, DataResponse};

const PRICE: u64 = 500_000;

/// A hospital and its patients, each a real node on its own genesis-sharing temp dir.
struct Net {
    _dirs: Vec<Dir>,
    hospital: Arc<Node>,
    patients: Vec<Arc<Node>>,
}

/// Opens a hospital and `n` patients, each with one diabetes record.
async fn network(n: usize) -> Net {
    let dh = make(Role::Hospital, "Hospital1");
    let dps: Vec<Dir> = (0..n)
        .map(|i| make(Role::Patient, &format!("P{i}")))
        .collect();
    let genesis = Genesis::new("fanout-test", PRICE)
        .with_balance(dh.account, 100_000_000)
        .expect("genesis");
    let hospital = open(&dh, &genesis).await;
    let mut patients = Vec::new();
    for d in &dps {
        let p = open(d, &genesis).await;
        add_condition(&p, "Type 2 diabetes mellitus").await;
        patients.push(p);
    }
    let mut dirs = dps;
    dirs.push(dh);
    Net {
        _dirs: dirs,
        hospital,
        patients,
    }
}

async fn open(d: &Dir, genesis: &Genesis) -> Arc<Node> {
    let mut s = format!(
        "network_id = \"{}\"\ndefault_price = {}\n",
        genesis.network_id(),
        genesis.default_price()
    );
    for (a, amt) in genesis.balances() {
        s.push_str(&format!(
            "[[balances]]\naccount = \"{a}\"\namount = {amt}\n"
        ));
    }
    std::fs::write(d.dir.path().join("genesis.toml"), s).expect("genesis");
    let mut cfg = Config::load(&d.dir.path().join("config.toml")).expect("config");
    cfg.genesis = Some("genesis.toml".into());
    Node::open(cfg).await.expect("open")
}

/// `patient` grants the hospital `purposes`, and the hospital learns of it.
async fn consent(net: &Net, patient: &Arc<Node>, purposes: &[&str]) {
    grant(
        patient,
        net.hospital.account(),
        purposes.iter().map(|p| (*p).to_string()).collect(),
        "conditions".into(),
        0,
        PRICE,
    )
    .await
    .expect("grant");
    sync(patient, &net.hospital).await;
}

fn fan_out(timeout_ms: u64, concurrency: usize) -> FanOut {
    FanOut {
        query: "diabetes".into(),
        purpose: "treatment".into(),
        staff_user: "dr.ada".into(),
        timeout: Duration::from_millis(timeout_ms),
        concurrency,
        only: None,
    }
}

/// `InProcess` seen from the test: records who was asked and how many at once, delays
/// every request a little (so requests overlap), never answers for `silent`, and can
/// tamper with one patient's answer.
struct Watched {
    inner: InProcess,
    asked: Mutex<Vec<AccountId>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    silent: Option<AccountId>,
    tampered: Option<AccountId>,
}

impl Watched {
    fn new(inner: InProcess) -> Self {
        Self {
            inner,
            asked: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            silent: None,
            tampered: None,
        }
    }
}

impl DataTransport for Watched {
    async fn request(&self, patient: AccountId, req: DataRequest) -> Result<DataResponse, String> {
        self.asked.lock().unwrap().push(patient);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        if self.silent == Some(patient) {
            std::future::pending::<()>().await;
        }
        let r = self.inner.request(patient, req).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut r = r?;
        if self.tampered == Some(patient) {
            r.records.clear();
        }
        Ok(r)
    }
}

/// The hospital's counted Sends, by payee.
fn sends_by_payee(h: &Node) -> Vec<(AccountId, u64)> {
    h.ledger().read(|l| {
        l.movements(&h.account(), pdc_daemon::records::now_ms())
            .into_iter()
            .filter_map(|m| match m {
                Movement::Sent { to, amount, .. } => Some((to, amount)),
                Movement::Received { .. } => None,
            })
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_consenting_patients_are_answered_concurrently_and_each_is_paid_exactly_once() {
    let net = network(12).await;
    for p in &net.patients {
        consent(&net, p, &["treatment"]).await;
    }
    let t = Arc::new(Watched::new(
        InProcess::new(net.hospital.account()).with_all(net.patients.iter().cloned()),
    ));
    let started = Instant::now();
    let report = search_patients(&net.hospital, t.clone(), fan_out(10_000, 4))
        .await
        .expect("search");
    assert_eq!(report.patients.len(), 12);
    for (acct, _, o) in &report.patients {
        let PatientOutcome::Answered(a) = o else {
            panic!("{} not answered: {o:?}", acct.fingerprint())
        };
        assert!(!a.refused, "{}", a.reason);
        assert_eq!((a.patient, a.records.len(), a.paid), (*acct, 1, PRICE));
        assert!(a.payment.is_some());
    }
    let max = t.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=4).contains(&max), "{max} requests in flight at most");
    let mut sends = sends_by_payee(&net.hospital);
    sends.sort();
    let mut want: Vec<(AccountId, u64)> =
        net.patients.iter().map(|p| (p.account(), PRICE)).collect();
    want.sort();
    assert_eq!(sends, want, "one Send of the price per patient");
    // Each patient claims its payment once; a second claim finds nothing.
    for p in &net.patients {
        sync(&net.hospital, p).await;
        assert_eq!(claim_payments(p).await.expect("claim").len(), 1);
        assert!(claim_payments(p).await.expect("claim").is_empty());
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_unreachable_or_lying_patient_does_not_stop_the_others() {
    let net = network(5).await;
    for p in &net.patients {
        consent(&net, p, &["treatment"]).await;
    }
    let [ok1, ok2, gone, silent, liar] = [0, 1, 2, 3, 4].map(|i| net.patients[i].clone());
    let mut t = Watched::new(InProcess::new(net.hospital.account()).with_all([
        ok1.clone(),
        ok2.clone(),
        silent.clone(),
        liar.clone(),
    ]));
    t.silent = Some(silent.account());
    t.tampered = Some(liar.account());
    let report = search_patients(&net.hospital, Arc::new(t), fan_out(1_000, 8))
        .await
        .expect("search");
    let outcome = |n: &Arc<Node>| {
        report
            .patients
            .iter()
            .find(|(a, _, _)| *a == n.account())
            .map(|(_, _, o)| o.clone())
            .expect("every consenting patient is reported")
    };
    for n in [&ok1, &ok2] {
        assert!(
            matches!(outcome(n), PatientOutcome::Answered(a) if a.paid == PRICE),
            "{:?}",
            outcome(n)
        );
    }
    let reason = |o: PatientOutcome| match o {
        PatientOutcome::Offline { reason } | PatientOutcome::Invalid { reason } => reason,
        PatientOutcome::Answered(a) => panic!("answered: {a:?}"),
    };
    assert!(matches!(outcome(&gone), PatientOutcome::Offline { .. }));
    assert!(reason(outcome(&gone)).contains("not reachable"));
    assert!(matches!(outcome(&silent), PatientOutcome::Offline { .. }));
    assert!(reason(outcome(&silent)).contains("no answer within 1000 ms"));
    assert!(matches!(outcome(&liar), PatientOutcome::Invalid { .. }));
    assert!(reason(outcome(&liar)).contains("do not match"));
    let mut paid: Vec<AccountId> = sends_by_payee(&net.hospital)
        .into_iter()
        .map(|s| s.0)
        .collect();
    paid.sort();
    let mut want = vec![ok1.account(), ok2.account()];
    want.sort();
    assert_eq!(paid, want, "only the checked answers are paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_without_a_live_grant_for_the_purpose_is_never_asked() {
    let net = network(4).await;
    let [treat, research, revoked, _no_grant] = [0, 1, 2, 3].map(|i| net.patients[i].clone());
    consent(&net, &treat, &["treatment", "research"]).await;
    consent(&net, &research, &["research"]).await;
    let b = grant(
        &revoked,
        net.hospital.account(),
        vec!["treatment".into()],
        "conditions".into(),
        0,
        PRICE,
    )
    .await
    .expect("grant");
    let gid = match b.kind() {
        pdc_daemon::ledger::Kind::ConsentGrant(g) => g.grant_id.clone(),
        _ => unreachable!("a grant block"),
    };
    revoke(&revoked, gid).await.expect("revoke");
    sync(&revoked, &net.hospital).await;
    let t = Arc::new(Watched::new(
        InProcess::new(net.hospital.account()).with_all(net.patients.iter().cloned()),
    ));
    let report = search_patients(&net.hospital, t.clone(), fan_out(10_000, 4))
        .await
        .expect("search");
    assert_eq!(*t.asked.lock().unwrap(), vec![treat.account()]);
    let asked: Vec<AccountId> = report.patients.iter().map(|p| p.0).collect();
    assert_eq!(asked, vec![treat.account()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fan_out_config_bounds_who_is_asked_and_how_many_at_once() {
    let net = network(4).await;
    for p in &net.patients {
        consent(&net, p, &["treatment"]).await;
    }
    let transport = || {
        Arc::new(Watched::new(
            InProcess::new(net.hospital.account()).with_all(net.patients.iter().cloned()),
        ))
    };
    // Concurrency 1: one request at a time, every patient still asked.
    let t = transport();
    let report = search_patients(&net.hospital, t.clone(), fan_out(10_000, 1))
        .await
        .expect("search");
    assert_eq!(t.max_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(report.patients.len(), 4);
    // `only`: that patient alone.
    let t = transport();
    let mut one = fan_out(10_000, 4);
    one.only = Some((net.patients[2].account(), "P2".into()));
    let report = search_patients(&net.hospital, t.clone(), one)
        .await
        .expect("search");
    assert_eq!(*t.asked.lock().unwrap(), vec![net.patients[2].account()]);
    assert_eq!(report.patients.len(), 1);
    // A query or purpose the fan-out refuses asks nobody.
    let t = transport();
    let mut long = fan_out(10_000, 4);
    long.query = "x".repeat(pdc_daemon::access::MAX_QUERY_CHARS + 1);
    assert!(
        search_patients(&net.hospital, t.clone(), long)
            .await
            .is_err()
    );
    let mut bad = fan_out(10_000, 4);
    bad.purpose = "curiosity".into();
    assert!(
        search_patients(&net.hospital, t.clone(), bad)
            .await
            .is_err()
    );
    assert!(t.asked.lock().unwrap().is_empty());
}
