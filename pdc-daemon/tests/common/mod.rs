//! Helpers shared by the in-process node tests: a node directory, a condition record, a
//! data request.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use pdc_daemon::config::Role;
use pdc_daemon::ledger::AccountId;
use pdc_daemon::node::{Node, init};
use pdc_proto::records::{Condition, Record, record::Body};
use pdc_proto::wire::DataRequest;

/// A node's data directory (deleted on drop) and its account.
pub(crate) struct Dir {
    /// The directory.
    pub(crate) dir: tempfile::TempDir,
    /// The node's account, as `init` made it.
    pub(crate) account: AccountId,
}

/// Creates a node with `pdc_daemon::node::init` in a fresh temporary directory.
pub(crate) fn make(role: Role, name: &str) -> Dir {
    let dir = tempfile::tempdir().expect("tmp");
    let report = init(dir.path(), role, name).expect("init");
    Dir {
        dir,
        account: report.account.parse().expect("account"),
    }
}

/// Stores an active condition record on `n`.
pub(crate) async fn add_condition(n: &Node, text: &str) {
    let now = pdc_daemon::records::now_ms();
    n.records()
        .put(Record {
            id: pdc_daemon::records::new_id(),
            created_ms: now,
            updated_ms: now,
            salt: Vec::new(),
            body: Some(Body::Condition(Condition {
                text: text.into(),
                status: "active".into(),
                ..Default::default()
            })),
        })
        .await
        .expect("record");
}

/// A data request with a fresh random id.
pub(crate) fn request(query: &str, purpose: &str, staff: &str) -> DataRequest {
    let mut id = vec![0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
    DataRequest {
        request_id: id,
        query: query.into(),
        purpose: purpose.into(),
        staff_user: staff.into(),
    }
}

/// Hands every block `from` holds to `to`, twice (a block whose predecessor came later
/// in the first pass lands in the second): what gossip and sync do over the network.
pub(crate) async fn sync(from: &Node, to: &Node) {
    let blocks: Vec<Vec<u8>> = from.ledger().read(|l| {
        l.heads()
            .into_keys()
            .flat_map(|a| l.blocks_range(&a, 1, 10_000))
            .map(|b| b.bytes().to_vec())
            .collect()
    });
    for _ in 0..2 {
        for b in &blocks {
            to.ledger().ingest_remote(b).await.expect("valid block");
        }
    }
}
