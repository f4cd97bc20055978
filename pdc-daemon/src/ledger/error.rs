//! Why a block, a fork proof or a genesis file is refused.

use super::types::{AccountId, BlockHash};

/// Why a block or fork proof was refused. Each rule of DESIGN.md ("Ledger: a block
/// lattice") has its own variant so callers and tests can tell them apart; every
/// message says in words what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The encoded block is larger than the configured limit.
    #[error("block of {len} bytes exceeds the limit of {max} bytes")]
    Oversized {
        /// Size of the input.
        len: usize,
        /// Allowed maximum.
        max: usize,
    },
    /// The bytes are not a well-formed block.
    #[error("malformed block: {reason}")]
    Malformed {
        /// What was wrong with the encoding or a field.
        reason: String,
    },
    /// The outer `SignedBlock` envelope is not the canonical prost encoding. Refused
    /// because a relay could otherwise re-wrap an honest block into bytes with a new
    /// hash and frame its author for a fork.
    #[error("block envelope is not canonically encoded; relays must forward the exact bytes")]
    NonCanonicalEncoding,
    /// The block belongs to another network (another genesis).
    #[error("block is for network {got}, this node is on network {expected}")]
    WrongNetwork {
        /// Our genesis hash, hex.
        expected: String,
        /// The block's `network`, hex.
        got: String,
    },
    /// `author` is not a valid ed25519 public key.
    #[error("block author is not a valid ed25519 public key")]
    BadAuthorKey,
    /// The signature does not verify over the exact `unsigned` bytes.
    #[error("signature does not verify for author {author}")]
    BadSignature {
        /// Claimed author.
        author: AccountId,
    },
    /// `prev` names a block of the author whose seq is not `seq - 1`.
    #[error("block seq {seq} must follow seq {} but its prev is the author's block seq {prev_seq}", seq - 1)]
    SeqMismatch {
        /// The block's seq.
        seq: u64,
        /// Seq of the block that `prev` names.
        prev_seq: u64,
    },
    /// `prev` is not the hash of the author's block at `seq - 1` (zero for seq 1).
    #[error("block seq {seq} has prev {got}, expected {expected}")]
    PrevMismatch {
        /// The block's seq.
        seq: u64,
        /// What the chain requires.
        expected: BlockHash,
        /// What the block says.
        got: BlockHash,
    },
    /// A `Register` block at a seq other than 1.
    #[error("Register must be the first block of a chain, found at seq {seq}")]
    RegisterNotFirst {
        /// Where it was found.
        seq: u64,
    },
    /// Seq 1 holds something other than `Register`.
    #[error("the first block of a chain must be Register, found {kind}")]
    FirstBlockNotRegister {
        /// The body kind found.
        kind: &'static str,
    },
    /// Consent blocks are written by patients only.
    #[error("{kind} can only be written by a patient, and {author} registered as a hospital")]
    NotPatient {
        /// Body kind.
        kind: &'static str,
        /// The author.
        author: AccountId,
    },
    /// `Access` blocks are written by the data owner (a patient) only.
    #[error("Access blocks are written by the data owner (a patient); {author} is a hospital")]
    NotDataOwner {
        /// The author.
        author: AccountId,
    },
    /// A grant id already used by this patient.
    #[error("grant id {grant_id} was already used by this patient")]
    DuplicateGrant {
        /// Hex grant id.
        grant_id: String,
    },
    /// A revoke names no grant of the same author.
    #[error("ConsentRevoke names grant {grant_id}, which this patient never granted")]
    UnknownGrant {
        /// Hex grant id.
        grant_id: String,
    },
    /// A revoke names a grant that is already revoked.
    #[error("grant {grant_id} is already revoked")]
    GrantAlreadyRevoked {
        /// Hex grant id.
        grant_id: String,
    },
    /// A `Send` of zero credits.
    #[error("a Send must move a positive amount")]
    ZeroAmount,
    /// A `Send` to its own author.
    #[error("a Send cannot pay its own author")]
    SelfPayment,
    /// The `Send` would make the balance negative.
    #[error("Send of {amount} micro-credits exceeds the balance of {balance}")]
    InsufficientBalance {
        /// Balance before the Send.
        balance: i64,
        /// Amount sent.
        amount: u64,
    },
    /// `balance_after` differs from previous balance + receives - sends.
    #[error("balance_after is {claimed} but the chain gives {expected}")]
    BalanceMismatch {
        /// What the block says.
        claimed: i64,
        /// What the arithmetic gives.
        expected: i64,
    },
    /// Arithmetic would overflow an i64 balance.
    #[error("balance arithmetic overflows")]
    Overflow,
    /// A `Receive` names a block that is not a `Send`.
    #[error("Receive names block {hash}, which is not a Send")]
    NotASend {
        /// The named block.
        hash: BlockHash,
    },
    /// A `Receive` claims a `Send` paid to someone else.
    #[error("Receive claims Send {send_hash}, which pays {to}, not the author")]
    NotAddressedToAuthor {
        /// The Send.
        send_hash: BlockHash,
        /// Its payee.
        to: AccountId,
    },
    /// A `Receive`'s `sender`/`send_seq` disagree with the named `Send`.
    #[error(
        "Receive says the Send is {claimed_sender} seq {claimed_seq}, but it is {sender} seq {seq}"
    )]
    ReceiveMismatch {
        /// Sender the Receive claims.
        claimed_sender: AccountId,
        /// Seq the Receive claims.
        claimed_seq: u64,
        /// Actual sender.
        sender: AccountId,
        /// Actual seq.
        seq: u64,
    },
    /// The `Send` was already received.
    #[error("Send {send_hash} was already received at the author's seq {at_seq}")]
    AlreadyReceived {
        /// The Send.
        send_hash: BlockHash,
        /// Seq of the earlier Receive.
        at_seq: u64,
    },
    /// The block's `Send` is not known here (only from [`super::Ledger::prepare`];
    /// `ingest` keeps such a block pending instead).
    #[error("Send {send_hash} is not known yet; fetch {sender} from seq {send_seq}")]
    UnknownSend {
        /// The Send.
        send_hash: BlockHash,
        /// Its claimed author.
        sender: AccountId,
        /// Its claimed seq.
        send_seq: u64,
    },
    /// The author signed two blocks at one seq; blocks from that seq on count for nothing.
    #[error(
        "author {author} is frozen by a fork proof at seq {fork_seq}; its blocks from there on count for nothing"
    )]
    AuthorFrozen {
        /// The author.
        author: AccountId,
        /// Seq of the fork.
        fork_seq: u64,
    },
    /// A gossiped fork proof does not prove a fork.
    #[error("invalid fork proof: {reason}")]
    InvalidForkProof {
        /// What is wrong with it.
        reason: String,
    },
}

/// Why a genesis file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// Not valid TOML, or a field has the wrong type or is unknown.
    #[error("genesis file is not valid: {0}")]
    Toml(String),
    /// `network_id` is empty.
    #[error("genesis network_id must not be empty")]
    EmptyNetworkId,
    /// An account is not 64 hex digits of a valid ed25519 key.
    #[error("genesis {field}: account {account:?} is not an ed25519 public key in hex: {reason}")]
    BadAccount {
        /// Where (e.g. `balances[2]`).
        field: String,
        /// As written.
        account: String,
        /// What is wrong.
        reason: String,
    },
    /// An account has two initial balances.
    #[error("genesis gives account {0} two initial balances; merge them into one entry")]
    DuplicateAccount(String),
    /// A name is pinned twice.
    #[error("genesis pins the name {0:?} twice")]
    DuplicateName(String),
    /// A pinned name is empty.
    #[error("genesis pins an empty name")]
    EmptyName,
    /// Balances do not fit the ledger's signed 64-bit arithmetic.
    #[error("genesis balances add up to more than {} micro-credits", i64::MAX)]
    TooMuchMoney,
}
