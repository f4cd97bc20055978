//! The patient's records: add, edit, list, delete, FHIR import/export, local search.

use std::collections::HashSet;

use pdc_proto::api::{
    Deleted, ImportReport, LocalHit, LocalSearchView, RecordBody, RecordInput, RecordList,
    RecordView,
};
use pdc_proto::records::{Condition, Note, Profile, Record, record::Body};

use super::{ErrorKind, Result, ServiceError};
use crate::consent::fmt_ms;
use crate::node::Node;
use crate::records::fhir::{export_bundle, import_bundle};
use crate::records::{StoredRecord, kind, new_id, now_ms, summary};

/// Statuses a condition may have (FHIR's clinical status codes).
pub const CONDITION_STATUSES: &[&str] = &[
    "active",
    "recurrence",
    "relapse",
    "inactive",
    "remission",
    "resolved",
    "unknown",
];

/// The view of a record. `full` includes imported FHIR JSON.
pub fn record_view(s: &StoredRecord, full: bool) -> RecordView {
    let r = &s.record;
    let body = match &r.body {
        Some(Body::Profile(p)) => RecordBody::Profile {
            display_name: p.display_name.clone(),
            pseudonym: p.pseudonym.clone(),
            birth_date: p.birth_date.clone(),
            gender: p.gender.clone(),
        },
        Some(Body::Condition(c)) => RecordBody::Condition {
            text: c.text.clone(),
            status: c.status.clone(),
            onset: c.onset.clone(),
            code_system: c.code_system.clone(),
            code: c.code.clone(),
            icd10_codes: c.icd10_codes.clone(),
        },
        Some(Body::Note(n)) => RecordBody::Note {
            title: n.title.clone(),
            text: n.text.clone(),
        },
        Some(Body::Fhir(f)) => RecordBody::Fhir {
            resource_type: f.resource_type.clone(),
        },
        None => RecordBody::Empty {},
    };
    let fhir = full.then(|| fhir_json(r)).flatten();
    RecordView {
        id: r.id.clone(),
        kind: kind(r).to_string(),
        summary: summary(r),
        hash: hex::encode(s.commitment),
        created_ms: r.created_ms,
        updated_ms: r.updated_ms,
        created: fmt_ms(r.created_ms),
        body,
        fhir,
    }
}

/// The imported FHIR resource kept with a record, if any (`null` if it no longer parses).
fn fhir_json(r: &Record) -> Option<serde_json::Value> {
    let fhir = match &r.body {
        Some(Body::Profile(p)) => &p.fhir_json,
        Some(Body::Condition(c)) => &c.fhir_json,
        Some(Body::Fhir(f)) => &f.json,
        _ => "",
    };
    (!fhir.is_empty()).then(|| serde_json::from_str(fhir).unwrap_or(serde_json::Value::Null))
}

/// Every record of the node.
pub async fn list(node: &Node) -> Result<RecordList> {
    let recs = node.records().list().await?;
    Ok(RecordList {
        records: recs.iter().map(|r| record_view(r, false)).collect(),
    })
}

/// One record in full.
pub async fn show(node: &Node, id: &str) -> Result<RecordView> {
    Ok(record_view(&node.records().get(id).await?, true))
}

/// The node's profile record, if it has one.
pub async fn profile(node: &Node) -> Result<Option<StoredRecord>> {
    Ok(node
        .records()
        .list()
        .await?
        .into_iter()
        .find(|r| matches!(r.record.body, Some(Body::Profile(_)))))
}

fn body_from_input(input: RecordInput, previous: Option<&Body>) -> Result<Body> {
    Ok(match input {
        RecordInput::Condition {
            text,
            status,
            onset,
        } => {
            let status = status
                .unwrap_or_else(|| "active".into())
                .to_ascii_lowercase();
            if !CONDITION_STATUSES.contains(&status.as_str()) {
                return Err(ServiceError::bad_request(format!(
                    "status '{status}' is unknown; use one of {}",
                    CONDITION_STATUSES.join(", ")
                )));
            }
            if text.len() > 4096 {
                return Err(ServiceError::bad_request(
                    "condition text is longer than 4096 characters",
                ));
            }
            // An edit keeps the coding of an imported condition only if the words stay.
            let kept = match previous {
                Some(Body::Condition(c)) if c.text == text => c.clone(),
                _ => Condition::default(),
            };
            Body::Condition(Condition {
                text,
                status,
                onset: onset.unwrap_or_default(),
                ..kept
            })
        }
        RecordInput::Note { title, text } => Body::Note(Note { title, text }),
        RecordInput::Profile {
            display_name,
            pseudonym,
            birth_date,
            gender,
        } => {
            if display_name.trim().is_empty() {
                return Err(ServiceError::bad_request("a profile needs a display_name"));
            }
            let kept = match previous {
                Some(Body::Profile(p)) => p.clone(),
                _ => Profile::default(),
            };
            Body::Profile(Profile {
                display_name,
                pseudonym,
                birth_date,
                gender,
                ..kept
            })
        }
    })
}

