//! `collect`: a typed slot from keys (accumulated one by one) or speech, with an optional
//! read-back.

use serde_json::Value;

use crate::expr::as_text;
use crate::model::{Collect, Node, NodeId, SlotType, Step};
use crate::nlu::{parse_slot, SlotKind};
use crate::template::Filter;

use super::prompts::read_back;
use super::session::{Session, Wait};
use super::vars::mask;
use super::{Action, Input};

impl Session {
    /// Input while a `collect` waits; `keys` are the keys pressed so far.
    pub(crate) fn on_collect(
        &mut self,
        node: &Node,
        mut keys: String,
        input: Input,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        let Step::Collect(c) = &node.step else {
            return None;
        };
        let (max, terminator) = match c.slot_type {
            SlotType::Digits {
                max, terminator, ..
            } => (max as usize, terminator.unwrap_or('#')),
            SlotType::Phone => (16, '#'),
            _ => (20, '#'),
        };
        match input {
            Input::Digit(d)
                if c.slot_type == SlotType::YesNo && keys.is_empty() && matches!(d, '1' | '2') =>
            {
                self.caller_turn(&d.to_string(), c.sensitive);
                self.accept_value(node, c, Value::Bool(d == '1'), out)
            }
            Input::Digit(d) if d == terminator => {
                if keys.is_empty() {
                    self.caller_turn(&d.to_string(), false);
                    self.failure(node, "no_match", out)
                } else {
                    self.finish_keys(node, c, &keys, out)
                }
            }
            Input::Digit(d) if d.is_ascii_digit() => {
                keys.push(d);
                if keys.len() >= max {
                    self.finish_keys(node, c, &keys, out)
                } else {
                    self.wait = Wait::Collect(keys);
                    self.listen(node, out);
                    None
                }
            }
            Input::Digit(d) => {
                if keys.is_empty() {
                    if let Some(m) = self.global(&Input::Digit(d), c.sensitive) {
                        self.caller_turn(&d.to_string(), false);
                        return self.take_intent(node, m, None, out);
                    }
                }
                keys.push(d);
                self.caller_turn(&keys, c.sensitive);
                self.failure(node, "no_match", out)
            }
            Input::NoInput if keys.is_empty() => self.failure(node, "no_input", out),
            Input::NoInput => self.finish_keys(node, c, &keys, out),
            Input::Speech { ref text, .. } => {
                let value = self.parse_value(c, text);
                match value {
                    Some(v) => {
                        let shown = if c.sensitive {
                            mask(&as_text(&v))
                        } else {
                            text.clone()
                        };
                        self.turn(super::Who::Caller, shown);
                        self.accept_value(node, c, v, out)
                    }
                    None => {
                        self.input_turn(&input, c.sensitive);
                        match self.global(&input, c.sensitive) {
                            Some(m) => self.take_intent(node, m, None, out),
                            None => self.failure(node, "no_match", out),
                        }
                    }
                }
            }
            _ => None,
        }
    }

    /// Keyed entry is complete (terminator, full length, or silence after some keys).
    fn finish_keys(
        &mut self,
        node: &Node,
        c: &Collect,
        keys: &str,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        self.caller_turn(keys, c.sensitive);
        match self.parse_value(c, keys) {
            Some(v) => self.accept_value(node, c, v, out),
            None => self.failure(node, "no_match", out),
        }
    }

    /// A slot value from what was said or keyed, checked against the slot's type.
    fn parse_value(&self, c: &Collect, text: &str) -> Option<Value> {
        let today = self.local_now().date();
        let kind = slot_kind(&c.slot_type);
        let v = parse_slot(kind, text, &self.language, today)?;
        if let SlotType::Digits { min, max, .. } = c.slot_type {
            let n = v.as_str().map_or(0, |s| s.chars().count());
            if n < min as usize || n > max as usize {
                return None;
            }
        }
        Some(v)
    }

    /// A valid value: read back when the step asks, else stored.
    fn accept_value(
        &mut self,
        node: &Node,
        c: &Collect,
        value: Value,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        if c.confirm {
            let shown = display(&c.slot_type, &value, &self.language);
            let masked = if c.sensitive {
                display(
                    &c.slot_type,
                    &Value::String(mask(&as_text(&value))),
                    &self.language,
                )
            } else {
                shown.clone()
            };
            let text = read_back(&shown, &self.language);
            let masked = read_back(&masked, &self.language);
            self.say_plain(text, masked, out);
            self.wait = Wait::CollectConfirm(value);
            self.listen(node, out);
            return None;
        }
        self.store_slot(&c.slot.name, value, c.sensitive, out);
        self.next_of(node, out)
    }

    /// Input after the read-back: yes stores the value, no asks again.
    pub(crate) fn on_collect_confirm(
        &mut self,
        node: &Node,
        value: Value,
        input: Input,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        let Step::Collect(c) = &node.step else {
            return None;
        };
        if input == Input::NoInput {
            return self.failure(node, "no_input", out);
        }
        self.input_turn(&input, false);
        match self.yes_no(&input) {
            Some(true) => {
                self.store_slot(&c.slot.name, value, c.sensitive, out);
                self.next_of(node, out)
            }
            _ => self.failure(node, "no_match", out),
        }
    }
}

/// The entity parser for a slot type.
fn slot_kind(t: &SlotType) -> SlotKind {
    match t {
        SlotType::Digits { .. } => SlotKind::Digits,
        SlotType::Number => SlotKind::Number,
        SlotType::Currency => SlotKind::Currency,
        SlotType::Date => SlotKind::Date,
        SlotType::Time => SlotKind::Time,
        SlotType::YesNo => SlotKind::YesNo,
        SlotType::Phone => SlotKind::Phone,
    }
}

/// How a value is read back.
fn display(t: &SlotType, v: &Value, language: &str) -> String {
    let zh = language.starts_with("zh");
    match t {
        SlotType::Digits { .. } | SlotType::Phone => Filter::Digits.apply(v, language),
        SlotType::Currency => {
            let amount = v.get("amount").cloned().unwrap_or_else(|| v.clone());
            Filter::Money.apply(&amount, language)
        }
        SlotType::Date => Filter::Date.apply(v, language),
        SlotType::Time => Filter::Time.apply(v, language),
        SlotType::YesNo => match (v.as_bool(), zh) {
            (Some(true), false) => "yes".to_owned(),
            (Some(false), false) => "no".to_owned(),
            (Some(true), true) => "是".to_owned(),
            (Some(false), true) => "不是".to_owned(),
            (None, _) => as_text(v),
        },
        SlotType::Number => as_text(v),
    }
}
