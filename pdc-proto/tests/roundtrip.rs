//! Every message round-trips through its encoding, and hostile inputs give the exact
//! error.

use pdc_proto::{DecodeError, Message, consent, decode_bounded, ledger, records, wire};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(".{0,12}", 0..4)
}

fn record() -> impl Strategy<Value = records::Record> {
    let body = prop_oneof![
        (".*", ".*", ".{0,10}", ".{0,6}", ".*", ".{0,20}").prop_map(|(a, b, c, d, e, f)| {
            records::record::Body::Profile(records::Profile {
                display_name: a,
                pseudonym: b,
                birth_date: c,
                gender: d,
                fhir_json: e,
                fhir_full_url: f,
            })
        }),
        (
            ".*",
            ".{0,10}",
            ".{0,10}",
            ".{0,20}",
            ".{0,10}",
            strings(),
            ".*",
            ".{0,20}"
        )
            .prop_map(
                |(
                    text,
                    status,
                    onset,
                    code_system,
                    code,
                    icd10_codes,
                    fhir_json,
                    fhir_full_url,
                )| {
                    records::record::Body::Condition(records::Condition {
                        text,
                        status,
                        onset,
                        code_system,
                        code,
                        icd10_codes,
                        fhir_json,
                        fhir_full_url,
                    })
                }
            ),
        (".*", ".*")
            .prop_map(|(title, text)| records::record::Body::Note(records::Note { title, text })),
        (".{0,20}", ".*", ".{0,20}").prop_map(|(resource_type, json, fhir_full_url)| {
            records::record::Body::Fhir(records::FhirResource {
                resource_type,
                json,
                fhir_full_url,
            })
        }),
    ];
    (
        ".{0,32}",
        any::<u64>(),
        any::<u64>(),
        bytes(33),
        proptest::option::of(body),
    )
        .prop_map(|(id, created_ms, updated_ms, salt, body)| records::Record {
            id,
            created_ms,
            updated_ms,
            salt,
            body,
        })
}

fn signed_block() -> impl Strategy<Value = ledger::SignedBlock> {
    (bytes(300), bytes(64)).prop_map(|(unsigned, signature)| ledger::SignedBlock {
        unsigned,
        signature,
    })
}

