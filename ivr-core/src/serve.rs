//! `ivr serve`: assembles the engine and runs it until it has drained.

use std::sync::Arc;

use anyhow::Context;
use ivr_media::audio::wav::{EncodedPrompt, Prompt};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::clock::MediaClock;
use crate::config::{AsrEngine, Config, SpeechConfig};
use crate::events::EventLog;
use crate::flow::{FlowServices, Tts};
use crate::plans::{PlanRegistry, PlanSet};
use crate::signalling::{accept_tcp, Control, Listeners, Signalling};
use crate::store::{Store, StoreWriter, WriterConfig};
use crate::webhook::WebhookClient;
use ivr_speech::asr::{AsrPool, Recognizer};
use ivr_speech::pocketsphinx::{PocketSphinx, PocketSphinxConfig};
use ivr_speech::tts::{CachedSynthesizer, EspeakSynthesizer, SpeakRequest};

/// Runs the engine. Returns after a drain (SIGTERM) completes.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let prompt = match &config.demo.prompt {
        Some(path) => {
            let prompt = Prompt::load(path)
                .with_context(|| format!("loading demo.prompt {}", path.display()))?;
            info!(path = %path.display(), frames = prompt.len_frames(), "prompt loaded");
            Some(Arc::new(EncodedPrompt::new(&prompt)))
        }
        None => {
            warn!("no demo.prompt configured: answered calls hear silence");
            None
        }
    };
    let (events, writer) = EventLog::open(&config.server.data)
        .await
        .with_context(|| format!("opening the event log in {}", config.server.data.display()))?;
    let location = config.store.location(&config.server.data);
    let store = Store::open(&location)
        .await
        .with_context(|| format!("opening the call store {location}"))?;
    info!(store = %location, "call store open");
    let reader = store.clone();
    let store = StoreWriter::start(store, WriterConfig::default());
    let live = Arc::new(crate::control::LiveCalls::default());
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let events = events
        .with_store(store.clone())
        .with_live(live.clone())
        .with_metrics(metrics.clone());
    let keyring = crate::privacy::recording::load_keyring(&config.privacy)
        .context("loading the recording keys ([privacy])")?
        .map(Arc::new);
    if config.recording.enabled {
        let dir = config.server.data.join("recordings");
        tokio::fs::create_dir_all(&dir)
            .await
            .with_context(|| format!("creating the recordings folder {}", dir.display()))?;
        if let Some(ring) = keyring.clone() {
            // Seals a crash interrupted are finished before any call is taken.
            let report = tokio::task::spawn_blocking(move || {
                crate::privacy::recording::recover(&dir, &ring)
            })
            .await?
            .context("finishing interrupted recording encryption")?;
            info!(?report, "recordings are encrypted at rest");
        }
    }
    crate::privacy::retention::spawn_retention(
        config.privacy.clone(),
        config.server.data.clone(),
        Some(reader.clone()),
    );
    let listeners = Listeners::bind(config.sip.listen, config.sip.tcp)
        .await
        .with_context(|| format!("binding SIP on {}", config.sip.listen))?;
    let Listeners { udp, tcp } = listeners;
    let udp = Arc::new(udp);
    let udp_addr = udp.local_addr()?;
    let tcp_addr = tcp.as_ref().map(|l| l.local_addr()).transpose()?;

    let plans = match &config.server.plans {
        Some(dir) => Some(start_plans(&config, dir.clone(), prompt.clone()).await?),
        None => None,
    };
    if let Some(qa) = &config.qa {
        let path = qa.rules.clone();
        let rules = tokio::task::spawn_blocking(move || crate::qa::Rules::load(&path))
            .await?
            .context("loading the quality-inspection rules ([qa] rules)")?;
        info!(
            rules = rules.rules().len(),
            "every call is scored for quality as it ends"
        );
        crate::qa::live::spawn(
            Arc::new(crate::qa::Inspector::new(rules)),
            live.subscribe(),
            store.clone(),
            reader.clone(),
            events.clone(),
            // The agent's side of recorded bridged calls, transcribed before scoring.
            plans
                .as_ref()
                .and_then(|(_, services)| services.asr.clone())
                .filter(|_| config.recording.enabled)
                .map(|pool| {
                    crate::qa::agent_leg::AgentTranscriber::new(pool, keyring.clone(), "en-US")
                        .with_redaction(stored_redaction(&config.privacy))
                }),
        );
    }

    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (call_tx, call_rx) = mpsc::unbounded_channel();
    let clock = MediaClock::start();
    let center = match &config.acd {
        Some(section) => {
            let mut section = section.clone();
            if section.callback_trunk.is_none() {
                section.callback_trunk = config
                    .trunks
                    .iter()
                    .find(|t| t.outbound.is_some())
                    .map(|t| t.name.clone());
            }
            let queues = section.queues.len();
            let callbacks = reader
                .callbacks_pending(None)
                .await
                .context("reading the call-back requests saved before the restart")?;
            let (center, board) = crate::center::Center::start(
                section,
                control_tx.clone(),
                events.clone(),
                live.clone(),
                callbacks,
            )?;
            info!(queues, "call center ready");
            Some((center, board))
        }
        None => None,
    };
    let signalling = Signalling::new(
        config.clone(),
        udp,
        tcp_addr,
        control_tx.clone(),
        prompt,
        events.clone(),
        clock,
        call_tx,
        plans.clone(),
    )?;
    let signalling = match &center {
        Some((c, _)) => signalling.with_center(c.clone()),
        None => signalling,
    };
    let signalling = match keyring {
        Some(ring) => signalling.with_keyring(ring),
        None => signalling,
    };
    if let Some(l) = tcp {
        tokio::spawn(accept_tcp(l, control_tx.clone()));
    }
    let signals = Signals::install().context("installing signal handlers")?;
    tokio::spawn(watch_signals(
        signals,
        control_tx.clone(),
        plans.as_ref().map(|(r, _)| r.clone()),
    ));
    if let Some((registry, _)) = &plans {
        // The watcher's first look is taken now, so a change made after `ready` is seen.
        let r = registry.clone();
        let seen = tokio::task::spawn_blocking(move || r.fingerprint()).await?;
        tokio::spawn(watch_plan_files(registry.clone(), seen));
    }

    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc = match &config.api {
        Some(api) => {
            let listener = tokio::net::TcpListener::bind(api.listen)
                .await
                .with_context(|| format!("binding the gRPC API on {}", api.listen))?;
            let addr = listener.local_addr()?;
            let audit_path = config.server.data.join("audit.jsonl");
            let audit = tokio::task::spawn_blocking(move || {
                crate::privacy::audit::AuditLog::open(&audit_path)
            })
            .await?
            .context("opening the audit log")?;
            let (_board, empty) =
                tokio::sync::watch::channel(crate::api::WallboardSnapshot::default());
            let (desk, wallboard): (Arc<dyn crate::api::AgentDesk>, _) = match &center {
                Some((c, board)) => (Arc::new(c.clone()), board.clone()),
                None => (Arc::new(crate::control::NoAgents), empty),
            };
            let engine = crate::control::Engine {
                live: live.clone(),
                control: control_tx.clone(),
                plans: plans.as_ref().map(|(r, _)| r.clone()),
                plans_dir: config.server.plans.clone(),
                wallboard,
            };
            let services = crate::api::Services {
                engine: Arc::new(engine),
                desk,
                store: Some(reader.clone()),
                audit: Some(Arc::new(audit)),
            };
            let api = api.clone();
            tokio::spawn(async move {
                let _board = _board;
                let stopped = async {
                    let _ = api_stopped.await;
                };
                if let Err(e) = crate::api::serve_on(listener, api, services, stopped).await {
                    warn!(error = %e, "the gRPC API stopped");
                }
            });
            info!(grpc = %addr, "gRPC API listening");
            Some(addr)
        }
        None => None,
    };

    let metrics_addr = match config.metrics.as_ref().and_then(|m| m.listen) {
        Some(listen) => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding the metrics endpoint on {listen}"))?;
            let addr = listener.local_addr()?;
            let board = center.as_ref().map(|(_, b)| b.clone());
            tokio::spawn(crate::metrics::serve(listener, metrics.clone(), board));
            info!(metrics = %addr, "Prometheus metrics on GET /metrics");
            Some(addr)
        }
        None => None,
    };
    let mut dialer = None;
    if let (Some(trunk), Some(_)) = (
        config.trunks.iter().find(|t| t.outbound.is_some()),
        &config.server.plans,
    ) {
        // Campaigns created with `ivr campaign create` in this store are dialled from here.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = crate::outbound::Dialer {
            store: reader.clone(),
            control: control_tx.clone(),
            live: live.clone(),
            trunk: trunk.name.clone(),
            ring_timeout: std::time::Duration::from_secs(30),
            draining: stop.clone(),
            board: center.as_ref().map(|(_, b)| b.clone()),
            plans: plans.as_ref().map(|(r, _)| r.clone()),
        }
        .spawn();
        dialer = Some((stop, task));
        info!(trunk = %trunk.name, "campaigns are dialled through this trunk");
    }
    info!(sip_udp = %udp_addr, sip_tcp = ?tcp_addr, data = %config.server.data.display(), "ready");
    let ready = serde_json::json!({
        "event": "ready",
        "sip_udp": udp_addr.to_string(),
        "sip_tcp": tcp_addr.map(|a| a.to_string()),
        "grpc": grpc.map(|a| a.to_string()),
        "metrics": metrics_addr.map(|a| a.to_string()),
    });
    println!("{ready}");

    signalling.run(control_rx, call_rx).await;
    if let Some((stop, task)) = dialer {
        // Every call is over: the campaigns record the last results before the store closes.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .is_err()
        {
            warn!("campaign results still being written were left to the next start");
        }
    }
    let _ = stop_api.send(());
    // The center task ends with its last handle, and with it its hold on the event log.
    drop(center);
    drop(events);
    writer.finish().await.context("flushing the event log")?;
    let stats = store.shutdown().await.context("flushing the call store")?;
    info!(?stats, "call store closed");
    Ok(())
}

