//! The ledger on disk: every stored block, the order it was applied in, the chain index,
//! heads and fork proofs, written in one durable batch per ingest.
//!
//! Reloading replays blocks in their original apply order, so every block's
//! predecessor and every Receive's Send are already there: the rebuilt state is the one
//! the node had, and every block is re-verified on the way in.

use pdc_proto::Message;
use pdc_proto::ledger::ForkProof as ForkProofMsg;

use super::{
    AccountId, BlockHash, ForkProof, Genesis, Ingested, Ledger, LedgerConfig, LedgerError,
};
use crate::store::{Batch, Store, StoreError, cf, keys};

/// Prefix of the apply-order index in the `meta` column family.
const APPLIED: &[u8] = crate::store::prefix::LEDGER_APPLIED;

/// Blocks replayed per batch signature check on start-up. Larger batches verify a
/// little faster per signature; this many stays a small fraction of a second each.
const RELOAD_CHUNK: usize = 1024;

/// Errors loading or persisting the ledger.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored block or proof no longer verifies: the database was altered or damaged.
    #[error(
        "stored ledger entry {what} is invalid: {source}; run `pdc ledger verify` and restore the data directory from a backup"
    )]
    Corrupt {
        /// Which entry.
        what: String,
        /// Why.
        source: LedgerError,
    },
    /// An index entry points at nothing.
    #[error("ledger index is inconsistent: {0}")]
    Index(String),
}

/// What a full re-check of the stored ledger found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blocks re-verified.
    pub blocks: usize,
    /// Fork proofs re-verified.
    pub proofs: usize,
    /// Chain-index links checked.
    pub links: usize,
    /// The first problem, if any.
    pub first_bad: Option<String>,
}

/// The ledger's tables in the node's store.
#[derive(Debug, Clone)]
pub struct LedgerDb {
    store: Store,
}

impl LedgerDb {
    /// Wraps the node's store.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Rebuilds the ledger from disk (blocking: call off the async runtime). Returns the
    /// ledger and the next apply-order number.
    pub fn load(
        &self,
        genesis: Genesis,
        config: LedgerConfig,
        now_ms: u64,
    ) -> Result<(Ledger, u64), PersistError> {
        let mut ledger = Ledger::new(genesis, config);
        for (k, v) in self.store.scan_blocking(cf::FORKS, &[])? {
            let msg = ForkProofMsg::decode(v.as_slice())
                .map_err(|e| PersistError::Index(format!("fork proof {}: {e}", hex::encode(&k))))?;
            ledger
                .ingest_fork_proof(&msg)
                .map_err(|source| PersistError::Corrupt {
                    what: format!("fork proof of {}", hex::encode(&k)),
                    source,
                })?;
        }
        let order = self.store.scan_blocking(cf::META, APPLIED)?;
        let mut next = 0;
        // Replayed in chunks so signatures are batch-verified, as for a sync range.
        for chunk in order.chunks(RELOAD_CHUNK) {
            let mut bytes = Vec::with_capacity(chunk.len());
            for (k, hash) in chunk {
                next = order_of(k).map_or(next, |n| n + 1);
                bytes.push(self.store.get_blocking(cf::BLOCKS, hash)?.ok_or_else(|| {
                    PersistError::Index(format!(
                        "apply log names block {} which is not stored",
                        hex::encode(hash)
                    ))
                })?);
            }
            let decoded = ledger.decode_batch(bytes);
            for ((_, hash), result) in chunk.iter().zip(ledger.ingest_batch(decoded, now_ms)) {
                let Err(source) = result else { continue };
                return Err(PersistError::Corrupt {
                    what: format!("block {}", hex::encode(hash)),
                    source,
                });
            }
        }
        Ok((ledger, next))
    }

    /// The durable writes for blocks the ledger just stored (in order) and, after a
    /// fork, the author's proof. `next_order` is advanced past what is written.
    pub fn batch(
        ledger: &Ledger,
        stored: &[BlockHash],
        proof: Option<&ForkProof>,
        next_order: &mut u64,
    ) -> Batch {
        let authors = proof.map(ForkProof::author);
        Self::writes(ledger, stored.iter(), authors, next_order)
    }

    /// The durable writes for everything one [`Ledger::ingest_batch`] stored, as one
    /// batch: every stored block in order, each touched author's head once, and the
    /// current fork proof of every author it found forking.
    pub fn batch_for(
        ledger: &Ledger,
        results: &[Result<Ingested, LedgerError>],
        next_order: &mut u64,
    ) -> Batch {
        let stored = results.iter().flat_map(|r| match r {
            Ok(Ingested::Applied { stored } | Ingested::Fork { stored, .. }) => stored.as_slice(),
            _ => &[],
        });
        let forked = results.iter().filter_map(|r| match r {
            Ok(Ingested::Fork { proof, .. }) => Some(proof.author()),
            _ => None,
        });
        Self::writes(ledger, stored, forked, next_order)
    }

