//! Blocks: signing, and turning received bytes into a [`VerifiedBlock`].

use ed25519_dalek::{Signature, Signer, SigningKey};
use pdc_proto::ledger::{BlockBody, SignedBlock, UnsignedBlock, block_body::Kind};
use pdc_proto::{DecodeError, Message, decode_bounded};

use super::error::LedgerError;
use super::types::{AccessDecision, AccountId, BlockHash, Role};

/// Longest grant id accepted; grant ids are random tokens, not documents.
const MAX_GRANT_ID: usize = 64;

/// A block whose signature, network, author key and field shapes have been checked.
///
/// It keeps the exact bytes it was made from (the `SignedBlock` encoding): they are
/// what is hashed, stored and forwarded, so no node ever re-encodes a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBlock {
    bytes: Vec<u8>,
    header: UnsignedBlock,
    kind: Kind,
    hash: BlockHash,
    author: AccountId,
    prev: BlockHash,
}

/// The outcome of checking a signed envelope, before the body is looked at. Fork
/// proofs need only this much: equivocation is proven by signatures alone.
pub(crate) struct CheckedEnvelope {
    pub(crate) unsigned_bytes: Vec<u8>,
    pub(crate) unsigned: UnsignedBlock,
    pub(crate) author: AccountId,
    pub(crate) hash: BlockHash,
}

fn malformed(reason: impl Into<String>) -> LedgerError {
    LedgerError::Malformed {
        reason: reason.into(),
    }
}

fn decode_err(e: DecodeError) -> LedgerError {
    match e {
        DecodeError::TooLarge { len, max } => LedgerError::Oversized { len, max },
        DecodeError::Malformed(e) => malformed(e.to_string()),
    }
}

/// Checks `bytes` as a `SignedBlock` of `network`: size, canonical envelope, network,
/// author key and a strict ed25519 signature over the exact `unsigned` bytes.
pub(crate) fn check_envelope(
    bytes: &[u8],
    network: &[u8; 32],
    max_len: usize,
) -> Result<CheckedEnvelope, LedgerError> {
    let signed: SignedBlock = decode_bounded(bytes, max_len).map_err(decode_err)?;
    // The hash covers the envelope, so only one envelope per signed block may exist.
    if signed.encoded_len() != bytes.len() || signed.encode_to_vec() != bytes {
        return Err(LedgerError::NonCanonicalEncoding);
    }
    let unsigned = UnsignedBlock::decode(signed.unsigned.as_slice())
        .map_err(|e| malformed(format!("unsigned block: {e}")))?;
    if unsigned.network.as_slice() != network.as_slice() {
        return Err(LedgerError::WrongNetwork {
            expected: hex::encode(network),
            got: hex::encode(&unsigned.network),
        });
    }
    let author = AccountId::from_slice(&unsigned.author).ok_or(LedgerError::BadAuthorKey)?;
    let key = author.verifying_key().ok_or(LedgerError::BadAuthorKey)?;
    let signature = Signature::from_slice(&signed.signature)
        .map_err(|_| LedgerError::BadSignature { author })?;
    // Strict verification refuses malleable signatures and small-order keys, so a third
    // party cannot derive a second valid signature (hence a second hash) for one block.
    key.verify_strict(&signed.unsigned, &signature)
        .map_err(|_| LedgerError::BadSignature { author })?;
    Ok(CheckedEnvelope {
        unsigned_bytes: signed.unsigned,
        unsigned,
        author,
        hash: BlockHash::of(bytes),
    })
}

pub(crate) fn need_account(bytes: &[u8], field: &str) -> Result<AccountId, LedgerError> {
    AccountId::from_slice(bytes)
        .ok_or_else(|| malformed(format!("{field} must be 32 bytes, got {}", bytes.len())))
}

