//! One real node, driven through the real binaries.

use std::os::unix::fs::PermissionsExt;

use pdc_tests::{NodeProc, files_under, http, shared_dir};
use serde_json::{Value, json};

fn records(node: &NodeProc) -> Vec<Value> {
    node.pdc_json(&["record", "list"])["records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn cli_end_to_end_records_import_and_consent() {
    let mut alice = NodeProc::init("patient", "Alice");
    alice.start();

    let st = alice.pdc_json(&["status"]);
    assert_eq!(st["name"], "Alice");
    assert_eq!(st["role"], "patient");
    assert_eq!(st["account"].as_str().map(str::len), Some(64));

    let c = alice.pdc_json(&[
        "record",
        "add",
        "condition",
        "type 2 diabetes",
        "--onset",
        "2019-05-01",
    ]);
    assert_eq!(c["kind"], "condition");
    assert_eq!(c["hash"].as_str().map(str::len), Some(64));
    alice.pdc_json(&[
        "record",
        "add",
        "note",
        "insulin at night",
        "--title",
        "meds",
    ]);
    alice.pdc_json(&[
        "record",
        "add",
        "profile",
        "Alice Example",
        "--pseudonym",
        "A.",
    ]);
    assert_eq!(records(&alice).len(), 3);

    let shown = alice.pdc_json(&["record", "show", c["id"].as_str().expect("id")]);
    assert_eq!(shown["body"]["text"], "type 2 diabetes");
    assert_eq!(shown["body"]["onset"], "2019-05-01");
    assert_eq!(shown["hash"], c["hash"]);

    // Human-readable table by default.
    let table = alice.pdc(&["record", "list"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.starts_with("ID") && table.contains("type 2 diabetes"),
        "{table}"
    );

    let bundle = shared_dir().join("data/fhir/patient-01.json");
    let entries = serde_json::from_slice::<Value>(&std::fs::read(&bundle).expect("bundle"))
        .expect("json")["entry"]
        .as_array()
        .map_or(0, Vec::len) as u64;
    let imp = alice.pdc_json(&["import", bundle.to_str().expect("utf8")]);
    assert_eq!(imp["imported"].as_u64(), Some(entries), "{imp}");
    assert!(imp["conditions"].as_u64().unwrap_or(0) >= 1, "{imp}");
    // Importing the same bundle again stores nothing new.
    let again = alice.pdc_json(&["import", bundle.to_str().expect("utf8")]);
    assert_eq!(again["imported"], 0, "{again}");
    let conds: Vec<Value> = records(&alice)
        .into_iter()
        .filter(|r| r["kind"] == "condition")
        .collect();
    assert!(
        conds
            .iter()
            .any(|r| r["body"]["code"].as_str().is_some_and(|c| !c.is_empty())),
        "SNOMED codes kept"
    );

    rm_and_check(&alice, c["id"].as_str().expect("id"));

    let hospital = "ab".repeat(32);
    let g = alice.pdc_json(&[
        "consent",
        "grant",
        &hospital,
        "--purpose",
        "treatment",
        "--days",
        "30",
    ]);
    assert_eq!(g["state"], "live");
    assert_eq!(g["price"], 500_000, "default price is 0.5 credits");
    // The grant is a ledger block of Alice's chain.
    let block = alice.pdc_json(&["ledger", "show", g["block"].as_str().expect("block")]);
    assert_eq!(block["body"]["type"], "consent_grant");
    // A name that no registered node has is refused with what to do instead.
    let unknown = alice.pdc(&["consent", "grant", "NoSuchHospital"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no node named 'NoSuchHospital'"));
    let list = alice.pdc_json(&["consent", "list"]);
    assert_eq!(list["consents"].as_array().map(Vec::len), Some(1));
    let id = g["grant_id"].as_str().expect("grant id");
    let (code, check) = alice.http(
        "POST",
        "/api/v1/consents/check",
        Some(
            json!({"requester": hospital, "purpose": "treatment"})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!((code, check["decision"].as_str()), (200, Some("allow")));
    let r = alice.pdc_json(&["consent", "revoke", id]);
    assert_eq!(r["state"], "revoked");
    let list = alice.pdc_json(&["consent", "list"]);
    assert_eq!(list["consents"][0]["state"], "revoked");
    let (_, check) = alice.http(
        "POST",
        "/api/v1/consents/check",
        Some(
            json!({"requester": hospital, "purpose": "treatment"})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(check["decision"], "deny");
    assert!(
        check["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked")
    );

    // Export gives a Bundle that holds what was imported.
    let out = alice.path().join("export.json");
    let o = alice.pdc(&["export", "-o", out.to_str().expect("utf8")]);
    assert!(o.status.success());
    let exported: Value =
        serde_json::from_slice(&std::fs::read(&out).expect("export file")).expect("json");
    assert_eq!(exported["resourceType"], "Bundle");
    alice.stop();
}

fn rm_and_check(node: &NodeProc, id: &str) {
    let before = records(node).len();
    node.pdc_json(&["record", "rm", id]);
    assert_eq!(records(node).len(), before - 1);
    let gone = node.pdc(&["record", "show", id]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no record with id"));
}

#[test]
fn every_route_requires_the_token() {
    let mut n = NodeProc::init("patient", "Bob");
    n.start();
    for (method, path) in [
        ("GET", "/api/v1/status"),
        ("GET", "/api/v1/records"),
        ("POST", "/api/v1/records"),
        ("GET", "/api/v1/records/00000000000000000000000000000000"),
        ("DELETE", "/api/v1/records/00000000000000000000000000000000"),
        ("POST", "/api/v1/fhir/import"),
        ("GET", "/api/v1/fhir/export"),
        ("GET", "/api/v1/consents"),
        ("POST", "/api/v1/consents"),
        ("GET", "/metrics"),
        ("GET", "/no/such/route"),
    ] {
        for token in [None, Some("wrong-token-of-sufficient-length-000000000")] {
            let (code, body) = http(&n.api, method, path, token, Some(b"{}"));
            assert_eq!(code, 401, "{method} {path} with {token:?}");
            assert_eq!(body["error"], "unauthorized", "{method} {path}");
            assert!(
                body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("api.token"))
            );
        }
    }
    let (code, _) = n.http("GET", "/api/v1/status", None);
    assert_eq!(code, 200);
}

#[test]
fn world_readable_key_stops_the_daemon_with_the_fix() {
    let n = NodeProc::init("patient", "Carol");
    let key = n.path().join("keys/node.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = n.run_expect_exit();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("chmod 600 {}", key.display())),
        "{err}"
    );
    let token = n.path().join("api.token");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let err = String::from_utf8_lossy(&n.run_expect_exit().stderr).to_string();
    assert!(
        err.contains(&format!("chmod 600 {}", token.display())),
        "{err}"
    );
}

#[test]
fn init_refuses_to_overwrite_and_secrets_are_0600() {
    let n = NodeProc::init("hospital", "Hospital1");
    for f in [
        "keys/node.key",
        "keys/records.key",
        "api.token",
        "config.toml",
    ] {
        let mode = std::fs::metadata(n.path().join(f))
            .expect(f)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let out = std::process::Command::new(pdc_tests::bin("pdc-daemon"))
        .args([
            "init",
            "--role",
            "hospital",
            "--name",
            "Other",
            "--data-dir",
        ])
        .arg(n.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn cli_says_when_the_daemon_is_not_running() {
    let n = NodeProc::init("patient", "Dave");
    std::fs::write(n.path().join("api.addr"), "127.0.0.1:9").expect("write");
    let out = n.pdc(&["status"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not running") && err.contains("pdc-daemon run"),
        "{err}"
    );
}

#[test]
fn canary_is_not_on_disk_and_reads_back_after_restart() {
    let mut n = NodeProc::init("patient", "Erin");
    n.start();
    let canary = "CANARY-d41d8cd98f00b204-unique-diagnosis-text";
    let (code, rec) = n.http(
        "POST",
        "/api/v1/records",
        Some(
            json!({"kind": "condition", "text": canary})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(code, 201, "{rec}");
    n.stop();
    for f in files_under(n.path()) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "canary in plaintext in {}",
            f.display()
        );
    }
    n.start();
    let (_, back) = n.http(
        "GET",
        &format!("/api/v1/records/{}", rec["id"].as_str().expect("id")),
        None,
    );
    assert_eq!(back["body"]["text"], canary);
    assert_eq!(back["hash"], rec["hash"]);
}

#[test]
fn malformed_bundles_are_refused_and_store_nothing() {
    let mut n = NodeProc::init("patient", "Frank");
    n.start();
    n.http(
        "POST",
        "/api/v1/records",
        Some(br#"{"kind": "condition", "text": "asthma"}"#),
    );
    let before = n.http("GET", "/api/v1/records", None).1;

    let good = std::fs::read(shared_dir().join("data/fhir/patient-02.json")).expect("bundle");
    let mut v: Value = serde_json::from_slice(&good).expect("json");
    let entries = v["entry"].as_array().expect("entries").len();
    let cond = v["entry"]
        .as_array()
        .expect("e")
        .iter()
        .position(|e| e["resource"]["resourceType"] == "Condition")
        .expect("a condition");

    let mut no_type = v.clone();
    no_type["entry"][entries - 1]["resource"]
        .as_object_mut()
        .expect("obj")
        .remove("resourceType");
    let mut no_code = v.clone();
    no_code["entry"][cond]["resource"]
        .as_object_mut()
        .expect("obj")
        .remove("code");
    let mut dangling = v.clone();
    dangling["entry"][cond]["resource"]["subject"]["reference"] =
        json!("urn:uuid:00000000-dead-beef-0000-000000000000");
    v["resourceType"] = json!("Patient");
    let mut huge = b"{\"resourceType\":\"Bundle\",\"entry\":[],\"pad\":\"".to_vec();
    huge.resize(50 * 1024 * 1024, b'a');
    huge.extend_from_slice(b"\"}");

    let cases: Vec<(&str, Vec<u8>, u16, String)> = vec![
        (
            "bad json",
            good[..good.len() / 2].to_vec(),
            422,
            "not valid JSON".into(),
        ),
        (
            "missing resourceType",
            serde_json::to_vec(&no_type).expect("j"),
            422,
            format!("entry[{}] has no resourceType", entries - 1),
        ),
        (
            "condition without code",
            serde_json::to_vec(&no_code).expect("j"),
            422,
            format!("entry[{cond}] (Condition"),
        ),
        (
            "missing reference",
            serde_json::to_vec(&dangling).expect("j"),
            422,
            "urn:uuid:00000000-dead-beef-0000-000000000000".into(),
        ),
        (
            "not a bundle",
            serde_json::to_vec(&v).expect("j"),
            422,
            "expected \"Bundle\"".into(),
        ),
        ("50 MB body", huge, 413, "exceeds".into()),
    ];
    for (name, body, status, msg) in cases {
        let (code, err) = n.http("POST", "/api/v1/fhir/import", Some(&body));
        assert_eq!(code, status, "{name}: {err}");
        let detail = err["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(&msg),
            "{name}: '{detail}' should contain '{msg}'"
        );
        assert_eq!(
            n.http("GET", "/api/v1/records", None).1,
            before,
            "{name} changed the store"
        );
    }
}

#[test]
fn oversized_and_malformed_api_bodies_get_json_errors() {
    let mut n = NodeProc::init("patient", "Gina");
    n.start();
    let (code, e) = n.http("POST", "/api/v1/records", Some(b"{not json"));
    assert_eq!((code, e["error"].as_str()), (400, Some("bad_request")));
    let (code, e) = n.http(
        "POST",
        "/api/v1/records",
        Some(br#"{"kind": "condition", "text": "x", "status": "sleepy"}"#),
    );
    assert_eq!(code, 400);
    assert!(
        e["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("status 'sleepy' is unknown")
    );
    let (code, e) = n.http("POST", "/api/v1/consents", Some(br#"{"grantee": "abcd"}"#));
    assert_eq!(code, 404, "{e}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("give its key"),
        "{e}"
    );
    let grantee = "cd".repeat(32);
    let body = format!(r#"{{"grantee": "{grantee}", "purposes": [" "]}}"#);
    let (code, e) = n.http("POST", "/api/v1/consents", Some(body.as_bytes()));
    assert_eq!(code, 400, "{e}");
    let body = format!(r#"{{"grantee": "{grantee}", "not_after_ms": 1000}}"#);
    let (code, e) = n.http("POST", "/api/v1/consents", Some(body.as_bytes()));
    assert_eq!(code, 400, "{e}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("in the past"),
        "{e}"
    );
}

#[test]
fn only_patients_grant_consent() {
    let mut h = NodeProc::init("hospital", "Hospital7");
    h.start();
    let body = format!(r#"{{"grantee": "{}"}}"#, "cd".repeat(32));
    let (code, e) = h.http("POST", "/api/v1/consents", Some(body.as_bytes()));
    assert_eq!(code, 403, "{e}");
    assert_eq!(e["error"], "not_a_patient");
}

#[test]
fn node_registers_on_the_ledger_once_and_verifies_after_restart() {
    let mut n = NodeProc::init("hospital", "Hospital9");
    n.start();
    let st = n.pdc_json(&["status"]);
    let account = st["account"].as_str().expect("account").to_string();
    assert_eq!(st["chain_seq"], 1, "Register block written on first start");
    let heads = n.pdc_json(&["ledger", "heads"]);
    let mine: Vec<&Value> = heads["heads"]
        .as_array()
        .expect("heads")
        .iter()
        .filter(|h| h["author"] == account.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["name"], "Hospital9");
    let chain = n.pdc_json(&["ledger", "chain", &account]);
    assert_eq!(chain["blocks"][0]["body"]["type"], "register");
    assert_eq!(chain["blocks"][0]["body"]["role"], "hospital");
    let hash = chain["blocks"][0]["hash"]
        .as_str()
        .expect("hash")
        .to_string();
    assert_eq!(n.pdc_json(&["ledger", "show", &hash])["seq"], 1);
    n.stop();
    n.start();
    assert_eq!(
        n.pdc_json(&["status"])["chain_seq"],
        1,
        "no second Register after a restart"
    );
    let v = n.pdc_json(&["ledger", "verify"]);
    assert_eq!(
        (v["ok"].as_bool(), v["blocks"].as_u64()),
        (Some(true), Some(1))
    );
    let b = n.pdc_json(&["balances"]);
    assert!(b["balances"].as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(
        n.pdc_json(&["forks"])["forks"].as_array().map(Vec::len),
        Some(0)
    );
    let table = String::from_utf8_lossy(&n.pdc(&["ledger", "heads"]).stdout).to_string();
    assert!(table.contains("Hospital9"), "{table}");
}
