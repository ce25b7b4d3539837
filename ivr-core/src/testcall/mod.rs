//! `ivr call`: a test caller for dial-plan authors.
//!
//! A real SIP user agent client calls an IVR (this engine or any other) over UDP, and plays a
//! script: at each turn it waits for the IVR to finish talking, prints what it heard, then
//! performs the next step — speaks synthesised text, presses keys (RFC 4733 telephone-events, or
//! in-band tones when the IVR did not offer telephone-event), plays a WAV file or waits. After
//! the last step it listens to the reply, prints it and hangs up. See `docs/test-caller.md`.
//!
//! * [`turns`] — sans-IO turn-taking on the IVR's 20 ms frames: utterances and the end of the
//!   IVR's prompt (speech, then 1.2 s of silence, or the longest wait per turn).
//! * [`mouth`] — sans-IO outgoing sounds: audio frames, telephone-events, pauses.
//! * [`ears`] — dictation of the IVR's utterances on a thread of its own.
//! * [`script`] — the steps and their audio (espeak-ng, WAV files).
//! * [`report`] — the lines printed, as text or JSON, in call order.
//! * [`session`] — the async shell: SIP endpoint, RTP socket, the 20 ms tick.
//!
//! Exit codes: 0 the IVR answered (whoever hung up), 1 the call failed (a SIP error status,
//! nobody there, no answer in time), 2 an error before the call (bad URI, missing file or
//! model).

pub mod ears;
pub mod mouth;
pub mod report;
pub mod script;
pub mod session;
pub mod turns;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches};
use ivr_media::sip::Uri;
use ivr_speech::asr::{Grammar, Recognizer};

pub use report::Format;
pub use script::Step;

/// Why `ivr call` could not place the call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The URI is not a SIP URI.
    #[error("{uri}: {reason}; write a SIP URI like sip:100@127.0.0.1:5060")]
    Uri {
        /// What was given.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// The host does not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// `host:port`.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// A socket could not be opened.
    #[error("cannot open a UDP socket: {0}")]
    Socket(std::io::Error),
    /// Speech synthesis failed.
    #[error("cannot synthesise a --say step: {0}")]
    Tts(String),
    /// A `--wav` file cannot be used.
    #[error("cannot use a --wav step: {0}")]
    Wav(String),
    /// The recogniser cannot start.
    #[error("cannot start the recogniser: {0}; pass --no-transcribe to print durations only")]
    Asr(String),
    /// The async runtime cannot start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// The arguments of `ivr call`. Steps keep the order they were given in, across kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct CallArgs {
    /// The IVR's SIP URI.
    pub uri: String,
    /// The script.
    pub steps: Vec<Step>,
    /// The caller's number.
    pub from: String,
    /// Language for synthesis and dictation.
    pub language: String,
    /// espeak-ng voice for `--say`.
    pub voice: Option<String>,
    /// Longest call.
    pub timeout: Duration,
    /// Longest wait for the IVR in one turn.
    pub turn_timeout: Duration,
    /// Silence after speech that ends the IVR's prompt.
    pub end_silence: Duration,
    /// Output format.
    pub format: Format,
    /// Transcribe what the IVR says.
    pub transcribe: bool,
    /// PocketSphinx model folder.
    pub model: Option<PathBuf>,
}

const STEP_IDS: [&str; 4] = ["say", "dtmf", "wav", "wait"];

