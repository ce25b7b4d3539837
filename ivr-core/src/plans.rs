//! The dial plans a running engine answers with: loading, routing by dialed number, and hot
//! reload.
//!
//! Every `*.yaml` in the plans folder (except `*.tests.yaml`) is compiled — loaded and validated —
//! into an [`ivr_dialplans::interpreter::CompiledPlan`]. A plan that fails is reported with all
//! its problems and, if an earlier version of the same file loaded, that version stays in service.
//! A call takes an `Arc` of its plan when it arrives, so a reload never changes a conversation in
//! progress: new calls get the new version, old calls finish on the one they started with.
//!
//! Recorded prompts (`play:`) are decoded once at load, and the plan's fixed sentences are
//! rendered into the TTS cache, so the first caller waits for nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use ivr_dialplans::interpreter::CompiledPlan;
use ivr_dialplans::{Diagnostics, FsProvider};
use ivr_media::audio::wav::{EncodedPrompt, Prompt};
use tracing::{info, warn};

/// One plan in service.
pub struct LoadedPlan {
    /// The compiled plan.
    pub compiled: Arc<CompiledPlan>,
    /// Its file.
    pub path: PathBuf,
    /// When the file was last modified (a changed time makes a reload read the file again).
    pub modified: Option<SystemTime>,
    /// A hash of the plan's files (the main file and its includes) as 16 hex digits: identifies
    /// the version in call records even when two versions were saved within one second.
    pub fingerprint: String,
    /// Recorded prompts by the path written in the plan.
    pub audio: HashMap<PathBuf, Arc<EncodedPrompt>>,
}

impl LoadedPlan {
    /// The plan's name.
    pub fn name(&self) -> &str {
        &self.compiled.plan().name
    }

    /// A version label: the file's modification time in seconds (see also
    /// [`LoadedPlan::fingerprint`]).
    pub fn version(&self) -> String {
        self.modified
            .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or_else(|| "unknown".into(), |d| d.as_secs().to_string())
    }
}

/// The plans in service at one moment.
#[derive(Default)]
pub struct PlanSet {
    by_file: HashMap<PathBuf, Arc<LoadedPlan>>,
    by_number: HashMap<String, Arc<LoadedPlan>>,
    default: Option<Arc<LoadedPlan>>,
}

impl PlanSet {
    /// The plan for a dialed number (the user part of the request URI), or the default plan.
    pub fn route(&self, dialed: &str) -> Option<Arc<LoadedPlan>> {
        self.by_number
            .get(dialed)
            .or(self.default.as_ref())
            .cloned()
    }

    /// Number of plans.
    pub fn len(&self) -> usize {
        self.by_file.len()
    }

    /// Whether no plan is loaded.
    pub fn is_empty(&self) -> bool {
        self.by_file.is_empty()
    }

    /// The plans, in no order.
    pub fn plans(&self) -> impl Iterator<Item = &Arc<LoadedPlan>> {
        self.by_file.values()
    }
}

/// What a (re)load did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Plans loaded or reloaded: `name fingerprint`.
    pub loaded: Vec<String>,
    /// Files that failed, with their diagnostics (the previous version stays, if any).
    pub failed: Vec<(PathBuf, Diagnostics)>,
}

/// The live plan set, swapped whole on reload.
pub struct PlanRegistry {
    dir: PathBuf,
    default_plan: Option<String>,
    current: RwLock<Arc<PlanSet>>,
}

impl PlanRegistry {
    /// A registry over `dir`; `default_plan` names the plan for numbers no plan lists (with one
    /// plan loaded, it is the default anyway).
    pub fn new(dir: PathBuf, default_plan: Option<String>) -> PlanRegistry {
        PlanRegistry {
            dir,
            default_plan,
            current: RwLock::new(Arc::new(PlanSet::default())),
        }
    }

