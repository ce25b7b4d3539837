//! Reading nodes, their steps and prompts.

use std::time::Duration;

use crate::expr::Expr;
use crate::load::reader::{is_language_tag, is_simple_name, one_of, Cx, Fields};
use crate::load::yaml::{Kind, Y};
use crate::model::*;
use crate::template::Template;

/// The step keywords of a node.
pub(crate) const STEPS: [&str; 14] = [
    "listen",
    "collect",
    "confirm",
    "set",
    "branch",
    "webhook",
    "faq",
    "enqueue",
    "transfer",
    "voicemail",
    "hangup",
    "goto",
    "call",
    "return",
];

const NODE_KEYS: [&str; 19] = [
    "say",
    "play",
    "next",
    "on",
    "help",
    "listen",
    "collect",
    "confirm",
    "set",
    "branch",
    "webhook",
    "faq",
    "enqueue",
    "transfer",
    "voicemail",
    "hangup",
    "goto",
    "call",
    "return",
];

const INPUT_KEYS: [&str; 4] = ["mode", "timeout", "max_retries", "barge_in"];

/// An unresolved target: resolved to a node id after every node is known.
pub(crate) fn target(cx: &mut Cx, y: &Y, what: &str) -> Option<Target> {
    let name = cx.string(y, what)?;
    Some(Target {
        name,
        node: NodeId::UNRESOLVED,
        span: y.text_span(),
    })
}

/// Reads `on:` entries.
pub(crate) fn on_entries(cx: &mut Cx, y: &Y) -> Vec<OnEntry> {
    let Some(entries) = cx.map(y, "`on`", "on: { balance: ask_account }") else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|(k, v)| {
            let target = target(cx, v, &format!("`on.{}`", k.name))?;
            Some(OnEntry {
                key: k.name.clone(),
                span: k.span.clone(),
                target,
            })
        })
        .collect()
}

/// Reads one node. `name` is already qualified (`flow.node`).
pub(crate) fn node(cx: &mut Cx, name: String, key_span: Span, flow: Option<String>, y: &Y) -> Node {
    let mut node = Node {
        name,
        span: key_span,
        flow,
        say: None,
        play: None,
        step: Step::None,
        next: None,
        on: Vec::new(),
        help: None,
    };
    let what = format!("node `{}`", node.name);
    let Some(f) = cx.fields(y, &what, &NODE_KEYS) else {
        return node;
    };
    node.say = f.get("say").and_then(|y| prompt(cx, y, "`say`"));
    node.help = f.get("help").and_then(|y| prompt(cx, y, "`help`"));
    node.play = f.get("play").and_then(|y| play(cx, y));
    node.next = f.get("next").and_then(|y| target(cx, y, "`next`"));
    node.on = f.get("on").map(|y| on_entries(cx, y)).unwrap_or_default();

    let steps: Vec<_> = f
        .entries
        .iter()
        .filter(|(k, _)| STEPS.contains(&k.name.as_str()))
        .collect();
    if let [first, second, ..] = steps.as_slice() {
        cx.error_hint(
            &second.0.span,
            format!(
                "{what} has two steps, `{}` and `{}`",
                first.0.name, second.0.name
            ),
            "a node has one step: move one of them into a new node and link it with `next`",
        );
    }
    if let Some((k, v)) = steps.first() {
        node.step = step(cx, &k.name, v).unwrap_or(Step::None);
    }
    node
}

fn step(cx: &mut Cx, key: &str, y: &Y) -> Option<Step> {
    Some(match key {
        "listen" => Step::Listen(listen(cx, y)?),
        "collect" => Step::Collect(collect(cx, y)?),
        "confirm" => Step::Confirm(confirm(cx, y)?),
        "set" => Step::Set(set(cx, y)),
        "branch" => {
            let (arms, otherwise) = branch(cx, y);
            Step::Branch(arms, otherwise)
        }
        "webhook" => Step::Webhook(webhook(cx, y)?),
        "faq" => Step::Faq(faq(cx, y)?),
        "enqueue" => Step::Enqueue(enqueue(cx, y)?),
        "transfer" => Step::Transfer(cx.template(y, "`transfer`")?),
        "voicemail" => Step::Voicemail(voicemail(cx, y)?),
        "hangup" => match &y.kind {
            Kind::Bool(true) | Kind::Null => Step::Hangup(None),
            Kind::Map(_) => {
                let f = cx.fields(y, "`hangup`", &["say"])?;
                Step::Hangup(f.get("say").and_then(|y| prompt(cx, y, "`hangup.say`")))
            }
            _ => {
                cx.error_hint(
                    &y.span,
                    format!(
                        "`hangup` must be `true` or `{{ say: … }}`, not {}",
                        y.describe()
                    ),
                    "write `hangup: true` or `hangup: { say: \"Goodbye.\" }`",
                );
                return None;
            }
        },
        "goto" => Step::Goto(target(cx, y, "`goto`")?),
        "call" => Step::Call(cx.named(y, "`call`")?),
        "return" => match y.kind {
            Kind::Bool(true) | Kind::Null => Step::Return,
            _ => {
                cx.error_hint(&y.span, "`return` takes no value", "write `return: true`");
                return None;
            }
        },
        _ => return None,
    })
}

