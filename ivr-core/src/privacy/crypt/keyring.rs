//! Recording keys: named AES-256 keys, one active for new files, the others kept so that
//! files written before a rotation stay readable.
//!
//! # Format
//!
//! `IVR_RECORDING_KEYS` (or any string given to [`Keyring::parse`]) holds entries
//! `id:key` separated by commas or whitespace. The **first entry is the active key**; the
//! others are only used to read older files. A key is 32 bytes written as 64 hex digits or
//! as base64 (standard alphabet, padding optional):
//!
//! ```text
//! IVR_RECORDING_KEYS="2025q3:q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ0=,2025q2:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
//! ```
//!
//! Generate a key with `openssl rand -base64 32`. To rotate: put the new entry first and
//! keep the old one after it until every file written with it has been deleted by the
//! retention sweep (or re-encrypted).
//!
//! Key ids are stored in clear in every file header so the right key can be found; key
//! material never appears in errors or `Debug` output.

use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Longest key id accepted.
pub const MAX_KEY_ID_LEN: usize = 64;

/// The name of a recording key, stored in clear in each encrypted file's header:
/// 1–64 characters from `A–Z a–z 0–9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// Parses a key id; `None` if it is empty, too long or has other characters.
    pub fn new(id: &str) -> Option<KeyId> {
        let ok = !id.is_empty()
            && id.len() <= MAX_KEY_ID_LEN
            && id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
        ok.then(|| KeyId(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is wrong with a keyring specification.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    /// The environment variable is not set.
    #[error(
        "environment variable {var} is not set: set it to `id:key[,id:key…]` with 32-byte keys in \
         base64 or hex (the first key encrypts new recordings; generate one with `openssl rand -base64 32`)"
    )]
    EnvMissing {
        /// The variable's name.
        var: String,
    },
    /// The environment variable holds bytes that are not UTF-8.
    #[error("environment variable {var} is not valid UTF-8: write keys as base64 or hex text")]
    EnvNotUnicode {
        /// The variable's name.
        var: String,
    },
    /// No entry at all.
    #[error("{source_name} holds no keys: write at least one `id:key` entry")]
    Empty {
        /// Where the keys came from.
        source_name: String,
    },
    /// An entry without `id:`.
    #[error("entry {entry} of {source_name} has no key id: write each entry as `id:key`")]
    MissingId {
        /// Where the keys came from.
        source_name: String,
        /// 1-based position of the entry.
        entry: usize,
    },
    /// A key id with characters that are not allowed.
    #[error(
        "key id {id:?} in {source_name} is not valid: use 1–64 letters, digits, '.', '_' or '-'"
    )]
    BadId {
        /// Where the keys came from.
        source_name: String,
        /// The rejected id.
        id: String,
    },
    /// A key that is neither hex nor base64.
    #[error("key {id} in {source_name} is neither 64 hex digits nor base64: {reason}")]
    BadEncoding {
        /// Where the keys came from.
        source_name: String,
        /// The key's id.
        id: String,
        /// Why decoding failed (never the key itself).
        reason: String,
    },
    /// A key that does not decode to 32 bytes.
    #[error(
        "key {id} in {source_name} is {len} bytes long; AES-256 needs 32 (generate one with `openssl rand -base64 32`)"
    )]
    WrongLength {
        /// Where the keys came from.
        source_name: String,
        /// The key's id.
        id: String,
        /// Decoded length in bytes.
        len: usize,
    },
    /// Two entries with the same id.
    #[error("key id {id} appears twice in {source_name}: give each key its own id")]
    Duplicate {
        /// Where the keys came from.
        source_name: String,
        /// The repeated id.
        id: String,
    },
}

/// Length of the key check value stored in file headers.
pub(super) const KEY_CHECK_LEN: usize = 8;

