//! The node's operations as plain async functions: typed inputs in, typed views
//! ([`pdc_proto::api`]) or a [`ServiceError`] out. The HTTP API, the portals and the
//! demo all call these, so a rule (grant validation, name resolution, search shaping)
//! lives in one place and every caller applies it the same way.
//!
//! # Layout
//! - [`node`]: status and metrics.
//! - [`records`]: the patient's records, FHIR import/export, local search.
//! - [`consent`]: grants, revocations, "would this requester be allowed?".
//! - [`ledger`]: chain heads, blocks, verification, balances, forks, the directory.
//! - [`search`]: a hospital's disease search over consenting patients.
//! - [`network`]: peers and dialling.
//! - [`rewards`]: what a patient earned.
//! - [`audit`]: who asked for what.

use std::fmt;
use std::sync::Arc;

use crate::ledger::{AccountId, Ledger};
use crate::node::{Node, NodeError};
use crate::records::RecordError;
use crate::records::fhir::FhirError;
use crate::store::StoreError;

pub mod audit;
pub mod consent;
pub mod ledger;
pub mod network;
pub mod node;
pub mod records;
pub mod rewards;
pub mod search;

/// What kind of failure, so each front end can say it its own way (an HTTP status, a
/// page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is wrong; the detail says how.
    BadRequest,
    /// This node may not do that (wrong role).
    Forbidden,
    /// No such record, grant, block or principal.
    NotFound,
    /// It clashes with the current state (already revoked, ambiguous name, ...).
    Conflict,
    /// The input is larger than allowed.
    TooLarge,
    /// Well-formed but not valid (a FHIR bundle).
    Unprocessable,
    /// The network is not started.
    Unavailable,
    /// A peer could not be dialled.
    BadGateway,
    /// The disk is full; nothing was stored.
    DiskFull,
    /// Something broke inside the node.
    Internal,
}

/// Why an operation failed: a kind, a stable code and what to do, in words, and the
/// error it came from (kept for logs and `source()` chains; the words already say
/// what the user needs).
#[derive(Debug, Clone)]
pub struct ServiceError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// A short stable code (the API's `error` field), e.g. `ambiguous_name`.
    pub code: &'static str,
    /// What was wrong and what to do.
    pub detail: String,
    /// The underlying error, if the failure came from one.
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl ServiceError {
    /// A failure of `kind` with its code and detail.
    pub fn new(kind: ErrorKind, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            detail: detail.into(),
            source: None,
        }
    }

    /// The same failure, remembering the error it came from.
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Wrong input: `bad_request`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, "bad_request", detail)
    }

    /// Not there: `not_found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, "not_found", detail)
    }

    /// A broken invariant or task: `internal`.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, "internal", detail)
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Two failures are the same if they say the same (the source is for logs).
impl PartialEq for ServiceError {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, self.code, &self.detail) == (other.kind, other.code, &other.detail)
    }
}

impl Eq for ServiceError {}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        let (kind, code) = match e {
            StoreError::DiskFull(_) => (ErrorKind::DiskFull, "disk_full"),
            _ => (ErrorKind::Internal, "storage"),
        };
        Self::new(kind, code, e.to_string()).caused_by(e)
    }
}

impl From<RecordError> for ServiceError {
    fn from(e: RecordError) -> Self {
        let (kind, code) = match e {
            RecordError::Store(s) => return s.into(),
            RecordError::NotFound(_) => (ErrorKind::NotFound, "not_found"),
            RecordError::Invalid(_) => (ErrorKind::BadRequest, "bad_request"),
            RecordError::Decrypt { .. } => (ErrorKind::Internal, "decrypt"),
        };
        Self::new(kind, code, e.to_string()).caused_by(e)
    }
}

impl From<FhirError> for ServiceError {
    fn from(e: FhirError) -> Self {
        let (kind, code) = match e {
            FhirError::TooLarge { .. } => (ErrorKind::TooLarge, "too_large"),
            _ => (ErrorKind::Unprocessable, "invalid_fhir"),
        };
        Self::new(kind, code, e.to_string()).caused_by(e)
    }
}

impl From<NodeError> for ServiceError {
    fn from(e: NodeError) -> Self {
        let (kind, code) = match e {
            NodeError::Store(s) => return s.into(),
            NodeError::Ledger(_) => (ErrorKind::Conflict, "ledger_refused"),
            _ => (ErrorKind::Internal, "internal"),
        };
        Self::new(kind, code, e.to_string()).caused_by(e)
    }
}

impl From<tokio::task::JoinError> for ServiceError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(e.to_string()).caused_by(e)
    }
}

/// What every operation returns.
pub type Result<T> = std::result::Result<T, ServiceError>;

/// 403 unless this node is a `role` node.
fn require_role(
    node: &Node,
    role: crate::config::Role,
    code: &'static str,
    detail: &'static str,
) -> Result<()> {
    if node.config().role == role {
        Ok(())
    } else {
        Err(ServiceError::new(ErrorKind::Forbidden, code, detail))
    }
}

/// The node's network client, or `no_network` while the network is not started.
fn net_client(node: &Node) -> Result<crate::net::NetClient> {
    node.net().cloned().ok_or_else(|| {
        ServiceError::new(
            ErrorKind::Unavailable,
            "no_network",
            "the network is not started",
        )
    })
}

/// The name to show for an account: pinned by the genesis or registered, else "".
pub(crate) fn label(l: &Ledger, a: &AccountId) -> String {
    l.principal(a)
        .map(|p| p.pinned_name.unwrap_or(p.display_name))
        .or_else(|| l.genesis().name_of(a).map(String::from))
        .unwrap_or_default()
}

/// A key, or a display name registered on the ledger. An ambiguous name is refused with
/// the candidates, because names are labels and anyone can register any name.
pub fn resolve_principal(node: &Node, who: &str) -> Result<AccountId> {
    if let Ok(a) = who.trim().parse::<AccountId>() {
        return Ok(a);
    }
    let found = node.ledger().read(|l| l.find_by_name(who.trim()));
    match found.as_slice() {
        [one] => Ok(one.account),
        [] => Err(ServiceError::new(
            ErrorKind::NotFound,
            "unknown_principal",
            format!(
                "no node named '{who}' is registered on the ledger; give its key (64 hex digits) or check the name with `pdc peers`"
            ),
        )),
        many => Err(ServiceError::new(
            ErrorKind::Conflict,
            "ambiguous_name",
            format!(
                "'{who}' names {} registered nodes; give the key instead: {}",
                many.len(),
                many.iter()
                    .map(|p| format!("{} ({})", p.account.fingerprint(), p.account))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
