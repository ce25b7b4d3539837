//! Realistic intent sets — a bank, a clinic (English and Chinese) and a delivery notice — used
//! by the intent-accuracy test and the example plans.

use super::IntentSpec;

/// One intent of a fixture set.
#[derive(Debug, Clone, Copy)]
pub struct FixtureIntent {
    /// Intent name.
    pub name: &'static str,
    /// Example utterances.
    pub examples: &'static [&'static str],
    /// Keypad shortcut.
    pub dtmf: Option<&'static str>,
}

/// Converts a fixture set to matcher input.
pub fn specs(set: &[FixtureIntent]) -> Vec<IntentSpec> {
    set.iter()
        .map(|f| IntentSpec {
            name: f.name.to_string(),
            examples: f.examples.iter().map(|e| e.to_string()).collect(),
            synonyms: Vec::new(),
            dtmf: f.dtmf.map(str::to_string),
        })
        .collect()
}

const fn intent(
    name: &'static str,
    dtmf: Option<&'static str>,
    examples: &'static [&'static str],
) -> FixtureIntent {
    FixtureIntent {
        name,
        examples,
        dtmf,
    }
}

/// A retail bank's main menu (en-US).
pub const BANK_EN: &[FixtureIntent] = &[
    intent(
        "balance",
        Some("1"),
        &[
            "check my balance",
            "what's my balance",
            "how much money do I have",
            "account balance",
            "how much is in my checking account",
            "what is my available balance",
        ],
    ),
    intent(
        "lost_card",
        Some("2"),
        &[
            "I lost my card",
            "my card was stolen",
            "I need to block my card",
            "report a lost or stolen card",
            "I can't find my debit card",
            "freeze my credit card",
        ],
    ),
    intent(
        "transfer_money",
        Some("3"),
        &[
            "transfer money",
            "I want to move money between accounts",
            "send money to my savings",
            "make a transfer",
            "pay someone from my account",
            "wire funds to another bank",
        ],
    ),
    intent(
        "recent_transactions",
        Some("4"),
        &[
            "recent transactions",
            "what were my last purchases",
            "show me my latest payments",
            "I want to hear my account activity",
            "was there a charge on my account",
        ],
    ),
    intent(
        "change_pin",
        Some("5"),
        &[
            "change my pin",
            "reset my pin number",
            "I forgot my pin",
            "set a new pin code for my card",
        ],
    ),
    intent(
        "opening_hours",
        Some("6"),
        &[
            "what are your opening hours",
            "when are you open",
            "what time does the branch close",
            "are you open on saturday",
            "branch hours",
        ],
    ),
    intent(
        "agent",
        Some("0"),
        &[
            "talk to a person",
            "representative",
            "speak to an agent",
            "I want a human",
            "customer service",
            "operator",
        ],
    ),
    intent(
        "repeat",
        Some("*"),
        &[
            "repeat that",
            "say that again",
            "can you repeat the options",
            "sorry I didn't catch that",
            "come again",
        ],
    ),
    intent(
        "help",
        Some("9"),
        &[
            "help",
            "what can I say",
            "what are my options",
            "I don't know what to do",
            "I need help",
        ],
    ),
    intent(
        "goodbye",
        None,
        &[
            "goodbye",
            "bye",
            "that's all thank you",
            "I'm done",
            "hang up",
            "nothing else",
        ],
    ),
];

