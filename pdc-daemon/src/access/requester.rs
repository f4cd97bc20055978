//! The requester's side of the access flow: an answer is accepted only if it is the one
//! its owner logged (the Access block is signed by the patient, names this requester and
//! request, and lists exactly the hashes of the records returned); accepted answers are
//! stored and paid, many in one durable write.

use pdc_proto::Message;
use pdc_proto::records::Record;
use pdc_proto::wire::{DataRequest, DataResponse};

use super::AccessError;
use crate::ledger::{
    Access, AccountId, BlockHash, Ingested, Kind, Ledger, LedgerError, Send, VerifiedBlock,
};
use crate::node::Node;
use crate::records::{commitment, has_salt};

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
    if let Some(r) = resp.records.iter().find(|r| !has_salt(r)) {
        return Err(AccessError::BadResponse(format!(
            "record {} comes without a salt, so its commitment would be a plain content hash",
            r.id
        )));
    }
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
