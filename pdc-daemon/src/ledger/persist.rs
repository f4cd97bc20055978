//! The ledger on disk: every stored block, the order it was applied in, the chain index,
//! heads and fork proofs, written in one durable batch per ingest.
//!
//! Reloading replays blocks in their original apply order, so every block's
//! predecessor and every Receive's Send are already there: the rebuilt state is the one
//! the node had, and every block is re-verified on the way in.

use pdc_proto::Message;
use pdc_proto::ledger::ForkProof as ForkProofMsg;

use super::{BlockHash, ForkProof, Genesis, Ledger, LedgerConfig, LedgerError};
use crate::store::{Batch, Store, StoreError, cf, keys};

/// Prefix of the apply-order index in the `meta` column family.
const APPLIED: &[u8] = b"ledger/applied/";

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
        for (k, hash) in &order {
            next = order_of(k).map_or(next, |n| n + 1);
            let bytes = self.store.get_blocking(cf::BLOCKS, hash)?.ok_or_else(|| {
                PersistError::Index(format!(
                    "apply log names block {} which is not stored",
                    hex::encode(hash)
                ))
            })?;
            let what = || format!("block {}", hex::encode(hash));
            let block = ledger
                .decode(&bytes)
                .map_err(|source| PersistError::Corrupt {
                    what: what(),
                    source,
                })?;
            ledger
                .ingest(block, now_ms)
                .map_err(|source| PersistError::Corrupt {
                    what: what(),
                    source,
                })?;
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
        let mut b = Batch::new();
        for h in stored {
            let Some(block) = ledger.block(h) else {
                continue;
            };
            b.put(cf::BLOCKS, h.as_bytes().to_vec(), block.bytes().to_vec());
            b.put(
                cf::CHAIN,
                keys::chain(block.author().as_bytes(), block.seq()),
                h.as_bytes().to_vec(),
            );
            let mut k = APPLIED.to_vec();
            k.extend_from_slice(&next_order.to_be_bytes());
            b.put(cf::META, k, h.as_bytes().to_vec());
            *next_order += 1;
            if let Some(head) = ledger.head(&block.author()) {
                let mut v = head.seq.to_be_bytes().to_vec();
                v.extend_from_slice(head.hash.as_bytes());
                b.put(cf::HEADS, block.author().as_bytes().to_vec(), v);
            }
        }
        if let Some(p) = proof {
            b.put(
                cf::FORKS,
                p.author().as_bytes().to_vec(),
                p.to_msg().encode_to_vec(),
            );
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
