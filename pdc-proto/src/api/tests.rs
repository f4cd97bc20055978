//! Every view and input survives a JSON round trip, and the field names are the ones
//! the portal, the CLI and scripts read.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::*;

/// Serialises, parses back and compares; returns the JSON for field checks.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    v: &T,
) -> serde_json::Value {
    let text = serde_json::to_string(v).expect("serialise");
    let back: T = serde_json::from_str(&text).expect("parse back");
    assert_eq!(&back, v, "{text}");
    serde_json::from_str(&text).expect("json")
}

fn s(x: &str) -> String {
    x.to_string()
}

fn grant() -> GrantView {
    GrantView {
        grant_id: s("0a0b"),
        patient: s("aa"),
        patient_name: s("Alice"),
        patient_fingerprint: s("aaaa:bbbb:cccc:dddd"),
        grantee: s("bb"),
        grantee_fingerprint: s("bbbb:cccc:dddd:eeee"),
        grantee_name: s("Hospital1"),
        scope: s("all"),
        purposes: vec![s("treatment")],
        not_after_ms: 0,
        expires: s("never"),
        price: 500_000,
        created: Some(s("2026-01-01T00:00:00Z")),
        block: s("cc"),
        revoked: None,
        state: GrantState::Live,
    }
}

fn answer() -> Answer {
    Answer {
        shown_name: Some(s("Carol")),
        reason: s("granted"),
        records: vec![FoundRecord {
            hash: s("dd"),
            condition: s("asthma"),
            status: s("active"),
            onset: s(""),
            code: Some(s("J45.909")),
            why: None,
        }],
        access_block: s("ee"),
        payment: None,
        paid: 500_000,
    }
}

fn block(body: BlockBody) -> BlockView {
    BlockView {
        hash: s("ff"),
        author: s("aa"),
        author_name: s("Alice"),
        fingerprint: s("aaaa"),
        seq: 2,
        prev: s("00"),
        timestamp_ms: 5,
        time: s("t"),
        balance_after: -3,
        counts: true,
        body,
        size: 120,
    }
}

#[test]
fn node_and_errors() {
    round_trip(&ErrorView {
        error: s("not_found"),
        detail: s("no such thing"),
    });
    let v = round_trip(&StatusView {
        name: s("Alice"),
        role: s("patient"),
        account: s("aa"),
        fingerprint: s("aaaa"),
        peer_id: s("12D3"),
        version: s("0.1.0"),
        uptime_secs: 3,
        records: 2,
        consents_live: 1,
        consents_total: 2,
        data_dir: s("/tmp/x"),
        network_id: s("demo"),
        network: s("99"),
        chain_seq: 4,
    });
    assert_eq!(v["consents_live"], 1);
    assert_eq!(v["chain_seq"], 4);
}

#[test]
fn records() {
    let bodies = [
        RecordBody::Profile {
            display_name: s("Alice"),
            pseudonym: s("A."),
            birth_date: s(""),
            gender: s(""),
        },
        RecordBody::Condition {
            text: s("asthma"),
            status: s("active"),
            onset: s(""),
            code_system: s(""),
            code: s(""),
            icd10_codes: vec![s("J45.909")],
        },
        RecordBody::Note {
            title: s("t"),
            text: s("x"),
        },
        RecordBody::Fhir {
            resource_type: s("Observation"),
        },
        RecordBody::Empty {},
    ];
    for body in bodies {
        let r = RecordView {
            id: s("r1"),
            kind: s("condition"),
            summary: s("asthma [active]"),
            hash: s("aa"),
            created_ms: 1,
            updated_ms: 2,
            created: s("t"),
            body,
            fhir: None,
        };
        let v = round_trip(&r);
        assert!(v.get("fhir").is_none(), "no fhir key unless asked: {v}");
        round_trip(&RecordList { records: vec![r] });
    }
    let full = RecordView {
        id: s("r1"),
        kind: s("fhir"),
        summary: s(""),
        hash: s("aa"),
        created_ms: 1,
        updated_ms: 2,
        created: s("t"),
        body: RecordBody::Fhir {
            resource_type: s("Observation"),
        },
        fhir: Some(json!({"resourceType": "Observation"})),
    };
    assert_eq!(round_trip(&full)["fhir"]["resourceType"], "Observation");
    for input in [
        RecordInput::Condition {
            text: s("asthma"),
            status: Some(s("active")),
            onset: None,
        },
        RecordInput::Note {
            title: s("t"),
            text: s("x"),
        },
        RecordInput::Profile {
            display_name: s("Alice"),
            pseudonym: s(""),
            birth_date: s(""),
            gender: s(""),
        },
    ] {
        round_trip(&input);
    }
    let c: RecordInput =
        serde_json::from_value(json!({"kind": "condition", "text": "x"})).expect("minimal");
    assert!(matches!(c, RecordInput::Condition { status: None, .. }));
    assert!(
        serde_json::from_value::<RecordInput>(json!({"kind": "note", "colour": 1})).is_err(),
        "unknown fields are refused"
    );
    round_trip(&Deleted { deleted: s("r1") });
    round_trip(&ImportReport {
        imported: 3,
        profile: 1,
        conditions: 1,
        other_resources: 1,
        skipped_duplicates: 0,
    });
    round_trip(&LocalSearchView {
        hits: vec![LocalHit {
            record_id: s("r1"),
            condition: s("asthma"),
            score: 0.8,
            code: s("J45"),
            title: s("Asthma"),
            explanation: s("same code"),
            hash: s("aa"),
        }],
    });
}

