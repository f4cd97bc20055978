//! The access flow between real nodes (real stores, keys and signatures), with the
//! transport replaced by handing blocks and messages over directly: the owner decides
//! from the ledger's grants and the authenticated requester, logs every request in an
//! `Access` block, the requester checks the answer against that block and pays, the
//! patient claims the payment.

mod common;

use std::sync::Arc;

use common::{Dir, add_condition, make, request, sync};
use pdc_daemon::access::{
    DataTransport, FanOut, PatientOutcome, SearchReport, accept_and_pay, answer, claim_payments,
    grant, revoke, search_patients,
};
use pdc_daemon::config::{Config, Role};
use pdc_daemon::guard::Clock;
use pdc_daemon::ledger::{AccessDecision, Genesis};
use pdc_daemon::node::Node;
use pdc_proto::records::record::Body;
use pdc_proto::wire::{DataRequest, DataResponse};

/// Opens a node on the network's genesis (written into its data directory).
async fn open(d: &Dir, genesis: &Genesis, unpaid_after_secs: u64) -> Arc<Node> {
    std::fs::write(d.dir.path().join("genesis.toml"), genesis_toml(genesis)).expect("genesis");
    let mut cfg = Config::load(&d.dir.path().join("config.toml")).expect("config");
    cfg.genesis = Some("genesis.toml".into());
    cfg.unpaid_after_secs = unpaid_after_secs;
    Node::open(cfg).await.expect("open")
}

/// Every node of the test network uses the same genesis text.
fn genesis_toml(g: &Genesis) -> String {
    let mut s = format!(
        "network_id = \"{}\"\ndefault_price = {}\n",
        g.network_id(),
        g.default_price()
    );
    for (a, amt) in g.balances() {
        s.push_str(&format!(
            "[[balances]]\naccount = \"{a}\"\namount = {amt}\n"
        ));
    }
    s
}

