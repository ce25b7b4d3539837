//! The example plans in `examples/` validate cleanly.

use std::path::PathBuf;

use ivr_dialplans::testing::run_file;
use ivr_dialplans::{check_paths, FsProvider};

/// The repository's `examples/` folder.
fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("examples")
}

/// Every `examples/*.yaml` that is a plan (not a `*.tests.yaml` conversation-test file).
fn example_plans() -> Vec<PathBuf> {
    let mut plans: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".yaml") && !name.ends_with(".tests.yaml")
        })
        .collect();
    plans.sort();
    plans
}

#[test]
fn every_example_plan_checks_without_errors_or_warnings() {
    let plans = example_plans();
    assert!(!plans.is_empty(), "no plans found in examples/");
    let mut failures = String::new();
    for plan in &plans {
        let (diags, could_run) = check_paths(std::slice::from_ref(plan));
        if !could_run || !diags.is_empty() {
            failures.push_str(&format!(
                "{}: {} errors, {} warnings\n{}\n",
                plan.display(),
                diags.errors(),
                diags.warnings(),
                diags.render_human()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn every_example_conversation_test_passes() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".tests.yaml"))
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no *.tests.yaml files found in examples/"
    );
    let mut failures = String::new();
    let mut total = 0;
    for file in &files {
        match run_file(file, &FsProvider) {
            Ok(report) => {
                total += report.results.len();
                println!("{}\n{report}\n", file.display());
                if !report.all_passed() {
                    failures.push_str(&format!("{}\n{report}\n\n", file.display()));
                }
            }
            Err(diags) => failures.push_str(&format!(
                "{}: could not run\n{}\n\n",
                file.display(),
                diags.render_human()
            )),
        }
    }
    assert!(failures.is_empty(), "{failures}");
    println!("{total} conversation tests passed");
}