/// Loads the plans folder, starts speech synthesis and renders the plans' fixed prompts.
async fn start_plans(
    config: &Config,
    dir: std::path::PathBuf,
    hold: Option<Arc<EncodedPrompt>>,
) -> anyhow::Result<(Arc<PlanRegistry>, FlowServices)> {
    let registry = Arc::new(PlanRegistry::new(
        dir.clone(),
        config.server.default_plan.clone(),
    ));
    let r = registry.clone();
    let report = tokio::task::spawn_blocking(move || r.reload()).await?;
    let set = registry.current();
    if set.is_empty() {
        let mut msg = format!("no usable dial plan in {}", dir.display());
        for (path, diags) in &report.failed {
            msg.push_str(&format!("\n{}:\n{}", path.display(), diags.render_human()));
        }
        anyhow::bail!(msg);
    }
    if let Some(name) = &config.server.default_plan {
        if !set.plans().any(|p| p.name() == name) {
            anyhow::bail!("server.default_plan `{name}` is not among the loaded plans");
        }
    }
    let tts =
        EspeakSynthesizer::start(64).context("starting espeak-ng for the dial plans' prompts")?;
    let tts = Arc::new(CachedSynthesizer::new(
        tts,
        Some(config.server.data.join("tts-cache")),
    ));
    warm(&tts, &set).await;
    let webhooks =
        WebhookClient::new(&config.sip.user_agent).context("creating the webhook client")?;
    let asr = start_asr(&config.speech).await;
    Ok((
        registry,
        FlowServices {
            tts,
            webhooks,
            hold,
            asr,
            speech: Arc::new(config.speech.clone()),
            stored: stored_redaction(&config.privacy),
        },
    ))
}

