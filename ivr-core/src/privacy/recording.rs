//! Recordings at rest: the keyring from `[privacy]`, sealing a finished WAV file into
//! `NAME.wav.enc`, opening it again, and finding a call's recordings.
//!
//! # Sealing
//!
//! [`seal`] is called once the recorder has finished a file. It encrypts `NAME.wav` into
//! `NAME.wav.enc.partial`, `fsync`s it, renames it to `NAME.wav.enc` (the key id is in the
//! file's header, see [`crate::privacy::crypt`]), checks that the sealed file decrypts, and
//! only then deletes the plain file and `fsync`s the folder. At every instant at least one
//! complete copy exists: a crash leaves either the plain file alone, or both files, never
//! neither. [`recover`] (run at start-up, before calls are accepted) finishes what a crash
//! interrupted: where both exist and the sealed file authenticates, the plain one is deleted;
//! leftover `.partial` files are deleted.
//!
//! # Where recordings are
//!
//! Calls are recorded to `DATA/recordings/CALL-ID.wav` and voicemail goes to
//! `DATA/voicemail/MAILBOX/CALL-ID.wav` (call ids with characters other than letters, digits,
//! `-` and `.` have them replaced by `_`); sealed files add `.enc`. [`call_recordings`] lists
//! the files of one call.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::crypt::{self, CryptError, KeyId, Keyring, KeyringError};
use crate::config::{KeySource, PrivacyConfig};

/// What the keyring is called in messages ("add key k1 to …").
pub const KEYRING_SOURCE: &str = "[privacy] recording_keys of the configuration";

/// What is wrong with the `[privacy]` keys.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// Keys are listed but none is chosen to encrypt.
    #[error("[privacy] lists recording_keys but no active_key: set active_key to the id of the key that encrypts new recordings")]
    NoActiveKey,
    /// `active_key` names a key that is not listed.
    #[error("[privacy] active_key {id:?} is not in [privacy.recording_keys]: add it there (as {{ env = \"VAR\" }} or {{ file = \"/path\" }})")]
    ActiveKeyUnknown {
        /// The id.
        id: String,
    },
    /// A key id with characters that are not allowed.
    #[error("[privacy.recording_keys] id {id:?} is not valid: use 1–64 letters, digits, '.', '_' or '-'")]
    BadId {
        /// The id.
        id: String,
    },
    /// The key's environment variable is not set (or not UTF-8).
    #[error("recording key {id}: environment variable {var} is not set (or not UTF-8): set it to the key (generate one with `openssl rand -base64 32`)")]
    EnvMissing {
        /// The key id.
        id: String,
        /// The variable.
        var: String,
    },
    /// A key file given as a relative path.
    #[error("recording key {id}: key file {} must be an absolute path", path.display())]
    RelativeFile {
        /// The key id.
        id: String,
        /// The path.
        path: PathBuf,
    },
    /// A key file that cannot be read.
    #[error("recording key {id}: cannot read key file {}: {source}", path.display())]
    ReadFile {
        /// The key id.
        id: String,
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The key material is not a 32-byte key.
    #[error(transparent)]
    Key(#[from] KeyringError),
}

/// Loads the recording keys of `[privacy]`: `None` when no key is configured (recordings stay
/// plain), else the keyring whose active key is `active_key`.
pub fn load_keyring(config: &PrivacyConfig) -> Result<Option<Keyring>, KeysError> {
    let Some(active) = &config.active_key else {
        return if config.recording_keys.is_empty() {
            Ok(None)
        } else {
            Err(KeysError::NoActiveKey)
        };
    };
    let Some(active_source) = config.recording_keys.get(active) else {
        return Err(KeysError::ActiveKeyUnknown { id: active.clone() });
    };
    let (id, key) = load_key(active, active_source)?;
    let mut ring = Keyring::new(id, &key, KEYRING_SOURCE);
    for (name, source) in config.recording_keys.iter().filter(|(n, _)| *n != active) {
        let (id, key) = load_key(name, source)?;
        ring.add_old_key(id, &key)?;
    }
    Ok(Some(ring))
}

fn load_key(name: &str, source: &KeySource) -> Result<(KeyId, [u8; 32]), KeysError> {
    let id = KeyId::new(name).ok_or_else(|| KeysError::BadId { id: name.into() })?;
    let (text, from) = match source {
        KeySource::Env(var) => {
            let text = std::env::var(var).map_err(|_| KeysError::EnvMissing {
                id: name.into(),
                var: var.clone(),
            })?;
            (text, format!("environment variable {var}"))
        }
        KeySource::File(path) => {
            if !path.is_absolute() {
                return Err(KeysError::RelativeFile {
                    id: name.into(),
                    path: path.clone(),
                });
            }
            let text = fs::read_to_string(path).map_err(|source| KeysError::ReadFile {
                id: name.into(),
                path: path.clone(),
                source,
            })?;
            (text, format!("key file {}", path.display()))
        }
    };
    let key = crypt::decode_key_text(name, &text, &from)?;
    Ok((id, key))
}

/// What went wrong sealing or opening a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Encryption or decryption failed (the message names the file and, for key problems,
    /// the key id).
    #[error(transparent)]
    Crypt(#[from] CryptError),
    /// The file system refused.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is neither a WAV file nor an encrypted recording.
    #[error("{} is not a recording (neither a WAV file nor IVRENC-encrypted)", path.display())]
    NotARecording {
        /// The file.
        path: PathBuf,
    },
}

fn io_err<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> RecordingError + 'p {
    move |source| RecordingError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// `NAME.wav` → `NAME.wav.enc`.
pub fn sealed_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".enc");
    PathBuf::from(name)
}

