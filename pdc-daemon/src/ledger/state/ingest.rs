//! Blocks and fork proofs in: validate, store, drain what they unblock.

use super::*;

impl Ledger {
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

    pub(super) fn linked_at(&self, author: &AccountId, seq: u64) -> Option<BlockHash> {
        let chain = self.chains.get(author)?;
        let idx = usize::try_from(seq.checked_sub(1)?).ok()?;
        chain.hashes.get(idx).copied()
    }
}
