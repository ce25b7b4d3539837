use super::checks::tests::make_chinese_id;
use super::*;

fn r() -> Redactor {
    Redactor::default()
}

fn kinds(text: &str) -> Vec<(String, Kind)> {
    let red = r();
    red.find_iter(text)
        .map(|m| (text[m.start..m.end].to_owned(), m.kind))
        .collect()
}

#[test]
fn test_cards_are_masked_keeping_the_last_four_and_separators() {
    let red = r();
    assert_eq!(
        red.redact("card 4111 1111 1111 1111 ok"),
        "card **** **** **** 1111 ok"
    );
    assert_eq!(
        red.redact("card 5500-0000-0000-0004."),
        "card ****-****-****-0004."
    );
    assert_eq!(red.redact("4111111111111111"), "************1111");
    assert_eq!(
        red.redact("amex 3782 822463 10005"),
        "amex **** ****** *0005"
    );
    assert_eq!(
        kinds("pay with 4111111111111111 now"),
        vec![("4111111111111111".into(), Kind::Card)]
    );
}

#[test]
fn nineteen_digit_unionpay_cards_are_cards_and_keep_the_last_four() {
    // China UnionPay debit cards are 19 digits, written in fours with a trailing three.
    assert_eq!(
        kinds("卡号 6217 0012 3456 7890 122 谢谢"),
        vec![("6217 0012 3456 7890 122".into(), Kind::Card)]
    );
    assert_eq!(r().redact("6217001234567890122"), "***************0122");
    // One digit off: not a card, still masked as an account number.
    assert_eq!(
        kinds("6217001234567890123"),
        vec![("6217001234567890123".into(), Kind::AccountNumber)]
    );
}

#[test]
fn luhn_invalid_sixteen_digits_are_not_cards() {
    // Still a long digit run, so masked as an account number; with that class off it stays.
    assert_eq!(
        kinds("4111 1111 1111 1112"),
        vec![("4111 1111 1111 1112".into(), Kind::AccountNumber)]
    );
    let red = Redactor::new(RedactConfig {
        account_numbers: false,
        ..RedactConfig::default()
    });
    assert_eq!(red.redact("4111 1111 1111 1112"), "4111 1111 1111 1112");
}

#[test]
fn card_followed_by_expiry_is_still_found() {
    assert_eq!(
        r().redact("4111 1111 1111 1111 12 25"),
        "**** **** **** 1111 12 25"
    );
}

#[test]
fn phones_in_e164_and_national_formats_keep_the_last_four() {
    let red = r();
    assert_eq!(red.redact("call +8613812345678"), "call +*********5678");
    assert_eq!(
        red.redact("call +86 138 1234 5678 now"),
        "call +** *** **** 5678 now"
    );
    assert_eq!(red.redact("(555) 123-4567"), "(***) ***-4567");
    assert_eq!(red.redact("+1 (555) 123-4567"), "+* (***) ***-4567");
    assert_eq!(red.redact("555-123-4567"), "***-***-4567");
    assert_eq!(red.redact("010-12345678"), "***-****5678");
    assert_eq!(
        kinds("13812345678"),
        vec![("13812345678".into(), Kind::Phone)]
    );
    assert_eq!(
        kinds("020 7946 0958"),
        vec![("020 7946 0958".into(), Kind::Phone)]
    );
}

#[test]
fn checksum_valid_chinese_ids_are_masked_including_x() {
    let red = r();
    let id = "11010519491231002X";
    assert_eq!(
        red.redact(&format!("身份证{id}。")),
        "身份证**************002X。"
    );
    for (region, birth, seq) in [
        ("440305", "19880214", "123"),
        ("310101", "20001231", "987"),
        ("510107", "19700101", "001"),
    ] {
        let id = make_chinese_id(region, birth, seq);
        assert_eq!(
            kinds(&format!("id {id} ok")),
            vec![(id.clone(), Kind::NationalId)],
            "{id}"
        );
        let masked = red.redact(&id);
        assert_eq!(&masked[..14], "**************");
        assert_eq!(&masked[14..], &id[14..]);
    }
}

