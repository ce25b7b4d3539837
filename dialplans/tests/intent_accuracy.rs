//! Intent accuracy on paraphrases the fixtures do not contain, and rejection of out-of-domain
//! speech. Prints the figures (`cargo test -p ivr-dialplans --test intent_accuracy -- --nocapture`).

use ivr_dialplans::nlu::fixtures::{
    specs, FixtureIntent, BANK_EN, CLINIC_EN, CLINIC_ZH, DELIVERY_EN,
};
use ivr_dialplans::nlu::Matcher;

const THRESHOLD: f32 = 0.45;

const BANK_PARAPHRASES: &[(&str, &str)] = &[
    ("hi yeah I'd like to know my balance please", "balance"),
    ("how much do I have in my account", "balance"),
    ("balance", "balance"),
    ("can you tell me how much money is in checking", "balance"),
    ("what's the balance on my savings", "balance"),
    ("I wanna check how much I've got", "balance"),
    ("um my account balance please", "balance"),
    ("whats my ballance", "balance"),
    ("how much money is left in my account", "balance"),
    ("somebody stole my wallet with my card in it", "lost_card"),
    ("I think I lost my visa card", "lost_card"),
    ("my debit card is missing", "lost_card"),
    ("please block my card right now", "lost_card"),
    ("my credit card got stolen", "lost_card"),
    ("I can't find my card anywhere", "lost_card"),
    ("lost card", "lost_card"),
    ("I need to transfer some money to my son", "transfer_money"),
    ("move five hundred dollars to savings", "transfer_money"),
    ("can I send money to another account", "transfer_money"),
    ("I'd like to make a wire transfer", "transfer_money"),
    ("transfer funds", "transfer_money"),
    (
        "I need to pay my landlord from my account",
        "transfer_money",
    ),
    ("what did I spend recently", "recent_transactions"),
    (
        "I want to check my last few transactions",
        "recent_transactions",
    ),
    (
        "there's a charge I don't recognize on my account",
        "recent_transactions",
    ),
    ("read me my recent payments", "recent_transactions"),
    ("what was my latest purchase", "recent_transactions"),
    ("I need a new pin", "change_pin"),
    ("I forgot the pin for my card", "change_pin"),
    ("how do I change my pin number", "change_pin"),
    ("my pin isn't working I want to reset it", "change_pin"),
    ("what time do you open tomorrow", "opening_hours"),
    ("are you open on sunday", "opening_hours"),
    ("when does the branch open", "opening_hours"),
    ("what are the branch opening times", "opening_hours"),
    ("till what time are you open", "opening_hours"),
    ("let me talk to a real person", "agent"),
    ("agent please", "agent"),
    ("can I speak to a representative", "agent"),
    ("get me a human being", "agent"),
    ("I want to speak to customer service", "agent"),
    ("operator operator", "agent"),
    ("could you repeat that please", "repeat"),
    ("say it again", "repeat"),
    ("sorry what was that again", "repeat"),
    ("I didn't catch the options", "repeat"),
    ("what are the options", "help"),
    ("I need some help", "help"),
    ("what can I do here", "help"),
    ("help me please", "help"),
    ("no that's all bye", "goodbye"),
    ("ok goodbye", "goodbye"),
    ("I'm done thanks", "goodbye"),
    ("that's everything thanks bye", "goodbye"),
];

