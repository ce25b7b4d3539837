use super::*;

const K1: &str = "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const K1_OTHER: &str = "k1:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
const K2: &str = "k2:q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
const SRC: &str = "environment variable IVR_RECORDING_KEYS";

fn ring(spec: &str) -> Keyring {
    Keyring::parse(spec, SRC).unwrap()
}

fn seal(plain: &[u8], keyring: &Keyring) -> Vec<u8> {
    let mut w = EncryptingWriter::new(Vec::new(), keyring).unwrap();
    // Uneven writes exercise the chunk buffer.
    for part in plain.chunks(7919) {
        w.write_all(part).unwrap();
    }
    w.finish().unwrap()
}

fn open(sealed: &[u8], keyring: &Keyring) -> Result<Vec<u8>, CryptError> {
    let mut r = DecryptingReader::new(sealed, keyring, "rec.wav.enc")?;
    let mut out = Vec::new();
    r.copy_to(&mut out, Path::new("mem"))?;
    Ok(out)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn header_len(sealed: &[u8]) -> usize {
    FIXED_HEADER_LEN + usize::from(sealed[FIXED_HEADER_LEN - 1])
}

#[test]
fn round_trip_at_every_chunk_boundary_size() {
    let ring = ring(K1);
    for len in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        2 * CHUNK_SIZE,
        3 * CHUNK_SIZE + 123,
    ] {
        let plain = pattern(len);
        let sealed = seal(&plain, &ring);
        let chunks = len.div_ceil(CHUNK_SIZE).max(1);
        assert_eq!(
            sealed.len(),
            header_len(&sealed) + len + chunks * TAG_LEN,
            "len {len}"
        );
        assert_eq!(open(&sealed, &ring).unwrap(), plain, "len {len}");
    }
}

#[test]
fn real_recording_round_trips_through_files_and_ciphertext_hides_it() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("call.wav");
    let status = std::process::Command::new("espeak-ng")
        .args([
            "-w",
            wav.to_str().unwrap(),
            "Your card number is four one one one, one one one one.",
        ])
        .status()
        .expect("espeak-ng is installed");
    assert!(status.success());
    let plain = fs::read(&wav).unwrap();
    assert!(
        plain.len() > 2 * CHUNK_SIZE,
        "espeak-ng output is {} bytes",
        plain.len()
    );
    let ring = ring(K1);
    let enc = dir.path().join("call.wav.enc");
    encrypt_file(&wav, &enc, &ring).unwrap();
    let sealed = fs::read(&enc).unwrap();
    // No 8-byte run of the recording (past its all-zero silence) appears in the ciphertext.
    let body = &sealed[header_len(&sealed)..];
    for window in plain
        .windows(8)
        .step_by(97)
        .filter(|w| w.iter().any(|&b| b != 0))
    {
        assert!(
            !body.windows(8).any(|c| c == window),
            "plaintext run {window:?} found in ciphertext"
        );
    }
    assert!(!sealed.windows(4).any(|w| w == b"RIFF" || w == b"WAVE"));
    let back = dir.path().join("back.wav");
    assert_eq!(
        decrypt_file(&enc, &back, &ring).unwrap(),
        plain.len() as u64
    );
    assert_eq!(fs::read(&back).unwrap(), plain);
    assert_eq!(key_id_of(&enc).unwrap().as_str(), "k1");
    let mut streamed = Vec::new();
    decrypt_to(&enc, &mut streamed, &ring).unwrap();
    assert_eq!(streamed, plain);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&enc).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn same_plaintext_encrypts_differently_each_time() {
    let ring = ring(K1);
    let plain = pattern(1000);
    assert_ne!(seal(&plain, &ring), seal(&plain, &ring));
}

#[test]
fn wrong_key_under_the_same_id_is_reported_as_wrong_key() {
    let sealed = seal(&pattern(5000), &ring(K1));
    let err = open(&sealed, &ring(K1_OTHER)).unwrap_err();
    assert!(
        matches!(err, CryptError::WrongKey { ref key_id, .. } if key_id == "k1"),
        "{err}"
    );
    assert!(err.to_string().contains("rec.wav.enc"), "{err}");
}