#[test]
fn chinese_ids_with_a_wrong_check_character_are_not_ids() {
    let good = make_chinese_id("440305", "19880214", "123");
    let last = good.as_bytes()[17];
    let wrong = if last == b'1' { '2' } else { '1' };
    let bad = format!("{}{wrong}", &good[..17]);
    let found = kinds(&bad);
    assert!(
        found.iter().all(|(_, k)| *k != Kind::NationalId),
        "{found:?}"
    );
    let red = Redactor::new(RedactConfig {
        account_numbers: false,
        cards: false,
        ..RedactConfig::default()
    });
    assert_eq!(red.redact(&bad), bad);
    // An X where the check is a digit is not an ID either.
    if last != b'X' {
        let bad_x = format!("{}X", &good[..17]);
        assert_eq!(red.redact(&bad_x), bad_x);
    }
}

#[test]
fn emails_keep_the_first_letter_and_the_domain() {
    let red = r();
    assert_eq!(
        red.redact("mail john.smith@example.com."),
        "mail j***@example.com."
    );
    assert_eq!(
        red.redact("<a.b+tag@mail.example.co.uk>"),
        "<a***@mail.example.co.uk>"
    );
    assert_eq!(red.redact("user12345678@bank.cn"), "u***@bank.cn");
    assert_eq!(
        red.redact("not an address: a@b, x@y.1, @example.com"),
        "not an address: a@b, x@y.1, @example.com"
    );
}

#[test]
fn ibans_are_masked_only_when_mod97_is_valid() {
    let red = r();
    assert_eq!(
        red.redact("IBAN DE89 3704 0044 0532 0130 00 thanks"),
        "IBAN **** **** **** **** **30 00 thanks"
    );
    assert_eq!(
        red.redact("GB82WEST12345698765432"),
        "******************5432"
    );
    assert_eq!(kinds("GB82WEST12345698765433"), vec![]);
    // A checksum that happens to hold across following words is not taken: groups are of four.
    assert_eq!(
        red.redact("GB82 WEST 1234 5698 7654 32 and 555-123-4567"),
        "**** **** **** **** **54 32 and ***-***-4567"
    );
}

#[test]
fn long_digit_runs_are_masked_as_account_numbers() {
    let red = r();
    assert_eq!(
        red.redact("account 12345678 please"),
        "account ****5678 please"
    );
    assert_eq!(
        red.redact("acct 6222 0212 3456 7890 12"),
        "acct **** **** **** **90 12"
    );
    let red = Redactor::new(RedactConfig {
        account_min_digits: 10,
        ..RedactConfig::default()
    });
    assert_eq!(
        red.redact("account 12345678 please"),
        "account 12345678 please"
    );
}

#[test]
fn times_dates_amounts_and_short_numbers_are_left_alone() {
    let red = r();
    for text in [
        "meet at 10:30:45 on 2024-05-12",
        "born 12/05/1990, 20240512, 2024-05-12 10:30",
        "the amount is $1,234.56 or €1.234.567,89 or 12345678.90 CNY",
        "order 1234567 and PIN 4321 and ref A12345678 and ORD-1234567",
        "1 234 567,89 and 12 345 678,90",
        "version 1.2.3.4 at 192.168.100.200",
        "a normal sentence with nothing sensitive in it at all.",
    ] {
        assert_eq!(red.redact(text), text);
    }
}