pub(crate) fn need_hash(bytes: &[u8], field: &str) -> Result<BlockHash, LedgerError> {
    BlockHash::from_slice(bytes)
        .ok_or_else(|| malformed(format!("{field} must be 32 bytes, got {}", bytes.len())))
}

fn need_grant_id(id: &[u8]) -> Result<(), LedgerError> {
    if id.is_empty() || id.len() > MAX_GRANT_ID {
        return Err(malformed(format!(
            "grant_id must be 1 to {MAX_GRANT_ID} bytes, got {}",
            id.len()
        )));
    }
    Ok(())
}

/// Checks the shape of a body: byte-field lengths, known roles and decisions, amounts
/// that fit signed balances. Rules that need chain state live in the ledger.
fn check_body(kind: &Kind) -> Result<(), LedgerError> {
    match kind {
        Kind::Register(r) => {
            r.role.parse::<Role>().map_err(malformed)?;
        }
        Kind::ConsentGrant(g) => {
            need_grant_id(&g.grant_id)?;
            need_account(&g.grantee, "grantee")?;
        }
        Kind::ConsentRevoke(r) => need_grant_id(&r.grant_id)?,
        Kind::Access(a) => {
            need_account(&a.requester, "requester")?;
            a.decision.parse::<AccessDecision>().map_err(malformed)?;
            for h in &a.record_hashes {
                need_hash(h, "record hash")?;
            }
        }
        Kind::Send(s) => {
            need_account(&s.to, "to")?;
            if !s.access_ref.is_empty() {
                need_hash(&s.access_ref, "access_ref")?;
            }
            if s.amount > i64::MAX as u64 {
                return Err(malformed("amount does not fit a signed 64-bit balance"));
            }
        }
        Kind::Receive(r) => {
            need_hash(&r.send_hash, "send_hash")?;
            need_account(&r.sender, "sender")?;
        }
    }
    Ok(())
}

/// Name of a body kind, for messages.
pub(crate) fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Register(_) => "Register",
        Kind::ConsentGrant(_) => "ConsentGrant",
        Kind::ConsentRevoke(_) => "ConsentRevoke",
        Kind::Access(_) => "Access",
        Kind::Send(_) => "Send",
        Kind::Receive(_) => "Receive",
    }
}

impl VerifiedBlock {
    /// Decodes and verifies received bytes (a `SignedBlock` encoding) for `network`
    /// (the genesis hash), refusing inputs above `max_len` before parsing. The signature
    /// is checked over the exact `unsigned` bytes as received.
    pub fn from_bytes(
        bytes: &[u8],
        network: &[u8; 32],
        max_len: usize,
    ) -> Result<Self, LedgerError> {
        let env = check_envelope(bytes, network, max_len)?;
        let mut header = env.unsigned;
        if header.seq == 0 {
            return Err(malformed("seq starts at 1"));
        }
        let prev = need_hash(&header.prev, "prev")?;
        let kind = header
            .body
            .take()
            .and_then(|b| b.kind)
            .ok_or_else(|| malformed("block has no body"))?;
        check_body(&kind)?;
        Ok(Self {
            bytes: bytes.to_vec(),
            header,
            kind,
            hash: env.hash,
            author: env.author,
            prev,
        })
    }

    /// Like [`VerifiedBlock::from_bytes`] for a block that arrived already decoded
    /// inside another message (a sync range, a fork proof). Envelopes are canonical, so
    /// encoding it again yields the author's bytes, and the signature is still checked
    /// over the `unsigned` bytes exactly as received.
    pub fn from_signed(
        signed: &SignedBlock,
        network: &[u8; 32],
        max_len: usize,
    ) -> Result<Self, LedgerError> {
        Self::from_bytes(&signed.encode_to_vec(), network, max_len)
    }

    /// The exact `SignedBlock` encoding: what is hashed, stored and forwarded.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The block as a `SignedBlock` message, for embedding in other messages.
    pub fn to_signed(&self) -> Result<SignedBlock, LedgerError> {
        SignedBlock::decode(self.bytes.as_slice()).map_err(|e| malformed(e.to_string()))
    }

