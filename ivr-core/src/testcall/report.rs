//! What `ivr call` prints: one line per happening, as text or JSON, in call order.
//!
//! Transcripts come back from the recogniser after the utterance ended, while the call goes
//! on; [`Report`] queues lines to a printer task that waits for each transcript in turn, so
//! the output reads in the order things happened on the line.

use std::time::Duration;

use ivr_speech::asr::Transcript;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::ears::Heard;

/// A transcript below this confidence is printed as low-confidence.
pub const LOW_CONFIDENCE: f32 = 0.5;

/// How long the printer waits for one transcript before printing the utterance without it.
const TRANSCRIPT_WAIT: Duration = Duration::from_secs(30);

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One human-readable line per happening.
    Text,
    /// One JSON object per line, with an `event` field.
    Json,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// The INVITE is on its way.
    Calling {
        /// The Request-URI.
        uri: String,
        /// The caller's number.
        from: String,
    },
    /// A provisional response.
    Ringing {
        /// Its status.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The IVR answered.
    Answered {
        /// The audio codec.
        codec: &'static str,
        /// How digits are sent: `rfc4733` or `inband`.
        dtmf: &'static str,
    },
    /// The IVR said something.
    Heard {
        /// The transcript (`None` without transcription or when recognition failed).
        text: Option<String>,
        /// Its confidence, 0..1.
        confidence: Option<f32>,
        /// How long the IVR spoke.
        speech: Duration,
        /// Why there is no transcript, if recognition failed.
        error: Option<String>,
    },
    /// The IVR said nothing for a whole turn.
    Silence {
        /// How long the caller waited.
        waited: Duration,
    },
    /// The caller's step.
    Step {
        /// `say`, `dtmf`, `wav` or `wait`.
        kind: &'static str,
        /// The text, digits, file or seconds.
        value: String,
        /// Extra detail (`rfc4733`, `inband`, the audio length).
        detail: Option<String>,
    },
    /// The call reached `--timeout`.
    Timeout {
        /// The limit.
        after: Duration,
    },
    /// The call ended.
    Hangup {
        /// `caller` or `ivr`.
        by: &'static str,
    },
    /// The call was not answered.
    Failed {
        /// The final SIP status, if one came.
        status: Option<u16>,
        /// The reason phrase or what went wrong.
        reason: String,
    },
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl Record {
    /// The human-readable line.
    pub fn text(&self) -> String {
        match self {
            Record::Calling { uri, from } => format!("calling {uri} from {from}"),
            Record::Ringing { status, reason } => format!("ringing: {status} {reason}"),
            Record::Answered { codec, dtmf } => {
                let dtmf = match *dtmf {
                    "rfc4733" => "digits as RFC 4733 telephone-events",
                    _ => "digits as in-band tones (no telephone-event offered)",
                };
                format!("answered: {codec}, {dtmf}")
            }
            Record::Heard {
                text,
                confidence,
                speech,
                error,
            } => match (text, confidence, error) {
                (_, _, Some(e)) => format!("ivr: [{}, not transcribed: {e}]", secs(*speech)),
                (Some(t), _, _) if t.is_empty() => {
                    format!("ivr: [{}, nothing recognised]", secs(*speech))
                }
                (Some(t), Some(c), _) if *c < LOW_CONFIDENCE => {
                    format!("ivr: {t} [{}, low confidence {c:.2}]", secs(*speech))
                }
                (Some(t), _, _) => format!("ivr: {t} [{}]", secs(*speech)),
                (None, _, _) => format!("ivr: [speech {}]", secs(*speech)),
            },
            Record::Silence { waited } => format!("ivr: [silent for {}]", secs(*waited)),
            Record::Step {
                kind,
                value,
                detail,
            } => {
                let value = if *kind == "say" {
                    format!("{value:?}")
                } else {
                    value.clone()
                };
                match detail {
                    Some(d) => format!("caller: {kind} {value} ({d})"),
                    None => format!("caller: {kind} {value}"),
                }
            }
            Record::Timeout { after } => format!("timeout after {}", secs(*after)),
            Record::Hangup { by } => format!("hangup by {by}"),
            Record::Failed {
                status: Some(s),
                reason,
            } => format!("call failed: {s} {reason}"),
            Record::Failed {
                status: None,
                reason,
            } => format!("call failed: {reason}"),
        }
    }

    /// The JSON object.
    pub fn json(&self) -> Value {
        match self {
            Record::Calling { uri, from } => json!({"event": "calling", "uri": uri, "from": from}),
            Record::Ringing { status, reason } => {
                json!({"event": "ringing", "status": status, "reason": reason})
            }
            Record::Answered { codec, dtmf } => {
                json!({"event": "answered", "codec": codec, "dtmf": dtmf})
            }
            Record::Heard {
                text,
                confidence,
                speech,
                error,
            } => json!({
                "event": "heard",
                "text": text,
                "confidence": confidence,
                "low_confidence": confidence.is_some_and(|c| c < LOW_CONFIDENCE),
                "speech_ms": speech.as_millis() as u64,
                "error": error,
            }),
            Record::Silence { waited } => {
                json!({"event": "silence", "waited_ms": waited.as_millis() as u64})
            }
            Record::Step {
                kind,
                value,
                detail,
            } => json!({"event": "step", "kind": kind, "value": value, "detail": detail}),
            Record::Timeout { after } => {
                json!({"event": "timeout", "after_ms": after.as_millis() as u64})
            }
            Record::Hangup { by } => json!({"event": "hangup", "by": by}),
            Record::Failed { status, reason } => {
                json!({"event": "failed", "status": status, "reason": reason})
            }
        }
    }

    /// A heard utterance from a transcript.
    pub fn heard(result: Result<Transcript, String>, speech: Duration) -> Record {
        match result {
            Ok(t) => Record::Heard {
                confidence: (!t.text.is_empty()).then_some(t.confidence),
                text: Some(t.text),
                speech,
                error: None,
            },
            Err(e) => Record::Heard {
                text: None,
                confidence: None,
                speech,
                error: Some(e),
            },
        }
    }
}

enum Item {
    Ready(Record),
    Pending { heard: Heard, speech: Duration },
}

/// The ordered printer. Lines go out in the order they were queued.
pub struct Report {
    tx: mpsc::UnboundedSender<Item>,
    printer: tokio::task::JoinHandle<()>,
}

impl Report {
    /// Starts the printer on the current runtime.
    pub fn start(format: Format) -> Report {
        let (tx, mut rx) = mpsc::unbounded_channel::<Item>();
        let printer = tokio::spawn(async move {
            while let Some(item) = rx.recv().await {
                let record = match item {
                    Item::Ready(r) => r,
                    Item::Pending { heard, speech } => {
                        let result = match tokio::time::timeout(TRANSCRIPT_WAIT, heard).await {
                            Ok(Ok(r)) => r.map_err(|e| e.to_string()),
                            Ok(Err(_)) => Err("the recogniser stopped".to_string()),
                            Err(_) => Err("the recogniser took too long".to_string()),
                        };
                        Record::heard(result, speech)
                    }
                };
                match format {
                    Format::Text => println!("{}", record.text()),
                    Format::Json => println!("{}", record.json()),
                }
            }
        });
        Report { tx, printer }
    }

    /// Queues a line.
    pub fn line(&self, record: Record) {
        let _ = self.tx.send(Item::Ready(record));
    }

    /// Queues an utterance whose transcript is on its way.
    pub fn heard(&self, heard: Heard, speech: Duration) {
        let _ = self.tx.send(Item::Pending { heard, speech });
    }

    /// Waits until every queued line is printed.
    pub async fn finish(self) {
        drop(self.tx);
        let _ = self.printer.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(text: &str, confidence: f32) -> Transcript {
        Transcript {
            text: text.into(),
            confidence,
            words: Vec::new(),
            is_final: true,
            latency: Duration::ZERO,
        }
    }

    #[test]
    fn low_confidence_text_is_marked_as_such() {
        let sure = Record::heard(Ok(transcript("welcome", 0.9)), Duration::from_millis(1500));
        assert_eq!(sure.text(), "ivr: welcome [1.5 s]");
        let unsure = Record::heard(Ok(transcript("well come", 0.2)), Duration::from_secs(2));
        assert_eq!(unsure.text(), "ivr: well come [2.0 s, low confidence 0.20]");
        assert_eq!(unsure.json()["low_confidence"], true);
        assert_eq!(sure.json()["low_confidence"], false);
    }

    #[test]
    fn failures_show_the_sip_status_and_reason() {
        let busy = Record::Failed {
            status: Some(486),
            reason: "Busy Here".into(),
        };
        assert_eq!(busy.text(), "call failed: 486 Busy Here");
        assert_eq!(busy.json()["status"], 486);
    }

    #[test]
    fn without_transcription_only_the_duration_is_shown() {
        let r = Record::Heard {
            text: None,
            confidence: None,
            speech: Duration::from_millis(3200),
            error: None,
        };
        assert_eq!(r.text(), "ivr: [speech 3.2 s]");
    }
}