pub(super) struct KeyEntry {
    pub(super) id: KeyId,
    pub(super) cipher: Aes256Gcm,
    /// First bytes of SHA-256 over a label and the key: tells "wrong key under this id"
    /// apart from "file damaged" without revealing the key.
    pub(super) check: [u8; KEY_CHECK_LEN],
}

/// The recording keys: the active one encrypts new files, every one decrypts.
pub struct Keyring {
    /// Active key first.
    keys: Vec<KeyEntry>,
    source_name: String,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field(
                "ids",
                &self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            )
            .field("source", &self.source_name)
            .finish()
    }
}

impl Keyring {
    /// A keyring holding one active key. `source_name` says where keys are configured, for
    /// error messages (e.g. "environment variable IVR_RECORDING_KEYS").
    pub fn new(id: KeyId, key: &[u8; 32], source_name: &str) -> Keyring {
        Keyring {
            keys: vec![entry(id, key)],
            source_name: source_name.to_owned(),
        }
    }

    /// Adds a key that only decrypts (a key rotated out).
    pub fn add_old_key(&mut self, id: KeyId, key: &[u8; 32]) -> Result<(), KeyringError> {
        if self.keys.iter().any(|k| k.id == id) {
            return Err(KeyringError::Duplicate {
                source_name: self.source_name.clone(),
                id: id.0,
            });
        }
        self.keys.push(entry(id, key));
        Ok(())
    }

    /// Parses `id:key` entries (see the module docs); `source_name` names where they came
    /// from in errors.
    pub fn parse(spec: &str, source_name: &str) -> Result<Keyring, KeyringError> {
        let source = || source_name.to_owned();
        let mut ring: Option<Keyring> = None;
        let entries = spec
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty());
        for (n, e) in entries.enumerate() {
            let Some((id, key)) = e.split_once(':') else {
                return Err(KeyringError::MissingId {
                    source_name: source(),
                    entry: n + 1,
                });
            };
            let Some(id) = KeyId::new(id) else {
                return Err(KeyringError::BadId {
                    source_name: source(),
                    id: id.to_owned(),
                });
            };
            let key = decode_key(key).map_err(|e| match e {
                Decode::Encoding(reason) => KeyringError::BadEncoding {
                    source_name: source(),
                    id: id.0.clone(),
                    reason,
                },
                Decode::Length(len) => KeyringError::WrongLength {
                    source_name: source(),
                    id: id.0.clone(),
                    len,
                },
            })?;
            match ring.as_mut() {
                None => ring = Some(Keyring::new(id, &key, source_name)),
                Some(r) => r.add_old_key(id, &key)?,
            }
        }
        ring.ok_or_else(|| KeyringError::Empty {
            source_name: source(),
        })
    }

    /// Reads the keys from environment variable `var` (conventionally `IVR_RECORDING_KEYS`).
    pub fn from_env(var: &str) -> Result<Keyring, KeyringError> {
        match std::env::var(var) {
            Ok(spec) => Keyring::parse(&spec, &format!("environment variable {var}")),
            Err(std::env::VarError::NotPresent) => Err(KeyringError::EnvMissing {
                var: var.to_owned(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(KeyringError::EnvNotUnicode {
                var: var.to_owned(),
            }),
        }
    }

    /// The id of the key that encrypts new files.
    pub fn active_id(&self) -> &KeyId {
        &self.active().id
    }

    /// Every key id, the active one first.
    pub fn ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.iter().map(|k| &k.id)
    }

    /// Where the keys are configured (for messages).
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    pub(super) fn active(&self) -> &KeyEntry {
        // Never empty: every constructor adds the active key first.
        &self.keys[0]
    }

    pub(super) fn get(&self, id: &str) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.id.as_str() == id)
    }
}

/// Decodes one key written as 64 hex digits or base64 (surrounding whitespace ignored);
/// errors name `id` and `source_name`, never the key.
pub fn decode_key_text(id: &str, text: &str, source_name: &str) -> Result<[u8; 32], KeyringError> {
    decode_key(text.trim()).map_err(|e| match e {
        Decode::Encoding(reason) => KeyringError::BadEncoding {
            source_name: source_name.to_owned(),
            id: id.to_owned(),
            reason,
        },
        Decode::Length(len) => KeyringError::WrongLength {
            source_name: source_name.to_owned(),
            id: id.to_owned(),
            len,
        },
    })
}

