//! The `search-eval` command: every bundle goes through the real FHIR import and the
//! real encrypted record store, then the conditions read back are searched.

use std::path::Path;

use pdc_proto::records::record::Body;

use crate::records::RecordStore;
use crate::records::fhir::import_bundle;
use crate::search::{EvalCondition, EvalPatient, EvalReport, parse_eval_queries, run_eval};
use crate::store::Store;

/// Why the evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The query file is malformed.
    #[error("{path}: {detail}")]
    Queries {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        detail: String,
    },
    /// A bundle was refused by the importer.
    #[error("{path}: {detail}")]
    Bundle {
        /// The bundle.
        path: String,
        /// The importer's message.
        detail: String,
    },
    /// Storage failed.
    #[error("record store: {0}")]
    Store(String),
    /// No bundles.
    #[error("no .json bundles in {0}")]
    NoBundles(String),
}

/// Runs the evaluation and returns the printable report.
pub async fn run(queries: &Path, bundles: &Path) -> Result<EvalReport, EvalError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| EvalError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let q_text = String::from_utf8_lossy(&read(queries)?).into_owned();
    let queries_parsed = parse_eval_queries(&q_text).map_err(|e| EvalError::Queries {
        path: queries.display().to_string(),
        detail: e.to_string(),
    })?;
    let mut files: Vec<_> = std::fs::read_dir(bundles)
        .map_err(|source| EvalError::Read {
            path: bundles.display().to_string(),
            source,
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(EvalError::NoBundles(bundles.display().to_string()));
    }
    let tmp = tempfile_dir()?;
    let mut patients = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let records = import_bundle(&read(f)?).map_err(|e| EvalError::Bundle {
            path: f.display().to_string(),
            detail: e.to_string(),
        })?;
        // Each patient is its own node: its own database and its own key.
        let db = tmp.join(format!("p{i}"));
        let store = Store::open(&db).map_err(|e| EvalError::Store(e.to_string()))?;
        let rs = RecordStore::new(store.clone(), &rand_key());
        rs.put_many(records)
            .await
            .map_err(|e| EvalError::Store(e.to_string()))?;
        let listed = rs
            .list()
            .await
            .map_err(|e| EvalError::Store(e.to_string()))?;
        store.close().await;
        let conditions = listed
            .into_iter()
            .filter_map(|s| match s.record.body {
                Some(Body::Condition(c)) => Some(EvalCondition {
                    snomed_code: c.code,
                    text: c.text,
                }),
                _ => None,
            })
            .collect();
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        patients.push(EvalPatient { name, conditions });
    }
    let _ = std::fs::remove_dir_all(&tmp);
    tokio::task::spawn_blocking(move || run_eval(&queries_parsed, &patients))
        .await
        .map_err(|e| EvalError::Store(e.to_string()))
}

fn rand_key() -> [u8; 32] {
    use rand::RngCore;
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

fn tempfile_dir() -> Result<std::path::PathBuf, EvalError> {
    let dir =
        std::env::temp_dir().join(format!("pdc-search-eval-{}", hex::encode(&rand_key()[..8])));
    std::fs::create_dir_all(&dir).map_err(|source| EvalError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    Ok(dir)
}
