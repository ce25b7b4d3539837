//! The records the store keeps: call detail records, events, transcript turns, agent states,
//! callbacks and audit entries, and the filter for searching calls.
//!
//! Instants are milliseconds since the Unix epoch (`*_unix_ms`, as in the gRPC API), durations
//! are milliseconds. Everything handed to the store must already be redacted: the store writes
//! what it is given.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch of `t` (0 for instants before 1970).
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> i64 {
    unix_ms(SystemTime::now())
}

/// Declares a closed set of names stored as text, with `as_str` and `parse`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The name stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value for a stored name, `None` if unknown.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

text_enum! {
    /// Which way a call was set up.
    Direction {
        /// A caller dialled in.
        Inbound => "inbound",
        /// The engine dialled out.
        Outbound => "outbound",
    }
}

text_enum! {
    /// How a call left the IVR.
    Outcome {
        /// It ended in the IVR without reaching an agent (self-service).
        Contained => "contained",
        /// It was transferred: to a queue, an agent or an outside number.
        Transferred => "transferred",
        /// It was never answered (outbound no-answer, busy, failed, or abandoned while ringing).
        Unanswered => "unanswered",
    }
}

text_enum! {
    /// Who hung up.
    HangupSide {
        /// The caller (the far end, for outbound calls).
        Caller => "caller",
        /// The agent.
        Agent => "agent",
        /// The engine: dial plan hangup, timeout, shutdown, admin request.
        System => "system",
    }
}

text_enum! {
    /// Who spoke a transcript turn.
    Speaker {
        /// The caller.
        Caller => "caller",
        /// The IVR (prompts, synthesized speech).
        Ivr => "ivr",
        /// The agent.
        Agent => "agent",
        /// A supervisor (whisper or barge).
        Supervisor => "supervisor",
    }
}

text_enum! {
    /// Where a queue callback is.
    CallbackStatus {
        /// Waiting to be dialled.
        Pending => "pending",
        /// Being dialled now.
        Dialing => "dialing",
        /// The callback reached the caller.
        Done => "done",
        /// Every attempt failed.
        Failed => "failed",
        /// Cancelled (by the caller, an admin, or because the queue was removed).
        Cancelled => "cancelled",
    }
}

/// An intent recognised during the call, with its confidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntentScore {
    /// Intent name.
    pub name: String,
    /// Confidence from 0.0 to 1.0.
    pub score: f32,
}

/// A slot value collected by the dial plan, already masked when sensitive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotValue {
    /// Slot name.
    pub name: String,
    /// The value as it may be stored (masked when `sensitive`).
    pub value: String,
    /// True when the dial plan marks the slot sensitive.
    #[serde(default)]
    pub sensitive: bool,
}

/// What is known when a call starts; [`crate::store::Store::begin_call`] records it so that a
/// call cut short by a crash still leaves a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallStart {
    /// The engine's call id.
    pub call_id: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Calling number.
    pub from_number: String,
    /// Called number.
    pub to_number: String,
    /// Trunk name.
    pub trunk: String,
    /// When the call started.
    pub started_at_unix_ms: i64,
    /// Dial plan name.
    pub dial_plan: String,
    /// Dial plan version.
    pub dial_plan_version: String,
}

/// A call detail record: everything kept about one call.
#[derive(Clone, Debug, PartialEq)]
pub struct Cdr {
    /// The engine's call id.
    pub call_id: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Calling number.
    pub from_number: String,
    /// Called number.
    pub to_number: String,
    /// Trunk name.
    pub trunk: String,
    /// When the call started.
    pub started_at_unix_ms: i64,
    /// When it was answered; `None` if never.
    pub answered_at_unix_ms: Option<i64>,
    /// When it ended; `None` while the call is in progress (or if the process died during it).
    pub ended_at_unix_ms: Option<i64>,
    /// Dial plan name.
    pub dial_plan: String,
    /// Dial plan version.
    pub dial_plan_version: String,
    /// Dial-plan nodes visited, in order.
    pub node_path: Vec<String>,
    /// Intents recognised, best first.
    pub intents: Vec<IntentScore>,
    /// Slots collected, already redacted.
    pub slots: Vec<SlotValue>,
    /// How the call left the IVR; `None` while in progress.
    pub outcome: Option<Outcome>,
    /// Queue the call went through.
    pub queue: Option<String>,
    /// Time spent waiting in queues.
    pub wait_ms: u64,
    /// Agent who handled the call.
    pub agent_id: Option<String>,
    /// Talk time with the agent.
    pub talk_ms: u64,
    /// Wrap-up disposition code.
    pub disposition: Option<String>,
    /// Wrap-up notes.
    pub notes: Option<String>,
    /// Why the call ended, for example `normal_clearing`.
    pub hangup_cause: Option<String>,
    /// Who hung up.
    pub hangup_side: Option<HangupSide>,
    /// The answering-machine verdict of an outbound call screened by its plan: `human`,
    /// `machine` or `unknown`.
    pub amd: Option<String>,
}

