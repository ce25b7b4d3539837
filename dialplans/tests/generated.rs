//! Generated plans: round trips of names and texts, and a large plan.

use std::time::Instant;

use ivr_dialplans::{load_str, validate, Step};
use proptest::prelude::*;

/// A plan whose nodes say `texts[i]` and chain to the next, the last one hanging up.
fn chain_plan(names: &[String], texts: &[String]) -> String {
    let mut y = format!(
        "version: 1\nname: gen\nlanguage: en-US\nsettings: {{ escalate_to: {} }}\nstart: {}\nnodes:\n",
        names[names.len() - 1],
        names[0]
    );
    for (i, n) in names.iter().enumerate() {
        y.push_str(&format!(
            "  {n}:\n    say: {}\n",
            serde_json::to_string(&texts[i]).unwrap()
        ));
        match names.get(i + 1) {
            Some(next) => y.push_str(&format!("    next: {next}\n")),
            None => y.push_str("    hangup: true\n"),
        }
    }
    y
}

proptest! {
    #[test]
    fn accepted_plans_round_trip_node_names_and_prompts(
        names in proptest::collection::btree_set("[a-z][a-z0-9_-]{0,12}", 1..20),
        text in "[^{}\\x00-\\x1f]{1,40}",
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let texts: Vec<String> = names.iter().map(|n| format!("{text} {n}")).collect();
        let yaml = chain_plan(&names, &texts);
        let plan = load_str("gen.yaml", &yaml).map_err(|d| TestCaseError::fail(d.render_human()))?;
        let loaded: Vec<&str> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
        prop_assert_eq!(loaded, names.iter().map(String::as_str).collect::<Vec<_>>());
        for (node, text) in plan.nodes.iter().zip(&texts) {
            let t = node.say.as_ref().unwrap().text("en-US", "en-US", 0).unwrap();
            prop_assert_eq!(t.source(), text.as_str());
        }
        prop_assert!(!validate(&plan).has_errors());
    }

    #[test]
    fn arbitrary_text_never_panics_the_loader(text in "\\PC{0,200}") {
        let _ = load_str("fuzz.yaml", &text);
    }
}

#[test]
fn thousand_node_plan_loads_and_validates() {
    let mut y = String::from(
        "version: 1\nname: big\nlanguage: en-US\nsettings: { escalate_to: agent }\nstart: n0\nintents:\n",
    );
    for i in 0..10 {
        y.push_str(&format!(
            "  i{i}: {{ examples: [\"option {i}\"], dtmf: \"{i}\" }}\n"
        ));
    }
    y.push_str("nodes:\n  agent:\n    enqueue: support\n");
    for i in 0..1000 {
        let next = (i + 1) % 1000;
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
            _ => y.push_str(&format!("  n{i}:\n    set: {{ vars.v{i}: \"{{{{ vars.v{i} + 1 }}}}\" }}\n    next: n{next}\n")),
        }
    }
    let started = Instant::now();
    let plan = load_str("big.yaml", &y).unwrap();
    let loaded = started.elapsed();
    let diags = validate(&plan);
    let total = started.elapsed();
    println!("1,001-node plan: load {loaded:?}, load + validate {total:?}");
    assert_eq!(plan.nodes.len(), 1001);
    assert!(matches!(
        plan.node_by_name("n1").unwrap().step,
        Step::Collect(_)
    ));
    assert!(!diags.has_errors(), "{}", diags.render_human());
}
