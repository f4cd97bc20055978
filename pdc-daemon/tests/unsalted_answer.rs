//! The requester refuses a record that comes without a salt, even when the owner's
//! signed Access block commits to exactly that record: an unsalted commitment is a
//! plain content hash, which anyone could recompute from a guessed diagnosis.

use pdc_daemon::access::check_answer;
use pdc_daemon::config::{Config, Role};
use pdc_daemon::ledger::{Access, Kind};
use pdc_daemon::node::{Node, init};
use pdc_daemon::records::commitment;
use pdc_proto::records::{Condition, Record, record::Body};
use pdc_proto::wire::{DataRequest, DataResponse};

async fn node(dir: &std::path::Path, role: Role, name: &str) -> std::sync::Arc<Node> {
    init(dir, role, name).expect("init");
    Node::open(Config::load(&dir.join("config.toml")).expect("config"))
        .await
        .expect("open")
}

#[tokio::test]
async fn a_record_without_a_salt_is_refused_though_its_commitment_matches() {
    let (hd, pd) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let hospital = node(hd.path(), Role::Hospital, "Clinic").await;
    let patient = node(pd.path(), Role::Patient, "Alice").await;
    let req = DataRequest {
        request_id: vec![9; 16],
        query: "diabetes".into(),
        purpose: "treatment".into(),
        staff_user: "dr.ada".into(),
    };
    let record = |salt: Vec<u8>| Record {
        id: "00112233445566778899aabbccddeeff".into(),
        created_ms: 1,
        updated_ms: 1,
        salt,
        body: Some(Body::Condition(Condition {
            text: "type 2 diabetes mellitus".into(),
            status: "active".into(),
            ..Condition::default()
        })),
    };
    // The owner signs an Access block committing to the records it sends.
    let answer = |r: Record| {
        let patient = patient.clone();
        let req = req.clone();
        let requester = hospital.account();
        async move {
            let block = patient
                .ledger()
                .append(Kind::Access(Access {
                    request_id: req.request_id.clone(),
                    requester: requester.0.to_vec(),
                    query: req.query.clone(),
                    purpose: req.purpose.clone(),
                    decision: "granted".into(),
                    reason: String::new(),
                    record_hashes: vec![commitment(&r).to_vec()],
                    price: 0,
                    staff_user: req.staff_user.clone(),
                }))
                .await
                .expect("access block");
            DataResponse {
                records: vec![r],
                access_block: block.to_signed().ok(),
                refused: false,
                reason: String::new(),
            }
        }
    };

    let salted = answer(record(vec![7; 32])).await;
    check_answer(&hospital, patient.account(), &req, salted).expect("a salted record checks out");

    let unsalted = answer(record(Vec::new())).await;
    let err = check_answer(&hospital, patient.account(), &req, unsalted)
        .expect_err("an unsalted record is refused");
    assert!(err.to_string().contains("without a salt"), "{err}");
}
