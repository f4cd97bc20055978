//! The access flow of DESIGN.md, independent of the transport: the owner answers a
//! request (consent from the ledger, the guard, the disease search, an `Access` block),
//! the requester checks the answer and pays, the owner claims the payment.
//!
//! The requester is always the *authenticated* account of the connection the request
//! came on (the caller passes it); nothing in the request names who is asking.
//!
//! # Layout
//! - `grants`: the patient's consent writes (grant, revoke) and the
//!   ledger's grants as the pure decision takes them.
//! - `owner`: the data owner's side: decide, search, log and answer a request; claim
//!   the payments it was sent.
//! - `requester`: the requester's side: check an answer against its Access block, store
//!   it and pay for it.
//! - `fanout`: a hospital's search over every consenting patient through a
//!   [`DataTransport`], bounded in concurrency and time per patient.
//! - `in_process`: [`InProcess`], a [`DataTransport`] without a network, for tests and
//!   benchmarks; the daemon's is `peering::NetTransport`.

mod fanout;
mod grants;
mod in_process;
mod owner;
mod requester;

pub use fanout::{
    DataTransport, FanOut, PatientOutcome, SearchReport, consenting_patients, search_patients,
};
pub use grants::{grant, grants_for_decide, revoke};
pub use in_process::InProcess;
pub use owner::{
    answer, answer_at, answer_or_refuse, claim_payments, claim_sends, refusal, unpaid_accesses,
};
pub(crate) use owner::{disease_category, guard_context_with};
pub use requester::{CheckedAnswer, VerifiedAnswer, accept_and_pay, check_answer, pay_checked};

use crate::node::NodeError;

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