impl clap::Args for CallArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.arg(
            Arg::new("uri")
                .value_name("URI")
                .required(true)
                .help("The IVR's SIP URI (UDP), e.g. sip:100@127.0.0.1:5060"),
        )
        .arg(
            Arg::new("say")
                .long("say")
                .value_name("TEXT")
                .action(ArgAction::Append)
                .help("Step: speak TEXT (espeak-ng)"),
        )
        .arg(
            Arg::new("dtmf")
                .long("dtmf")
                .value_name("KEYS")
                .action(ArgAction::Append)
                .value_parser(script::parse_digits)
                .help("Step: press KEYS (0-9 * # A-D)"),
        )
        .arg(
            Arg::new("wav")
                .long("wav")
                .value_name("FILE")
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(PathBuf))
                .help("Step: play a WAV file (16-bit PCM, any rate)"),
        )
        .arg(
            Arg::new("wait")
                .long("wait")
                .value_name("SECS")
                .action(ArgAction::Append)
                .value_parser(script::parse_duration)
                .help("Step: stay silent SECS (e.g. to hear a no-input prompt)"),
        )
        .arg(
            Arg::new("from")
                .long("from")
                .value_name("NUMBER")
                .default_value("+15550000000")
                .help("The caller's number (From user)"),
        )
        .arg(
            Arg::new("language")
                .long("language")
                .value_name("BCP47")
                .default_value("en-US")
                .help("Language for --say and for transcribing the IVR"),
        )
        .arg(
            Arg::new("voice")
                .long("voice")
                .value_name("VOICE")
                .help("espeak-ng voice for --say (e.g. en-gb)"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("DURATION")
                .default_value("60s")
                .value_parser(script::parse_duration)
                .help("Hang up after this long in all"),
        )
        .arg(
            Arg::new("turn-timeout")
                .long("turn-timeout")
                .value_name("DURATION")
                .default_value("30s")
                .value_parser(script::parse_duration)
                .help("Take the turn after waiting this long for the IVR"),
        )
        .arg(
            Arg::new("end-silence")
                .long("end-silence")
                .value_name("DURATION")
                .default_value("1.2s")
                .value_parser(script::parse_duration)
                .help("Silence after the IVR's speech that ends its prompt"),
        )
        .arg(
            Arg::new("format")
                .long("format")
                .value_parser(clap::value_parser!(Format))
                .default_value("text")
                .help("Output format"),
        )
        .arg(
            Arg::new("no-transcribe")
                .long("no-transcribe")
                .action(ArgAction::SetTrue)
                .help("Print only how long the IVR spoke (no recogniser)"),
        )
        .arg(
            Arg::new("model")
                .long("model")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("PocketSphinx model folder"),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

fn ordered<T: Clone + Send + Sync + 'static>(
    m: &ArgMatches,
    id: &str,
    make: impl Fn(T) -> Step,
    out: &mut Vec<(usize, Step)>,
) {
    if let (Some(indices), Some(values)) = (m.indices_of(id), m.get_many::<T>(id)) {
        out.extend(indices.zip(values).map(|(i, v)| (i, make(v.clone()))));
    }
}

impl clap::FromArgMatches for CallArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut steps = Vec::new();
        ordered::<String>(m, STEP_IDS[0], Step::Say, &mut steps);
        ordered::<String>(m, STEP_IDS[1], Step::Dtmf, &mut steps);
        ordered::<PathBuf>(m, STEP_IDS[2], Step::Wav, &mut steps);
        ordered::<Duration>(m, STEP_IDS[3], Step::Wait, &mut steps);
        steps.sort_by_key(|(i, _)| *i);
        let string = |id: &str| m.get_one::<String>(id).cloned();
        let duration = |id: &str| m.get_one::<Duration>(id).copied();
        let missing = |id: &str| {
            clap::Error::raw(
                clap::error::ErrorKind::MissingRequiredArgument,
                format!("--{id} is required\n"),
            )
        };
        Ok(CallArgs {
            uri: string("uri").ok_or_else(|| missing("uri"))?,
            steps: steps.into_iter().map(|(_, s)| s).collect(),
            from: string("from").ok_or_else(|| missing("from"))?,
            language: string("language").ok_or_else(|| missing("language"))?,
            voice: string("voice"),
            timeout: duration("timeout").ok_or_else(|| missing("timeout"))?,
            turn_timeout: duration("turn-timeout").ok_or_else(|| missing("turn-timeout"))?,
            end_silence: duration("end-silence").ok_or_else(|| missing("end-silence"))?,
            format: m
                .get_one::<Format>("format")
                .copied()
                .unwrap_or(Format::Text),
            transcribe: !m.get_flag("no-transcribe"),
            model: m.get_one::<PathBuf>("model").cloned(),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// Parses the IVR's URI (`sip:` added when missing); UDP only.
pub fn parse_uri(text: &str) -> Result<Uri, CallError> {
    let lower = text.to_ascii_lowercase();
    let full = if ["sip:", "sips:", "tel:"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        text.to_string()
    } else {
        format!("sip:{text}")
    };
    let bad = |reason: String| CallError::Uri {
        uri: text.to_string(),
        reason,
    };
    let uri = Uri::parse(&full).map_err(|e| bad(e.to_string()))?;
    if uri.scheme != "sip" {
        return Err(bad(format!(
            "{}: only sip: over UDP is supported",
            uri.scheme
        )));
    }
    match uri.transport() {
        Some(t) if !t.eq_ignore_ascii_case("udp") => {
            Err(bad(format!("transport={t}: only UDP is supported")))
        }
        _ => Ok(uri),
    }
}

/// Runs `ivr call`; returns the exit code.
pub fn main(args: CallArgs) -> ExitCode {
    match run(args) {
        Ok(session::Outcome::Answered { .. }) => ExitCode::SUCCESS,
        Ok(session::Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn recognizer(args: &CallArgs) -> Result<Arc<dyn Recognizer>, CallError> {
    let mut config = ivr_speech::pocketsphinx::PocketSphinxConfig::default();
    if let Some(m) = &args.model {
        config.model_dir = m.clone();
    }
    let engine = ivr_speech::pocketsphinx::PocketSphinx::open(config)
        .map_err(|e| CallError::Asr(e.to_string()))?;
    engine
        .check(&Grammar::dictation(&args.language))
        .map_err(|e| CallError::Asr(e.to_string()))?;
    Ok(Arc::new(engine))
}

fn run(args: CallArgs) -> Result<session::Outcome, CallError> {
    let uri = parse_uri(&args.uri)?;
    let engine = if args.transcribe {
        Some(recognizer(&args)?)
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CallError::Runtime)?;
    runtime.block_on(async {
        let actions = script::prepare(&args.steps, &args.language, args.voice.as_deref()).await?;
        let host = format!("{}:{}", uri.host, uri.port.unwrap_or(5060));
        let target = tokio::net::lookup_host(&host)
            .await
            .map_err(|source| CallError::Resolve {
                host: host.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| CallError::Resolve {
                host: host.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            })?;
        let ears = match engine {
            Some(e) => Some(ears::Ears::start(e, &args.language).map_err(CallError::Socket)?),
            None => None,
        };
        let plan = session::CallPlan {
            target,
            uri,
            from: args.from.clone(),
            steps: args.steps.iter().cloned().zip(actions).collect(),
            turns: turns::TurnConfig {
                end_silence: args.end_silence,
                max_wait: args.turn_timeout,
                ..turns::TurnConfig::default()
            },
            timeout: args.timeout,
        };
        let report = report::Report::start(args.format);
        let outcome = session::run(plan, ears, &report).await;
        report.finish().await;
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, FromArgMatches};

    fn parse(argv: &[&str]) -> Result<CallArgs, clap::Error> {
        let cmd = CallArgs::augment_args(clap::Command::new("call"));
        let m = cmd.try_get_matches_from(std::iter::once("call").chain(argv.iter().copied()))?;
        CallArgs::from_arg_matches(&m)
    }

    #[test]
    fn steps_keep_their_order_across_kinds() {
        let a = parse(&[
            "sip:100@127.0.0.1",
            "--dtmf",
            "1",
            "--say",
            "check my balance",
            "--wait",
            "2",
            "--dtmf",
            "12#",
            "--wav",
            "hello.wav",
        ])
        .unwrap();
        assert_eq!(
            a.steps,
            vec![
                Step::Dtmf("1".into()),
                Step::Say("check my balance".into()),
                Step::Wait(Duration::from_secs(2)),
                Step::Dtmf("12#".into()),
                Step::Wav("hello.wav".into()),
            ]
        );
        assert_eq!(a.timeout, Duration::from_secs(60));
        assert_eq!(a.end_silence, Duration::from_millis(1200));
        assert!(a.transcribe);
        assert_eq!(a.format, Format::Text);
    }

    #[test]
    fn a_bad_key_is_refused_with_the_key_named() {
        let e = parse(&["sip:100@127.0.0.1", "--dtmf", "1x"]).unwrap_err();
        assert!(e.to_string().contains("`X`"), "{e}");
    }

    #[test]
    fn uris_without_scheme_get_sip_and_tcp_is_refused() {
        let u = parse_uri("100@127.0.0.1:5080").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", Some(5080)));
        assert_eq!(u.user.as_deref(), Some("100"));
        assert!(parse_uri("sip:100@127.0.0.1;transport=tcp").is_err());
        assert!(parse_uri("tel:+15550100").is_err());
    }
}
