//! The block lattice: blocks, validation, the fold to balances, fork proofs.
//!
//! Pure core, no I/O: the node feeds verified blocks into a [`Ledger`], persists what
//! it reports as stored, and gossips fork proofs. See DESIGN.md, "Ledger: a block
//! lattice", for the rules.
//!
//! # Layout
//! - Value types: [`BlockHash`], [`AccountId`], [`Role`], amounts as integers of
//!   micro-credits ([`MICROS_PER_CREDIT`]).
//! - [`Genesis`]: the network's id, default price and initial balances; its hash is
//!   the network id inside every block.
//! - [`VerifiedBlock`], [`sign_block`], [`BlockBuilder`]: signed bytes in, checked
//!   block out; the exact bytes are kept, never re-encoded.
//! - [`ForkProof`]: two signed blocks of one author at one seq.
//! - [`Ledger`]: validation of every chain rule, a bounded pending buffer for blocks
//!   that arrive before their predecessor, fork handling, and the fold to state
//!   (balances, directory, consents, audit trail, heads), which depends only on the
//!   set of blocks and proofs held, never on arrival order.

mod block;
mod error;
mod fork;
mod genesis;
mod pending;
mod persist;
mod state;
mod types;
mod verify;

#[cfg(test)]
mod tests;

pub use block::{BlockBuilder, VerifiedBlock, sign_block};
pub use error::{GenesisError, LedgerError};
pub use fork::ForkProof;
pub use genesis::{DEFAULT_PRICE, Genesis};
pub use persist::{LedgerDb, PersistError, VerifyReport};
pub use state::{
    AccessRecord, Balance, BlockVerifier, Grant, Head, Ingested, Ledger, LedgerConfig,
    MissingRange, Movement, Principal, ProofIngested, ReceiptStatus, Snapshot,
};
pub use types::{AccessDecision, AccountId, BlockHash, MICROS_PER_CREDIT, ParseIdError, Role};

/// The protobuf body kinds, re-exported so callers can build blocks without naming
/// the proto crate.
pub use pdc_proto::ledger::{
    Access, ConsentGrant, ConsentRevoke, EncryptionKey, Receive, Register, Send, block_body::Kind,
};
