//! Patient records: encrypted at rest, named by salted commitments, with FHIR R4 import
//! and export.
//!
//! A record is stored as `version ‖ nonce ‖ XChaCha20-Poly1305(prost(Record))`, with the
//! record id as associated data so a ciphertext cannot be moved under another id.
//!
//! # Two digests, two audiences
//! - [`commitment`]: `blake3(salt ‖ encoding of the body)`, with a random 32-byte salt
//!   per record version kept inside the encrypted record and sent with it. It is the
//!   only digest that leaves the node (the ledger, answers, views); its reader, who got
//!   the salt with the record, recomputes it with [`verify_commitment`]. Whoever lacks
//!   the salt cannot test guesses of the content against it: the same condition text
//!   has a different commitment in every record store.
//! - [`DedupeKey`]: a keyed blake3 of the body under a key derived from this node's
//!   records key. It never leaves the node; it lets a re-import of the same bundle
//!   store nothing new although every stored record has its own salt.

pub mod fhir;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use pdc_proto::Message;
use pdc_proto::records::{Record, record::Body};
use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::store::{Batch, Store, StoreError, cf};

/// Format byte of stored ciphertexts, so the scheme can change later.
const FORMAT_V1: u8 = 1;
/// Largest plaintext record accepted (an imported FHIR resource included).
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// Errors of the record store.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Storage failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record could not be decrypted: wrong key or tampering.
    #[error(
        "record {id} cannot be decrypted: the records key does not match or the data was altered"
    )]
    Decrypt {
        /// The record id.
        id: String,
    },
    /// The input is not a valid record.
    #[error("invalid record: {0}")]
    Invalid(String),
    /// No such record.
    #[error("no record with id {0}")]
    NotFound(String),
}

/// Length of a record version's salt.
pub const SALT_LEN: usize = 32;

/// A record with its commitment.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The record, its salt included.
    pub record: Record,
    /// [`commitment`] of the record.
    pub commitment: [u8; 32],
}

/// The kind of a record, from its body.
pub fn kind(record: &Record) -> &'static str {
    match &record.body {
        Some(Body::Profile(_)) => "profile",
        Some(Body::Condition(_)) => "condition",
        Some(Body::Note(_)) => "note",
        Some(Body::Fhir(_)) => "fhir",
        None => "empty",
    }
}

/// One line describing a record for tables.
pub fn summary(record: &Record) -> String {
    match &record.body {
        Some(Body::Profile(p)) => format!("{} {} {}", p.display_name, p.birth_date, p.gender)
            .trim()
            .to_string(),
        Some(Body::Condition(c)) => {
            let mut s = c.text.clone();
            if !c.status.is_empty() {
                s.push_str(&format!(" [{}]", c.status));
            }
            s
        }
        Some(Body::Note(n)) => n.title.clone(),
        Some(Body::Fhir(f)) => f.resource_type.clone(),
        None => String::new(),
    }
}

/// The prost encoding of the record's body alone: no id, times or salt, so that equal
/// content encodes equally wherever and whenever it was stored.
fn body_encoding(record: &Record) -> Vec<u8> {
    Record {
        id: String::new(),
        created_ms: 0,
        updated_ms: 0,
        salt: Vec::new(),
        body: record.body.clone(),
    }
    .encode_to_vec()
}

/// The commitment to a record version: `blake3(salt ‖ encoding of the body)`. The one
/// digest of a record that leaves the node.
pub fn commitment(record: &Record) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&record.salt);
    h.update(&body_encoding(record));
    *h.finalize().as_bytes()
}

/// Whether `record` is the one `expected` commits to: the requester's check of a
/// record it received against the commitment in the owner's Access block. A record
/// without a full salt is refused, since its commitment would be a plain content hash.
pub fn verify_commitment(record: &Record, expected: &[u8; 32]) -> bool {
    has_salt(record) && bool::from(commitment(record).ct_eq(expected))
}

/// Whether `record` carries a full salt. Without one its commitment is a plain
/// content hash, which anyone can recompute from a guessed diagnosis.
pub fn has_salt(record: &Record) -> bool {
    record.salt.len() == SALT_LEN
}

/// A fresh random salt for a record version.
pub fn new_salt() -> Vec<u8> {
    let mut salt = vec![0u8; SALT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    salt
}

/// The node-local key for re-import de-duplication, derived from the records key so
/// it needs no file of its own and differs on every node.
#[derive(Clone)]
pub struct DedupeKey(Zeroizing<[u8; 32]>);

impl DedupeKey {
    /// Derives the de-duplication key from the records key (blake3's KDF mode, with a
    /// context string of its own, so it is independent of the encryption key).
    pub fn from_records_key(records_key: &[u8; 32]) -> Self {
        Self(Zeroizing::new(blake3::derive_key(
            "sec-net-pdc record dedupe v1",
            records_key,
        )))
    }

    /// The de-duplication digest of a record's content: equal for equal bodies whatever
    /// their ids, times and salts; meaningless to any other node, and never sent.
    pub fn of(&self, record: &Record) -> [u8; 32] {
        *blake3::keyed_hash(&self.0, &body_encoding(record)).as_bytes()
    }
}

impl std::fmt::Debug for DedupeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DedupeKey(..)")
    }
}

