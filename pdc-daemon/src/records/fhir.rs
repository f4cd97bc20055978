//! FHIR R4 `Bundle` import and export.
//!
//! Import validates the whole bundle before anything is built, so a malformed bundle
//! stores nothing: JSON syntax, `resourceType` on every entry, a code on every
//! Condition, and every `urn:uuid:` reference resolving to an entry of the bundle.
//! Patient becomes the profile, Conditions become condition records (SNOMED code and
//! display kept), everything else is kept whole for export.

use std::collections::HashSet;

use pdc_proto::records::{Condition, FhirResource, Profile, Record, record::Body};
use serde_json::{Map, Value, json};

use super::{new_id, now_ms};

/// Largest bundle accepted for import. The sample bundles are under 1 MB; this leaves
/// room for long histories while refusing the absurd before parsing it.
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;

/// Why a bundle was refused. Each names what and where.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FhirError {
    /// The input is larger than [`MAX_BUNDLE_BYTES`].
    #[error(
        "bundle is {len} bytes; the import limit is {max} bytes — split the export into smaller bundles"
    )]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON.
    #[error("bundle is not valid JSON: {detail} at line {line}, column {column}")]
    Json {
        /// Parser message.
        detail: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The top level is not a Bundle.
    #[error("top-level resourceType is {found}; expected \"Bundle\"")]
    NotABundle {
        /// What was found instead.
        found: String,
    },
    /// An entry has no resource or no resourceType.
    #[error("entry[{index}] has no resourceType; every entry needs a resource with a resourceType")]
    MissingResourceType {
        /// 0-based entry index.
        index: usize,
    },
    /// A Condition has no code.
    #[error(
        "entry[{index}] (Condition {id}) has no code: a Condition needs code.coding or code.text"
    )]
    ConditionWithoutCode {
        /// 0-based entry index.
        index: usize,
        /// The resource id, if any.
        id: String,
    },
    /// A reference points at no entry of the bundle.
    #[error(
        "entry[{index}] ({resource_type}) references {reference}, which is not an entry of this bundle"
    )]
    MissingReference {
        /// 0-based entry index.
        index: usize,
        /// Type of the referring resource.
        resource_type: String,
        /// The dangling reference.
        reference: String,
    },
    /// More than one Patient.
    #[error("bundle holds {count} Patient resources; import one patient per bundle")]
    SeveralPatients {
        /// How many.
        count: usize,
    },
    /// The structure is wrong in another way.
    #[error("{0}")]
    Invalid(String),
}

/// Parses and validates a bundle into records (fresh ids, no salts: the store gives
/// each one when it stores it).
///
/// The whole bundle is checked before any record is built, so a bad entry anywhere
/// imports nothing.
pub fn import_bundle(bytes: &[u8]) -> Result<Vec<Record>, FhirError> {
    let value = parse_bundle(bytes)?;
    let entries = bundle_entries(&value)?;
    check_entries(entries)?;
    // Nothing above stored anything, and nothing below can fail.
    let now = now_ms();
    Ok(entries.iter().map(|e| entry_record(e, now)).collect())
}

/// Step 1: size, JSON and `resourceType: Bundle`.
fn parse_bundle(bytes: &[u8]) -> Result<Value, FhirError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(FhirError::TooLarge {
            len: bytes.len(),
            max: MAX_BUNDLE_BYTES,
        });
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| FhirError::Json {
        detail: e
            .to_string()
            .split(" at line")
            .next()
            .unwrap_or_default()
            .to_string(),
        line: e.line(),
        column: e.column(),
    })?;
    let rt = value.get("resourceType").and_then(Value::as_str);
    if rt != Some("Bundle") {
        return Err(FhirError::NotABundle {
            found: rt
                .map(|s| format!("\"{s}\""))
                .unwrap_or_else(|| "missing".into()),
        });
    }
    Ok(value)
}

/// Step 2: `Bundle.entry`, absent meaning none.
fn bundle_entries(bundle: &Value) -> Result<&[Value], FhirError> {
    match bundle.get("entry") {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(FhirError::Invalid("Bundle.entry must be an array".into())),
    }
}

