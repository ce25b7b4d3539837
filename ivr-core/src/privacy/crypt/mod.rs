//! Encryption at rest for call recordings: AES-256-GCM in independently sealed chunks.
//!
//! # What is stored
//!
//! An encrypted recording is a header followed by chunks:
//!
//! ```text
//! header  magic "IVRENC" (6 bytes) | version = 1 (1) | log2 chunk size (1) | nonce base (12)
//!         | key check (8) | key id length (1) | key id (1–64, ASCII)
//! chunk i ciphertext of up to 64 KiB of plaintext | GCM tag (16)
//! ```
//!
//! * The **key id** is in clear so that a file can be read after the active key has been
//!   rotated: the reader picks that key from the [`Keyring`]. [`key_id_of`] reports it, which
//!   tells operators which keys must be kept while files written with them exist.
//! * The **key check** (8 bytes of SHA-256 over a label and the key) lets the reader say "the
//!   key configured under this id is not the one the file was written with" instead of
//!   "damaged file"; it does not help recover the key.
//! * The **nonce base** is 12 random bytes per file; chunk `i` is sealed with the nonce
//!   `base XOR i` (counter in the last 8 bytes, big-endian), so no nonce repeats within a file
//!   and, with random bases, not across files under one key.
//! * Each chunk's **associated data** is the whole header, the chunk index (u64 big-endian)
//!   and a final-chunk flag. Editing the header, swapping or dropping chunks, cutting the
//!   file short or appending to it all fail authentication. Only the last chunk carries the
//!   flag, and it is never empty unless the whole recording is.
//!
//! Memory use is one chunk (64 KiB) per reader or writer, whatever the file size.
//!
//! # Streaming caveat
//!
//! Each chunk is authenticated before its plaintext is released, but a streaming reader
//! releases chunk 1 before it knows that chunk 2 is intact. [`decrypt_file`] writes to a
//! temporary file and renames it only when the whole file checked out; callers of
//! [`decrypt_to`] or [`DecryptingReader`] must discard what they received on error.

mod keyring;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand::RngCore;

pub use keyring::{decode_key_text, KeyId, Keyring, KeyringError, MAX_KEY_ID_LEN};
use keyring::{KeyEntry, KEY_CHECK_LEN};

/// First bytes of every encrypted recording.
pub const MAGIC: [u8; 6] = *b"IVRENC";
/// The format version written by this build.
pub const VERSION: u8 = 1;
/// Plaintext bytes per chunk written by this build.
pub const CHUNK_SIZE: usize = 1 << CHUNK_LOG2;
const CHUNK_LOG2: u8 = 16;
/// Chunk sizes a reader accepts (1 KiB to 1 MiB), so a hostile header cannot make it
/// allocate more.
const CHUNK_LOG2_RANGE: std::ops::RangeInclusive<u8> = 10..=20;
const TAG_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const FIXED_HEADER_LEN: usize = 6 + 1 + 1 + NONCE_LEN + KEY_CHECK_LEN + 1;

/// What went wrong reading or writing an encrypted recording. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    /// The file system refused.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "create", …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file does not start with the magic bytes.
    #[error("{} is not an encrypted recording (no IVRENC header); if it is a plain WAV file, play it directly", path.display())]
    NotEncrypted {
        /// The file.
        path: PathBuf,
    },
    /// A format version this build does not know.
    #[error("{} uses encrypted-recording format version {version}, which this build cannot read: upgrade ivr", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version byte found.
        version: u8,
    },
    /// A header that cannot be valid.
    #[error("{} has a damaged header ({reason}); restore it from a backup", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The file's key is not in the keyring.
    #[error(
        "{} was encrypted with key {key_id}, which is not in the keyring: add key {key_id} to {source_name} \
         (after the active key) to read it",
        path.display()
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key id in the file's header.
        key_id: String,
        /// Where keys are configured.
        source_name: String,
    },
    /// The keyring has a key with the file's id, but it is a different key.
    #[error(
        "{} was encrypted with a different key than the one named {key_id} in {source_name}: restore the \
         original key {key_id}",
        path.display()
    )]
    WrongKey {
        /// The file.
        path: PathBuf,
        /// The key id in the file's header.
        key_id: String,
        /// Where keys are configured.
        source_name: String,
    },
    /// A chunk failed authentication.
    #[error("{}: chunk {chunk} failed authentication: the file was modified or damaged; restore it from a backup", path.display())]
    Tampered {
        /// The file.
        path: PathBuf,
        /// Index of the first bad chunk.
        chunk: u64,
    },
    /// The file ends before its final chunk.
    #[error(
        "{} is truncated after {chunks} chunk(s): it was cut short (a copy that did not finish, or a recorder \
         stopped without finishing the file)",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// How many intact chunks precede the cut.
        chunks: u64,
    },
    /// Bytes follow the final chunk.
    #[error("{} has data after its final chunk: something was appended; restore it from a backup", path.display())]
    TrailingData {
        /// The file.
        path: PathBuf,
    },
}

