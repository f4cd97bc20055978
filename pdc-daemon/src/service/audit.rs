//! The audit trail: who asked for what, when, the decision and why.

use pdc_proto::api::{AuditRow, AuditView};

use super::label;
use crate::config::Role;
use crate::consent::fmt_ms;
use crate::node::Node;

/// A patient sees requests to it; a hospital, its own requests. Oldest first.
pub fn audit(node: &Node) -> AuditView {
    let accesses = node.ledger().read(|l| {
        let list = match node.config().role {
            Role::Patient => l.access_by_owner(&node.account()),
            Role::Hospital => l.access_by_requester(&node.account()),
        };
        list.iter()
            .map(|a| AuditRow {
                time: fmt_ms(a.timestamp_ms),
                owner: a.owner.to_string(),
                owner_name: label(l, &a.owner),
                requester: a.requester.to_string(),
                requester_name: label(l, &a.requester),
                requester_fingerprint: a.requester.fingerprint(),
                staff_user: a.staff_user.clone(),
                query: a.query.clone(),
                purpose: a.purpose.clone(),
                decision: a.decision.as_str().to_string(),
                reason: a.reason.clone(),
                records: a.record_hashes.len(),
                price: a.price,
                block: a.block.to_string(),
            })
            .collect()
    });
    AuditView { accesses }
}