/// Step 3: every entry has a typed resource, every Condition a code, every
/// `urn:uuid:` reference an entry to point at, and there is one Patient at most.
fn check_entries(entries: &[Value]) -> Result<(), FhirError> {
    let full_urls = entry_urls(entries)?;
    let mut patients = 0;
    for (index, e) in entries.iter().enumerate() {
        if check_entry(index, &e["resource"], &full_urls)? == "Patient" {
            patients += 1;
        }
    }
    if patients > 1 {
        return Err(FhirError::SeveralPatients { count: patients });
    }
    Ok(())
}

/// Every entry's `fullUrl`, checking on the way that each holds a typed resource.
fn entry_urls(entries: &[Value]) -> Result<HashSet<String>, FhirError> {
    let mut full_urls = HashSet::new();
    for (index, e) in entries.iter().enumerate() {
        let r = e
            .get("resource")
            .ok_or(FhirError::MissingResourceType { index })?;
        r.get("resourceType")
            .and_then(Value::as_str)
            .ok_or(FhirError::MissingResourceType { index })?;
        if let Some(u) = e.get("fullUrl").and_then(Value::as_str) {
            full_urls.insert(u.to_string());
        }
    }
    Ok(full_urls)
}

/// The rules for one resource; returns its type.
fn check_entry<'a>(
    index: usize,
    r: &'a Value,
    full_urls: &HashSet<String>,
) -> Result<&'a str, FhirError> {
    let resource_type = r["resourceType"].as_str().unwrap_or_default();
    if resource_type == "Condition" && condition_text(r).is_none() {
        return Err(FhirError::ConditionWithoutCode {
            index,
            id: r
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("without id")
                .to_string(),
        });
    }
    let mut refs = Vec::new();
    collect_refs(r, &mut refs);
    if let Some(reference) = refs
        .into_iter()
        .find(|x| x.starts_with("urn:uuid:") && !full_urls.contains(*x))
    {
        return Err(FhirError::MissingReference {
            index,
            resource_type: resource_type.to_string(),
            reference: reference.to_string(),
        });
    }
    Ok(resource_type)
}

/// Step 4: the record of one checked entry.
fn entry_record(e: &Value, now: u64) -> Record {
    Record {
        id: new_id(),
        created_ms: now,
        updated_ms: now,
        salt: Vec::new(),
        body: Some(entry_body(e)),
    }
}

/// The body of one checked entry: Patient → profile, Condition → condition (code system,
/// code and display kept), anything else kept whole.
fn entry_body(e: &Value) -> Body {
    let r = &e["resource"];
    let json = serde_json::to_string(r).unwrap_or_default();
    let full_url = e
        .get("fullUrl")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match r["resourceType"].as_str().unwrap_or_default() {
        "Patient" => Body::Profile(Profile {
            display_name: patient_name(r),
            pseudonym: String::new(),
            birth_date: str_at(r, &["birthDate"]),
            gender: str_at(r, &["gender"]),
            fhir_json: json,
            fhir_full_url: full_url,
        }),
        "Condition" => {
            let coding = r.pointer("/code/coding/0");
            Body::Condition(Condition {
                text: condition_text(r).unwrap_or_default(),
                status: r
                    .pointer("/clinicalStatus/coding/0/code")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                onset: str_at(r, &["onsetDateTime"]),
                code_system: coding.map(|c| str_at(c, &["system"])).unwrap_or_default(),
                code: coding.map(|c| str_at(c, &["code"])).unwrap_or_default(),
                icd10_codes: Vec::new(),
                fhir_json: json,
                fhir_full_url: full_url,
            })
        }
        other => Body::Fhir(FhirResource {
            resource_type: other.to_string(),
            json,
            fhir_full_url: full_url,
        }),
    }
}

fn str_at(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return String::new(),
        }
    }
    cur.as_str().unwrap_or_default().to_string()
}

/// The condition's words: `code.text`, else the first coding's display, else its code.
fn condition_text(r: &Value) -> Option<String> {
    let code = r.get("code")?;
    let pick = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    pick(code.get("text"))
        .or_else(|| pick(code.pointer("/coding/0/display")))
        .or_else(|| pick(code.pointer("/coding/0/code")))
}

