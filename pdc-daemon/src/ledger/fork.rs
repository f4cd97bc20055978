//! Fork proofs: two blocks signed by one author at one seq.

use pdc_proto::Message;
use pdc_proto::ledger::{ForkProof as ForkProofMsg, SignedBlock};

use super::block::{VerifiedBlock, check_envelope};
use super::error::LedgerError;
use super::types::{AccountId, BlockHash};

/// A verified, self-evident proof that `author` signed two different blocks at `seq`.
/// Anyone can check it with the author's key alone. Its two blocks are kept in a
/// canonical order (lower hash first) so every node stores the same proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkProof {
    author: AccountId,
    seq: u64,
    first: SignedBlock,
    second: SignedBlock,
    first_hash: BlockHash,
    second_hash: BlockHash,
}

fn invalid(reason: impl Into<String>) -> LedgerError {
    LedgerError::InvalidForkProof {
        reason: reason.into(),
    }
}

impl ForkProof {
    /// Builds a proof from two verified blocks of one author at one seq.
    pub(crate) fn from_pair(a: &VerifiedBlock, b: &VerifiedBlock) -> Result<Self, LedgerError> {
        if a.author() != b.author() || a.seq() != b.seq() || a.hash() == b.hash() {
            return Err(invalid(
                "blocks are not two different blocks of one author at one seq",
            ));
        }
        let (a, b) = if a.hash() < b.hash() { (a, b) } else { (b, a) };
        Ok(Self {
            author: a.author(),
            seq: a.seq(),
            first: a.to_signed()?,
            second: b.to_signed()?,
            first_hash: a.hash(),
            second_hash: b.hash(),
        })
    }

    /// Verifies a proof received from a peer: both blocks are on `network`, carry
    /// valid signatures of the same author, have the same seq and differ in what was
    /// signed. Block bodies need not be valid: signing two blocks is the offence.
    pub fn verify(
        msg: &ForkProofMsg,
        network: &[u8; 32],
        max_len: usize,
    ) -> Result<Self, LedgerError> {
        let (Some(first), Some(second)) = (&msg.first, &msg.second) else {
            return Err(invalid("a fork proof needs two blocks"));
        };
        let a = check_envelope(&first.encode_to_vec(), network, max_len)?;
        let b = check_envelope(&second.encode_to_vec(), network, max_len)?;
        if a.author != b.author {
            return Err(invalid(format!(
                "blocks are by different authors ({} and {})",
                a.author.fingerprint(),
                b.author.fingerprint()
            )));
        }
        if a.unsigned.seq != b.unsigned.seq {
            return Err(invalid(format!(
                "blocks are at different seqs ({} and {})",
                a.unsigned.seq, b.unsigned.seq
            )));
        }
        if a.unsigned.seq == 0 {
            return Err(invalid("seq 0 is not a block position"));
        }
        // Differing hashes alone could be two signatures over one message; demand that
        // the author really said two different things.
        if a.unsigned_bytes == b.unsigned_bytes {
            return Err(invalid("both blocks sign the same content"));
        }
        let (first, second, first_hash, second_hash) = if a.hash < b.hash {
            (first.clone(), second.clone(), a.hash, b.hash)
        } else {
            (second.clone(), first.clone(), b.hash, a.hash)
        };
        Ok(Self {
            author: a.author,
            seq: a.unsigned.seq,
            first,
            second,
            first_hash,
            second_hash,
        })
    }

    /// The equivocating author.
    pub fn author(&self) -> AccountId {
        self.author
    }

    /// The seq at which the author signed two blocks.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The author's chain counts up to and including this seq and no further.
    pub fn frozen_at(&self) -> u64 {
        self.seq - 1
    }

    /// Hashes of the two blocks, lower first.
    pub fn hashes(&self) -> (BlockHash, BlockHash) {
        (self.first_hash, self.second_hash)
    }

    /// Whether `hash` is one of the two blocks.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.first_hash == *hash || self.second_hash == *hash
    }

    /// The two signed blocks, lower hash first.
    pub fn blocks(&self) -> (&SignedBlock, &SignedBlock) {
        (&self.first, &self.second)
    }

    /// The proof as a protobuf message, for gossip and storage.
    pub fn to_msg(&self) -> ForkProofMsg {
        ForkProofMsg {
            first: Some(self.first.clone()),
            second: Some(self.second.clone()),
        }
    }

    /// Orders proofs of one author: the lowest seq wins (it freezes the most), ties
    /// broken by hashes, so every node keeps the same one.
    pub(crate) fn rank(&self) -> (u64, BlockHash, BlockHash) {
        (self.seq, self.first_hash, self.second_hash)
    }
}
