//! The in-memory ledger: validation, fork handling and the fold to state.
//!
//! # Why the state does not depend on arrival order
//! A block is *linked* into its author's chain once its predecessor is linked and
//! every rule holds; whether it is valid depends only on blocks it names (its chain
//! and, for a `Receive`, the `Send`), never on when anything arrived. Every view
//! (balances, directory, consents, audit, heads) is computed from the linked blocks
//! with each frozen author's chain cut below its fork, so it is a function of the set
//! of blocks and fork proofs a node holds.
//!
//! A frozen author's blocks from the fork on are not linked, with one exception: a
//! `Send` is kept as *evidence* (it counts for nothing) because a payee may already
//! have received it, and the payee's chain must validate on every node, including one
//! that learned of the fork before it saw the `Send`.
//!
//! # Confirmed, pending and void receipts
//! A received payment is *void* while its `Send` lies at or after its sender's fork
//! (the payee keeps the Receive in its chain, but the money is not counted in
//! `confirmed`). Otherwise it is *pending* until `quiet_period_ms` has passed since
//! the later of the Send's and the Receive's `timestamp_ms`, and *confirmed* after.
//! Both timestamps are signed into the blocks, so every node classifies a receipt the
//! same way at the same `now_ms`; a sender who backdates its Send cannot shorten the
//! payee's wait, since the payee's own Receive time also counts. A fork proof that
//! arrives after the quiet period still voids the receipt: confirmation is a strong
//! hint, finality would need the consensus the design avoids.
//!
//! # Layout
//! The types and the ledger's construction are here; its methods sit by seam:
//! `ingest` (blocks and fork proofs in, the pending buffer drained), `rules`
//! (validation, body rules, applying a block, preparing one), `views` (heads, ranges,
//! balances, directory, grants, audit, snapshot).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use pdc_proto::ledger::{ForkProof as ForkProofMsg, block_body::Kind};

use super::block::{BlockBuilder, VerifiedBlock, kind_name, need_account, need_hash};
use super::error::LedgerError;
use super::fork::ForkProof;
use super::genesis::Genesis;
use super::pending::{Need, Pending, PendingEntry};
use super::types::{AccessDecision, AccountId, BlockHash, Role};
use super::verify::KeyCache;
use crate::seal::EncryptionPublic;

mod ingest;
mod rules;
mod views;

/// Tunables of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerConfig {
    /// How long a received payment stays pending (see the module docs), in ms.
    pub quiet_period_ms: u64,
    /// Most blocks kept waiting for a predecessor or a Send; the oldest go first.
    pub max_pending: usize,
    /// Pending blocks first seen longer ago than this are dropped, in ms.
    pub pending_ttl_ms: u64,
    /// Largest encoded block accepted, in bytes.
    pub max_block_bytes: usize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            quiet_period_ms: 10 * 60 * 1000,
            max_pending: 4096,
            pending_ttl_ms: 10 * 60 * 1000,
            max_block_bytes: 64 * 1024,
        }
    }
}

/// What [`Ledger::ingest`] did with a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ingested {
    /// The block was stored. `stored` lists it first, then every pending block that it
    /// unblocked, in the order stored: persist them all.
    Applied {
        /// Newly stored blocks.
        stored: Vec<BlockHash>,
    },
    /// The block was already stored; nothing changed.
    Duplicate,
    /// The block waits for a block not seen yet; fetch `missing`.
    Pending {
        /// The chain range to fetch.
        missing: MissingRange,
    },
    /// The author signed another block at this seq. The proof (the canonical one for
    /// this author, possibly older) is stored and the author frozen; gossip the proof.
    Fork {
        /// The author's fork proof.
        proof: ForkProof,
        /// Blocks stored meanwhile (a `Send` kept as evidence, unblocked blocks).
        stored: Vec<BlockHash>,
    },
}

/// What [`Ledger::ingest_fork_proof`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofIngested {
    /// Whether the proof changed this node's view (gossip it on if so).
    pub news: bool,
    /// The author's canonical proof after ingesting.
    pub proof: ForkProof,
    /// Blocks stored as a consequence; persist them.
    pub stored: Vec<BlockHash>,
}

/// A range of one author's chain that pending blocks wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MissingRange {
    /// Whose chain.
    pub author: AccountId,
    /// First seq to fetch.
    pub from_seq: u64,
    /// Last seq to fetch (inclusive).
    pub to_seq: u64,
}

/// The counted head of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Seq of the last counted block.
    pub seq: u64,
    /// Its hash.
    pub hash: BlockHash,
}

/// An account's balance in micro-credits. `chain == confirmed + pending + void`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// What the account's counted chain says (`balance_after` of its last counted
    /// block, or its genesis balance); what validation lets it spend.
    pub chain: i64,
    /// `chain` minus pending and void receipts: safe to rely on. Negative when the
    /// account spent money from a Send that a fork later voided.
    pub confirmed: i64,
    /// Receipts still inside the quiet period.
    pub pending: i64,
    /// Receipts of Sends voided by their sender's fork.
    pub void: i64,
}

