//! The genesis of a network: its id, the default price and the initial balances.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::GenesisError;
use super::types::AccountId;

/// Default price of one access: 0.5 credits.
pub const DEFAULT_PRICE: u64 = 500_000;

/// Tag mixed into the genesis hash so the encoding can never be confused with another
/// blake3 input of the project.
const GENESIS_HASH_DOMAIN: &[u8] = b"secnet-pdc/genesis/v1\0";

/// A network's genesis, shared by all its nodes. Its [`Genesis::hash`] is in every
/// block and in every protocol name and topic, so networks never mix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    network_id: String,
    default_price: u64,
    balances: BTreeMap<AccountId, u64>,
    names: BTreeMap<String, AccountId>,
}

/// The file as written; validated into [`Genesis`] by [`Genesis::parse`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenesisFile {
    network_id: String,
    #[serde(default = "default_price")]
    default_price: u64,
    #[serde(default)]
    balances: Vec<BalanceEntry>,
    #[serde(default)]
    names: Vec<NameEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceEntry {
    account: String,
    amount: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameEntry {
    name: String,
    account: String,
}

fn default_price() -> u64 {
    DEFAULT_PRICE
}

fn parse_account(field: String, text: &str) -> Result<AccountId, GenesisError> {
    let bad = |reason: String| GenesisError::BadAccount {
        field: field.clone(),
        account: text.to_owned(),
        reason,
    };
    let id: AccountId = text.parse().map_err(|e| bad(format!("{e}")))?;
    // A balance on bytes that are no curve point could never be spent: refuse it now.
    id.verifying_key()
        .ok_or_else(|| bad("not a point on the ed25519 curve".to_owned()))?;
    Ok(id)
}

impl Genesis {
    /// A genesis with no balances and no pinned names.
    pub fn new(network_id: impl Into<String>, default_price: u64) -> Self {
        Self {
            network_id: network_id.into(),
            default_price,
            balances: BTreeMap::new(),
            names: BTreeMap::new(),
        }
    }

    /// Adds an initial balance (replacing an earlier one of the same account).
    pub fn with_balance(mut self, account: AccountId, amount: u64) -> Result<Self, GenesisError> {
        self.balances.insert(account, amount);
        self.check_total()?;
        Ok(self)
    }

    /// Pins a well-known display name to an account.
    pub fn with_name(mut self, name: impl Into<String>, account: AccountId) -> Self {
        self.names.insert(name.into(), account);
        self
    }

    /// Parses and validates a genesis TOML file (see `config/genesis.toml`).
    pub fn parse(text: &str) -> Result<Self, GenesisError> {
        let file: GenesisFile =
            toml::from_str(text).map_err(|e| GenesisError::Toml(e.to_string()))?;
        if file.network_id.trim().is_empty() {
            return Err(GenesisError::EmptyNetworkId);
        }
        let mut genesis = Genesis::new(file.network_id, file.default_price);
        for (i, entry) in file.balances.iter().enumerate() {
            let account = parse_account(format!("balances[{i}]"), &entry.account)?;
            if genesis.balances.insert(account, entry.amount).is_some() {
                return Err(GenesisError::DuplicateAccount(account.to_string()));
            }
        }
        genesis.check_total()?;
        for (i, entry) in file.names.iter().enumerate() {
            if entry.name.trim().is_empty() {
                return Err(GenesisError::EmptyName);
            }
            let account = parse_account(format!("names[{i}]"), &entry.account)?;
            if genesis.names.insert(entry.name.clone(), account).is_some() {
                return Err(GenesisError::DuplicateName(entry.name.clone()));
            }
        }
        Ok(genesis)
    }

    fn check_total(&self) -> Result<(), GenesisError> {
        // Balances are i64 on the chain; the total must fit so no sum of them overflows.
        let total = self
            .balances
            .values()
            .try_fold(0u64, |acc, &v| acc.checked_add(v))
            .ok_or(GenesisError::TooMuchMoney)?;
        if total > i64::MAX as u64 {
            return Err(GenesisError::TooMuchMoney);
        }
        Ok(())
    }

    /// The network's name, e.g. `secnet-demo`.
    pub fn network_id(&self) -> &str {
        &self.network_id
    }

    /// Price of one access in micro-credits when a grant names none.
    pub fn default_price(&self) -> u64 {
        self.default_price
    }

    /// Initial balance of `account` in micro-credits (0 if it has none).
    pub fn balance_of(&self, account: &AccountId) -> u64 {
        self.balances.get(account).copied().unwrap_or(0)
    }

    /// All initial balances.
    pub fn balances(&self) -> &BTreeMap<AccountId, u64> {
        &self.balances
    }

    /// Names pinned to keys by the genesis.
    pub fn names(&self) -> &BTreeMap<String, AccountId> {
        &self.names
    }

    /// The pinned name of `account`, if any.
    pub fn name_of(&self, account: &AccountId) -> Option<&str> {
        self.names
            .iter()
            .find(|(_, a)| *a == account)
            .map(|(n, _)| n.as_str())
    }

    /// The network's identity: blake3 of a canonical encoding of the parsed genesis,
    /// not of the file text, so comments, whitespace, key order and the order of the
    /// `balances` and `names` entries do not change it. The encoding is: a domain tag;
    /// `network_id` as u32-BE length + UTF-8; `default_price` u64-BE; the balance count
    /// u32-BE, then each (32-byte account, u64-BE amount) sorted by account; the name
    /// count u32-BE, then each (u32-BE length + UTF-8 name, 32-byte account) sorted by
    /// name.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(GENESIS_HASH_DOMAIN);
        put_str(&mut h, &self.network_id);
        h.update(&self.default_price.to_be_bytes());
        put_len(&mut h, self.balances.len());
        for (account, amount) in &self.balances {
            h.update(account.as_bytes());
            h.update(&amount.to_be_bytes());
        }
        put_len(&mut h, self.names.len());
        for (name, account) in &self.names {
            put_str(&mut h, name);
            h.update(account.as_bytes());
        }
        *h.finalize().as_bytes()
    }
}

fn put_len(h: &mut blake3::Hasher, len: usize) {
    // Lengths above u32 cannot come from a parsed file of sane size; saturate rather
    // than panic, which still keeps distinct inputs distinct in practice.
    h.update(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_str(h: &mut blake3::Hasher, s: &str) {
    put_len(h, s.len());
    h.update(s.as_bytes());
}