fn input_options(cx: &mut Cx, f: &Fields<'_>) -> InputOptions {
    InputOptions {
        mode: f
            .get("mode")
            .and_then(|y| cx.choice(y, "input mode", &["speech", "dtmf", "both"]))
            .map(|m| match m.as_str() {
                "speech" => InputMode::Speech,
                "dtmf" => InputMode::Dtmf,
                _ => InputMode::Both,
            })
            .unwrap_or_default(),
        timeout: f.get("timeout").and_then(|y| cx.duration(y, "`timeout`")),
        max_retries: f
            .get("max_retries")
            .and_then(|y| cx.u32(y, "`max_retries`", 20)),
        barge_in: f.get("barge_in").and_then(|y| cx.bool(y, "`barge_in`")),
    }
}

fn keys<'a>(own: &[&'a str]) -> Vec<&'a str> {
    own.iter().copied().chain(INPUT_KEYS).collect()
}

fn listen(cx: &mut Cx, y: &Y) -> Option<Listen> {
    let f = cx.fields(y, "`listen`", &keys(&["intents", "no_input", "no_match"]))?;
    Some(Listen {
        intents: f
            .get("intents")
            .map(|y| cx.names(y, "intent name"))
            .unwrap_or_default(),
        input: input_options(cx, &f),
        no_input: f.get("no_input").and_then(|y| prompt(cx, y, "`no_input`")),
        no_match: f.get("no_match").and_then(|y| prompt(cx, y, "`no_match`")),
        span: y.span.clone(),
    })
}

const SLOT_TYPES: [&str; 7] = [
    "digits", "number", "currency", "date", "time", "yes_no", "phone",
];

fn collect(cx: &mut Cx, y: &Y) -> Option<Collect> {
    let f = cx.fields(
        y,
        "`collect`",
        &keys(&[
            "slot",
            "type",
            "length",
            "terminator",
            "sensitive",
            "prompt",
            "retry",
            "confirm",
        ]),
    )?;
    let slot = cx
        .required(&f, "slot", "`collect`")
        .and_then(|y| cx.named(y, "`slot`"));
    let type_name = cx
        .required(&f, "type", "`collect`")
        .and_then(|y| cx.choice(y, "slot type", &SLOT_TYPES));
    let terminator = f
        .get("terminator")
        .and_then(|y| dtmf_key(cx, y, "`terminator`"));
    let input = input_options(cx, &f);
    let sensitive = f
        .get("sensitive")
        .and_then(|y| cx.bool(y, "`sensitive`"))
        .unwrap_or(false);
    let prompt_ = f.get("prompt").and_then(|y| prompt(cx, y, "`prompt`"));
    let retry = f.get("retry").and_then(|y| prompt(cx, y, "`retry`"));
    let confirm = f
        .get("confirm")
        .and_then(|y| cx.bool(y, "`confirm`"))
        .unwrap_or(false);
    let slot_type = match type_name.as_deref() {
        Some("digits") => {
            let (min, max) = match f.get("length") {
                None => (1, 20),
                Some(y) => digits_length(cx, y)?,
            };
            SlotType::Digits {
                min,
                max,
                terminator: terminator.or(Some('#')),
            }
        }
        Some(other) => {
            for key in ["length", "terminator"] {
                if let Some(k) = f.key(key) {
                    cx.error_hint(
                        &k.span,
                        format!("`{key}` only applies to `type: digits`, not `{other}`"),
                        format!("remove `{key}`"),
                    );
                }
            }
            match other {
                "number" => SlotType::Number,
                "currency" => SlotType::Currency,
                "date" => SlotType::Date,
                "time" => SlotType::Time,
                "yes_no" => SlotType::YesNo,
                _ => SlotType::Phone,
            }
        }
        None => return None,
    };
    let slot = slot?;
    if !is_simple_name(&slot.name) {
        cx.error_hint(
            &slot.span,
            format!(
                "slot name `{}` has characters other than letters, digits, `-` and `_`",
                slot.name
            ),
            "rename the slot",
        );
    }
    Some(Collect {
        slot,
        slot_type,
        sensitive,
        prompt: prompt_,
        retry,
        confirm,
        input,
        span: y.span.clone(),
    })
}

