//! All sixteen shared FHIR bundles import into a real encrypted store, export, and
//! import again to the same records.

use std::collections::BTreeSet;
use std::path::Path;

use pdc_daemon::records::fhir::{export_bundle, import_bundle};
use pdc_daemon::records::{RecordStore, kind};
use pdc_daemon::store::Store;
use pdc_proto::records::record::Body;

#[tokio::test]
async fn sixteen_bundles_roundtrip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fhir");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("shared data missing at {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 16);
    for f in files {
        let bytes = std::fs::read(&f).expect("read");
        let tmp = tempfile::tempdir().expect("tmp");
        let store = Store::open(tmp.path()).expect("open");
        let rs = RecordStore::new(store.clone(), &[3u8; 32]);
        let recs = import_bundle(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let entries = serde_json::from_slice::<serde_json::Value>(&bytes).expect("json")["entry"]
            .as_array()
            .map(Vec::len);
        assert_eq!(
            Some(recs.len()),
            entries,
            "{}: every entry kept",
            f.display()
        );
        assert_eq!(recs.iter().filter(|r| kind(r) == "profile").count(), 1);
        for r in &recs {
            if let Some(Body::Condition(c)) = &r.body {
                assert_eq!(c.code_system, "http://snomed.info/sct", "{}", f.display());
                assert!(!c.code.is_empty() && !c.text.is_empty());
            }
        }
        let stored = rs.put_many(recs).await.expect("store");
        let listed = rs.list().await.expect("list");
        assert_eq!(listed.len(), stored.len());

        let exported = export_bundle(&listed.iter().map(|s| s.record.clone()).collect::<Vec<_>>());
        let again = import_bundle(&serde_json::to_vec(&exported).expect("json"))
            .expect("re-import of export");
        let a: BTreeSet<[u8; 32]> = listed.iter().map(|s| rs.dedupe_key(&s.record)).collect();
        let b: BTreeSet<[u8; 32]> = again.iter().map(|r| rs.dedupe_key(r)).collect();
        assert_eq!(
            a,
            b,
            "{}: export re-imports to the same records",
            f.display()
        );
        store.close().await;
    }
}
