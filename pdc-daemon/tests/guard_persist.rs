//! What the access guard learned survives a restart of the node.

use pdc_daemon::config::{Config, Role};
use pdc_daemon::guard::RequestContext;
use pdc_daemon::node::{Node, init};

#[tokio::test]
async fn guard_state_is_saved_and_restored() {
    let dir = tempfile::tempdir().expect("tmp");
    init(dir.path(), Role::Patient, "Guarded").expect("init");
    let cfg = Config::load(&dir.path().join("config.toml")).expect("config");
    let node = Node::open(cfg.clone()).await.expect("open");
    let fresh = node.guard_snapshot();
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
        node.guard_assess(&ctx);
        node.guard_outcome(&ctx, 1, false);
    }
    let learned = node.guard_snapshot();
    assert!(learned != fresh, "the guard learned from the requests");
    node.save_guard().await.expect("save");
    node.store.close().await;
    drop(node);

    let again = Node::open(cfg).await.expect("reopen");
    // Compare the learned state, not the bytes: maps serialize in any order, and restore
    // rebuilds the forest from the saved history, which bumps its rebuild counter.
    let state = |b: &[u8]| {
        let mut v = serde_json::from_slice::<serde_json::Value>(b).expect("json snapshot");
        if let Some(m) = v.get_mut("model").and_then(|m| m.as_object_mut()) {
            m.remove("generation");
        }
        v
    };
    let restored = state(&again.guard_snapshot());
    assert!(
        restored == state(&learned),
        "a restart keeps what the guard learned"
    );
    assert!(restored != state(&fresh), "and it is not the fresh prior");
}
