//! The ggml model file of whisper.cpp (`ggml-*.bin`), read and checked in Rust before
//! whisper.cpp sees it.
//!
//! whisper.cpp's loader (`whisper_model_load`) trusts the file: a wrong type code ends the
//! process in a `GGML_ASSERT`, a huge count throws `std::bad_alloc` through the C API (an
//! abort), and a truncated file leaves weights uninitialised. [`inspect`] therefore walks the
//! whole file first and accepts only what the loader handles:
//!
//! ```text
//!  u32 magic 0x67676d6c ("ggml")
//!  11 × i32 hparams   n_vocab n_audio_ctx n_audio_state n_audio_head n_audio_layer
//!                     n_text_ctx n_text_state n_text_head n_text_layer n_mels ftype
//!  i32 n_mel, i32 n_fft, n_mel × n_fft f32       mel filter bank
//!  i32 n, n × (u32 len, len bytes)                vocabulary (the rest is generated)
//!  per tensor: i32 n_dims, i32 name_len, i32 type, n_dims × i32 ne, name, data
//! ```
//!
//! Every tensor the model needs must be present once, with the shape the hparams imply and
//! all its data; the file may end with fewer than 12 stray bytes (the loader stops there).
//! [`write_random_model`] writes a valid file with random weights, for tests and benchmarks.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::asr::AsrError;

/// The first four bytes of a ggml file, little-endian `"ggml"`.
pub const GGML_MAGIC: u32 = 0x6767_6d6c;
/// The first four bytes of a GGUF file (which whisper.cpp does not read).
const GGUF_MAGIC: u32 = 0x4655_4747;
/// Bins of whisper's 400-point FFT (0 to Nyquist); the only filter width the front end takes.
const N_FFT_BINS: i32 = 201;
/// Quantisation version factor folded into `ftype`.
const QNT_VERSION_FACTOR: i32 = 1000;
/// Longest vocabulary entry accepted (real entries are under 130 bytes).
const MAX_TOKEN_BYTES: u32 = 1024;
/// Longest tensor name accepted.
const MAX_NAME_BYTES: i32 = 256;

/// A model's hyper-parameters, as stored in the file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    /// Vocabulary size: 51864 (English-only), 51865 (multilingual) or 51866 (large-v3).
    pub n_vocab: i32,
    /// Encoder positions (1500 for 30 s windows).
    pub n_audio_ctx: i32,
    /// Encoder width.
    pub n_audio_state: i32,
    /// Encoder attention heads.
    pub n_audio_head: i32,
    /// Encoder layers.
    pub n_audio_layer: i32,
    /// Decoder positions (448).
    pub n_text_ctx: i32,
    /// Decoder width (equal to the encoder's).
    pub n_text_state: i32,
    /// Decoder attention heads.
    pub n_text_head: i32,
    /// Decoder layers.
    pub n_text_layer: i32,
    /// Mel bands: 80, or 128 for large-v3.
    pub n_mels: i32,
    /// Weight type (`0` f32, `1` f16, quantised types above), without the quantisation version.
    pub ftype: i32,
}

impl Hparams {
    /// The smallest model whisper.cpp loads and runs: one layer each side, width 16, two
    /// heads, the full multilingual vocabulary (its special tokens sit at fixed ids above
    /// 50,000), full-length contexts and f16 weights; about 2 MB.
    pub fn tiny_random() -> Hparams {
        Hparams {
            n_vocab: 51865,
            n_audio_ctx: 1500,
            n_audio_state: 16,
            n_audio_head: 2,
            n_audio_layer: 1,
            n_text_ctx: 448,
            n_text_state: 16,
            n_text_head: 2,
            n_text_layer: 1,
            n_mels: 80,
            ftype: 1,
        }
    }

    /// Whether the model knows languages other than English.
    pub fn is_multilingual(&self) -> bool {
        self.n_vocab >= 51865
    }

