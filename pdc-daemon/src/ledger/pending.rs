//! Blocks that are valid as far as can be told but wait for a block not yet seen.

use std::collections::{BTreeMap, HashMap};

use super::block::VerifiedBlock;
use super::types::{AccountId, BlockHash};

/// What a pending block waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// The author's block `seq` with hash `hash` (the pending block's `prev`).
    Parent {
        author: AccountId,
        seq: u64,
        hash: BlockHash,
    },
    /// The `Send` a pending `Receive` claims.
    Send {
        sender: AccountId,
        seq: u64,
        hash: BlockHash,
    },
}

impl Need {
    fn waits_on(&self) -> BlockHash {
        match self {
            Need::Parent { hash, .. } | Need::Send { hash, .. } => *hash,
        }
    }
}

pub(crate) struct PendingEntry {
    pub(crate) block: VerifiedBlock,
    pub(crate) need: Need,
    pub(crate) since_ms: u64,
}

/// A bounded buffer, oldest evicted first. Evicting is safe: the sync layer fetches
/// the gap again through [`super::Ledger::missing`] and the block comes back.
#[derive(Default)]
pub(crate) struct Pending {
    next_id: u64,
    entries: BTreeMap<u64, PendingEntry>,
    by_hash: HashMap<BlockHash, u64>,
    by_slot: HashMap<(AccountId, u64), Vec<u64>>,
    waiters: HashMap<BlockHash, Vec<u64>>,
}

fn remove_id(map_vec: Option<&mut Vec<u64>>, id: u64) -> bool {
    match map_vec {
        Some(v) => {
            v.retain(|x| *x != id);
            v.is_empty()
        }
        None => false,
    }
}

impl Pending {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn need_of(&self, hash: &BlockHash) -> Option<Need> {
        // Usually nothing is pending: skip hashing the key.
        if self.entries.is_empty() {
            return None;
        }
        self.by_hash
            .get(hash)
            .and_then(|id| self.entries.get(id))
            .map(|e| e.need)
    }

    /// A pending block of `author` at `seq` other than `hash`, if any.
    pub(crate) fn other_at(
        &self,
        author: AccountId,
        seq: u64,
        hash: &BlockHash,
    ) -> Option<&VerifiedBlock> {
        if self.entries.is_empty() {
            return None;
        }
        self.by_slot
            .get(&(author, seq))?
            .iter()
            .filter_map(|id| self.entries.get(id))
            .map(|e| &e.block)
            .find(|b| b.hash() != *hash)
    }

    pub(crate) fn insert(&mut self, entry: PendingEntry, capacity: usize) {
        let hash = entry.block.hash();
        if self.by_hash.contains_key(&hash) {
            return;
        }
        while self.entries.len() >= capacity.max(1) {
            let Some(oldest) = self.entries.keys().next().copied() else {
                break;
            };
            self.remove(oldest);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.by_hash.insert(hash, id);
        self.by_slot
            .entry((entry.block.author(), entry.block.seq()))
            .or_default()
            .push(id);
        self.waiters
            .entry(entry.need.waits_on())
            .or_default()
            .push(id);
        self.entries.insert(id, entry);
    }

    pub(crate) fn remove(&mut self, id: u64) -> Option<PendingEntry> {
        let entry = self.entries.remove(&id)?;
        self.by_hash.remove(&entry.block.hash());
        let slot = (entry.block.author(), entry.block.seq());
        if remove_id(self.by_slot.get_mut(&slot), id) {
            self.by_slot.remove(&slot);
        }
        let w = entry.need.waits_on();
        if remove_id(self.waiters.get_mut(&w), id) {
            self.waiters.remove(&w);
        }
        Some(entry)
    }

    /// Removes and returns the blocks waiting for `hash`.
    pub(crate) fn take_waiters(&mut self, hash: &BlockHash) -> Vec<PendingEntry> {
        if self.waiters.is_empty() {
            return Vec::new();
        }
        let ids = self.waiters.remove(hash).unwrap_or_default();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Removes and returns the blocks of `author` at `from_seq` or later.
    pub(crate) fn take_author_from(
        &mut self,
        author: AccountId,
        from_seq: u64,
    ) -> Vec<PendingEntry> {
        let ids: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.block.author() == author && e.block.seq() >= from_seq)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Drops blocks first seen before `cutoff_ms`.
    pub(crate) fn expire(&mut self, cutoff_ms: u64) {
        // Ids grow with arrival, so the oldest are at the front.
        while let Some((&id, e)) = self.entries.iter().next() {
            if e.since_ms >= cutoff_ms {
                break;
            }
            self.remove(id);
        }
    }

    pub(crate) fn needs(&self) -> impl Iterator<Item = Need> + '_ {
        self.entries.values().map(|e| e.need)
    }
}