fn entry(id: KeyId, key: &[u8; 32]) -> KeyEntry {
    let mut check = [0u8; KEY_CHECK_LEN];
    let digest = Sha256::new()
        .chain_update(b"ivr recording key check v1")
        .chain_update(key)
        .finalize();
    check.copy_from_slice(&digest[..KEY_CHECK_LEN]);
    KeyEntry {
        id,
        cipher: Aes256Gcm::new(key.into()),
        check,
    }
}

enum Decode {
    Encoding(String),
    Length(usize),
}

fn decode_key(text: &str) -> Result<[u8; 32], Decode> {
    let bytes = if text.len() == 64 && text.bytes().all(|c| c.is_ascii_hexdigit()) {
        decode_hex(text)
    } else {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        engine
            .decode(text)
            .map_err(|e| Decode::Encoding(e.to_string()))?
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| Decode::Length(bytes.len()))
}

fn decode_hex(text: &str) -> Vec<u8> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|p| (nibble(p[0]) << 4) | nibble(p[1]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const B64: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

    #[test]
    fn first_entry_is_active_and_both_encodings_parse() {
        let ring = Keyring::parse(&format!("new:{B64}, old:{HEX}"), "test").unwrap();
        assert_eq!(ring.active_id().as_str(), "new");
        assert_eq!(
            ring.ids().map(KeyId::as_str).collect::<Vec<_>>(),
            ["new", "old"]
        );
        assert!(ring.get("old").is_some());
        // Padding may be left off.
        assert!(Keyring::parse(&format!("k:{}", B64.trim_end_matches('=')), "test").is_ok());
    }

    #[test]
    fn errors_name_the_source_and_the_key_id_but_never_the_key() {
        let e = Keyring::parse("k1:abcd", "environment variable IVR_RECORDING_KEYS").unwrap_err();
        assert_eq!(
            e,
            KeyringError::WrongLength {
                source_name: "environment variable IVR_RECORDING_KEYS".into(),
                id: "k1".into(),
                len: 3
            }
        );
        let msg = e.to_string();
        assert!(
            msg.contains("k1") && msg.contains("IVR_RECORDING_KEYS") && !msg.contains("abcd"),
            "{msg}"
        );
        assert!(matches!(
            Keyring::parse(HEX, "s"),
            Err(KeyringError::MissingId { entry: 1, .. })
        ));
        assert!(matches!(
            Keyring::parse(&format!("a b:{HEX}"), "s"),
            Err(KeyringError::MissingId { entry: 1, .. })
        ));
        assert!(matches!(
            Keyring::parse(&format!("a/b:{HEX}"), "s"),
            Err(KeyringError::BadId { .. })
        ));
        assert!(matches!(
            Keyring::parse("k:!!notbase64!!", "s"),
            Err(KeyringError::BadEncoding { .. })
        ));
        assert!(matches!(
            Keyring::parse(&format!("k:{HEX},k:{B64}"), "s"),
            Err(KeyringError::Duplicate { .. })
        ));
        assert!(matches!(
            Keyring::parse(" , ", "s"),
            Err(KeyringError::Empty { .. })
        ));
        let debug = format!("{:?}", Keyring::parse(&format!("k:{HEX}"), "s").unwrap());
        assert!(
            !debug.contains("0011") && debug.contains("\"k\""),
            "{debug}"
        );
    }

    #[test]
    fn missing_environment_variable_says_how_to_set_it() {
        let e = Keyring::from_env("IVR_TEST_KEYS_THAT_ARE_NEVER_SET").unwrap_err();
        assert!(e.to_string().contains("openssl rand -base64 32"), "{e}");
    }
}
