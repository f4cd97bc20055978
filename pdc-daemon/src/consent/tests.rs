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