#[test]
fn spoken_digits_in_english_and_chinese_are_masked() {
    let red = r();
    assert_eq!(
        red.redact(
            "my card is four one one one one one one one one one one one one one one one thanks"
        ),
        "my card is * * * * * * * * * * * * one one one one thanks"
    );
    assert_eq!(
        red.redact("我的手机是幺三八一二三四五六七八。"),
        "我的手机是*******五六七八。"
    );
    assert_eq!(
        red.redact("it's four 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1"),
        "it's * * * *, * * * *, * * * *, 1 1 1 1"
    );
    // Seven spoken digits (a short reference) stay.
    assert_eq!(
        red.redact("code one two three four five six seven"),
        "code one two three four five six seven"
    );
    let red = Redactor::new(RedactConfig {
        spoken_digits: false,
        ..RedactConfig::default()
    });
    assert_eq!(red.redact("四一一一一一一一一一"), "四一一一一一一一一一");
}

#[test]
fn debug_output_does_not_show_sensitive_values() {
    let mut red = r();
    red.redact_values(&["Smith"]);
    let debug = format!("{red:?}");
    assert!(
        !debug.contains("Smith") && debug.contains("sensitive_values: 1"),
        "{debug}"
    );
}

#[test]
fn registered_sensitive_values_are_masked_case_insensitively_on_word_boundaries() {
    let mut red = r();
    red.redact_values(&["Smith", "4321", "x", "张伟"]);
    assert_eq!(
        red.redact("Mr SMITH, pin 4321, Smithson 143210 x"),
        "Mr *****, pin ****, Smithson 143210 x"
    );
    assert_eq!(red.redact("我是张伟"), "我是**");
    red.clear_values();
    assert_eq!(red.redact("Mr SMITH"), "Mr SMITH");
}

#[test]
fn classes_can_be_switched_off_one_by_one() {
    let text = "4111 1111 1111 1111 / +8613812345678 / a@example.com / 11010519491231002X";
    let off = |f: fn(&mut RedactConfig)| {
        let mut c = RedactConfig {
            account_numbers: false,
            ..RedactConfig::default()
        };
        f(&mut c);
        Redactor::new(c).redact(text).into_owned()
    };
    assert!(off(|c| c.cards = false).contains("4111 1111 1111 1111"));
    assert!(off(|c| c.phones = false).contains("+8613812345678"));
    assert!(off(|c| c.emails = false).contains("a@example.com"));
    assert!(off(|c| c.national_ids = false).contains("11010519491231002X"));
    assert_eq!(
        off(|_| {}),
        "**** **** **** 1111 / +*********5678 / a***@example.com / **************002X"
    );
}

#[test]
fn mixed_text_with_every_class_is_fully_masked() {
    let mut red = r();
    red.redact_values(&["Alice Zhang"]);
    let text = "Alice Zhang (alice@example.com, +44 20 7946 0958) paid with 5500 0000 0000 0004, \
                said four one one one one one one one, ID 11010519491231002X, IBAN GB82WEST12345698765432.";
    let out = red.redact(text);
    for secret in [
        "Alice", "alice@", "7946", "5500", "four one", "110105", "WEST",
    ] {
        assert!(!out.contains(secret), "{secret} leaked: {out}");
    }
    assert!(
        out.contains("0004") && out.contains("002X") && out.contains("a***@example.com"),
        "{out}"
    );
}

#[test]
fn nothing_to_mask_borrows_the_input() {
    let text = "Thank you for calling. Your order 123456 ships on 2024-05-12 at 10:30.";
    assert!(matches!(r().redact(text), Cow::Borrowed(_)));
    let mut out = String::new();
    assert!(!r().redact_into(text, &mut out));
    assert_eq!(out, text);
}

#[test]
fn arbitrary_bytes_never_panic_and_output_is_valid() {
    // A cheap deterministic fuzz: slices of a text dense with separators and digits.
    let seed = "+(1) 4111-1111 1111 1111X 四一 one two@a.bc (555 123-4567) GB82 WEST 1234 5698 7654 32 幺，二、三 double";
    let chars: Vec<char> = seed.chars().collect();
    let mut red = r();
    red.redact_values(&["one two", "四一"]);
    for start in 0..chars.len() {
        for len in 0..(chars.len() - start).min(40) {
            let s: String = chars[start..start + len].iter().collect();
            let _ = red.redact(&s);
        }
    }
}