/// Encrypts the finished recording `path` (a WAV file) with the keyring's active key into
/// `path` + `.enc` and deletes the plain file; returns the sealed file's path. Blocking
/// (file I/O and AES): call it from `spawn_blocking`. On error the plain file is kept.
pub fn seal(path: &Path, keyring: &Keyring) -> Result<PathBuf, RecordingError> {
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(io_err("read", path))?;
    if &magic != b"RIFF" {
        return Err(RecordingError::NotARecording {
            path: path.to_owned(),
        });
    }
    let sealed = sealed_path(path);
    crypt::encrypt_file(path, &sealed, keyring)?;
    // Never delete the only copy before the sealed one is known to decrypt.
    crypt::decrypt_to(&sealed, io::sink(), keyring)?;
    sync_dir(&sealed)?;
    match fs::remove_file(path) {
        Ok(()) => {}
        // Already removed (by `recover` running at the same time).
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("delete the plain recording", path)(e)),
    }
    sync_dir(&sealed)?;
    Ok(sealed)
}

/// Makes renames and deletions in `file`'s folder durable.
fn sync_dir(file: &Path) -> Result<(), RecordingError> {
    #[cfg(unix)]
    if let Some(dir) = file.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("sync the folder of", file))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// The WAV bytes of a recording: decrypted (every chunk authenticated) when it is sealed, as
/// stored when it is a plain WAV file.
pub fn open_recording(path: &Path, keyring: &Keyring) -> Result<Vec<u8>, RecordingError> {
    let mut out = Vec::new();
    if is_sealed(path)? {
        crypt::decrypt_to(path, &mut out, keyring)?;
    } else {
        out = fs::read(path).map_err(io_err("read", path))?;
        if !out.starts_with(b"RIFF") {
            return Err(RecordingError::NotARecording {
                path: path.to_owned(),
            });
        }
    }
    Ok(out)
}