/// A registered principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Its key.
    pub account: AccountId,
    /// Patient or hospital.
    pub role: Role,
    /// Self-chosen label; not an identity.
    pub display_name: String,
    /// Name pinned to this key by the genesis, if any.
    pub pinned_name: Option<String>,
    /// Addresses it listens on.
    pub listen_addrs: Vec<String>,
    /// The X25519 key to seal to, if it published one (see [`Ledger::encryption_key`]).
    pub encryption_key: Option<EncryptionPublic>,
    /// Hash of its Register block.
    pub block: BlockHash,
}

/// A consent grant and whether it was revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Who granted.
    pub patient: AccountId,
    /// Patient-chosen id.
    pub grant_id: Vec<u8>,
    /// Who may read.
    pub grantee: AccountId,
    /// What may be read.
    pub scope: String,
    /// Allowed purposes.
    pub purposes: Vec<String>,
    /// Expiry in ms since the epoch; 0 means none.
    pub not_after_ms: u64,
    /// Price of one access in micro-credits.
    pub price: u64,
    /// Seq of the grant in the patient's chain.
    pub seq: u64,
    /// Hash of the ConsentGrant block.
    pub block: BlockHash,
    /// Hash of the counted ConsentRevoke block, if any.
    pub revoked_by: Option<BlockHash>,
}

impl Grant {
    /// Not revoked and not expired at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.revoked_by.is_none() && (self.not_after_ms == 0 || now_ms < self.not_after_ms)
    }
}

/// One entry of the audit trail: an `Access` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRecord {
    /// The data owner who answered.
    pub owner: AccountId,
    /// Seq in the owner's chain.
    pub seq: u64,
    /// Hash of the Access block.
    pub block: BlockHash,
    /// Owner's clock.
    pub timestamp_ms: u64,
    /// Requester's id for the request.
    pub request_id: Vec<u8>,
    /// Who asked.
    pub requester: AccountId,
    /// What was asked.
    pub query: String,
    /// Stated purpose.
    pub purpose: String,
    /// What the owner decided.
    pub decision: AccessDecision,
    /// Why, in words.
    pub reason: String,
    /// Hashes of the records returned.
    pub record_hashes: Vec<BlockHash>,
    /// Price in micro-credits.
    pub price: u64,
    /// The requester's staff member, as the requester said.
    pub staff_user: String,
}

/// Whether a receipt counts yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptStatus {
    /// Inside the quiet period, which ends at `confirms_at_ms`.
    Pending {
        /// When it becomes confirmed (absent a fork proof).
        confirms_at_ms: u64,
    },
    /// Past the quiet period with no fork proof against the Send.
    Confirmed,
    /// The Send is at or after its sender's fork.
    Void,
}

/// A payment in or out of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Movement {
    /// A counted Send by the account.
    Sent {
        /// Seq of the Send.
        seq: u64,
        /// Its hash.
        block: BlockHash,
        /// Payee.
        to: AccountId,
        /// Micro-credits.
        amount: u64,
        /// The Access block paid for, if named.
        access_ref: Option<BlockHash>,
    },
    /// A counted Receive by the account.
    Received {
        /// Seq of the Receive.
        seq: u64,
        /// Its hash.
        block: BlockHash,
        /// The Send received.
        send: BlockHash,
        /// Payer.
        from: AccountId,
        /// Micro-credits.
        amount: u64,
        /// Whether it counts yet.
        status: ReceiptStatus,
    },
}

/// Everything the fold yields, in canonical order: equal on two nodes that hold the
/// same blocks and fork proofs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Counted heads.
    pub heads: BTreeMap<AccountId, Head>,
    /// Balances of every account with a genesis balance or a chain.
    pub balances: BTreeMap<AccountId, Balance>,
    /// Registered principals.
    pub directory: Vec<Principal>,
    /// Grants by (patient, grant id).
    pub grants: Vec<Grant>,
    /// The audit trail by (owner, seq).
    pub access: Vec<AccessRecord>,
    /// Fork proofs by author.
    pub fork_proofs: Vec<ForkProof>,
}

struct StoredBlock {
    block: VerifiedBlock,
    /// Kept only so Receives can name it; counts for nothing.
    evidence: bool,
}

/// An author's linked chain: hashes by seq (index = seq - 1).
struct Chain {
    hashes: Vec<BlockHash>,
    balance: i64,
    role: Role,
}

struct GrantIdx {
    seq: u64,
    hash: BlockHash,
    revoke: Option<(u64, BlockHash)>,
}

enum Step {
    Stored,
    Duplicate,
    Pending(Need),
    Fork(ForkProof),
}

enum Verdict {
    Valid { role: Role, balance: i64 },
    Pending(Need),
}

