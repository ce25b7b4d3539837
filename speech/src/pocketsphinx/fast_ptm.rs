//! A faster acoustic scorer for PocketSphinx's phonetically-tied-mixture models.
//!
//! Profiling a grammar-mode stream shows three quarters of its time in `ptm_mgau_frame_eval`,
//! and most of that in the loop that scores each codebook's 128 Gaussians one at a time, one
//! dimension at a time. This module puts its own scorer in a decoder's `acmod->mgau`, wrapping
//! the library's `ptm_mgau_t`: the same algorithm, step for step and in the same floating-point
//! order per Gaussian, but with a copy of the model laid out for it (means and variances
//! dimension-major, mixture weights in one block; one copy per engine) so that a codebook's
//! Gaussians are scored together with SIMD. The scores, and so the hypotheses, are bit-for-bit
//! those of the library (`tests/fast_scoring.rs` decodes the same audio both ways; see also
//! `docs/decisions/0006-own-acoustic-scorer.md`).
//!
//! It reaches into structures that `libpocketsphinx-dev` does not install (`ps_decoder_t`,
//! `acmod_t`, `ptm_mgau_t`, `gauden_t`), mirrored below from the sources of the
//! 0.8+5prealpha release Debian packages (the release the rest of `ffi.rs` is written for).
//! Two guards keep it to what it knows: the decoder's scorer must be the library's own PTM one
//! (its function table points at the exported `ptm_mgau_frame_eval`), and the model's
//! dimensions must be ones this code handles. Anything else leaves the library's scorer in
//! place; `speech.pocketsphinx_simd = false` (`PocketSphinxConfig::fast_scoring`) does too.
#![allow(unsafe_code)]

use std::os::raw::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex, OnceLock};

use super::ffi;

/// `ps_mgaufuncs_t`.
#[repr(C)]
struct MgauFuncs {
    name: *const c_char,
    frame_eval: FrameEval,
    transform: unsafe extern "C" fn(*mut Scorer, *mut c_void) -> c_int,
    free: unsafe extern "C" fn(*mut Scorer),
}

type FrameEval = unsafe extern "C" fn(
    mgau: *mut Scorer,
    senone_scores: *mut i16,
    senone_active: *const u8,
    n_senone_active: i32,
    featbuf: *const *const f32,
    frame: i32,
    compallsen: i32,
) -> c_int;

/// `ptm_topn_t`.
#[repr(C)]
#[derive(Clone, Copy)]
struct TopN {
    cw: i32,
    score: i32,
}

/// `ptm_fast_eval_t`.
#[repr(C)]
struct FastEval {
    topn: *mut *mut *mut TopN,
    mgau_active: *mut u32,
}

/// `gauden_t`.
#[repr(C)]
struct Gauden {
    mean: *mut *mut *mut *mut f32,
    var: *mut *mut *mut *mut f32,
    det: *mut *mut *mut f32,
    lmath: *mut c_void,
    n_mgau: i32,
    n_feat: i32,
    n_density: i32,
    featlen: *mut i32,
}

/// `ptm_mgau_t` (its first two fields are `ps_mgau_t`).
#[repr(C)]
struct Ptm {
    vt: *const MgauFuncs,
    frame_idx: c_int,
    config: *mut c_void,
    g: *mut Gauden,
    n_sen: i32,
    sen2cb: *mut u8,
    mixw: *mut *mut *mut u8,
    sendump_mmap: *mut c_void,
    mixw_cb: *mut u8,
    max_topn: i16,
    ds_ratio: i16,
    hist: *mut FastEval,
    f: *mut FastEval,
    n_fast_hist: c_int,
    lmath_8b: *mut LogAdd,
    lmath: *mut c_void,
}

/// `logadd_t`, the first field of `logmath_t`.
#[repr(C)]
struct LogAdd {
    table: *const c_void,
    table_size: u32,
    width: u8,
    shift: i8,
}

/// The first fields of `ps_decoder_t`.
#[repr(C)]
struct DecoderHead {
    config: *mut c_void,
    refcount: c_int,
    acmod: *mut AcmodHead,
}