/// Whether `path` starts with the IVRENC header.
pub fn is_sealed(path: &Path) -> Result<bool, RecordingError> {
    let mut magic = [0u8; 6];
    let mut f = fs::File::open(path).map_err(io_err("open", path))?;
    let n = read_up_to(&mut f, &mut magic).map_err(io_err("read", path))?;
    Ok(n == magic.len() && magic == crypt::MAGIC)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What [`recover`] did.
#[derive(Debug, Default)]
pub struct RecoverReport {
    /// Plain files deleted because their sealed copy is complete.
    pub plain_deleted: Vec<PathBuf>,
    /// Sealed copies deleted because they did not decrypt (the plain file is kept and can be
    /// sealed again).
    pub broken_sealed_deleted: Vec<PathBuf>,
    /// `.partial` leftovers deleted.
    pub partial_deleted: Vec<PathBuf>,
    /// Files that could not be handled, with why.
    pub failed: Vec<(PathBuf, String)>,
}

/// Finishes seals interrupted by a crash in `dir` (not recursive). Run it at start-up, before
/// calls are recorded: a `.partial` file is assumed abandoned.
pub fn recover(dir: &Path, keyring: &Keyring) -> Result<RecoverReport, RecordingError> {
    let mut report = RecoverReport::default();
    let entries = fs::read_dir(dir).map_err(io_err("read the folder", dir))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        let name = path.to_string_lossy();
        if name.ends_with(".partial") {
            match fs::remove_file(&path) {
                Ok(()) => report.partial_deleted.push(path),
                Err(e) => report.failed.push((path, e.to_string())),
            }
            continue;
        }
        let is_wav = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        let sealed = sealed_path(&path);
        if !is_wav || !sealed.is_file() {
            continue;
        }
        match crypt::decrypt_to(&sealed, io::sink(), keyring) {
            Ok(_) => match fs::remove_file(&path) {
                Ok(()) => report.plain_deleted.push(path),
                Err(e) => report.failed.push((path, e.to_string())),
            },
            Err(
                CryptError::Tampered { .. }
                | CryptError::Truncated { .. }
                | CryptError::BadHeader { .. }
                | CryptError::TrailingData { .. },
            ) => match fs::remove_file(&sealed) {
                Ok(()) => report.broken_sealed_deleted.push(sealed),
                Err(e) => report.failed.push((sealed, e.to_string())),
            },
            Err(e) => report.failed.push((sealed, e.to_string())),
        }
    }
    if !report.plain_deleted.is_empty() || !report.broken_sealed_deleted.is_empty() {
        sync_dir(&dir.join("x"))?;
    }
    Ok(report)
}

/// The recording file name stem of a call id, as the engine writes it.
fn recording_stem(call_id: &str) -> String {
    // The same mapping as the signalling task's recording path.
    call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect()
}

