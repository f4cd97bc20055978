//! The access flow of DESIGN.md, independent of the transport: the owner answers a
//! request (consent from the ledger, the guard, the disease search, an `Access` block),
//! the requester checks the answer and pays, the owner claims the payment.
//!
//! The requester is always the *authenticated* account of the connection the request
//! came on (the caller passes it); nothing in the request names who is asking.

use std::collections::HashSet;

use pdc_proto::Message;
use pdc_proto::records::{Profile, Record, record::Body};
use pdc_proto::wire::{DataRequest, DataResponse};

use crate::consent::{Decision, decide};
use crate::guard::{RequestContext, Verdict};
use crate::ledger::{
    Access, AccessDecision, AccountId, BlockHash, ConsentGrant, ConsentRevoke, Ingested, Kind,
    Ledger, LedgerError, Movement, Receive, Send, VerifiedBlock,
};
use crate::node::{Node, NodeError};
use crate::records::{commitment, now_ms};

/// Largest query accepted in a request.
pub const MAX_QUERY_CHARS: usize = 512;

/// Why a response could not be accepted or paid.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The answer does not match the request or its access block.
    #[error("the patient's answer does not check out: {0}")]
    BadResponse(String),
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// The ledger's grants of this node, as the pure [`decide`] function takes them.
pub fn grants_for_decide(node: &Node) -> Vec<pdc_proto::consent::Grant> {
    node.ledger().read(|l| {
        l.grants_by_patient(&node.account())
            .into_iter()
            .map(|g| pdc_proto::consent::Grant {
                grant_id: g.grant_id,
                grantee: g.grantee.0.to_vec(),
                scope: g.scope,
                purposes: g.purposes,
                not_after_ms: g.not_after_ms,
                price: g.price,
                created_ms: 0,
                revoked_ms: u64::from(g.revoked_by.is_some()),
                grantee_name: String::new(),
            })
            .collect()
    })
}

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