#[test]
fn consent() {
    let g = grant();
    let v = round_trip(&g);
    assert_eq!(v["state"], "live");
    round_trip(&ConsentList {
        consents: vec![
            g.clone(),
            GrantView {
                state: GrantState::Revoked,
                revoked: Some(s("t")),
                ..g
            },
        ],
    });
    round_trip(&GrantInput {
        grantee: s("Hospital1"),
        purposes: vec![s("research")],
        scope: Some(s("conditions")),
        expires_in_days: Some(3),
        not_after_ms: None,
        price: Some(1),
    });
    let minimal: GrantInput =
        serde_json::from_value(json!({"grantee": "H"})).expect("only the grantee is needed");
    assert_eq!(minimal.purposes, Vec::<String>::new());
    round_trip(&CheckInput {
        requester: s("aa"),
        purpose: s("treatment"),
    });
    let allow = round_trip(&CheckView::Allow {
        grant_id: s("0a"),
        price: 1,
        scope: s("all"),
    });
    assert_eq!(allow["decision"], "allow");
    let deny = round_trip(&CheckView::Deny {
        reason: s("revoked"),
    });
    assert_eq!(deny["decision"], "deny");
}

#[test]
fn ledger() {
    round_trip(&HeadsView {
        network: s("99"),
        heads: vec![HeadView {
            author: s("aa"),
            name: s("Alice"),
            fingerprint: s("aaaa"),
            seq: 3,
            hash: s("bb"),
        }],
    });
    let bodies = vec![
        BlockBody::Register {
            role: s("patient"),
            display_name: s("Alice"),
            listen_addrs: vec![],
            encryption_key: s("cc"),
        },
        BlockBody::ConsentGrant {
            grant_id: s("0a"),
            grantee: s("bb"),
            scope: s("all"),
            purposes: vec![s("treatment")],
            not_after_ms: 0,
            price: 1,
        },
        BlockBody::ConsentRevoke { grant_id: s("0a") },
        BlockBody::Access {
            request_id: s("01"),
            requester: s("bb"),
            query: s("asthma"),
            purpose: s("treatment"),
            decision: s("granted"),
            reason: s("ok"),
            record_hashes: vec![s("dd")],
            price: 1,
            staff_user: s("dr"),
        },
        BlockBody::Send {
            to: s("aa"),
            amount: 1,
            access_ref: s("ee"),
        },
        BlockBody::Receive {
            send_hash: s("ff"),
            sender: s("bb"),
            send_seq: 2,
        },
        BlockBody::EncryptionKey { key: s("cc") },
    ];
    for body in bodies.clone() {
        let name = body.type_name();
        let v = round_trip(&block(body));
        assert_eq!(v["body"]["type"], name);
    }
    round_trip(&ChainView {
        author: s("aa"),
        blocks: bodies.into_iter().map(block).collect(),
    });
    round_trip(&VerifyView {
        ok: false,
        blocks: 3,
        fork_proofs: 0,
        chain_links: 2,
        first_bad: Some(s("block 2: bad signature")),
    });
    round_trip(&BalancesView {
        balances: vec![BalanceView {
            account: s("aa"),
            name: s("Alice"),
            fingerprint: s("aaaa"),
            confirmed: -1,
            pending: 2,
            void: 0,
            chain: 1,
            confirmed_credits: Credits(-1).fixed(),
            pending_credits: Credits(2).fixed(),
            total_credits: Credits(1).fixed(),
        }],
    });
    round_trip(&ForksView {
        forks: vec![ForkView {
            author: s("aa"),
            name: s(""),
            fingerprint: s("aaaa"),
            seq: 4,
            frozen_at: 3,
            blocks: [s("b1"), s("b2")],
        }],
    });
    let p = PrincipalView {
        account: s("aa"),
        fingerprint: s("aaaa"),
        role: s("hospital"),
        display_name: s("H"),
        pinned_name: Some(s("Hospital1")),
        listen_addrs: vec![s("/ip4/127.0.0.1/tcp/1")],
        head_seq: None,
    };
    assert_eq!(p.label(), "Hospital1");
    round_trip(&DirectoryView {
        principals: vec![p],
    });
}