/// A fresh random record id (16 bytes, hex).
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Milliseconds since the Unix epoch (the node's one clock reading, kept here under its
/// old name because records, tests and benches take it from `records`).
pub use crate::time::now_ms;

/// Checks a record before it is stored.
pub fn validate(record: &Record) -> Result<(), RecordError> {
    if record.id.len() != 32 || hex::decode(&record.id).is_err() {
        return Err(RecordError::Invalid(format!(
            "id '{}' is not 32 hex digits",
            record.id
        )));
    }
    match &record.body {
        None => return Err(RecordError::Invalid("record has no body".into())),
        Some(Body::Condition(c)) if c.text.trim().is_empty() => {
            return Err(RecordError::Invalid(
                "a condition needs its text, e.g. \"type 2 diabetes\"".into(),
            ));
        }
        Some(Body::Note(n)) if n.text.trim().is_empty() && n.title.trim().is_empty() => {
            return Err(RecordError::Invalid("a note needs a title or text".into()));
        }
        _ => {}
    }
    if !record.salt.is_empty() && record.salt.len() != SALT_LEN {
        return Err(RecordError::Invalid(format!(
            "salt is {} bytes; a record's salt is {SALT_LEN} random bytes",
            record.salt.len()
        )));
    }
    let len = record.encoded_len();
    if len > MAX_RECORD_BYTES {
        return Err(RecordError::Invalid(format!(
            "record is {len} bytes; the limit is {MAX_RECORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Encrypted record storage on top of the node's [`Store`].
#[derive(Clone)]
pub struct RecordStore {
    store: Store,
    cipher: XChaCha20Poly1305,
    dedupe: DedupeKey,
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore").finish_non_exhaustive()
    }
}

impl RecordStore {
    /// Wraps `store`, encrypting with the 32-byte `key` (and de-duplicating with a key
    /// derived from it).
    pub fn new(store: Store, key: &[u8; 32]) -> Self {
        Self {
            store,
            cipher: XChaCha20Poly1305::new(key.into()),
            dedupe: DedupeKey::from_records_key(key),
        }
    }

    /// This node's de-duplication digest of `record` (see [`DedupeKey`]).
    pub fn dedupe_key(&self, record: &Record) -> [u8; 32] {
        self.dedupe.of(record)
    }

    fn seal(&self, record: &Record) -> Result<Vec<u8>, RecordError> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let plain = record.encode_to_vec();
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: record.id.as_bytes(),
                },
            )
            .map_err(|_| RecordError::Invalid("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open(&self, id: &[u8], sealed: &[u8]) -> Result<StoredRecord, RecordError> {
        let id_str = String::from_utf8_lossy(id).into_owned();
        let fail = || RecordError::Decrypt { id: id_str.clone() };
        if sealed.len() < 25 || sealed[0] != FORMAT_V1 {
            return Err(fail());
        }
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(&sealed[1..25]),
                Payload {
                    msg: &sealed[25..],
                    aad: id,
                },
            )
            .map_err(|_| fail())?;
        let record = Record::decode(plain.as_slice()).map_err(|_| fail())?;
        let commitment = commitment(&record);
        Ok(StoredRecord { record, commitment })
    }

    /// Stores records (new or replacing the same id) in one durable batch: all or none.
    /// Every write is a new version of its record, so each gets a fresh salt (whatever
    /// salt it came with) and with it a commitment unrelated to the previous one.
    pub async fn put_many(&self, records: Vec<Record>) -> Result<Vec<StoredRecord>, RecordError> {
        let mut batch = Batch::new();
        let mut out = Vec::with_capacity(records.len());
        for mut r in records {
            r.salt = new_salt();
            validate(&r)?;
            batch.put(cf::RECORDS, r.id.as_bytes().to_vec(), self.seal(&r)?);
            let commitment = commitment(&r);
            out.push(StoredRecord {
                record: r,
                commitment,
            });
        }
        self.store.commit(batch).await?;
        Ok(out)
    }

    /// Gives every stored record that has no salt (stored before records had one) a
    /// fresh salt, leaving all else as it was, in one durable batch. Returns how many
    /// it salted; 0 once done, so it is safe to call on every start. Call it before the
    /// node takes writes (at open): a record changed between its scan and its commit
    /// would be put back as it was.
    pub async fn ensure_salts(&self) -> Result<usize, RecordError> {
        let rows = self.store.scan(cf::RECORDS, Vec::new()).await?;
        let mut batch = Batch::new();
        for (key, value) in &rows {
            let StoredRecord { mut record, .. } = self.open(key, value)?;
            if !record.salt.is_empty() {
                continue;
            }
            record.salt = new_salt();
            batch.put(cf::RECORDS, key.clone(), self.seal(&record)?);
        }
        let salted = batch.len();
        if salted > 0 {
            self.store.commit(batch).await?;
            tracing::info!(records = salted, "gave stored records their salts");
        }
        Ok(salted)
    }

    /// Stores one record durably.
    pub async fn put(&self, record: Record) -> Result<StoredRecord, RecordError> {
        let mut v = self.put_many(vec![record]).await?;
        v.pop()
            .ok_or_else(|| RecordError::Invalid("nothing stored".into()))
    }

    /// Reads one record.
    pub async fn get(&self, id: &str) -> Result<StoredRecord, RecordError> {
        match self.store.get(cf::RECORDS, id.as_bytes().to_vec()).await? {
            Some(v) => self.open(id.as_bytes(), &v),
            None => Err(RecordError::NotFound(id.to_string())),
        }
    }

    /// Reads every record, oldest first.
    pub async fn list(&self) -> Result<Vec<StoredRecord>, RecordError> {
        let rows = self.store.scan(cf::RECORDS, Vec::new()).await?;
        let mut out = rows
            .iter()
            .map(|(k, v)| self.open(k, v))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| {
            (a.record.created_ms, &a.record.id).cmp(&(b.record.created_ms, &b.record.id))
        });
        Ok(out)
    }

    /// Deletes a record durably.
    pub async fn delete(&self, id: &str) -> Result<(), RecordError> {
        self.get(id).await?;
        let mut b = Batch::new();
        b.delete(cf::RECORDS, id.as_bytes().to_vec());
        self.store.commit(b).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