/// The in-memory block lattice of one network. No I/O: the caller persists what
/// [`Ledger::ingest`] reports as stored and feeds blocks back in on restart.
pub struct Ledger {
    genesis: Genesis,
    network: [u8; 32],
    config: LedgerConfig,
    blocks: HashMap<BlockHash, StoredBlock>,
    by_author: BTreeSet<(AccountId, u64, BlockHash)>,
    chains: HashMap<AccountId, Chain>,
    proofs: BTreeMap<AccountId, ForkProof>,
    directory: BTreeMap<AccountId, BlockHash>,
    grants: BTreeMap<(AccountId, Vec<u8>), GrantIdx>,
    grants_by_grantee: BTreeSet<(AccountId, AccountId, Vec<u8>)>,
    access: BTreeMap<(AccountId, u64), BlockHash>,
    access_by_requester: BTreeSet<(AccountId, AccountId, u64)>,
    /// Send hash -> (receiver, seq of its Receive).
    receipts: HashMap<BlockHash, (AccountId, u64)>,
    /// (Access block, Send paying for it).
    payments: BTreeSet<(BlockHash, BlockHash)>,
    /// Priced, answered accesses not yet paid: (owner, requester) -> (seq, access hash).
    /// Derived like every other index; kept so "is this requester behind on payments"
    /// is not a scan of the whole audit trail.
    owed: BTreeMap<(AccountId, AccountId), BTreeSet<(u64, BlockHash)>>,
    /// Owner and requester of each priced access, to clear `owed` when a Send names it.
    owed_by_access: BTreeMap<BlockHash, (AccountId, AccountId, u64)>,
    /// Sends and Receives of each linked chain, as (seq, hash) in seq order.
    movements: HashMap<AccountId, Vec<(u64, BlockHash)>>,
    /// Blocks of each linked chain that set its encryption key (a Register with one,
    /// then EncryptionKey blocks), as (seq, hash) in seq order: the latest counted wins.
    encryption_keys: HashMap<AccountId, Vec<(u64, BlockHash)>>,
    pending: Pending,
    /// Decompressed author keys, shared with every [`BlockVerifier`] handed out.
    keys: Arc<KeyCache>,
}

/// Decodes and verifies blocks for one ledger's network without holding the ledger:
/// signature checking is the costly part of ingesting, and needs no chain state.
/// Made by [`Ledger::verifier`]; cheap to clone.
#[derive(Clone)]
pub struct BlockVerifier {
    network: [u8; 32],
    max_block_bytes: usize,
    keys: Arc<KeyCache>,
}

impl std::fmt::Debug for BlockVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockVerifier")
            .field("network", &hex::encode(&self.network[..4]))
            .finish_non_exhaustive()
    }
}

impl BlockVerifier {
    /// Verifies received bytes as a block (see [`VerifiedBlock::from_bytes`]).
    pub fn decode(&self, bytes: &[u8]) -> Result<VerifiedBlock, LedgerError> {
        VerifiedBlock::decode_cached(
            bytes.to_vec(),
            &self.network,
            self.max_block_bytes,
            &self.keys,
        )
    }

    /// Verifies many received blocks at once. `result[i]` is exactly what
    /// [`BlockVerifier::decode`] says about `blocks[i]`, value or error, but the
    /// signatures are checked with one ed25519 batch verification (about three times
    /// faster per signature than one by one); only if that fails is each checked
    /// alone, so a bad block is refused with its own error and the good ones still
    /// pass.
    pub fn decode_batch(&self, blocks: Vec<Vec<u8>>) -> Vec<Result<VerifiedBlock, LedgerError>> {
        VerifiedBlock::decode_batch(blocks, &self.network, self.max_block_bytes, &self.keys)
    }
}

impl Ledger {
    /// An empty ledger for the network of `genesis`.
    pub fn new(genesis: Genesis, config: LedgerConfig) -> Self {
        Self {
            network: genesis.hash(),
            genesis,
            config,
            blocks: HashMap::new(),
            by_author: BTreeSet::new(),
            chains: HashMap::new(),
            proofs: BTreeMap::new(),
            directory: BTreeMap::new(),
            grants: BTreeMap::new(),
            grants_by_grantee: BTreeSet::new(),
            access: BTreeMap::new(),
            access_by_requester: BTreeSet::new(),
            receipts: HashMap::new(),
            payments: BTreeSet::new(),
            owed: BTreeMap::new(),
            owed_by_access: BTreeMap::new(),
            movements: HashMap::new(),
            encryption_keys: HashMap::new(),
            pending: Pending::default(),
            keys: Arc::new(KeyCache::default()),
        }
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The network id blocks must carry: the genesis hash.
    pub fn network(&self) -> &[u8; 32] {
        &self.network
    }

    /// The tunables.
    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    /// Verifies received bytes as a block of this network within the size limit.
    pub fn decode(&self, bytes: &[u8]) -> Result<VerifiedBlock, LedgerError> {
        self.verifier().decode(bytes)
    }

    /// Verifies many received blocks at once (see [`BlockVerifier::decode_batch`]).
    pub fn decode_batch(&self, blocks: Vec<Vec<u8>>) -> Vec<Result<VerifiedBlock, LedgerError>> {
        self.verifier().decode_batch(blocks)
    }

    /// A verifier for this ledger's network, usable without holding the ledger.
    pub fn verifier(&self) -> BlockVerifier {
        BlockVerifier {
            network: self.network,
            max_block_bytes: self.config.max_block_bytes,
            keys: self.keys.clone(),
        }
    }
}