    fn writes<'a>(
        ledger: &Ledger,
        stored: impl Iterator<Item = &'a BlockHash>,
        forked: impl IntoIterator<Item = AccountId>,
        next_order: &mut u64,
    ) -> Batch {
        let mut b = Batch::new();
        // Authors whose head moved, each written once: a sync range is mostly one
        // author's chain, and a head put per block would be hundreds of dead writes.
        let mut authors: Vec<AccountId> = Vec::new();
        for h in stored {
            let Some(block) = ledger.block(h) else {
                continue;
            };
            let author = block.author();
            // Keys built on the stack: the batch copies them into its one buffer.
            let chain = keys::chain(author.as_bytes(), block.seq());
            let mut applied = [0u8; APPLIED.len() + 8];
            applied[..APPLIED.len()].copy_from_slice(APPLIED);
            applied[APPLIED.len()..].copy_from_slice(&next_order.to_be_bytes());
            b.put_bytes(cf::BLOCKS, h.as_bytes(), block.bytes());
            b.put_bytes(cf::CHAIN, &chain, h.as_bytes());
            b.put_bytes(cf::META, &applied, h.as_bytes());
            *next_order += 1;
            if authors.last() != Some(&author) && !authors.contains(&author) {
                authors.push(author);
            }
        }
        for author in &authors {
            if let Some(head) = ledger.head(author) {
                let mut v = [0u8; 40];
                v[..8].copy_from_slice(&head.seq.to_be_bytes());
                v[8..].copy_from_slice(head.hash.as_bytes());
                b.put_bytes(cf::HEADS, author.as_bytes(), &v);
            }
        }
        let mut forked: Vec<AccountId> = forked.into_iter().collect();
        forked.sort();
        forked.dedup();
        for author in forked {
            if let Some(p) = ledger.fork_proof(&author) {
                b.put_bytes(cf::FORKS, author.as_bytes(), &p.to_msg().encode_to_vec());
            }
        }
        b
    }

    /// Writes a batch made by [`LedgerDb::batch`] durably.
    pub async fn commit(&self, batch: Batch) -> Result<(), PersistError> {
        Ok(self.store.commit(batch).await?)
    }

    /// Queues a batch in order; the result resolves once it is durable.
    pub async fn enqueue(&self, batch: Batch) -> Result<crate::store::Durable, PersistError> {
        Ok(self.store.enqueue(batch).await?)
    }

    /// Re-checks everything stored (blocking): every block's signature and rules by a
    /// full replay into a fresh ledger, and every chain-index link (seq order, `prev`
    /// equal to the previous block's hash). Reports the first bad entry.
    pub fn verify(
        &self,
        genesis: Genesis,
        config: LedgerConfig,
        now_ms: u64,
    ) -> Result<VerifyReport, PersistError> {
        let mut report = VerifyReport {
            blocks: 0,
            proofs: 0,
            links: 0,
            first_bad: None,
        };
        let mut ledger = Ledger::new(genesis, config);
        for (k, v) in self.store.scan_blocking(cf::FORKS, &[])? {
            report.proofs += 1;
            let ok = ForkProofMsg::decode(v.as_slice())
                .map_err(|e| e.to_string())
                .and_then(|m| ledger.ingest_fork_proof(&m).map_err(|e| e.to_string()));
            if let Err(e) = ok {
                report.first_bad = Some(format!("fork proof of {}: {e}", hex::encode(&k)));
                return Ok(report);
            }
        }
        for (_, hash) in self.store.scan_blocking(cf::META, APPLIED)? {
            report.blocks += 1;
            let res = match self.store.get_blocking(cf::BLOCKS, &hash)? {
                None => Err("missing from the blocks table".to_string()),
                Some(bytes) => ledger
                    .decode(&bytes)
                    .and_then(|b| {
                        if b.hash().as_bytes().as_slice() != hash.as_slice() {
                            return Err(LedgerError::Malformed {
                                reason: "stored bytes do not hash to their key".into(),
                            });
                        }
                        ledger.ingest(b, now_ms)
                    })
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = res {
                report.first_bad = Some(format!("block {}: {e}", hex::encode(&hash)));
                return Ok(report);
            }
        }
        let mut prev: Option<([u8; 32], u64, BlockHash)> = None;
        for (k, hash) in self.store.scan_blocking(cf::CHAIN, &[])? {
            report.links += 1;
            let Some((author, seq)) = keys::parse_chain(&k) else {
                report.first_bad =
                    Some(format!("chain index key {} is malformed", hex::encode(&k)));
                return Ok(report);
            };
            let Some(h) = BlockHash::from_slice(&hash) else {
                report.first_bad = Some(format!(
                    "chain index entry {}:{seq} is malformed",
                    hex::encode(author)
                ));
                return Ok(report);
            };
            let Some(block) = ledger.block(&h) else {
                report.first_bad = Some(format!(
                    "chain {}:{seq} points at unknown block {h}",
                    hex::encode(author)
                ));
                return Ok(report);
            };
            let expected_prev = match prev {
                Some((a, s, ph)) if a == author && s + 1 == seq => ph,
                _ if seq == 1 => BlockHash::ZERO,
                _ => {
                    report.first_bad = Some(format!(
                        "chain {} has a gap before seq {seq}",
                        hex::encode(author)
                    ));
                    return Ok(report);
                }
            };
            if block.prev() != expected_prev || block.seq() != seq {
                report.first_bad = Some(format!(
                    "chain {}:{seq}: block {h} does not link to its predecessor",
                    hex::encode(author)
                ));
                return Ok(report);
            }
            prev = Some((author, seq, h));
        }
        Ok(report)
    }
}

fn order_of(key: &[u8]) -> Option<u64> {
    let b: [u8; 8] = key.get(APPLIED.len()..)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}