#[test]
fn search_and_network() {
    round_trip(&SearchInput {
        query: s("asthma"),
        purpose: s("research"),
        staff_user: s("dr"),
        patient: Some(s("Carol")),
    });
    let d: SearchInput = serde_json::from_value(json!({"query": "x"})).expect("defaults");
    assert_eq!(d.purpose, "treatment");
    let rows = vec![
        PatientResult {
            patient: s("aa"),
            name: s("p1"),
            fingerprint: s("aaaa"),
            outcome: PatientOutcome::Answered(answer()),
        },
        PatientResult {
            patient: s("bb"),
            name: s("p2"),
            fingerprint: s("bbbb"),
            outcome: PatientOutcome::Refused(Answer {
                records: vec![],
                ..answer()
            }),
        },
        PatientResult {
            patient: s("cc"),
            name: s("p3"),
            fingerprint: s("cccc"),
            outcome: PatientOutcome::Offline {
                reason: s("timeout"),
            },
        },
        PatientResult {
            patient: s("dd"),
            name: s("p4"),
            fingerprint: s("dddd"),
            outcome: PatientOutcome::Invalid {
                reason: s("bad hash"),
            },
        },
    ];
    let v = round_trip(&SearchReport {
        query: s("asthma"),
        purpose: s("treatment"),
        staff_user: s("dr"),
        patients: rows.clone(),
    });
    // The outcome's fields sit beside the patient's, tagged by `status`.
    assert_eq!(v["patients"][0]["status"], "answered");
    assert_eq!(v["patients"][0]["records"][0]["hash"], "dd");
    assert_eq!(v["patients"][2]["status"], "offline");
    assert_eq!(v["patients"][2]["reason"], "timeout");
    assert_eq!(rows[0].label(), "Carol (aaaa)");
    assert_eq!(rows[2].label(), "p3 (cccc)");
    round_trip(&PeersView {
        peers: vec![
            PeerView {
                peer_id: s("12D3"),
                account: Some(s("aa")),
                fingerprint: Some(s("aaaa")),
                name: s("Alice"),
                role: Some(s("patient")),
                addresses: vec![s("/ip4/127.0.0.1/tcp/1")],
                connected: true,
                foreign: false,
                chain_head: Some(ChainHead {
                    seq: 2,
                    hash: s("bb"),
                }),
                last_seen: Some(s("t")),
                agent: Some(s("pdc/0.1")),
            },
            PeerView {
                peer_id: s("12D4"),
                account: None,
                fingerprint: None,
                name: s(""),
                role: None,
                addresses: vec![],
                connected: false,
                foreign: true,
                chain_head: None,
                last_seen: None,
                agent: None,
            },
        ],
    });
    round_trip(&ConnectInput {
        addr: s("/ip4/127.0.0.1/tcp/1"),
    });
    round_trip(&Dialing {
        dialing: s("/ip4/127.0.0.1/tcp/1"),
    });
}

#[test]
fn rewards_and_audit() {
    round_trip(&RewardsView {
        total: 1_000_000,
        confirmed: 500_000,
        pending: 500_000,
        void: 0,
        total_credits: Credits(1_000_000).fixed(),
        accesses: vec![RewardRow {
            access_block: s("ee"),
            time: s("t"),
            requester: s("bb"),
            requester_name: s("Hospital1"),
            requester_fingerprint: s("bbbb"),
            staff_user: s("dr"),
            query: s("asthma"),
            price: 500_000,
            status: s("pending"),
        }],
    });
    round_trip(&AuditView {
        accesses: vec![AuditRow {
            time: s("t"),
            owner: s("aa"),
            owner_name: s("Alice"),
            requester: s("bb"),
            requester_name: s("Hospital1"),
            requester_fingerprint: s("bbbb"),
            staff_user: s("dr"),
            query: s("asthma"),
            purpose: s("treatment"),
            decision: s("granted"),
            reason: s("ok"),
            records: 1,
            price: 500_000,
            block: s("ee"),
        }],
    });
}

#[test]
fn enums_have_one_word_each() {
    for p in Purpose::ALL {
        assert_eq!(p.as_str().parse::<Purpose>(), Ok(p));
        assert_eq!(serde_json::to_value(p).expect("json"), p.as_str());
    }
    assert_eq!(" Research".parse::<Purpose>(), Ok(Purpose::Research));
    let e = "gossip".parse::<Purpose>().expect_err("unknown");
    assert_eq!(
        e.to_string(),
        "purpose 'gossip' is unknown; use one of treatment, research, emergency, public-health"
    );
    for sc in Scope::ALL {
        assert_eq!(sc.as_str().parse::<Scope>(), Ok(sc));
        assert_eq!(serde_json::to_value(sc).expect("json"), sc.as_str());
    }
    assert_eq!(
        "everything"
            .parse::<Scope>()
            .expect_err("unknown")
            .to_string(),
        "scope 'everything' is unknown; use one of all, conditions"
    );
}

#[test]
fn credits_and_short_keys() {
    assert_eq!(Credits(500_000).to_string(), "0.5");
    assert_eq!(Credits(1_000_000).to_string(), "1.0");
    assert_eq!(Credits(-12_250_000).to_string(), "-12.25");
    assert_eq!(Credits(0).to_string(), "0.0");
    assert_eq!(Credits(500_000).fixed(), "0.500000");
    assert_eq!(Credits(-1).fixed(), "-0.000001");
    assert_eq!(Credits::from(u64::MAX), Credits(i64::MAX));
    assert_eq!(short_key(&"ab".repeat(32)), "abababababababab");
    assert_eq!(short_key("abc"), "abc");
}
