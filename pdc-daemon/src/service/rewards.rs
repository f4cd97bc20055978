//! What a patient earned: totals and one row per priced access with its payment.

use std::collections::HashMap;

use pdc_proto::api::{Credits, RewardRow, RewardsView};

use super::label;
use crate::consent::fmt_ms;
use crate::ledger::{Movement, ReceiptStatus};
use crate::node::Node;
use crate::records::now_ms;

/// The node's rewards as of now.
pub fn rewards(node: &Node) -> RewardsView {
    let now = now_ms();
    node.ledger().read(|l| {
        let bal = l.balance(&node.account(), now);
        let mut received = HashMap::new();
        for m in l.movements(&node.account(), now) {
            if let Movement::Received {
                send,
                amount,
                status,
                ..
            } = m
            {
                received.insert(send, (amount, status));
            }
        }
        let accesses = l
            .access_by_owner(&node.account())
            .iter()
            .filter(|a| a.price > 0)
            .map(|a| {
                let pays = l.payments_for(&a.block);
                let status = pays
                    .iter()
                    .find_map(|s| received.get(s))
                    .map(|(_, st)| match st {
                        ReceiptStatus::Confirmed => "confirmed",
                        ReceiptStatus::Pending { .. } => "pending",
                        ReceiptStatus::Void => "void",
                    })
                    .unwrap_or(if pays.is_empty() {
                        "unpaid"
                    } else {
                        "paid, not yet claimed"
                    });
                RewardRow {
                    access_block: a.block.to_string(),
                    time: fmt_ms(a.timestamp_ms),
                    requester: a.requester.to_string(),
                    requester_name: label(l, &a.requester),
                    requester_fingerprint: a.requester.fingerprint(),
                    staff_user: a.staff_user.clone(),
                    query: a.query.clone(),
                    price: a.price,
                    status: status.to_string(),
                }
            })
            .collect();
        RewardsView {
            total: bal.confirmed + bal.pending,
            confirmed: bal.confirmed,
            pending: bal.pending,
            void: bal.void,
            total_credits: Credits(bal.confirmed + bal.pending).fixed(),
            accesses,
        }
    })
}