impl Cdr {
    /// A record for a call that has just started: the rest is filled in as the call goes.
    pub fn started(start: CallStart) -> Cdr {
        Cdr {
            call_id: start.call_id,
            direction: start.direction,
            from_number: start.from_number,
            to_number: start.to_number,
            trunk: start.trunk,
            started_at_unix_ms: start.started_at_unix_ms,
            answered_at_unix_ms: None,
            ended_at_unix_ms: None,
            dial_plan: start.dial_plan,
            dial_plan_version: start.dial_plan_version,
            node_path: Vec::new(),
            intents: Vec::new(),
            slots: Vec::new(),
            outcome: None,
            queue: None,
            wait_ms: 0,
            agent_id: None,
            talk_ms: 0,
            disposition: None,
            notes: None,
            hangup_cause: None,
            hangup_side: None,
            amd: None,
        }
    }
}

/// One entry of a call's append-only event log.
#[derive(Clone, Debug, PartialEq)]
pub struct CallEvent {
    /// The call.
    pub call_id: String,
    /// When it happened.
    pub at_unix_ms: i64,
    /// Event name, for example `dtmf` or `enqueued`.
    pub name: String,
    /// Details (already redacted); usually a JSON object.
    pub data: serde_json::Value,
}

impl CallEvent {
    /// An event stamped with the current time.
    pub fn now(call_id: &str, name: &str, data: serde_json::Value) -> CallEvent {
        CallEvent {
            call_id: call_id.to_string(),
            at_unix_ms: now_unix_ms(),
            name: name.to_string(),
            data,
        }
    }
}

/// One turn of a call's transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    /// The call.
    pub call_id: String,
    /// Position in the transcript, from 0; a turn stored twice with the same `seq` is kept once.
    pub seq: u32,
    /// Who spoke.
    pub who: Speaker,
    /// What was said, already redacted.
    pub text: String,
    /// The dial-plan node running, if any.
    pub node: Option<String>,
    /// When the turn started, in milliseconds from the answer of the call.
    pub at_ms: u64,
}

/// An agent entering a state, for the agent state history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentStateChange {
    /// The agent.
    pub agent_id: String,
    /// The state entered, for example `available`, `paused`, `on_call`, `wrap_up`, `logged_out`.
    pub state: String,
    /// Reason (for pauses and forced changes); empty if none.
    pub reason: String,
    /// When the agent entered the state.
    pub at_unix_ms: i64,
}

/// A stretch of time an agent spent in one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentStateSpan {
    /// The agent.
    pub agent_id: String,
    /// The state.
    pub state: String,
    /// Reason; empty if none.
    pub reason: String,
    /// When the agent entered the state.
    pub from_unix_ms: i64,
    /// When the agent left it; `None` for the current state.
    pub to_unix_ms: Option<i64>,
}

/// A queue callback: a caller who chose to be called back rather than wait.
#[derive(Clone, Debug, PartialEq)]
pub struct Callback {
    /// Unique id, chosen by the queue (saving the same id again updates the record).
    pub id: String,
    /// The queue the caller waited in.
    pub queue: String,
    /// Number to call back.
    pub number: String,
    /// Higher is served first.
    pub priority: i32,
    /// When the caller was first queued (keeps their place in line).
    pub enqueued_at_unix_ms: i64,
    /// What the agent should see (screen pop context), already redacted.
    pub context: serde_json::Value,
    /// Where the callback is.
    pub status: CallbackStatus,
}

/// One entry of the audit log: who did what to what.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// Who acted: a user, agent or supervisor id, or `system`.
    pub actor: String,
    /// Their role: `admin`, `supervisor`, `agent`, `system`.
    pub role: String,
    /// What they did, for example `hangup`, `force_logout`, `reload_dial_plans`.
    pub action: String,
    /// What it was done to (a call id, an agent id, a plan name); empty if nothing specific.
    pub target: String,
    /// When.
    pub at_unix_ms: i64,
    /// Details (already redacted).
    pub details: serde_json::Value,
}

