//! Tracing spans in the OpenTelemetry protocol's JSON encoding (OTLP/JSON), one line per
//! finished span, appended to a file: `[metrics] traces = "data/traces.jsonl"`.
//!
//! Each call runs in a `call` span (call id, key); its log events at the enabled level become
//! the span's events. The lines are what an OpenTelemetry Collector's `otlpjsonfile` receiver
//! reads, so calls can be followed in Jaeger, Tempo or any OTLP backend without the engine
//! talking to one. Spans are written when they close (a call's when the call ends), off the media
//! path; the fields are the ones the log already shows (numbers masked).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Events kept per span (a long call's later events are counted, not kept).
const MAX_EVENTS: usize = 256;

/// Writes finished spans as OTLP/JSON lines.
pub struct OtlpFileLayer {
    out: Mutex<BufWriter<File>>,
    service: String,
}

impl OtlpFileLayer {
    /// Appends to `path` (created if missing); `service` is the resource's `service.name`.
    pub fn create(path: &Path, service: &str) -> std::io::Result<OtlpFileLayer> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(OtlpFileLayer {
            out: Mutex::new(BufWriter::new(file)),
            service: service.to_string(),
        })
    }
}

/// What a span carries until it closes.
struct SpanData {
    trace_id: u128,
    span_id: u64,
    parent_id: Option<u64>,
    start: u128,
    attributes: Vec<(String, String)>,
    events: Vec<Value>,
    dropped_events: u32,
}

/// Collects fields as text.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    fields: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.fields
                .push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.record_str(field, &text);
    }
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn attributes(fields: &[(String, String)]) -> Value {
    Value::Array(
        fields
            .iter()
            .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
            .collect(),
    )
}

impl<S> Layer<S> for OtlpFileLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<SpanData>()
                .map(|d| (d.trace_id, d.span_id))
        });
        let data = SpanData {
            trace_id: parent.map_or_else(|| rand::random::<u128>().max(1), |(t, _)| t),
            span_id: rand::random::<u64>().max(1),
            parent_id: parent.map(|(_, s)| s),
            start: now_nanos(),
            attributes: fields.fields,
            events: Vec::new(),
            dropped_events: 0,
        };
        span.extensions_mut().insert(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        let mut ext = span.extensions_mut();
        if let Some(data) = ext.get_mut::<SpanData>() {
            data.attributes.extend(fields.fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut ext = span.extensions_mut();
        let Some(data) = ext.get_mut::<SpanData>() else {
            return;
        };
        if data.events.len() >= MAX_EVENTS {
            data.dropped_events += 1;
            return;
        }
        fields
            .fields
            .push(("level".into(), event.metadata().level().to_string()));
        data.events.push(json!({
            "timeUnixNano": now_nanos().to_string(),
            "name": fields.message.unwrap_or_else(|| event.metadata().name().to_string()),
            "attributes": attributes(&fields.fields),
        }));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(data) = span.extensions_mut().remove::<SpanData>() else {
            return;
        };
        let line = json!({
            "resourceSpans": [{
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": self.service}},
                ]},
                "scopeSpans": [{
                    "scope": {"name": span.metadata().target()},
                    "spans": [{
                        "traceId": format!("{:032x}", data.trace_id),
                        "spanId": format!("{:016x}", data.span_id),
                        "parentSpanId": data.parent_id.map(|p| format!("{p:016x}")).unwrap_or_default(),
                        "name": span.name(),
                        "kind": 1,
                        "startTimeUnixNano": data.start.to_string(),
                        "endTimeUnixNano": now_nanos().to_string(),
                        "attributes": attributes(&data.attributes),
                        "events": data.events,
                        "droppedEventsCount": data.dropped_events,
                    }],
                }],
            }],
        });
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn a_call_span_and_its_events_become_one_otlp_line_and_children_share_the_trace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.jsonl");
        let layer = OtlpFileLayer::create(&path, "ivr").unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let call = tracing::info_span!("call", call_id = "1-42@127.0.0.1", key = "call-1");
            let _in = call.enter();
            tracing::info!(method = "rfc4733", "digit");
            let webhook = tracing::info_span!("webhook", url = "http://127.0.0.1:9/balance");
            drop(webhook);
            tracing::info!(by = "caller", cause = "bye", "hangup");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        let span = |v: &Value| v["resourceSpans"][0]["scopeSpans"][0]["spans"][0].clone();
        let (child, call) = (span(&lines[0]), span(&lines[1]));
        assert_eq!(
            lines[1]["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "ivr"
        );
        assert_eq!(call["name"], "call");
        assert_eq!(call["traceId"].as_str().unwrap().len(), 32);
        assert_eq!(call["spanId"].as_str().unwrap().len(), 16);
        assert_eq!(call["parentSpanId"], "");
        assert!(call["attributes"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "call_id", "value": {"stringValue": "1-42@127.0.0.1"}})));
        let events: Vec<&str> = call["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(events, ["digit", "hangup"]);
        assert_eq!(child["name"], "webhook");
        assert_eq!(child["traceId"], call["traceId"], "one trace per call");
        assert_eq!(child["parentSpanId"], call["spanId"]);
        let start: u128 = call["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let end: u128 = call["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        assert!(end >= start);
    }
}