    /// How many languages the model's vocabulary has tokens for.
    pub fn languages(&self) -> usize {
        if self.is_multilingual() {
            (self.n_vocab - 51765 - 1).max(0) as usize
        } else {
            1
        }
    }

    /// The size name whisper.cpp gives a model with this many encoder layers.
    pub fn size_name(&self) -> &'static str {
        match self.n_audio_layer {
            4 => "tiny",
            6 => "base",
            12 => "small",
            24 => "medium",
            32 => "large",
            _ => "custom",
        }
    }

    /// Checks what whisper.cpp relies on without checking itself.
    fn check(&self) -> Result<(), String> {
        let h = self;
        if !(51864..=51866).contains(&h.n_vocab) {
            return Err(format!(
                "vocabulary size {} is not a Whisper vocabulary (51864, 51865 or 51866)",
                h.n_vocab
            ));
        }
        let ranges: [(&str, i32, i32, i32); 8] = [
            ("n_audio_ctx", h.n_audio_ctx, 16, 1500),
            ("n_audio_state", h.n_audio_state, 1, 4096),
            ("n_audio_head", h.n_audio_head, 1, 64),
            ("n_audio_layer", h.n_audio_layer, 1, 64),
            ("n_text_ctx", h.n_text_ctx, 16, 448),
            ("n_text_head", h.n_text_head, 1, 64),
            ("n_text_layer", h.n_text_layer, 1, 64),
            ("n_text_state", h.n_text_state, 1, 4096),
        ];
        for (name, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(format!("{name} = {value} is outside {min}..={max}"));
            }
        }
        if h.n_text_state != h.n_audio_state {
            return Err(format!(
                "decoder width {} differs from encoder width {}",
                h.n_text_state, h.n_audio_state
            ));
        }
        if h.n_audio_state % h.n_audio_head != 0 || h.n_text_state % h.n_text_head != 0 {
            return Err("the model width is not a multiple of its attention heads".into());
        }
        if h.n_mels != 80 && h.n_mels != 128 {
            return Err(format!("{} mel bands (80 or 128 expected)", h.n_mels));
        }
        if weight_type(h.ftype).is_none() {
            return Err(format!("unsupported weight type (ftype {})", h.ftype));
        }
        if h.ftype == 0 {
            // All-f32 files load, but the encoder's convolution (im2col) only takes f16
            // kernels and aborts the process on the first utterance.
            return Err("all-f32 models (ftype 0) cannot run in whisper.cpp 1.8; \
                        use the f16 or a quantised model"
                .into());
        }
        Ok(())
    }
}

/// What [`inspect`] found in a model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The header.
    pub hparams: Hparams,
    /// Vocabulary entries stored in the file.
    pub vocab_entries: usize,
    /// Weight tensors.
    pub tensors: usize,
    /// File size in bytes.
    pub file_bytes: u64,
}

/// A ggml element type: its id, bytes per block and elements per block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Type {
    id: i32,
    block_bytes: u64,
    block_len: u64,
}

const F32: Type = Type {
    id: 0,
    block_bytes: 4,
    block_len: 1,
};
const F16: Type = Type {
    id: 1,
    block_bytes: 2,
    block_len: 1,
};

/// The ggml types a Whisper file can hold (`ggml_type` ids and `type_traits` sizes).
fn ggml_type(id: i32) -> Option<Type> {
    let (block_bytes, block_len) = match id {
        0 => (4, 1),      // F32
        1 => (2, 1),      // F16
        2 => (18, 32),    // Q4_0
        3 => (20, 32),    // Q4_1
        6 => (22, 32),    // Q5_0
        7 => (24, 32),    // Q5_1
        8 => (34, 32),    // Q8_0
        9 => (36, 32),    // Q8_1
        10 => (84, 256),  // Q2_K
        11 => (110, 256), // Q3_K
        12 => (144, 256), // Q4_K
        13 => (176, 256), // Q5_K
        14 => (210, 256), // Q6_K
        15 => (292, 256), // Q8_K
        30 => (2, 1),     // BF16
        _ => return None,
    };
    Some(Type {
        id,
        block_bytes,
        block_len,
    })
}

