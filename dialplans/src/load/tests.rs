use super::*;

const BANK: &str = include_str!("../../tests/plans/bank.yaml");

fn errors(text: &str) -> Vec<String> {
    match load_str("p.yaml", text) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.to_string()).collect(),
    }
}

const HEAD: &str = "version: 1\nname: t\nlanguage: en-US\nstart: a\n";

#[test]
fn bank_example_loads_with_resolved_targets() {
    let plan = load_str("bank.yaml", BANK).unwrap();
    assert_eq!(plan.name, "acme-bank");
    assert_eq!(plan.languages, ["en-US", "zh-CN"]);
    assert_eq!(plan.settings.timezone, chrono_tz::America::New_York);
    assert_eq!(plan.node(plan.start.node).unwrap().name, "hours_check");
    let main = plan.node_by_name("main").unwrap();
    let Step::Listen(l) = &main.step else {
        panic!("main listens")
    };
    assert_eq!(l.intents.len(), 2);
    assert_eq!(
        plan.node(main.on_target("balance").unwrap().node)
            .unwrap()
            .name,
        "ask_account"
    );
    let ask = plan.node_by_name("ask_account").unwrap();
    let Step::Collect(c) = &ask.step else {
        panic!("ask_account collects")
    };
    assert_eq!(
        c.slot_type,
        SlotType::Digits {
            min: 8,
            max: 8,
            terminator: Some('#')
        }
    );
    assert!(c.sensitive);
    assert_eq!(plan.intent("agent").unwrap().dtmf, Some('0'));
    assert!(plan.intent("agent").unwrap().global);
    let zh: Vec<&str> = plan
        .intent("balance")
        .unwrap()
        .examples_for("zh-CN", "en-US")
        .collect();
    assert_eq!(zh, ["查余额", "我的余额是多少"]);
    let flow = plan.flow("verify").unwrap();
    assert_eq!(plan.node(flow.start.node).unwrap().name, "verify.ask_last4");
    let ask4 = plan.node_by_name("verify.ask_last4").unwrap();
    assert_eq!(
        plan.node(ask4.next.as_ref().unwrap().node).unwrap().name,
        "verify.done"
    );
    assert_eq!(plan.faq.len(), 1);
    assert_eq!(plan.faq[0].questions.len(), 2);
}

#[test]
fn chinese_prompts_load_and_render() {
    let plan = load_str("bank.yaml", BANK).unwrap();
    let main = plan.node_by_name("main").unwrap();
    let say = main.say.as_ref().unwrap();
    let t = say.text("zh-CN", "en-US", 0).unwrap();
    assert_eq!(t.source(), "欢迎致电Acme银行。请说查余额、挂失或人工服务。");
    let en = say.text("en-US", "en-US", 5).unwrap();
    assert_eq!(en.source(), "Say balance or lost card.");
    let lookup = plan.node_by_name("lookup").unwrap();
    let t = lookup
        .say
        .as_ref()
        .unwrap()
        .text("zh-CN", "en-US", 0)
        .unwrap();
    let vars = |p: &VarPath| (p.to_string() == "webhook.balance").then(|| serde_json::json!(12.5));
    assert_eq!(t.render_in(&vars, "zh-CN"), "您的余额是12.50元。");
}

#[test]
fn node_positions_are_exact() {
    let plan = load_str("bank.yaml", BANK).unwrap();
    let main = plan.node_by_name("main").unwrap();
    assert_eq!((main.span.line, main.span.column), (42, 3));
    let target = main.on_target("lost_card").unwrap();
    assert_eq!((target.span.line, target.span.column), (49, 44));
}

#[test]
fn unknown_keys_are_all_reported_with_suggestions() {
    let text = format!("{HEAD}nodes:\n  a:\n    sai: hi\n    hangup: true\n    nxt: a\n");
    assert_eq!(
        errors(&text),
        [
            "p.yaml:7:5: unknown key `sai` in node `a` — did you mean `say`?",
            "p.yaml:9:5: unknown key `nxt` in node `a` — did you mean `next`?",
        ]
    );
}

