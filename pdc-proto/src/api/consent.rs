//! Consent grants, the grant input and the check.

use serde::{Deserialize, Serialize};

// ----- consent ------------------------------------------------------------------------

/// Whether a grant is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantState {
    /// Neither revoked nor expired.
    Live,
    /// Revoked by the patient.
    Revoked,
    /// Past its expiry.
    Expired,
}

impl GrantState {
    /// The word, as the JSON has it.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Live => "live",
            GrantState::Revoked => "revoked",
            GrantState::Expired => "expired",
        }
    }
}

/// A consent grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantView {
    /// Grant id (hex).
    pub grant_id: String,
    /// Who granted.
    pub patient: String,
    /// Their label.
    pub patient_name: String,
    /// Their fingerprint.
    pub patient_fingerprint: String,
    /// Who may read.
    pub grantee: String,
    /// Their fingerprint.
    pub grantee_fingerprint: String,
    /// Their label.
    pub grantee_name: String,
    /// What may be read (a [`Scope`](super::Scope) word, as the ledger holds it).
    pub scope: String,
    /// Allowed purposes (as the ledger holds them).
    pub purposes: Vec<String>,
    /// Expiry, epoch ms; 0 = never.
    pub not_after_ms: u64,
    /// Expiry, RFC 3339, or `never`.
    pub expires: String,
    /// Price per access, micro-credits.
    pub price: u64,
    /// When the grant block was written.
    pub created: Option<String>,
    /// The ConsentGrant block.
    pub block: String,
    /// When it was revoked, if it was.
    pub revoked: Option<String>,
    /// In force or not.
    pub state: GrantState,
}

/// `GET /consents`: grants given (patient) or held (hospital).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentList {
    /// The grants.
    pub consents: Vec<GrantView>,
}

/// `POST /consents`: a new grant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantInput {
    /// The grantee's key (64 hex digits) or its registered display name.
    pub grantee: String,
    /// Allowed purposes; empty = the node's default.
    #[serde(default)]
    pub purposes: Vec<String>,
    /// A [`Scope`](super::Scope) word; absent = `all`.
    #[serde(default)]
    pub scope: Option<String>,
    /// Days until expiry; 0 = never; absent = config default.
    #[serde(default)]
    pub expires_in_days: Option<u64>,
    /// Expiry as epoch milliseconds; wins over `expires_in_days`.
    #[serde(default)]
    pub not_after_ms: Option<u64>,
    /// Price per access in micro-credits; absent = config default.
    #[serde(default)]
    pub price: Option<u64>,
}

/// `POST /consents/check`: would this requester be allowed now?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    /// The requester's key (64 hex digits).
    pub requester: String,
    /// The purpose it would ask for.
    pub purpose: String,
}

/// The answer to a [`CheckInput`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum CheckView {
    /// A live grant covers it.
    Allow {
        /// The grant (hex).
        grant_id: String,
        /// Its price per access.
        price: u64,
        /// Its scope.
        scope: String,
    },
    /// Nothing covers it.
    Deny {
        /// The closest miss, in words.
        reason: String,
    },
}
