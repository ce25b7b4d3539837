//! Callback instead of waiting, the caller's side: the offer made to a waiting caller, the
//! number they confirm or key, and the ticket the engine's call back carries.
//!
//! ```text
//!  waiting ──"press 1"──▶ Offered ──1──▶ Confirm(caller's number) ──1──▶ book it
//!                                          │ 2 (or no usable number)
//!                                          ▼
//!                                      Typing("…") ──digits, #──▶ book it      (* at any step: back to waiting)
//! ```
//!
//! Pure: keys in, what to say (or the number to book) out.

/// Shortest and longest number a caller may key for their call back.
const MIN_DIGITS: usize = 3;
const MAX_DIGITS: usize = 20;

/// What an engine call back carries to the dial plan's language and the queue: which request
/// it serves and where the caller waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackTicket {
    /// The request (the call id of the call that asked for it).
    pub key: String,
    /// The queue the request waits in.
    pub queue: String,
    /// The request's priority.
    pub priority: i32,
    /// The caller's language (empty: the plan's).
    pub language: String,
}

/// Where a waiting caller is in asking for a call back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Booking {
    /// Not offered (the queue does not call back, or nobody told the caller yet).
    #[default]
    NotOffered,
    /// The caller was told to press 1.
    Offered,
    /// The caller pressed 1 and is asked to confirm their own number.
    Confirm(String),
    /// The caller keys another number, ended by `#`.
    Typing(String),
    /// The number was handed to the queue.
    Asked,
}

/// What the engine says in the course of booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// "To be called back instead of waiting, press 1."
    Offer,
    /// "We will call you back on N. Press 1 to confirm, 2 for another number."
    ConfirmNumber(String),
    /// "Key the number, then the pound key."
    KeyNumber,
    /// The keyed number is too short.
    TooShort,
    /// Back to waiting.
    Hold,
    /// The request is taken: goodbye.
    Booked(String),
    /// The queue cannot call back now.
    Refused,
    /// The engine's call back was answered.
    Greeting,
}

/// The outcome of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do (the key means nothing here).
    Nothing,
    /// Say this.
    Say(Prompt),
    /// Ask the queue to call this number back.
    Book(String),
}

impl Booking {
    /// The caller is told about the call back (once; later announcements repeat it).
    pub fn offer(&mut self) {
        if *self == Booking::NotOffered {
            *self = Booking::Offered;
        }
    }

    /// Whether the caller may press 1 now.
    pub fn is_offered(&self) -> bool {
        *self == Booking::Offered
    }

    /// The caller pressed `key`; `caller` is their own number.
    pub fn key(&mut self, key: char, caller: &str) -> Step {
        match std::mem::take(self) {
            Booking::NotOffered => Step::Nothing,
            Booking::Asked => {
                *self = Booking::Asked;
                Step::Nothing
            }
            Booking::Offered if key == '1' => match dialable(caller) {
                Some(own) => {
                    *self = Booking::Confirm(own.clone());
                    Step::Say(Prompt::ConfirmNumber(own))
                }
                None => {
                    *self = Booking::Typing(String::new());
                    Step::Say(Prompt::KeyNumber)
                }
            },
            Booking::Offered => {
                *self = Booking::Offered;
                Step::Nothing
            }
            Booking::Confirm(_) | Booking::Typing(_) if key == '*' => {
                *self = Booking::Offered;
                Step::Say(Prompt::Hold)
            }
            Booking::Confirm(own) => match key {
                '1' => {
                    *self = Booking::Asked;
                    Step::Book(own)
                }
                '2' => {
                    *self = Booking::Typing(String::new());
                    Step::Say(Prompt::KeyNumber)
                }
                _ => {
                    *self = Booking::Confirm(own);
                    Step::Nothing
                }
            },
            Booking::Typing(mut typed) => match key {
                '#' if typed.len() >= MIN_DIGITS => {
                    *self = Booking::Asked;
                    Step::Book(typed)
                }
                '#' => {
                    *self = Booking::Typing(String::new());
                    Step::Say(Prompt::TooShort)
                }
                d if d.is_ascii_digit() => {
                    if typed.len() < MAX_DIGITS {
                        typed.push(d);
                    }
                    *self = Booking::Typing(typed);
                    Step::Nothing
                }
                _ => {
                    *self = Booking::Typing(typed);
                    Step::Nothing
                }
            },
        }
    }
}

/// The number to call back `caller` on: digits (and a leading `+`) of a calling number, or
/// `None` when it is anonymous, too short or not a number.
pub fn dialable(caller: &str) -> Option<String> {
    let user = caller
        .trim()
        .trim_start_matches("sip:")
        .split(['@', ';'])
        .next()?;
    let (plus, digits) = match user.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", user),
    };
    let ok = (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| format!("{plus}{digits}"))
}

