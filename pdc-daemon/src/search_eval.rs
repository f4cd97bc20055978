//! The `search-eval` command: every bundle goes through the real FHIR import and the
//! real encrypted record store, then the conditions read back are searched. The
//! patient-typed set goes the way a condition typed into the portal goes: a
//! condition record with that text, written to and read back from the record store,
//! then normalized and matched as the node's local search does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pdc_proto::records::record::Body;
use pdc_proto::records::{Condition, Record};

use crate::records::fhir::import_bundle;
use crate::records::{RecordStore, new_id};
use crate::search::{
    CodeSystem, EvalCondition, EvalPatient, EvalQuery, EvalReport, Half, Split, parse_eval_queries,
    parse_split, parse_typed_conditions, run_eval,
};
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
    /// The evaluation's scratch database failed.
    #[error("record store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Its records could not be stored or read back.
    #[error("record store: {0}")]
    Records(#[from] crate::records::RecordError),
    /// The records read back are not the ones written.
    #[error("record store: {0}")]
    Mismatch(String),
    /// The scoring task stopped.
    #[error("evaluation task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// No bundles.
    #[error("no .json bundles in {0}")]
    NoBundles(String),
    /// The split file is unreadable or does not fit the data.
    #[error("{path}: {detail}")]
    Split {
        /// The split file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The options do not name one set to evaluate.
    #[error("{0}")]
    Usage(String),
}

/// What to evaluate: the development set (`queries` + `bundles`) or the
/// patient-typed set (`typed` + `typed_queries`), whole or one half of `split`.
/// The daemon's `search-eval` subcommand parses its flags straight into this.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EvalOptions {
    /// Queries: query<TAB>relevant SNOMED codes<TAB>note, with a header line.
    #[arg(long, requires = "bundles")]
    pub queries: Option<PathBuf>,
    /// Directory of FHIR R4 Bundle JSON files, one patient each.
    #[arg(long, requires = "queries")]
    pub bundles: Option<PathBuf>,
    /// Patient-typed conditions: text<TAB>ICD-10-CM codes<TAB>note, with a header.
    #[arg(long, requires = "typed_queries", conflicts_with_all = ["queries", "bundles"])]
    pub typed: Option<PathBuf>,
    /// Queries over the typed set: query<TAB>ICD-10-CM code prefixes<TAB>note.
    #[arg(long, requires = "typed")]
    pub typed_queries: Option<PathBuf>,
    /// Split file naming the tuning and held-out halves (tests/eval/split.toml).
    #[arg(long, requires = "half")]
    pub split: Option<PathBuf>,
    /// Which half of the split to evaluate: tuning or held-out.
    #[arg(long, requires = "split")]
    pub half: Option<Half>,
}