    /// blake3 of [`VerifiedBlock::bytes`].
    pub fn hash(&self) -> BlockHash {
        self.hash
    }

    /// The signing account.
    pub fn author(&self) -> AccountId {
        self.author
    }

    /// Position in the author's chain, from 1.
    pub fn seq(&self) -> u64 {
        self.header.seq
    }

    /// Hash of the author's previous block (zero for seq 1).
    pub fn prev(&self) -> BlockHash {
        self.prev
    }

    /// The author's clock when signing; informative only.
    pub fn timestamp_ms(&self) -> u64 {
        self.header.timestamp_ms
    }

    /// The author's balance after this block, as the author claims it.
    pub fn balance_after(&self) -> i64 {
        self.header.balance_after
    }

    /// What the block says.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The decoded `UnsignedBlock` without its body, which is moved into
    /// [`VerifiedBlock::kind`] so that it is never absent there.
    pub fn header(&self) -> &UnsignedBlock {
        &self.header
    }
}

/// Signs a block. The block is then checked exactly as a received one would be, so a
/// node can never publish a block that it would itself refuse for its shape.
pub fn sign_block(
    key: &SigningKey,
    network: &[u8; 32],
    seq: u64,
    prev: BlockHash,
    timestamp_ms: u64,
    balance_after: i64,
    body: Kind,
) -> Result<VerifiedBlock, LedgerError> {
    let unsigned = UnsignedBlock {
        network: network.to_vec(),
        author: key.verifying_key().to_bytes().to_vec(),
        seq,
        prev: prev.0.to_vec(),
        timestamp_ms,
        balance_after,
        body: Some(BlockBody { kind: Some(body) }),
    }
    .encode_to_vec();
    let signature = key.sign(&unsigned);
    let signed = SignedBlock {
        unsigned,
        signature: signature.to_bytes().to_vec(),
    }
    .encode_to_vec();
    VerifiedBlock::from_bytes(&signed, network, usize::MAX)
}

/// A block being put together; [`super::Ledger::prepare`] fills in seq, prev and
/// balance from the chain so the author only chooses the body.
#[derive(Clone, Debug)]
pub struct BlockBuilder {
    network: [u8; 32],
    seq: u64,
    prev: BlockHash,
    timestamp_ms: u64,
    balance_after: i64,
    body: Kind,
}

impl BlockBuilder {
    /// A seq-1 block with `body` on `network`; set the other fields as needed.
    pub fn new(network: [u8; 32], body: Kind) -> Self {
        Self {
            network,
            seq: 1,
            prev: BlockHash::ZERO,
            timestamp_ms: 0,
            balance_after: 0,
            body,
        }
    }

    /// Sets the seq.
    pub fn seq(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }

    /// Sets the previous block's hash.
    pub fn prev(mut self, prev: BlockHash) -> Self {
        self.prev = prev;
        self
    }

    /// Sets the author's clock reading.
    pub fn timestamp_ms(mut self, timestamp_ms: u64) -> Self {
        self.timestamp_ms = timestamp_ms;
        self
    }

    /// Sets the balance after the block.
    pub fn balance_after(mut self, balance_after: i64) -> Self {
        self.balance_after = balance_after;
        self
    }

    /// The seq this block will have.
    pub fn get_seq(&self) -> u64 {
        self.seq
    }

    /// The balance this block will claim.
    pub fn get_balance_after(&self) -> i64 {
        self.balance_after
    }

    /// Signs with `key` (see [`sign_block`]).
    pub fn sign(self, key: &SigningKey) -> Result<VerifiedBlock, LedgerError> {
        sign_block(
            key,
            &self.network,
            self.seq,
            self.prev,
            self.timestamp_ms,
            self.balance_after,
            self.body,
        )
    }
}
