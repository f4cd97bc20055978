//! Unit tests of the parent module.
use super::*;

#[tokio::test]
async fn batch_is_atomic_and_readable() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let mut b = Batch::new();
    b.put(cf::RECORDS, b"a".to_vec(), b"1".to_vec());
    b.put(cf::RECORDS, b"ab".to_vec(), b"2".to_vec());
    b.put(cf::GUARD, b"a".to_vec(), b"3".to_vec());
    store.commit(b).await.expect("commit");
    assert_eq!(
        store.get(cf::RECORDS, b"a".to_vec()).await.expect("get"),
        Some(b"1".to_vec())
    );
    let scanned = store.scan(cf::RECORDS, b"a".to_vec()).await.expect("scan");
    assert_eq!(scanned.len(), 2);
    let mut d = Batch::new();
    d.delete(cf::RECORDS, b"a".to_vec());
    store.commit(d).await.expect("delete");
    assert_eq!(
        store.get(cf::RECORDS, b"a".to_vec()).await.expect("get"),
        None
    );
    store.close().await;
    let mut late = Batch::new();
    late.put(cf::META, b"late".to_vec(), b"x".to_vec());
    assert!(matches!(store.commit(late).await, Err(StoreError::Closed)));
}

#[tokio::test]
async fn concurrent_writers_all_land_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let store = Store::open(dir.path()).expect("open");
        let mut tasks = Vec::new();
        for w in 0..16u32 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..20u32 {
                    let mut b = Batch::new();
                    b.put(cf::META, format!("k{w:02}-{i:02}").into_bytes(), vec![1]);
                    s.commit(b).await.expect("commit");
                }
            }));
        }
        for t in tasks {
            t.await.expect("join");
        }
        store.close().await;
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(
        store
            .scan(cf::META, b"k".to_vec())
            .await
            .expect("scan")
            .len(),
        320
    );
}

#[test]
fn second_open_reports_lock() {
    let dir = tempfile::tempdir().expect("tmp");
    let _a = Store::open(dir.path()).expect("open");
    let err = Store::open(dir.path()).expect_err("locked");
    assert!(matches!(err, StoreError::Locked(_)), "{err}");
}

#[test]
fn chain_keys_roundtrip_and_sort() {
    let a = [7u8; 32];
    assert_eq!(keys::parse_chain(&keys::chain(&a, 258)), Some((a, 258)));
    assert!(keys::chain(&a, 2) < keys::chain(&a, 256));
    assert_eq!(keys::parse_chain(b"short"), None);
}