fn body() -> impl Strategy<Value = ledger::BlockBody> {
    use ledger::block_body::Kind;
    let kind = prop_oneof![
        (".{0,10}", ".{0,20}", strings(), bytes(33)).prop_map(
            |(role, display_name, listen_addrs, encryption_key)| {
                Kind::Register(ledger::Register {
                    role,
                    display_name,
                    listen_addrs,
                    encryption_key,
                })
            }
        ),
        (
            bytes(16),
            bytes(32),
            ".{0,10}",
            strings(),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(
                |(grant_id, grantee, scope, purposes, not_after_ms, price)| {
                    Kind::ConsentGrant(ledger::ConsentGrant {
                        grant_id,
                        grantee,
                        scope,
                        purposes,
                        not_after_ms,
                        price,
                    })
                }
            ),
        bytes(16).prop_map(|grant_id| Kind::ConsentRevoke(ledger::ConsentRevoke { grant_id })),
        (
            bytes(16),
            bytes(32),
            ".{0,20}",
            ".{0,10}",
            ".{0,8}",
            ".{0,20}",
            proptest::collection::vec(bytes(32), 0..3),
            any::<u64>(),
            ".{0,10}"
        )
            .prop_map(
                |(
                    request_id,
                    requester,
                    query,
                    purpose,
                    decision,
                    reason,
                    record_hashes,
                    price,
                    staff_user,
                )| {
                    Kind::Access(ledger::Access {
                        request_id,
                        requester,
                        query,
                        purpose,
                        decision,
                        reason,
                        record_hashes,
                        price,
                        staff_user,
                    })
                }
            ),
        (bytes(32), any::<u64>(), bytes(32)).prop_map(|(to, amount, access_ref)| Kind::Send(
            ledger::Send {
                to,
                amount,
                access_ref
            }
        )),
        (bytes(32), bytes(32), any::<u64>()).prop_map(|(send_hash, sender, send_seq)| {
            Kind::Receive(ledger::Receive {
                send_hash,
                sender,
                send_seq,
            })
        }),
        bytes(33).prop_map(|key| Kind::EncryptionKey(ledger::EncryptionKey { key })),
    ];
    proptest::option::of(kind).prop_map(|kind| ledger::BlockBody { kind })
}

fn head() -> impl Strategy<Value = wire::Head> {
    (bytes(32), any::<u64>(), bytes(32)).prop_map(|(author, seq, hash)| wire::Head {
        author,
        seq,
        hash,
    })
}

fn roundtrip<M: Message + Default + PartialEq + std::fmt::Debug>(m: &M) {
    let enc = m.encode_to_vec();
    let back = M::decode(enc.as_slice()).expect("decodes");
    assert_eq!(&back, m);
    let bounded: M = decode_bounded(&enc, enc.len()).expect("fits its own size");
    assert_eq!(&bounded, m);
}

proptest! {
    #[test]
    fn record_roundtrips(r in record()) { roundtrip(&r); }

    #[test]
    fn sealed_roundtrips(enc in bytes(33), ciphertext in bytes(200)) {
        roundtrip(&ledger::Sealed { enc, ciphertext });
    }

    #[test]
    fn grant_roundtrips(grant_id in bytes(16), grantee in bytes(32), scope in ".{0,8}", purposes in strings(),
                        not_after_ms: u64, price: u64, created_ms: u64, revoked_ms: u64, grantee_name in ".{0,16}") {
        roundtrip(&consent::Grant { grant_id, grantee, scope, purposes, not_after_ms, price, created_ms, revoked_ms, grantee_name });
    }

    #[test]
    fn unsigned_block_roundtrips(network in bytes(32), author in bytes(32), seq: u64, prev in bytes(32),
                                 timestamp_ms: u64, balance_after: i64, body in proptest::option::of(body())) {
        roundtrip(&ledger::UnsignedBlock { network, author, seq, prev, timestamp_ms, balance_after, body });
    }

    #[test]
    fn signed_block_and_fork_proof_roundtrip(a in signed_block(), b in signed_block()) {
        roundtrip(&a);
        roundtrip(&ledger::ForkProof { first: Some(a), second: Some(b) });
    }

    #[test]
    fn data_request_roundtrips(request_id in bytes(16), query in ".*", purpose in ".{0,10}", staff_user in ".{0,10}") {
        roundtrip(&wire::DataRequest { request_id, query, purpose, staff_user });
    }

    #[test]
    fn data_response_roundtrips(records in proptest::collection::vec(record(), 0..3), access_block in proptest::option::of(signed_block()),
                                refused: bool, reason in ".*") {
        roundtrip(&wire::DataResponse { records, access_block, refused, reason });
    }

    #[test]
    fn sync_messages_roundtrip(heads in proptest::collection::vec(head(), 0..4), author in bytes(32), from_seq: u64, limit: u32,
                               blocks in proptest::collection::vec(signed_block(), 0..3), err in ".*") {
        use wire::{sync_request, sync_response};
        roundtrip(&wire::SyncRequest { kind: Some(sync_request::Kind::Heads(wire::HeadsRequest { heads: heads.clone() })) });
        roundtrip(&wire::SyncRequest { kind: Some(sync_request::Kind::Range(wire::RangeRequest { author, from_seq, limit })) });
        roundtrip(&wire::SyncResponse { kind: Some(sync_response::Kind::Heads(wire::HeadsResponse { heads })) });
        roundtrip(&wire::SyncResponse { kind: Some(sync_response::Kind::Range(wire::RangeResponse { blocks: blocks.clone() })) });
        roundtrip(&wire::SyncResponse { kind: Some(sync_response::Kind::Error(err)) });
        roundtrip(&wire::SyncRequest { kind: Some(sync_request::Kind::ForkProofs(wire::ForkProofsRequest {})) });
        let proofs: Vec<ledger::ForkProof> = blocks.chunks(2).map(|c| ledger::ForkProof { first: c.first().cloned(), second: c.get(1).cloned() }).collect();
        roundtrip(&wire::SyncResponse { kind: Some(sync_response::Kind::ForkProofs(wire::ForkProofsResponse { proofs })) });
        for b in blocks {
            roundtrip(&wire::Gossip { kind: Some(wire::gossip::Kind::Block(b)) });
        }
    }

    #[test]
    fn truncated_input_never_panics(r in record(), cut in 0usize..64) {
        let enc = r.encode_to_vec();
        let cut = cut.min(enc.len());
        // Decoding a prefix either fails cleanly or yields some message; it never panics.
        let _ = decode_bounded::<records::Record>(&enc[..enc.len() - cut], usize::MAX);
    }
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = vec![0u8; 100];
    match decode_bounded::<wire::DataRequest>(&big, 99) {
        Err(DecodeError::TooLarge { len: 100, max: 99 }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn garbage_is_malformed() {
    // Field 1, wire type 2 (length-delimited) claiming 100 bytes that are not there.
    let garbage = [0x0a, 100, 1, 2];
    assert!(matches!(
        decode_bounded::<wire::DataRequest>(&garbage, 1024),
        Err(DecodeError::Malformed(_))
    ));
}
