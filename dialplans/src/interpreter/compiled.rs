//! A plan ready to run: the model plus the matchers built once per plan.

use std::sync::Arc;

use crate::model::{Node, Plan, Prompt, SlotType, Step};
use crate::nlu::{IntentSpec, Matcher};

use super::prompts::BUILTIN_ALL;

/// A plan ready to run: the model plus what is built once per plan (intent matchers per
/// language, the FAQ matcher). Build at load time; share across calls.
#[derive(Debug)]
pub struct CompiledPlan {
    /// The plan.
    pub plan: Plan,
    /// Intent matcher per language (`plan.languages` order).
    matchers: Vec<(String, Matcher)>,
    /// FAQ matcher per language; entry `i` is the intent named `faq{i}`.
    faq: Vec<(String, Matcher)>,
    /// Names of the global intents.
    globals: Vec<String>,
}

/// A prompt the plan can say without variables, for TTS warm-up.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StaticPrompt {
    /// The text.
    pub text: String,
    /// BCP 47 tag.
    pub language: String,
    /// TTS voice.
    pub voice: Option<String>,
    /// Speaking rate in words per minute.
    pub rate: Option<u32>,
}

impl CompiledPlan {
    /// Builds the matchers of a plan.
    pub fn new(plan: Plan) -> Arc<CompiledPlan> {
        let mut languages = plan.languages.clone();
        if !languages.contains(&plan.language) {
            languages.insert(0, plan.language.clone());
        }
        let matchers = languages
            .iter()
            .map(|lang| {
                let specs: Vec<IntentSpec> = plan
                    .intents
                    .iter()
                    .map(|i| IntentSpec {
                        name: i.name.clone(),
                        examples: i
                            .examples_for(lang, &plan.language)
                            .map(str::to_owned)
                            .collect(),
                        synonyms: i.synonyms.clone(),
                        dtmf: i.dtmf.map(|c| c.to_string()),
                    })
                    .collect();
                (lang.clone(), Matcher::new(lang, &specs))
            })
            .collect();
        let faq_specs: Vec<IntentSpec> = plan
            .faq
            .iter()
            .enumerate()
            .map(|(i, e)| IntentSpec {
                name: format!("faq{i}"),
                examples: e.questions.clone(),
                ..IntentSpec::default()
            })
            .collect();
        let faq = languages
            .iter()
            .map(|lang| (lang.clone(), Matcher::new(lang, &faq_specs)))
            .collect();
        let globals = plan.global_intents().map(|i| i.name.clone()).collect();
        Arc::new(CompiledPlan {
            plan,
            matchers,
            faq,
            globals,
        })
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The intent matcher for a language (the plan's default language's when it has none).
    pub fn matcher(&self, language: &str) -> Option<&Matcher> {
        pick(&self.matchers, language, &self.plan.language)
    }

    /// The FAQ matcher for a language; its intents are named `faq{index}`.
    pub fn faq_matcher(&self, language: &str) -> Option<&Matcher> {
        pick(&self.faq, language, &self.plan.language)
    }

    /// The names of the global intents.
    pub fn globals(&self) -> &[String] {
        &self.globals
    }

    /// What a speech grammar should expect when `node` waits for the caller in `language`: the
    /// phrases (yes/no for confirmations, the examples of the intents the node listens for, and
    /// the global intents' everywhere) and the slot type (of a `collect`; yes/no for a
    /// `confirm`). `confirming` is set while the node asks "did you mean …?".
    pub fn speech_hints(
        &self,
        node: &Node,
        language: &str,
        confirming: bool,
    ) -> (Vec<String>, Option<SlotType>) {
        let plan = &self.plan;
        let yes_no = confirming || matches!(node.step, Step::Confirm(_));
        let mut hints: Vec<String> = if yes_no {
            super::prompts::yes_no_hints(language)
        } else {
            Vec::new()
        };
        let local = match &node.step {
            Step::Listen(l) => l.intents.as_slice(),
            _ => &[],
        };
        let names = local
            .iter()
            .map(|n| n.name.as_str())
            .chain(self.globals.iter().map(String::as_str));
        for name in names {
            if let Some(i) = plan.intent(name) {
                hints.extend(i.examples_for(language, &plan.language).map(str::to_owned));
            }
        }
        hints.dedup();
        hints.truncate(200);
        let slot = match &node.step {
            _ if yes_no => Some(SlotType::YesNo),
            Step::Collect(c) => Some(c.slot_type.clone()),
            _ => None,
        };
        (hints, slot)
    }

    /// Every (text, language, voice, rate) the plan can say without variables — prompts of
    /// every node and FAQ answer, and the built-in prompts — for TTS warm-up. Sorted, no
    /// duplicates.
    pub fn static_prompts(&self) -> Vec<StaticPrompt> {
        let plan = &self.plan;
        let mut out = Vec::new();
        let mut add = |p: &Prompt| {
            for v in &p.variants {
                let language = v.language.clone().unwrap_or_else(|| plan.language.clone());
                for t in &v.attempts {
                    if t.placeholders().next().is_none() && !t.source().trim().is_empty() {
                        out.push(StaticPrompt {
                            text: t.source().to_owned(),
                            language: language.clone(),
                            voice: v.voice.clone().or_else(|| plan.settings.voice.clone()),
                            rate: v.rate.or(plan.settings.rate),
                        });
                    }
                }
            }
        };
        for node in &plan.nodes {
            node.prompts().into_iter().for_each(&mut add);
        }
        plan.faq.iter().for_each(|e| add(&e.answer));
        for lang in &plan.languages {
            for b in BUILTIN_ALL {
                out.push(StaticPrompt {
                    text: b.text(lang).to_owned(),
                    language: lang.clone(),
                    voice: plan.settings.voice.clone(),
                    rate: plan.settings.rate,
                });
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn pick<'a>(list: &'a [(String, Matcher)], language: &str, default: &str) -> Option<&'a Matcher> {
    list.iter()
        .find(|(l, _)| l == language)
        .or_else(|| list.iter().find(|(l, _)| l == default))
        .map(|(_, m)| m)
}
