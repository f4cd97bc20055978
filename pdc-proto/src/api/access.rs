//! The access flow (a hospital's search), peers, rewards and the audit trail.

use super::Purpose;
use serde::{Deserialize, Serialize};

// ----- the access flow ----------------------------------------------------------------

/// `POST /search`: a hospital's disease search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchInput {
    /// Disease words.
    pub query: String,
    /// A [`Purpose`] word; absent = treatment.
    #[serde(default = "default_purpose")]
    pub purpose: String,
    /// The staff member making the search; recorded in every patient's Access block.
    #[serde(default)]
    pub staff_user: String,
    /// Ask only this patient (key or registered name) instead of every consenting one.
    #[serde(default)]
    pub patient: Option<String>,
}

fn default_purpose() -> String {
    Purpose::Treatment.as_str().into()
}

/// What a search found, per patient asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchReport {
    /// The query as given.
    pub query: String,
    /// The purpose as given.
    pub purpose: String,
    /// The staff member.
    pub staff_user: String,
    /// One row per patient asked.
    pub patients: Vec<PatientResult>,
}

/// One patient's part of a search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientResult {
    /// The patient's account.
    pub patient: String,
    /// Their registered label.
    pub name: String,
    /// Their fingerprint.
    pub fingerprint: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: PatientOutcome,
}

impl PatientResult {
    /// The name the patient chose to show (name or pseudonym), else the registered
    /// label, always with the key fingerprint.
    pub fn label(&self) -> String {
        let shown = match &self.outcome {
            PatientOutcome::Answered(a) | PatientOutcome::Refused(a) => {
                a.shown_name.as_deref().unwrap_or_default()
            }
            _ => "",
        };
        let name = if shown.is_empty() { &self.name } else { shown };
        format!("{name} ({})", self.fingerprint)
    }
}

/// How a patient's node answered, tagged by `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum PatientOutcome {
    /// It answered (possibly with no matching record).
    Answered(Answer),
    /// It refused, and logged why.
    Refused(Answer),
    /// It could not be reached.
    Offline {
        /// Why.
        reason: String,
    },
    /// Its answer did not check out.
    Invalid {
        /// Why.
        reason: String,
    },
}

impl PatientOutcome {
    /// The `status` word.
    pub fn status(&self) -> &'static str {
        match self {
            PatientOutcome::Answered(_) => "answered",
            PatientOutcome::Refused(_) => "refused",
            PatientOutcome::Offline { .. } => "offline",
            PatientOutcome::Invalid { .. } => "invalid",
        }
    }

    /// The reason given, in every outcome.
    pub fn reason(&self) -> &str {
        match self {
            PatientOutcome::Answered(a) | PatientOutcome::Refused(a) => &a.reason,
            PatientOutcome::Offline { reason } | PatientOutcome::Invalid { reason } => reason,
        }
    }
}

/// A patient node's answer, checked and paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The profile's name, when the scope showed it.
    pub shown_name: Option<String>,
    /// The owner's reason.
    pub reason: String,
    /// Matching conditions returned.
    pub records: Vec<FoundRecord>,
    /// The owner's Access block.
    pub access_block: String,
    /// Our Send paying it, if anything was owed.
    pub payment: Option<String>,
    /// Amount paid, micro-credits.
    pub paid: u64,
}

/// A condition a patient's node returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundRecord {
    /// Its salted commitment, as listed in the Access block.
    pub hash: String,
    /// The condition text.
    pub condition: String,
    /// Its status.
    pub status: String,
    /// Its onset.
    pub onset: String,
    /// The ICD-10-CM code that matched.
    pub code: Option<String>,
    /// Why it matched.
    pub why: Option<String>,
}

// ----- network ------------------------------------------------------------------------

/// `GET /peers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersView {
    /// Every known peer.
    pub peers: Vec<PeerView>,
}

/// A peer the node knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// Its peer id.
    pub peer_id: String,
    /// Its ledger account, if its peer id is an ed25519 key.
    pub account: Option<String>,
    /// That account's fingerprint.
    pub fingerprint: Option<String>,
    /// Its label ("" if unknown).
    pub name: String,
    /// Its registered role.
    pub role: Option<String>,
    /// Known addresses.
    pub addresses: Vec<String>,
    /// Whether a connection is open.
    pub connected: bool,
    /// Its identify announced another network: disconnected, refused from then on.
    pub foreign: bool,
    /// Its chain head as this node knows it.
    pub chain_head: Option<ChainHead>,
    /// When last heard from.
    pub last_seen: Option<String>,
    /// Identify agent version.
    pub agent: Option<String>,
}

/// Seq and hash of a chain head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Head seq.
    pub seq: u64,
    /// Head hash.
    pub hash: String,
}

/// `POST /peers/connect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectInput {
    /// A multiaddr ending in `/p2p/<peer id>`.
    pub addr: String,
}

/// The answer to a [`ConnectInput`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dialing {
    /// The address being dialled.
    pub dialing: String,
}

// ----- rewards and audit --------------------------------------------------------------

/// `GET /rewards`: what the patient earned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardsView {
    /// Confirmed + pending, micro-credits.
    pub total: i64,
    /// Confirmed.
    pub confirmed: i64,
    /// Pending.
    pub pending: i64,
    /// Void.
    pub void: i64,
    /// `total` in credits (six decimals).
    pub total_credits: String,
    /// One row per access that carried a price.
    pub accesses: Vec<RewardRow>,
}

/// A priced access and its payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardRow {
    /// The Access block.
    pub access_block: String,
    /// When.
    pub time: String,
    /// Who asked.
    pub requester: String,
    /// Their label.
    pub requester_name: String,
    /// Their fingerprint.
    pub requester_fingerprint: String,
    /// Their staff member.
    pub staff_user: String,
    /// The query.
    pub query: String,
    /// The price.
    pub price: u64,
    /// `confirmed`, `pending`, `void`, `unpaid` or `paid, not yet claimed`.
    pub status: String,
}

/// `GET /audit`: who asked for what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    /// Oldest first.
    pub accesses: Vec<AuditRow>,
}

/// One Access block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    /// When.
    pub time: String,
    /// The data owner.
    pub owner: String,
    /// Their label.
    pub owner_name: String,
    /// Who asked.
    pub requester: String,
    /// Their label.
    pub requester_name: String,
    /// Their fingerprint.
    pub requester_fingerprint: String,
    /// Their staff member.
    pub staff_user: String,
    /// The query.
    pub query: String,
    /// The purpose.
    pub purpose: String,
    /// `granted`, `denied` or `flagged`.
    pub decision: String,
    /// Why.
    pub reason: String,
    /// Records returned.
    pub records: usize,
    /// Price.
    pub price: u64,
    /// The Access block.
    pub block: String,
}
