//! The data owner's side of the access flow: it decides on a request (query shape,
//! unpaid accesses, the ledger's grants, the access guard), ranks its records against
//! the query, logs the decision in an `Access` block and answers; later it claims the
//! `Send`s that pay it.

use std::collections::HashSet;

use pdc_proto::records::{Profile, Record, record::Body};
use pdc_proto::wire::{DataRequest, DataResponse};

use super::MAX_QUERY_CHARS;
use super::grants::{grants_for_decide, revoke_grants_of};
use crate::consent::{Decision, decide};
use crate::guard::{RequestContext, Verdict};
use crate::ledger::{
    Access, AccessDecision, AccountId, BlockHash, Kind, Movement, Receive, VerifiedBlock,
};
use crate::node::{Node, NodeError};
use crate::records::{commitment, now_ms};

/// Accesses by `requester` that were answered with records, are older than the node's
/// payment deadline, and have no payment on the ledger.
pub fn unpaid_accesses(node: &Node, requester: &AccountId, now: u64) -> Vec<BlockHash> {
    let deadline = node.config().unpaid_after_secs.saturating_mul(1000);
    node.ledger().read(|l| {
        l.unpaid_accesses(&node.account(), requester)
            .into_iter()
            .filter(|(_, t)| now.saturating_sub(*t) > deadline)
            .map(|(h, _)| h)
            .collect()
    })
}

/// A refusal without records or Access block, as any transport sends one.
pub fn refusal(reason: impl Into<String>) -> DataResponse {
    DataResponse {
        records: vec![],
        access_block: None,
        refused: true,
        reason: reason.into(),
    }
}

/// [`answer`] as every transport delivers it: a node that fails to answer still
/// answers, with a refusal and no Access block (which the requester then rejects as
/// unchecked), so the network task and the in-process transport behave alike.
pub async fn answer_or_refuse(node: &Node, requester: AccountId, req: DataRequest) -> DataResponse {
    match answer(node, requester, req).await {
        Ok(resp) => resp,
        Err(e) => refusal(format!("the patient's node failed: {e}")),
    }
}

/// Owner side: decide, search, log, answer. Every request, granted or not, appends an
/// `Access` block, which is returned with the answer. The guard judges the request at
/// the node's guard clock ([`crate::node::GuardHandle::now`]); see [`answer_at`].
pub async fn answer(
    node: &Node,
    requester: AccountId,
    req: DataRequest,
) -> Result<DataResponse, NodeError> {
    answer_at(node, requester, req, node.guard().now()).await
}