fn patient_name(r: &Value) -> String {
    let Some(n) = r.pointer("/name/0") else {
        return String::new();
    };
    if let Some(t) = n.get("text").and_then(Value::as_str) {
        return t.to_string();
    }
    let given: Vec<&str> = n
        .get("given")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let family = n.get("family").and_then(Value::as_str).unwrap_or_default();
    format!("{} {}", given.join(" "), family).trim().to_string()
}

fn collect_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "reference" {
                    if let Some(s) = x.as_str() {
                        out.push(s);
                    }
                } else {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Builds a `collection` Bundle of the given records. Imported resources are exported
/// as they were imported; records entered by hand become Patient and Condition
/// resources referencing the patient.
pub fn export_bundle(records: &[Record]) -> Value {
    let mut entries = Vec::new();
    let patient_url = records.iter().find_map(|r| match &r.body {
        Some(Body::Profile(p)) if !p.fhir_full_url.is_empty() => Some(p.fhir_full_url.clone()),
        Some(Body::Profile(_)) => Some(format!("urn:uuid:{}", uuid_like(&r.id))),
        _ => None,
    });
    for r in records {
        let (url, resource) = match &r.body {
            Some(Body::Profile(p)) => {
                let res = parse_or(&p.fhir_json, || {
                    let mut m = Map::new();
                    m.insert("resourceType".into(), json!("Patient"));
                    m.insert("id".into(), json!(uuid_like(&r.id)));
                    m.insert("name".into(), json!([{ "text": p.display_name }]));
                    if !p.birth_date.is_empty() {
                        m.insert("birthDate".into(), json!(p.birth_date));
                    }
                    if !p.gender.is_empty() {
                        m.insert("gender".into(), json!(p.gender));
                    }
                    Value::Object(m)
                });
                (url_or(&p.fhir_full_url, &r.id), res)
            }
            Some(Body::Condition(c)) => {
                let res = parse_or(&c.fhir_json, || {
                    let mut code = Map::new();
                    code.insert("text".into(), json!(c.text));
                    if !c.code.is_empty() {
                        code.insert(
                            "coding".into(),
                            json!([{ "system": c.code_system, "code": c.code, "display": c.text }]),
                        );
                    }
                    let mut m = Map::new();
                    m.insert("resourceType".into(), json!("Condition"));
                    m.insert("id".into(), json!(uuid_like(&r.id)));
                    m.insert("code".into(), Value::Object(code));
                    if !c.status.is_empty() {
                        m.insert(
                            "clinicalStatus".into(),
                            json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": c.status }] }),
                        );
                    }
                    if !c.onset.is_empty() {
                        m.insert("onsetDateTime".into(), json!(c.onset));
                    }
                    if let Some(p) = &patient_url {
                        m.insert("subject".into(), json!({ "reference": p }));
                    }
                    Value::Object(m)
                });
                (url_or(&c.fhir_full_url, &r.id), res)
            }
            Some(Body::Fhir(f)) => (
                url_or(&f.fhir_full_url, &r.id),
                parse_or(&f.json, || json!({"resourceType": f.resource_type})),
            ),
            // Notes have no FHIR form here; they stay on the node.
            Some(Body::Note(_)) | None => continue,
        };
        entries.push(json!({ "fullUrl": url, "resource": resource }));
    }
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
}

fn parse_or(json: &str, make: impl FnOnce() -> Value) -> Value {
    if json.is_empty() {
        make()
    } else {
        serde_json::from_str(json).unwrap_or_else(|_| make())
    }
}

fn url_or(url: &str, id: &str) -> String {
    if url.is_empty() {
        format!("urn:uuid:{}", uuid_like(id))
    } else {
        url.to_string()
    }
}

/// Formats a 32-hex-digit record id as a UUID, which FHIR tools expect in urn:uuid.
fn uuid_like(id: &str) -> String {
    if id.len() == 32 {
        format!(
            "{}-{}-{}-{}-{}",
            &id[..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..]
        )
    } else {
        id.to_string()
    }
}

#[cfg(test)]
mod tests;
