//! `ivr serve`: assembles the engine and runs it until it has drained.

use std::sync::Arc;

use anyhow::Context;
use ivr_media::audio::wav::{EncodedPrompt, Prompt};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::clock::MediaClock;
use crate::config::Config;
use crate::events::EventLog;
use crate::signalling::{accept_tcp, Control, Listeners, Signalling};

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
    )?;
    if let Some(l) = tcp {
        tokio::spawn(accept_tcp(l, control_tx.clone()));
    }
    tokio::spawn(watch_signals(control_tx));

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

/// First SIGTERM/SIGINT drains; the second ends every call. SIGUSR1 prints counters.
async fn watch_signals(control: mpsc::UnboundedSender<Control>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut usr1)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined1()),
    ) else {
        warn!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    let mut count = 0;
    loop {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
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
