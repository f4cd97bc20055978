//! Unit tests of the parent module.
use super::*;
use pdc_proto::records::{Condition, Note};

fn condition(text: &str) -> Record {
    Record {
        id: new_id(),
        created_ms: now_ms(),
        updated_ms: now_ms(),
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
async fn hash_depends_on_content_only() {
    let mut a = condition("asthma");
    let mut b = a.clone();
    b.id = new_id();
    b.created_ms += 5;
    assert_eq!(content_hash(&a), content_hash(&b));
    a.body = Some(Body::Note(Note {
        title: "t".into(),
        text: "x".into(),
    }));
    assert_ne!(content_hash(&a), content_hash(&b));
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
}
