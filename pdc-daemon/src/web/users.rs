//! Portal accounts: a patient node has one (its owner); a hospital node one per staff
//! member, created by an admin. Passwords are stored only as argon2id PHC strings in the
//! store's meta table, so a copied data directory does not reveal them.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};
use serde::{Deserialize, Serialize};

use crate::store::{Batch, Store, StoreError, cf};

/// Key prefix of accounts in the meta column family.
const PREFIX: &str = crate::store::prefix::PORTAL_USER;
/// Shortest password accepted outside demo mode.
pub const MIN_PASSWORD: usize = 10;

/// One portal account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// The login name as the admin typed it; lookups ignore case.
    pub name: String,
    /// Admins manage staff accounts and see the operator page.
    pub admin: bool,
    /// When the account was created (epoch ms).
    pub created_ms: u64,
    /// argon2id hash of the password (PHC string with its own salt and parameters).
    phc: String,
}

/// Why an account could not be created or checked.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name is empty, too long or has characters we do not accept.
    #[error(
        "user name '{0}' is not accepted: use 1 to 64 letters, digits, '.', '_', '-' or spaces"
    )]
    BadName(String),
    /// The password is too short.
    #[error("the password is too short: use at least {MIN_PASSWORD} characters")]
    WeakPassword,
    /// The name is taken (case-insensitively).
    #[error("a user named '{0}' already exists")]
    Exists(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    /// The hashing task stopped.
    #[error("password hashing stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The account could not be encoded.
    #[error("cannot encode the account: {0}")]
    Encode(#[from] serde_json::Error),
}

fn key(name: &str) -> Vec<u8> {
    format!("{PREFIX}{}", name.trim().to_lowercase()).into_bytes()
}

fn valid_name(name: &str) -> bool {
    let n = name.trim();
    !n.is_empty()
        && n.chars().count() <= 64
        && n.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | ' '))
}

/// The account called `name` (any case), if there is one.
pub async fn get(store: &Store, name: &str) -> Result<Option<User>, StoreError> {
    if !valid_name(name) {
        return Ok(None);
    }
    let raw = store.get(cf::META, key(name)).await?;
    Ok(raw.and_then(|v| serde_json::from_slice(&v).ok()))
}

/// Every account, by name.
pub async fn list(store: &Store) -> Result<Vec<User>, StoreError> {
    let rows = store.scan(cf::META, PREFIX.as_bytes().to_vec()).await?;
    let mut users: Vec<User> = rows
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect();
    users.sort_by_key(|u| u.name.to_lowercase());
    Ok(users)
}

/// Whether any account exists.
pub async fn any(store: &Store) -> Result<bool, StoreError> {
    Ok(!store
        .scan(cf::META, PREFIX.as_bytes().to_vec())
        .await?
        .is_empty())
}

/// Creates an account. `min_password` is [`MIN_PASSWORD`] except in demo mode, where the
/// paper's logins (Hospital1 / Hospital1) must work.
pub async fn create(
    store: &Store,
    name: &str,
    password: &str,
    admin: bool,
    min_password: usize,
) -> Result<User, UserError> {
    let name = name.trim().to_string();
    if !valid_name(&name) {
        return Err(UserError::BadName(name));
    }
    if password.chars().count() < min_password {
        return Err(UserError::WeakPassword);
    }
    if get(store, &name).await?.is_some() {
        return Err(UserError::Exists(name));
    }
    let pw = password.to_string();
    let phc = tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(pw.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(UserError::Hash)
    })
    .await??;
    let user = User {
        name: name.clone(),
        admin,
        created_ms: crate::records::now_ms(),
        phc,
    };
    let mut b = Batch::new();
    let bytes = serde_json::to_vec(&user)?;
    b.put(cf::META, key(&name), bytes);
    store.commit(b).await?;
    Ok(user)
}

/// Checks a login. Runs argon2 even for an unknown name, so timing does not tell which
/// names exist.
pub async fn verify(store: &Store, name: &str, password: &str) -> Result<Option<User>, StoreError> {
    let user = get(store, name).await?;
    let phc = user.as_ref().map(|u| u.phc.clone()).unwrap_or_else(|| {
        // A hash of a random password with the default parameters: same cost.
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8B0y+0rUuC6uIs9/LRDBVLKcsnCx2vqtiVDP8xpRAkE".into()
    });
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    Ok(if ok { user } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accounts_hash_passwords_and_check_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db")).expect("store");
        assert!(!any(&store).await.expect("scan"));
        let u = create(
            &store,
            "Dr. Grey",
            "correct horse battery",
            false,
            MIN_PASSWORD,
        )
        .await
        .expect("create");
        assert!(any(&store).await.expect("scan"));
        // Only an argon2id hash is stored, never the password.
        let raw = store
            .get(cf::META, key("dr. grey"))
            .await
            .expect("get")
            .expect("stored");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("$argon2id$"), "{text}");
        assert!(!text.contains("correct horse"), "{text}");
        // Names match case-insensitively; the password does not.
        let ok = verify(&store, "DR. GREY", "correct horse battery")
            .await
            .expect("verify");
        assert_eq!(ok.map(|x| x.name), Some(u.name.clone()));
        assert!(
            verify(&store, "Dr. Grey", "Correct horse battery")
                .await
                .expect("v")
                .is_none()
        );
        assert!(
            verify(&store, "nobody", "correct horse battery")
                .await
                .expect("v")
                .is_none()
        );
        // Duplicates, weak passwords and odd names are refused with the reason.
        let dup = create(
            &store,
            "dr. GREY",
            "another long password",
            false,
            MIN_PASSWORD,
        )
        .await;
        assert!(matches!(dup, Err(UserError::Exists(_))));
        let weak = create(&store, "Tom", "short", false, MIN_PASSWORD).await;
        assert!(matches!(weak, Err(UserError::WeakPassword)));
        let odd = create(
            &store,
            "<b>x</b>",
            "long enough password",
            false,
            MIN_PASSWORD,
        )
        .await;
        assert!(matches!(odd, Err(UserError::BadName(_))));
        assert_eq!(list(&store).await.expect("list").len(), 1);
        store.close().await;
    }
}