impl CryptError {
    fn io<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> CryptError + 'p {
        move |source| CryptError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

fn nonce_for(base: &[u8; NONCE_LEN], chunk: u64) -> [u8; NONCE_LEN] {
    let mut n = *base;
    for (b, c) in n[NONCE_LEN - 8..].iter_mut().zip(chunk.to_be_bytes()) {
        *b ^= c;
    }
    n
}

/// Sets `aad` to header + chunk index + final flag.
fn set_aad(aad: &mut Vec<u8>, header_len: usize, chunk: u64, last: bool) {
    aad.truncate(header_len);
    aad.extend_from_slice(&chunk.to_be_bytes());
    aad.push(u8::from(last));
}

/// Encrypts everything written to it into the chunked format, streaming: memory use is
/// one chunk. Call [`EncryptingWriter::finish`] to seal the final chunk; a writer dropped
/// without it leaves a file that readers report as truncated (never one that silently
/// reads as complete).
pub struct EncryptingWriter<W: Write> {
    inner: W,
    cipher: Aes256Gcm,
    nonce_base: [u8; NONCE_LEN],
    /// Header, then the per-chunk suffix.
    aad: Vec<u8>,
    header_len: usize,
    buf: Vec<u8>,
    chunk: u64,
}

impl<W: Write> EncryptingWriter<W> {
    /// Writes the header (with the keyring's active key id and a fresh random nonce base)
    /// to `inner` and returns the writer.
    pub fn new(mut inner: W, keyring: &Keyring) -> io::Result<Self> {
        let key = keyring.active();
        let mut nonce_base = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce_base);
        let id = key.id.as_str().as_bytes();
        let mut header = Vec::with_capacity(FIXED_HEADER_LEN + id.len() + 9);
        header.extend_from_slice(&MAGIC);
        header.push(VERSION);
        header.push(CHUNK_LOG2);
        header.extend_from_slice(&nonce_base);
        header.extend_from_slice(&key.check);
        // KeyId guarantees 1..=64 bytes.
        header.push(id.len() as u8);
        header.extend_from_slice(id);
        inner.write_all(&header)?;
        Ok(EncryptingWriter {
            inner,
            cipher: key.cipher.clone(),
            nonce_base,
            header_len: header.len(),
            aad: header,
            buf: Vec::with_capacity(CHUNK_SIZE),
            chunk: 0,
        })
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        set_aad(&mut self.aad, self.header_len, self.chunk, last);
        let nonce = nonce_for(&self.nonce_base, self.chunk);
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &self.aad, &mut self.buf)
            .map_err(|_| io::Error::other("chunk too large to encrypt"))?;
        self.inner.write_all(&self.buf)?;
        self.inner.write_all(&tag)?;
        self.buf.clear();
        self.chunk += 1;
        Ok(())
    }

    /// Seals the final chunk, flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        // A full chunk is sealed only once more data arrives, so the final chunk is never
        // empty unless the whole stream is.
        if self.buf.len() == CHUNK_SIZE {
            self.seal(false)?;
        }
        let n = data.len().min(CHUNK_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    /// Flushes sealed chunks to the inner writer; the partly filled chunk stays buffered.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The parsed header of an encrypted recording.
struct Header {
    bytes: Vec<u8>,
    chunk_size: usize,
    nonce_base: [u8; NONCE_LEN],
    key_check: [u8; KEY_CHECK_LEN],
    key_id: String,
}

fn read_header(r: &mut impl Read, path: &Path) -> Result<Header, CryptError> {
    let mut fixed = [0u8; FIXED_HEADER_LEN];
    let got = read_full(r, &mut fixed).map_err(CryptError::io("read", path))?;
    if got < MAGIC.len() || fixed[..MAGIC.len()] != MAGIC {
        return Err(CryptError::NotEncrypted {
            path: path.to_owned(),
        });
    }
    let bad = |reason| CryptError::BadHeader {
        path: path.to_owned(),
        reason,
    };
    if got < 7 {
        return Err(bad("cut short"));
    }
    if fixed[6] != VERSION {
        return Err(CryptError::UnsupportedVersion {
            path: path.to_owned(),
            version: fixed[6],
        });
    }
    if got < FIXED_HEADER_LEN {
        return Err(bad("cut short"));
    }
    let log2 = fixed[7];
    if !CHUNK_LOG2_RANGE.contains(&log2) {
        return Err(bad("impossible chunk size"));
    }
    let mut nonce_base = [0u8; NONCE_LEN];
    nonce_base.copy_from_slice(&fixed[8..8 + NONCE_LEN]);
    let mut key_check = [0u8; KEY_CHECK_LEN];
    key_check.copy_from_slice(&fixed[8 + NONCE_LEN..8 + NONCE_LEN + KEY_CHECK_LEN]);
    let id_len = usize::from(fixed[FIXED_HEADER_LEN - 1]);
    if id_len == 0 || id_len > MAX_KEY_ID_LEN {
        return Err(bad("impossible key id length"));
    }
    let mut id = vec![0u8; id_len];
    if read_full(r, &mut id).map_err(CryptError::io("read", path))? < id_len {
        return Err(bad("cut short"));
    }
    let key_id = String::from_utf8(id.clone())
        .ok()
        .filter(|s| KeyId::new(s).is_some())
        .ok_or_else(|| bad("key id is not valid"))?;
    let mut bytes = Vec::with_capacity(FIXED_HEADER_LEN + id_len + 9);
    bytes.extend_from_slice(&fixed);
    bytes.extend_from_slice(&id);
    Ok(Header {
        bytes,
        chunk_size: 1 << log2,
        nonce_base,
        key_check,
        key_id,
    })
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

fn key_for<'k>(
    keyring: &'k Keyring,
    header: &Header,
    path: &Path,
) -> Result<&'k KeyEntry, CryptError> {
    let key = keyring
        .get(&header.key_id)
        .ok_or_else(|| CryptError::UnknownKey {
            path: path.to_owned(),
            key_id: header.key_id.clone(),
            source_name: keyring.source_name().to_owned(),
        })?;
    if key.check != header.key_check {
        return Err(CryptError::WrongKey {
            path: path.to_owned(),
            key_id: header.key_id.clone(),
            source_name: keyring.source_name().to_owned(),
        });
    }
    Ok(key)
}

