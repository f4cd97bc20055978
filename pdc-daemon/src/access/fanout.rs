//! A hospital's search over every consenting patient: who is asked (only patients whose
//! live grant names this node for the purpose, or one named patient), how (a
//! [`DataTransport`], at most `concurrency` requests in flight, a timeout per patient),
//! and what comes back (each answer checked, the accepted ones paid in batches, one
//! [`PatientOutcome`] per patient in a [`SearchReport`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pdc_proto::wire::{DataRequest, DataResponse};
use tokio::sync::{Semaphore, mpsc};

use super::{
    AccessError, CheckedAnswer, MAX_QUERY_CHARS, VerifiedAnswer, check_answer, pay_checked,
};
use crate::ledger::AccountId;
use crate::node::Node;
use crate::records::now_ms;

/// How a requester reaches a patient's node: libp2p in the daemon
/// (`peering::NetTransport`), direct calls in tests ([`super::InProcess`]). The fan-out
/// applies the timeout and the concurrency bound around every call, whatever the transport.
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
/// Fans a query out to every consenting patient at once (at most `concurrency` in
/// flight, `timeout` per patient), checks and pays for every answer, and reports who
/// answered, who refused and who was offline.
pub async fn search_patients<T: DataTransport>(
    node: &Arc<Node>,
    transport: Arc<T>,
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
    let (query, purpose) = checked_search(&query, &purpose)?;
    // Asking one named patient goes out even if this node's view of the grants is stale:
    // the patient's node is the one that decides, and logs the answer.
    let patients = match only {
        Some(p) => vec![p],
        None => consenting_patients(node, &purpose, now_ms()),
    };
    let started = Instant::now();
    let (to_pay, payer) = spawn_payer(node.clone());
    let ask = Ask {
        node: node.clone(),
        transport,
        limit: Arc::new(Semaphore::new(concurrency.max(1))),
        timeout,
        to_pay,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (patient, _)) in patients.iter().enumerate() {
        let req = new_request(query, &purpose, &staff_user);
        tasks.spawn(ask.clone().one(i, *patient, req));
    }
    // The payer ends once every sender is gone: the tasks' clones and this one.
    drop(ask);
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

/// The search's query (trimmed, 1 to [`MAX_QUERY_CHARS`] characters) and purpose (in its
/// canonical spelling), or why the search cannot be made: nobody is asked then.
fn checked_search<'q>(query: &'q str, purpose: &str) -> Result<(&'q str, String), AccessError> {
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
    Ok((query, purpose))
}

/// One patient's request, with a fresh random id: the id ties the owner's Access block
/// to this request and no other.
fn new_request(query: &str, purpose: &str, staff_user: &str) -> DataRequest {
    let mut id = vec![0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
    DataRequest {
        request_id: id,
        query: query.to_string(),
        purpose: purpose.to_string(),
        staff_user: staff_user.to_string(),
    }
}

/// A checked answer waiting for the payer, with its patient's index in the search.
type Payable = (usize, VerifiedAnswer);

/// Starts the search's payer. Checked answers go to one payer, which stores and pays
/// whatever has arrived in one batch while the next answers come in: a handful of
/// durable writes per search instead of two per patient, and the last batch is small.
/// The payer returns each paid answer's outcome once every sender is dropped.
fn spawn_payer(
    node: Arc<Node>,
) -> (
    mpsc::UnboundedSender<Payable>,
    tokio::task::JoinHandle<Vec<(usize, PatientOutcome)>>,
) {
    let (to_pay, mut payable) = mpsc::unbounded_channel::<Payable>();
    let payer = tokio::spawn(async move {
        let mut done = Vec::new();
        while let Some(first) = payable.recv().await {
            let mut batch = vec![first];
            while let Ok(next) = payable.try_recv() {
                batch.push(next);
            }
            done.extend(pay_batch(&node, batch).await);
        }
        done
    });
    (to_pay, payer)
}

/// Pays one batch of checked answers; an answer the ledger refuses, or a batch that could
/// not be written, is reported as invalid.
async fn pay_batch(node: &Node, batch: Vec<Payable>) -> Vec<(usize, PatientOutcome)> {
    let (idx, answers): (Vec<usize>, Vec<VerifiedAnswer>) = batch.into_iter().unzip();
    let outcomes: Vec<PatientOutcome> = match pay_checked(node, answers).await {
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
    idx.into_iter().zip(outcomes).collect()
}

/// What every per-patient task of a search shares.
struct Ask<T> {
    node: Arc<Node>,
    transport: Arc<T>,
    /// Bounds the requests in flight to the search's `concurrency`.
    limit: Arc<Semaphore>,
    timeout: Duration,
    to_pay: mpsc::UnboundedSender<Payable>,
}

// By hand: a derive would require `T: Clone`, and only the `Arc` is cloned.
impl<T> Clone for Ask<T> {
    fn clone(&self) -> Self {
        Self {
            node: self.node.clone(),
            transport: self.transport.clone(),
            limit: self.limit.clone(),
            timeout: self.timeout,
            to_pay: self.to_pay.clone(),
        }
    }
}

impl<T: DataTransport> Ask<T> {
    /// Asks patient `i` once a slot is free and waits at most the timeout for its answer.
    /// An answer that checks out goes to the payer, which reports its outcome (`None`
    /// here); anything else is this patient's outcome.
    async fn one(
        self,
        i: usize,
        patient: AccountId,
        req: DataRequest,
    ) -> Option<(usize, PatientOutcome)> {
        let _permit = self.limit.acquire_owned().await;
        let timeout = self.timeout;
        let outcome =
            match tokio::time::timeout(timeout, self.transport.request(patient, req.clone())).await
            {
                Err(_) => PatientOutcome::Offline {
                    reason: format!("no answer within {} ms", timeout.as_millis()),
                },
                Ok(Err(e)) => PatientOutcome::Offline { reason: e },
                Ok(Ok(resp)) => match check_answer(&self.node, patient, &req, resp) {
                    Ok(a) => {
                        // Paid by the payer, which reports the outcome.
                        let _ = self.to_pay.send((i, a));
                        return None;
                    }
                    Err(e) => PatientOutcome::Invalid {
                        reason: e.to_string(),
                    },
                },
            };
        Some((i, outcome))
    }
}
