//! The `ivr` command.
//!
//! Exit codes: 0 success, 1 a clean "no" (problems found), 2 an error (bad config, cannot bind).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ivr_core::config::{Config, Overrides};

#[derive(Parser)]
#[command(
    name = "ivr",
    version,
    about = "A voice IVR and call-center engine",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Place one outbound call through a running engine and print its progress.
    ///
    /// Exit code 0 when answered (the dial plan then runs), 1 when the call failed (busy, no
    /// answer, rejected), 2 on a usage or connection problem.
    ///
    /// Example:
    ///   ivr originate --grpc http://127.0.0.1:50051 --token $ADMIN_TOKEN --trunk carrier \
    ///     --plan swift-delivery-notice --to +14155550100 --var name=Maria --var window=tomorrow
    #[command(verbatim_doc_comment)]
    Originate(ivr_core::originate::OriginateArgs),
    /// Check dial plans for problems, all at once, with their positions.
    ///
    /// Exit code 0 when clean (warnings allowed), 1 when a plan has errors, 2 when a file
    /// cannot be read. Folders are searched for *.yaml plans (*.tests.yaml excluded).
    ///
    /// Examples:
    ///   ivr check examples/bank.yaml
    ///   ivr check examples/
    ///   ivr check --format json plans/*.yaml
    #[command(verbatim_doc_comment)]
    Check {
        /// Plan files or folders.
        #[arg(required = true)]
        plans: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Talk to a dial plan as a caller, in text.
    ///
    /// Type what a caller says; `#123` presses keys; an empty line is silence (no input);
    /// `/vars` shows the variables; `/quit` ends. Each reply shows what the engine says, the
    /// node path, intent scores and webhook calls. Webhooks are answered from --webhooks (a
    /// JSON object of URL → answer), else they fail with `connect` so the error path shows.
    /// Reads stdin, so it is scriptable.
    ///
    /// Examples:
    ///   ivr chat examples/bank.yaml
    ///   printf 'check my balance\n#12345678\n' | ivr chat examples/bank.yaml
    ///   ivr chat examples/bank.yaml --webhooks answers.json --caller +15551230000
    #[command(verbatim_doc_comment)]
    Chat {
        /// The plan.
        plan: PathBuf,
        /// The caller's number.
        #[arg(long, default_value = "+15550000000")]
        caller: String,
        /// JSON file: {"URL": {answer...}} for the plan's webhooks.
        #[arg(long)]
        webhooks: Option<PathBuf>,
    },
    /// Run conversation tests (*.tests.yaml) and print `N passed, N failed`.
    ///
    /// Exit code 0 when every test passes, 1 when one fails, 2 when a file cannot be run.
    ///
    /// Examples:
    ///   ivr test examples/bank.tests.yaml
    ///   ivr test examples/*.tests.yaml
    #[command(verbatim_doc_comment)]
    Test {
        /// Test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Synthesize text with the engine's voice and write an 8 kHz WAV (what callers hear).
    ///
    /// Examples:
    ///   ivr say "Welcome to Acme Bank." -o welcome.wav
    ///   ivr say "您好，欢迎致电" --language zh-CN -o hello.wav
    ///   ivr say "Press one for sales." --voice en-gb --rate 150 -o sales.wav
    #[command(verbatim_doc_comment)]
    Say {
        /// The text.
        text: String,
        /// Output WAV file (16-bit mono, 8 kHz).
        #[arg(long, short)]
        output: PathBuf,
        /// Language (BCP 47) choosing the default voice.
        #[arg(long, default_value = "en-US")]
        language: String,
        /// espeak-ng voice name (e.g. en-us, en-gb, cmn).
        #[arg(long)]
        voice: Option<String>,
        /// Speaking rate in words per minute.
        #[arg(long)]
        rate: Option<u32>,
    },
    /// Recognise speech in a WAV file with the engine's recogniser.
    ///
    /// Without --plan the whole vocabulary is open (dictation); with --plan and --node the
    /// recogniser expects what that node listens for (its intents' examples, the slot it
    /// collects, yes/no), exactly as in a call.
    ///
    /// Examples:
    ///   ivr transcribe caller.wav
    ///   ivr transcribe caller.wav --plan examples/bank.yaml --node main
    ///   ivr transcribe digits.wav --plan examples/bank.yaml --node ask_card --format json
    #[command(verbatim_doc_comment)]
    Transcribe {
        /// A WAV file (mono or stereo, any rate).
        file: PathBuf,
        /// The recogniser.
        #[arg(long, value_enum, default_value = "pocketsphinx")]
        engine: Engine,
        /// Model: the PocketSphinx model folder or the Whisper ggml file.
        #[arg(long)]
        model: Option<PathBuf>,
        /// A dial plan whose node gives the grammar.
        #[arg(long, requires = "node")]
        plan: Option<PathBuf>,
        /// The node of --plan.
        #[arg(long, requires = "plan")]
        node: Option<String>,
        /// Language (without --plan).
        #[arg(long, default_value = "en-US")]
        language: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// The audit log: `ivr audit verify DATA/audit.jsonl` checks its hash chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The same as `ivr audit verify` (kept for scripts).
    #[command(name = "audit-verify", hide = true)]
    AuditVerify {
        /// The audit log.
        file: PathBuf,
    },
    /// List call records from the call store, newest first, one JSON object per line.
    ///
    /// Examples:
    ///   ivr calls --store /var/lib/ivr/ivr.db --limit 20
    ///   ivr calls --store data/ivr.db --number +15551230000 --transcript
    #[command(verbatim_doc_comment)]
    Calls {
        /// The store: a SQLite file (the engine's DATA/ivr.db) or a postgres:// URL.
        #[arg(long)]
        store: String,
        /// Only calls from or to this number.
        #[arg(long)]
        number: Option<String>,
        /// Only calls through this queue.
        #[arg(long)]
        queue: Option<String>,
        /// At most this many calls.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Include each call's (redacted) transcript and events.
        #[arg(long)]
        transcript: bool,
    },
    /// Call an IVR as a test caller: hear each prompt, then speak, press keys or play audio.
    ///
    /// At each turn the caller waits for the IVR to finish talking (speech, then 1.2 s of
    /// silence), prints what it heard (transcribed by dictation; low confidence marked), then
    /// performs the next step in the order given. After the last step it prints the reply and
    /// hangs up. Exit code 0 when the IVR answered, 1 when the call failed (e.g. `call failed:
    /// 486 Busy Here`), 2 on an error before the call.
    ///
    /// Examples:
    ///   ivr call sip:100@127.0.0.1:5060 --dtmf 1 --dtmf 12345678
    ///   ivr call sip:100@127.0.0.1:5060 --say "I lost my card" --say "four two five one"
    ///   ivr call sip:100@ivr.example.com --wait 6 --dtmf 0 --format json --no-transcribe
    #[command(verbatim_doc_comment)]
    Call(ivr_core::testcall::CallArgs),
    /// Quality inspection: score stored calls against YAML rules (see docs/qa.md).
    #[command(subcommand)]
    Qa(ivr_core::qa::cli::QaCommand),
    // Its help is the doc comment of ReportArgs.
    Report(ivr_core::report::cli::ReportArgs),
    /// A caller's data: export it (right of access) or erase it (right to erasure).
    #[command(subcommand)]
    Privacy(ivr_core::privacy::cli::PrivacyCommand),
    /// Call recordings: export one, decrypted, for an authorised principal.
    #[command(subcommand)]
    Recording(ivr_core::privacy::cli::RecordingCommand),
    /// Outbound campaigns: create one from a contacts file, follow it, export its results.
    #[command(subcommand)]
    Campaign(ivr_core::outbound::cli::CampaignCommand),
    /// Answer calls from SIP trunks.
    ///
    /// Without --config the engine runs on its embedded defaults: SIP on 127.0.0.1:5060 (UDP and
    /// TCP), calls accepted from loopback only, the bundled demo prompt.
    ///
    /// Examples:
    ///   ivr serve
    ///   ivr serve --config examples/ivr.toml
    ///   ivr serve --config /etc/ivr/ivr.toml --sip 0.0.0.0:5060 --data /var/lib/ivr
    ///
    /// SIGTERM stops new calls (503) and lets active calls finish up to server.drain_timeout; a
    /// second SIGTERM ends them at once.
    #[command(verbatim_doc_comment)]
    Serve {
        /// Configuration file (TOML). See docs/configuration.md.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// SIP listen address for UDP and TCP (port 0 picks a free port).
        #[arg(long, value_name = "ADDR:PORT")]
        sip: Option<std::net::SocketAddr>,
        /// gRPC listen address.
        #[arg(long, value_name = "ADDR:PORT")]
        grpc: Option<std::net::SocketAddr>,
        /// Data folder (event log, recordings).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Dial-plan folder.
        #[arg(long, value_name = "DIR")]
        plans: Option<PathBuf>,
        /// Log format on stderr.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
}

/// `ivr audit …`.
#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Check the hash chain of an audit log (DATA/audit.jsonl).
    ///
    /// Exit code 0 when every entry verifies, 1 when an entry was edited, deleted, inserted or
    /// reordered (the first broken line is named), 2 when the file cannot be read.
    ///
    /// Examples:
    ///   ivr audit verify /var/lib/ivr/audit.jsonl
    #[command(verbatim_doc_comment)]
    Verify {
        /// The audit log.
        file: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One line per problem and a summary.
    Human,
    /// A JSON array.
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Engine {
    /// PocketSphinx, embedded (US English).
    Pocketsphinx,
    /// Whisper (a build with the `whisper` feature and a ggml model).
    Whisper,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { plans, format } => check(&plans, format),
        Command::Originate(args) => ivr_core::originate::run(args),
        Command::Chat {
            plan,
            caller,
            webhooks,
        } => chat(&plan, &caller, webhooks.as_deref()),
        Command::Test { files } => test(&files),
        Command::Transcribe {
            file,
            engine,
            model,
            plan,
            node,
            language,
            format,
        } => transcribe(&file, engine, model, plan.zip(node), &language, format),
        Command::AuditVerify { file } | Command::Audit(AuditCommand::Verify { file }) => {
            audit_verify(&file)
        }
        Command::Call(args) => ivr_core::testcall::main(args),
        Command::Privacy(c) => ivr_core::privacy::cli::privacy(c),
        Command::Recording(c) => ivr_core::privacy::cli::recording(c),
        Command::Campaign(command) => ivr_core::outbound::cli::run(command),
        Command::Calls {
            store,
            number,
            queue,
            limit,
            transcript,
        } => calls(&store, number, queue, limit, transcript),
        Command::Qa(command) => ivr_core::qa::cli::main(command),
        Command::Report(args) => ivr_core::report::cli::main(args),
        Command::Say {
            text,
            output,
            language,
            voice,
            rate,
        } => say(text, &output, language, voice, rate),
        Command::Serve {
            config,
            sip,
            grpc,
            data,
            plans,
            log_format,
        } => {
            let overrides = Overrides {
                sip,
                grpc,
                data,
                plans,
            };
            let loaded = match &config {
                Some(path) => Config::load(path, &overrides),
                None => Config::embedded(&overrides),
            };
            let config = match loaded {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let traces = config.metrics.as_ref().and_then(|m| m.traces.as_deref());
            if let Err(e) = init_serve_logging(log_format, traces) {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            // Every call holds two sockets (RTP and RTCP); raise the soft open-file limit to the
            // hard limit so the configured max_calls can really be reached.
            match rlimit::increase_nofile_limit(u64::MAX) {
                Ok(n) if (n as usize) < config.limits.max_calls * 2 + 256 => tracing::warn!(
                    open_files = n,
                    max_calls = config.limits.max_calls,
                    "the open-file limit is too low for limits.max_calls (each call needs 2 sockets)"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            match runtime.block_on(ivr_core::serve::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// Logging for `ivr serve`: stderr, plus OTLP/JSON spans when `[metrics] traces` is set.
fn init_serve_logging(format: LogFormat, traces: Option<&std::path::Path>) -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let Some(path) = traces else {
        init_logging(format);
        return Ok(());
    };
    let spans = ivr_core::otlp::OtlpFileLayer::create(path, "ivr").map_err(|e| {
        format!(
            "cannot open the traces file {} ([metrics] traces): {e}",
            path.display()
        )
    })?;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(spans)
        .try_init()
        .map_err(|e| e.to_string())
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Plan files named on the command line, folders expanded.
fn plan_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| ivr_core::plans::is_plan_file(f))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn check(paths: &[PathBuf], format: Format) -> ExitCode {
    let files = plan_files(paths);
    let (diags, could_run) = ivr_dialplans::check_paths(&files);
    match format {
        Format::Human => {
            let text = diags.render_human();
            if diags.has_errors() {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
        }
        Format::Json => println!("{}", diags.render_json()),
    }
    if !could_run {
        ExitCode::from(2)
    } else if diags.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn chat(path: &std::path::Path, caller: &str, webhooks: Option<&std::path::Path>) -> ExitCode {
    use std::io::BufRead;
    let plan = match ivr_dialplans::compile(path, &ivr_dialplans::FsProvider) {
        Ok((plan, _)) => ivr_dialplans::interpreter::CompiledPlan::new(plan),
        Err(diags) => {
            eprint!("{}", diags.render_human());
            return ExitCode::from(2);
        }
    };
    let mut answers = ivr_dialplans::testing::Webhooks::new();
    if let Some(file) = webhooks {
        let parsed = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&t)
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(map) => answers.extend(map.into_iter().map(|(url, v)| (url, Ok(v)))),
            Err(e) => {
                eprintln!("error: --webhooks {}: {e}", file.display());
                return ExitCode::from(2);
            }
        }
    }
    let mut chat = ivr_dialplans::testing::Chat::new(plan, caller).with_webhooks(answers);
    for line in chat.start(chrono::Utc::now()) {
        println!("{line}");
    }
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "/quit" {
            break;
        }
        for out in chat.input(&line, chrono::Utc::now()) {
            println!("{out}");
        }
        if chat.is_finished() {
            break;
        }
    }
    ExitCode::SUCCESS
}

fn transcribe(
    file: &std::path::Path,
    engine: Engine,
    model: Option<PathBuf>,
    plan_node: Option<(PathBuf, String)>,
    language: &str,
    format: Format,
) -> ExitCode {
    use ivr_speech::asr::{transcribe_wav, Grammar, Recognizer};
    let grammar = match &plan_node {
        None => Grammar::dictation(language),
        Some((path, node)) => {
            let plan = match ivr_dialplans::compile(path, &ivr_dialplans::FsProvider) {
                Ok((plan, _)) => ivr_dialplans::interpreter::CompiledPlan::new(plan),
                Err(diags) => {
                    eprint!("{}", diags.render_human());
                    return ExitCode::from(2);
                }
            };
            let Some(n) = plan.plan().node_by_name(node) else {
                eprintln!("error: {} has no node `{node}`", path.display());
                return ExitCode::from(2);
            };
            let lang = plan.plan().language.clone();
            let (hints, slot) = plan.speech_hints(n, &lang, false);
            ivr_core::hearing::grammar(&lang, &hints, slot.as_ref())
        }
    };
    let recognizer: Box<dyn Recognizer> = match engine {
        Engine::Pocketsphinx => {
            let mut config = ivr_speech::pocketsphinx::PocketSphinxConfig::default();
            if let Some(m) = model {
                config.model_dir = m;
            }
            match ivr_speech::pocketsphinx::PocketSphinx::open(config) {
                Ok(e) => Box::new(e),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        Engine::Whisper => match ivr_core::serve::whisper_recognizer(model.as_deref()) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let started = std::time::Instant::now();
    match transcribe_wav(recognizer.as_ref(), file, &grammar) {
        Ok(t) => {
            match format {
                Format::Human => println!("{}\t{:.2}", t.text, t.confidence),
                Format::Json => println!(
                    "{}",
                    serde_json::json!({
                        "text": t.text,
                        "confidence": t.confidence,
                        "words": t.words.iter().map(|w| serde_json::json!({"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms})).collect::<Vec<_>>(),
                        "engine": recognizer.name(),
                        "elapsed_ms": started.elapsed().as_millis() as u64,
                    })
                ),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            ExitCode::from(2)
        }
    }
}

fn audit_verify(file: &std::path::Path) -> ExitCode {
    match ivr_core::privacy::audit::verify(file) {
        Ok(report) => match &report.first_broken {
            None => {
                println!(
                    "{}: {} entries, chain intact",
                    file.display(),
                    report.entries
                );
                ExitCode::SUCCESS
            }
            Some(broken) => {
                println!(
                    "{}:{}: the chain is broken: {:?} ({} entries verified before it)",
                    file.display(),
                    broken.line,
                    broken.problem,
                    report.entries
                );
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn calls(
    location: &str,
    number: Option<String>,
    queue: Option<String>,
    limit: u32,
    transcript: bool,
) -> ExitCode {
    use ivr_core::store::{CdrFilter, Store};
    use serde_json::json;
    let run = async {
        if !location.contains("://") && !std::path::Path::new(location).is_file() {
            return Err(format!(
                "{location} does not exist: give the engine's DATA/ivr.db"
            ));
        }
        let store = Store::open(location).await.map_err(|e| e.to_string())?;
        let filter = CdrFilter {
            number,
            queue,
            limit,
            ..CdrFilter::default()
        };
        let cdrs = store
            .query_calls(&filter)
            .await
            .map_err(|e| e.to_string())?;
        for c in cdrs {
            let mut line = json!({
                "call_id": c.call_id,
                "direction": c.direction.as_str(),
                "from": c.from_number,
                "to": c.to_number,
                "trunk": c.trunk,
                "started_at_unix_ms": c.started_at_unix_ms,
                "answered_at_unix_ms": c.answered_at_unix_ms,
                "ended_at_unix_ms": c.ended_at_unix_ms,
                "dial_plan": c.dial_plan,
                "dial_plan_version": c.dial_plan_version,
                "node_path": c.node_path,
                "intents": c.intents,
                "slots": c.slots,
                "outcome": c.outcome.map(|o| o.as_str()),
                "queue": c.queue,
                "wait_ms": c.wait_ms,
                "agent_id": c.agent_id,
                "talk_ms": c.talk_ms,
                "disposition": c.disposition,
                "hangup_cause": c.hangup_cause,
                "hangup_side": c.hangup_side.map(|s| s.as_str()),
                "amd": c.amd,
            });
            if transcript {
                let turns = store
                    .transcript(&c.call_id)
                    .await
                    .map_err(|e| e.to_string())?;
                let events = store.events(&c.call_id).await.map_err(|e| e.to_string())?;
                line["transcript"] = turns
                    .iter()
                    .map(|t| json!({"who": t.who.as_str(), "text": t.text, "node": t.node, "at_ms": t.at_ms}))
                    .collect();
                line["events"] = events
                    .iter()
                    .map(|e| json!({"at_unix_ms": e.at_unix_ms, "name": e.name, "data": e.data}))
                    .collect();
            }
            println!("{line}");
        }
        store.close().await;
        Ok::<(), String>(())
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(run));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn say(
    text: String,
    output: &std::path::Path,
    language: String,
    voice: Option<String>,
    rate: Option<u32>,
) -> ExitCode {
    use ivr_speech::tts::{CachedSynthesizer, EspeakSynthesizer, SpeakRequest};
    let engine = match EspeakSynthesizer::start(4) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let req = SpeakRequest {
        text,
        language,
        voice,
        rate,
    };
    let started = std::time::Instant::now();
    let rendered = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(CachedSynthesizer::new(engine, None).speak(&req))
                .map_err(|e| e.to_string())
        });
    let prompt = match rendered {
        Ok(speech) => speech.prompt.clone(),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let written = hound::WavWriter::create(output, spec).and_then(|mut w| {
        for &s in prompt.samples() {
            w.write_sample(s)?;
        }
        w.finalize()
    });
    if let Err(e) = written {
        eprintln!("error: cannot write {}: {e}", output.display());
        return ExitCode::from(2);
    }
    eprintln!(
        "{}: {:.2} s of audio in {} ms",
        output.display(),
        prompt.duration().as_secs_f64(),
        started.elapsed().as_millis()
    );
    ExitCode::SUCCESS
}

fn test(files: &[PathBuf]) -> ExitCode {
    let (mut passed, mut failed, mut broken) = (0, 0, false);
    for file in files {
        match ivr_dialplans::testing::run_file(file, &ivr_dialplans::FsProvider) {
            Ok(report) => {
                println!("{}:", file.display());
                println!("{report}");
                passed += report.passed();
                failed += report.failed();
            }
            Err(diags) => {
                eprint!("{}", diags.render_human());
                broken = true;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if broken {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