    /// The folder watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The plans in service now.
    pub fn current(&self) -> Arc<PlanSet> {
        self.current.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// Modification times of the plan files (to notice changes).
    pub fn fingerprint(&self) -> Vec<(PathBuf, Option<SystemTime>)> {
        let mut files: Vec<_> = plan_files(&self.dir)
            .into_iter()
            .map(|p| {
                let m = modified(&p);
                (p, m)
            })
            .collect();
        files.sort();
        files
    }

    /// Loads every plan file again (blocking: file I/O and compilation). Unchanged files are kept
    /// as they are; failures keep the previous version.
    pub fn reload(&self) -> ReloadReport {
        let previous = self.current();
        let mut report = ReloadReport::default();
        let mut next = PlanSet::default();
        for path in plan_files(&self.dir) {
            let mtime = modified(&path);
            if let Some(old) = previous
                .by_file
                .get(&path)
                .filter(|old| old.modified == mtime)
            {
                next.by_file.insert(path, old.clone());
                continue;
            }
            match load_plan(&path, mtime) {
                Ok(plan) => {
                    report
                        .loaded
                        .push(format!("{} {}", plan.name(), plan.fingerprint));
                    next.by_file.insert(path, Arc::new(plan));
                }
                Err(diags) => {
                    if let Some(old) = previous.by_file.get(&path) {
                        next.by_file.insert(path.clone(), old.clone());
                    }
                    report.failed.push((path, diags));
                }
            }
        }
        for plan in next.by_file.values() {
            for number in &plan.compiled.plan().numbers {
                next.by_number.insert(number.clone(), plan.clone());
            }
        }
        next.default = match &self.default_plan {
            Some(name) => next.by_file.values().find(|p| p.name() == name).cloned(),
            None if next.by_file.len() == 1 => next.by_file.values().next().cloned(),
            None => None,
        };
        if let Ok(mut cur) = self.current.write() {
            *cur = Arc::new(next);
        }
        for loaded in &report.loaded {
            info!(plan = %loaded, "dial plan loaded");
        }
        for (path, diags) in &report.failed {
            warn!(file = %path.display(), problems = diags.errors(), "dial plan rejected; the running version stays\n{}", diags.render_human());
        }
        report
    }
}

fn plan_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_plan_file(p))
        .collect();
    files.sort();
    files
}

/// Whether `path` names a dial plan (`*.yaml`/`*.yml`, not a `*.tests.yaml` test file).
pub fn is_plan_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".tests.")
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load_plan(path: &Path, modified: Option<SystemTime>) -> Result<LoadedPlan, Diagnostics> {
    let (plan, warnings) = ivr_dialplans::compile(path, &FsProvider)?;
    if warnings.warnings() > 0 {
        warn!(file = %path.display(), "dial plan warnings:\n{}", warnings.render_human());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut audio = HashMap::new();
    for node in &plan.nodes {
        if let Some(play) = &node.play {
            let file = base.join(&play.file);
            match Prompt::load(&file) {
                Ok(p) => {
                    audio.insert(PathBuf::from(&play.file), Arc::new(EncodedPrompt::new(&p)));
                }
                Err(e) => {
                    warn!(file = %file.display(), error = %e, "recorded prompt unusable; the node will be silent")
                }
            }
        }
    }
    let fingerprint = fingerprint(&plan.files);
    Ok(LoadedPlan {
        compiled: CompiledPlan::new(plan),
        path: path.to_path_buf(),
        modified,
        fingerprint,
        audio,
    })
}

/// FNV-1a (64 bit) over the files' contents, as 16 hex digits. Stable across runs and builds,
/// so call records from different engine processes compare.
fn fingerprint(files: &[PathBuf]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in files {
        let bytes = std::fs::read(file).unwrap_or_default();
        for b in bytes.iter().chain(file.to_string_lossy().as_bytes()) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "version: 1\nname: p\nlanguage: en-US\nstart: a\nnodes:\n  a:\n    hangup: { say: \"Version one.\" }\n";

    /// A fresh folder under the system's temporary folder, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir_with(text: &str) -> (TempDir, PathBuf) {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("ivr-plans-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.yaml");
        std::fs::write(&file, text).unwrap();
        (TempDir(dir), file)
    }

    #[test]
    fn a_changed_plan_gets_a_new_fingerprint_and_a_broken_one_keeps_the_old_version() {
        let (dir, file) = dir_with(PLAN);
        let registry = PlanRegistry::new(dir.path().to_path_buf(), None);
        let report = registry.reload();
        assert_eq!(report.loaded.len(), 1, "{report:?}");
        let v1 = registry.current().route("any").unwrap();
        assert_eq!(v1.fingerprint.len(), 16);

        // A reload with nothing changed keeps the very same plan.
        assert!(registry.reload().loaded.is_empty());
        assert!(Arc::ptr_eq(&v1, &registry.current().route("any").unwrap()));

        std::fs::write(&file, PLAN.replace("Version one.", "Version two.")).unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(2);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(later)
            .unwrap();
        registry.reload();
        let v2 = registry.current().route("any").unwrap();
        assert_ne!(v1.fingerprint, v2.fingerprint);

        std::fs::write(&file, "version: 1\nname: p\nstart: nowhere\n").unwrap();
        let report = registry.reload();
        assert_eq!(report.failed.len(), 1, "{report:?}");
        let kept = registry.current().route("any").unwrap();
        assert!(Arc::ptr_eq(&v2, &kept), "the broken file replaced the plan");
    }
}