/// [`answer`] for a request that arrived at `at_ms` (milliseconds since the Unix epoch):
/// the time the access guard judges it at (time of day, pace, sliding windows). Grant
/// expiry and the unpaid-access deadline are compared with ledger timestamps, which
/// are the system clock's, so they use the system clock whatever `at_ms` says.
pub async fn answer_at(
    node: &Node,
    requester: AccountId,
    req: DataRequest,
    at_ms: u64,
) -> Result<DataResponse, NodeError> {
    let now = now_ms();
    let query = req.query.trim().to_string();
    let purpose = req.purpose.trim().to_ascii_lowercase();
    let staff = req.staff_user.chars().take(64).collect::<String>();
    let mut price = 0;
    let mut decision = AccessDecision::Denied;
    let mut records: Vec<Record> = Vec::new();
    let guard_ctx = || guard_context(&requester.to_string(), &staff, &query, &purpose, at_ms);

    let reason = if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        format!("the query must be 1 to {MAX_QUERY_CHARS} characters")
    } else if req.request_id.len() != 16 {
        "request_id must be 16 bytes".to_string()
    } else if let Some(first) = unpaid_accesses(node, &requester, now).first() {
        // Refusals still count in the requester's behaviour (rate, hard limits,
        // share of denied requests), though nothing is scored or learned from them.
        node.guard().refused(&guard_ctx());
        format!(
            "unpaid access {first} is older than {} s; pay it before asking again",
            node.config().unpaid_after_secs
        )
    } else {
        match decide(
            &grants_for_decide(node),
            requester.as_bytes(),
            &purpose,
            now,
        ) {
            Decision::Deny { reason } => {
                node.guard().refused(&guard_ctx());
                reason
            }
            Decision::Allow {
                price: p, scope, ..
            } => {
                let ctx = guard_ctx();
                let g = node.guard().assess(&ctx);
                tracing::debug!(%requester, guard = %g.summary(), "guard decision");
                match g.verdict {
                    Verdict::Deny => {
                        node.guard().outcome(&ctx, 0, true);
                        let revoked = if g.revoke {
                            revoke_grants_of(node, &requester, now).await?
                        } else {
                            0
                        };
                        let mut r = format!("access guard: {}", g.summary());
                        if revoked > 0 {
                            r.push_str(&format!(
                                "; {revoked} grant(s) of this requester revoked on the ledger"
                            ));
                        }
                        r
                    }
                    verdict => {
                        records = matching_records(node, &query, &scope).await?;
                        node.guard().outcome(&ctx, records.len(), false);
                        price = p;
                        let found = format!(
                            "granted under consent; {} matching record(s)",
                            records.len()
                        );
                        // The guard's score goes into the Access block for every
                        // decision, so the owner's audit shows how close an
                        // allowed request came to being flagged.
                        if verdict == Verdict::Flag {
                            decision = AccessDecision::Flagged;
                            format!("{found}; flagged by the access guard: {}", g.summary())
                        } else {
                            decision = AccessDecision::Granted;
                            format!("{found}; access guard: {}", g.summary())
                        }
                    }
                }
            }
        }
    };
    let hashes: Vec<Vec<u8>> = records.iter().map(|r| commitment(r).to_vec()).collect();
    // Deferred: the requester relays it with its payment (see `Node::append_deferred`).
    let block = node
        .ledger()
        .append_deferred(Kind::Access(Access {
            request_id: req.request_id.clone(),
            requester: requester.0.to_vec(),
            query: query.chars().take(MAX_QUERY_CHARS).collect(),
            purpose,
            decision: decision.as_str().to_string(),
            reason: reason.clone(),
            record_hashes: hashes,
            price,
            staff_user: staff,
        }))
        .await?;
    // What the guard learned must survive a crash, not only a clean stop.
    if let Err(e) = node.guard().save_if_due().await {
        tracing::warn!("could not save the access guard's state: {e}");
    }
    let refused = decision == AccessDecision::Denied;
    Ok(DataResponse {
        records,
        access_block: block.to_signed().ok(),
        refused,
        reason,
    })
}

/// What the access guard is told about a request, built from the request's fields the
/// way [`answer_at`] receives them (query trimmed, purpose trimmed and lower-cased, staff
/// user cut to 64 characters, empty meaning none; the category from
/// [`disease_category`]). Shared with the guard's trace replay (`guard-eval --traffic`),
/// so a replayed request is judged on exactly what a live one is.
fn guard_context(
    requester: &str,
    staff_user: &str,
    query: &str,
    purpose: &str,
    at_ms: u64,
) -> RequestContext {
    guard_context_with(
        requester,
        staff_user,
        query,
        purpose,
        at_ms,
        disease_category,
    )
}

/// [`guard_context`] with the category from `categorize`, which must be
/// [`disease_category`] or a memo of it (the replay normalizes each distinct query once).
pub(crate) fn guard_context_with(
    requester: &str,
    staff_user: &str,
    query: &str,
    purpose: &str,
    at_ms: u64,
    categorize: impl FnOnce(&str) -> Option<String>,
) -> RequestContext {
    let query = query.trim();
    let staff: String = staff_user.chars().take(64).collect();
    RequestContext {
        requester: requester.to_owned(),
        staff_user: (!staff.is_empty()).then_some(staff),
        query: query.to_owned(),
        disease_category: categorize(query),
        purpose: purpose.trim().to_ascii_lowercase(),
        now_ms: at_ms,
    }
}

