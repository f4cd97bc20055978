//! Unit tests of the parent module.
use super::*;

const INFO: &[u8] = b"sec-net-pdc test v1";
const AAD: &[u8] = b"block header";

fn secret() -> EncryptionSecret {
    EncryptionSecret::generate().expect("key")
}

#[test]
fn round_trip() {
    let bob = secret();
    let msg = b"query: diabetes; staff: dr.ada";
    let sealed = seal(&bob.public(), INFO, AAD, msg).expect("seal");
    assert_eq!(sealed.ciphertext.len(), msg.len() + TAG_LEN);
    assert_ne!(&sealed.ciphertext[..msg.len()], msg);
    assert_eq!(open(&bob, INFO, AAD, &sealed).expect("open"), msg);
    // The wire form round-trips too.
    let back = Sealed::from_proto(&sealed.to_proto()).expect("proto");
    assert_eq!(open(&bob, INFO, AAD, &back).expect("open"), msg);
}

#[test]
fn two_seals_of_one_message_differ() {
    let bob = secret();
    let a = seal(&bob.public(), INFO, AAD, b"same").expect("seal");
    let b = seal(&bob.public(), INFO, AAD, b"same").expect("seal");
    assert_ne!(a.enc, b.enc);
    assert_ne!(a.ciphertext, b.ciphertext);
}

#[test]
fn wrong_key_fails() {
    let (bob, eve) = (secret(), secret());
    let sealed = seal(&bob.public(), INFO, AAD, b"secret").expect("seal");
    assert_eq!(open(&eve, INFO, AAD, &sealed), Err(SealError::Open));
}

#[test]
fn tampered_ciphertext_or_enc_fails() {
    let bob = secret();
    let sealed = seal(&bob.public(), INFO, AAD, b"secret details").expect("seal");
    for i in [0, sealed.ciphertext.len() - 1] {
        let mut bad = sealed.clone();
        bad.ciphertext[i] ^= 1;
        assert_eq!(
            open(&bob, INFO, AAD, &bad),
            Err(SealError::Open),
            "byte {i}"
        );
    }
    let mut bad = sealed.clone();
    bad.enc[3] ^= 0x40;
    assert!(
        matches!(
            open(&bob, INFO, AAD, &bad),
            Err(SealError::Open | SealError::BadEncapsulatedKey)
        ),
        "altered enc must not open"
    );
    // An all-zero enc makes the X25519 result all zero, which HPKE refuses.
    let mut zero = sealed.clone();
    zero.enc = [0; KEY_LEN];
    assert_eq!(
        open(&bob, INFO, AAD, &zero),
        Err(SealError::BadEncapsulatedKey)
    );
    let mut short = sealed;
    short.ciphertext.truncate(TAG_LEN - 1);
    assert_eq!(
        open(&bob, INFO, AAD, &short),
        Err(SealError::Truncated { len: TAG_LEN - 1 })
    );
}

#[test]
fn other_aad_or_info_fails() {
    let bob = secret();
    let sealed = seal(&bob.public(), INFO, AAD, b"secret").expect("seal");
    assert_eq!(
        open(&bob, INFO, b"another header", &sealed),
        Err(SealError::Open)
    );
    assert_eq!(
        open(&bob, b"sec-net-pdc other v1", AAD, &sealed),
        Err(SealError::Open)
    );
}

#[test]
fn sizes_are_bounded() {
    let bob = secret();
    let big = vec![0u8; MAX_PLAINTEXT + 1];
    assert_eq!(
        seal(&bob.public(), INFO, AAD, &big),
        Err(SealError::TooLarge {
            len: MAX_PLAINTEXT + 1,
            max: MAX_PLAINTEXT
        })
    );
    let huge = Sealed {
        enc: [9; KEY_LEN],
        ciphertext: vec![0; MAX_PLAINTEXT + TAG_LEN + 1],
    };
    assert!(matches!(
        open(&bob, INFO, AAD, &huge),
        Err(SealError::TooLarge { .. })
    ));
    assert!(matches!(
        Sealed::from_proto(&huge.to_proto()),
        Err(SealError::TooLarge { .. })
    ));
    let long = vec![0u8; MAX_CONTEXT + 1];
    assert!(matches!(
        seal(&bob.public(), &long, AAD, b"x"),
        Err(SealError::ContextTooLarge { what: "info", .. })
    ));
    let bad_enc = pdc_proto::ledger::Sealed {
        enc: vec![1; 31],
        ciphertext: vec![0; 32],
    };
    assert_eq!(
        Sealed::from_proto(&bad_enc),
        Err(SealError::BadLength {
            what: "encapsulated key",
            len: 31
        })
    );
    // At the limit both ways works.
    let max = vec![7u8; MAX_PLAINTEXT];
    let sealed = seal(&bob.public(), INFO, AAD, &max).expect("seal max");
    assert_eq!(open(&bob, INFO, AAD, &sealed).expect("open max"), max);
}

#[test]
fn unusable_recipient_keys_are_refused() {
    assert_eq!(
        EncryptionPublic::from_slice(&[0; KEY_LEN]),
        Err(SealError::BadRecipientKey)
    );
    assert_eq!(
        EncryptionPublic::from_slice(&[1; 31]),
        Err(SealError::BadLength {
            what: "encryption key",
            len: 31
        })
    );
    // A low-order point (here the identity, encoded as 1) gives an all-zero DH result.
    let mut one = [0u8; KEY_LEN];
    one[0] = 1;
    assert_eq!(
        seal(&EncryptionPublic(one), INFO, AAD, b"x"),
        Err(SealError::BadRecipientKey)
    );
}

#[test]
fn secret_round_trips_through_its_bytes_and_hides_in_debug() {
    let s = secret();
    let again = EncryptionSecret::from_bytes(s.to_bytes()).expect("load");
    assert_eq!(again.public(), s.public());
    let sealed = seal(&s.public(), INFO, AAD, b"x").expect("seal");
    assert_eq!(open(&again, INFO, AAD, &sealed).expect("open"), b"x");
    let shown = format!("{s:?}");
    assert!(
        !shown.contains(&hex::encode(s.to_bytes().as_ref())),
        "{shown}"
    );
    assert!(shown.contains(&s.public().to_string()), "{shown}");
}
