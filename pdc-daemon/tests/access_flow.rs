//! The access flow between real nodes (real stores, keys and signatures), with the
//! transport replaced by handing blocks and messages over directly: the owner decides
//! from the ledger's grants and the authenticated requester, logs every request in an
//! `Access` block, the requester checks the answer against that block and pays, the
//! patient claims the payment.

mod common;

use std::sync::Arc;

use common::{Dir, add_condition, make, request};
use pdc_daemon::access::{accept_and_pay, answer, claim_payments, grant, revoke};
use pdc_daemon::config::{Config, Role};
use pdc_daemon::guard::Clock;
use pdc_daemon::ledger::{AccessDecision, Genesis};
use pdc_daemon::node::Node;
use pdc_proto::records::record::Body;

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

/// Hands every block `from` holds to `to` (what gossip and sync do over the network).
async fn sync(from: &Node, to: &Node) {
    let blocks: Vec<Vec<u8>> = from.with_ledger(|l| {
        let mut v = Vec::new();
        for (a, _) in l.heads() {
            for b in l.blocks_range(&a, 1, 10_000) {
                v.push(b.bytes().to_vec());
            }
        }
        v
    });
    for _ in 0..2 {
        for b in &blocks {
            to.ingest_remote(b).await.expect("valid block");
        }
    }
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
    alice.set_guard_clock(clock.clone());
    add_condition(&alice, "Type 2 diabetes mellitus").await;
    add_condition(&alice, "Prediabetes").await;
    add_condition(&alice, "Sprain of ankle").await;

    // No grant yet: refused, logged.
    clock.advance(5 * 60_000);
    let r = answer(
        &alice,
        h1.account,
        request("diabetes", "treatment", "dr.ada"),
    )
    .await
    .expect("answer");
    assert!(r.refused && r.records.is_empty(), "{}", r.reason);
    assert!(r.reason.contains("no consent grant"), "{}", r.reason);

    let now = pdc_daemon::records::now_ms();
    let g1 = grant(
        &alice,
        h1.account,
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
        h1.with_ledger(|l| l.grants_for_grantee(&h1.account).len()),
        1,
        "the hospital learns its grants from the ledger"
    );

    // Granted: the matching record (not prediabetes) and the pseudonymized profile-less answer.
    let req = request("diabetes", "treatment", "dr.ada");
    clock.advance(5 * 60_000);
    let resp = answer(&alice, h1.account, req.clone())
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
    let checked = accept_and_pay(&h1, alice.account, &req, resp.clone())
        .await
        .expect("checks and pays");
    assert_eq!(checked.paid, 500_000);
    assert!(checked.payment.is_some());

    // A tampered answer (a record swapped) is caught against the access block.
    let mut forged = resp.clone();
    if let Some(Body::Condition(c)) = forged.records.iter_mut().find_map(|r| r.body.as_mut()) {
        c.text = "something else".into();
    }
    let err = accept_and_pay(&h1, alice.account, &req, forged)
        .await
        .expect_err("forgery caught");
    assert!(err.to_string().contains("do not match"), "{err}");

    // Alice sees the Send and claims it: her reward is 0.5 (pending in the quiet period).
    sync(&h1, &alice).await;
    let claimed = claim_payments(&alice).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let bal = alice.with_ledger(|l| l.balance(&alice.account, pdc_daemon::records::now_ms()));
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
        h1.account,
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
        h2.account,
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
        h2.account,
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
        h2.account,
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
        h2.account,
        vec!["treatment".into()],
        "all".into(),
        0,
        500_000,
    )
    .await
    .expect("grant h2");
    clock.advance(5 * 60_000);
    let first = answer(&alice, h2.account, request("sprain", "treatment", "dr.ada"))
        .await
        .expect("answer");
    assert!(
        !first.refused && first.records.len() == 1,
        "{}",
        first.reason
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    clock.advance(5 * 60_000);
    let unpaid = answer(&alice, h2.account, request("sprain", "treatment", "dr.ada"))
        .await
        .expect("answer");
    assert!(
        unpaid.refused && unpaid.reason.contains("unpaid access"),
        "{}",
        unpaid.reason
    );
    // Revoked: Hospital1's next request is refused.
    let grant_id = alice
        .with_ledger(|l| {
            l.grants_by_patient(&alice.account)
                .into_iter()
                .find(|g| g.block == g1.hash())
                .map(|g| g.grant_id)
        })
        .expect("grant");
    revoke(&alice, grant_id).await.expect("revoke");
    clock.advance(5 * 60_000);
    let revoked = answer(
        &alice,
        h1.account,
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
    let audit = alice.with_ledger(|l| l.access_by_owner(&alice.account));
    assert_eq!(audit.len(), 8);
    assert!(
        audit
            .iter()
            .any(|a| a.requester == h2.account && a.reason.contains("no consent grant"))
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
