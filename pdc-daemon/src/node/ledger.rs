//! The node's ledger behind one handle: the in-memory fold, the ordered durable
//! writes, and the queue of own blocks waiting to be gossiped.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;

use super::{MAX_GOSSIP_BLOCKS, NodeError};
use crate::ledger::{
    AccountId, BlockHash, Genesis, Head, Ingested, Kind, Ledger, LedgerConfig, LedgerDb,
    LedgerError, VerifiedBlock, VerifyReport,
};
use crate::net::NetClient;
use crate::store::{Batch, Store, cf, prefix};
use crate::time::now_ms;

/// A running node's ledger: every read and write of it goes through here, so the
/// order of writes, what peers may see, and what is gossiped when are decided in one
/// place.
#[derive(Debug)]
pub struct LedgerHandle {
    /// The ledger state; never held across an await.
    state: std::sync::Mutex<LedgerState>,
    /// Serializes ledger writes so blocks reach the disk in the order they were
    /// applied (a block is never durable before its predecessor).
    write: tokio::sync::Mutex<()>,
    /// The ledger's tables.
    db: LedgerDb,
    /// The store, for the write barrier after a failed write.
    store: Store,
    /// What a reload after a failed write rebuilds from.
    genesis: Genesis,
    config: LedgerConfig,
    /// This node's account and the key that signs its own chain.
    account: AccountId,
    signing_key: SigningKey,
    /// How long an own block may wait to be relayed by someone else (`gossip_linger_ms`).
    linger_ms: u64,
    /// The network, once started: every block this node appends is gossiped through it.
    net: Arc<OnceLock<NetClient>>,
    /// Own durable blocks not gossiped yet (see [`LedgerHandle::append_deferred`]), in
    /// chain order, and when they go out at the latest.
    deferred: std::sync::Mutex<Deferred>,
    /// Woken when `deferred` gets its first block, so the network task learns the
    /// new deadline.
    deferred_changed: tokio::sync::Notify,
}

/// What a [`LedgerHandle`] is made of (see its fields).
pub(super) struct LedgerParts {
    pub ledger: Ledger,
    pub next_order: u64,
    pub db: LedgerDb,
    pub store: Store,
    pub genesis: Genesis,
    pub config: LedgerConfig,
    pub signing_key: SigningKey,
    pub linger_ms: u64,
    pub net: Arc<OnceLock<NetClient>>,
}

/// See [`LedgerHandle::append_deferred`].
#[derive(Debug, Default)]
struct Deferred {
    blocks: Vec<VerifiedBlock>,
    due: Option<Instant>,
}

/// The in-memory ledger and the next apply-order number for its persistence.
#[derive(Debug)]
pub struct LedgerState {
    /// The fold of every stored block.
    pub ledger: Ledger,
    /// Next index of the apply-order log.
    pub next_order: u64,
    /// Blocks applied in memory whose write is not yet durable. They are never served
    /// to peers: a node that crashed before the write would have forgotten a block it
    /// handed out, and for its own chain that is a fork of itself. A block whose write
    /// failed stays here, so it is never served at all.
    pub not_durable: HashSet<BlockHash>,
}

impl LedgerState {
    /// Heads of every chain as far as its blocks are durable: what peers are told.
    pub fn durable_heads(&self) -> BTreeMap<AccountId, Head> {
        let mut heads = self.ledger.heads();
        if self.not_durable.is_empty() {
            return heads;
        }
        heads.retain(|_, head| {
            // Writes are queued in apply order, so the durable part of a chain is a
            // prefix: step back to it.
            while self.not_durable.contains(&head.hash) {
                match self.ledger.block(&head.hash) {
                    Some(b) if b.seq() > 1 => {
                        *head = Head {
                            seq: b.seq() - 1,
                            hash: b.prev(),
                        };
                    }
                    _ => return false,
                }
            }
            true
        });
        heads
    }

    /// Stored blocks of `author` from `from_seq` (at most `limit`, see
    /// [`Ledger::blocks_range`]), ending before the first one not yet durable.
    pub fn durable_range(
        &self,
        author: &AccountId,
        from_seq: u64,
        limit: usize,
    ) -> Vec<&VerifiedBlock> {
        self.ledger
            .blocks_range(author, from_seq, limit)
            .into_iter()
            .take_while(|b| !self.not_durable.contains(&b.hash()))
            .collect()
    }
}