#[test]
fn bad_values_name_the_accepted_ones() {
    let text = format!(
        "{HEAD}settings: {{ no_input: 5, timezone: America/New_Yrok }}\nnodes:\n  a:\n    collect: {{ slot: x, type: digit, mode: voice }}\n    next: a\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:5:23: `no_input` has no unit — write a number with a unit: 500ms, 5s, 2m or 1h",
            "p.yaml:5:36: unknown time zone `America/New_Yrok` — did you mean `America/New_York`?",
            "p.yaml:8:31: `digit` is not a valid slot type — did you mean `digits`? (use `digits`, `number`, `currency`, `date`, `time`, `yes_no` or `phone`)",
            "p.yaml:8:44: `voice` is not a valid input mode — use `speech`, `dtmf` or `both`",
        ]
    );
}

#[test]
fn unknown_node_reference_suggests_a_close_name() {
    let text = format!(
        "{HEAD}nodes:\n  a:\n    say: hi\n    next: goodbey\n  goodbye:\n    hangup: true\n"
    );
    assert_eq!(
        errors(&text),
        ["p.yaml:8:11: unknown node `goodbey` — did you mean `goodbye`?"]
    );
}

#[test]
fn two_steps_in_one_node_is_an_error() {
    let text = format!("{HEAD}nodes:\n  a:\n    goto: a\n    hangup: true\n");
    assert_eq!(
        errors(&text),
        ["p.yaml:8:5: node `a` has two steps, `goto` and `hangup` — a node has one step: move one of them into a new node and link it with `next`"]
    );
}

#[test]
fn missing_required_keys_are_reported_together() {
    let errs = errors("name: t\nnodes: {}\n");
    assert_eq!(
        errs,
        [
            "p.yaml:1:1: the plan is missing `language` — add `language:`",
            "p.yaml:1:1: the plan is missing `start` — add `start:`",
            "p.yaml:1:1: the plan is missing `version` — add `version:`",
        ]
    );
}

#[test]
fn template_and_condition_errors_point_inside_the_text() {
    let text = format!(
        "{HEAD}nodes:\n  a:\n    say: \"Hi {{{{ slots.x | cash }}}}\"\n    branch:\n      - if: \"slots.x > \"\n        then: a\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("p.yaml:7:27: bad template in `say`: unknown filter `cash`"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("p.yaml:9:24: bad condition: expected a value, found the end"),
        "{errs:?}"
    );
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let errs = errors("version: 1\nname: [a\n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("p.yaml:3:1: YAML syntax error"),
        "{errs:?}"
    );
}

#[test]
fn duplicate_keys_are_a_syntax_error() {
    let errs = errors(&format!(
        "{HEAD}nodes:\n  a: {{ hangup: true }}\n  a: {{ hangup: true }}\n"
    ));
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("duplicated key"), "{errs:?}");
}

#[test]
fn includes_merge_nodes_and_intents_relative_to_the_including_file() {
    let provider = MemoryProvider::new()
        .with(
            "plans/main.yaml",
            format!("{HEAD}include: [parts/more.yaml]\nnodes:\n  a:\n    goto: b\n"),
        )
        .with(
            "plans/parts/more.yaml",
            "intents:\n  yes_i: { examples: [yes] }\nnodes:\n  b:\n    hangup: true\n",
        );
    let plan = load(Path::new("plans/main.yaml"), &provider).unwrap();
    assert_eq!(plan.nodes.len(), 2);
    assert_eq!(plan.files.len(), 2);
    let b = plan.node_by_name("b").unwrap();
    assert_eq!(&*b.span.file, "plans/parts/more.yaml");
    assert_eq!(b.span.line, 4);
    assert!(plan.intent("yes_i").is_some());
}