/// The first fields of `acmod_t`.
#[repr(C)]
struct AcmodHead {
    config: *mut c_void,
    lmath: *mut c_void,
    strings: *mut c_void,
    fe: *mut c_void,
    fcb: *mut c_void,
    mdef: *mut c_void,
    tmat: *mut c_void,
    mgau: *mut Ptm,
}

#[link(name = "pocketsphinx")]
extern "C" {
    /// Declared without its parameters: only its address is used, to recognise the library's
    /// PTM scorer; it is never called from here.
    fn ptm_mgau_frame_eval();
    fn ptm_mgau_free(mgau: *mut Ptm);
}

/// `hmm.h`.
const SENSCR_SHIFT: i32 = 10;
const WORST_SCORE: i32 = 0xE000_0000_u32 as i32;
/// `tied_mgau_common.h`.
const MAX_NEG_ASCR: i32 = 96;
/// Room for the log-add table (the en-us model's has a few hundred entries), with at least one
/// 0 after it.
const LOGADD_LEN: usize = 1024;
/// Largest top-N this code keeps (`-topn`, 4 by default).
const MAX_TOPN: usize = 16;
/// Most Gaussians per codebook this code scores (the en-us model has 128).
const MAX_DENSITY: usize = 256;
/// Largest feature stream this code scores (the en-us model has three of 13).
const MAX_FEATLEN: usize = 64;

static FAST_FUNCS: MgauFuncs = MgauFuncs {
    name: c"ptm-simd".as_ptr(),
    frame_eval,
    transform: no_transform,
    free,
};

// SAFETY: the table holds a static string and function pointers, never written.
unsafe impl Sync for MgauFuncs {}

/// What the decoder's `acmod->mgau` points at once installed: a `ps_mgau_t` (the two fields
/// `acmod` reads and writes), then the library's scorer, whose top-N history, senone map and
/// row-major means this code keeps using, and the model's parameters laid out for SIMD.
#[repr(C)]
struct Scorer {
    vt: *const MgauFuncs,
    frame_idx: c_int,
    ptm: *mut Ptm,
    /// From `Arc::into_raw`; released in `free`.
    model: *const Model,
}

/// A model's parameters in the layouts the scorer reads: per codebook and feature stream the
/// means and variances dimension-major (`featlen` rows of `n_density`), and the mixture
/// weights as the library holds them, `[stream][codeword][senone]`, in one block (senones next
/// to each other mostly share a codebook and so its top-N codewords: their weights share cache
/// lines; by senone was 5 % slower). Shared by every decoder of one model.
struct Model {
    n_density: usize,
    n_feat: usize,
    /// Start of codebook `cb`, stream `f` in `mean` and `var`: `block[cb * n_feat + f]`.
    block: Vec<usize>,
    mean: Vec<f32>,
    var: Vec<f32>,
    mixw: Vec<u8>,
    /// The library's 8-bit log-add table (`lmath_8b`, the same for every decoder), followed
    /// by zeros: past its end the sum of two scores is the larger one.
    logadd: [u8; LOGADD_LEN],
}

/// The laid-out model of one engine's decoders, made by the first of them (every decoder of
/// an engine loads the same model directory).
#[derive(Default)]
pub(super) struct SharedModel(Mutex<Option<Arc<Model>>>);

impl SharedModel {
    /// Whether a decoder has installed the SIMD scorer with this model.
    pub(super) fn in_use(&self) -> bool {
        self.0.lock().map(|m| m.is_some()).unwrap_or(false)
    }
}