/// Runs the evaluation the options name and returns the printable report.
pub async fn run_with(opts: &EvalOptions) -> Result<EvalReport, EvalError> {
    let split = match (&opts.split, opts.half) {
        (Some(path), Some(half)) => {
            let text = String::from_utf8_lossy(&read(path)?).into_owned();
            let split = parse_split(&text).map_err(|e| EvalError::Split {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
            Some((path.as_path(), split, half))
        }
        (None, None) => None,
        _ => {
            return Err(EvalError::Usage(
                "--split FILE and --half tuning|held-out go together".into(),
            ));
        }
    };
    match (opts, split) {
        (
            EvalOptions {
                queries: Some(q),
                bundles: Some(b),
                typed: None,
                typed_queries: None,
                ..
            },
            split,
        ) => run_dev(q, b, split).await,
        (
            EvalOptions {
                queries: None,
                bundles: None,
                typed: Some(t),
                typed_queries: Some(q),
                ..
            },
            split,
        ) => run_typed(t, q, split).await,
        _ => Err(EvalError::Usage(
            "name one set: --queries FILE --bundles DIR (development set) or --typed FILE \
             --typed-queries FILE (patient-typed set)"
                .into(),
        )),
    }
}

fn read(p: &Path) -> Result<Vec<u8>, EvalError> {
    std::fs::read(p).map_err(|source| EvalError::Read {
        path: p.display().to_string(),
        source,
    })
}

fn split_error(path: &Path, e: crate::search::SearchError) -> EvalError {
    EvalError::Split {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Keeps the queries of one half, after checking the split names exactly them.
fn queries_of(
    queries: Vec<EvalQuery>,
    halves: &crate::search::Halves,
    half: Half,
    path: &Path,
) -> Result<Vec<EvalQuery>, EvalError> {
    let names: Vec<&str> = queries.iter().map(|q| q.query.as_str()).collect();
    halves
        .check(&names, "queries")
        .map_err(|e| split_error(path, e))?;
    let keep = halves.of(half);
    Ok(queries
        .into_iter()
        .filter(|q| keep.contains(&q.query))
        .collect())
}

/// Reads and parses a query file whose relevance codes are in `system`.
fn load_queries(path: &Path, system: CodeSystem) -> Result<Vec<EvalQuery>, EvalError> {
    let text = String::from_utf8_lossy(&read(path)?).into_owned();
    parse_eval_queries(&text, system).map_err(|e| EvalError::Queries {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

async fn run_typed(
    typed: &Path,
    queries: &Path,
    split: Option<(&Path, Split, Half)>,
) -> Result<EvalReport, EvalError> {
    let mut queries_parsed = load_queries(queries, CodeSystem::Icd10)?;
    let t_text = String::from_utf8_lossy(&read(typed)?).into_owned();
    let mut rows = parse_typed_conditions(&t_text).map_err(|e| EvalError::Queries {
        path: typed.display().to_string(),
        detail: e.to_string(),
    })?;
    if let Some((path, split, half)) = split {
        queries_parsed = queries_of(queries_parsed, &split.typed.queries, half, path)?;
        let names: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        split
            .typed
            .conditions
            .check(&names, "typed conditions")
            .map_err(|e| split_error(path, e))?;
        let keep = split.typed.conditions.of(half);
        rows.retain(|r| keep.contains(&r.text));
    }
    // One node holds every typed condition: each is its own record, scored on its
    // own (record-level precision and recall).
    let tmp = tempfile_dir()?;
    let store = Store::open(&tmp.join("typed"))?;
    let rs = RecordStore::new(store.clone(), &rand_key());
    // Records as the portal's POST /api/v1/records makes them: a fresh id, the
    // typed text, status active.
    let mut row_of: HashMap<String, usize> = HashMap::with_capacity(rows.len());
    let records: Vec<Record> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let id = new_id();
            row_of.insert(id.clone(), i);
            Record {
                id,
                created_ms: 0,
                updated_ms: 0,
                salt: Vec::new(),
                body: Some(Body::Condition(Condition {
                    text: r.text.clone(),
                    status: "active".into(),
                    ..Condition::default()
                })),
            }
        })
        .collect();
    rs.put_many(records).await?;
    let listed = rs.list().await?;
    store.close().await;
    let _ = std::fs::remove_dir_all(&tmp);
    let mut patients = Vec::with_capacity(rows.len());
    for s in listed {
        let Some(Body::Condition(c)) = s.record.body else {
            continue;
        };
        let row = row_of
            .get(&s.record.id)
            .map(|&i| &rows[i])
            .ok_or_else(|| EvalError::Mismatch(format!("unexpected record {}", s.record.id)))?;
        patients.push(EvalPatient {
            name: row.text.clone(),
            conditions: vec![EvalCondition {
                codes: row.codes.clone(),
                text: c.text,
            }],
        });
    }
    if patients.len() != rows.len() {
        return Err(EvalError::Mismatch(format!(
            "wrote {} typed conditions, read back {}",
            rows.len(),
            patients.len()
        )));
    }
    Ok(
        tokio::task::spawn_blocking(move || {
            run_eval(&queries_parsed, &patients, CodeSystem::Icd10)
        })
        .await?,
    )
}

/// Runs the evaluation of the whole development set and returns the printable
/// report.
pub async fn run(queries: &Path, bundles: &Path) -> Result<EvalReport, EvalError> {
    run_dev(queries, bundles, None).await
}

async fn run_dev(
    queries: &Path,
    bundles: &Path,
    split: Option<(&Path, Split, Half)>,
) -> Result<EvalReport, EvalError> {
    let mut queries_parsed = load_queries(queries, CodeSystem::Snomed)?;
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
    if let Some((path, split, half)) = &split {
        queries_parsed = queries_of(queries_parsed, &split.dev.queries, *half, path)?;
        let stem = |f: &PathBuf| {
            f.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let names: Vec<String> = files.iter().map(stem).collect();
        split
            .dev
            .bundles
            .check(&names, "bundles")
            .map_err(|e| split_error(path, e))?;
        let keep = split.dev.bundles.of(*half);
        files.retain(|f| keep.contains(&stem(f)));
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
        let store = Store::open(&db)?;
        let rs = RecordStore::new(store.clone(), &rand_key());
        rs.put_many(records).await?;
        let listed = rs.list().await?;
        store.close().await;
        let conditions = listed
            .into_iter()
            .filter_map(|s| match s.record.body {
                Some(Body::Condition(c)) => Some(EvalCondition {
                    codes: vec![c.code],
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
    Ok(tokio::task::spawn_blocking(move || {
        run_eval(&queries_parsed, &patients, CodeSystem::Snomed)
    })
    .await?)
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