/// Where a page of [`crate::store::Store::query_calls`] ended; pass it as
/// [`CdrFilter::before`] to get the next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdrCursor {
    /// Start time of the last record of the page.
    pub started_at_unix_ms: i64,
    /// Call id of the last record of the page.
    pub call_id: String,
}

impl CdrCursor {
    /// The cursor just past `cdr`.
    pub fn after(cdr: &Cdr) -> CdrCursor {
        CdrCursor {
            started_at_unix_ms: cdr.started_at_unix_ms,
            call_id: cdr.call_id.clone(),
        }
    }
}

/// Which call records to return. Set fields must all match; results are newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CdrFilter {
    /// Calls that started at or after this instant.
    pub from_unix_ms: Option<i64>,
    /// Calls that started before this instant.
    pub to_unix_ms: Option<i64>,
    /// Calls from or to this number (exact match).
    pub number: Option<String>,
    /// Calls that went through this queue.
    pub queue: Option<String>,
    /// Calls handled by this agent.
    pub agent_id: Option<String>,
    /// Calls wrapped up with this disposition.
    pub disposition: Option<String>,
    /// Only finished calls (with an end time).
    pub finished_only: bool,
    /// At most this many records; 0 means [`CdrFilter::DEFAULT_LIMIT`]; capped at
    /// [`CdrFilter::MAX_LIMIT`].
    pub limit: u32,
    /// Continue after this record (from the previous page's last record).
    pub before: Option<CdrCursor>,
}

impl CdrFilter {
    /// Records per page when `limit` is 0.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// The largest page.
    pub const MAX_LIMIT: u32 = 1000;

    /// The page size to use.
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

/// Which stored quality-inspection results to return ([`crate::store::Store::qa_results`]).
/// Set fields must all match; results are newest scored first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QaFilter {
    /// Results of this call only.
    pub call_id: Option<String>,
    /// Calls that started at or after this instant.
    pub from_unix_ms: Option<i64>,
    /// Calls that started before this instant.
    pub to_unix_ms: Option<i64>,
    /// Results scored with this rule set ([`crate::qa::Rules::fingerprint`]).
    pub rules_fingerprint: Option<String>,
    /// Results scoring below this.
    pub below_score: Option<u8>,
    /// At most this many results; 0 for all.
    pub limit: u32,
}

/// A stored quality-inspection result, with what the report needs of its call.
#[derive(Clone, Debug, PartialEq)]
pub struct QaRecord {
    /// The result.
    pub result: crate::qa::QaResult,
    /// When it was scored.
    pub scored_at_unix_ms: i64,
    /// The call's agent, if an agent took it (`None` also when the call is not recorded).
    pub agent_id: Option<String>,
    /// When the call started (`None` when the call is not recorded).
    pub started_at_unix_ms: Option<i64>,
}

// ---- outbound campaigns ----

text_enum! {
    /// Where an outbound campaign stands.
    CampaignState {
        /// Created, contacts imported, not started yet.
        Created => "created",
        /// Dialing.
        Running => "running",
        /// No new calls until resumed; calls in progress finish.
        Paused => "paused",
        /// Stopped for good by an operator; contacts not yet reached stay pending.
        Stopped => "stopped",
        /// Every contact reached or given up on.
        Completed => "completed",
    }
}

text_enum! {
    /// Where one contact of a campaign stands.
    ContactStatus {
        /// Waiting for its next attempt (at `next_attempt_at`).
        Pending => "pending",
        /// An attempt is in progress (or was, when the engine stopped: see
        /// `Store::recover_dialing`).
        Dialing => "dialing",
        /// Answered and the dial plan ran: nothing more to do.
        Completed => "completed",
        /// No more attempts: retries used up, or a final refusal (unknown number).
        GaveUp => "gave_up",
    }
}

text_enum! {
    /// How one call attempt ended (`dialing` while it is in progress).
    AttemptOutcome {
        /// The attempt was handed to the dialer and has no result yet.
        Dialing => "dialing",
        /// A person answered.
        AnsweredHuman => "answered_human",
        /// An answering machine or voicemail answered.
        AnsweredMachine => "answered_machine",
        /// The line was busy.
        Busy => "busy",
        /// Nobody answered before the ring timeout.
        NoAnswer => "no_answer",
        /// The far end or the trunk refused the call with a SIP code.
        Rejected => "rejected",
        /// The call could not be placed (trunk down, timeout, local error).
        Failed => "failed",
        /// The engine stopped while the attempt was in progress: whether it rang is unknown.
        Unknown => "unknown",
    }
}

