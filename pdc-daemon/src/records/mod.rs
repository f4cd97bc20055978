//! Patient records: encrypted at rest, content-hashed, with FHIR R4 import and export.
//!
//! A record is stored as `version ‖ nonce ‖ XChaCha20-Poly1305(prost(Record))`, with the
//! record id as associated data so a ciphertext cannot be moved under another id. The
//! content hash (the one users see and the ledger references) is blake3 over the
//! encoding of the record's body only, so the same content has the same hash wherever
//! and whenever it was stored.

pub mod fhir;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use pdc_proto::Message;
use pdc_proto::records::{Record, record::Body};
use rand::RngCore;

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

/// A record with its content hash.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The record.
    pub record: Record,
    /// blake3 of the body encoding.
    pub hash: [u8; 32],
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

/// Content hash of a record: blake3 over its body's encoding.
pub fn content_hash(record: &Record) -> [u8; 32] {
    let body = pdc_proto::records::Record {
        id: String::new(),
        created_ms: 0,
        updated_ms: 0,
        body: record.body.clone(),
    };
    *blake3::hash(&body.encode_to_vec()).as_bytes()
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
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore").finish_non_exhaustive()
    }
}

impl RecordStore {
    /// Wraps `store`, encrypting with the 32-byte `key`.
    pub fn new(store: Store, key: &[u8; 32]) -> Self {
        Self {
            store,
            cipher: XChaCha20Poly1305::new(key.into()),
        }
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
        let hash = content_hash(&record);
        Ok(StoredRecord { record, hash })
    }

    /// Stores records (new or replacing the same id) in one durable batch: all or none.
    pub async fn put_many(&self, records: Vec<Record>) -> Result<Vec<StoredRecord>, RecordError> {
        let mut batch = Batch::new();
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            validate(&r)?;
            batch.put(cf::RECORDS, r.id.as_bytes().to_vec(), self.seal(&r)?);
            let hash = content_hash(&r);
            out.push(StoredRecord { record: r, hash });
        }
        self.store.commit(batch).await?;
        Ok(out)
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