fn digits_length(cx: &mut Cx, y: &Y) -> Option<(u32, u32)> {
    if let Kind::Int(_) = y.kind {
        let n = cx.u32(y, "`length`", 64)?;
        if n == 0 {
            cx.error_hint(&y.span, "`length` is 0", "use at least 1 digit");
            return None;
        }
        return Some((n, n));
    }
    let f = cx.fields(y, "`length`", &["min", "max"])?;
    let min = f
        .get("min")
        .and_then(|y| cx.u32(y, "`length.min`", 64))
        .unwrap_or(1);
    let max = f
        .get("max")
        .and_then(|y| cx.u32(y, "`length.max`", 64))
        .unwrap_or(64);
    if min == 0 || min > max {
        cx.error_hint(
            &y.span,
            format!("`length` from {min} to {max} is empty"),
            "use 1 <= min <= max",
        );
        return None;
    }
    Some((min, max))
}

/// One keypad key: `0`–`9`, `*`, `#`, `A`–`D`.
pub(crate) fn dtmf_key(cx: &mut Cx, y: &Y, what: &str) -> Option<char> {
    let s = cx.string(y, what)?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') => Some(c),
        _ => {
            cx.error_hint(
                &y.span,
                format!("{what} `{s}` is not one keypad key"),
                "use one of 0-9, *, # or A-D, quoted: \"1\"",
            );
            None
        }
    }
}

fn confirm(cx: &mut Cx, y: &Y) -> Option<Confirm> {
    if let Kind::Str(_) = y.kind {
        return Some(Confirm {
            prompt: prompt(cx, y, "`confirm`")?,
            input: InputOptions::default(),
            span: y.span.clone(),
        });
    }
    let f = cx.fields(y, "`confirm`", &keys(&["prompt"]))?;
    let p = cx
        .required(&f, "prompt", "`confirm`")
        .and_then(|y| prompt(cx, y, "`prompt`"));
    let input = input_options(cx, &f);
    Some(Confirm {
        prompt: p?,
        input,
        span: y.span.clone(),
    })
}

fn set(cx: &mut Cx, y: &Y) -> Vec<Assignment> {
    let Some(entries) = cx.map(y, "`set`", "set: { vars.topic: billing }") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let path = VarPath::parse(&k.name);
        let Some(path) = path
            .filter(|p| matches!(p.root(), Some(Root::Vars | Root::Slots)) && p.key().is_some())
        else {
            cx.error_hint(
                &k.span,
                format!("`{}` cannot be set", k.name),
                "set variables under `vars.` (or `slots.`), like `vars.topic`",
            );
            continue;
        };
        let value = match &v.kind {
            Kind::Str(_) => cx.template(v, &format!("`set.{}`", k.name)),
            Kind::Int(_) | Kind::Float(_) | Kind::Bool(_) | Kind::Null => {
                let lit = v.scalar_text().unwrap_or_else(|| "null".to_owned());
                Template::parse(&format!("{{{{ {lit} }}}}")).ok()
            }
            _ => {
                cx.error_hint(
                    &v.span,
                    format!(
                        "`set.{}` must be a single value, not {}",
                        k.name,
                        v.describe()
                    ),
                    "write text, a number, true/false, or a `{{ expression }}`",
                );
                None
            }
        };
        if let Some(value) = value {
            out.push(Assignment {
                target: path,
                value,
                span: k.span.clone(),
            });
        }
    }
    out
}