/// The ICD-10-CM chapter block the query normalizes to, as the guard's notion of
/// "disease category".
pub(crate) fn disease_category(query: &str) -> Option<String> {
    crate::search::normalize(query)
        .concepts
        .first()
        .map(|c| c.block.clone())
}

/// Condition records matching the query, plus the profile as the patient chose to show
/// it (pseudonym instead of the name, no imported FHIR data).
async fn matching_records(node: &Node, query: &str, scope: &str) -> Result<Vec<Record>, NodeError> {
    let all = node.records().list().await.map_err(NodeError::Records)?;
    let q = query.to_string();
    let (hits, all) = tokio::task::spawn_blocking(move || {
        let qn = crate::search::normalize(&q);
        let conds: Vec<(String, crate::search::Normalized)> = all
            .iter()
            .filter_map(|s| match &s.record.body {
                Some(Body::Condition(c)) => {
                    Some((s.record.id.clone(), crate::search::normalize(&c.text)))
                }
                _ => None,
            })
            .collect();
        let hits: HashSet<String> =
            crate::search::rank(&qn, conds.iter().map(|(id, n)| (id.as_str(), n)))
                .into_iter()
                .map(|h| h.id)
                .collect();
        (hits, all)
    })
    .await?;
    let mut out: Vec<Record> = all
        .iter()
        .filter(|s| hits.contains(&s.record.id))
        .map(|s| s.record.clone())
        .collect();
    let profile = all.iter().find_map(|s| match &s.record.body {
        Some(Body::Profile(p)) => Some((s.record.clone(), p.clone())),
        _ => None,
    });
    if !out.is_empty()
        && scope == "all"
        && let Some((mut rec, prof)) = profile
    {
        let shown = if prof.pseudonym.is_empty() {
            prof.display_name.clone()
        } else {
            prof.pseudonym.clone()
        };
        rec.body = Some(Body::Profile(Profile {
            display_name: shown,
            ..Profile::default()
        }));
        out.insert(0, rec);
    }
    Ok(out)
}

/// Payee side: claims every Send addressed to this node that it has not received yet
/// (a full scan; on the network [`claim_sends`] handles each newly stored Send).
/// Returns the Receive blocks written.
pub async fn claim_payments(node: &Node) -> Result<Vec<VerifiedBlock>, NodeError> {
    let sends: Vec<BlockHash> = node.ledger().read(|l| {
        l.directory()
            .iter()
            .flat_map(|p| l.movements(&p.account, now_ms()))
            .filter_map(|m| match m {
                Movement::Sent { block, .. } => Some(block),
                Movement::Received { .. } => None,
            })
            .collect()
    });
    claim_sends(node, &sends).await
}

/// Payee side: claims the given Sends (just stored) if they pay this node and are not
/// received yet. Unlike [`claim_payments`] this looks only at those blocks.
pub async fn claim_sends(
    node: &Node,
    sends: &[BlockHash],
) -> Result<Vec<VerifiedBlock>, NodeError> {
    let me = node.account();
    let todo: Vec<(BlockHash, AccountId, u64)> = node.ledger().read(|l| {
        sends
            .iter()
            .filter_map(|h| l.block(h))
            .filter(|b| matches!(b.kind(), Kind::Send(s) if s.to == me.0))
            .filter(|b| l.counts(&b.hash()) && !l.is_received(&b.hash()))
            .map(|b| (b.hash(), b.author(), b.seq()))
            .collect()
    });
    let mut written = Vec::new();
    for (send, sender, seq) in todo {
        let b = node
            .ledger()
            .append(Kind::Receive(Receive {
                send_hash: send.0.to_vec(),
                sender: sender.0.to_vec(),
                send_seq: seq,
            }))
            .await?;
        written.push(b);
    }
    Ok(written)
}