/// A number read out digit by digit ("4 2 1 7").
fn spoken(number: &str) -> String {
    let digits: Vec<String> = number
        .chars()
        .filter(char::is_ascii_digit)
        .map(String::from)
        .collect();
    digits.join(" ")
}

impl Prompt {
    /// The sentence in the caller's language (Chinese when `chinese`, else English).
    pub fn text(&self, chinese: bool) -> String {
        match (self, chinese) {
            (Prompt::Offer, false) => {
                "To be called back instead of waiting, keeping your place in line, press 1."
                    .into()
            }
            (Prompt::Offer, true) => "如需保留排队位置并由我们回电，请按1。".into(),
            (Prompt::ConfirmNumber(n), false) => format!(
                "We will call you back on {}. Press 1 to confirm, or 2 to key another number.",
                spoken(n)
            ),
            (Prompt::ConfirmNumber(n), true) => format!(
                "我们将回电至{}。确认请按1，使用其他号码请按2。",
                spoken(n)
            ),
            (Prompt::KeyNumber, false) => {
                "Please key the number to call you back on, then press the pound key.".into()
            }
            (Prompt::KeyNumber, true) => "请输入回电号码，以井号键结束。".into(),
            (Prompt::TooShort, false) => {
                "That number is too short. Please key it again, then press the pound key.".into()
            }
            (Prompt::TooShort, true) => "号码太短，请重新输入，以井号键结束。".into(),
            (Prompt::Hold, false) => "Please hold.".into(),
            (Prompt::Hold, true) => "请稍候。".into(),
            (Prompt::Booked(n), false) => format!(
                "Thank you. You keep your place in line, and we will call you back on {} when an agent is free. Goodbye.",
                spoken(n)
            ),
            (Prompt::Booked(n), true) => format!(
                "谢谢。您的排队位置将保留，坐席空闲时我们将回电至{}。再见。",
                spoken(n)
            ),
            (Prompt::Refused, false) => {
                "Sorry, we cannot call you back right now. Please hold.".into()
            }
            (Prompt::Refused, true) => "抱歉，暂时无法回电，请稍候。".into(),
            (Prompt::Greeting, false) => {
                "Hello. This is the call back you asked for. Please hold while we connect you to an agent."
                    .into()
            }
            (Prompt::Greeting, true) => "您好，这是您预约的回电，正在为您接通坐席，请稍候。".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(b: &mut Booking, caller: &str, keys: &str) -> Vec<Step> {
        keys.chars().map(|k| b.key(k, caller)).collect()
    }

    #[test]
    fn keys_mean_nothing_until_the_call_back_is_offered() {
        let mut b = Booking::default();
        assert_eq!(keys(&mut b, "4217", "11"), vec![Step::Nothing; 2]);
        b.offer();
        assert_eq!(b.key('5', "4217"), Step::Nothing);
        assert!(b.is_offered());
    }

    #[test]
    fn the_caller_confirms_their_own_number() {
        let mut b = Booking::default();
        b.offer();
        assert_eq!(
            keys(&mut b, "sip:+4917@10.0.0.1", "11"),
            vec![
                Step::Say(Prompt::ConfirmNumber("+4917".into())),
                Step::Book("+4917".into())
            ]
        );
        assert_eq!(b, Booking::Asked);
        assert_eq!(b.key('1', "4917"), Step::Nothing, "asked once");
    }

    #[test]
    fn the_caller_keys_another_number_ended_by_pound() {
        let mut b = Booking::default();
        b.offer();
        let steps = keys(&mut b, "4217", "1212#5550100#");
        assert_eq!(steps[1], Step::Say(Prompt::KeyNumber));
        assert_eq!(steps[4], Step::Say(Prompt::TooShort), "`12#` is too short");
        assert_eq!(steps.last(), Some(&Step::Book("5550100".into())));
    }

    #[test]
    fn an_anonymous_caller_is_asked_for_a_number_and_star_goes_back_to_waiting() {
        let mut b = Booking::default();
        b.offer();
        assert_eq!(b.key('1', "anonymous"), Step::Say(Prompt::KeyNumber));
        assert_eq!(b.key('*', "anonymous"), Step::Say(Prompt::Hold));
        assert!(b.is_offered());
    }

    #[test]
    fn only_plain_numbers_are_dialable() {
        assert_eq!(dialable("+8613800000000"), Some("+8613800000000".into()));
        assert_eq!(
            dialable("sip:4217@127.0.0.1;user=phone"),
            Some("4217".into())
        );
        for bad in ["", "anonymous", "12", "+", "42a7", "123456789012345678901"] {
            assert_eq!(dialable(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_are_read_digit_by_digit_in_both_languages() {
        assert!(Prompt::Booked("+4217".into())
            .text(false)
            .contains("on 4 2 1 7 when"));
        assert!(Prompt::ConfirmNumber("4217".into())
            .text(true)
            .contains("4 2 1 7"));
    }
}
