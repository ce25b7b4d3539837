//! The screen pop: what an agent sees when a call is offered.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ivr_dialplans::interpreter::{Handoff, Who};
use ivr_proto::v1;
use serde_json::Value;

/// A queued call's context, kept by the router and shown with every offer.
#[derive(Debug)]
pub(crate) struct Pop {
    pub call_id: String,
    pub caller: String,
    pub called: String,
    pub plan: String,
    /// Already redacted by the flow.
    pub handoff: Handoff,
    /// Slots the plan marks sensitive (their values are masked).
    pub sensitive: Vec<String>,
    /// When the caller first joined a queue.
    pub since: Instant,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// The label agents read for a sentiment score.
fn label(score: f32) -> &'static str {
    if score <= -0.25 {
        "negative"
    } else if score >= 0.25 {
        "positive"
    } else {
        "neutral"
    }
}

impl Pop {
    /// The offer message for an agent.
    pub fn offer(&self, offer_id: &str, queue: &str, now: Instant, expires: Duration) -> v1::Offer {
        let h = &self.handoff;
        let mut context: HashMap<String, String> = h
            .context
            .iter()
            .filter_map(|name| h.slots.get(name).map(|v| (name.clone(), text(v))))
            .collect();
        context.insert("reason".into(), h.reason.clone());
        if !h.language.is_empty() {
            context.insert("language".into(), h.language.clone());
        }
        v1::Offer {
            offer_id: offer_id.to_string(),
            call_id: self.call_id.clone(),
            caller_number: self.caller.clone(),
            called_number: self.called.clone(),
            dial_plan: self.plan.clone(),
            node_path: h.path.clone(),
            intents: h
                .intents
                .iter()
                .map(|(name, score)| v1::IntentScore {
                    name: name.clone(),
                    score: *score,
                })
                .collect(),
            slots: h
                .slots
                .iter()
                .map(|(name, v)| v1::Slot {
                    name: name.clone(),
                    value: text(v),
                    sensitive: self.sensitive.contains(name),
                })
                .collect(),
            transcript: h
                .transcript
                .iter()
                .map(|t| v1::TranscriptTurn {
                    who: match t.who {
                        Who::Caller => v1::Speaker::Caller,
                        Who::Engine => v1::Speaker::Ivr,
                    } as i32,
                    text: t.text.clone(),
                    node: t.node.clone(),
                    at_ms: t.at_ms,
                })
                .collect(),
            sentiment: h.sentiment.map(|score| v1::Sentiment {
                score,
                label: label(score).to_string(),
            }),
            waited_ms: ms(now.saturating_duration_since(self.since)),
            queue: queue.to_string(),
            expires_in_ms: ms(expires),
            context,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivr_dialplans::interpreter::Turn;
    use serde_json::json;

    #[test]
    fn the_offer_carries_the_conversation_with_sensitive_slots_flagged() {
        let t0 = Instant::now();
        let mut slots = serde_json::Map::new();
        slots.insert("account".into(), json!("12345678"));
        slots.insert("card".into(), json!("************1111"));
        let pop = Pop {
            call_id: "c1".into(),
            caller: "+15551230000".into(),
            called: "100".into(),
            plan: "bank".into(),
            handoff: Handoff {
                reason: "asked".into(),
                transcript: vec![Turn {
                    who: Who::Caller,
                    text: "I lost my card".into(),
                    node: "main".into(),
                    at_ms: 1200,
                }],
                intents: vec![("card_lost".into(), 0.92)],
                slots,
                context: vec!["account".into()],
                path: vec!["welcome".into(), "main".into()],
                sentiment: Some(-0.6),
                language: "en-US".into(),
                duration_ms: 30_000,
            },
            sensitive: vec!["card".into()],
            since: t0,
        };
        let o = pop.offer(
            "o1",
            "support",
            t0 + Duration::from_secs(7),
            Duration::from_secs(15),
        );
        assert_eq!(o.waited_ms, 7000);
        assert_eq!(o.expires_in_ms, 15_000);
        assert_eq!(o.transcript[0].text, "I lost my card");
        assert_eq!(o.transcript[0].who, v1::Speaker::Caller as i32);
        assert_eq!(o.intents[0].name, "card_lost");
        let card = o
            .slots
            .iter()
            .find(|s| s.name == "card")
            .expect("card slot");
        assert!(card.sensitive);
        assert_eq!(card.value, "************1111");
        assert!(!o.slots.iter().any(|s| s.name == "account" && s.sensitive));
        assert_eq!(
            o.context.get("account").map(String::as_str),
            Some("12345678")
        );
        assert_eq!(o.context.get("reason").map(String::as_str), Some("asked"));
        assert_eq!(o.sentiment.map(|s| s.label), Some("negative".to_string()));
        assert_eq!(o.node_path, vec!["welcome", "main"]);
    }
}