fn branch(cx: &mut Cx, y: &Y) -> (Vec<BranchArm>, Option<Target>) {
    let mut arms = Vec::new();
    let mut otherwise: Option<Target> = None;
    let Kind::Seq(items) = &y.kind else {
        cx.error_hint(
            &y.span,
            format!("`branch` must be a list, not {}", y.describe()),
            "write `- if: \"condition\"` / `then: node` items and a last `- else: node`",
        );
        return (arms, otherwise);
    };
    for item in items {
        let Some(f) = cx.fields(item, "a `branch` arm", &["if", "then", "else"]) else {
            continue;
        };
        if let Some(prev) = &otherwise {
            cx.error_hint(
                &item.span,
                "`branch` arm after `else` is never taken",
                format!("move the `else` (at line {}) to the end", prev.span.line),
            );
        }
        match (f.get("if"), f.get("else")) {
            (Some(cond), None) => {
                let then = cx
                    .required(&f, "then", "a `branch` arm with `if`")
                    .and_then(|y| target(cx, y, "`then`"));
                let arm = condition(cx, cond).zip(then);
                if let Some(((condition, source), then)) = arm {
                    arms.push(BranchArm {
                        condition,
                        source,
                        then,
                        span: cond.text_span(),
                    });
                }
            }
            (None, Some(e)) => {
                if let Some(k) = f.key("then") {
                    cx.error_hint(
                        &k.span,
                        "`else` takes its target directly",
                        "write `- else: node`",
                    );
                }
                otherwise = target(cx, e, "`else`");
            }
            (Some(_), Some(_)) => {
                cx.error_hint(
                    &item.span,
                    "a `branch` arm has both `if` and `else`",
                    "split them into two arms",
                );
            }
            (None, None) => {
                cx.error_hint(
                    &item.span,
                    "a `branch` arm needs `if` or `else`",
                    "write `- if: \"condition\"` / `then: node`",
                );
            }
        }
    }
    (arms, otherwise)
}

/// Parses a condition, placing a syntax error at its character.
pub(crate) fn condition(cx: &mut Cx, y: &Y) -> Option<(Expr, String)> {
    let text = match &y.kind {
        Kind::Bool(b) => b.to_string(),
        _ => cx.string(y, "condition")?,
    };
    match Expr::parse(&text) {
        Ok(e) => Some((e, text)),
        Err(e) => {
            let mut span = y.text_span();
            span.column += e.offset as u32;
            cx.error_hint(
                &span,
                format!("bad condition: {}", e.message),
                "conditions look like `slots.amount > 1000 and not open(business)`",
            );
            None
        }
    }
}

fn webhook(cx: &mut Cx, y: &Y) -> Option<Webhook> {
    let f = cx.fields(
        y,
        "`webhook`",
        &["url", "method", "timeout", "retries", "send", "on_error"],
    )?;
    let url_y = cx.required(&f, "url", "`webhook`")?;
    let url = cx.string(url_y, "`url`")?;
    Some(Webhook {
        url,
        url_span: url_y.text_span(),
        method: match f
            .get("method")
            .and_then(|y| cx.choice(y, "HTTP method", &["POST", "GET"]))
        {
            Some(m) if m == "GET" => Method::Get,
            _ => Method::Post,
        },
        timeout: f
            .get("timeout")
            .and_then(|y| cx.duration(y, "`timeout`"))
            .unwrap_or(Duration::from_secs(5)),
        retries: f
            .get("retries")
            .and_then(|y| cx.u32(y, "`retries`", 10))
            .unwrap_or(0),
        send: f.get("send").map(|y| cx.names(y, "slot name")),
        on_error: f.get("on_error").and_then(|y| target(cx, y, "`on_error`")),
        span: y.span.clone(),
    })
}

fn faq(cx: &mut Cx, y: &Y) -> Option<FaqStep> {
    let f = cx.fields(y, "`faq` step", &keys(&["prompt", "threshold", "confirm"]))?;
    Some(FaqStep {
        prompt: f.get("prompt").and_then(|y| prompt(cx, y, "`prompt`")),
        threshold: f
            .get("threshold")
            .and_then(|y| cx.number(y, "`threshold`", 0.0, 1.0)),
        confirm: f.get("confirm").and_then(|y| prompt(cx, y, "`confirm`")),
        input: input_options(cx, &f),
        span: y.span.clone(),
    })
}