/// A medical clinic's appointment line (en-US).
pub const CLINIC_EN: &[FixtureIntent] = &[
    intent(
        "book_appointment",
        Some("1"),
        &[
            "book an appointment",
            "I need to see a doctor",
            "schedule a visit",
            "make an appointment with doctor smith",
            "can I come in this week",
            "I'd like a checkup",
        ],
    ),
    intent(
        "cancel_appointment",
        Some("2"),
        &[
            "cancel my appointment",
            "I can't make my appointment",
            "I want to cancel",
            "please cancel my visit tomorrow",
            "I won't be able to come",
        ],
    ),
    intent(
        "reschedule",
        Some("3"),
        &[
            "reschedule my appointment",
            "move my appointment to another day",
            "change the time of my visit",
            "can I come at a different time",
            "I need a later appointment",
        ],
    ),
    intent(
        "prescription_refill",
        Some("4"),
        &[
            "refill my prescription",
            "I need more of my medication",
            "renew my prescription",
            "my pills are running out",
            "order a repeat prescription",
        ],
    ),
    intent(
        "test_results",
        Some("5"),
        &[
            "my test results",
            "are my lab results back",
            "I'm calling about my blood test",
            "did the results come in",
            "results of my x ray",
        ],
    ),
    intent(
        "opening_hours",
        Some("6"),
        &[
            "what are your hours",
            "when is the clinic open",
            "are you open on weekends",
            "what time do you close today",
            "opening times",
        ],
    ),
    intent(
        "directions",
        Some("7"),
        &[
            "where are you located",
            "what is the address",
            "how do I get to the clinic",
            "is there parking",
            "directions to the office",
        ],
    ),
    intent(
        "agent",
        Some("0"),
        &[
            "talk to someone",
            "speak to the receptionist",
            "I want to speak with a nurse",
            "put me through to a person",
            "operator",
        ],
    ),
];

/// The same clinic in Chinese (zh-CN).
pub const CLINIC_ZH: &[FixtureIntent] = &[
    intent(
        "book_appointment",
        Some("1"),
        &[
            "我要预约",
            "我想挂号",
            "预约看医生",
            "帮我约一个门诊",
            "我想看病",
            "能不能预约明天的号",
        ],
    ),
    intent(
        "cancel_appointment",
        Some("2"),
        &[
            "取消预约",
            "我要取消挂号",
            "我去不了了",
            "把我的预约取消掉",
            "不去了帮我退号",
        ],
    ),
    intent(
        "reschedule",
        Some("3"),
        &[
            "改期",
            "我想改一下预约时间",
            "换个时间",
            "把预约改到下周",
            "能不能推迟我的预约",
        ],
    ),
    intent(
        "prescription_refill",
        Some("4"),
        &["我要开药", "续方", "我的药吃完了", "再开一些药", "配药"],
    ),
    intent(
        "test_results",
        Some("5"),
        &[
            "查检查结果",
            "我的化验单出来了吗",
            "验血结果",
            "报告什么时候出来",
            "查一下我的体检报告",
        ],
    ),
    intent(
        "opening_hours",
        Some("6"),
        &[
            "你们几点开门",
            "营业时间",
            "周末上班吗",
            "几点下班",
            "门诊时间是什么时候",
        ],
    ),
    intent(
        "directions",
        Some("7"),
        &[
            "你们在哪里",
            "医院地址",
            "怎么过去",
            "有停车场吗",
            "坐地铁怎么走",
        ],
    ),
    intent(
        "agent",
        Some("0"),
        &[
            "转人工",
            "人工服务",
            "我要找护士",
            "找前台",
            "让真人来接电话",
        ],
    ),
];

/// A parcel-delivery notification call (en-US).
pub const DELIVERY_EN: &[FixtureIntent] = &[
    intent(
        "confirm",
        Some("1"),
        &[
            "yes that works",
            "that's fine",
            "I'll be home",
            "confirm the delivery",
            "sounds good",
            "go ahead and deliver it",
        ],
    ),
    intent(
        "reschedule",
        Some("2"),
        &[
            "I won't be home",
            "deliver it another day",
            "can you come tomorrow instead",
            "change the delivery date",
            "not today please",
            "a different time would be better",
        ],
    ),
    intent(
        "change_address",
        Some("3"),
        &[
            "deliver to a different address",
            "send it to my work instead",
            "I moved",
            "change the delivery address",
            "leave it with my neighbor",
        ],
    ),
    intent(
        "not_me",
        Some("4"),
        &[
            "wrong number",
            "I didn't order anything",
            "that's not me",
            "there is nobody by that name here",
            "you have the wrong person",
        ],
    ),
    intent(
        "delivery_status",
        Some("5"),
        &[
            "where is my package",
            "when will it arrive",
            "track my parcel",
            "what time is the driver coming",
            "is my order on the way",
        ],
    ),
    intent(
        "agent",
        Some("0"),
        &[
            "talk to a person",
            "customer service",
            "speak to someone",
            "representative",
        ],
    ),
];