#[test]
fn throughput_on_clean_and_dirty_text_is_reported() {
    let clean_line = "Thank you for calling the bank. Please say or enter your account number after the tone, \
                      or say agent at any time. Your call on 2024-05-12 at 10:30 is about order 123456.\n";
    let dirty_line =
        "My card is 4111 1111 1111 1111 and my phone is +8613812345678, email j.doe@example.com, \
                      and id 11010519491231002X; four one one one one one one one.\n";
    let red = r();
    for (name, line) in [("clean", clean_line), ("dirty", dirty_line)] {
        let text = line.repeat((4 << 20) / line.len());
        let started = std::time::Instant::now();
        let out = red.redact(&text);
        let secs = started.elapsed().as_secs_f64();
        let mbps = text.len() as f64 / secs / 1e6;
        println!(
            "redact {name}: {} bytes in {secs:.3} s = {mbps:.0} MB/s",
            text.len()
        );
        assert_eq!(matches!(out, Cow::Borrowed(_)), name == "clean");
    }
}

#[test]
fn numbers_next_to_each_other_are_not_split_to_reveal_more_digits() {
    let red = r();
    // Joined groups past any account length are masked whole.
    assert_eq!(
        red.redact("acct 12345678 4111 1111 1111 1111"),
        "acct ******** **** **** **** 1111"
    );
    // A date next to a card is not read as a phone number eating half the card.
    assert_eq!(
        red.redact("on 2024-05-12 4111 1111 1111 1111"),
        "on 2024-05-12 **** **** **** 1111"
    );
    // A phone followed by a small number is still found.
    assert_eq!(
        red.redact("call 555-123-4567 2 times"),
        "call ***-***-4567 2 times"
    );
    assert_eq!(
        red.redact("appel 01 23 45 67 89 merci"),
        "appel ** ** ** 67 89 merci"
    );
}

/// Realistic fragments: things to mask and things to leave alone.
const FRAGMENTS: &[&str] = &[
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "4111111111111111",
    "+8613812345678",
    "(555) 123-4567",
    "555-123-4567",
    "13812345678",
    "11010519491231002X",
    "j.doe@example.com",
    "GB82 WEST 1234 5698 7654 32",
    "12345678",
    "four one one one one one one one",
    "幺三八一二三四五六七八",
    "$1,234.56",
    "10:30",
    "2024-05-12",
    "order 1234567",
    "thank you",
    "my card is",
    "四",
    "one",
    "double four",
    "PIN 4321",
    "A12345678",
    "20240512",
];

proptest::proptest! {
    /// Sentences built from realistic fragments redact the same way twice: masked output
    /// holds nothing the redactor would mask again.
    #[test]
    fn redaction_of_realistic_sentences_is_idempotent(
        parts in proptest::collection::vec(
            (proptest::sample::select(FRAGMENTS), proptest::sample::select(&[", ", " and ", ". ", "; "][..])),
            0..12,
        )
    ) {
        let text: String = parts.iter().flat_map(|(f, sep)| [*f, *sep]).collect();
        let red = r();
        let once = red.redact(&text).into_owned();
        let twice = red.redact(&once).into_owned();
        proptest::prop_assert_eq!(&once, &twice, "input {:?}", text);
    }

    /// Any text, including text dense in digits, separators and digit words, redacts
    /// without panicking and yields valid UTF-8 of similar size.
    #[test]
    fn redaction_never_panics(
        parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "0", "1", "4", "7", "9", "X", " ", "-", "+", "(", ")", ".", ",", "@", "a", "Z", "DE89",
                "one ", "four ", "double ", "四", "幺", "，", "x@y.cn", "4111 1111 1111 1111", "é",
            ]),
            0..40,
        ),
        noise in ".{0,64}",
    ) {
        let text = format!("{}{noise}", parts.concat());
        let out = r().redact(&text);
        proptest::prop_assert!(out.len() <= text.len() * 3 + 8);
    }
}