/// Owner side: decide, search, log, answer. Every request, granted or not, appends an
/// `Access` block, which is returned with the answer. The guard judges the request at
/// the node's guard clock ([`Node::guard_now`]); see [`answer_at`].
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
pub(crate) fn guard_context(
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

/// Revokes every live grant of this node naming `requester`; returns how many.
async fn revoke_grants_of(
    node: &Node,
    requester: &AccountId,
    now: u64,
) -> Result<usize, NodeError> {
    let live: Vec<Vec<u8>> = node.ledger().read(|l| {
        l.grants_by_patient(&node.account())
            .into_iter()
            .filter(|g| &g.grantee == requester && g.is_live(now))
            .map(|g| g.grant_id)
            .collect()
    });
    let n = live.len();
    for grant_id in live {
        node.ledger()
            .append(Kind::ConsentRevoke(ConsentRevoke { grant_id }))
            .await?;
    }
    Ok(n)
}

/// What a requester got from one patient, checked and paid.
#[derive(Debug, Clone)]
pub struct CheckedAnswer {
    /// The patient.
    pub patient: AccountId,
    /// Records returned, each matching a hash in the access block.
    pub records: Vec<Record>,
    /// The owner's Access block.
    pub access_block: BlockHash,
    /// Whether the owner refused, and why.
    pub refused: bool,
    /// The owner's reason.
    pub reason: String,
    /// Our Send paying for it, if anything was owed.
    pub payment: Option<BlockHash>,
    /// Amount paid in micro-credits.
    pub paid: u64,
}

/// Requester side: check that the answer is the one the owner logged (its Access block
/// is signed by the patient, names us and this request, and lists exactly the hashes of
/// the records returned), store the block, and pay the price with a `Send`.
pub async fn accept_and_pay(
    node: &Node,
    patient: AccountId,
    req: &DataRequest,
    resp: DataResponse,
) -> Result<CheckedAnswer, AccessError> {
    let checked = check_answer(node, patient, req, resp)?;
    let paid = pay_checked(node, vec![checked]).await;
    node.ledger().gossip_deferred().await;
    paid?
        .pop()
        .unwrap_or_else(|| Err(AccessError::BadResponse("nothing to pay".into())))
}

/// An answer whose Access block checked out (signature included), not yet stored or
/// paid: [`pay_checked`] does that for many at once.
#[derive(Debug)]
pub struct VerifiedAnswer {
    patient: AccountId,
    block: VerifiedBlock,
    access: Access,
    resp: DataResponse,
}

/// The checks of [`accept_and_pay`] without its writes: decodes the Access block
/// (verifying its signature once; the block is then ingested as verified), checks it
/// names us, this request and exactly the hashes of the records returned.
pub fn check_answer(
    node: &Node,
    patient: AccountId,
    req: &DataRequest,
    resp: DataResponse,
) -> Result<VerifiedAnswer, AccessError> {
    let signed = resp
        .access_block
        .as_ref()
        .ok_or_else(|| AccessError::BadResponse("no access block".into()))?;
    let bytes = signed.encode_to_vec();
    // Verified without the ledger lock: many answers are checked concurrently.
    let block = node
        .ledger()
        .read(Ledger::verifier)
        .decode(&bytes)
        .map_err(|e| AccessError::BadResponse(e.to_string()))?;
    let access = check_access_block(&block, &patient, &node.account(), req)?;
    let mut want: Vec<[u8; 32]> = access
        .record_hashes
        .iter()
        .filter_map(|h| h.as_slice().try_into().ok())
        .collect();
    let mut got: Vec<[u8; 32]> = resp.records.iter().map(commitment).collect();
    want.sort();
    got.sort();
    if want != got {
        return Err(AccessError::BadResponse(format!(
            "records returned do not match the {} hash(es) in access block {}",
            want.len(),
            block.hash()
        )));
    }
    Ok(VerifiedAnswer {
        patient,
        block,
        access,
        resp,
    })
}

/// Stores the Access blocks of checked answers and pays each with its own `Send`, all in
/// two durable writes (one for the Access blocks, one for the Sends) whatever their
/// number: per answer, that was two queued writes, each waiting for the ledger's write
/// lock behind the gossip ingests of the same search. Returns once every payment is
/// durable. `result[i]` is for `answers[i]`; an Access block the ledger refuses fails
/// that answer alone, and it is not paid.
///
/// The Access blocks and the Sends are not gossiped yet: they wait in the node's
/// deferred queue until the caller calls [`Node::gossip_deferred`] (a search, once all
/// its answers are paid) or `gossip_linger_ms` passes.
pub async fn pay_checked(
    node: &Node,
    answers: Vec<VerifiedAnswer>,
) -> Result<Vec<Result<CheckedAnswer, AccessError>>, AccessError> {
    // An Access block may have arrived by gossip already (its owner's linger ran out,
    // or another requester's relay): only the others are written, and when none is
    // left the payer queues for the ledger's write lock once (for the Sends).
    let missing: Vec<bool> = node.ledger().read_state(|st| {
        answers
            .iter()
            .map(|a| {
                let h = a.block.hash();
                st.ledger.block(&h).is_none() || st.not_durable.contains(&h)
            })
            .collect()
    });
    let written = node
        .ledger()
        .ingest_verified_batch(
            answers
                .iter()
                .zip(&missing)
                .filter(|(_, m)| **m)
                .map(|(a, _)| Ok(a.block.clone()))
                .collect(),
        )
        .await?;
    let mut written = written.into_iter();
    let ingested: Vec<Result<Ingested, LedgerError>> = missing
        .iter()
        .map(|m| {
            if *m {
                written.next().unwrap_or(Ok(Ingested::Duplicate))
            } else {
                Ok(Ingested::Duplicate)
            }
        })
        .collect();
    let mut sends = Vec::new();
    let mut owed_by = Vec::with_capacity(answers.len());
    for (a, r) in answers.iter().zip(&ingested) {
        let owed = match r {
            Err(_) => None,
            Ok(_) if a.access.decision == "denied" || a.access.price == 0 => Some(0),
            Ok(_) => {
                sends.push(Kind::Send(Send {
                    to: a.patient.0.to_vec(),
                    amount: a.access.price,
                    access_ref: a.block.hash().0.to_vec(),
                }));
                Some(a.access.price)
            }
        };
        owed_by.push(owed);
    }
    // The Access blocks stored here for the first time go out with the payments: their
    // owners wait for this relay instead of each gossiping their own.
    let relay: Vec<VerifiedBlock> = answers
        .iter()
        .zip(&ingested)
        .filter(|(_, r)| matches!(r, Ok(Ingested::Applied { .. })))
        .map(|(a, _)| a.block.clone())
        .collect();
    let mut paid = node
        .ledger()
        .append_batch_deferred(sends, relay)
        .await?
        .into_iter();
    let mut out = Vec::with_capacity(answers.len());
    for ((a, r), owed) in answers.into_iter().zip(ingested).zip(owed_by) {
        let payment = match (r, owed) {
            (Err(e), _) => Err(AccessError::Node(e.into())),
            (Ok(_), Some(0) | None) => Ok(None),
            (Ok(_), Some(_)) => match paid.next() {
                Some(Ok(send)) => Ok(Some(send.hash())),
                Some(Err(e)) => Err(AccessError::Node(e.into())),
                None => Err(AccessError::BadResponse("payment missing".into())),
            },
        };
        out.push(payment.map(|payment| CheckedAnswer {
            patient: a.patient,
            access_block: a.block.hash(),
            paid: if payment.is_some() {
                owed.unwrap_or(0)
            } else {
                0
            },
            payment,
            records: a.resp.records,
            refused: a.resp.refused,
            reason: a.resp.reason,
        }));
    }
    Ok(out)
}

fn check_access_block(
    block: &VerifiedBlock,
    patient: &AccountId,
    me: &AccountId,
    req: &DataRequest,
) -> Result<Access, AccessError> {
    let Kind::Access(a) = block.kind() else {
        return Err(AccessError::BadResponse(
            "the returned block is not an Access block".into(),
        ));
    };
    if &block.author() != patient {
        return Err(AccessError::BadResponse(format!(
            "access block signed by {} instead of the patient",
            block.author().fingerprint()
        )));
    }
    if a.requester != me.0 || a.request_id != req.request_id {
        return Err(AccessError::BadResponse(
            "access block is for another request".into(),
        ));
    }
    Ok(a.clone())
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

/// Patient side: grants `grantee` access on the ledger.
pub async fn grant(
    node: &Node,
    grantee: AccountId,
    purposes: Vec<String>,
    scope: String,
    not_after_ms: u64,
    price: u64,
) -> Result<VerifiedBlock, NodeError> {
    let mut grant_id = vec![0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut grant_id);
    node.ledger()
        .append(Kind::ConsentGrant(ConsentGrant {
            grant_id,
            grantee: grantee.0.to_vec(),
            scope,
            purposes,
            not_after_ms,
            price,
        }))
        .await
}

/// Patient side: revokes one of its grants on the ledger.
pub async fn revoke(node: &Node, grant_id: Vec<u8>) -> Result<VerifiedBlock, NodeError> {
    node.ledger()
        .append(Kind::ConsentRevoke(ConsentRevoke { grant_id }))
        .await
}

/// How a requester reaches a patient's node: libp2p in the daemon, direct calls in tests.
pub trait DataTransport: std::marker::Send + Sync + 'static {
    /// Sends one request to the node of `patient` and waits for its answer.
    fn request(
        &self,
        patient: AccountId,
        req: DataRequest,
    ) -> impl std::future::Future<Output = Result<DataResponse, String>> + std::marker::Send;
}

/// One patient's outcome in a fan-out search.
#[derive(Debug, Clone)]
pub enum PatientOutcome {
    /// The patient's node answered (with records or a refusal) and the answer checked out.
    Answered(CheckedAnswer),
    /// The node did not answer within the timeout or could not be reached.
    Offline {
        /// Why, in words.
        reason: String,
    },
    /// The node answered something that does not check out against its access block.
    Invalid {
        /// Why.
        reason: String,
    },
}

/// A hospital's search over every consenting patient.
#[derive(Debug, Clone)]
pub struct SearchReport {
    /// Per patient (account, display label, outcome), in the order of the patients list.
    pub patients: Vec<(AccountId, String, PatientOutcome)>,
    /// Time from the start of the search until the last answer arrived and was checked.
    pub answered_after: std::time::Duration,
    /// Time from the start until every payment was durable: the whole search.
    pub paid_after: std::time::Duration,
}

/// Patients whose live grants name this node for `purpose`: the only ones ever asked.
pub fn consenting_patients(node: &Node, purpose: &str, now: u64) -> Vec<(AccountId, String)> {
    let purpose = purpose.trim().to_ascii_lowercase();
    let mut out: Vec<(AccountId, String)> = node.ledger().read(|l| {
        l.grants_for_grantee(&node.account())
            .into_iter()
            .filter(|g| {
                g.is_live(now) && g.purposes.iter().any(|p| p.eq_ignore_ascii_case(&purpose))
            })
            .map(|g| {
                let label = l
                    .principal(&g.patient)
                    .map(|p| p.pinned_name.unwrap_or(p.display_name))
                    .unwrap_or_default();
                (g.patient, label)
            })
            .collect()
    });
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// A hospital search: what to ask, why, who asks, and how long to wait.
#[derive(Debug, Clone)]
pub struct FanOut {
    /// Disease words.
    pub query: String,
    /// Purpose of the access.
    pub purpose: String,
    /// The staff member making the search.
    pub staff_user: String,
    /// How long to wait for each patient.
    pub timeout: std::time::Duration,
    /// Patients asked at once.
    pub concurrency: usize,
    /// Ask only this patient (account, label) instead of every consenting one.
    pub only: Option<(AccountId, String)>,
}

/// Fans a query out to every consenting patient at once (at most `concurrency` in
/// flight, `timeout` per patient), checks and pays for every answer, and reports who
/// answered, who refused and who was offline.
pub async fn search_patients<T: DataTransport>(
    node: &std::sync::Arc<Node>,
    transport: std::sync::Arc<T>,
    search: FanOut,
) -> Result<SearchReport, AccessError> {
    let FanOut {
        query,
        purpose,
        staff_user,
        timeout,
        concurrency,
        only,
    } = search;
    let staff_user = staff_user.as_str();
    let query = query.trim();
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        return Err(AccessError::Invalid(format!(
            "the query must be 1 to {MAX_QUERY_CHARS} characters"
        )));
    }
    let purpose = purpose
        .parse::<pdc_proto::api::Purpose>()
        .map_err(|e| AccessError::Invalid(e.to_string()))?
        .as_str()
        .to_string();
    // Asking one named patient goes out even if this node's view of the grants is stale:
    // the patient's node is the one that decides, and logs the answer.
    let patients = match only {
        Some(p) => vec![p],
        None => consenting_patients(node, &purpose, now_ms()),
    };
    let started = std::time::Instant::now();
    // Checked answers go to one payer, which stores and pays whatever has arrived in
    // one batch while the next answers come in: a handful of durable writes per
    // search instead of two per patient, and the last batch is small.
    let (to_pay, mut payable) = tokio::sync::mpsc::unbounded_channel::<(usize, VerifiedAnswer)>();
    let payer = {
        let node = node.clone();
        tokio::spawn(async move {
            let mut done = Vec::new();
            while let Some(first) = payable.recv().await {
                let mut batch = vec![first];
                while let Ok(next) = payable.try_recv() {
                    batch.push(next);
                }
                let (idx, answers): (Vec<usize>, Vec<VerifiedAnswer>) = batch.into_iter().unzip();
                let outcomes: Vec<PatientOutcome> = match pay_checked(&node, answers).await {
                    Ok(rs) => rs
                        .into_iter()
                        .map(|r| match r {
                            Ok(a) => PatientOutcome::Answered(a),
                            Err(e) => PatientOutcome::Invalid {
                                reason: e.to_string(),
                            },
                        })
                        .collect(),
                    Err(e) => idx
                        .iter()
                        .map(|_| PatientOutcome::Invalid {
                            reason: format!("could not store or pay the answer: {e}"),
                        })
                        .collect(),
                };
                done.extend(idx.into_iter().zip(outcomes));
            }
            done
        })
    };
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (patient, _)) in patients.iter().cloned().enumerate() {
        let mut id = vec![0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        let req = DataRequest {
            request_id: id,
            query: query.to_string(),
            purpose: purpose.clone(),
            staff_user: staff_user.to_string(),
        };
        let (node, transport, limit, to_pay) = (
            node.clone(),
            transport.clone(),
            limit.clone(),
            to_pay.clone(),
        );
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let outcome = match tokio::time::timeout(
                timeout,
                transport.request(patient, req.clone()),
            )
            .await
            {
                Err(_) => PatientOutcome::Offline {
                    reason: format!("no answer within {} ms", timeout.as_millis()),
                },
                Ok(Err(e)) => PatientOutcome::Offline { reason: e },
                Ok(Ok(resp)) => match check_answer(&node, patient, &req, resp) {
                    Ok(a) => {
                        // Paid by the payer, which reports the outcome.
                        let _ = to_pay.send((i, a));
                        return None;
                    }
                    Err(e) => PatientOutcome::Invalid {
                        reason: e.to_string(),
                    },
                },
            };
            Some((i, outcome))
        });
    }
    drop(to_pay);
    let mut outcomes: Vec<Option<PatientOutcome>> = vec![None; patients.len()];
    while let Some(r) = tasks.join_next().await {
        if let Ok(Some((i, o))) = r {
            outcomes[i] = Some(o);
        }
    }
    let answered_after = started.elapsed();
    for (i, o) in payer.await.unwrap_or_default() {
        outcomes[i] = Some(o);
    }
    // The search's Access blocks and payments, in a few full messages.
    node.ledger().gossip_deferred().await;
    Ok(SearchReport {
        patients: patients
            .into_iter()
            .zip(outcomes)
            .filter_map(|((p, l), o)| o.map(|o| (p, l, o)))
            .collect(),
        answered_after,
        paid_after: started.elapsed(),
    })
}
