//! A node made before salted commitments and encryption keys is brought up to date
//! when it starts: its ledger entry gets the key its key file holds, announced once.

use pdc_daemon::config::{Config, Role};
use pdc_daemon::node::{Node, init};

async fn open(dir: &std::path::Path) -> std::sync::Arc<Node> {
    let cfg = Config::load(&dir.join("config.toml")).expect("config");
    Node::open(cfg).await.expect("open")
}

fn seq(node: &Node) -> u64 {
    node.ledger()
        .read(|l| l.head(&node.account()).map_or(0, |h| h.seq))
}

#[tokio::test]
async fn a_node_announces_a_changed_encryption_key_once_and_a_current_one_never() {
    let dir = tempfile::tempdir().expect("tmp");
    init(dir.path(), Role::Patient, "Alice").expect("init");

    // A new node publishes its key in its Register block: nothing more to announce.
    let node = open(dir.path()).await;
    let first = node.identity().encryption_public();
    assert_eq!(seq(&node), 1, "only the Register block");
    assert_eq!(
        node.ledger().read(|l| l.encryption_key(&node.account())),
        Some(first)
    );
    drop(node);

    // Its key file replaced (as a node from before keys gets one on first load): the
    // ledger names another key than the file, so the start announces the file's.
    std::fs::remove_file(dir.path().join("keys/enc.key")).expect("remove key");
    let node = open(dir.path()).await;
    let second = node.identity().encryption_public();
    assert_ne!(second, first);
    assert_eq!(seq(&node), 2, "one EncryptionKey block");
    assert_eq!(
        node.ledger().read(|l| l.encryption_key(&node.account())),
        Some(second)
    );
    drop(node);

    // Up to date: a further start writes nothing.
    let node = open(dir.path()).await;
    assert_eq!(seq(&node), 2);
}