/// The weight type of a file `ftype` (`ggml_ftype_to_ggml_type`, which aborts on any other).
fn weight_type(ftype: i32) -> Option<Type> {
    let id = match ftype {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        7 => 8,
        8 => 6,
        9 => 7,
        10..=14 => ftype,
        24 => 30,
        _ => return None,
    };
    ggml_type(id)
}

/// A tensor the model needs: name, shape (`ne`, innermost first) and element type.
#[derive(Debug)]
struct Spec {
    name: String,
    ne: [i64; 4],
    ty: Type,
}

impl Spec {
    fn elements(&self) -> u64 {
        self.ne.iter().map(|&n| n as u64).product()
    }

    /// `ggml_nbytes` of the tensor.
    fn bytes(&self) -> u64 {
        let rows = self.elements() / (self.ne[0] as u64).max(1);
        rows * (self.ne[0] as u64 / self.ty.block_len) * self.ty.block_bytes
    }
}

/// Every tensor `whisper_model_load` creates, in the order the converter writes them.
fn layout(h: &Hparams) -> Result<Vec<Spec>, String> {
    let w = weight_type(h.ftype).ok_or_else(|| format!("unsupported ftype {}", h.ftype))?;
    let conv = if w == F32 { F32 } else { F16 };
    let s = i64::from(h.n_audio_state);
    let t = i64::from(h.n_text_state);
    let mut out = Vec::new();
    let mut add = |name: String, ne: &[i64], ty: Type| {
        let mut full = [1i64; 4];
        full[..ne.len()].copy_from_slice(ne);
        out.push(Spec { name, ne: full, ty });
    };
    add(
        "encoder.positional_embedding".into(),
        &[s, i64::from(h.n_audio_ctx)],
        F32,
    );
    add(
        "encoder.conv1.weight".into(),
        &[3, i64::from(h.n_mels), s],
        conv,
    );
    add("encoder.conv1.bias".into(), &[1, s], F32);
    add("encoder.conv2.weight".into(), &[3, s, s], conv);
    add("encoder.conv2.bias".into(), &[1, s], F32);
    for i in 0..h.n_audio_layer {
        block(&mut add, &format!("encoder.blocks.{i}"), s, w, false);
    }
    add("encoder.ln_post.weight".into(), &[s], F32);
    add("encoder.ln_post.bias".into(), &[s], F32);
    add(
        "decoder.positional_embedding".into(),
        &[t, i64::from(h.n_text_ctx)],
        F32,
    );
    add(
        "decoder.token_embedding.weight".into(),
        &[t, i64::from(h.n_vocab)],
        w,
    );
    for i in 0..h.n_text_layer {
        block(&mut add, &format!("decoder.blocks.{i}"), t, w, true);
    }
    add("decoder.ln.weight".into(), &[t], F32);
    add("decoder.ln.bias".into(), &[t], F32);
    for spec in &out {
        if !(spec.ne[0] as u64).is_multiple_of(spec.ty.block_len) {
            return Err(format!(
                "tensor `{}` has {} columns, not a multiple of its quantisation block of {}",
                spec.name, spec.ne[0], spec.ty.block_len
            ));
        }
    }
    Ok(out)
}

