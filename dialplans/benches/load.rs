//! Load and validate a generated 1,000-node plan.
//!
//! `cargo bench -p ivr-dialplans --bench load` prints milliseconds for `load_str`, `validate`
//! and `CompiledPlan::new` (median of several runs).

use std::hint::black_box;
use std::time::Instant;

use ivr_dialplans::interpreter::CompiledPlan;

fn plan_text(nodes: usize) -> String {
    let mut y = String::from(
        "version: 1\nname: big\nlanguage: en-US\nsettings: { escalate_to: agent }\nstart: n0\nintents:\n",
    );
    for i in 0..10 {
        y.push_str(&format!(
            "  i{i}: {{ examples: [\"option {i}\", \"I want option {i}\"], dtmf: \"{i}\" }}\n"
        ));
    }
    y.push_str("nodes:\n  agent:\n    enqueue: support\n");
    for i in 0..nodes {
        let next = (i + 1) % nodes;
        match i % 4 {
            0 => y.push_str(&format!(
                "  n{i}:\n    say: \"Menu {i}\"\n    listen: {{ intents: [i{}, i{}] }}\n    on: {{ i{}: n{next}, i{}: agent }}\n",
                i % 10, (i + 1) % 10, i % 10, (i + 1) % 10
            )),
            1 => y.push_str(&format!(
                "  n{i}:\n    collect: {{ slot: s{i}, type: digits, length: 4 }}\n    next: n{next}\n"
            )),
            2 => y.push_str(&format!(
                "  n{i}:\n    say: \"You entered {{{{ slots.s{} | digits }}}}\"\n    branch:\n      - if: \"slots.s{} == '1234'\"\n        then: agent\n      - else: n{next}\n",
                i - 1, i - 1
            )),
            _ => y.push_str(&format!(
                "  n{i}:\n    set: {{ vars.v{i}: \"{{{{ vars.v{i} + 1 }}}}\" }}\n    next: n{next}\n"
            )),
        }
    }
    y
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let text = plan_text(1_000);
    let plan = ivr_dialplans::load_str("big.yaml", &text).expect("plan loads");
    let diags = ivr_dialplans::validate(&plan);
    assert!(!diags.has_errors(), "{diags}");
    let load = median_ms(|| {
        black_box(ivr_dialplans::load_str("big.yaml", &text).expect("plan loads"));
    });
    let validate = median_ms(|| {
        black_box(ivr_dialplans::validate(&plan));
    });
    let compile = median_ms(|| {
        black_box(CompiledPlan::new(plan.clone()));
    });
    println!(
        "load: 1,001 nodes ({} KiB of YAML): load {load:.1} ms, validate {validate:.1} ms, load+validate {:.1} ms, compile matchers {compile:.2} ms",
        text.len() / 1024,
        load + validate
    );
}
