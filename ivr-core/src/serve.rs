//! `ivr serve`: assembles the engine and runs it until it has drained.

use std::sync::Arc;

use anyhow::Context;
use ivr_media::audio::wav::{EncodedPrompt, Prompt};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::clock::MediaClock;
use crate::config::Config;
use crate::events::EventLog;
use crate::flow::{FlowServices, Tts};
use crate::plans::{PlanRegistry, PlanSet};
use crate::signalling::{accept_tcp, Control, Listeners, Signalling};
use crate::webhook::WebhookClient;
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
    if config.recording.enabled {
        let dir = config.server.data.join("recordings");
        tokio::fs::create_dir_all(&dir)
            .await
            .with_context(|| format!("creating the recordings folder {}", dir.display()))?;
    }
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

    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (call_tx, call_rx) = mpsc::unbounded_channel();
    let clock = MediaClock::start();
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
    if let Some(l) = tcp {
        tokio::spawn(accept_tcp(l, control_tx.clone()));
    }
    tokio::spawn(watch_signals(
        control_tx,
        plans.as_ref().map(|(r, _)| r.clone()),
    ));
    if let Some((registry, _)) = &plans {
        tokio::spawn(watch_plan_files(registry.clone()));
    }

    info!(sip_udp = %udp_addr, sip_tcp = ?tcp_addr, data = %config.server.data.display(), "ready");
    let ready = serde_json::json!({
        "event": "ready",
        "sip_udp": udp_addr.to_string(),
        "sip_tcp": tcp_addr.map(|a| a.to_string()),
    });
    println!("{ready}");

    signalling.run(control_rx, call_rx).await;
    drop(events);
    writer.finish().await.context("flushing the event log")?;
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
    Ok((
        registry,
        FlowServices {
            tts,
            webhooks,
            hold,
        },
    ))
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
async fn watch_plan_files(registry: Arc<PlanRegistry>) {
    let mut seen = registry.fingerprint();
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
async fn watch_signals(control: mpsc::UnboundedSender<Control>, plans: Option<Arc<PlanRegistry>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut usr1), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::hangup()),
    ) else {
        warn!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
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