/// Decrypts the chunked format as a [`Read`]er, one chunk in memory. Errors from `read`
/// are `io::ErrorKind::InvalidData` wrapping a [`CryptError`] (get it with
/// `io::Error::into_inner` and `downcast`). See the module's streaming caveat.
pub struct DecryptingReader<R: Read> {
    inner: R,
    path: PathBuf,
    cipher: Aes256Gcm,
    nonce_base: [u8; NONCE_LEN],
    aad: Vec<u8>,
    header_len: usize,
    chunk_size: usize,
    /// One record: ciphertext + tag, decrypted in place.
    buf: Vec<u8>,
    plain: std::ops::Range<usize>,
    /// A byte read to learn that the previous record was not the last.
    peeked: Option<u8>,
    chunk: u64,
    done: bool,
}

impl<R: Read> DecryptingReader<R> {
    /// Reads the header from `inner` and picks the file's key from `keyring`; `path` names the
    /// source in errors.
    pub fn new(
        mut inner: R,
        keyring: &Keyring,
        path: impl Into<PathBuf>,
    ) -> Result<Self, CryptError> {
        let path = path.into();
        let header = read_header(&mut inner, &path)?;
        let key = key_for(keyring, &header, &path)?;
        Ok(DecryptingReader {
            inner,
            cipher: key.cipher.clone(),
            nonce_base: header.nonce_base,
            header_len: header.bytes.len(),
            aad: header.bytes,
            chunk_size: header.chunk_size,
            buf: Vec::with_capacity(header.chunk_size + TAG_LEN),
            plain: 0..0,
            peeked: None,
            chunk: 0,
            done: false,
            path,
        })
    }

