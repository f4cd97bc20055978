//! A full disk: writes fail with a clear "disk full" error, nothing acknowledged is lost,
//! and nothing half-written appears.
//!
//! Uses a small tmpfs so the disk really fills; mounting needs root (CI runs as root).

use std::process::Command;

use pdc_daemon::records::{RecordStore, new_id, now_ms};
use pdc_daemon::store::{Store, StoreError};
use pdc_proto::records::{Note, Record, record::Body};

struct Tmpfs(tempfile::TempDir);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn full_disk_is_reported_and_acknowledged_writes_survive() {
    let dir = tempfile::tempdir().expect("tmp");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        // CI runs as root: there a failed mount is a broken run, not a reason to pass.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        assert!(
            !root && std::env::var_os("CI").is_none(),
            "cannot mount a tmpfs although running as root or in CI: the full-disk path must be tested here"
        );
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the full-disk path is untested in this run"
        );
        return;
    }
    let fs = Tmpfs(dir);
    let db = fs.0.path().join("db");
    let mut acked = Vec::new();
    let mut refused = None;
    let failure = {
        let store = Store::open(&db).expect("open");
        let rs = RecordStore::new(store.clone(), &[7u8; 32]);
        let mut failure = None;
        for i in 0..100_000 {
            let r = Record {
                id: new_id(),
                created_ms: now_ms(),
                updated_ms: now_ms(),
                body: Some(Body::Note(Note {
                    title: format!("n{i}"),
                    text: "x".repeat(4096),
                })),
            };
            let id = r.id.clone();
            match rs.put(r).await {
                Ok(_) => acked.push(id),
                Err(e) => {
                    refused = Some(id);
                    failure = Some(e);
                    break;
                }
            }
        }
        store.close().await;
        failure
    };
    let err = failure.expect("a 6 MiB disk fills up");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            pdc_daemon::records::RecordError::Store(StoreError::DiskFull(_))
        ),
        "expected a disk-full error, got: {msg}"
    );
    assert!(
        msg.contains("disk full") && msg.contains("free disk space"),
        "{msg}"
    );
    assert!(!acked.is_empty());

    // Make room (as an operator would), reopen: every acknowledged record is there, intact.
    let grown = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(fs.0.path())
        .status();
    assert!(grown.is_ok_and(|s| s.success()));
    let store = Store::open(&db).expect("reopen after freeing space");
    let rs = RecordStore::new(store.clone(), &[7u8; 32]);
    let listed = rs.list().await.expect("list decrypts every stored record");
    let ids: std::collections::HashSet<String> =
        listed.iter().map(|s| s.record.id.clone()).collect();
    let lost = acked.iter().filter(|id| !ids.contains(*id)).count();
    assert_eq!(
        lost,
        0,
        "{lost} of {} acknowledged writes lost",
        acked.len()
    );
    assert_eq!(
        ids.len(),
        acked.len(),
        "the store holds exactly the acknowledged records"
    );
    let refused = refused.expect("the refused write's id");
    assert!(
        !ids.contains(&refused),
        "the write that failed with disk full is not half-there"
    );
    store.close().await;
}