fn enqueue(cx: &mut Cx, y: &Y) -> Option<Enqueue> {
    if let Kind::Str(_) = y.kind {
        return Some(Enqueue {
            queue: cx.named(y, "`queue`")?,
            priority: 0,
            skills: Vec::new(),
            context: Vec::new(),
            span: y.span.clone(),
        });
    }
    let f = cx.fields(y, "`enqueue`", &["queue", "priority", "skills", "context"])?;
    let queue = cx
        .required(&f, "queue", "`enqueue`")
        .and_then(|y| cx.named(y, "`queue`"));
    Some(Enqueue {
        priority: f
            .get("priority")
            .and_then(|y| cx.int(y, "`priority`", -1000, 1000))
            .unwrap_or(0) as i32,
        skills: f
            .get("skills")
            .map(|y| cx.strings(y, "skill"))
            .unwrap_or_default(),
        context: f
            .get("context")
            .map(|y| cx.names(y, "slot name"))
            .unwrap_or_default(),
        queue: queue?,
        span: y.span.clone(),
    })
}

fn voicemail(cx: &mut Cx, y: &Y) -> Option<Voicemail> {
    if let Kind::Str(_) = y.kind {
        return Some(Voicemail {
            mailbox: cx.string(y, "`mailbox`")?,
            prompt: None,
            max_length: Duration::from_secs(120),
            span: y.span.clone(),
        });
    }
    let f = cx.fields(y, "`voicemail`", &["mailbox", "prompt", "max_length"])?;
    let mailbox = cx
        .required(&f, "mailbox", "`voicemail`")
        .and_then(|y| cx.string(y, "`mailbox`"));
    Some(Voicemail {
        prompt: f.get("prompt").and_then(|y| prompt(cx, y, "`prompt`")),
        max_length: f
            .get("max_length")
            .and_then(|y| cx.duration(y, "`max_length`"))
            .unwrap_or(Duration::from_secs(120)),
        mailbox: mailbox?,
        span: y.span.clone(),
    })
}

fn play(cx: &mut Cx, y: &Y) -> Option<Play> {
    if let Kind::Str(_) = y.kind {
        return Some(Play {
            file: cx.string(y, "`play`")?,
            looped: false,
            span: y.text_span(),
        });
    }
    let f = cx.fields(y, "`play`", &["file", "loop"])?;
    let file = cx
        .required(&f, "file", "`play`")
        .and_then(|y| cx.string(y, "`file`"))?;
    Some(Play {
        file,
        looped: f
            .get("loop")
            .and_then(|y| cx.bool(y, "`loop`"))
            .unwrap_or(false),
        span: y.span.clone(),
    })
}

const PROMPT_KEYS: [&str; 3] = ["text", "voice", "rate"];

/// Reads a prompt: text, a list of per-attempt texts, `{ text, voice, rate }`, or a mapping of
/// language tags to any of those.
pub(crate) fn prompt(cx: &mut Cx, y: &Y, what: &str) -> Option<Prompt> {
    let variants = match &y.kind {
        Kind::Map(entries)
            if entries
                .iter()
                .any(|(k, _)| PROMPT_KEYS.contains(&k.name.as_str())) =>
        {
            vec![variant(cx, y, None, what)?]
        }
        Kind::Map(entries) => {
            let mut out = Vec::new();
            for (k, v) in entries {
                if !is_language_tag(&k.name) {
                    cx.error_hint(
                        &k.span,
                        format!(
                            "`{}` in {what} is neither a language tag nor a prompt key",
                            k.name
                        ),
                        format!(
                            "use language tags like `en-US`, `zh-CN`, or the keys {}",
                            one_of(&PROMPT_KEYS)
                        ),
                    );
                    continue;
                }
                out.extend(variant(cx, v, Some(k.name.clone()), what));
            }
            out
        }
        _ => vec![variant(cx, y, None, what)?],
    };
    Some(Prompt {
        variants,
        span: y.span.clone(),
    })
}

fn variant(cx: &mut Cx, y: &Y, language: Option<String>, what: &str) -> Option<PromptVariant> {
    let mut v = PromptVariant {
        language,
        attempts: Vec::new(),
        voice: None,
        rate: None,
    };
    let texts = match &y.kind {
        Kind::Map(_) => {
            let f = cx.fields(y, what, &PROMPT_KEYS)?;
            v.voice = f.get("voice").and_then(|y| cx.string(y, "`voice`"));
            v.rate = f.get("rate").and_then(|y| cx.u32(y, "`rate`", 600));
            cx.required(&f, "text", what)?
        }
        _ => y,
    };
    let items = cx.list(texts);
    if items.is_empty() {
        cx.error_hint(
            &texts.span,
            format!("{what} is empty"),
            "write the text to say",
        );
        return None;
    }
    for item in items {
        v.attempts.extend(cx.template(item, what));
    }
    (!v.attempts.is_empty()).then_some(v)
}