#[test]
fn unknown_key_id_says_which_key_to_add_and_where() {
    let sealed = seal(&pattern(10), &ring(K1));
    let err = open(&sealed, &ring(K2)).unwrap_err();
    assert!(matches!(err, CryptError::UnknownKey { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("add key k1 to environment variable IVR_RECORDING_KEYS"),
        "{msg}"
    );
    assert!(msg.contains("rec.wav.enc"), "{msg}");
}

#[test]
fn any_flipped_byte_after_the_key_fields_fails_authentication() {
    let ring = ring(K1);
    let sealed = seal(&pattern(2 * CHUNK_SIZE + 500), &ring);
    let h = header_len(&sealed);
    // Nonce base, the key id, chunk bodies and tags of every chunk.
    let body_positions = [
        h,
        h + 1,
        h + CHUNK_SIZE + 3,
        h + CHUNK_SIZE + TAG_LEN + 10,
        sealed.len() - 1,
    ];
    for pos in (8..8 + NONCE_LEN)
        .chain(FIXED_HEADER_LEN..h)
        .chain(body_positions)
    {
        let mut bad = sealed.clone();
        bad[pos] ^= 0x01;
        let err = open(&bad, &ring).unwrap_err();
        let expected = matches!(
            err,
            CryptError::Tampered { .. } | CryptError::UnknownKey { .. }
        );
        assert!(expected, "byte {pos}: {err}");
    }
    let mut bad = sealed.clone();
    bad[h + CHUNK_SIZE + TAG_LEN + 10] ^= 0x80;
    assert!(matches!(
        open(&bad, &ring),
        Err(CryptError::Tampered { chunk: 1, .. })
    ));
}

#[test]
fn damaged_header_fields_are_named() {
    let ring = ring(K1);
    let sealed = seal(&pattern(100), &ring);
    let mut v = sealed.clone();
    v[6] = 9;
    assert!(matches!(
        open(&v, &ring),
        Err(CryptError::UnsupportedVersion { version: 9, .. })
    ));
    let mut v = sealed.clone();
    v[7] = 40;
    assert!(matches!(open(&v, &ring), Err(CryptError::BadHeader { .. })));
    let mut v = sealed.clone();
    v[8 + NONCE_LEN] ^= 1;
    assert!(matches!(open(&v, &ring), Err(CryptError::WrongKey { .. })));
    assert!(matches!(
        open(b"RIFF....WAVEfmt ", &ring),
        Err(CryptError::NotEncrypted { .. })
    ));
    assert!(matches!(
        open(b"IVRENC\x01", &ring),
        Err(CryptError::BadHeader { .. })
    ));
}

#[test]
fn truncation_at_a_chunk_boundary_is_reported_as_truncated() {
    let ring = ring(K1);
    let sealed = seal(&pattern(3 * CHUNK_SIZE), &ring);
    let h = header_len(&sealed);
    for chunks in [0u64, 1, 2] {
        let cut = &sealed[..h + chunks as usize * (CHUNK_SIZE + TAG_LEN)];
        match open(cut, &ring) {
            Err(CryptError::Truncated { chunks: c, .. }) => assert_eq!(c, chunks),
            other => panic!("cut after {chunks} chunks: {other:?}"),
        }
    }
    // A cut anywhere else fails too.
    for cut in [h + 5, h + CHUNK_SIZE + TAG_LEN + 17, sealed.len() - 1] {
        assert!(open(&sealed[..cut], &ring).is_err(), "cut at {cut}");
    }
}

#[test]
fn reordered_chunks_and_appended_data_are_detected() {
    let ring = ring(K1);
    let sealed = seal(&pattern(3 * CHUNK_SIZE), &ring);
    let h = header_len(&sealed);
    let rec = CHUNK_SIZE + TAG_LEN;
    let mut swapped = sealed[..h].to_vec();
    swapped.extend_from_slice(&sealed[h + rec..h + 2 * rec]);
    swapped.extend_from_slice(&sealed[h..h + rec]);
    swapped.extend_from_slice(&sealed[h + 2 * rec..]);
    assert!(matches!(
        open(&swapped, &ring),
        Err(CryptError::Tampered { chunk: 0, .. })
    ));
    // The last chunk repeated after itself: a full final chunk then more bytes.
    let mut appended = sealed.clone();
    appended.extend_from_slice(&sealed[h + 2 * rec..]);
    assert!(matches!(
        open(&appended, &ring),
        Err(CryptError::TrailingData { .. })
    ));
}

#[test]
fn files_written_with_a_rotated_key_still_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let old = ring(K1);
    let plain = pattern(CHUNK_SIZE + 77);
    let src = dir.path().join("a.wav");
    fs::write(&src, &plain).unwrap();
    let enc_old = dir.path().join("old.enc");
    encrypt_file(&src, &enc_old, &old).unwrap();
    // Rotation: k2 becomes active, k1 stays for reading.
    let rotated = ring(&format!("{K2},{K1}"));
    let enc_new = dir.path().join("new.enc");
    encrypt_file(&src, &enc_new, &rotated).unwrap();
    assert_eq!(key_id_of(&enc_old).unwrap().as_str(), "k1");
    assert_eq!(key_id_of(&enc_new).unwrap().as_str(), "k2");
    let out = dir.path().join("out.wav");
    for f in [&enc_old, &enc_new] {
        decrypt_file(f, &out, &rotated).unwrap();
        assert_eq!(fs::read(&out).unwrap(), plain);
    }
    // Once k1 is dropped, old files name the key to restore.
    let err = decrypt_file(&enc_old, &out, &ring(K2)).unwrap_err();
    assert!(err.to_string().contains("add key k1"), "{err}");
}

#[test]
fn failed_decryption_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let ring = ring(K1);
    let enc = dir.path().join("x.enc");
    let mut sealed = seal(&pattern(2 * CHUNK_SIZE + 1), &ring);
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    fs::write(&enc, &sealed).unwrap();
    let out = dir.path().join("x.wav");
    assert!(matches!(
        decrypt_file(&enc, &out, &ring),
        Err(CryptError::Tampered { chunk: 2, .. })
    ));
    assert!(!out.exists());
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no .partial file left"
    );
    let missing = dir.path().join("missing.wav");
    let err = encrypt_file(&missing, &out, &ring).unwrap_err();
    assert!(err.to_string().contains("missing.wav"), "{err}");
}

