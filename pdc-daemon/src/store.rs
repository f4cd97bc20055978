//! RocksDB behind a small typed surface: column families as constants, key encodings in
//! one place, writes as batches made durable by one writer thread that groups
//! concurrent batches into a single synced write (group commit).
//!
//! Reads run on `spawn_blocking`; the writer owns its own thread. Nothing here blocks the
//! async runtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use rocksdb::{ColumnFamilyDescriptor, DB, Options, WriteBatch, WriteOptions};
use tokio::sync::{mpsc, oneshot};

/// Column family names. One per kind of data, so each can be scanned on its own.
pub mod cf {
    /// Node metadata (schema version, counters).
    pub const META: &str = "meta";
    /// Encrypted patient records, by record id.
    pub const RECORDS: &str = "records";
    /// Ledger blocks, by block hash.
    pub const BLOCKS: &str = "blocks";
    /// Chain index: author ‖ seq (big-endian) -> block hash.
    pub const CHAIN: &str = "chain";
    /// Chain heads: author -> seq ‖ hash.
    pub const HEADS: &str = "heads";
    /// Fork proofs, by author.
    pub const FORKS: &str = "forks";
    /// Access-guard learned state.
    pub const GUARD: &str = "guard";
    /// Known peers.
    pub const PEERS: &str = "peers";
    /// Every column family, in creation order.
    pub const ALL: &[&str] = &[META, RECORDS, BLOCKS, CHAIN, HEADS, FORKS, GUARD, PEERS];
}

/// Every fixed key and key prefix of the `meta` and `guard` column families, in one
/// place so two modules can never claim the same key space.
pub mod prefix {
    /// `meta`: the ledger's apply-order log, `ledger/applied/<u64 big-endian>` -> hash.
    pub const LEDGER_APPLIED: &[u8] = b"ledger/applied/";
    /// `meta`: never stored; deleting it is the no-op write that tells when every
    /// ledger write queued before it has been answered.
    pub const LEDGER_BARRIER: &[u8] = b"ledger/barrier";
    /// `meta`: portal accounts, `portal/user/<lower-cased name>` -> account.
    pub const PORTAL_USER: &str = "portal/user/";
    /// `guard`: the access guard's learned state (one value).
    pub const GUARD_STATE: &[u8] = b"state";
    /// `meta`: the local refusal log (one value: requests refused without a ledger block).
    pub const REFUSAL_LOG: &[u8] = b"refusals/log";
}

/// Key encodings. Integers are big-endian so range scans come out in order.
pub mod keys {
    /// Chain index key: the author's 32-byte key followed by the big-endian seq.
    pub fn chain(author: &[u8; 32], seq: u64) -> [u8; 40] {
        let mut k = [0u8; 40];
        k[..32].copy_from_slice(author);
        k[32..].copy_from_slice(&seq.to_be_bytes());
        k
    }

    /// Splits a chain index key; `None` if it is not 40 bytes.
    pub fn parse_chain(key: &[u8]) -> Option<([u8; 32], u64)> {
        let author: [u8; 32] = key.get(..32)?.try_into().ok()?;
        let seq: [u8; 8] = key.get(32..40)?.try_into().ok()?;
        (key.len() == 40).then(|| (author, u64::from_be_bytes(seq)))
    }
}

