//! Unit tests of the parent module.
use super::*;

const NOW: u64 = 1_700_000_000_000;

fn grant(grantee: u8, purposes: &[&str], not_after_ms: u64, revoked_ms: u64) -> Grant {
    Grant {
        grant_id: vec![grantee; 16],
        grantee: vec![grantee; 32],
        scope: "all".into(),
        purposes: purposes.iter().map(|s| s.to_string()).collect(),
        not_after_ms,
        price: 500_000,
        created_ms: NOW - 1000,
        revoked_ms,
        grantee_name: String::new(),
    }
}

#[test]
fn decide_table() {
    struct Case {
        name: &'static str,
        grants: Vec<Grant>,
        requester: u8,
        purpose: &'static str,
        allow: bool,
        reason_contains: &'static str,
    }
    let cases = vec![
        Case {
            name: "no grant",
            grants: vec![],
            requester: 1,
            purpose: "treatment",
            allow: false,
            reason_contains: "no consent grant",
        },
        Case {
            name: "grant for someone else",
            grants: vec![grant(2, &["treatment"], 0, 0)],
            requester: 1,
            purpose: "treatment",
            allow: false,
            reason_contains: "no consent grant",
        },
        Case {
            name: "revoked",
            grants: vec![grant(1, &["treatment"], 0, NOW - 10)],
            requester: 1,
            purpose: "treatment",
            allow: false,
            reason_contains: "revoked",
        },
        Case {
            name: "expired",
            grants: vec![grant(1, &["treatment"], NOW - 1, 0)],
            requester: 1,
            purpose: "treatment",
            allow: false,
            reason_contains: "expired",
        },
        Case {
            name: "wrong purpose",
            grants: vec![grant(1, &["treatment"], 0, 0)],
            requester: 1,
            purpose: "research",
            allow: false,
            reason_contains: "purpose 'research' is not granted",
        },
        Case {
            name: "allowed",
            grants: vec![grant(1, &["treatment", "research"], NOW + 1000, 0)],
            requester: 1,
            purpose: "Research",
            allow: true,
            reason_contains: "",
        },
        Case {
            name: "revoked then re-granted",
            grants: vec![grant(1, &["treatment"], 0, NOW - 10), {
                let mut g = grant(1, &["treatment"], 0, 0);
                g.grant_id = vec![9; 16];
                g
            }],
            requester: 1,
            purpose: "treatment",
            allow: true,
            reason_contains: "",
        },
    ];
    for c in cases {
        let d = decide(&c.grants, &[c.requester; 32], c.purpose, NOW);
        assert_eq!(d.is_allow(), c.allow, "{}: {d:?}", c.name);
        if let Decision::Deny { reason } = d {
            assert!(reason.contains(c.reason_contains), "{}: {reason}", c.name);
        }
    }
}

#[test]
fn rfc3339() {
    assert_eq!(fmt_ms(0), "1970-01-01T00:00:00Z");
    assert_eq!(fmt_ms(1_700_000_000_000), "2023-11-14T22:13:20Z");
}

#[tokio::test]
async fn grant_revoke_list() {
    let dir = tempfile::tempdir().expect("tmp");
    let book = ConsentBook::new(Store::open(dir.path()).expect("open"));
    let req = GrantRequest {
        grantee: vec![1; 32],
        grantee_name: "H".into(),
        scope: "all".into(),
        purposes: vec!["treatment".into()],
        not_after_ms: 0,
        price: 500_000,
    };
    let g = book.grant(req.clone(), NOW).await.expect("grant");
    assert!(
        decide(
            &book.list().await.expect("list"),
            &[1; 32],
            "treatment",
            NOW
        )
        .is_allow()
    );
    book.revoke(&hex::encode(&g.grant_id), NOW + 1)
        .await
        .expect("revoke");
    assert!(
        !decide(
            &book.list().await.expect("list"),
            &[1; 32],
            "treatment",
            NOW + 2
        )
        .is_allow()
    );
    assert!(matches!(
        book.revoke(&hex::encode(&g.grant_id), NOW + 3).await,
        Err(ConsentError::AlreadyRevoked(_))
    ));
    let bad = GrantRequest {
        grantee: vec![1; 5],
        ..req
    };
    assert!(
        book.grant(bad, NOW)
            .await
            .expect_err("short key")
            .to_string()
            .contains("32-byte")
    );
}