/// The tensors of one transformer block (`cross`: with cross-attention, for the decoder).
fn block(add: &mut impl FnMut(String, &[i64], Type), prefix: &str, s: i64, w: Type, cross: bool) {
    let mut attention = |kind: &str| {
        add(format!("{prefix}.{kind}_ln.weight"), &[s], F32);
        add(format!("{prefix}.{kind}_ln.bias"), &[s], F32);
        add(format!("{prefix}.{kind}.query.weight"), &[s, s], w);
        add(format!("{prefix}.{kind}.query.bias"), &[s], F32);
        add(format!("{prefix}.{kind}.key.weight"), &[s, s], w);
        add(format!("{prefix}.{kind}.value.weight"), &[s, s], w);
        add(format!("{prefix}.{kind}.value.bias"), &[s], F32);
        add(format!("{prefix}.{kind}.out.weight"), &[s, s], w);
        add(format!("{prefix}.{kind}.out.bias"), &[s], F32);
    };
    attention("attn");
    if cross {
        attention("cross_attn");
    }
    add(format!("{prefix}.mlp_ln.weight"), &[s], F32);
    add(format!("{prefix}.mlp_ln.bias"), &[s], F32);
    add(format!("{prefix}.mlp.0.weight"), &[s, 4 * s], w);
    add(format!("{prefix}.mlp.0.bias"), &[4 * s], F32);
    add(format!("{prefix}.mlp.2.weight"), &[4 * s, s], w);
    add(format!("{prefix}.mlp.2.bias"), &[s], F32);
}