const CLINIC_EN_PARAPHRASES: &[(&str, &str)] = &[
    ("I'd like to make an appointment", "book_appointment"),
    ("can I book a visit with the doctor", "book_appointment"),
    ("I need to see doctor jones next week", "book_appointment"),
    ("I want to schedule a checkup", "book_appointment"),
    ("I'd like to book an apointment", "book_appointment"),
    (
        "is there any chance to see a doctor today",
        "book_appointment",
    ),
    ("new appointment please", "book_appointment"),
    (
        "I need to cancel my appointment for tomorrow",
        "cancel_appointment",
    ),
    ("please cancel my visit", "cancel_appointment"),
    (
        "I won't make it to my appointment so cancel it",
        "cancel_appointment",
    ),
    ("cancel", "cancel_appointment"),
    (
        "I'm not able to come on thursday please cancel",
        "cancel_appointment",
    ),
    ("I want to cancell my appointment", "cancel_appointment"),
    ("can I change my appointment to friday", "reschedule"),
    ("I need to move my appointment", "reschedule"),
    ("is it possible to reschedule", "reschedule"),
    ("can we do a different day for my visit", "reschedule"),
    ("I'd like a later time for my appointment", "reschedule"),
    ("change appointment time", "reschedule"),
    ("I need a refill on my prescription", "prescription_refill"),
    ("I'm almost out of my medication", "prescription_refill"),
    (
        "can you renew my blood pressure pills",
        "prescription_refill",
    ),
    ("prescription refill", "prescription_refill"),
    ("I need more medicine", "prescription_refill"),
    ("I'm calling to get my lab results", "test_results"),
    ("did my blood work come back", "test_results"),
    ("are my test results ready", "test_results"),
    ("I want to know the results of my x ray", "test_results"),
    ("results", "test_results"),
    ("when do you open", "opening_hours"),
    ("what time does the clinic close", "opening_hours"),
    ("are you open saturday", "opening_hours"),
    ("what are your opening hours", "opening_hours"),
    ("what's your address", "directions"),
    ("where is the clinic", "directions"),
    ("how do I find you", "directions"),
    ("where can I park", "directions"),
    ("can I talk to the front desk", "agent"),
    ("let me speak to a nurse please", "agent"),
    ("I need to talk to somebody", "agent"),
    ("receptionist", "agent"),
];

const CLINIC_ZH_PARAPHRASES: &[(&str, &str)] = &[
    ("你好，我想预约一下", "book_appointment"),
    ("我要挂个号", "book_appointment"),
    ("我想约医生看看", "book_appointment"),
    ("帮我挂一个明天的号", "book_appointment"),
    ("我想预约体检门诊", "book_appointment"),
    ("挂号", "book_appointment"),
    ("我的预约要取消", "cancel_appointment"),
    ("我明天去不了，取消吧", "cancel_appointment"),
    ("帮我把号退了", "cancel_appointment"),
    ("取消挂号", "cancel_appointment"),
    ("不去了，取消", "cancel_appointment"),
    ("我想改时间", "reschedule"),
    ("预约能改期吗", "reschedule"),
    ("可以换一个时间吗", "reschedule"),
    ("我要把预约推迟到下周", "reschedule"),
    ("我需要再开点药", "prescription_refill"),
    ("药快吃完了", "prescription_refill"),
    ("我想续一下处方", "prescription_refill"),
    ("开药", "prescription_refill"),
    ("我的化验结果出来没有", "test_results"),
    ("查一下检查报告", "test_results"),
    ("验血的结果怎么样", "test_results"),
    ("体检报告出来了吗", "test_results"),
    ("你们什么时候开门", "opening_hours"),
    ("几点关门", "opening_hours"),
    ("周六上班吗", "opening_hours"),
    ("营业时间是几点到几点", "opening_hours"),
    ("医院在哪", "directions"),
    ("地址是什么", "directions"),
    ("怎么去你们那里", "directions"),
    ("那边好停车吗", "directions"),
    ("人工", "agent"),
    ("我要人工服务", "agent"),
    ("请转前台", "agent"),
    ("找个真人", "agent"),
];

const DELIVERY_PARAPHRASES: &[(&str, &str)] = &[
    ("yes that's fine", "confirm"),
    ("yeah I'll be home all day", "confirm"),
    ("sure go ahead", "confirm"),
    ("that works for me", "confirm"),
    ("ok please deliver it", "confirm"),
    ("confirm", "confirm"),
    ("sounds great", "confirm"),
    ("I'm not home today", "reschedule"),
    ("can you deliver tomorrow", "reschedule"),
    ("could you come another day", "reschedule"),
    ("I'd like to change the delivery day", "reschedule"),
    ("not today, maybe monday", "reschedule"),
    ("I won't be there", "reschedule"),
    ("reschedule the delivery", "reschedule"),
    ("please send it to my office", "change_address"),
    ("I have a new address", "change_address"),
    ("can you leave it with the neighbors", "change_address"),
    ("deliver it to another address", "change_address"),
    ("I moved last month", "change_address"),
    ("I didn't order this", "not_me"),
    ("you've got the wrong number", "not_me"),
    ("no one here by that name", "not_me"),
    ("this isn't me", "not_me"),
    ("wrong person", "not_me"),
    ("where's my parcel", "delivery_status"),
    ("when is the package arriving", "delivery_status"),
    ("what time will the driver get here", "delivery_status"),
    ("can I track my order", "delivery_status"),
    ("is the package on its way", "delivery_status"),
    ("let me talk to someone", "agent"),
    ("I want a real person", "agent"),
    ("customer service please", "agent"),
    ("agent", "agent"),
];