#[test]
fn include_errors_point_at_the_include_and_into_the_included_file() {
    let provider = MemoryProvider::new()
        .with("main.yaml", format!("{HEAD}include: [missing.yaml, bad.yaml, main.yaml]\nnodes:\n  a:\n    hangup: true\n"))
        .with("bad.yaml", "nodes:\n  b:\n    hangup: yes please\nstart: b\n");
    let errs: Vec<String> = load(Path::new("main.yaml"), &provider)
        .unwrap_err()
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(
        errs[0].starts_with("bad.yaml:3:13: `hangup` must be"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("bad.yaml:4:1: unknown key `start` in an included file"),
        "{errs:?}"
    );
    assert!(
        errs[2].starts_with("main.yaml:5:11: cannot read `missing.yaml`"),
        "{errs:?}"
    );
    assert!(
        errs[3].starts_with("main.yaml:5:35: `main.yaml` includes itself"),
        "{errs:?}"
    );
}

#[test]
fn flow_nodes_resolve_locally_then_at_top_level() {
    let text = format!(
        "{HEAD}nodes:\n  a:\n    call: f\n    next: done\n  done:\n    hangup: true\nflows:\n  f:\n    start: s\n    nodes:\n      s: {{ goto: done }}\n      done: {{ goto: a }}\n"
    );
    let plan = load_str("p.yaml", &text).unwrap();
    let s = plan.node_by_name("f.s").unwrap();
    let Step::Goto(t) = &s.step else { panic!() };
    assert_eq!(plan.node(t.node).unwrap().name, "f.done");
    let d = plan.node_by_name("f.done").unwrap();
    let Step::Goto(t) = &d.step else { panic!() };
    assert_eq!(plan.node(t.node).unwrap().name, "a");
}

#[test]
fn set_values_keep_their_types() {
    let text = format!("{HEAD}nodes:\n  a:\n    set: {{ vars.n: 3, vars.ok: true, vars.s: hello, vars.m: \"{{{{ vars.n + 1 }}}}\" }}\n    next: a\n");
    let plan = load_str("p.yaml", &text).unwrap();
    let Step::Set(a) = &plan.nodes[0].step else {
        panic!()
    };
    let none = |_: &VarPath| None;
    let values: Vec<_> = a.iter().map(|a| a.value.evaluate(&none).unwrap()).collect();
    assert_eq!(
        values,
        [
            serde_json::json!(3),
            serde_json::json!(true),
            serde_json::json!("hello"),
            serde_json::json!(1)
        ]
    );
    let errs = errors(&format!(
        "{HEAD}nodes:\n  a:\n    set: {{ caller.number: x }}\n    next: a\n"
    ));
    assert_eq!(errs, ["p.yaml:7:12: `caller.number` cannot be set — set variables under `vars.` (or `slots.`), like `vars.topic`"]);
}

#[test]
fn chinese_plan_loads_with_character_columns() {
    let text = "version: 1\nname: 银行\nlanguage: zh-CN\nsettings: { escalate_to: 人工 }\nintents:\n  查余额: { examples: [\"查余额\", \"我的余额是多少\"], dtmf: \"1\" }\nstart: 主菜单\nnodes:\n  主菜单:\n    say: \"欢迎致电，请说查余额。\"\n    listen: { intents: [查余额] }\n    on: { 查余额: 人工 }\n  人工:\n    say: \"正在为您转接。\"\n    enqueue: 客服\n";
    let plan = load_str("zh.yaml", text).unwrap();
    assert_eq!(plan.language, "zh-CN");
    let main = plan.node(plan.start.node).unwrap();
    assert_eq!(main.name, "主菜单");
    let say = main
        .say
        .as_ref()
        .unwrap()
        .text("zh-CN", "zh-CN", 0)
        .unwrap();
    assert_eq!(say.source(), "欢迎致电，请说查余额。");
    let target = main.on_target("查余额").unwrap();
    assert_eq!((target.span.line, target.span.column), (12, 16));
    assert!(crate::validate(&plan).is_empty());
    let bad = text.replace("on: { 查余额: 人工 }", "on: { 查余额: 人公 }");
    let errs = errors(&bad);
    assert_eq!(
        errs,
        ["p.yaml:12:16: unknown node `人公` — did you mean `人工`?"]
    );
}