/// What stored call records mask: everything, unless `[privacy] store_unredacted` says
/// otherwise — and card numbers always (PCI DSS never allows storing them).
fn stored_redaction(
    privacy: &crate::config::PrivacyConfig,
) -> crate::privacy::redact::RedactConfig {
    let all = crate::privacy::redact::RedactConfig::default();
    if !privacy.store_unredacted {
        return all;
    }
    crate::privacy::redact::RedactConfig {
        cards: true,
        phones: false,
        national_ids: false,
        emails: false,
        ibans: false,
        account_numbers: false,
        spoken_digits: false,
        ..all
    }
}

/// Starts the configured speech recogniser on its worker pool. A recogniser that cannot start
/// (a missing model, say) is logged with what to do, and callers use the keypad.
async fn start_asr(speech: &SpeechConfig) -> Option<AsrPool> {
    let engine: Arc<dyn Recognizer> = match speech.asr {
        AsrEngine::None => {
            info!("speech recognition is off (speech.asr = \"none\"): callers use the keypad");
            return None;
        }
        AsrEngine::Pocketsphinx => {
            let config = PocketSphinxConfig {
                model_dir: speech.pocketsphinx_model.clone(),
                fast_scoring: speech.pocketsphinx_simd,
                ..PocketSphinxConfig::default()
            };
            match tokio::task::spawn_blocking(move || PocketSphinx::open(config)).await {
                Ok(Ok(e)) => {
                    let scorer = if e.simd_scoring() { "simd" } else { "library" };
                    info!(scorer, "PocketSphinx acoustic scoring");
                    Arc::new(e)
                }
                Ok(Err(e)) => {
                    warn!(error = %e, "speech recognition unavailable: callers use the keypad");
                    return None;
                }
                Err(e) => {
                    warn!(error = %e, "speech recognition failed to start");
                    return None;
                }
            }
        }
        AsrEngine::Whisper => match whisper_engine(speech) {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "speech recognition unavailable: callers use the keypad");
                return None;
            }
        },
    };
    info!(
        engine = engine.name(),
        workers = speech.workers,
        max_streams = speech.max_streams,
        "speech recognition ready"
    );
    Some(AsrPool::start(engine, speech.workers, speech.max_streams))
}

