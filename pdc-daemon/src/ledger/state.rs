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

    // ----- ingest -------------------------------------------------------------------

    /// Validates and stores a block, then any pending blocks it unblocks.
    ///
    /// `now_ms` is the local clock, used only to expire old pending blocks.
    pub fn ingest(&mut self, block: VerifiedBlock, now_ms: u64) -> Result<Ingested, LedgerError> {
        self.pending
            .expire(now_ms.saturating_sub(self.config.pending_ttl_ms));
        let mut stored = Vec::new();
        let step = self.process(block, now_ms, &mut stored)?;
        self.drain(&mut stored);
        Ok(match step {
            Step::Stored => Ingested::Applied { stored },
            Step::Duplicate => Ingested::Duplicate,
            Step::Pending(need) => Ingested::Pending {
                missing: self.range_for(need),
            },
            Step::Fork(proof) => Ingested::Fork { proof, stored },
        })
    }

    /// Ingests decoded blocks in order, as [`Ledger::ingest`] would one by one: the
    /// result for each is the one `ingest` gives for it after the blocks before it
    /// (a decode error is passed through in its place), so one call for a sync range
    /// leaves the same state and reports the same errors as a call per block.
    pub fn ingest_batch(
        &mut self,
        blocks: impl IntoIterator<Item = Result<VerifiedBlock, LedgerError>>,
        now_ms: u64,
    ) -> Vec<Result<Ingested, LedgerError>> {
        blocks
            .into_iter()
            .map(|b| b.and_then(|b| self.ingest(b, now_ms)))
            .collect()
    }

    /// Verifies and stores a fork proof received from a peer, freezing its author.
    pub fn ingest_fork_proof(&mut self, msg: &ForkProofMsg) -> Result<ProofIngested, LedgerError> {
        let proof = ForkProof::verify(msg, &self.network, self.config.max_block_bytes)?;
        let mut stored = Vec::new();
        let (news, canonical) = self.add_proof(proof.clone(), &mut stored);
        // A Send inside the proof may already have been received by its payee.
        let (a, b) = proof.blocks();
        for signed in [a, b] {
            if let Ok(block) =
                VerifiedBlock::from_signed(signed, &self.network, self.config.max_block_bytes)
                && matches!(block.kind(), Kind::Send(_))
            {
                self.store_evidence(block, &mut stored);
            }
        }
        self.drain(&mut stored);
        Ok(ProofIngested {
            news,
            proof: canonical,
            stored,
        })
    }

    /// Retries the pending blocks that wait for any newly stored block, transitively.
    fn drain(&mut self, stored: &mut Vec<BlockHash>) {
        let mut i = 0;
        while i < stored.len() {
            let hash = stored[i];
            i += 1;
            for entry in self.pending.take_waiters(&hash) {
                // A retried block that is now found invalid is simply dropped.
                let _ = self.process(entry.block, entry.since_ms, stored);
            }
        }
    }

    fn process(
        &mut self,
        block: VerifiedBlock,
        since_ms: u64,
        stored: &mut Vec<BlockHash>,
    ) -> Result<Step, LedgerError> {
        let hash = block.hash();
        if self.blocks.contains_key(&hash) {
            return Ok(Step::Duplicate);
        }
        if let Some(need) = self.pending.need_of(&hash) {
            return Ok(Step::Pending(need));
        }
        let (author, seq) = (block.author(), block.seq());
        let is_send = matches!(block.kind(), Kind::Send(_));
        if let Some(proof) = self.proofs.get(&author)
            && seq >= proof.seq()
        {
            let proof = proof.clone();
            if is_send {
                self.store_evidence(block, stored);
            }
            return if proof.contains(&hash) {
                Ok(Step::Fork(proof))
            } else if is_send {
                Ok(Step::Stored)
            } else {
                Err(LedgerError::AuthorFrozen {
                    author,
                    fork_seq: proof.seq(),
                })
            };
        }
        let rival = match self.linked_at(&author, seq) {
            Some(h) if h != hash => self.blocks.get(&h).map(|s| &s.block),
            _ => self.pending.other_at(author, seq, &hash),
        };
        if let Some(rival) = rival {
            let proof = ForkProof::from_pair(rival, &block)?;
            let (_, proof) = self.add_proof(proof, stored);
            if is_send {
                self.store_evidence(block, stored);
            }
            return Ok(Step::Fork(proof));
        }
        match self.validate(&block)? {
            Verdict::Valid { role, balance } => {
                self.apply(block, role, balance);
                stored.push(hash);
                Ok(Step::Stored)
            }
            Verdict::Pending(need) => {
                let entry = PendingEntry {
                    block,
                    need,
                    since_ms,
                };
                self.pending.insert(entry, self.config.max_pending);
                Ok(Step::Pending(need))
            }
        }
    }

    /// Stores `proof` if it is the author's lowest; returns whether it was and the
    /// author's canonical proof.
    fn add_proof(&mut self, proof: ForkProof, stored: &mut Vec<BlockHash>) -> (bool, ForkProof) {
        let author = proof.author();
        if let Some(existing) = self.proofs.get(&author)
            && existing.rank() <= proof.rank()
        {
            return (false, existing.clone());
        }
        self.proofs.insert(author, proof.clone());
        // Pending blocks from the fork on can never be linked now; Sends stay as evidence.
        for entry in self.pending.take_author_from(author, proof.seq()) {
            if matches!(entry.block.kind(), Kind::Send(_)) {
                self.store_evidence(entry.block, stored);
            }
        }
        (true, proof)
    }

    fn store_evidence(&mut self, block: VerifiedBlock, stored: &mut Vec<BlockHash>) {
        let hash = block.hash();
        if self.blocks.contains_key(&hash) {
            return;
        }
        self.by_author.insert((block.author(), block.seq(), hash));
        self.blocks.insert(
            hash,
            StoredBlock {
                block,
                evidence: true,
            },
        );
        stored.push(hash);
    }

    fn linked_at(&self, author: &AccountId, seq: u64) -> Option<BlockHash> {
        let chain = self.chains.get(author)?;
        let idx = usize::try_from(seq.checked_sub(1)?).ok()?;
        chain.hashes.get(idx).copied()
    }

    fn validate(&self, block: &VerifiedBlock) -> Result<Verdict, LedgerError> {
        let (author, seq, prev) = (block.author(), block.seq(), block.prev());
        // One lookup of the author's chain for every rule below.
        let chain = self.chains.get(&author);
        let tip = chain.and_then(|c| c.hashes.last());
        let tip_seq = chain.map_or(0, |c| c.hashes.len() as u64);
        if seq == 1 {
            if prev != BlockHash::ZERO {
                return Err(LedgerError::PrevMismatch {
                    seq,
                    expected: BlockHash::ZERO,
                    got: prev,
                });
            }
        } else {
            let expected = usize::try_from(seq - 2)
                .ok()
                .and_then(|i| chain?.hashes.get(i).copied())
                .unwrap_or(BlockHash::ZERO);
            if prev == BlockHash::ZERO {
                return Err(LedgerError::PrevMismatch {
                    seq,
                    expected,
                    got: prev,
                });
            }
            if let Some(p) = self.blocks.get(&prev) {
                if p.block.author() != author {
                    return Err(LedgerError::PrevMismatch {
                        seq,
                        expected,
                        got: prev,
                    });
                }
                if p.block.seq() != seq - 1 {
                    return Err(LedgerError::SeqMismatch {
                        seq,
                        prev_seq: p.block.seq(),
                    });
                }
            }
            if seq > tip_seq + 1 {
                return Ok(Verdict::Pending(Need::Parent {
                    author,
                    seq: seq - 1,
                    hash: prev,
                }));
            }
            if tip != Some(&prev) {
                return Err(LedgerError::PrevMismatch {
                    seq,
                    expected,
                    got: prev,
                });
            }
        }
        let verdict = self.body_rules(&author, seq, block.kind(), chain)?;
        if let Verdict::Valid { balance, .. } = verdict
            && balance != block.balance_after()
        {
            return Err(LedgerError::BalanceMismatch {
                claimed: block.balance_after(),
                expected: balance,
            });
        }
        Ok(verdict)
    }

    /// The rules that need chain state, for a block of `author` at `seq` that follows
    /// the linked tip of `chain` (the author's, if it has one). Returns the author's
    /// role and balance after the block.
    fn body_rules(
        &self,
        author: &AccountId,
        seq: u64,
        kind: &Kind,
        chain: Option<&Chain>,
    ) -> Result<Verdict, LedgerError> {
        let (role, before) = match (seq, kind, chain) {
            (1, Kind::Register(r), _) => {
                let role = r
                    .role
                    .parse::<Role>()
                    .map_err(|reason| LedgerError::Malformed { reason })?;
                let genesis = i64::try_from(self.genesis.balance_of(author))
                    .map_err(|_| LedgerError::Overflow)?;
                (role, genesis)
            }
            (1, k, _) => {
                return Err(LedgerError::FirstBlockNotRegister { kind: kind_name(k) });
            }
            (_, Kind::Register(_), _) => return Err(LedgerError::RegisterNotFirst { seq }),
            (_, _, Some(c)) => (c.role, c.balance),
            (_, _, None) => {
                // Unreachable through `validate`, which links only after the tip.
                return Err(LedgerError::PrevMismatch {
                    seq,
                    expected: BlockHash::ZERO,
                    got: BlockHash::ZERO,
                });
            }
        };
        let balance = match kind {
            Kind::Register(_) => before,
            Kind::Access(_) => {
                if role != Role::Patient {
                    return Err(LedgerError::NotDataOwner { author: *author });
                }
                before
            }
            Kind::ConsentGrant(_) | Kind::ConsentRevoke(_) if role != Role::Patient => {
                return Err(LedgerError::NotPatient {
                    kind: kind_name(kind),
                    author: *author,
                });
            }
            Kind::ConsentGrant(g) => {
                if self.grants.contains_key(&(*author, g.grant_id.clone())) {
                    return Err(LedgerError::DuplicateGrant {
                        grant_id: hex::encode(&g.grant_id),
                    });
                }
                need_account(&g.grantee, "grantee")?;
                before
            }
            Kind::ConsentRevoke(r) => {
                match self.grants.get(&(*author, r.grant_id.clone())) {
                    None => {
                        return Err(LedgerError::UnknownGrant {
                            grant_id: hex::encode(&r.grant_id),
                        });
                    }
                    Some(g) if g.revoke.is_some() => {
                        return Err(LedgerError::GrantAlreadyRevoked {
                            grant_id: hex::encode(&r.grant_id),
                        });
                    }
                    Some(_) => {}
                }
                before
            }
            Kind::Send(s) => {
                let to = need_account(&s.to, "to")?;
                if s.amount == 0 {
                    return Err(LedgerError::ZeroAmount);
                }
                if to == *author {
                    return Err(LedgerError::SelfPayment);
                }
                let amount = i64::try_from(s.amount).map_err(|_| LedgerError::Overflow)?;
                let after = before.checked_sub(amount).ok_or(LedgerError::Overflow)?;
                if after < 0 {
                    return Err(LedgerError::InsufficientBalance {
                        balance: before,
                        amount: s.amount,
                    });
                }
                after
            }
            Kind::Receive(r) => {
                let send_hash = need_hash(&r.send_hash, "send_hash")?;
                let sender = need_account(&r.sender, "sender")?;
                let Some(stored) = self.blocks.get(&send_hash) else {
                    return Ok(Verdict::Pending(Need::Send {
                        sender,
                        seq: r.send_seq,
                        hash: send_hash,
                    }));
                };
                let Kind::Send(send) = stored.block.kind() else {
                    return Err(LedgerError::NotASend { hash: send_hash });
                };
                let to = need_account(&send.to, "to")?;
                if to != *author {
                    return Err(LedgerError::NotAddressedToAuthor { send_hash, to });
                }
                if stored.block.author() != sender || stored.block.seq() != r.send_seq {
                    return Err(LedgerError::ReceiveMismatch {
                        claimed_sender: sender,
                        claimed_seq: r.send_seq,
                        sender: stored.block.author(),
                        seq: stored.block.seq(),
                    });
                }
                if let Some((_, at_seq)) = self.receipts.get(&send_hash) {
                    return Err(LedgerError::AlreadyReceived {
                        send_hash,
                        at_seq: *at_seq,
                    });
                }
                let amount = i64::try_from(send.amount).map_err(|_| LedgerError::Overflow)?;
                before.checked_add(amount).ok_or(LedgerError::Overflow)?
            }
        };
        Ok(Verdict::Valid { role, balance })
    }

    fn apply(&mut self, block: VerifiedBlock, role: Role, balance: i64) {
        let (hash, author, seq) = (block.hash(), block.author(), block.seq());
        match block.kind() {
            Kind::Register(_) => {
                self.directory.insert(author, hash);
            }
            Kind::ConsentGrant(g) => {
                let idx = GrantIdx {
                    seq,
                    hash,
                    revoke: None,
                };
                self.grants.insert((author, g.grant_id.clone()), idx);
                if let Some(grantee) = AccountId::from_slice(&g.grantee) {
                    self.grants_by_grantee
                        .insert((grantee, author, g.grant_id.clone()));
                }
            }
            Kind::ConsentRevoke(r) => {
                if let Some(g) = self.grants.get_mut(&(author, r.grant_id.clone())) {
                    g.revoke = Some((seq, hash));
                }
            }
            Kind::Access(a) => {
                self.access.insert((author, seq), hash);
                if let Some(requester) = AccountId::from_slice(&a.requester) {
                    self.access_by_requester.insert((requester, author, seq));
                    let paid = self
                        .payments
                        .range((hash, BlockHash::ZERO)..=(hash, BlockHash([0xff; 32])))
                        .next()
                        .is_some();
                    if a.price > 0 && a.decision != "denied" && !paid {
                        self.owed
                            .entry((author, requester))
                            .or_default()
                            .insert((seq, hash));
                        self.owed_by_access.insert(hash, (author, requester, seq));
                    }
                }
            }
            Kind::Send(s) => {
                if let Some(access) = BlockHash::from_slice(&s.access_ref) {
                    self.payments.insert((access, hash));
                    if let Some((owner, requester, aseq)) = self.owed_by_access.remove(&access)
                        && let Some(set) = self.owed.get_mut(&(owner, requester))
                    {
                        set.remove(&(aseq, access));
                    }
                }
                self.movements.entry(author).or_default().push((seq, hash));
            }
            Kind::Receive(r) => {
                if let Some(send) = BlockHash::from_slice(&r.send_hash) {
                    self.receipts.insert(send, (author, seq));
                }
                self.movements.entry(author).or_default().push((seq, hash));
            }
        }
        let chain = self.chains.entry(author).or_insert(Chain {
            hashes: Vec::new(),
            balance,
            role,
        });
        chain.hashes.push(hash);
        chain.balance = balance;
        chain.role = role;
        self.by_author.insert((author, seq, hash));
        self.blocks.insert(
            hash,
            StoredBlock {
                block,
                evidence: false,
            },
        );
    }

    // ----- authoring ----------------------------------------------------------------

    /// Prepares the next block of `author` with `body`: fills in seq, prev and the
    /// balance after, checking every rule a receiving node will check. Sign the result
    /// with the author's key and [`Ledger::ingest`] it.
    pub fn prepare(
        &self,
        author: &AccountId,
        body: Kind,
        timestamp_ms: u64,
    ) -> Result<BlockBuilder, LedgerError> {
        let tip_seq = self.chains.get(author).map_or(0, |c| c.hashes.len() as u64);
        let seq = tip_seq + 1;
        if let Some(p) = self.proofs.get(author)
            && seq >= p.seq()
        {
            return Err(LedgerError::AuthorFrozen {
                author: *author,
                fork_seq: p.seq(),
            });
        }
        let prev = self.linked_at(author, tip_seq).unwrap_or(BlockHash::ZERO);
        match self.body_rules(author, seq, &body, self.chains.get(author))? {
            Verdict::Valid { balance, .. } => Ok(BlockBuilder::new(self.network, body)
                .seq(seq)
                .prev(prev)
                .timestamp_ms(timestamp_ms)
                .balance_after(balance)),
            Verdict::Pending(Need::Send { sender, seq, hash }) => Err(LedgerError::UnknownSend {
                send_hash: hash,
                sender,
                send_seq: seq,
            }),
            Verdict::Pending(Need::Parent { .. }) => Err(LedgerError::PrevMismatch {
                seq,
                expected: prev,
                got: prev,
            }),
        }
    }

    // ----- sync ---------------------------------------------------------------------

    /// The counted head of every chain (frozen chains end before their fork).
    pub fn heads(&self) -> BTreeMap<AccountId, Head> {
        self.chains
            .keys()
            .filter_map(|a| self.head(a).map(|h| (*a, h)))
            .collect()
    }

    /// The counted head of `author`'s chain.
    pub fn head(&self, author: &AccountId) -> Option<Head> {
        let chain = self.chains.get(author)?;
        let linked = chain.hashes.len() as u64;
        let seq = match self.proofs.get(author) {
            Some(p) => linked.min(p.frozen_at()),
            None => linked,
        };
        let hash = self.linked_at(author, seq)?;
        Some(Head { seq, hash })
    }

    /// Stored blocks of `author` from `from_seq`, in seq order, at most `limit`; for
    /// serving sync requests. Includes blocks that count for nothing (a frozen author's
    /// evidence), since peers may need them to validate Receives.
    pub fn blocks_range(
        &self,
        author: &AccountId,
        from_seq: u64,
        limit: usize,
    ) -> Vec<&VerifiedBlock> {
        self.by_author
            .range(
                (*author, from_seq, BlockHash::ZERO)..=(*author, u64::MAX, BlockHash([0xff; 32])),
            )
            .filter_map(|(_, _, h)| self.blocks.get(h).map(|s| &s.block))
            .take(limit)
            .collect()
    }

    /// A stored block by hash.
    pub fn block(&self, hash: &BlockHash) -> Option<&VerifiedBlock> {
        self.blocks.get(hash).map(|s| &s.block)
    }

    /// Whether the block is stored and counts toward the state.
    pub fn counts(&self, hash: &BlockHash) -> bool {
        self.blocks
            .get(hash)
            .is_some_and(|s| !s.evidence && self.counted(&s.block.author(), s.block.seq()))
    }

    /// Chain ranges that pending blocks wait for, merged per author.
    pub fn missing(&self) -> Vec<MissingRange> {
        let mut merged: BTreeMap<AccountId, MissingRange> = BTreeMap::new();
        for need in self.pending.needs() {
            let r = self.range_for(need);
            merged
                .entry(r.author)
                .and_modify(|m| {
                    m.from_seq = m.from_seq.min(r.from_seq);
                    m.to_seq = m.to_seq.max(r.to_seq);
                })
                .or_insert(r);
        }
        merged.into_values().collect()
    }

    /// How many blocks are pending.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    fn range_for(&self, need: Need) -> MissingRange {
        let (author, seq) = match need {
            Need::Parent { author, seq, .. } => (author, seq),
            Need::Send { sender, seq, .. } => (sender, seq),
        };
        let linked = self
            .chains
            .get(&author)
            .map_or(0, |c| c.hashes.len() as u64);
        MissingRange {
            author,
            from_seq: (linked + 1).min(seq).max(1),
            to_seq: seq.max(1),
        }
    }

    // ----- fold ---------------------------------------------------------------------

    fn counted(&self, author: &AccountId, seq: u64) -> bool {
        self.proofs.get(author).is_none_or(|p| seq < p.seq())
    }

    /// The canonical fork proof against `author`, if any.
    pub fn fork_proof(&self, author: &AccountId) -> Option<&ForkProof> {
        self.proofs.get(author)
    }

    /// All fork proofs, by author.
    pub fn fork_proofs(&self) -> impl Iterator<Item = &ForkProof> {
        self.proofs.values()
    }

    /// Frozen authors and the last seq of theirs that counts.
    pub fn frozen(&self) -> BTreeMap<AccountId, u64> {
        self.proofs
            .iter()
            .map(|(a, p)| (*a, p.frozen_at()))
            .collect()
    }

    /// The balance of `account` at local time `now_ms`.
    pub fn balance(&self, account: &AccountId, now_ms: u64) -> Balance {
        let chain = match self.head(account) {
            Some(h) => self.block(&h.hash).map_or(0, |b| b.balance_after()),
            // Genesis balances fit i64 (checked when the genesis was built).
            None => i64::try_from(self.genesis.balance_of(account)).unwrap_or(i64::MAX),
        };
        let mut balance = Balance {
            chain,
            confirmed: chain,
            pending: 0,
            void: 0,
        };
        for m in self.movements(account, now_ms) {
            if let Movement::Received { amount, status, .. } = m {
                let amount = i64::try_from(amount).unwrap_or(i64::MAX);
                match status {
                    ReceiptStatus::Confirmed => {}
                    ReceiptStatus::Pending { .. } => {
                        balance.pending = balance.pending.saturating_add(amount);
                        balance.confirmed = balance.confirmed.saturating_sub(amount);
                    }
                    ReceiptStatus::Void => {
                        balance.void = balance.void.saturating_add(amount);
                        balance.confirmed = balance.confirmed.saturating_sub(amount);
                    }
                }
            }
        }
        balance
    }

    /// Balances of every account with a genesis balance or a chain.
    pub fn balances(&self, now_ms: u64) -> BTreeMap<AccountId, Balance> {
        self.genesis
            .balances()
            .keys()
            .chain(self.chains.keys())
            .map(|a| (*a, self.balance(a, now_ms)))
            .collect()
    }

    /// Counted payments in and out of `account`, in chain order.
    pub fn movements(&self, account: &AccountId, now_ms: u64) -> Vec<Movement> {
        let Some(list) = self.movements.get(account) else {
            return Vec::new();
        };
        list.iter()
            .filter(|(seq, _)| self.counted(account, *seq))
            .filter_map(|(seq, hash)| {
                let block = self.block(hash)?;
                match block.kind() {
                    Kind::Send(s) => Some(Movement::Sent {
                        seq: *seq,
                        block: *hash,
                        to: AccountId::from_slice(&s.to)?,
                        amount: s.amount,
                        access_ref: BlockHash::from_slice(&s.access_ref),
                    }),
                    Kind::Receive(r) => {
                        let send_hash = BlockHash::from_slice(&r.send_hash)?;
                        let send = self.blocks.get(&send_hash)?;
                        let Kind::Send(s) = send.block.kind() else {
                            return None;
                        };
                        let status = self.receipt_status(&send.block, block, now_ms);
                        Some(Movement::Received {
                            seq: *seq,
                            block: *hash,
                            send: send_hash,
                            from: send.block.author(),
                            amount: s.amount,
                            status,
                        })
                    }
                    _ => None,
                }
            })
            .collect()
    }

    fn receipt_status(
        &self,
        send: &VerifiedBlock,
        receive: &VerifiedBlock,
        now_ms: u64,
    ) -> ReceiptStatus {
        if !self.counted(&send.author(), send.seq()) {
            return ReceiptStatus::Void;
        }
        let anchor = send.timestamp_ms().max(receive.timestamp_ms());
        let confirms_at_ms = anchor.saturating_add(self.config.quiet_period_ms);
        if now_ms < confirms_at_ms {
            ReceiptStatus::Pending { confirms_at_ms }
        } else {
            ReceiptStatus::Confirmed
        }
    }

    /// The counted Send(s) paying for an Access block, lowest hash first.
    pub fn payments_for(&self, access_block: &BlockHash) -> Vec<BlockHash> {
        self.payments
            .range((*access_block, BlockHash::ZERO)..=(*access_block, BlockHash([0xff; 32])))
            .map(|(_, send)| *send)
            .filter(|send| self.counts(send))
            .collect()
    }

    /// Whether a Send has been received (claimed) by its payee.
    pub fn is_received(&self, send: &BlockHash) -> bool {
        self.receipts.contains_key(send)
    }

    /// Priced, answered accesses by `owner` to `requester` with no counted payment yet,
    /// oldest first, as (access block hash, owner's timestamp).
    pub fn unpaid_accesses(
        &self,
        owner: &AccountId,
        requester: &AccountId,
    ) -> Vec<(BlockHash, u64)> {
        self.owed
            .get(&(*owner, *requester))
            .into_iter()
            .flatten()
            .filter(|(_, h)| self.counts(h) && self.payments_for(h).is_empty())
            .filter_map(|(_, h)| self.block(h).map(|b| (*h, b.timestamp_ms())))
            .collect()
    }

    /// A registered principal.
    pub fn principal(&self, account: &AccountId) -> Option<Principal> {
        let hash = self.directory.get(account)?;
        if !self.counted(account, 1) {
            return None;
        }
        let Kind::Register(r) = self.block(hash)?.kind() else {
            return None;
        };
        Some(Principal {
            account: *account,
            role: r.role.parse().ok()?,
            display_name: r.display_name.clone(),
            pinned_name: self.genesis.name_of(account).map(str::to_owned),
            listen_addrs: r.listen_addrs.clone(),
            block: *hash,
        })
    }

    /// Every registered principal, by key.
    pub fn directory(&self) -> Vec<Principal> {
        self.directory
            .keys()
            .filter_map(|a| self.principal(a))
            .collect()
    }

    /// Principals whose pinned or display name is `name` (pinned names first).
    pub fn find_by_name(&self, name: &str) -> Vec<Principal> {
        let mut found: Vec<Principal> = self
            .directory()
            .into_iter()
            .filter(|p| p.pinned_name.as_deref() == Some(name) || p.display_name == name)
            .collect();
        found.sort_by_key(|p| p.pinned_name.as_deref() != Some(name));
        found
    }

    /// One grant of `patient`.
    pub fn grant(&self, patient: &AccountId, grant_id: &[u8]) -> Option<Grant> {
        let idx = self.grants.get(&(*patient, grant_id.to_vec()))?;
        self.grant_view(patient, idx)
    }

    fn grant_view(&self, patient: &AccountId, idx: &GrantIdx) -> Option<Grant> {
        if !self.counted(patient, idx.seq) {
            return None;
        }
        let Kind::ConsentGrant(g) = self.block(&idx.hash)?.kind() else {
            return None;
        };
        Some(Grant {
            patient: *patient,
            grant_id: g.grant_id.clone(),
            grantee: AccountId::from_slice(&g.grantee)?,
            scope: g.scope.clone(),
            purposes: g.purposes.clone(),
            not_after_ms: g.not_after_ms,
            price: g.price,
            seq: idx.seq,
            block: idx.hash,
            revoked_by: idx
                .revoke
                .filter(|(seq, _)| self.counted(patient, *seq))
                .map(|(_, h)| h),
        })
    }

    /// Every grant written by `patient`, by grant id.
    pub fn grants_by_patient(&self, patient: &AccountId) -> Vec<Grant> {
        self.grants
            .range((*patient, Vec::new())..)
            .take_while(|((p, _), _)| p == patient)
            .filter_map(|((p, _), idx)| self.grant_view(p, idx))
            .collect()
    }

    /// Every grant naming `grantee`, by (patient, grant id).
    pub fn grants_for_grantee(&self, grantee: &AccountId) -> Vec<Grant> {
        self.grants_by_grantee
            .range((*grantee, AccountId([0; 32]), Vec::new())..)
            .take_while(|(g, _, _)| g == grantee)
            .filter_map(|(_, patient, id)| self.grant(patient, id))
            .collect()
    }

    /// Every grant, by (patient, grant id).
    pub fn all_grants(&self) -> Vec<Grant> {
        self.grants
            .iter()
            .filter_map(|((p, _), idx)| self.grant_view(p, idx))
            .collect()
    }

    fn access_view(&self, owner: &AccountId, seq: u64) -> Option<AccessRecord> {
        if !self.counted(owner, seq) {
            return None;
        }
        let hash = self.access.get(&(*owner, seq))?;
        let block = self.block(hash)?;
        let Kind::Access(a) = block.kind() else {
            return None;
        };
        Some(AccessRecord {
            owner: *owner,
            seq,
            block: *hash,
            timestamp_ms: block.timestamp_ms(),
            request_id: a.request_id.clone(),
            requester: AccountId::from_slice(&a.requester)?,
            query: a.query.clone(),
            purpose: a.purpose.clone(),
            decision: a.decision.parse().ok()?,
            reason: a.reason.clone(),
            record_hashes: a
                .record_hashes
                .iter()
                .filter_map(|h| BlockHash::from_slice(h))
                .collect(),
            price: a.price,
            staff_user: a.staff_user.clone(),
        })
    }

    /// The audit trail of `owner`: every counted Access block, in chain order.
    pub fn access_by_owner(&self, owner: &AccountId) -> Vec<AccessRecord> {
        self.access
            .range((*owner, 0)..=(*owner, u64::MAX))
            .filter_map(|((o, seq), _)| self.access_view(o, *seq))
            .collect()
    }

    /// Every counted Access block naming `requester`, by (owner, seq).
    pub fn access_by_requester(&self, requester: &AccountId) -> Vec<AccessRecord> {
        self.access_by_requester
            .range((*requester, AccountId([0; 32]), 0)..)
            .take_while(|(r, _, _)| r == requester)
            .filter_map(|(_, owner, seq)| self.access_view(owner, *seq))
            .collect()
    }

    /// The whole folded state at `now_ms`, in canonical order.
    pub fn snapshot(&self, now_ms: u64) -> Snapshot {
        Snapshot {
            heads: self.heads(),
            balances: self.balances(now_ms),
            directory: self.directory(),
            grants: self.all_grants(),
            access: self
                .access
                .keys()
                .filter_map(|(o, seq)| self.access_view(o, *seq))
                .collect(),
            fork_proofs: self.proofs.values().cloned().collect(),
        }
    }
}