const OUT_OF_DOMAIN_EN: &[&str] = &[
    "banana",
    "what's the weather like today",
    "who won the game last night",
    "I like turtles",
    "tell me a joke",
    "the quick brown fox jumps over the lazy dog",
    "how old is the president",
    "play some music",
    "order a pizza with extra cheese",
    "what is the capital of france",
    "my dog ate my homework",
    "is it going to rain",
    "um",
    "uh huh",
    "hmm let me think",
    "purple elephants dancing",
    "recommend a good movie",
    "how tall is mount everest",
    "book a flight to paris",
    "turn on the lights",
];

const OUT_OF_DOMAIN_ZH: &[&str] = &[
    "今天天气怎么样",
    "给我讲个笑话",
    "我喜欢吃苹果",
    "北京是首都",
    "放首歌听听",
    "嗯",
    "明天会下雨吗",
    "帮我订机票",
];

struct Tally {
    correct: usize,
    accepted: usize,
    total: usize,
    rejected: usize,
    ood_total: usize,
    misses: Vec<String>,
}

fn run(
    tally: &mut Tally,
    language: &str,
    set: &[FixtureIntent],
    cases: &[(&str, &str)],
    ood: &[&str],
) {
    let m = Matcher::new(language, &specs(set));
    for (text, expected) in cases {
        let r = m.rank(text, None);
        let best = r.best.as_ref();
        let top1 = best.is_some_and(|b| b.intent == *expected);
        let accepted = top1 && best.is_some_and(|b| b.confidence >= THRESHOLD);
        tally.total += 1;
        tally.correct += usize::from(top1);
        tally.accepted += usize::from(accepted);
        if !accepted {
            tally.misses.push(format!(
                "  miss: {text:?} expected {expected}, got {:?} (runner-up {:?})",
                best.map(|b| (&b.intent, b.confidence)),
                r.runner_up.as_ref().map(|b| (&b.intent, b.confidence))
            ));
        }
    }
    for text in ood {
        let r = m.rank(text, None);
        tally.ood_total += 1;
        match r.accepted(THRESHOLD) {
            None => tally.rejected += 1,
            Some(b) => tally.misses.push(format!(
                "  accepted out-of-domain {text:?} as {} ({:.2})",
                b.intent, b.confidence
            )),
        }
    }
}

#[test]
fn paraphrases_reach_95_percent_top1_and_out_of_domain_is_rejected() {
    let mut t = Tally {
        correct: 0,
        accepted: 0,
        total: 0,
        rejected: 0,
        ood_total: 0,
        misses: Vec::new(),
    };
    run(&mut t, "en-US", BANK_EN, BANK_PARAPHRASES, OUT_OF_DOMAIN_EN);
    run(
        &mut t,
        "en-US",
        CLINIC_EN,
        CLINIC_EN_PARAPHRASES,
        OUT_OF_DOMAIN_EN,
    );
    run(
        &mut t,
        "zh-CN",
        CLINIC_ZH,
        CLINIC_ZH_PARAPHRASES,
        OUT_OF_DOMAIN_ZH,
    );
    run(
        &mut t,
        "en-US",
        DELIVERY_EN,
        DELIVERY_PARAPHRASES,
        OUT_OF_DOMAIN_EN,
    );
    let acc = 100.0 * t.correct as f64 / t.total as f64;
    let acc_accepted = 100.0 * t.accepted as f64 / t.total as f64;
    let rej = 100.0 * t.rejected as f64 / t.ood_total as f64;
    for m in &t.misses {
        println!("{m}");
    }
    println!(
        "intent accuracy: in-domain top-1 {}/{} = {acc:.1}%, top-1 and at or above the \
         threshold {THRESHOLD} {}/{} = {acc_accepted:.1}%; out-of-domain rejected {}/{} = {rej:.1}%",
        t.correct, t.total, t.accepted, t.total, t.rejected, t.ood_total
    );
    assert!(t.total >= 150 && t.ood_total >= 20);
    assert!(acc >= 95.0, "in-domain accuracy {acc:.1}% < 95%");
    assert!(
        acc_accepted >= 90.0,
        "accepted in-domain {acc_accepted:.1}% < 90%"
    );
    assert!(rej >= 90.0, "out-of-domain rejection {rej:.1}% < 90%");
}
