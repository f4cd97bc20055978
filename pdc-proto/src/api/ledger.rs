//! Ledger views: heads, chains, blocks, verification, balances, forks, directory.

use serde::{Deserialize, Serialize};

// ----- ledger -------------------------------------------------------------------------

/// `GET /ledger/heads`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadsView {
    /// The genesis hash (hex).
    pub network: String,
    /// One head per account.
    pub heads: Vec<HeadView>,
}

/// The head of one account's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadView {
    /// The account.
    pub author: String,
    /// Its label.
    pub name: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// Head seq.
    pub seq: u64,
    /// Head hash.
    pub hash: String,
}

/// `GET /ledger/chain/{author}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainView {
    /// The account.
    pub author: String,
    /// Its blocks, seq 1 first.
    pub blocks: Vec<BlockView>,
}

/// `GET /ledger/block/{hash}`: one block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    /// Its hash.
    pub hash: String,
    /// Its author.
    pub author: String,
    /// The author's label.
    pub author_name: String,
    /// The author's fingerprint.
    pub fingerprint: String,
    /// Seq in the author's chain.
    pub seq: u64,
    /// The previous block's hash.
    pub prev: String,
    /// Author's clock, epoch ms.
    pub timestamp_ms: u64,
    /// Author's clock, RFC 3339.
    pub time: String,
    /// Author's balance after it, micro-credits.
    pub balance_after: i64,
    /// Whether it counts (not past a fork).
    pub counts: bool,
    /// What it says.
    pub body: BlockBody,
    /// Signed size in bytes.
    pub size: usize,
}

/// A block's body, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockBody {
    /// Seq 1: who the author is.
    Register {
        /// `patient` or `hospital`.
        role: String,
        /// Self-chosen label.
        display_name: String,
        /// Listen addresses.
        listen_addrs: Vec<String>,
        /// X25519 encryption key (hex), or empty if announced later.
        #[serde(default)]
        encryption_key: String,
    },
    /// A patient's grant.
    ConsentGrant {
        /// Grant id (hex).
        grant_id: String,
        /// Grantee (hex).
        grantee: String,
        /// Scope.
        scope: String,
        /// Purposes.
        purposes: Vec<String>,
        /// Expiry, epoch ms.
        not_after_ms: u64,
        /// Price per access.
        price: u64,
    },
    /// A revocation.
    ConsentRevoke {
        /// Grant id (hex).
        grant_id: String,
    },
    /// An answered (or refused) request.
    Access {
        /// Request id (hex).
        request_id: String,
        /// Requester (hex).
        requester: String,
        /// The query.
        query: String,
        /// The purpose.
        purpose: String,
        /// The decision.
        decision: String,
        /// Why.
        reason: String,
        /// Hashes of the records returned (hex).
        record_hashes: Vec<String>,
        /// Price.
        price: u64,
        /// Staff member who asked.
        staff_user: String,
    },
    /// A payment.
    Send {
        /// Payee (hex).
        to: String,
        /// Amount, micro-credits.
        amount: u64,
        /// The Access block it pays (hex), if any.
        access_ref: String,
    },
    /// A claimed payment.
    Receive {
        /// The Send (hex).
        send_hash: String,
        /// Its author (hex).
        sender: String,
        /// Its seq.
        send_seq: u64,
    },
    /// The author's new X25519 encryption key.
    EncryptionKey {
        /// The key (hex).
        key: String,
    },
}

impl BlockBody {
    /// The `type` word, e.g. `consent_grant`.
    pub fn type_name(&self) -> &'static str {
        match self {
            BlockBody::Register { .. } => "register",
            BlockBody::ConsentGrant { .. } => "consent_grant",
            BlockBody::ConsentRevoke { .. } => "consent_revoke",
            BlockBody::Access { .. } => "access",
            BlockBody::Send { .. } => "send",
            BlockBody::Receive { .. } => "receive",
            BlockBody::EncryptionKey { .. } => "encryption_key",
        }
    }
}

/// `POST /ledger/verify`: a full re-check of the stored ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyView {
    /// Nothing bad found.
    pub ok: bool,
    /// Blocks re-verified.
    pub blocks: usize,
    /// Fork proofs re-verified.
    pub fork_proofs: usize,
    /// Chain links checked.
    pub chain_links: usize,
    /// The first problem, if any.
    pub first_bad: Option<String>,
}

/// `GET /balances`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalancesView {
    /// One row per account.
    pub balances: Vec<BalanceView>,
}

/// One account's balance (micro-credits, and credits with six decimals).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    /// The account.
    pub account: String,
    /// Its label.
    pub name: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// Safe to rely on.
    pub confirmed: i64,
    /// Inside the quiet period.
    pub pending: i64,
    /// Voided by a payer's fork.
    pub void: i64,
    /// What the chain says.
    pub chain: i64,
    /// `confirmed` in credits.
    pub confirmed_credits: String,
    /// `pending` in credits.
    pub pending_credits: String,
    /// `confirmed + pending` in credits.
    pub total_credits: String,
}

/// `GET /forks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForksView {
    /// One row per fork proof.
    pub forks: Vec<ForkView>,
}

/// A fork proof: an author signed two blocks at one seq.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkView {
    /// The author.
    pub author: String,
    /// Its label.
    pub name: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The forked seq.
    pub seq: u64,
    /// The chain counts up to this seq.
    pub frozen_at: u64,
    /// The two conflicting blocks.
    pub blocks: [String; 2],
}

/// `GET /directory`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryView {
    /// Every registered principal.
    pub principals: Vec<PrincipalView>,
}

/// A registered principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalView {
    /// Its account.
    pub account: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// `patient` or `hospital`.
    pub role: String,
    /// Self-chosen label.
    pub display_name: String,
    /// Name pinned by the genesis.
    pub pinned_name: Option<String>,
    /// Listen addresses.
    pub listen_addrs: Vec<String>,
    /// Its chain's head seq.
    pub head_seq: Option<u64>,
}

impl PrincipalView {
    /// The name to show: the pinned one, else the self-chosen one.
    pub fn label(&self) -> &str {
        self.pinned_name.as_deref().unwrap_or(&self.display_name)
    }
}