/// Checks that `path` is a complete ggml Whisper model whisper.cpp can load. Errors name the
/// path: [`AsrError::ModelMissing`] when it does not exist, [`AsrError::ModelInvalid`] with
/// the reason otherwise.
pub fn inspect(path: &Path) -> Result<ModelInfo, AsrError> {
    let invalid = |reason: String| AsrError::ModelInvalid {
        path: path.to_path_buf(),
        reason,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(AsrError::ModelMissing {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(invalid(format!("cannot open it: {e}"))),
    };
    let meta = file
        .metadata()
        .map_err(|e| invalid(format!("cannot read it: {e}")))?;
    if meta.is_dir() {
        return Err(invalid(
            "it is a directory; give the path of a ggml model file (ggml-base.bin)".into(),
        ));
    }
    let mut r = Reader {
        inner: BufReader::new(file),
        pos: 0,
        len: meta.len(),
    };
    walk(&mut r).map_err(invalid)
}

fn walk(r: &mut Reader) -> Result<ModelInfo, String> {
    let magic = r.u32()?;
    if magic == GGUF_MAGIC {
        return Err(
            "it is a GGUF file; whisper.cpp reads the older ggml format \
                    (ggml-*.bin from huggingface.co/ggerganov/whisper.cpp)"
                .into(),
        );
    }
    if magic != GGML_MAGIC {
        return Err(format!(
            "it is not a ggml Whisper model (starts with 0x{magic:08x}, expected 0x{GGML_MAGIC:08x} \"ggml\"); \
             download one from huggingface.co/ggerganov/whisper.cpp"
        ));
    }
    let mut field = [0i32; 11];
    for f in &mut field {
        *f = r.i32()?;
    }
    let [n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype] =
        field;
    if ftype < 0 {
        return Err(format!("negative weight type (ftype {ftype})"));
    }
    let hparams = Hparams {
        n_vocab,
        n_audio_ctx,
        n_audio_state,
        n_audio_head,
        n_audio_layer,
        n_text_ctx,
        n_text_state,
        n_text_head,
        n_text_layer,
        n_mels,
        ftype: ftype % QNT_VERSION_FACTOR,
    };
    hparams.check()?;

    let (n_mel, n_fft) = (r.i32()?, r.i32()?);
    if n_mel != n_mels || n_fft != N_FFT_BINS {
        return Err(format!(
            "mel filter bank is {n_mel} × {n_fft}, expected {n_mels} × {N_FFT_BINS}"
        ));
    }
    r.skip(n_mel as u64 * n_fft as u64 * 4, "the mel filter bank")?;

    let entries = r.i32()?;
    if !(0..=n_vocab).contains(&entries) {
        return Err(format!(
            "{entries} vocabulary entries for a vocabulary of {n_vocab}"
        ));
    }
    let mut has_space = false;
    for i in 0..entries {
        let len = r.u32()?;
        if len > MAX_TOKEN_BYTES {
            return Err(format!("vocabulary entry {i} is {len} bytes long"));
        }
        if len == 1 {
            let mut b = [0u8; 1];
            r.read(&mut b)?;
            has_space |= b[0] == b' ';
        } else {
            r.skip(u64::from(len), "the vocabulary")?;
        }
    }
    if !has_space {
        // The decoder looks it up with `std::map::at`, which throws through the C API.
        return Err("the vocabulary has no \" \" token, which whisper.cpp's decoder needs".into());
    }

    let specs = layout(&hparams)?;
    let mut seen = vec![false; specs.len()];
    let mut tensors = 0usize;
    // The loader reads 12 header bytes and stops at end of file.
    while r.remaining() >= 12 {
        let n_dims = r.i32()?;
        let name_len = r.i32()?;
        let ttype = r.i32()?;
        if !(1..=4).contains(&n_dims) {
            return Err(format!("tensor {tensors} has {n_dims} dimensions (1 to 4)"));
        }
        if !(1..=MAX_NAME_BYTES).contains(&name_len) {
            return Err(format!("tensor {tensors} has a name of {name_len} bytes"));
        }
        let mut ne = [1i64; 4];
        for n in ne.iter_mut().take(n_dims as usize) {
            *n = i64::from(r.i32()?);
        }
        let mut name = vec![0u8; name_len as usize];
        r.read(&mut name)?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let Some(index) = specs.iter().position(|s| s.name == name) else {
            return Err(format!("unknown tensor `{name}`"));
        };
        let spec = &specs[index];
        if std::mem::replace(&mut seen[index], true) {
            return Err(format!("tensor `{name}` appears twice"));
        }
        if ne != spec.ne {
            return Err(format!(
                "tensor `{name}` has shape {:?}, expected {:?}",
                &ne[..n_dims as usize],
                spec.ne
            ));
        }
        let ty =
            ggml_type(ttype).ok_or_else(|| format!("tensor `{name}` has unknown type {ttype}"))?;
        // The loader's own test: the stored size, in the expected type's blocks.
        if spec.elements() * ty.block_bytes / spec.ty.block_len != spec.bytes() {
            return Err(format!(
                "tensor `{name}` is stored as type {}, expected type {}",
                ty.id, spec.ty.id
            ));
        }
        r.skip(spec.bytes(), &format!("tensor `{name}`"))?;
        tensors += 1;
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(format!(
            "tensor `{}` is missing (the file holds {tensors} of {} tensors; truncated download?)",
            specs[missing].name,
            specs.len()
        ));
    }
    Ok(ModelInfo {
        hparams,
        vocab_entries: entries as usize,
        tensors,
        file_bytes: r.len,
    })
}

/// A bounds-checked little-endian reader.
struct Reader {
    inner: BufReader<File>,
    pos: u64,
    len: u64,
}

impl Reader {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn truncated(&self, what: &str) -> String {
        format!(
            "the file ends at byte {} inside {what} (truncated download?)",
            self.len
        )
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), String> {
        if self.remaining() < buf.len() as u64 {
            return Err(self.truncated("the header"));
        }
        self.inner
            .read_exact(buf)
            .map_err(|e| format!("read error at byte {}: {e}", self.pos))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, String> {
        let mut b = [0u8; 4];
        self.read(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn i32(&mut self) -> Result<i32, String> {
        let mut b = [0u8; 4];
        self.read(&mut b)?;
        Ok(i32::from_le_bytes(b))
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), String> {
        if self.remaining() < n {
            return Err(self.truncated(what));
        }
        let offset = i64::try_from(n).map_err(|_| self.truncated(what))?;
        self.inner
            .seek_relative(offset)
            .map_err(|e| format!("read error at byte {}: {e}", self.pos))?;
        self.pos += n;
        Ok(())
    }
}

/// Writes a model with `hparams` and random weights (uniform in ±0.1, layer norms at 1 and
/// 0) drawn from `seed`, and a made-up vocabulary of lower-case ASCII words, so decoding
/// yields readable nonsense. For tests and benchmarks; only f16 weights (`ftype` 1).
pub fn write_random_model(path: &Path, hparams: &Hparams, seed: u64) -> io::Result<()> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
    if hparams.ftype != 1 {
        return Err(bad("only f16 models (ftype 1) can be written".into()));
    }
    hparams.check().map_err(bad)?;
    let specs = layout(hparams).map_err(bad)?;
    let mut w = BufWriter::new(File::create(path)?);
    let mut rng = XorShift(seed | 1);
    let h = hparams;
    w.write_all(&GGML_MAGIC.to_le_bytes())?;
    for v in [
        h.n_vocab,
        h.n_audio_ctx,
        h.n_audio_state,
        h.n_audio_head,
        h.n_audio_layer,
        h.n_text_ctx,
        h.n_text_state,
        h.n_text_head,
        h.n_text_layer,
        h.n_mels,
        h.ftype,
    ] {
        w.write_all(&v.to_le_bytes())?;
    }
    w.write_all(&h.n_mels.to_le_bytes())?;
    w.write_all(&N_FFT_BINS.to_le_bytes())?;
    for _ in 0..h.n_mels * N_FFT_BINS {
        w.write_all(&(rng.unit() * 0.02).to_le_bytes())?;
    }
    // Text tokens 0..50256 and the end-of-text token; whisper.cpp names the special tokens.
    const TEXT_TOKENS: i32 = 50257;
    // Where GPT-2's byte-level vocabulary has the space, which the decoder suppresses.
    const SPACE_TOKEN: i32 = 220;
    w.write_all(&TEXT_TOKENS.to_le_bytes())?;
    for i in 0..TEXT_TOKENS {
        let word = if i == TEXT_TOKENS - 1 {
            "<|endoftext|>".to_string()
        } else if i == SPACE_TOKEN {
            " ".to_string()
        } else {
            format!(" {}", letters(i as u32))
        };
        w.write_all(&(word.len() as u32).to_le_bytes())?;
        w.write_all(word.as_bytes())?;
    }
    for spec in &specs {
        let n_dims = if spec.ne[1..].iter().all(|&n| n == 1) {
            1
        } else if spec.ne[2..].iter().all(|&n| n == 1) {
            2
        } else {
            3
        };
        w.write_all(&(n_dims as i32).to_le_bytes())?;
        w.write_all(&(spec.name.len() as i32).to_le_bytes())?;
        w.write_all(&spec.ty.id.to_le_bytes())?;
        for &n in &spec.ne[..n_dims] {
            w.write_all(&(n as i32).to_le_bytes())?;
        }
        w.write_all(spec.name.as_bytes())?;
        let norm = spec.name.ends_with("ln.weight") || spec.name.ends_with("ln_post.weight");
        let norm_bias = spec.name.ends_with("ln.bias") || spec.name.ends_with("ln_post.bias");
        for _ in 0..spec.elements() {
            let v: f32 = if norm {
                1.0
            } else if norm_bias {
                0.0
            } else {
                (rng.unit() * 2.0 - 1.0) * 0.1
            };
            if spec.ty == F16 {
                w.write_all(&f16_bits(v).to_le_bytes())?;
            } else {
                w.write_all(&v.to_le_bytes())?;
            }
        }
    }
    w.flush()
}

/// IEEE half-precision bits of `v`, rounded to nearest; values below the normal range
/// become zero (enough for weights in ±1).
fn f16_bits(v: f32) -> u16 {
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    if exp >= 31 {
        return sign | 0x7c00;
    }
    let mantissa = bits & 0x7f_ffff;
    let half = ((exp as u32) << 10) | (mantissa >> 13);
    let round = (mantissa >> 12) & 1;
    sign | (half + round) as u16
}

/// `n` as a lower-case word (bijective base 26: a, b, …, z, aa, ab, …).
fn letters(mut n: u32) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// xorshift64*: deterministic weights without a dependency.
struct XorShift(u64);

impl XorShift {
    /// A value in 0..1.
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (v >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ivr-whisper-ggml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn reason(err: AsrError) -> String {
        match err {
            AsrError::ModelInvalid { reason, .. } => reason,
            other => panic!("expected ModelInvalid, got {other:?}"),
        }
    }

    fn tiny_model_bytes() -> Vec<u8> {
        static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        BYTES
            .get_or_init(|| {
                let path = temp("reference.bin");
                write_random_model(&path, &Hparams::tiny_random(), 7).unwrap();
                std::fs::read(path).unwrap()
            })
            .clone()
    }

    fn inspect_bytes(name: &str, bytes: &[u8]) -> Result<ModelInfo, AsrError> {
        let path = temp(name);
        std::fs::write(&path, bytes).unwrap();
        inspect(&path)
    }

    #[test]
    fn a_written_random_model_passes_inspection_with_every_tensor() {
        let info = inspect_bytes("ok.bin", &tiny_model_bytes()).unwrap();
        assert_eq!(info.hparams, Hparams::tiny_random());
        // 5 encoder inputs + 15 per encoder block + 2 + 2 decoder inputs + 24 per block + 2.
        assert_eq!(info.tensors, 5 + 15 + 2 + 2 + 24 + 2);
        assert_eq!(info.vocab_entries, 50257);
        assert!(info.hparams.is_multilingual());
        assert_eq!(info.hparams.languages(), 99);
    }

    #[test]
    fn every_truncation_point_is_reported_as_invalid_not_accepted() {
        let bytes = tiny_model_bytes();
        // Header, filters, vocabulary and tensor boundaries all fall among these.
        let mut cuts: Vec<usize> = (0..64).collect();
        cuts.extend((0..40).map(|i| bytes.len() * i / 40));
        cuts.push(bytes.len() - 13);
        cuts.push(bytes.len() - 1);
        for cut in cuts {
            let err = inspect_bytes("cut.bin", &bytes[..cut]).unwrap_err();
            let r = reason(err);
            assert!(
                r.contains("truncated") || r.contains("missing") || r.contains("not a ggml"),
                "cut at {cut}: {r}"
            );
        }
    }

    #[test]
    fn fewer_than_twelve_trailing_bytes_are_ignored_like_the_loader_does() {
        let mut bytes = tiny_model_bytes();
        bytes.extend_from_slice(&[0; 11]);
        assert!(inspect_bytes("trail11.bin", &bytes).is_ok());
        bytes.push(0);
        assert!(reason(inspect_bytes("trail12.bin", &bytes).unwrap_err()).contains("dimensions"));
    }

    #[test]
    fn header_fields_that_would_crash_whisper_cpp_are_rejected_with_the_field_named() {
        let bytes = tiny_model_bytes();
        let patch = |offset: usize, value: i32| {
            let mut b = bytes.clone();
            b[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
            reason(inspect_bytes("patched.bin", &b).unwrap_err())
        };
        assert!(patch(0, 0x4655_4747).contains("GGUF"));
        assert!(patch(0, 0x1234_5678).contains("0x12345678"));
        assert!(patch(4, 1_000_000_000).contains("vocabulary size"));
        assert!(patch(8, 100_000).contains("n_audio_ctx"));
        assert!(patch(16, 3).contains("multiple of its attention heads"));
        assert!(patch(28, 24).contains("differs from encoder width"));
        assert!(patch(40, 81).contains("mel bands"));
        assert!(patch(44, 5).contains("ftype 5"));
        assert!(patch(44, -1).contains("negative"));
        assert!(patch(48, 81).contains("mel filter bank"));
        // The vocabulary count follows the filter bank.
        let vocab_at = 56 + 80 * 201 * 4;
        assert!(patch(vocab_at, 60_000).contains("vocabulary entries"));
        assert!(patch(vocab_at + 4, i32::MAX).contains("bytes long"));
    }

    #[test]
    fn tensor_headers_that_do_not_match_the_hparams_are_rejected() {
        let bytes = tiny_model_bytes();
        let first = bytes
            .windows(b"encoder.positional_embedding".len())
            .position(|w| w == b"encoder.positional_embedding")
            .unwrap();
        // n_dims, name_len, type, ne0, ne1, then the name.
        let header = first - 20;
        let patch = |field: usize, value: i32| {
            let mut b = bytes.clone();
            let at = header + 4 * field;
            b[at..at + 4].copy_from_slice(&value.to_le_bytes());
            reason(inspect_bytes("tensor.bin", &b).unwrap_err())
        };
        assert!(patch(0, 9).contains("9 dimensions"));
        assert!(patch(1, -3).contains("name of -3 bytes"));
        assert!(patch(2, 4).contains("unknown type 4"));
        assert!(patch(2, 1).contains("stored as type 1"));
        assert!(patch(3, 17).contains("has shape [17, 1500]"));
        let mut renamed = bytes.clone();
        renamed[first] = b'X';
        assert!(
            reason(inspect_bytes("renamed.bin", &renamed).unwrap_err()).contains("unknown tensor")
        );
    }

    #[test]
    fn a_missing_file_and_a_directory_are_told_apart() {
        let missing = temp("does-not-exist.bin");
        assert_eq!(
            inspect(&missing).unwrap_err(),
            AsrError::ModelMissing { path: missing }
        );
        let dir = temp("");
        assert!(reason(inspect(&dir).unwrap_err()).contains("directory"));
    }

    #[test]
    fn real_model_sizes_are_named_after_their_encoder_depth() {
        let mut h = Hparams::tiny_random();
        for (layers, name) in [
            (4, "tiny"),
            (6, "base"),
            (12, "small"),
            (24, "medium"),
            (32, "large"),
            (1, "custom"),
        ] {
            h.n_audio_layer = layers;
            assert_eq!(h.size_name(), name);
        }
    }

    #[test]
    fn quantised_weight_types_map_like_ggml_does() {
        assert_eq!(weight_type(7).map(|t| t.id), Some(8)); // Q8_0
        assert_eq!(weight_type(8).map(|t| t.id), Some(6)); // Q5_0
        assert_eq!(weight_type(4), None); // Q4_1_SOME_F16: ggml asserts
        assert_eq!(weight_type(15), None);
        let mut h = Hparams::tiny_random();
        h.ftype = 12; // Q4_K blocks of 256 do not divide a width of 16.
        assert!(layout(&h).unwrap_err().contains("quantisation block"));
    }

    #[test]
    fn a_vocabulary_without_the_space_token_is_refused() {
        let mut b = tiny_model_bytes();
        let vocab_at = 56 + 80 * 201 * 4 + 4;
        // Entries before 220 are " " + letters(i): 2 bytes for i < 26, 3 bytes after.
        let space_at = vocab_at + 26 * (4 + 2) + (220 - 26) * (4 + 3);
        assert_eq!(&b[space_at..space_at + 5], &[1, 0, 0, 0, b' ']);
        b[space_at + 4] = b'x';
        assert!(reason(inspect_bytes("nospace.bin", &b).unwrap_err()).contains("\" \" token"));
    }

    #[test]
    fn all_f32_models_are_refused_because_the_encoder_would_abort() {
        let bytes = tiny_model_bytes();
        let mut b = bytes.clone();
        b[44..48].copy_from_slice(&0i32.to_le_bytes());
        assert!(reason(inspect_bytes("f32.bin", &b).unwrap_err()).contains("f16"));
    }

    #[test]
    fn half_precision_conversion_matches_known_values() {
        assert_eq!(f16_bits(1.0), 0x3c00);
        assert_eq!(f16_bits(-2.0), 0xc000);
        assert_eq!(f16_bits(0.0), 0);
        assert_eq!(f16_bits(0.1), 0x2e66);
        assert_eq!(f16_bits(1e-9), 0);
    }

    #[test]
    fn letters_count_in_bijective_base_26() {
        assert_eq!(letters(0), "a");
        assert_eq!(letters(25), "z");
        assert_eq!(letters(26), "aa");
        assert_eq!(letters(27), "ab");
    }
}
