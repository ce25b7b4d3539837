//! Prometheus metrics: counters and histograms fed by the event stream (every event passes
//! through [`crate::events::EventLog`], so nothing on the media path is touched), queue and
//! agent gauges read from the wallboard at scrape time, served as text on `GET /metrics`.
//!
//! ```toml
//! [metrics]
//! listen = "127.0.0.1:9090"
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::debug;

use crate::api::WallboardSnapshot;

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `GET /metrics` is served (none: no endpoint).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// A file the tracing spans (one per call, with its log events) are appended to in the
    /// OpenTelemetry protocol's JSON encoding (see [`crate::otlp`]).
    #[serde(default)]
    pub traces: Option<std::path::PathBuf>,
}

/// A histogram with fixed upper bounds (Prometheus `le` buckets, plus `+Inf`).
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum of observations, in thousandths.
    sum_milli: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_milli: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, v: f64) {
        if !v.is_finite() || v < 0.0 {
            return;
        }
        for (bound, c) in self.bounds.iter().zip(&self.counts) {
            if v <= *bound {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_milli
            .fetch_add((v * 1000.0).round() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_milli.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// The engine's counters.
pub struct Metrics {
    inbound: AtomicU64,
    outbound: AtomicU64,
    rejected: AtomicU64,
    outbound_failed: AtomicU64,
    active: AtomicI64,
    ended: AtomicU64,
    escalations: AtomicU64,
    qa_findings: AtomicU64,
    asr_seconds: Histogram,
    tts_seconds: Histogram,
    reply_wait_seconds: Histogram,
    rtp_loss_ratio: Histogram,
    rtp_jitter_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            inbound: AtomicU64::new(0),
            outbound: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            outbound_failed: AtomicU64::new(0),
            active: AtomicI64::new(0),
            ended: AtomicU64::new(0),
            escalations: AtomicU64::new(0),
            qa_findings: AtomicU64::new(0),
            asr_seconds: Histogram::new(&[0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0]),
            tts_seconds: Histogram::new(&[0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]),
            reply_wait_seconds: Histogram::new(&[0.1, 0.2, 0.3, 0.4, 0.6, 1.0, 2.0]),
            rtp_loss_ratio: Histogram::new(&[0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1]),
            rtp_jitter_seconds: Histogram::new(&[0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]),
        }
    }
}

impl Metrics {
    /// Counts one event of a call (called for every event the engine emits).
    pub fn observe(&self, name: &str, fields: &Value) {
        let n = |k: &str| fields.get(k).and_then(Value::as_f64);
        match name {
            "incoming" => {
                self.inbound.fetch_add(1, Ordering::Relaxed);
                self.active.fetch_add(1, Ordering::Relaxed);
            }
            "outbound" => {
                self.outbound.fetch_add(1, Ordering::Relaxed);
                self.active.fetch_add(1, Ordering::Relaxed);
            }
            "rejected" => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
            }
            "originate_failed" => {
                self.outbound_failed.fetch_add(1, Ordering::Relaxed);
                self.active.fetch_sub(1, Ordering::Relaxed);
            }
            "ended" => {
                self.ended.fetch_add(1, Ordering::Relaxed);
                self.active.fetch_sub(1, Ordering::Relaxed);
                if let (Some(lost), Some(rx)) = (n("rtp_lost"), n("rtp_rx")) {
                    if lost + rx > 0.0 {
                        self.rtp_loss_ratio
                            .observe(lost.max(0.0) / (lost.max(0.0) + rx));
                    }
                }
                if let Some(j) = n("jitter_ms") {
                    self.rtp_jitter_seconds.observe(j / 1000.0);
                }
            }
            "recognized" => {
                if let Some(ms) = n("asr_ms") {
                    self.asr_seconds.observe(ms / 1000.0);
                }
                if let Some(ms) = n("wait_ms") {
                    self.reply_wait_seconds.observe(ms / 1000.0);
                }
            }
            "escalation" => {
                self.escalations.fetch_add(1, Ordering::Relaxed);
            }
            "qa_findings" => {
                let found = fields
                    .get("findings")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                self.qa_findings.fetch_add(found as u64, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// One sentence synthesized (or taken from the cache) in `seconds`.
    pub fn observe_tts(&self, seconds: f64) {
        self.tts_seconds.observe(seconds);
    }

    /// The Prometheus text exposition, with queue and agent gauges from `board`.
    pub fn render(&self, board: Option<&WallboardSnapshot>) -> String {
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, labels: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{labels} {v}"
            );
        };
        let _ = writeln!(
            out,
            "# HELP ivr_calls_started_total Calls started, by direction.\n# TYPE ivr_calls_started_total counter"
        );
        let _ = writeln!(
            out,
            "ivr_calls_started_total{{direction=\"inbound\"}} {}",
            self.inbound.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "ivr_calls_started_total{{direction=\"outbound\"}} {}",
            self.outbound.load(Ordering::Relaxed)
        );
        counter(
            &mut out,
            "ivr_calls_rejected_total",
            "INVITEs refused (trunks, limits, no plan, bad SDP).",
            "",
            self.rejected.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ivr_outbound_failed_total",
            "Outbound calls not answered (busy, no answer, refused, unreachable).",
            "",
            self.outbound_failed.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ivr_calls_ended_total",
            "Calls that ended after their media started.",
            "",
            self.ended.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ivr_escalations_total",
            "Callers the dial plan escalated to a person.",
            "",
            self.escalations.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ivr_qa_findings_total",
            "Quality-inspection findings (rule violations).",
            "",
            self.qa_findings.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP ivr_calls_active Calls in progress.\n# TYPE ivr_calls_active gauge\nivr_calls_active {}",
            self.active.load(Ordering::Relaxed).max(0)
        );
        self.asr_seconds.render(
            &mut out,
            "ivr_asr_latency_seconds",
            "Speech recognition time after the caller stopped speaking.",
        );
        self.tts_seconds.render(
            &mut out,
            "ivr_tts_latency_seconds",
            "Speech synthesis time per sentence (cache hits included).",
        );
        self.reply_wait_seconds.render(
            &mut out,
            "ivr_reply_wait_seconds",
            "End of caller speech to the recognised answer reaching the dial plan.",
        );
        self.rtp_loss_ratio.render(
            &mut out,
            "ivr_rtp_loss_ratio",
            "Share of the caller's RTP packets lost, per call.",
        );
        self.rtp_jitter_seconds.render(
            &mut out,
            "ivr_rtp_jitter_seconds",
            "Interarrival jitter of the caller's RTP at the end of each call.",
        );
        if let Some(board) = board {
            render_board(&mut out, board);
        }
        out
    }
}

fn render_board(out: &mut String, board: &WallboardSnapshot) {
    type Figure = fn(&crate::acd::QueueStats) -> f64;
    let families: [(&str, &str, &str, Figure); 4] = [
        (
            "ivr_queue_waiting",
            "Callers waiting in a queue.",
            "gauge",
            |q| q.waiting as f64,
        ),
        (
            "ivr_queue_longest_wait_seconds",
            "The longest current wait in a queue.",
            "gauge",
            |q| q.longest_wait.as_secs_f64(),
        ),
        (
            "ivr_queue_answered_total",
            "Calls answered by agents, per queue.",
            "counter",
            |q| q.handled as f64,
        ),
        (
            "ivr_queue_abandoned_total",
            "Callers who hung up waiting, per queue.",
            "counter",
            |q| q.abandoned as f64,
        ),
    ];
    for (name, help, kind, figure) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for q in &board.acd.queues {
            let _ = writeln!(out, "{name}{{queue=\"{}\"}} {}", q.name, figure(q));
        }
    }
    let mut states: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for a in &board.acd.agents {
        *states
            .entry(format!("{:?}", a.state).to_lowercase())
            .or_default() += 1;
    }
    let _ = writeln!(
        out,
        "# HELP ivr_agents Agents by state.\n# TYPE ivr_agents gauge"
    );
    for (state, n) in states {
        let _ = writeln!(out, "ivr_agents{{state=\"{state}\"}} {n}");
    }
}

/// Serves `GET /metrics` until the process ends. Each connection gets one answer and is closed.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    board: Option<watch::Receiver<WallboardSnapshot>>,
) {
    loop {
        let Ok((mut conn, peer)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        let board = board.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let mut len = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() {
                    match conn.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            len += n;
                            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                    }
                }
            })
            .await;
            if read.is_err() {
                debug!(%peer, "metrics request timed out");
                return;
            }
            let request = String::from_utf8_lossy(&buf[..len]);
            let (status, body) = if request.starts_with("GET /metrics ") {
                let snapshot = board.as_ref().map(|b| b.borrow().clone());
                ("200 OK", metrics.render(snapshot.as_ref()))
            } else {
                ("404 Not Found", "GET /metrics\n".to_string())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_become_counters_gauges_and_histograms() {
        let m = Metrics::default();
        m.observe("incoming", &json!({}));
        m.observe("incoming", &json!({}));
        m.observe("rejected", &json!({"status": 403}));
        m.observe("recognized", &json!({"asr_ms": 40, "wait_ms": 250}));
        m.observe(
            "ended",
            &json!({"rtp_rx": 990, "rtp_lost": 10, "jitter_ms": 3.0}),
        );
        m.observe("qa_findings", &json!({"findings": [{}, {}]}));
        m.observe_tts(0.004);
        let text = m.render(None);
        assert!(
            text.contains("ivr_calls_started_total{direction=\"inbound\"} 2"),
            "{text}"
        );
        assert!(text.contains("ivr_calls_rejected_total 1"));
        assert!(text.contains("ivr_calls_active 1"));
        assert!(text.contains("ivr_qa_findings_total 2"));
        assert!(text.contains("ivr_asr_latency_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("ivr_asr_latency_seconds_bucket{le=\"0.025\"} 0"));
        assert!(text.contains("ivr_reply_wait_seconds_sum 0.25"));
        assert!(text.contains("ivr_rtp_loss_ratio_bucket{le=\"0.01\"} 1"));
        assert!(text.contains("ivr_rtp_loss_ratio_bucket{le=\"0.005\"} 0"));
        assert!(text.contains("ivr_rtp_jitter_seconds_count 1"));
        assert!(text.contains("ivr_tts_latency_seconds_bucket{le=\"0.01\"} 1"));
        assert!(text.contains("ivr_tts_latency_seconds_bucket{le=\"0.001\"} 0"));
    }

    #[test]
    fn queues_and_agents_come_from_the_wallboard() {
        use crate::acd::{Acd, AcdConfig, AgentProfile, Enqueue, QueueConfig, QueueName};
        let now = std::time::Instant::now();
        let mut acd: Acd<()> = Acd::new(AcdConfig {
            queues: vec![(QueueName::from("support"), QueueConfig::default())],
            ..AcdConfig::default()
        })
        .unwrap();
        acd.login_paused(
            AgentProfile {
                id: "ann".into(),
                skills: vec![],
                queues: vec!["support".into()],
            },
            "login".into(),
            now,
        )
        .unwrap();
        acd.enqueue(
            Enqueue {
                call: crate::acd::CallId(1),
                queue: "support".into(),
                priority: 0,
                skills: vec![],
                context: (),
            },
            now,
        )
        .unwrap();
        let board = WallboardSnapshot {
            acd: acd.snapshot(now + Duration::from_secs(3)),
            ..WallboardSnapshot::default()
        };
        let text = Metrics::default().render(Some(&board));
        assert!(
            text.contains("ivr_queue_waiting{queue=\"support\"} 1"),
            "{text}"
        );
        assert!(text.contains("ivr_queue_longest_wait_seconds{queue=\"support\"} 3"));
        assert!(text.contains("# TYPE ivr_queue_answered_total counter"));
        assert!(text.contains("ivr_agents{state=\"paused\"} 1"));
    }
}