#[test]
fn encrypting_in_place_replaces_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let ring = ring(K1);
    let f = dir.path().join("rec.wav");
    fs::write(&f, pattern(1234)).unwrap();
    encrypt_file(&f, &f, &ring).unwrap();
    assert_eq!(&fs::read(&f).unwrap()[..6], b"IVRENC");
    let mut out = Vec::new();
    decrypt_to(&f, &mut out, &ring).unwrap();
    assert_eq!(out, pattern(1234));
}

#[test]
fn reader_errors_carry_the_crypt_error() {
    let ring = ring(K1);
    let mut sealed = seal(&pattern(100), &ring);
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    let mut r = DecryptingReader::new(sealed.as_slice(), &ring, "rec.enc").unwrap();
    assert_eq!(r.key_id(), "k1");
    let err = r.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let inner = err.into_inner().unwrap().downcast::<CryptError>().unwrap();
    assert!(matches!(*inner, CryptError::Tampered { chunk: 0, .. }));
}

#[test]
fn hostile_headers_never_panic() {
    let ring = ring(K1);
    let sealed = seal(&pattern(300), &ring);
    for len in 0..sealed.len() {
        let _ = open(&sealed[..len], &ring);
    }
    for pos in 0..header_len(&sealed) {
        for v in [0u8, 1, 0x40, 0xff] {
            let mut bad = sealed.clone();
            bad[pos] = v;
            let _ = open(&bad, &ring);
        }
    }
}

#[test]
fn encryption_throughput_is_reported() {
    let ring = ring(K1);
    // Debug builds run AES in software without optimisation: keep the test quick there.
    let plain = pattern(if cfg!(debug_assertions) {
        1 << 20
    } else {
        64 << 20
    });
    let started = std::time::Instant::now();
    let sealed = seal(&plain, &ring);
    let enc = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let back = open(&sealed, &ring).unwrap();
    let dec = started.elapsed().as_secs_f64();
    assert_eq!(back.len(), plain.len());
    println!(
        "AES-256-GCM chunked: encrypt {:.0} MB/s, decrypt {:.0} MB/s",
        plain.len() as f64 / enc / 1e6,
        plain.len() as f64 / dec / 1e6
    );
}