/// Blocks applied and queued for writing by [`LedgerHandle::apply_verified_batch`], not yet
/// durable.
#[derive(Debug)]
#[must_use = "the results are only known, and the blocks only served, once the write is durable"]
pub struct PendingWrite<'a> {
    ledger: &'a LedgerHandle,
    durable: crate::store::Durable,
    stored: Vec<BlockHash>,
    results: Vec<Result<Ingested, LedgerError>>,
}

impl PendingWrite<'_> {
    /// Waits until the write is durable, lets peers see the blocks, and returns what
    /// ingesting each block did (see [`LedgerHandle::ingest_remote_batch`]).
    pub async fn durable(self) -> Result<Vec<Result<Ingested, LedgerError>>, NodeError> {
        self.ledger.settle(self.durable, &self.stored).await?;
        Ok(self.results)
    }
}

/// Hashes of every block `results` reports stored.
fn stored_by(results: &[Result<Ingested, LedgerError>]) -> Vec<BlockHash> {
    results
        .iter()
        .filter_map(|r| match r {
            Ok(Ingested::Applied { stored } | Ingested::Fork { stored, .. }) => Some(stored),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("heads", &self.heads().len())
            .finish_non_exhaustive()
    }
}

impl LedgerHandle {
    pub(super) fn new(p: LedgerParts) -> Self {
        Self {
            state: std::sync::Mutex::new(LedgerState {
                ledger: p.ledger,
                next_order: p.next_order,
                not_durable: HashSet::new(),
            }),
            write: tokio::sync::Mutex::new(()),
            db: p.db,
            store: p.store,
            genesis: p.genesis,
            config: p.config,
            account: AccountId(p.signing_key.verifying_key().to_bytes()),
            signing_key: p.signing_key,
            linger_ms: p.linger_ms,
            net: p.net,
            deferred: std::sync::Mutex::new(Deferred::default()),
            deferred_changed: tokio::sync::Notify::new(),
        }
    }

    /// The network's genesis this ledger folds from.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// Re-checks every stored block and chain link from the disk, as a start does, on
    /// the blocking pool (`ledger verify`).
    pub async fn verify_stored(&self) -> Result<VerifyReport, NodeError> {
        let (db, genesis, config) = (self.db.clone(), self.genesis.clone(), self.config.clone());
        Ok(tokio::task::spawn_blocking(move || db.verify(genesis, config, now_ms())).await??)
    }

    /// Runs `f` on the ledger under its lock. Keep `f` short: it blocks other readers.
    pub fn read<T>(&self, f: impl FnOnce(&Ledger) -> T) -> T {
        f(&self.lock_state().ledger)
    }

    /// Signs a block of this node's own chain, applies it, and returns once it is
    /// durable. The block is only gossiped after this returns, so a crash can never leave
    /// a sent block that the node itself forgot (which would make it fork itself). Own
    /// blocks still waiting in [`LedgerHandle::append_deferred`]'s queue go out with it, first.
    pub async fn append(&self, body: Kind) -> Result<VerifiedBlock, NodeError> {
        let block = self.append_quiet(body).await?;
        let mut out = self.take_deferred();
        out.push(block.clone());
        self.gossip_blocks(&out).await;
        Ok(block)
    }

    /// [`LedgerHandle::append`] for a block someone else is expected to gossip: an Access block
    /// written in answer to a data request, which the requester receives in the answer
    /// and relays with its payment (one message for a whole search, where the owners'
    /// own messages would be one per patient, all arriving at every node while the
    /// search is still running). The block is durable when this returns, and waits
    /// `gossip_linger_ms`: if it comes back from the network meanwhile (relayed), it is
    /// not gossiped again; otherwise it goes out then, or earlier with this node's next
    /// block. A requester that never relays only delays it.
    pub async fn append_deferred(&self, body: Kind) -> Result<VerifiedBlock, NodeError> {
        if self.linger_ms == 0 {
            return self.append(body).await;
        }
        let block = self.append_quiet(body).await?;
        self.defer(vec![block.clone()]);
        Ok(block)
    }

    /// Queues durable blocks to be gossiped later, in this order after what waits
    /// already, due `gossip_linger_ms` after the oldest waiting one (at the network
    /// task's next turn when that is 0).
    fn defer(&self, blocks: Vec<VerifiedBlock>) {
        if blocks.is_empty() {
            return;
        }
        let linger = Duration::from_millis(self.linger_ms);
        let first = {
            let mut d = self.deferred_lock();
            d.blocks.extend(blocks);
            let first = d.due.is_none();
            d.due.get_or_insert(Instant::now() + linger);
            first
        };
        if first {
            self.deferred_changed.notify_one();
        }
    }

    /// When the oldest deferred block is due to be gossiped, if any is waiting.
    pub fn deferred_due(&self) -> Option<Instant> {
        self.deferred_lock().due
    }

    /// Resolves when a block is deferred while none was (a new deadline to wait for).
    pub async fn deferred_changed(&self) {
        self.deferred_changed.notified().await
    }

    /// Gossips the deferred blocks if their time has come. They are taken from the
    /// queue before this returns (so a caller looping on [`LedgerHandle::deferred_due`] sees
    /// the new deadline) and published by a spawned task.
    pub fn gossip_deferred_if_due(self: &Arc<Self>) {
        if self.deferred_due().is_none_or(|d| d > Instant::now()) {
            return;
        }
        let out = self.take_deferred();
        let ledger = self.clone();
        tokio::spawn(async move { ledger.gossip_blocks(&out).await });
    }

    /// Empties the deferred queue, returning what was in it (in chain order).
    fn take_deferred(&self) -> Vec<VerifiedBlock> {
        let mut d = self.deferred_lock();
        d.due = None;
        std::mem::take(&mut d.blocks)
    }

    /// Deferred blocks came back from the network (an Access block relayed by its
    /// requester, or served by a peer's sync): another node has them and spreads
    /// them, so this one need not.
    fn deferred_seen(&self, arrived: &[Result<VerifiedBlock, LedgerError>]) {
        let mut d = self.deferred_lock();
        // Every ingest passes here; the queue is empty nearly always.
        if d.blocks.is_empty() {
            return;
        }
        let arrived: HashSet<BlockHash> =
            arrived.iter().flatten().map(VerifiedBlock::hash).collect();
        d.blocks.retain(|b| !arrived.contains(&b.hash()));
        if d.blocks.is_empty() {
            d.due = None;
        }
    }

    fn deferred_lock(&self) -> std::sync::MutexGuard<'_, Deferred> {
        self.deferred
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signs, applies and durably stores a block of this node's own chain without
    /// gossiping it: [`LedgerHandle::append`] and [`LedgerHandle::append_deferred`] decide when it goes out.
    async fn append_quiet(&self, body: Kind) -> Result<VerifiedBlock, NodeError> {
        let order = self.write.lock().await;
        let (block, batch, stored) = {
            let mut guard = self.lock_state();
            let st = &mut *guard;
            let now = now_ms();
            let block = st
                .ledger
                .prepare(&self.account, body, now)?
                .sign(&self.signing_key)?;
            let stored = match st.ledger.ingest(block.clone(), now)? {
                Ingested::Applied { stored } => stored,
                other => {
                    return Err(LedgerError::Malformed {
                        reason: format!("own block not applied: {other:?}"),
                    }
                    .into());
                }
            };
            let batch = LedgerDb::batch(&st.ledger, &stored, None, &mut st.next_order);
            st.not_durable.extend(stored.iter().copied());
            (block, batch, stored)
        };
        // Queue in apply order under the lock, then wait for the sync without it, so
        // concurrent appends share one fsync while reaching the disk in order.
        let durable = self.db.enqueue(batch).await?;
        drop(order);
        self.settle(durable, &stored).await?;
        Ok(block)
    }

    /// [`LedgerHandle::append`] for several blocks of this node's own chain at once (a
    /// hospital paying every answer of one search): each body is prepared, signed and
    /// applied in order under one hold of the write lock, and everything stored is
    /// written in one durable batch (one sync) instead of one queued write per block,
    /// which under load waited behind every gossip ingest for the lock. Each block is
    /// gossiped once the batch is durable, as `append` does.
    ///
    /// `result[i]` is the block for `bodies[i]`, or why it was refused; a refused body
    /// does not stop the others (the next one takes its place in the chain). `Err`
    /// means the write failed and none of them is durable.
    pub async fn append_batch(
        &self,
        bodies: Vec<Kind>,
    ) -> Result<Vec<Result<VerifiedBlock, LedgerError>>, NodeError> {
        let results = self.append_batch_quiet(bodies).await?;
        let mut out = self.take_deferred();
        out.extend(results.iter().flatten().cloned());
        self.gossip_blocks(&out).await;
        Ok(results)
    }

    /// [`LedgerHandle::append_batch`] whose blocks wait in the deferred queue (see
    /// [`LedgerHandle::append_deferred`]) with `relay`, blocks of other chains this node just
    /// stored (the Access blocks a hospital's payments refer to), ahead of them: a
    /// search pays each batch of answers as it arrives, and publishes everything at
    /// the end with [`LedgerHandle::gossip_deferred`], in a few full messages instead of a
    /// small one per batch, each of which every node would be checking while the
    /// search still waits for answers. At the latest they go out `gossip_linger_ms`
    /// after the first of them (or with this node's next [`LedgerHandle::append`]).
    pub async fn append_batch_deferred(
        &self,
        bodies: Vec<Kind>,
        relay: Vec<VerifiedBlock>,
    ) -> Result<Vec<Result<VerifiedBlock, LedgerError>>, NodeError> {
        let results = self.append_batch_quiet(bodies).await?;
        let mut out = relay;
        out.extend(results.iter().flatten().cloned());
        self.defer(out);
        Ok(results)
    }

    /// Gossips whatever waits in the deferred queue now.
    pub async fn gossip_deferred(&self) {
        let out = self.take_deferred();
        self.gossip_blocks(&out).await;
    }

    /// Signs, applies and stores a batch of own blocks without gossiping them.
    async fn append_batch_quiet(
        &self,
        bodies: Vec<Kind>,
    ) -> Result<Vec<Result<VerifiedBlock, LedgerError>>, NodeError> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let order = self.write.lock().await;
        let (results, batch, stored) = {
            let mut guard = self.lock_state();
            let st = &mut *guard;
            let now = now_ms();
            let mut stored = Vec::new();
            let mut results = Vec::with_capacity(bodies.len());
            for body in bodies {
                let r = st
                    .ledger
                    .prepare(&self.account, body, now)
                    .and_then(|b| b.sign(&self.signing_key))
                    .and_then(|block| match st.ledger.ingest(block.clone(), now)? {
                        Ingested::Applied { stored: s } => {
                            stored.extend(s);
                            Ok(block)
                        }
                        other => Err(LedgerError::Malformed {
                            reason: format!("own block not applied: {other:?}"),
                        }),
                    });
                results.push(r);
            }
            let batch = LedgerDb::batch(&st.ledger, &stored, None, &mut st.next_order);
            st.not_durable.extend(stored.iter().copied());
            (results, batch, stored)
        };
        let durable = self.db.enqueue(batch).await?;
        drop(order);
        self.settle(durable, &stored).await?;
        Ok(results)
    }

    /// Publishes several of this node's durable blocks in as few messages as fit the
    /// gossip size limit: every node forwards and checks one message instead of one per
    /// block. A lone block goes out as a plain `Block` message.
    async fn gossip_blocks(&self, blocks: &[VerifiedBlock]) {
        use pdc_proto::wire::{BlockBatch, Gossip, gossip::Kind as G};
        // Room for the envelope (tags and lengths) under the 64 KiB gossip limit.
        const BUDGET: usize = 60 * 1024;
        let signed: Vec<_> = blocks.iter().filter_map(|b| b.to_signed().ok()).collect();
        let mut messages = Vec::new();
        let mut chunk: Vec<pdc_proto::ledger::SignedBlock> = Vec::new();
        let mut size = 0;
        for s in signed {
            let len = pdc_proto::Message::encoded_len(&s) + 8;
            if !chunk.is_empty() && (size + len > BUDGET || chunk.len() >= MAX_GOSSIP_BLOCKS) {
                messages.push(std::mem::take(&mut chunk));
                size = 0;
            }
            size += len;
            chunk.push(s);
        }
        messages.push(chunk);
        for mut blocks in messages {
            let kind = match blocks.len() {
                0 => continue,
                1 => G::Block(blocks.remove(0)),
                _ => G::Blocks(BlockBatch { blocks }),
            };
            self.publish(Gossip { kind: Some(kind) }).await;
        }
    }

    /// Publishes a gossip message. No peers yet is fine: anti-entropy delivers what it
    /// carries.
    async fn publish(&self, msg: pdc_proto::wire::Gossip) {
        if let Some(net) = self.net.get()
            && let Err(e) = net.publish(pdc_proto::Message::encode_to_vec(&msg)).await
        {
            tracing::debug!("gossip not published now ({e}); sync will deliver it");
        }
    }

    /// Verifies and stores a fork proof from a peer; returns whether it was news.
    pub async fn ingest_fork_proof(
        &self,
        msg: &pdc_proto::ledger::ForkProof,
    ) -> Result<bool, NodeError> {
        let order = self.write.lock().await;
        let (news, batch, stored) = {
            let mut guard = self.lock_state();
            let st = &mut *guard;
            let r = st.ledger.ingest_fork_proof(msg)?;
            let batch = LedgerDb::batch(&st.ledger, &r.stored, Some(&r.proof), &mut st.next_order);
            st.not_durable.extend(r.stored.iter().copied());
            (r.news, batch, r.stored)
        };
        let durable = self.db.enqueue(batch).await?;
        drop(order);
        self.settle(durable, &stored).await?;
        Ok(news)
    }

    /// Ingests a block from elsewhere (gossip or sync) and persists whatever it stored;
    /// returns once that is durable.
    pub async fn ingest_remote(&self, bytes: &[u8]) -> Result<Ingested, NodeError> {
        // The signature check needs no chain state: done before taking any lock, so
        // concurrent gossip ingests verify in parallel and queue only to apply.
        let block = self.read(Ledger::verifier).decode(bytes)?;
        let mut results = self.ingest_verified_batch(vec![Ok(block)]).await?;
        Ok(results.pop().unwrap_or(Ok(Ingested::Duplicate))?)
    }

    /// Ingests many blocks from elsewhere (a sync range, in chain order) as one:
    /// signatures checked with one batch verification, every chain rule applied in
    /// order, and everything stored written in one durable batch (one fsync) before
    /// this returns and before any of it is served to peers.
    ///
    /// `result[i]` is what [`LedgerHandle::ingest_remote`] would have said about `blocks[i]`
    /// had they been ingested one by one in this order: an invalid block is refused
    /// with its own error and does not stop the others. `Err` means the write failed.
    pub async fn ingest_remote_batch(
        &self,
        blocks: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<Ingested, LedgerError>>, NodeError> {
        let decoded = self.verify_remote_batch(blocks).await?;
        self.ingest_verified_batch(decoded).await
    }

    /// The first half of [`LedgerHandle::ingest_remote_batch`]: decodes and verifies the
    /// blocks (on the blocking pool: a sync range is milliseconds of signature
    /// checking). It reads no chain state, so a caller can verify the next range while
    /// the previous one is still being written, and keep the core busy during fsyncs.
    pub async fn verify_remote_batch(
        &self,
        blocks: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<VerifiedBlock, LedgerError>>, NodeError> {
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        let verifier = self.read(Ledger::verifier);
        Ok(tokio::task::spawn_blocking(move || verifier.decode_batch(blocks)).await?)
    }

    /// The second half of [`LedgerHandle::ingest_remote_batch`]: applies blocks verified by
    /// [`LedgerHandle::verify_remote_batch`] in order and returns once what they stored is
    /// durable.
    pub async fn ingest_verified_batch(
        &self,
        decoded: Vec<Result<VerifiedBlock, LedgerError>>,
    ) -> Result<Vec<Result<Ingested, LedgerError>>, NodeError> {
        self.apply_verified_batch(decoded).await?.durable().await
    }

    /// Applies verified blocks in order and queues their write, without waiting for
    /// it: the results come from [`PendingWrite::durable`] once it is on disk. Until
    /// then the blocks are not served to peers. A caller with several ranges can apply
    /// the next while earlier writes are still syncing; writes are queued in apply
    /// order, and queued writes share one fsync.
    pub async fn apply_verified_batch(
        &self,
        decoded: Vec<Result<VerifiedBlock, LedgerError>>,
    ) -> Result<PendingWrite<'_>, NodeError> {
        self.deferred_seen(&decoded);
        let order = self.write.lock().await;
        let (results, batch, stored) = {
            let mut guard = self.lock_state();
            let st = &mut *guard;
            let results = st.ledger.ingest_batch(decoded, now_ms());
            let batch = LedgerDb::batch_for(&st.ledger, &results, &mut st.next_order);
            let stored = stored_by(&results);
            st.not_durable.extend(stored.iter().copied());
            (results, batch, stored)
        };
        // Queued in apply order under the lock; the sync is waited for without it.
        let durable = self.db.enqueue(batch).await?;
        drop(order);
        Ok(PendingWrite {
            ledger: self,
            durable,
            stored,
            results,
        })
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for a queued ledger write. Once it is durable, peers may see its blocks;
    /// if it failed, the in-memory ledger is put back to what is on disk before the
    /// error is returned (see [`LedgerHandle::reload_after_failed_write`]).
    async fn settle(
        &self,
        durable: crate::store::Durable,
        stored: &[BlockHash],
    ) -> Result<(), NodeError> {
        match durable.wait().await {
            Ok(()) => {
                self.mark_durable(stored);
                Ok(())
            }
            Err(e) => {
                self.reload_after_failed_write().await;
                Err(e.into())
            }
        }
    }

    /// Brings the in-memory ledger back to what is on disk after a ledger write failed
    /// (a full disk). The blocks of that write, and of any write queued behind it, were
    /// applied in memory but are not stored: left there, a grant refused with "disk
    /// full" would still be in force, and the node's next block would build on one a
    /// restart forgets, which to peers is a fork. Holding the write lock (so nothing new
    /// is queued), it waits until every earlier write has been answered, then rebuilds
    /// the state from the store as a start does. Nothing of it was ever served: blocks
    /// not yet durable never leave the node.
    async fn reload_after_failed_write(&self) {
        let _order = self.write.lock().await;
        // Written in queue order: once this is answered (stored or refused), every
        // ledger write queued before it is too.
        let mut barrier = Batch::new();
        barrier.delete(cf::META, prefix::LEDGER_BARRIER.to_vec());
        if let Ok(done) = self.store.enqueue(barrier).await {
            let _ = done.wait().await;
        }
        let (db, genesis, config) = (self.db.clone(), self.genesis.clone(), self.config.clone());
        match tokio::task::spawn_blocking(move || db.load(genesis, config, now_ms())).await {
            Ok(Ok((ledger, next_order))) => {
                *self.lock_state() = LedgerState {
                    ledger,
                    next_order,
                    not_durable: HashSet::new(),
                };
                tracing::warn!(
                    "a ledger write failed; the ledger is back to what is on disk (free disk space, then retry)"
                );
            }
            Ok(Err(e)) => tracing::error!(
                "a ledger write failed and the ledger could not be reloaded from disk: {e}; free disk space and restart the node"
            ),
            Err(e) => tracing::error!(
                "a ledger write failed and reloading the ledger stopped: {e}; free disk space and restart the node"
            ),
        }
    }

    /// Lets peers see blocks whose write is now durable.
    fn mark_durable(&self, stored: &[BlockHash]) {
        if stored.is_empty() {
            return;
        }
        let mut st = self.lock_state();
        for h in stored {
            st.not_durable.remove(h);
        }
    }

    /// Runs `f` on the ledger state under its lock, including what is not yet durable
    /// (for answering peers). Keep `f` short: it blocks other readers.
    pub fn read_state<T>(&self, f: impl FnOnce(&LedgerState) -> T) -> T {
        f(&self.lock_state())
    }
}
