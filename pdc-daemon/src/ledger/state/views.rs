//! What the fold shows: heads and ranges for sync, balances and movements, the directory, grants, the audit trail, a snapshot.

use super::*;

impl Ledger {
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

    pub(super) fn range_for(&self, need: Need) -> MissingRange {
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
            encryption_key: self.encryption_key(account),
            block: *hash,
        })
    }

    /// The X25519 key to seal to for `account`: that of its latest counted block that
    /// sets one (an `EncryptionKey`, else its Register), or `None` while it has
    /// published none. A frozen author's key stays the one it had before its fork.
    pub fn encryption_key(&self, account: &AccountId) -> Option<EncryptionPublic> {
        self.encryption_keys
            .get(account)?
            .iter()
            .rev()
            .filter(|(seq, _)| self.counted(account, *seq))
            .find_map(|(_, hash)| {
                let bytes = match self.block(hash)?.kind() {
                    Kind::Register(r) => &r.encryption_key,
                    Kind::EncryptionKey(k) => &k.key,
                    _ => return None,
                };
                EncryptionPublic::from_slice(bytes).ok()
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
