//! Unit tests of the parent module.
use super::*;

fn bundle(entries: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
        .expect("json")
}

fn patient() -> Value {
    json!({"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1", "name": [{"given": ["Zoë"], "family": "Løvgren"}], "birthDate": "1980-01-02", "gender": "female"}})
}

fn condition(code: Value) -> Value {
    json!({"fullUrl": "urn:uuid:c1", "resource": {"resourceType": "Condition", "id": "c1", "code": code, "subject": {"reference": "urn:uuid:p1"}, "clinicalStatus": {"coding": [{"code": "active"}]}}})
}

#[test]
fn imports_patient_and_condition() {
    let recs = import_bundle(&bundle(json!([patient(), condition(json!({"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}]}))]))).expect("ok");
    assert_eq!(recs.len(), 2);
    match &recs[0].body {
        Some(Body::Profile(p)) => assert_eq!(p.display_name, "Zoë Løvgren"),
        other => panic!("{other:?}"),
    }
    match &recs[1].body {
        Some(Body::Condition(c)) => {
            assert_eq!(
                (c.text.as_str(), c.code.as_str(), c.status.as_str()),
                ("Hypertension", "38341003", "active")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_cases_name_what_and_where() {
    let e = import_bundle(b"{\"resourceType\": \"Bundle\",\n \"entry\": [}").expect_err("bad json");
    assert!(matches!(e, FhirError::Json { line: 2, .. }), "{e}");
    let e =
        import_bundle(&bundle(json!([patient(), {"resource": {"id": "x"}}]))).expect_err("no type");
    assert_eq!(e, FhirError::MissingResourceType { index: 1 });
    let e = import_bundle(&bundle(json!([patient(), condition(json!({}))]))).expect_err("no code");
    assert_eq!(
        e,
        FhirError::ConditionWithoutCode {
            index: 1,
            id: "c1".into()
        }
    );
    let mut c = condition(json!({"text": "asthma"}));
    c["resource"]["subject"]["reference"] = json!("urn:uuid:nobody");
    let e = import_bundle(&bundle(json!([patient(), c]))).expect_err("dangling");
    assert!(
        e.to_string()
            .contains("entry[1] (Condition) references urn:uuid:nobody"),
        "{e}"
    );
    let e = import_bundle(br#"{"resourceType": "Patient"}"#).expect_err("not bundle");
    assert!(e.to_string().contains("\"Patient\""));
    let big = vec![b' '; MAX_BUNDLE_BYTES + 1];
    assert!(matches!(
        import_bundle(&big),
        Err(FhirError::TooLarge { .. })
    ));
}

#[test]
fn export_then_import_gives_same_content() {
    let recs = import_bundle(&bundle(json!([
        patient(),
        condition(json!({"text": "asthma"}))
    ])))
    .expect("ok");
    let exported = export_bundle(&recs);
    let again = import_bundle(&serde_json::to_vec(&exported).expect("json")).expect("reimport");
    // Same content means the same de-duplication digest (any node's key will do).
    let key = super::super::DedupeKey::from_records_key(&[7; 32]);
    let hashes = |v: &[Record]| v.iter().map(|r| key.of(r)).collect::<Vec<_>>();
    assert_eq!(hashes(&recs), hashes(&again));
}