/// The voicemail file name stem of a call id (see [`crate::flow::voicemail_path`]).
fn voicemail_stem(call_id: &str) -> String {
    call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where the engine records call `call_id` under the data folder `data` (before sealing).
pub fn recording_path(data: &Path, call_id: &str) -> PathBuf {
    data.join("recordings")
        .join(format!("{}.wav", recording_stem(call_id)))
}

/// The recording and voicemail files of a call that exist under `data`, plain or sealed.
pub fn call_recordings(data: &Path, call_id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let plain = recording_path(data, call_id);
    for p in [sealed_path(&plain), plain] {
        if p.is_file() {
            found.push(p);
        }
    }
    let stem = voicemail_stem(call_id);
    if let Ok(boxes) = fs::read_dir(data.join("voicemail")) {
        let mut boxes: Vec<PathBuf> = boxes.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        boxes.sort();
        for b in boxes {
            let plain = b.join(format!("{stem}.wav"));
            for p in [sealed_path(&plain), plain] {
                if p.is_file() {
                    found.push(p);
                }
            }
        }
    }
    found
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const K1: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const K2: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

    /// A real recording: espeak-ng speech turned into a stereo 8 kHz WAV by sox.
    pub(crate) fn real_wav(dir: &Path, name: &str) -> PathBuf {
        let mono = dir.join(format!("{name}.mono.wav"));
        let status = std::process::Command::new("espeak-ng")
            .args([
                "-w",
                mono.to_str().unwrap(),
                "Thank you for calling. Please hold.",
            ])
            .status()
            .expect("espeak-ng is installed");
        assert!(status.success());
        let out = dir.join(format!("{name}.wav"));
        let status = std::process::Command::new("sox")
            .args([
                mono.to_str().unwrap(),
                "-r",
                "8000",
                "-c",
                "2",
                "-b",
                "16",
                out.to_str().unwrap(),
            ])
            .status()
            .expect("sox is installed");
        assert!(status.success());
        fs::remove_file(mono).unwrap();
        out
    }

    fn key_file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, format!("{text}\n")).unwrap();
        p
    }

    fn config(dir: &Path, active: &str, keys: &[(&str, &str)]) -> PrivacyConfig {
        let mut recording_keys = BTreeMap::new();
        for (id, text) in keys {
            recording_keys.insert(
                id.to_string(),
                KeySource::File(key_file(dir, &format!("{id}.key"), text)),
            );
        }
        PrivacyConfig {
            recording_keys,
            active_key: Some(active.into()),
            ..PrivacyConfig::default()
        }
    }

    #[test]
    fn the_privacy_section_parses_with_defaults_and_rejects_unknown_fields() {
        let c: crate::config::Config = toml::from_str(
            "[privacy]\nactive_key = \"2025q3\"\nrecording_retention_days = 90\n\
             retention_interval = \"10m\"\n[privacy.recording_keys]\n\
             2025q3 = { env = \"IVR_KEY_A\" }\n2025q2 = { file = \"/etc/ivr/k2\" }\n",
        )
        .unwrap();
        let p = &c.privacy;
        assert_eq!(p.active_key.as_deref(), Some("2025q3"));
        assert_eq!(p.recording_retention_days.map(|d| d.get()), Some(90));
        assert_eq!(p.transcript_retention_days, None);
        assert!(!p.store_unredacted);
        assert_eq!(p.retention_interval, std::time::Duration::from_secs(600));
        assert_eq!(
            p.recording_keys.get("2025q3"),
            Some(&KeySource::Env("IVR_KEY_A".into()))
        );
        assert_eq!(
            p.recording_keys.get("2025q2"),
            Some(&KeySource::File("/etc/ivr/k2".into()))
        );
        let d: crate::config::Config = toml::from_str("").unwrap();
        assert_eq!(
            d.privacy.retention_interval,
            std::time::Duration::from_secs(3600)
        );
        assert!(
            toml::from_str::<crate::config::Config>("[privacy]\nretention_days = 3\n").is_err()
        );
        assert!(toml::from_str::<crate::config::Config>(
            "[privacy.recording_keys]\nk = { key = \"inline\" }\n"
        )
        .is_err());
        assert!(toml::from_str::<crate::config::Config>(
            "[privacy]\nrecording_retention_days = 0\n"
        )
        .is_err());
    }

    #[test]
    fn sealing_replaces_the_wav_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let wav = real_wav(dir.path(), "c-1");
        let plain = fs::read(&wav).unwrap();
        let ring = load_keyring(&config(dir.path(), "k1", &[("k1", K1)]))
            .unwrap()
            .unwrap();
        let sealed = seal(&wav, &ring).unwrap();
        assert_eq!(sealed, dir.path().join("c-1.wav.enc"));
        assert!(!wav.exists(), "the plain recording is gone");
        let bytes = fs::read(&sealed).unwrap();
        assert!(bytes.starts_with(b"IVRENC"));
        assert!(!bytes.windows(4).any(|w| w == b"RIFF"));
        assert_eq!(crypt::key_id_of(&sealed).unwrap().as_str(), "k1");
        assert_eq!(open_recording(&sealed, &ring).unwrap(), plain);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with("c-1"))
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[test]
    fn a_sealed_recording_cannot_be_opened_with_a_wrong_or_missing_key() {
        let dir = tempfile::tempdir().unwrap();
        let wav = real_wav(dir.path(), "c-2");
        let ring = load_keyring(&config(dir.path(), "k1", &[("k1", K1)]))
            .unwrap()
            .unwrap();
        let sealed = seal(&wav, &ring).unwrap();
        // Another key under the same id.
        let other = dir.path().join("other");
        fs::create_dir(&other).unwrap();
        let wrong = load_keyring(&config(&other, "k1", &[("k1", K2)]))
            .unwrap()
            .unwrap();
        let err = open_recording(&sealed, &wrong).unwrap_err();
        assert!(
            matches!(err, RecordingError::Crypt(CryptError::WrongKey { .. })),
            "{err}"
        );
        // The key is not configured at all: the message names it.
        let missing = load_keyring(&config(&other, "k2", &[("k2", K2)]))
            .unwrap()
            .unwrap();
        let msg = open_recording(&sealed, &missing).unwrap_err().to_string();
        assert!(
            msg.contains("key k1") && msg.contains("recording_keys"),
            "{msg}"
        );
    }

    #[test]
    fn rotated_keys_still_open_older_recordings() {
        let dir = tempfile::tempdir().unwrap();
        let a = real_wav(dir.path(), "old");
        let old_ring = load_keyring(&config(dir.path(), "k1", &[("k1", K1)]))
            .unwrap()
            .unwrap();
        let old = seal(&a, &old_ring).unwrap();
        let rotated = load_keyring(&config(dir.path(), "k2", &[("k1", K1), ("k2", K2)]))
            .unwrap()
            .unwrap();
        assert_eq!(rotated.active_id().as_str(), "k2");
        let b = real_wav(dir.path(), "new");
        let new = seal(&b, &rotated).unwrap();
        assert_eq!(crypt::key_id_of(&new).unwrap().as_str(), "k2");
        assert!(open_recording(&old, &rotated).is_ok());
        assert!(open_recording(&new, &rotated).is_ok());
    }

    #[test]
    fn key_configuration_errors_name_the_key_and_never_its_value() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_keyring(&PrivacyConfig::default()).unwrap().is_none());
        let mut c = config(dir.path(), "k9", &[("k1", K1)]);
        assert!(matches!(
            load_keyring(&c),
            Err(KeysError::ActiveKeyUnknown { .. })
        ));
        c.active_key = None;
        assert!(matches!(load_keyring(&c), Err(KeysError::NoActiveKey)));
        let c = config(dir.path(), "k1", &[("k1", "0011")]);
        let msg = load_keyring(&c).unwrap_err().to_string();
        assert!(msg.contains("k1") && !msg.contains("0011"), "{msg}");
        let mut c = PrivacyConfig {
            active_key: Some("k1".into()),
            ..PrivacyConfig::default()
        };
        c.recording_keys.insert(
            "k1".into(),
            KeySource::Env("IVR_TEST_RECORDING_KEY_NEVER_SET".into()),
        );
        let msg = load_keyring(&c).unwrap_err().to_string();
        assert!(msg.contains("IVR_TEST_RECORDING_KEY_NEVER_SET"), "{msg}");
        c.recording_keys
            .insert("k1".into(), KeySource::File("keys/k1".into()));
        assert!(matches!(
            load_keyring(&c),
            Err(KeysError::RelativeFile { .. })
        ));
    }

    #[test]
    fn sealing_refuses_what_is_not_a_wav_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let ring = load_keyring(&config(dir.path(), "k1", &[("k1", K1)]))
            .unwrap()
            .unwrap();
        let f = dir.path().join("x.wav");
        fs::write(&f, b"IVRENC already").unwrap();
        assert!(matches!(
            seal(&f, &ring),
            Err(RecordingError::NotARecording { .. })
        ));
        assert!(f.exists());
        assert!(matches!(
            seal(&dir.path().join("missing.wav"), &ring),
            Err(RecordingError::Io { .. })
        ));
    }

    #[test]
    fn recovery_finishes_an_interrupted_seal() {
        let dir = tempfile::tempdir().unwrap();
        let ring = load_keyring(&config(dir.path(), "k1", &[("k1", K1)]))
            .unwrap()
            .unwrap();
        let rec = dir.path().join("rec");
        fs::create_dir(&rec).unwrap();
        // Crash after the rename, before the plain file was deleted.
        let a = real_wav(&rec, "a");
        crypt::encrypt_file(&a, &sealed_path(&a), &ring).unwrap();
        // Crash with a damaged sealed copy: the plain file must survive.
        let b = real_wav(&rec, "b");
        fs::write(sealed_path(&b), b"IVRENC\x01\x10broken").unwrap();
        // Crash during encryption.
        fs::write(rec.join("c.wav.enc.partial"), b"IVRENC").unwrap();
        let c = real_wav(&rec, "c");
        let report = recover(&rec, &ring).unwrap();
        assert_eq!(report.plain_deleted, std::slice::from_ref(&a));
        assert!(!a.exists() && sealed_path(&a).exists());
        assert!(b.exists());
        assert!(
            c.exists(),
            "a recording without a sealed copy is left alone"
        );
        assert_eq!(report.partial_deleted, [rec.join("c.wav.enc.partial")]);
        assert_eq!(report.broken_sealed_deleted, [sealed_path(&b)]);
        assert!(report.failed.is_empty(), "{:?}", report.failed);
    }

    #[test]
    fn a_calls_recordings_are_found_plain_or_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        fs::create_dir_all(data.join("recordings")).unwrap();
        fs::create_dir_all(data.join("voicemail/sales")).unwrap();
        let id = "abc@10.0.0.1";
        let rec = recording_path(data, id);
        assert_eq!(rec, data.join("recordings/abc_10.0.0.1.wav"));
        fs::write(sealed_path(&rec), b"x").unwrap();
        let vm = crate::flow::voicemail_path(data, "sales", id);
        fs::write(&vm, b"x").unwrap();
        fs::write(data.join("recordings/other.wav"), b"x").unwrap();
        assert_eq!(call_recordings(data, id), [sealed_path(&rec), vm]);
    }
}