fn whisper_engine(speech: &SpeechConfig) -> Result<Arc<dyn Recognizer>, String> {
    whisper_recognizer(speech.whisper_model.as_deref()).map(Arc::from)
}

/// The Whisper recogniser for a model file (for `ivr serve` and `ivr transcribe`).
pub fn whisper_recognizer(model: Option<&std::path::Path>) -> Result<Box<dyn Recognizer>, String> {
    let Some(_model) = model else {
        return Err(
            "Whisper needs a ggml model file: set speech.whisper_model (or --model)".into(),
        );
    };
    Err("this build has no Whisper support: build with `--features whisper`".into())
}

/// Renders every plan's fixed sentences into the TTS cache.
async fn warm(tts: &Arc<Tts>, set: &PlanSet) {
    let started = std::time::Instant::now();
    let mut n = 0;
    for plan in set.plans() {
        let reqs: Vec<SpeakRequest> = plan
            .compiled
            .static_prompts()
            .into_iter()
            .map(|p| SpeakRequest {
                text: p.text,
                language: p.language,
                voice: p.voice,
                rate: p.rate,
            })
            .collect();
        n += reqs.len();
        for (req, e) in tts.warm(reqs).await {
            warn!(plan = plan.name(), text = %req.text, error = %e, "prompt could not be rendered");
        }
    }
    info!(
        prompts = n,
        ms = started.elapsed().as_millis() as u64,
        "dial-plan prompts rendered"
    );
}

/// Reloads plans when a plan file changes (checked every 2 s).
async fn watch_plan_files(
    registry: Arc<PlanRegistry>,
    mut seen: Vec<(std::path::PathBuf, Option<std::time::SystemTime>)>,
) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let r = registry.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || r.fingerprint()).await else {
            return;
        };
        if now != seen {
            seen = now;
            info!("a dial plan file changed; reloading");
            let r = registry.clone();
            let _ = tokio::task::spawn_blocking(move || r.reload()).await;
        }
    }
}

/// First SIGTERM/SIGINT drains; the second ends every call. SIGUSR1 prints counters; SIGHUP
/// reloads the dial plans.
/// The process's signal streams, installed before the engine says it is ready (a signal that
/// arrives earlier would take its default action: SIGHUP would end the process).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr1: signal(SignalKind::user_defined1())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

async fn watch_signals(
    signals: Signals,
    control: mpsc::UnboundedSender<Control>,
    plans: Option<Arc<PlanRegistry>>,
) {
    let Signals {
        mut term,
        mut int,
        mut usr1,
        mut hup,
    } = signals;
    let mut count = 0;
    loop {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {
                if let Some(registry) = &plans {
                    info!("SIGHUP: reloading dial plans");
                    let r = registry.clone();
                    let _ = tokio::task::spawn_blocking(move || r.reload()).await;
                }
                continue;
            }
            _ = usr1.recv() => {
                if control.send(Control::Stats).is_err() {
                    return;
                }
                continue;
            }
        }
        count += 1;
        let msg = if count == 1 {
            Control::Drain
        } else {
            Control::HangupAll
        };
        if control.send(msg).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::redact::Redactor;

    #[test]
    fn stored_records_are_masked_unless_switched_off_and_card_numbers_always() {
        let said = "card 4111 1111 1111 1111, call me on +14155550123";
        let mut privacy = crate::config::PrivacyConfig::default();
        let masked = Redactor::new(stored_redaction(&privacy))
            .redact(said)
            .into_owned();
        assert!(
            !masked.contains("4111 1111") && !masked.contains("5550123"),
            "{masked}"
        );
        privacy.store_unredacted = true;
        let kept = Redactor::new(stored_redaction(&privacy))
            .redact(said)
            .into_owned();
        assert!(kept.contains("+14155550123"), "{kept}");
        assert!(
            !kept.contains("4111 1111 1111"),
            "card numbers never: {kept}"
        );
    }
}
