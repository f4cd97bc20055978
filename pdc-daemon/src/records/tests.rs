//! Unit tests of the parent module.
use super::*;
use pdc_proto::records::{Condition, Note};

fn condition(text: &str) -> Record {
    Record {
        id: new_id(),
        created_ms: now_ms(),
        updated_ms: now_ms(),
        salt: Vec::new(),
        body: Some(Body::Condition(Condition {
            text: text.into(),
            status: "active".into(),
            ..Default::default()
        })),
    }
}

#[tokio::test]
async fn encrypted_roundtrip_and_canary_absent_from_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let rs = RecordStore::new(store.clone(), &[9u8; 32]);
    let canary = "CANARY-7f3a9e21-unique-plaintext";
    let stored = rs.put(condition(canary)).await.expect("put");
    let back = rs.get(&stored.record.id).await.expect("get");
    assert_eq!(back, stored);
    store.close().await;
    drop(rs);
    drop(store);
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).expect("read");
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "canary found in {}",
            entry.display()
        );
    }
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(p).expect("dir").flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path))
        } else {
            out.push(path)
        }
    }
    out
}

#[tokio::test]
async fn wrong_key_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let id = RecordStore::new(store.clone(), &[1u8; 32])
        .put(condition("x"))
        .await
        .expect("put")
        .record
        .id;
    let err = RecordStore::new(store, &[2u8; 32])
        .get(&id)
        .await
        .expect_err("wrong key");
    assert!(matches!(err, RecordError::Decrypt { .. }));
}

#[tokio::test]
async fn commitment_depends_on_salt_and_content_only() {
    let mut a = condition("asthma");
    a.salt = new_salt();
    let mut b = a.clone();
    b.id = new_id();
    b.created_ms += 5;
    assert_eq!(commitment(&a), commitment(&b));
    a.body = Some(Body::Note(Note {
        title: "t".into(),
        text: "x".into(),
    }));
    assert_ne!(commitment(&a), commitment(&b));
    // Issue 14 reverses "same content, same hash": another salt, another commitment.
    let mut c = b.clone();
    c.salt = new_salt();
    assert_ne!(commitment(&b), commitment(&c));
}

#[tokio::test]
async fn two_stores_commit_to_the_same_condition_differently() {
    let text = "type 2 diabetes mellitus";
    let (d1, d2) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let alice = RecordStore::new(Store::open(d1.path()).expect("open"), &[1u8; 32]);
    let bob = RecordStore::new(Store::open(d2.path()).expect("open"), &[2u8; 32]);
    let a = alice.put(condition(text)).await.expect("put");
    let b = bob.put(condition(text)).await.expect("put");
    assert_ne!(a.commitment, b.commitment);
    assert_eq!(a.record.salt.len(), SALT_LEN);
    assert_ne!(a.record.salt, b.record.salt);
    // Nothing recomputable from the content alone matches: not the unsalted digest.
    let mut unsalted = a.record.clone();
    unsalted.salt.clear();
    assert_ne!(commitment(&unsalted), a.commitment);
    assert_ne!(commitment(&unsalted), b.commitment);
    // The salt travels with the record: what a reader got opens to the same commitment.
    assert_eq!(
        alice.get(&a.record.id).await.expect("get").commitment,
        a.commitment
    );
    // A rewrite is a new version with a fresh salt.
    let again = alice.put(a.record.clone()).await.expect("put");
    assert_ne!(again.commitment, a.commitment);
}

#[test]
fn verify_commitment_checks_content_salt_and_length() {
    let mut r = condition("asthma");
    r.salt = new_salt();
    let c = commitment(&r);
    assert!(verify_commitment(&r, &c));
    let mut altered = r.clone();
    if let Some(Body::Condition(x)) = &mut altered.body {
        x.status = "resolved".into();
    }
    assert!(!verify_commitment(&altered, &c), "altered after commitment");
    let mut resalted = r.clone();
    resalted.salt[0] ^= 1;
    assert!(!verify_commitment(&resalted, &c));
    // An unsalted record is refused even against its own digest.
    let mut bare = r.clone();
    bare.salt.clear();
    assert!(!verify_commitment(&bare, &commitment(&bare)));
}

#[tokio::test]
async fn dedupe_key_is_content_only_and_node_local() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let rs = RecordStore::new(store.clone(), &[3u8; 32]);
    let stored = rs.put(condition("asthma")).await.expect("put");
    // The same content imported again: fresh id, no salt yet.
    let mut again = condition("asthma");
    again.created_ms += 9;
    assert_eq!(rs.dedupe_key(&again), rs.dedupe_key(&stored.record));
    assert_ne!(rs.dedupe_key(&condition("gout")), rs.dedupe_key(&again));
    // Another node's key gives another digest, and none equals the commitment.
    let other = RecordStore::new(store, &[4u8; 32]);
    assert_ne!(other.dedupe_key(&again), rs.dedupe_key(&again));
    assert_ne!(rs.dedupe_key(&stored.record), stored.commitment);
}

#[tokio::test]
async fn ensure_salts_salts_old_records_once_and_keeps_their_content() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let rs = RecordStore::new(store.clone(), &[6u8; 32]);
    // Records as stored before salts existed: written without one.
    let old: Vec<Record> = ["asthma", "asthma", "gout"]
        .into_iter()
        .map(condition)
        .collect();
    let mut batch = Batch::new();
    for r in &old {
        batch.put(
            cf::RECORDS,
            r.id.as_bytes().to_vec(),
            rs.seal(r).expect("seal"),
        );
    }
    store.commit(batch).await.expect("commit");
    let fresh = rs.put(condition("migraine")).await.expect("put");

    assert_eq!(rs.ensure_salts().await.expect("migrate"), 3);
    let listed = rs.list().await.expect("list");
    assert_eq!(listed.len(), 4);
    let mut salts = std::collections::HashSet::new();
    for r in &old {
        let got = listed
            .iter()
            .find(|s| s.record.id == r.id)
            .expect("still there");
        assert_eq!(got.record.salt.len(), SALT_LEN);
        assert!(salts.insert(got.record.salt.clone()), "salts are distinct");
        let mut content = got.record.clone();
        content.salt.clear();
        assert_eq!(&content, r, "content unchanged");
        assert!(verify_commitment(&got.record, &got.commitment));
    }
    let kept = listed
        .iter()
        .find(|s| s.record.id == fresh.record.id)
        .expect("fresh");
    assert_eq!(kept, &fresh, "an already salted record is left alone");

    // Idempotent: nothing more to do, nothing changes.
    assert_eq!(rs.ensure_salts().await.expect("again"), 0);
    assert_eq!(rs.list().await.expect("list"), listed);
}

#[test]
fn invalid_records_are_refused() {
    let mut r = condition("  ");
    assert!(
        validate(&r)
            .expect_err("empty")
            .to_string()
            .contains("needs its text")
    );
    r.id = "nothex".into();
    assert!(validate(&r).expect_err("id").to_string().contains("32 hex"));
    let mut r = condition("asthma");
    r.salt = vec![1; 5];
    assert!(validate(&r).expect_err("salt").to_string().contains("salt"));
}