/// Storage failures, with what to do about them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the database.
    #[error(
        "the database at {0} is in use by another process; stop the other pdc-daemon or use another --data-dir"
    )]
    Locked(PathBuf),
    /// The disk is full; nothing of the failed write was stored.
    #[error("disk full: the write was not stored; free disk space and retry ({0})")]
    DiskFull(#[source] rocksdb::Error),
    /// Any other RocksDB error, with what the store was doing.
    #[error("database error: {context}{source}")]
    Db {
        /// What failed ("cannot open PATH: ", or empty).
        context: String,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },
    /// The database lacks a column family this version needs.
    #[error("database error: missing column family {0}; the database was not made by this version")]
    MissingFamily(&'static str),
    /// A blocking read task or the writer thread could not run.
    #[error("database error: {what}: {source}")]
    Task {
        /// Which task.
        what: &'static str,
        /// Why.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The store was closed (the node is shutting down).
    #[error("the store is shut down")]
    Closed,
}

impl StoreError {
    fn from_rocks(e: rocksdb::Error) -> Self {
        let s = e.as_ref();
        if s.contains("No space left") || s.contains("ENOSPC") {
            StoreError::DiskFull(e)
        } else {
            StoreError::Db {
                context: String::new(),
                source: e,
            }
        }
    }
}

/// One key-value operation of a batch; keys and values are ranges of the batch's
/// one buffer, so adding an operation allocates nothing of its own.
#[derive(Debug, Clone)]
enum Op {
    Put {
        cf: &'static str,
        key: std::ops::Range<usize>,
        value: std::ops::Range<usize>,
    },
    Delete {
        cf: &'static str,
        key: std::ops::Range<usize>,
    },
}

/// Key-value pairs as read back from a scan.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Writes that must land together or not at all.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    data: Vec<u8>,
    ops: Vec<Op>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, bytes: &[u8]) -> std::ops::Range<usize> {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        start..self.data.len()
    }

    /// Adds a put.
    pub fn put(&mut self, cf: &'static str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.put_bytes(cf, &key.into(), &value.into());
    }

    /// Adds a put of borrowed bytes, copied into the batch without an allocation of
    /// their own (for hot paths that write many small keys).
    pub fn put_bytes(&mut self, cf: &'static str, key: &[u8], value: &[u8]) {
        let key = self.push(key);
        let value = self.push(value);
        self.ops.push(Op::Put { cf, key, value });
    }

    /// Adds a delete.
    pub fn delete(&mut self, cf: &'static str, key: impl Into<Vec<u8>>) {
        let key = self.push(&key.into());
        self.ops.push(Op::Delete { cf, key });
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Resolves when a queued batch is on disk (see [`Store::enqueue`]).
#[derive(Debug)]
pub struct Durable(oneshot::Receiver<Result<(), StoreError>>);

impl Durable {
    /// Waits until the batch is durable, or reports why it is not.
    pub async fn wait(self) -> Result<(), StoreError> {
        self.0.await.map_err(|_| StoreError::Closed)?
    }
}

struct WriteJob {
    batch: Batch,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Most batches the writer merges into one synced write. Bounds the latency a single
/// writer can add to others and the memory of one merged batch.
const MAX_GROUP: usize = 256;

/// A node's database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<DB>,
    jobs: mpsc::Sender<WriteJob>,
    writer: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
    path: PathBuf,
    // Must stay the last field: fields drop in order, so by the time the last clone's
    // joiner runs, its `jobs` sender is gone, the writer's channel is closed, and the
    // join waits for queued writes and the database's close instead of leaving RocksDB
    // to be torn down by a thread racing the process exit.
    _joiner: Arc<WriterJoin>,
}

/// Joins the writer thread when the last [`Store`] clone is dropped without `close`.
struct WriterJoin(Arc<std::sync::Mutex<Option<JoinHandle<()>>>>);

impl Drop for WriterJoin {
    fn drop(&mut self) {
        let handle = self.0.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_keep_log_file_num(4);
        opts.set_max_open_files(512);
        opts.set_paranoid_checks(true);
        let cfs = cf::ALL
            .iter()
            .map(|n| ColumnFamilyDescriptor::new(*n, Options::default()));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| {
            if e.as_ref().contains("lock") {
                StoreError::Locked(path.to_path_buf())
            } else {
                StoreError::Db {
                    context: format!("cannot open {}: ", path.display()),
                    source: e,
                }
            }
        })?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel::<WriteJob>(4096);
        let wdb = db.clone();
        let handle = std::thread::Builder::new()
            .name("pdc-store-writer".into())
            .spawn(move || writer_loop(wdb, rx))
            .map_err(|e| StoreError::Task {
                what: "cannot start the writer thread",
                source: Arc::new(e),
            })?;
        let writer = Arc::new(std::sync::Mutex::new(Some(handle)));
        Ok(Self {
            db,
            jobs: tx,
            writer: writer.clone(),
            path: path.to_path_buf(),
            _joiner: Arc::new(WriterJoin(writer)),
        })
    }

    /// Writes a batch atomically and returns once it is durable on disk (synced WAL).
    /// Concurrent callers share one sync.
    pub async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (done, rx) = oneshot::channel();
        self.jobs
            .send(WriteJob { batch, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues a batch for the writer and returns a receiver that yields once it is
    /// durable. Batches are written in the order they were queued, so a caller holding a
    /// lock while queueing fixes the order on disk without holding the lock through the
    /// sync: concurrent callers still share one fsync.
    pub async fn enqueue(&self, batch: Batch) -> Result<Durable, StoreError> {
        let (done, rx) = oneshot::channel();
        if batch.is_empty() {
            let _ = done.send(Ok(()));
            return Ok(Durable(rx));
        }
        self.jobs
            .send(WriteJob { batch, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(Durable(rx))
    }

    /// Reads one value.
    pub async fn get(&self, cf: &'static str, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || get_sync(&db, cf, &key))
            .await
            .map_err(|e| StoreError::Task {
                what: "read task",
                source: Arc::new(e),
            })?
    }

    /// Reads every pair whose key starts with `prefix`, in key order.
    pub async fn scan(&self, cf: &'static str, prefix: Vec<u8>) -> Result<Pairs, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || scan_sync(&db, cf, &prefix))
            .await
            .map_err(|e| StoreError::Task {
                what: "read task",
                source: Arc::new(e),
            })?
    }

    /// Blocking read, for code already off the runtime.
    pub fn get_blocking(
        &self,
        cf: &'static str,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        get_sync(&self.db, cf, key)
    }

    /// Blocking prefix scan, for code already off the runtime.
    pub fn scan_blocking(&self, cf: &'static str, prefix: &[u8]) -> Result<Pairs, StoreError> {
        scan_sync(&self.db, cf, prefix)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for queued writes to be written, stops the writer thread and joins it.
    /// Later commits from any clone fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        let handle = self.writer.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            // Other clones may still hold senders, so dropping ours would not end the
            // writer: an empty batch is its stop marker.
            let (done, rx) = oneshot::channel();
            if self
                .jobs
                .send(WriteJob {
                    batch: Batch::new(),
                    done,
                })
                .await
                .is_ok()
            {
                let _ = rx.await;
            }
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

fn get_sync(db: &DB, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let h = db
        .cf_handle(cf)
        .ok_or_else(|| StoreError::MissingFamily(cf))?;
    db.get_cf(&h, key).map_err(StoreError::from_rocks)
}

fn scan_sync(db: &DB, cf: &'static str, prefix: &[u8]) -> Result<Pairs, StoreError> {
    let h = db
        .cf_handle(cf)
        .ok_or_else(|| StoreError::MissingFamily(cf))?;
    let mut out = Vec::new();
    let iter = db.iterator_cf(
        &h,
        rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward),
    );
    for item in iter {
        let (k, v) = item.map_err(StoreError::from_rocks)?;
        if !k.starts_with(prefix) {
            break;
        }
        out.push((k.into_vec(), v.into_vec()));
    }
    Ok(out)
}

/// The writer thread: take every job waiting, write them as one synced batch, answer
/// all. While one sync is in flight new jobs queue up, so the next round takes them all:
/// the more concurrent writers, the more writes per fsync.
fn writer_loop(db: Arc<DB>, mut rx: mpsc::Receiver<WriteJob>) {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    while let Some(first) = rx.blocking_recv() {
        if first.batch.is_empty() {
            // Close marker from `Store::close`.
            let _ = first.done.send(Ok(()));
            break;
        }
        let mut group = vec![first];
        let mut closing = false;
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) if job.batch.is_empty() => {
                    let _ = job.done.send(Ok(()));
                    closing = true;
                    break;
                }
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let result = write_group(&db, &group, &wo);
        for job in group {
            let _ = job.done.send(result.clone());
        }
        if closing {
            break;
        }
    }
    // Whatever is still queued after a close is refused rather than silently dropped.
    rx.close();
    while let Ok(job) = rx.try_recv() {
        let _ = job.done.send(Err(StoreError::Closed));
    }
}

fn write_group(db: &DB, group: &[WriteJob], wo: &WriteOptions) -> Result<(), StoreError> {
    // Column family handles looked up once per group, not once per operation.
    let mut handles: Vec<(&'static str, &rocksdb::ColumnFamily)> = Vec::new();
    let mut handle = |cf: &'static str| -> Result<&rocksdb::ColumnFamily, StoreError> {
        if let Some((_, h)) = handles.iter().find(|(name, _)| *name == cf) {
            return Ok(*h);
        }
        let h = db
            .cf_handle(cf)
            .ok_or_else(|| StoreError::MissingFamily(cf))?;
        handles.push((cf, h));
        Ok(h)
    };
    let mut wb = WriteBatch::default();
    for job in group {
        let data = &job.batch.data;
        for op in &job.batch.ops {
            match op {
                Op::Put { cf, key, value } => {
                    wb.put_cf(handle(cf)?, &data[key.clone()], &data[value.clone()]);
                }
                Op::Delete { cf, key } => wb.delete_cf(handle(cf)?, &data[key.clone()]),
            }
        }
    }
    db.write_opt(wb, wo).map_err(StoreError::from_rocks)
}

#[cfg(test)]
mod tests;
