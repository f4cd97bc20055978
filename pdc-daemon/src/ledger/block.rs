//! Blocks: signing, and turning received bytes into a [`VerifiedBlock`].

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use pdc_proto::ledger::{BlockBody, SignedBlock, UnsignedBlock, block_body::Kind};
use pdc_proto::{DecodeError, Message, decode_bounded};

use super::error::LedgerError;
use super::types::{AccessDecision, AccountId, BlockHash, Role};
use super::verify::{self, KeyCache, SigCheck};
use crate::seal::{EncryptionPublic, KEY_LEN};

/// Longest grant id accepted; grant ids are random tokens, not documents.
const MAX_GRANT_ID: usize = 64;

/// A block whose signature, network, author key and field shapes have been checked.
///
/// It keeps the exact bytes it was made from (the `SignedBlock` encoding): they are
/// what is hashed, stored and forwarded, so no node ever re-encodes a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBlock(Box<BlockData>);

/// A verified block's parts, boxed: a decoded block is several hundred bytes, and a
/// block is moved from decoding through validation into the ledger's maps (whose
/// growth moves it again), so moving a pointer instead saves a copy at every step.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BlockData {
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

/// An envelope decoded and checked up to, not including, its signature. Borrows the
/// received bytes: the signed message is a slice of them.
struct Envelope<'a> {
    unsigned_bytes: &'a [u8],
    unsigned: UnsignedBlock,
    author: AccountId,
    key: VerifyingKey,
    signature: Signature,
}

impl Envelope<'_> {
    /// What the signature check needs.
    fn sig_check(&self) -> SigCheck<'_> {
        SigCheck {
            author: self.author,
            key: self.key,
            message: self.unsigned_bytes,
            signature: self.signature,
        }
    }
}

/// Reads a minimal (canonical) varint; `None` for a truncated, overlong or padded one.
fn minimal_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // A last byte of zero after others would be padding, not prost's encoding.
            return (i == 0 || b != 0).then_some((value, i + 1));
        }
    }
    None
}

/// One length-delimited field with tag byte `tag`, present only with content (prost
/// leaves an empty `bytes` field out). Returns its content and the rest.
fn optional_field(bytes: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match bytes.split_first() {
        Some((&t, rest)) if t == tag => {
            let (len, used) = minimal_varint(rest)?;
            let rest = &rest[used..];
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l > 0 && *l <= rest.len())?;
            Some(rest.split_at(len))
        }
        _ => Some((&[], bytes)),
    }
}

/// The two fields of `bytes` if it is exactly prost's encoding of a `SignedBlock`:
/// `unsigned` (field 1) then `signature` (field 2), each with a minimal length and
/// left out when empty, and nothing else. Anything else is refused by the caller
/// after the general decoder has said whether it is malformed or only not canonical.
/// Reading the fields in place spares a decode, an encode and three copies per block.
fn canonical_fields(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (unsigned, rest) = optional_field(bytes, 0x0a)?;
    let (signature, rest) = optional_field(rest, 0x12)?;
    rest.is_empty().then_some((unsigned, signature))
}

/// Decodes `bytes` as a `SignedBlock` of `network` and checks everything but the
/// signature: size, canonical envelope, network, author key, signature shape. The
/// checks run in the order [`check_envelope`] reports them, so one block gets the same
/// error whether it came alone or in a batch.
fn parse_envelope<'a>(
    bytes: &'a [u8],
    network: &[u8; 32],
    max_len: usize,
    keys: Option<&KeyCache>,
) -> Result<Envelope<'a>, LedgerError> {
    let fields = if bytes.len() > max_len {
        None
    } else {
        canonical_fields(bytes)
    };
    let Some((unsigned_bytes, signature)) = fields else {
        // Oversized or malformed as the general decoder says; if it decodes, the only
        // thing wrong is the encoding. The hash covers the envelope, so only one
        // envelope per signed block may exist.
        decode_bounded::<SignedBlock>(bytes, max_len).map_err(decode_err)?;
        return Err(LedgerError::NonCanonicalEncoding);
    };
    let unsigned = UnsignedBlock::decode(unsigned_bytes)
        .map_err(|e| malformed(format!("unsigned block: {e}")))?;
    if unsigned.network.as_slice() != network.as_slice() {
        return Err(LedgerError::WrongNetwork {
            expected: hex::encode(network),
            got: hex::encode(&unsigned.network),
        });
    }
    let author = AccountId::from_slice(&unsigned.author).ok_or(LedgerError::BadAuthorKey)?;
    let key = match keys {
        Some(cache) => cache.key(&author),
        None => author.verifying_key(),
    }
    .ok_or(LedgerError::BadAuthorKey)?;
    let signature =
        Signature::from_slice(signature).map_err(|_| LedgerError::BadSignature { author })?;
    Ok(Envelope {
        unsigned_bytes,
        unsigned,
        author,
        key,
        signature,
    })
}

