//! Names are labels anyone can register: a patient granting consent by a name that two
//! nodes registered is refused with both candidates' fingerprints and keys, and nothing
//! is granted until she names one by its key.

use pdc_tests::{NodeProc, network};

#[test]
fn an_ambiguous_grantee_name_is_refused_with_the_fingerprints_of_every_candidate() {
    let tmp = tempfile::tempdir().expect("tmp");
    let nodes = network(
        vec![
            NodeProc::init("hospital", "General Hospital"),
            // A second node registering the same name: a namesake, or an impostor.
            NodeProc::init("hospital", "General Hospital"),
            NodeProc::init("patient", "Alice"),
        ],
        tmp.path(),
        "names-net",
    );
    let [real, namesake, alice]: [NodeProc; 3] =
        nodes.try_into().unwrap_or_else(|_| panic!("three nodes"));
    let fingerprint = |n: &NodeProc| -> String {
        n.pdc_json(&["status"])["fingerprint"]
            .as_str()
            .expect("fingerprint")
            .to_owned()
    };

    let out = alice.pdc(&[
        "consent",
        "grant",
        "General Hospital",
        "--purpose",
        "treatment",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an ambiguous name must not grant");
    assert!(
        stderr.contains("'General Hospital' names 2 registered nodes")
            && stderr.contains("give the key instead"),
        "{stderr}"
    );
    for n in [&real, &namesake] {
        assert!(
            stderr.contains(&fingerprint(n)) && stderr.contains(&n.account),
            "both candidates are listed with fingerprint and key: {stderr}"
        );
    }
    // Over the API the refusal is a typed 409.
    let (status, body) = alice.http(
        "POST",
        "/api/v1/consents",
        Some(br#"{"grantee":"General Hospital","purposes":["treatment"]}"#),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("ambiguous_name")),
        "{body}"
    );
    let listed = alice.pdc_json(&["consent", "list"]);
    assert_eq!(
        listed["consents"].as_array().map(Vec::len),
        Some(0),
        "nothing was granted: {listed}"
    );

    // By key, the chosen one is granted and no other.
    let grant = alice.pdc_json(&["consent", "grant", &real.account, "--purpose", "treatment"]);
    assert_eq!(grant["grantee"], real.account.as_str());
}