/// A campaign to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCampaign {
    /// A name for people.
    pub name: String,
    /// The dial plan run on answered calls.
    pub plan: String,
    /// The scheduler's configuration, as JSON (`outbound::CampaignConfig`).
    pub config: serde_json::Value,
    /// When it was created.
    pub created_at_unix_ms: i64,
}

/// A stored campaign.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignRecord {
    /// Its id.
    pub id: i64,
    /// A name for people.
    pub name: String,
    /// The dial plan run on answered calls.
    pub plan: String,
    /// The scheduler's configuration, as JSON.
    pub config: serde_json::Value,
    /// Where it stands.
    pub state: CampaignState,
    /// When it was created.
    pub created_at_unix_ms: i64,
    /// When its state last changed.
    pub updated_at_unix_ms: i64,
}

/// A contact to add to a campaign (already validated: E.164 number, IANA time zone).
#[derive(Clone, Debug, PartialEq)]
pub struct NewContact {
    /// The number, E.164 (`+` and digits).
    pub number: String,
    /// The person's name, if known.
    pub name: Option<String>,
    /// The IANA time zone the calling window is read in; the campaign's default if `None`.
    pub timezone: Option<String>,
    /// Dial-plan variables (`vars.*`) for the call.
    pub vars: serde_json::Map<String, serde_json::Value>,
}

/// A contact as stored, with where it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignContact {
    /// Its id (unique in the store).
    pub id: i64,
    /// The campaign.
    pub campaign_id: i64,
    /// The number, E.164.
    pub number: String,
    /// The person's name, if known.
    pub name: Option<String>,
    /// Its IANA time zone, if given.
    pub timezone: Option<String>,
    /// Dial-plan variables for the call.
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// Where it stands.
    pub status: ContactStatus,
    /// Attempts begun so far.
    pub attempts: u32,
    /// When it may be called next.
    pub next_attempt_at_unix_ms: i64,
    /// How the latest attempt ended.
    pub last_outcome: Option<AttemptOutcome>,
    /// The SIP code of the latest refusal.
    pub sip_code: Option<u16>,
    /// What the call produced (outcome and the variables the dial plan reported), once done.
    pub result: Option<serde_json::Value>,
}

/// What becomes of a contact after an attempt's result.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactUpdate {
    /// Its new status (Pending to retry, Completed or GaveUp).
    pub status: ContactStatus,
    /// When it may be called next (meaningful for Pending).
    pub next_attempt_at_unix_ms: i64,
    /// What the call produced, if anything.
    pub result: Option<serde_json::Value>,
}

/// The result of one attempt and what becomes of its contact, written together.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptResult {
    /// The contact.
    pub contact_id: i64,
    /// The attempt's number (1 for the first call).
    pub attempt_no: u32,
    /// When the call ended.
    pub ended_at_unix_ms: i64,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The SIP code of a refusal.
    pub sip_code: Option<u16>,
    /// The SIP Call-ID, if the call was placed.
    pub call_id: Option<String>,
    /// What becomes of the contact.
    pub contact: ContactUpdate,
}

/// One stored attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptRecord {
    /// The contact.
    pub contact_id: i64,
    /// The attempt's number.
    pub attempt_no: u32,
    /// When it was handed to the dialer.
    pub started_at_unix_ms: i64,
    /// When it ended.
    pub ended_at_unix_ms: Option<i64>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The SIP code of a refusal.
    pub sip_code: Option<u16>,
    /// The SIP Call-ID.
    pub call_id: Option<String>,
}

/// A campaign's figures, counted in the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CampaignProgress {
    /// Contacts in the campaign.
    pub contacts: u64,
    /// Contacts waiting for an attempt.
    pub pending: u64,
    /// Contacts with an attempt in progress.
    pub dialing: u64,
    /// Contacts reached.
    pub completed: u64,
    /// Contacts given up on.
    pub gave_up: u64,
    /// Attempts made.
    pub attempts: u64,
    /// Attempts by outcome name (`busy`, `answered_human`…).
    pub outcomes: std::collections::BTreeMap<String, u64>,
}