    /// The id of the key the file was written with.
    pub fn key_id(&self) -> &str {
        // The id is the header's tail, validated as ASCII by `read_header`.
        std::str::from_utf8(&self.aad[FIXED_HEADER_LEN..self.header_len]).unwrap_or("")
    }

    /// Decrypts the next chunk into `buf`; `Ok(false)` once the final chunk was consumed.
    fn next_chunk(&mut self) -> Result<bool, CryptError> {
        if self.done {
            return Ok(false);
        }
        let record = self.chunk_size + TAG_LEN;
        self.buf.clear();
        self.buf.resize(record, 0);
        let mut n = 0;
        if let Some(b) = self.peeked.take() {
            self.buf[0] = b;
            n = 1;
        }
        n += read_full(&mut self.inner, &mut self.buf[n..])
            .map_err(CryptError::io("read", &self.path))?;
        let last = if n == record {
            let mut one = [0u8; 1];
            let more =
                read_full(&mut self.inner, &mut one).map_err(CryptError::io("read", &self.path))?;
            self.peeked = (more == 1).then_some(one[0]);
            more == 0
        } else {
            true
        };
        if n < TAG_LEN {
            return Err(CryptError::Truncated {
                path: self.path.clone(),
                chunks: self.chunk,
            });
        }
        let (data, tag) = self.buf[..n].split_at_mut(n - TAG_LEN);
        let tag = Tag::clone_from_slice(tag);
        let nonce = nonce_for(&self.nonce_base, self.chunk);
        let nonce = Nonce::from_slice(&nonce);
        set_aad(&mut self.aad, self.header_len, self.chunk, last);
        if self
            .cipher
            .decrypt_in_place_detached(nonce, &self.aad, data, &tag)
            .is_err()
        {
            // Tell a cut or an append apart from an edit: the chunk is intact under the
            // other flag. Decryption failure leaves `data` untouched, so retrying is sound.
            set_aad(&mut self.aad, self.header_len, self.chunk, !last);
            let other = self
                .cipher
                .decrypt_in_place_detached(nonce, &self.aad, data, &tag)
                .is_ok();
            let path = self.path.clone();
            return Err(match (other, last) {
                (true, true) => CryptError::Truncated {
                    path,
                    chunks: self.chunk + 1,
                },
                (true, false) => CryptError::TrailingData { path },
                (false, _) => CryptError::Tampered {
                    path,
                    chunk: self.chunk,
                },
            });
        }
        self.plain = 0..n - TAG_LEN;
        self.chunk += 1;
        self.done = last;
        Ok(true)
    }

    /// Copies all remaining plaintext to `out`; returns the bytes written.
    fn copy_to(&mut self, out: &mut impl Write, out_path: &Path) -> Result<u64, CryptError> {
        let mut total = 0u64;
        loop {
            if !self.plain.is_empty() {
                out.write_all(&self.buf[self.plain.clone()])
                    .map_err(CryptError::io("write", out_path))?;
                total += self.plain.len() as u64;
                self.plain = 0..0;
            }
            if !self.next_chunk()? {
                return Ok(total);
            }
        }
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.plain.is_empty() {
            if !self
                .next_chunk()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                return Ok(0);
            }
        }
        let n = out.len().min(self.plain.len());
        out[..n].copy_from_slice(&self.buf[self.plain.start..self.plain.start + n]);
        self.plain.start += n;
        Ok(n)
    }
}