/// Adds a record; a second profile is refused (one patient per node).
pub async fn add(node: &Node, input: RecordInput) -> Result<RecordView> {
    if matches!(input, RecordInput::Profile { .. })
        && let Some(p) = profile(node).await?
    {
        return Err(ServiceError::new(
            ErrorKind::Conflict,
            "profile_exists",
            format!(
                "this node already has a profile (record {}); update it with PUT /api/v1/records/{}",
                p.record.id, p.record.id
            ),
        ));
    }
    let now = now_ms();
    let record = Record {
        id: new_id(),
        created_ms: now,
        updated_ms: now,
        salt: Vec::new(),
        body: Some(body_from_input(input, None)?),
    };
    let stored = node.records().put(annotate(record)).await?;
    Ok(record_view(&stored, false))
}

/// Replaces a record's content; its kind cannot change.
pub async fn update(node: &Node, id: &str, input: RecordInput) -> Result<RecordView> {
    let old = node.records().get(id).await?;
    let body = body_from_input(input, old.record.body.as_ref())?;
    if std::mem::discriminant(&body)
        != std::mem::discriminant(old.record.body.as_ref().unwrap_or(&body))
    {
        return Err(ServiceError::bad_request(format!(
            "record {id} is a {}; its kind cannot change",
            kind(&old.record)
        )));
    }
    let record = annotate(Record {
        body: Some(body),
        updated_ms: now_ms(),
        ..old.record
    });
    Ok(record_view(&node.records().put(record).await?, false))
}

/// Deletes a record.
pub async fn delete(node: &Node, id: &str) -> Result<Deleted> {
    node.records().delete(id).await?;
    Ok(Deleted {
        deleted: id.to_string(),
    })
}

/// Imports a FHIR R4 bundle whole: validated first, stored in one batch, records
/// already present skipped.
pub async fn fhir_import(node: &Node, bytes: Vec<u8>) -> Result<ImportReport> {
    let imported = tokio::task::spawn_blocking(move || import_bundle(&bytes)).await??;
    let existing = node.records().list().await?;
    // Salts differ per version, so equal content is found by this node's keyed digest.
    let known: HashSet<[u8; 32]> = existing
        .iter()
        .map(|r| node.records().dedupe_key(&r.record))
        .collect();
    let old_profile = existing
        .iter()
        .find(|r| matches!(r.record.body, Some(Body::Profile(_))));
    let mut fresh = Vec::new();
    let mut skipped = 0usize;
    for r in imported {
        let mut r = annotate(r);
        // One patient per node: an imported Patient replaces the profile, keeping the
        // record id and the pseudonym the patient chose.
        if let (Some(Body::Profile(new)), Some(old)) = (&mut r.body, old_profile) {
            if let Some(Body::Profile(p)) = &old.record.body {
                new.pseudonym = p.pseudonym.clone();
            }
            r.id = old.record.id.clone();
            r.created_ms = old.record.created_ms;
        }
        if known.contains(&node.records().dedupe_key(&r)) {
            skipped += 1;
            continue;
        }
        fresh.push(r);
    }
    let count = |k: &str| fresh.iter().filter(|r| kind(r) == k).count();
    let (profile, conditions, other_resources) =
        (count("profile"), count("condition"), count("fhir"));
    let stored = node.records().put_many(fresh).await?;
    Ok(ImportReport {
        imported: stored.len(),
        profile,
        conditions,
        other_resources,
        skipped_duplicates: skipped,
    })
}

/// The node's records as a FHIR R4 bundle.
pub async fn fhir_export(node: &Node) -> Result<serde_json::Value> {
    let recs: Vec<Record> = node
        .records()
        .list()
        .await?
        .into_iter()
        .map(|s| s.record)
        .collect();
    Ok(export_bundle(&recs))
}

/// Fills a condition's ICD-10-CM codes from the disease search, so what the patient
/// typed and what a hospital asks meet on the same concepts.
fn annotate(mut record: Record) -> Record {
    if let Some(Body::Condition(c)) = &mut record.body {
        c.icd10_codes = crate::search::normalize(&c.text)
            .concepts
            .iter()
            .map(|k| k.code.clone())
            .collect();
    }
    record
}

/// Searches this node's own conditions (what the patient's node does for a request,
/// and what the portals use locally).
pub async fn search_local(node: &Node, q: String) -> Result<LocalSearchView> {
    if q.trim().is_empty() || q.len() > 512 {
        return Err(ServiceError::bad_request(
            "the query must be 1 to 512 characters of disease words",
        ));
    }
    let records = node.records().list().await?;
    let hits = tokio::task::spawn_blocking(move || {
        let query = crate::search::normalize(&q);
        let conditions: Vec<(String, crate::search::Normalized, String)> = records
            .iter()
            .filter_map(|s| match &s.record.body {
                Some(Body::Condition(c)) => Some((
                    s.record.id.clone(),
                    crate::search::normalize(&c.text),
                    hex::encode(s.commitment),
                )),
                _ => None,
            })
            .collect();
        let hits =
            crate::search::rank(&query, conditions.iter().map(|(id, n, _)| (id.as_str(), n)));
        hits.into_iter()
            .map(|h| {
                let hash = conditions
                    .iter()
                    .find(|(id, _, _)| *id == h.id)
                    .map(|(_, _, hash)| hash.clone())
                    .unwrap_or_default();
                LocalHit {
                    record_id: h.id,
                    condition: h.condition,
                    score: h.score,
                    code: h.code,
                    title: h.title,
                    explanation: h.explanation,
                    hash,
                }
            })
            .collect()
    })
    .await?;
    Ok(LocalSearchView { hits })
}
