//! The rules: validation of a block against its chain, the body rules, applying a block to the fold, and preparing the next block of an author.

use pdc_proto::ledger as msg;

use super::*;

/// A Send: to another account, of a positive amount the author has.
fn send_rules(author: &AccountId, before: i64, s: &msg::Send) -> Result<i64, LedgerError> {
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
    Ok(after)
}

impl Ledger {
    pub(super) fn validate(&self, block: &VerifiedBlock) -> Result<Verdict, LedgerError> {
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
        let (role, before) = self.role_and_balance_before(author, seq, kind, chain)?;
        let balance = match kind {
            // A key announcement needs only a Register before it (checked above): any
            // role may publish or replace its key, and it moves no money.
            Kind::Register(_) | Kind::EncryptionKey(_) => before,
            Kind::Access(_) => {
                if role != Role::Patient {
                    return Err(LedgerError::NotDataOwner { author: *author });
                }
                before
            }
            Kind::ConsentGrant(g) => {
                self.grant_rules(author, role, kind, g)?;
                before
            }
            Kind::ConsentRevoke(r) => {
                self.revoke_rules(author, role, kind, r)?;
                before
            }
            Kind::Send(s) => send_rules(author, before, s)?,
            Kind::Receive(r) => return self.receive_rules(author, role, before, r),
        };
        Ok(Verdict::Valid { role, balance })
    }

    /// Step 1: a Register first and only first; the author's role and its balance
    /// before the block (the genesis balance for the Register).
    fn role_and_balance_before(
        &self,
        author: &AccountId,
        seq: u64,
        kind: &Kind,
        chain: Option<&Chain>,
    ) -> Result<(Role, i64), LedgerError> {
        match (seq, kind, chain) {
            (1, Kind::Register(r), _) => {
                let role = r
                    .role
                    .parse::<Role>()
                    .map_err(|reason| LedgerError::Malformed { reason })?;
                let genesis = i64::try_from(self.genesis.balance_of(author))
                    .map_err(|_| LedgerError::Overflow)?;
                Ok((role, genesis))
            }
            (1, k, _) => Err(LedgerError::FirstBlockNotRegister { kind: kind_name(k) }),
            (_, Kind::Register(_), _) => Err(LedgerError::RegisterNotFirst { seq }),
            (_, _, Some(c)) => Ok((c.role, c.balance)),
            // Unreachable through `validate`, which links only after the tip.
            (_, _, None) => Err(LedgerError::PrevMismatch {
                seq,
                expected: BlockHash::ZERO,
                got: BlockHash::ZERO,
            }),
        }
    }

    /// A grant: by a patient, with a grant id of hers not used before, to an account.
    fn grant_rules(
        &self,
        author: &AccountId,
        role: Role,
        kind: &Kind,
        g: &msg::ConsentGrant,
    ) -> Result<(), LedgerError> {
        if role != Role::Patient {
            return Err(LedgerError::NotPatient {
                kind: kind_name(kind),
                author: *author,
            });
        }
        if self.grants.contains_key(&(*author, g.grant_id.clone())) {
            return Err(LedgerError::DuplicateGrant {
                grant_id: hex::encode(&g.grant_id),
            });
        }
        need_account(&g.grantee, "grantee")?;
        Ok(())
    }

    /// A revocation: by a patient, of a grant of hers not yet revoked.
    fn revoke_rules(
        &self,
        author: &AccountId,
        role: Role,
        kind: &Kind,
        r: &msg::ConsentRevoke,
    ) -> Result<(), LedgerError> {
        if role != Role::Patient {
            return Err(LedgerError::NotPatient {
                kind: kind_name(kind),
                author: *author,
            });
        }
        match self.grants.get(&(*author, r.grant_id.clone())) {
            None => Err(LedgerError::UnknownGrant {
                grant_id: hex::encode(&r.grant_id),
            }),
            Some(g) if g.revoke.is_some() => Err(LedgerError::GrantAlreadyRevoked {
                grant_id: hex::encode(&r.grant_id),
            }),
            Some(_) => Ok(()),
        }
    }

    /// A Receive: of a stored Send addressed to the author, named correctly, not
    /// received before. Pending while the Send is unknown here.
    fn receive_rules(
        &self,
        author: &AccountId,
        role: Role,
        before: i64,
        r: &msg::Receive,
    ) -> Result<Verdict, LedgerError> {
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
        let balance = before.checked_add(amount).ok_or(LedgerError::Overflow)?;
        Ok(Verdict::Valid { role, balance })
    }

    pub(super) fn apply(&mut self, block: VerifiedBlock, role: Role, balance: i64) {
        let (hash, author, seq) = (block.hash(), block.author(), block.seq());
        match block.kind() {
            Kind::Register(r) => {
                self.directory.insert(author, hash);
                if !r.encryption_key.is_empty() {
                    self.encryption_keys
                        .entry(author)
                        .or_default()
                        .push((seq, hash));
                }
            }
            Kind::EncryptionKey(_) => {
                self.encryption_keys
                    .entry(author)
                    .or_default()
                    .push((seq, hash));
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
}