/// The id of the key `path` was encrypted with (read from its header, no key needed).
pub fn key_id_of(path: &Path) -> Result<KeyId, CryptError> {
    let mut f = File::open(path).map_err(CryptError::io("open", path))?;
    let header = read_header(&mut f, path)?;
    KeyId::new(&header.key_id).ok_or(CryptError::BadHeader {
        path: path.to_owned(),
        reason: "key id is not valid",
    })
}

/// Encrypts `src` into `dst` with the keyring's active key. Writes `dst.partial` first
/// (mode 0600 on Unix), syncs it, then renames it over `dst`; on error nothing is left at
/// `dst`. `src` and `dst` may be the same path (in-place encryption).
pub fn encrypt_file(src: &Path, dst: &Path, keyring: &Keyring) -> Result<(), CryptError> {
    let mut input = File::open(src).map_err(CryptError::io("open", src))?;
    write_atomically(dst, |out, partial| {
        let mut w =
            EncryptingWriter::new(out, keyring).map_err(CryptError::io("write", partial))?;
        copy_plain(&mut input, src, &mut w, partial)?;
        w.finish().map_err(CryptError::io("write", partial))
    })
}

fn copy_plain(
    input: &mut File,
    src: &Path,
    w: &mut impl Write,
    dst: &Path,
) -> Result<(), CryptError> {
    let mut buf = vec![0u8; CHUNK_SIZE];
    loop {
        let n = read_full(input, &mut buf).map_err(CryptError::io("read", src))?;
        if n == 0 {
            return Ok(());
        }
        w.write_all(&buf[..n])
            .map_err(CryptError::io("write", dst))?;
    }
}

/// Decrypts `src` into `dst`, which appears only once every chunk has authenticated (a
/// damaged file leaves no partial plaintext behind). Returns the plaintext length.
pub fn decrypt_file(src: &Path, dst: &Path, keyring: &Keyring) -> Result<u64, CryptError> {
    let input = File::open(src).map_err(CryptError::io("open", src))?;
    let mut reader = DecryptingReader::new(io::BufReader::new(input), keyring, src)?;
    let mut total = 0;
    write_atomically(dst, |mut out, partial| {
        total = reader.copy_to(&mut out, partial)?;
        Ok(out)
    })?;
    Ok(total)
}

/// Decrypts `src` into `out`, streaming; returns the plaintext length. On error `out` may
/// already hold the plaintext of the chunks before the bad one: discard it.
pub fn decrypt_to(src: &Path, mut out: impl Write, keyring: &Keyring) -> Result<u64, CryptError> {
    let input = File::open(src).map_err(CryptError::io("open", src))?;
    let mut reader = DecryptingReader::new(io::BufReader::new(input), keyring, src)?;
    let out_path = Path::new("the output");
    let total = reader.copy_to(&mut out, out_path)?;
    out.flush().map_err(CryptError::io("write", out_path))?;
    Ok(total)
}

/// Runs `fill` on `dst.partial`, syncs and renames it to `dst`; removes it on error.
fn write_atomically(
    dst: &Path,
    fill: impl FnOnce(io::BufWriter<File>, &Path) -> Result<io::BufWriter<File>, CryptError>,
) -> Result<(), CryptError> {
    let mut name = dst.as_os_str().to_owned();
    name.push(".partial");
    let partial = PathBuf::from(name);
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let file = opts
        .open(&partial)
        .map_err(CryptError::io("create", &partial))?;
    let result = fill(io::BufWriter::new(file), &partial).and_then(|w| {
        let file = w.into_inner().map_err(|e| CryptError::Io {
            action: "write",
            path: partial.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(CryptError::io("sync", &partial))?;
        fs::rename(&partial, dst).map_err(CryptError::io("rename into place", dst))
    });
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

#[cfg(test)]
mod tests;