#[tokio::test]
async fn granted_search_is_logged_paid_and_claimed_and_every_refusal_is_audited() {
    let (d1, d2, dp) = (
        make(Role::Hospital, "Hospital1"),
        make(Role::Hospital, "Hospital2"),
        make(Role::Patient, "Alice"),
    );
    let genesis = Genesis::new("access-test", 500_000)
        .with_balance(d1.account, 10_000_000)
        .and_then(|g| g.with_balance(d2.account, 10_000_000))
        .expect("genesis");
    let h1 = open(&d1, &genesis, 3600).await;
    // Hospital2 never pays; Alice refuses it once an access is older than 0 s unpaid.
    let h2 = open(&d2, &genesis, 3600).await;
    let alice = open(&dp, &genesis, 0).await;
    // The guard judges each request at a simulated time minutes after the previous one,
    // as a clinician's requests come; run back to back they would be a burst.
    let clock = Clock::manual(pdc_daemon::records::now_ms());
    alice.guard().set_clock(clock.clone());
    add_condition(&alice, "Type 2 diabetes mellitus").await;
    add_condition(&alice, "Prediabetes").await;
    add_condition(&alice, "Sprain of ankle").await;

    // No grant yet: refused, logged.
    clock.advance(5 * 60_000);
    let r = answer(
        &alice,
        h1.account(),
        request("diabetes", "treatment", "dr.ada"),
    )
    .await
    .expect("answer");
    assert!(r.refused && r.records.is_empty(), "{}", r.reason);
    assert!(r.reason.contains("no consent grant"), "{}", r.reason);

    let now = pdc_daemon::records::now_ms();
    let g1 = grant(
        &alice,
        h1.account(),
        vec!["treatment".into()],
        "all".into(),
        0,
        500_000,
    )
    .await
    .expect("grant");
    for n in [&h1, &h2] {
        sync(&alice, n).await;
        sync(n, &alice).await;
    }
    sync(&h1, &h2).await;
    assert_eq!(
        h1.ledger()
            .read(|l| l.grants_for_grantee(&h1.account()).len()),
        1,
        "the hospital learns its grants from the ledger"
    );

    // Granted: the matching record (not prediabetes) and the pseudonymized profile-less answer.
    let req = request("diabetes", "treatment", "dr.ada");
    clock.advance(5 * 60_000);
    let resp = answer(&alice, h1.account(), req.clone())
        .await
        .expect("answer");
    assert!(!resp.refused, "{}", resp.reason);
    let texts: Vec<String> = resp
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Some(Body::Condition(c)) => Some(c.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Type 2 diabetes mellitus"]);
    let checked = accept_and_pay(&h1, alice.account(), &req, resp.clone())
        .await
        .expect("checks and pays");
    assert_eq!(checked.paid, 500_000);
    assert!(checked.payment.is_some());

    // A tampered answer (a record swapped) is caught against the access block.
    let mut forged = resp.clone();
    if let Some(Body::Condition(c)) = forged.records.iter_mut().find_map(|r| r.body.as_mut()) {
        c.text = "something else".into();
    }
    let err = accept_and_pay(&h1, alice.account(), &req, forged)
        .await
        .expect_err("forgery caught");
    assert!(err.to_string().contains("do not match"), "{err}");

    // Alice sees the Send and claims it: her reward is 0.5 (pending in the quiet period).
    sync(&h1, &alice).await;
    let claimed = claim_payments(&alice).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let bal = alice
        .ledger()
        .read(|l| l.balance(&alice.account(), pdc_daemon::records::now_ms()));
    assert_eq!(bal.confirmed + bal.pending, 500_000);
    assert_eq!(
        claim_payments(&alice).await.expect("claim again").len(),
        0,
        "each Send is received once"
    );

    // Unauthorized matrix.
    clock.advance(5 * 60_000);
    let wrong_purpose = answer(
        &alice,
        h1.account(),
        request("diabetes", "research", "dr.ada"),
    )
    .await
    .expect("answer");
    assert!(
        wrong_purpose.refused
            && wrong_purpose
                .reason
                .contains("purpose 'research' is not granted"),
        "{}",
        wrong_purpose.reason
    );
    clock.advance(5 * 60_000);
    let not_grantee = answer(
        &alice,
        h2.account(),
        request("diabetes", "treatment", "dr.ada"),
    )
    .await
    .expect("answer");
    assert!(
        not_grantee.refused && not_grantee.reason.contains("no consent grant"),
        "{}",
        not_grantee.reason
    );
    // Expired grant.
    grant(
        &alice,
        h2.account(),
        vec!["treatment".into()],
        "all".into(),
        now + 1_000,
        500_000,
    )
    .await
    .expect("short grant");
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    clock.advance(5 * 60_000);
    let expired = answer(
        &alice,
        h2.account(),
        request("diabetes", "treatment", "dr.ada"),
    )
    .await
    .expect("answer");
    assert!(
        expired.refused && expired.reason.contains("expired"),
        "{}",
        expired.reason
    );
    // Unpaid: Hospital2 gets a live grant, reads, does not pay, asks again.
    grant(
        &alice,
        h2.account(),
        vec!["treatment".into()],
        "all".into(),
        0,
        500_000,
    )
    .await
    .expect("grant h2");
    clock.advance(5 * 60_000);
    let first = answer(
        &alice,
        h2.account(),
        request("sprain", "treatment", "dr.ada"),
    )
    .await
    .expect("answer");
    assert!(
        !first.refused && first.records.len() == 1,
        "{}",
        first.reason
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    clock.advance(5 * 60_000);
    let unpaid = answer(
        &alice,
        h2.account(),
        request("sprain", "treatment", "dr.ada"),
    )
    .await
    .expect("answer");
    assert!(
        unpaid.refused && unpaid.reason.contains("unpaid access"),
        "{}",
        unpaid.reason
    );
    // Revoked: Hospital1's next request is refused.
    let grant_id = alice
        .ledger()
        .read(|l| {
            l.grants_by_patient(&alice.account())
                .into_iter()
                .find(|g| g.block == g1.hash())
                .map(|g| g.grant_id)
        })
        .expect("grant");
    revoke(&alice, grant_id).await.expect("revoke");
    clock.advance(5 * 60_000);
    let revoked = answer(
        &alice,
        h1.account(),
        request("diabetes", "treatment", "dr.ada"),
    )
    .await
    .expect("answer");
    assert!(
        revoked.refused && revoked.reason.contains("revoked"),
        "{}",
        revoked.reason
    );
    for r in [&wrong_purpose, &not_grantee, &expired, &unpaid, &revoked] {
        assert!(
            r.records.is_empty(),
            "zero records on refusal: {}",
            r.reason
        );
    }

    // Every attempt is in Alice's audit trail with its decision and reason.
    let audit = alice.ledger().read(|l| l.access_by_owner(&alice.account()));
    assert_eq!(audit.len(), 8);
    assert!(
        audit
            .iter()
            .any(|a| a.requester == h2.account() && a.reason.contains("no consent grant"))
    );
    let denied = audit
        .iter()
        .filter(|a| a.decision == AccessDecision::Denied)
        .count();
    assert_eq!(denied, 6);
    assert!(
        audit
            .iter()
            .all(|a| !a.reason.is_empty() && a.staff_user == "dr.ada")
    );
    assert!(audit.iter().any(|a| a.reason.contains("unpaid")));
}

/// A patient's node that lies: it answers through the real [`answer`] path and then
/// tampers with the response before it reaches the requester, as a patient running
/// modified software could. `tamper` sees the request and the honest answer.
struct LyingPatient<F> {
    node: Arc<Node>,
    requester: pdc_daemon::ledger::AccountId,
    tamper: F,
}

impl<F> DataTransport for LyingPatient<F>
where
    F: Fn(&DataRequest, DataResponse) -> DataResponse + Send + Sync + 'static,
{
    async fn request(
        &self,
        _patient: pdc_daemon::ledger::AccountId,
        req: DataRequest,
    ) -> Result<DataResponse, String> {
        let honest = answer(&self.node, self.requester, req.clone())
            .await
            .map_err(|e| e.to_string())?;
        Ok((self.tamper)(&req, honest))
    }
}

/// A fan-out search for "diabetes" by `hospital` that asks only `patient`'s node, through
/// it.
async fn ask_through<F>(hospital: &Arc<Node>, patient: LyingPatient<F>, label: &str) -> SearchReport
where
    F: Fn(&DataRequest, DataResponse) -> DataResponse + Send + Sync + 'static,
{
    let only = Some((patient.node.account(), label.to_owned()));
    search_patients(
        hospital,
        Arc::new(patient),
        FanOut {
            query: "diabetes".into(),
            purpose: "treatment".into(),
            staff_user: "dr.ada".into(),
            timeout: std::time::Duration::from_secs(10),
            concurrency: 4,
            only,
        },
    )
    .await
    .expect("search")
}

/// The requester's own chain head: a payment would move it.
fn head_seq(n: &Node) -> u64 {
    n.ledger()
        .read(|l| l.head(&n.account()).map_or(0, |h| h.seq))
}

#[tokio::test]
async fn the_requester_pays_only_for_an_answer_whose_access_block_is_its_own_request() {
    let (dh, dh2, da, db) = (
        make(Role::Hospital, "Hospital1"),
        make(Role::Hospital, "Hospital2"),
        make(Role::Patient, "Alice"),
        make(Role::Patient, "Bob"),
    );
    let genesis = Genesis::new("answer-checks", 500_000)
        .with_balance(dh.account, 10_000_000)
        .and_then(|g| g.with_balance(dh2.account, 10_000_000))
        .expect("genesis");
    let h1 = open(&dh, &genesis, 3600).await;
    let h2 = open(&dh2, &genesis, 3600).await;
    let alice = open(&da, &genesis, 3600).await;
    let bob = open(&db, &genesis, 3600).await;
    let clock = Clock::manual(pdc_daemon::records::now_ms());
    for p in [&alice, &bob] {
        p.guard().set_clock(clock.clone());
        add_condition(p, "Type 2 diabetes mellitus").await;
        for h in [&h1, &h2] {
            grant(
                p,
                h.account(),
                vec!["treatment".into()],
                "all".into(),
                0,
                500_000,
            )
            .await
            .expect("grant");
        }
    }
    for p in [&alice, &bob] {
        for h in [&h1, &h2] {
            sync(p, h).await;
            sync(h, p).await;
        }
    }
    let before = head_seq(&h1);
    let refused = |err: pdc_daemon::access::AccessError, want: &str| {
        let msg = err.to_string();
        assert!(
            msg.contains("does not check out") && msg.contains(want),
            "expected a refusal naming '{want}', got: {msg}"
        );
    };

    // Alice's honest answer to Hospital2, handed to Hospital1 for the same request:
    // the Access block names another requester.
    let req = request("diabetes", "treatment", "dr.ada");
    clock.advance(5 * 60_000);
    let to_h2 = answer(&alice, h2.account(), req.clone())
        .await
        .expect("answer");
    assert!(!to_h2.refused, "{}", to_h2.reason);
    let err = accept_and_pay(&h1, alice.account(), &req, to_h2)
        .await
        .expect_err("another requester's answer is refused");
    refused(err, "another request");

    // An answer to one of Hospital1's requests offered for another of its requests.
    let (asked, other) = (
        request("diabetes", "treatment", "dr.ada"),
        request("diabetes", "treatment", "dr.ada"),
    );
    clock.advance(5 * 60_000);
    let old = answer(&alice, h1.account(), asked).await.expect("answer");
    let err = accept_and_pay(&h1, alice.account(), &other, old.clone())
        .await
        .expect_err("an answer to another request id is refused");
    refused(err, "another request");

    // Records without the Access block that logs them.
    let mut unlogged = old.clone();
    unlogged.access_block = None;
    let err = accept_and_pay(&h1, alice.account(), &other, unlogged)
        .await
        .expect_err("an answer without an Access block is refused");
    refused(err, "no access block");

    // Alice's grant block offered as the Access block.
    let grant_bytes = alice.ledger().read(|l| {
        l.grants_by_patient(&alice.account())
            .first()
            .and_then(|g| l.block(&g.block))
            .map(|b| b.bytes().to_vec())
            .expect("a grant block")
    });
    let mut not_access = old.clone();
    not_access.access_block =
        Some(prost::Message::decode(grant_bytes.as_slice()).expect("signed block"));
    let err = accept_and_pay(&h1, alice.account(), &other, not_access)
        .await
        .expect_err("a block of another kind is refused");
    refused(err, "not an Access block");

    // Bob's answer passed off as Alice's.
    let req = request("diabetes", "treatment", "dr.ada");
    clock.advance(5 * 60_000);
    let from_bob = answer(&bob, h1.account(), req.clone())
        .await
        .expect("answer");
    let err = accept_and_pay(&h1, alice.account(), &req, from_bob)
        .await
        .expect_err("another patient's answer is refused");
    refused(err, "instead of the patient");
    assert_eq!(
        head_seq(&h1),
        before,
        "nothing refused was stored or paid: the requester's chain did not move"
    );

    // Through the fan-out: an answer with a record added beyond the Access block's
    // hashes is reported `Invalid`, with the reason, and not paid; the honest patient
    // in the same search is answered and paid.
    let lying = LyingPatient {
        node: alice.clone(),
        requester: h1.account(),
        tamper: |_: &DataRequest, mut r: DataResponse| {
            let mut extra = r.records[0].clone();
            extra.id = "smuggled".into();
            r.records.push(extra);
            r
        },
    };
    clock.advance(5 * 60_000);
    let report = ask_through(&h1, lying, "Alice").await;
    match &report.patients[..] {
        [(p, _, PatientOutcome::Invalid { reason })] => {
            assert_eq!(*p, alice.account());
            assert!(reason.contains("do not match"), "{reason}");
        }
        other => panic!("expected one Invalid outcome, got {other:?}"),
    }
    assert_eq!(head_seq(&h1), before, "an Invalid answer is not paid");
    // Hospital1 learns Bob's chain so far (the Access block of the answer it refused
    // above), as anti-entropy would, so that Bob's next Access block follows on.
    sync(&bob, &h1).await;
    let honest = LyingPatient {
        node: bob.clone(),
        requester: h1.account(),
        tamper: |_: &DataRequest, r: DataResponse| r,
    };
    clock.advance(5 * 60_000);
    let report = ask_through(&h1, honest, "Bob").await;
    match &report.patients[..] {
        [(_, _, PatientOutcome::Answered(a))] => assert_eq!(a.paid, 500_000),
        other => panic!("expected Bob answered and paid, got {other:?}"),
    }
    assert!(head_seq(&h1) > before, "the checked answer was paid");
}