/// Checks `bytes` as a `SignedBlock` of `network`: size, canonical envelope, network,
/// author key and a strict ed25519 signature over the exact `unsigned` bytes.
pub(crate) fn check_envelope(
    bytes: &[u8],
    network: &[u8; 32],
    max_len: usize,
) -> Result<CheckedEnvelope, LedgerError> {
    let env = parse_envelope(bytes, network, max_len, None)?;
    if !verify::strict(&env.sig_check()) {
        return Err(LedgerError::BadSignature { author: env.author });
    }
    Ok(CheckedEnvelope {
        unsigned_bytes: env.unsigned_bytes.to_vec(),
        unsigned: env.unsigned,
        author: env.author,
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

/// A published X25519 encryption key: exactly 32 bytes, not all zero (the one value
/// that is certainly no one's key, and what a zeroed buffer would publish).
pub(crate) fn need_encryption_key(
    bytes: &[u8],
    field: &str,
) -> Result<EncryptionPublic, LedgerError> {
    if bytes.len() != KEY_LEN {
        return Err(malformed(format!(
            "{field} must be {KEY_LEN} bytes, got {}",
            bytes.len()
        )));
    }
    EncryptionPublic::from_slice(bytes)
        .map_err(|_| malformed(format!("{field} must not be all zero")))
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
            // Empty: registered without a key, announced later by an EncryptionKey.
            if !r.encryption_key.is_empty() {
                need_encryption_key(&r.encryption_key, "encryption_key")?;
            }
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
        Kind::EncryptionKey(k) => {
            need_encryption_key(&k.key, "key")?;
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
        Kind::EncryptionKey(_) => "EncryptionKey",
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
        let env = parse_envelope(bytes, network, max_len, None)?;
        if !verify::strict(&env.sig_check()) {
            return Err(LedgerError::BadSignature { author: env.author });
        }
        Self::finish(env.unsigned, env.author, bytes.to_vec())
    }

    /// [`VerifiedBlock::from_bytes`] with the author's key taken from `keys`.
    pub(crate) fn decode_cached(
        bytes: Vec<u8>,
        network: &[u8; 32],
        max_len: usize,
        keys: &KeyCache,
    ) -> Result<Self, LedgerError> {
        let env = parse_envelope(&bytes, network, max_len, Some(keys))?;
        if !verify::strict(&env.sig_check()) {
            return Err(LedgerError::BadSignature { author: env.author });
        }
        let Envelope {
            unsigned, author, ..
        } = env;
        Self::finish(unsigned, author, bytes)
    }

    /// Decodes and verifies many blocks at once: each result is what
    /// [`VerifiedBlock::from_bytes`] says about that block (same value, same error),
    /// but the signatures are checked together (see [`verify::verify_many`]).
    pub(crate) fn decode_batch(
        blocks: Vec<Vec<u8>>,
        network: &[u8; 32],
        max_len: usize,
        keys: &KeyCache,
    ) -> Vec<Result<Self, LedgerError>> {
        let parsed: Vec<Result<Envelope, LedgerError>> = blocks
            .iter()
            .map(|b| parse_envelope(b, network, max_len, Some(keys)))
            .collect();
        let checks: Vec<SigCheck<'_>> = parsed
            .iter()
            .filter_map(|p| p.as_ref().ok().map(Envelope::sig_check))
            .collect();
        let mut verdicts = verify::verify_many(&checks, keys).into_iter();
        drop(checks);
        // One verdict per parsed envelope, in order.
        let checked: Vec<Result<(UnsignedBlock, AccountId), LedgerError>> = parsed
            .into_iter()
            .map(|p| {
                let env = p?;
                if verdicts.next() != Some(true) {
                    return Err(LedgerError::BadSignature { author: env.author });
                }
                Ok((env.unsigned, env.author))
            })
            .collect();
        checked
            .into_iter()
            .zip(blocks)
            .map(|(c, bytes)| {
                c.and_then(|(unsigned, author)| Self::finish(unsigned, author, bytes))
            })
            .collect()
    }

    /// The checks after the signature: seq, prev and the body's shape.
    fn finish(
        mut header: UnsignedBlock,
        author: AccountId,
        bytes: Vec<u8>,
    ) -> Result<Self, LedgerError> {
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
        Ok(Self(Box::new(BlockData {
            hash: BlockHash::of(&bytes),
            bytes,
            header,
            kind,
            author,
            prev,
        })))
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
        &self.0.bytes
    }

    /// The block as a `SignedBlock` message, for embedding in other messages.
    pub fn to_signed(&self) -> Result<SignedBlock, LedgerError> {
        SignedBlock::decode(self.0.bytes.as_slice()).map_err(|e| malformed(e.to_string()))
    }

    /// blake3 of [`VerifiedBlock::bytes`].
    pub fn hash(&self) -> BlockHash {
        self.0.hash
    }

    /// The signing account.
    pub fn author(&self) -> AccountId {
        self.0.author
    }

    /// Position in the author's chain, from 1.
    pub fn seq(&self) -> u64 {
        self.0.header.seq
    }

    /// Hash of the author's previous block (zero for seq 1).
    pub fn prev(&self) -> BlockHash {
        self.0.prev
    }

    /// The author's clock when signing; informative only.
    pub fn timestamp_ms(&self) -> u64 {
        self.0.header.timestamp_ms
    }

    /// The author's balance after this block, as the author claims it.
    pub fn balance_after(&self) -> i64 {
        self.0.header.balance_after
    }

    /// What the block says.
    pub fn kind(&self) -> &Kind {
        &self.0.kind
    }

    /// The decoded `UnsignedBlock` without its body, which is moved into
    /// [`VerifiedBlock::kind`] so that it is never absent there.
    pub fn header(&self) -> &UnsignedBlock {
        &self.0.header
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    /// What `canonical_fields` must agree with: prost decodes the bytes and encodes
    /// them back to exactly the same bytes.
    fn by_prost(bytes: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let signed = SignedBlock::decode(bytes).ok()?;
        (signed.encode_to_vec() == bytes).then_some((signed.unsigned, signed.signature))
    }

    fn fast(bytes: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        canonical_fields(bytes).map(|(u, s)| (u.to_vec(), s.to_vec()))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn envelope_fast_path_agrees_with_prost_on_any_bytes(
            bytes in prop::collection::vec(any::<u8>(), 0..300)
        ) {
            prop_assert_eq!(fast(&bytes), by_prost(&bytes));
        }

        #[test]
        fn envelope_fast_path_agrees_with_prost_on_near_misses(
            unsigned in prop::collection::vec(any::<u8>(), 0..200),
            signature in prop::collection::vec(any::<u8>(), 0..70),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 0..3),
        ) {
            let mut bytes = SignedBlock { unsigned, signature }.encode_to_vec();
            prop_assert!(fast(&bytes).is_some());
            for (at, byte, how) in edits {
                let i = if bytes.is_empty() { 0 } else { at.index(bytes.len()) };
                match how {
                    0 if !bytes.is_empty() => bytes[i] = byte,
                    1 => bytes.insert(i.min(bytes.len()), byte),
                    2 if !bytes.is_empty() => {
                        bytes.remove(i);
                    }
                    _ => bytes.push(byte),
                }
            }
            prop_assert_eq!(fast(&bytes), by_prost(&bytes));
        }
    }

    #[test]
    fn padded_lengths_and_swapped_fields_are_not_canonical() {
        let good = SignedBlock {
            unsigned: vec![1; 3],
            signature: vec![2; 2],
        }
        .encode_to_vec();
        assert_eq!(good, [0x0a, 3, 1, 1, 1, 0x12, 2, 2, 2]);
        assert!(fast(&good).is_some());
        let padded = [0x0a, 0x83, 0x00, 1, 1, 1, 0x12, 2, 2, 2];
        assert_eq!(fast(&padded), None);
        assert!(by_prost(&padded).is_none());
        let swapped = [0x12, 2, 2, 2, 0x0a, 3, 1, 1, 1];
        assert_eq!(fast(&swapped), None);
        assert!(SignedBlock::decode(&swapped[..]).is_ok());
    }
}