fn avx() -> bool {
    static AVX: OnceLock<bool> = OnceLock::new();
    #[cfg(target_arch = "x86_64")]
    {
        *AVX.get_or_init(|| std::is_x86_feature_detected!("avx"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        *AVX.get_or_init(|| false)
    }
}

/// Installs the SIMD scorer in `ps` if its acoustic model is a PTM one this code can score,
/// with the model laid out once per `shared`. Returns whether it did.
///
/// # Safety
/// `ps` must be a live decoder from the 0.8+5prealpha library, not used by another thread
/// during the call, and every decoder given the same `shared` must load the same model.
pub(super) unsafe fn install(ps: *mut ffi::Decoder, shared: &SharedModel) -> bool {
    let head = ps as *mut DecoderHead;
    let acmod = (*head).acmod;
    if acmod.is_null() {
        return false;
    }
    let s = (*acmod).mgau;
    if s.is_null() || (*s).vt.is_null() {
        return false;
    }
    let library: unsafe extern "C" fn() = ptm_mgau_frame_eval;
    if (*(*s).vt).frame_eval as usize != library as usize {
        return false;
    }
    let Some(shape) = Shape::of(s) else {
        return false;
    };
    let Ok(mut slot) = shared.0.lock() else {
        return false;
    };
    let model = match &*slot {
        Some(model) if model.fits(&shape) => model.clone(),
        _ => {
            let model = Arc::new(Model::lay_out(s, &shape));
            *slot = Some(model.clone());
            model
        }
    };
    let scorer = Box::new(Scorer {
        vt: &FAST_FUNCS,
        frame_idx: (*s).frame_idx,
        ptm: s,
        model: Arc::into_raw(model),
    });
    (*acmod).mgau = Box::into_raw(scorer) as *mut Ptm;
    true
}

/// The model's dimensions, checked.
struct Shape {
    n_mgau: usize,
    n_feat: usize,
    n_density: usize,
    n_sen: usize,
}

impl Shape {
    unsafe fn of(s: *const Ptm) -> Option<Shape> {
        let g = (*s).g;
        if g.is_null() || (*s).hist.is_null() || (*s).lmath_8b.is_null() || (*s).mixw.is_null() {
            return None;
        }
        let g = &*g;
        let n_mgau = usize::try_from(g.n_mgau).ok()?;
        let n_feat = usize::try_from(g.n_feat).ok()?;
        let n_density = usize::try_from(g.n_density).ok()?;
        let n_sen = usize::try_from((*s).n_sen).ok()?;
        let max_topn = usize::try_from((*s).max_topn).ok()?;
        let lmath = &*(*s).lmath_8b;
        let ok = (1..=256).contains(&n_mgau)
            && (1..=4).contains(&n_feat)
            && n_density > 0
            && n_density <= MAX_DENSITY
            && (1..=n_density.min(MAX_TOPN)).contains(&max_topn)
            && (1..=1 << 16).contains(&n_sen)
            && (*s).n_fast_hist > 0
            && (*s).ds_ratio > 0
            // Mixture weights quantised to 4 bits (`mixw_cb`) are left to the library.
            && (*s).mixw_cb.is_null()
            && lmath.width == 1
            && !lmath.table.is_null()
            && (lmath.table_size as usize) < LOGADD_LEN
            && (0..n_feat).all(|f| {
                let len = *g.featlen.add(f);
                len > 0 && len as usize <= MAX_FEATLEN
            });
        ok.then_some(Shape {
            n_mgau,
            n_feat,
            n_density,
            n_sen,
        })
    }
}

impl Model {
    /// Whether a model of this shape is this one's.
    fn fits(&self, shape: &Shape) -> bool {
        self.n_density == shape.n_density
            && self.n_feat == shape.n_feat
            && self.block.len() == shape.n_mgau * shape.n_feat
            && self.mixw.len() == shape.n_sen * shape.n_feat * shape.n_density
    }

    /// Calls `each(cb, f, rows)` for every codebook and stream, with its means and variances
    /// as the library holds them (`n_density` rows of `featlen[f]`).
    unsafe fn blocks(s: *const Ptm, shape: &Shape, mut each: impl FnMut(&[f32], &[f32])) {
        let g = &*(*s).g;
        for cb in 0..shape.n_mgau {
            for f in 0..shape.n_feat {
                let n = shape.n_density * *g.featlen.add(f) as usize;
                let mean = std::slice::from_raw_parts(param_block(g.mean, cb, f), n);
                let var = std::slice::from_raw_parts(param_block(g.var, cb, f), n);
                each(mean, var);
            }
        }
    }

    /// Mixture weight rows: `mixw[f][cw]` holds one weight per senone.
    unsafe fn mixw_row<'a>(s: *const Ptm, shape: &Shape, f: usize, cw: usize) -> &'a [u8] {
        std::slice::from_raw_parts(*(*(*s).mixw.add(f)).add(cw), shape.n_sen)
    }

    unsafe fn lay_out(s: *const Ptm, shape: &Shape) -> Model {
        let nd = shape.n_density;
        let mut model = Model {
            n_density: nd,
            n_feat: shape.n_feat,
            block: Vec::with_capacity(shape.n_mgau * shape.n_feat),
            mean: Vec::new(),
            var: Vec::new(),
            mixw: vec![0u8; shape.n_sen * shape.n_feat * nd],
            logadd: [0u8; LOGADD_LEN],
        };
        let table = &*(*s).lmath_8b;
        let len = table.table_size as usize;
        model.logadd[..len]
            .copy_from_slice(std::slice::from_raw_parts(table.table as *const u8, len));
        Self::blocks(s, shape, |mean, var| {
            let at = model.mean.len();
            let cols = mean.len() / nd;
            model.block.push(at);
            model.mean.resize(at + mean.len(), 0.0);
            model.var.resize(at + var.len(), 0.0);
            transpose(mean, nd, cols, &mut model.mean[at..]);
            transpose(var, nd, cols, &mut model.var[at..]);
        });
        for f in 0..shape.n_feat {
            for cw in 0..nd {
                for (sen, &w) in Self::mixw_row(s, shape, f, cw).iter().enumerate() {
                    model.mixw[(f * nd + cw) * shape.n_sen + sen] = w;
                }
            }
        }
        model
    }
}

/// `params[cb][f][0]`: the first of codebook `cb`'s vectors for feature stream `f`, followed
/// by the others (`n_density` × `featlen[f]` values, contiguous).
unsafe fn param_block(params: *mut *mut *mut *mut f32, cb: usize, f: usize) -> *const f32 {
    let codebook = *params.add(cb);
    let stream = *codebook.add(f);
    *stream
}

/// Writes `rows` (`n` × `cols`, row-major) into `out` as `cols` × `n`.
fn transpose(rows: &[f32], n: usize, cols: usize, out: &mut [f32]) {
    for r in 0..n {
        for c in 0..cols {
            out[c * n + r] = rows[r * cols + c];
        }
    }
}

unsafe extern "C" fn no_transform(_: *mut Scorer, _: *mut c_void) -> c_int {
    // Speaker adaptation (MLLR) rewrites the means; the engine does not use it.
    -1
}

unsafe extern "C" fn free(scorer: *mut Scorer) {
    let scorer = Box::from_raw(scorer);
    drop(Arc::from_raw(scorer.model));
    ptm_mgau_free(scorer.ptm);
}

/// `ptm_mgau_frame_eval`, with each active codebook's Gaussians scored together.
unsafe extern "C" fn frame_eval(
    scorer: *mut Scorer,
    senone_scores: *mut i16,
    senone_active: *const u8,
    n_senone_active: i32,
    featbuf: *const *const f32,
    frame: i32,
    compallsen: i32,
) -> c_int {
    let scorer = &*scorer;
    let model = &*scorer.model;
    let st = &mut *scorer.ptm;
    let g = &*st.g;
    let n_mgau = g.n_mgau as usize;
    let n_feat = g.n_feat as usize;
    let max_topn = st.max_topn as usize;
    let idx = frame % st.n_fast_hist;
    st.f = st.hist.add(idx as usize);
    if frame >= scorer.frame_idx {
        let last = if idx == 0 {
            st.hist.add(st.n_fast_hist as usize - 1)
        } else {
            st.hist.add(idx as usize - 1)
        };
        std::ptr::copy_nonoverlapping(
            *(*(*last).topn),
            *(*(*st.f).topn),
            n_mgau * n_feat * max_topn,
        );
        calc_cb_active(st, senone_active, n_senone_active, compallsen != 0);
        codebook_eval(st, model, featbuf, frame);
        codebook_norm(st);
    }
    let active = ActiveSenones {
        deltas: senone_active,
        count: n_senone_active,
        all: compallsen != 0,
    };
    senone_eval(st, model, senone_scores, active);
    0
}

unsafe fn topn<'a>(s: &Ptm, cb: usize, f: usize, n: usize) -> &'a mut [TopN] {
    std::slice::from_raw_parts_mut(*(*(*s.f).topn.add(cb)).add(f), n)
}

unsafe fn active(s: &Ptm, cb: usize) -> bool {
    *(*s.f).mgau_active.add(cb / 32) & (1 << (cb % 32)) != 0
}

unsafe fn calc_cb_active(s: &mut Ptm, senone_active: *const u8, n: i32, all: bool) {
    let n_mgau = (*s.g).n_mgau as usize;
    let bits = std::slice::from_raw_parts_mut((*s.f).mgau_active, n_mgau.div_ceil(32));
    if all {
        bits.fill(u32::MAX);
        return;
    }
    bits.fill(0);
    let mut sen = 0usize;
    for i in 0..n.max(0) as usize {
        sen += *senone_active.add(i) as usize;
        let cb = *s.sen2cb.add(sen) as usize;
        bits[cb / 32] |= 1 << (cb % 32);
    }
}

unsafe fn codebook_eval(s: &mut Ptm, model: &Model, z: *const *const f32, frame: i32) {
    let g = &*s.g;
    let n_mgau = g.n_mgau as usize;
    let n_feat = g.n_feat as usize;
    // First the previous frame's top-N of every codebook.
    for cb in 0..n_mgau {
        for f in 0..n_feat {
            eval_topn(s, cb, f, *z.add(f));
        }
    }
    if frame % s.ds_ratio as i32 != 0 {
        return;
    }
    let simd = avx();
    for cb in 0..n_mgau {
        if !active(s, cb) {
            continue;
        }
        for f in 0..n_feat {
            eval_cb(s, model, cb, f, *z.add(f), simd);
        }
    }
}

/// The C code's float-to-score conversion.
fn to_score(d: f32) -> i32 {
    if d < i32::MIN as f32 {
        i32::MIN
    } else {
        d as i32
    }
}

/// Re-scores the previous frame's top-N Gaussians of one codebook (the library's row-major
/// parameters: each Gaussian's values are contiguous there), then sorts them as the library
/// does. Its insertion at step `i` only moves entries `0..=i`, so the Gaussian
/// it scores at step `i` is the one that was at `i` before the loop.
unsafe fn eval_topn(s: &mut Ptm, cb: usize, f: usize, z: *const f32) {
    let g = &*s.g;
    let len = *g.featlen.add(f) as usize;
    let mean = param_block(g.mean, cb, f);
    let var = param_block(g.var, cb, f);
    let det = *(*g.det.add(cb)).add(f);
    let obs = std::slice::from_raw_parts(z, len);
    let top = topn(s, cb, f, s.max_topn as usize);
    let mut d = [0f32; MAX_TOPN];
    for (di, t) in d.iter_mut().zip(top.iter()) {
        let cw = t.cw as usize;
        let m = std::slice::from_raw_parts(mean.add(cw * len), len);
        let v = std::slice::from_raw_parts(var.add(cw * len), len);
        // Each dimension's term at once (elementwise, so exactly the C code's values), then
        // subtracted in dimension order as the C code does.
        let mut terms = [0f32; MAX_FEATLEN];
        for ((term, (&o, &mj)), &vj) in terms.iter_mut().zip(obs.iter().zip(m)).zip(v) {
            let diff = o - mj;
            *term = diff * diff * vj;
        }
        *di = *det.add(cw);
        for &term in &terms[..len] {
            *di -= term;
        }
    }
    for i in 0..top.len() {
        // insertion_sort_topn
        let score = to_score(d[i]);
        top[i].score = score;
        let moving = top[i];
        let mut j = i;
        while j > 0 && score > top[j - 1].score {
            top[j] = top[j - 1];
            j -= 1;
        }
        top[j] = moving;
    }
}

/// Scores every Gaussian of one codebook at once (SIMD) and inserts those that can enter its
/// top-N in codeword order, as the library does.
unsafe fn eval_cb(s: &mut Ptm, model: &Model, cb: usize, f: usize, z: *const f32, simd: bool) {
    let g = &*s.g;
    let nd = model.n_density;
    let len = *g.featlen.add(f) as usize;
    let at = model.block[cb * model.n_feat + f];
    let mean = &model.mean[at..at + nd * len];
    let var = &model.var[at..at + nd * len];
    let det = std::slice::from_raw_parts(*(*g.det.add(cb)).add(f), nd);
    let obs = std::slice::from_raw_parts(z, len);
    let top = topn(s, cb, f, s.max_topn as usize);
    let worst = top.len() - 1;
    // Every Gaussian's score at once (dimension by dimension across the codebook: independent
    // lanes), then the library's scan in codeword order. The C code stops scoring a Gaussian
    // once it falls below the current threshold; a full score below it is skipped here, which
    // is the same decision, as each dimension only lowers a score.
    let mut d = [0f32; MAX_DENSITY];
    let d = &mut d[..nd];
    d.copy_from_slice(det);
    #[cfg(target_arch = "x86_64")]
    if simd {
        score_avx(d, obs, mean, var);
    } else {
        score(d, obs, mean, var);
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = simd;
        score(d, obs, mean, var);
    }
    // The threshold only rises during the scan, so only Gaussians at or above it now can enter:
    // find those with SIMD compares, then visit them in codeword order.
    let mut mask = [0u64; MAX_DENSITY / 64];
    #[cfg(target_arch = "x86_64")]
    if simd {
        candidates_avx(d, top[worst].score as f32, &mut mask);
    } else {
        candidates(d, top[worst].score as f32, &mut mask);
    }
    #[cfg(not(target_arch = "x86_64"))]
    candidates(d, top[worst].score as f32, &mut mask);
    for (w, mut bits) in mask.into_iter().enumerate() {
        while bits != 0 {
            let k = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let dk = d[k];
            if dk < top[worst].score as f32 {
                continue;
            }
            let cw = k as i32;
            if top.iter().any(|t| t.cw == cw) {
                continue;
            }
            // insertion_sort_cb: the worst entry drops out.
            let score = to_score(dk);
            let mut j = worst;
            while j > 0 && score >= top[j - 1].score {
                top[j] = top[j - 1];
                j -= 1;
            }
            top[j] = TopN { cw, score };
        }
    }
}

/// Sets bit `k` of `mask` for each score `d[k]`, from `from` on, that the scan's skip test
/// (`d[k] < thresh`, with `thresh` a converted integer) does not reject.
fn candidates_from(d: &[f32], from: usize, thresh: f32, mask: &mut [u64; MAX_DENSITY / 64]) {
    for (k, &x) in d.iter().enumerate().skip(from) {
        mask[k / 64] |= u64::from(x >= thresh || x.is_nan()) << (k % 64);
    }
}

fn candidates(d: &[f32], thresh: f32, mask: &mut [u64; MAX_DENSITY / 64]) {
    candidates_from(d, 0, thresh, mask)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn candidates_avx(d: &[f32], thresh: f32, mask: &mut [u64; MAX_DENSITY / 64]) {
    use std::arch::x86_64::_CMP_NLT_UQ;
    use std::arch::x86_64::{_mm256_cmp_ps, _mm256_loadu_ps, _mm256_movemask_ps, _mm256_set1_ps};
    let t = _mm256_set1_ps(thresh);
    let whole = d.len() / 8 * 8;
    for (c, chunk) in d[..whole].chunks_exact(8).enumerate() {
        // SAFETY: chunk holds eight floats; loadu has no alignment requirement.
        let v = unsafe { _mm256_loadu_ps(chunk.as_ptr()) };
        let m = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NLT_UQ>(v, t)) as u32 as u64;
        mask[c / 8] |= m << ((c % 8) * 8);
    }
    candidates_from(d, whole, thresh, mask);
}

/// Subtracts from each Gaussian's score (`d`, one per codeword) each dimension's weighted
/// squared distance, in dimension order: per Gaussian the same operations, in the same order,
/// as the C code. `mean` and `var` are dimension-major.
#[inline(always)]
fn score_all(d: &mut [f32], obs: &[f32], mean: &[f32], var: &[f32]) {
    let nd = d.len();
    for (j, &o) in obs.iter().enumerate() {
        let m = &mean[j * nd..(j + 1) * nd];
        let v = &var[j * nd..(j + 1) * nd];
        for ((dk, &mk), &vk) in d.iter_mut().zip(m).zip(v) {
            let diff = o - mk;
            *dk -= diff * diff * vk;
        }
    }
}

fn score(d: &mut [f32], obs: &[f32], mean: &[f32], var: &[f32]) {
    score_all(d, obs, mean, var)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn score_avx(d: &mut [f32], obs: &[f32], mean: &[f32], var: &[f32]) {
    score_all(d, obs, mean, var)
}

unsafe fn codebook_norm(s: &mut Ptm) {
    let g = &*s.g;
    let n_mgau = g.n_mgau as usize;
    let n = s.max_topn as usize;
    for f in 0..g.n_feat as usize {
        let mut norm = WORST_SCORE;
        for cb in 0..n_mgau {
            if active(s, cb) {
                norm = norm.max(topn(s, cb, f, n)[0].score >> SENSCR_SHIFT);
            }
        }
        for cb in 0..n_mgau {
            if !active(s, cb) {
                continue;
            }
            for t in topn(s, cb, f, n) {
                t.score = (-((t.score >> SENSCR_SHIFT).wrapping_sub(norm))).min(MAX_NEG_ASCR);
            }
        }
    }
}

/// The senones the search asks scores for: `count` deltas from `deltas` (each senone is the
/// previous one plus its delta), or every senone when `all`.
#[derive(Clone, Copy)]
struct ActiveSenones {
    deltas: *const u8,
    count: i32,
    all: bool,
}

unsafe fn senone_eval(s: &mut Ptm, model: &Model, scores: *mut i16, active: ActiveSenones) {
    // With the default top-N the sums below unroll into independent chains per stream.
    match s.max_topn {
        4 => senone_sums(s, model, scores, active, 4),
        n => senone_sums(s, model, scores, active, n as usize),
    }
}

/// Each active senone's score: per feature stream the log-sum of its top-N codewords' scores
/// plus its mixture weights, summed over the streams; then all normalised to the best.
#[inline(always)]
unsafe fn senone_sums(
    s: &mut Ptm,
    model: &Model,
    scores: *mut i16,
    senones: ActiveSenones,
    n: usize,
) {
    let ActiveSenones {
        deltas: senone_active,
        count: n_active,
        all,
    } = senones;
    let n_sen = s.n_sen as usize;
    let scores = std::slice::from_raw_parts_mut(scores, n_sen);
    scores.fill(0);
    let n_feat = model.n_feat;
    let nd = model.n_density;
    let logadd = &model.logadd;
    let count = if all { n_sen } else { n_active.max(0) as usize };
    // The top-N lists are one block, `[codebook][stream][n]` (the library copies them from
    // frame to frame with one memcpy).
    let lists: *mut TopN = *(*(*s.f).topn);
    let mut best = i32::MAX;
    let mut sen = 0usize;
    for i in 0..count {
        sen = if all {
            i
        } else {
            sen + *senone_active.add(i) as usize
        };
        let cb = *s.sen2cb.add(sen) as usize;
        if !active(s, cb) {
            let lists = std::slice::from_raw_parts_mut(lists.add(cb * n_feat * n), n_feat * n);
            for t in lists {
                t.score = MAX_NEG_ASCR;
            }
        }
        let lists = std::slice::from_raw_parts(lists.add(cb * n_feat * n), n_feat * n);
        let mut ascore = 0i32;
        for (f, list) in lists.chunks_exact(n).enumerate() {
            let w = |cw: i32| i32::from(model.mixw[(f * nd + cw as usize) * n_sen + sen]);
            let mut fden = w(list[0].cw) + list[0].score;
            for t in &list[1..] {
                // fast_logmath_add
                let x = w(t.cw) + t.score;
                let (d, r) = if fden > x {
                    (fden - x, x)
                } else {
                    (x - fden, fden)
                };
                fden = r - i32::from(logadd[(d as usize).min(LOGADD_LEN - 1)]);
            }
            ascore += fden;
        }
        best = best.min(ascore);
        scores[sen] = ascore as i16;
    }
    for v in scores.iter_mut() {
        *v = (*v as i32).wrapping_sub(best) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of values, some NaN when `nan`.
    fn values(n: usize, seed: u32, nan: bool) -> Vec<f32> {
        let mut x = seed;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if nan && i % 37 == 5 {
                    f32::NAN
                } else {
                    (x >> 8) as f32 / 65_536.0 - 128.0
                }
            })
            .collect()
    }

    /// The C code's scoring of one Gaussian: its dimensions in order, one at a time.
    fn library_score(
        det: f32,
        obs: &[f32],
        mean: &[f32],
        var: &[f32],
        nd: usize,
        cw: usize,
    ) -> f32 {
        let mut d = det;
        for (j, &o) in obs.iter().enumerate() {
            let diff = o - mean[j * nd + cw];
            let sqdiff = diff * diff;
            let compl = sqdiff * var[j * nd + cw];
            d -= compl;
        }
        d
    }

    #[test]
    fn codebook_scores_and_candidates_are_the_librarys_bit_for_bit() {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for nd in [8, 128, 100, 256] {
            let len = 13;
            let obs = values(len, 1, false);
            let mean = values(nd * len, 2, false);
            let var: Vec<f32> = values(nd * len, 3, false)
                .iter()
                .map(|v| v.abs() / 64.0)
                .collect();
            let det = values(nd, 4, true);
            let want: Vec<f32> = (0..nd)
                .map(|cw| library_score(det[cw], &obs, &mean, &var, nd, cw))
                .collect();
            let mut portable = det.clone();
            score(&mut portable, &obs, &mean, &var);
            assert_eq!(bits(&portable), bits(&want), "{nd} Gaussians");
            if avx() {
                let mut simd = det.clone();
                // SAFETY: avx() said the CPU has AVX.
                unsafe { score_avx(&mut simd, &obs, &mean, &var) };
                assert_eq!(bits(&simd), bits(&want), "{nd} Gaussians, AVX");
            }
            for thresh in [-1e9, -3000.0, 0.0, 50.0] {
                let mut mask = [0u64; 4];
                candidates(&want, thresh, &mut mask);
                for (k, &x) in want.iter().enumerate() {
                    // The library skips a Gaussian when `x < thresh` (false for NaN).
                    let skipped = x.partial_cmp(&thresh) == Some(std::cmp::Ordering::Less);
                    assert_eq!(mask[k / 64] >> (k % 64) & 1 == 1, !skipped, "{k}");
                }
                if avx() {
                    let mut simd = [0u64; 4];
                    // SAFETY: as above.
                    unsafe { candidates_avx(&want, thresh, &mut simd) };
                    assert_eq!(simd, mask, "{nd} Gaussians, threshold {thresh}, AVX");
                }
            }
        }
    }

    #[test]
    fn scores_convert_as_the_library_converts_them() {
        assert_eq!(to_score(-12.9), -12);
        assert_eq!(to_score(3.7), 3);
        assert_eq!(to_score(-1e12), i32::MIN);
    }
}
