//! The campaign scheduler: a sans-IO state machine deciding who to call and when.
//!
//! Like the ACD router, it reads no clock and touches no database: every input carries the
//! monotonic `now` (for pacing) and the wall clock `wall` (for calling windows and retry
//! times), outputs are polled, and [`Campaign::poll_timeout`] says when it next needs the
//! clock. The driver ([`super::Runner`], or a test) moves contacts between it and the store.
//!
//! ```text
//!              poll_page / handle_page              poll_dial
//!   store ───────────────────────────▶ ready ──────────────────▶ in flight
//!     ▲   (pending contacts due now,    queue   window open,       │
//!     │    a page at a time)              │     a free slot,        │ handle_result
//!     │                                   │     a pacer token       ▼
//!     │◀──────── poll_deferral ───────────┘                     Decision:
//!     │   (outside the calling window:                         Retry { at } ──▶ store
//!     │    back to the store until it opens)                   Completed / GaveUp
//! ```
//!
//! Each contact is in at most one place: in the store (pending or done), in the ready queue,
//! or in flight. A contact in flight holds one of `max_concurrent` slots until its result.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::Instant;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

use super::config::{CampaignConfig, ConfigError, RetryClass};
use super::pacer::Pacer;

/// A contact's id: its row in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ContactId(pub i64);

impl fmt::Display for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A contact due for a call, as the store hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// Its id.
    pub id: ContactId,
    /// The number to call, E.164.
    pub number: String,
    /// Its time zone; the campaign's default when `None`.
    pub timezone: Option<Tz>,
    /// Attempts already made (the next one is `attempts + 1`).
    pub attempts: u32,
    /// Dial-plan variables for the call.
    pub vars: Map<String, Value>,
}

/// A call to place now. Record the attempt in the store (`Store::begin_attempt`) before
/// placing it, and report its end with [`Campaign::handle_result`].
#[derive(Debug, Clone, PartialEq)]
pub struct Dial {
    /// The contact.
    pub contact_id: ContactId,
    /// The attempt's number (1 for the first call).
    pub attempt: u32,
    /// The number to call.
    pub number: String,
    /// Dial-plan variables for the call (`vars.*`).
    pub vars: Map<String, Value>,
}

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answered {
    /// A person.
    Human,
    /// An answering machine or voicemail.
    Machine,
}

/// How a call attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    /// Answered; the dial plan ran.
    Answered(Answered),
    /// Busy.
    Busy,
    /// Nobody answered before the ring timeout.
    NoAnswer,
    /// Refused with this SIP code.
    Rejected(u16),
    /// Could not be placed, with the reason (for the log, not the callee).
    Failed(String),
    /// Unknown: the engine stopped while the attempt was in progress.
    Unknown,
}

/// The end of an attempt, as the dialer reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// How it ended.
    pub kind: OutcomeKind,
    /// What the callee chose, as the dial plan reported it (e.g. `confirmed: true`,
    /// `choice: "rescheduled"`); empty when the call was not answered.
    pub vars_from_plan: Map<String, Value>,
}

impl Outcome {
    /// An outcome with no variables from the plan.
    pub fn of(kind: OutcomeKind) -> Outcome {
        Outcome {
            kind,
            vars_from_plan: Map::new(),
        }
    }
}

/// What becomes of a contact after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Call again at `at` (already moved into the contact's calling window).
    Retry {
        /// The next attempt's number.
        attempt: u32,
        /// When it is due.
        at: DateTime<Utc>,
        /// The rule that decided.
        class: RetryClass,
    },
    /// Reached: nothing more to do.
    Completed,
    /// No more attempts: the rule's attempts are used up, or the refusal is final.
    GaveUp,
}

/// A contact taken out of the ready queue because its calling window is closed: write
/// `until` as its next attempt time in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deferral {
    /// The contact.
    pub contact_id: ContactId,
    /// When its window opens.
    pub until: DateTime<Utc>,
}

/// What the scheduler wants from the store: pending contacts due by `due_by` with an id
/// above `after`, by id, at most `limit`. Answer with [`Campaign::handle_page`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Contacts after this id (`ContactId(0)` from the start).
    pub after: ContactId,
    /// Due at or before this time.
    pub due_by: DateTime<Utc>,
    /// At most this many.
    pub limit: usize,
}

/// Whether the campaign is dialing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Dialing.
    Running,
    /// No new calls; calls in progress finish and are reported.
    Paused,
    /// No new calls, for good.
    Stopped,
}

/// The scheduler's counters since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Contacts taken from the store.
    pub fed: u64,
    /// Dials handed out.
    pub dialed: u64,
    /// Dials the store refused to begin (`cancel_dial`).
    pub cancelled: u64,
    /// Answered by a person.
    pub answered_human: u64,
    /// Answered by a machine.
    pub answered_machine: u64,
    /// Busy.
    pub busy: u64,
    /// No answer.
    pub no_answer: u64,
    /// Refused with a SIP code.
    pub rejected: u64,
    /// Could not be placed.
    pub failed: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Contacts completed.
    pub completed: u64,
    /// Contacts given up on.
    pub gave_up: u64,
    /// Contacts put back until their calling window opens.
    pub deferred: u64,
}

/// An input the scheduler refused; its state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CampaignError {
    /// The configuration has problems.
    #[error("the campaign configuration has {} problem(s): {}", .0.len(), join(.0))]
    Config(Vec<ConfigError>),
    /// No such attempt is in flight (already reported, or never handed out).
    #[error(
        "attempt {attempt} of contact {contact} is not in progress; each attempt is reported once"
    )]
    NotInFlight {
        /// The contact.
        contact: ContactId,
        /// The attempt.
        attempt: u32,
    },
}

fn join(problems: &[ConfigError]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    /// The next page starts a new pass over the store.
    NewPass,
    /// A pass is under way.
    Scanning {
        after: ContactId,
        due_by: DateTime<Utc>,
    },
    /// The last pass found everything due; nothing more comes due before this time (`None`:
    /// nothing is pending at all).
    Idle(Option<DateTime<Utc>>),
}

#[derive(Debug)]
struct InFlight {
    attempt: u32,
    timezone: Option<Tz>,
}

/// The campaign scheduler. See the module documentation for the flow.
#[derive(Debug)]
pub struct Campaign {
    config: CampaignConfig,
    state: RunState,
    pacer: Pacer,
    ready: VecDeque<Contact>,
    queued: HashSet<ContactId>,
    in_flight: HashMap<ContactId, InFlight>,
    deferrals: VecDeque<Deferral>,
    source: Source,
    outstanding: Option<PageRequest>,
    /// The soonest retry or deferral written since the current pass began.
    soonest_written: Option<DateTime<Utc>>,
    clock: (Instant, DateTime<Utc>),
    progress: Progress,
}

impl Campaign {
    /// A running scheduler for `config`, with nothing fetched yet.
    pub fn new(
        config: CampaignConfig,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<Campaign, CampaignError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(CampaignError::Config(problems));
        }
        Ok(Campaign {
            pacer: Pacer::new(config.calls_per_second),
            ready: VecDeque::with_capacity(config.buffer),
            queued: HashSet::with_capacity(config.buffer),
            in_flight: HashMap::with_capacity(config.max_concurrent),
            config,
            state: RunState::Running,
            deferrals: VecDeque::new(),
            source: Source::NewPass,
            outstanding: None,
            soonest_written: None,
            clock: (now, wall),
            progress: Progress::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CampaignConfig {
        &self.config
    }

    /// Whether it is dialing.
    pub fn state(&self) -> RunState {
        self.state
    }

    /// The counters.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Calls in progress.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Contacts due and waiting for a slot, the pacer or their window.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }

    /// Whether the campaign is over: stopped with no call in progress, or every contact
    /// settled (nothing pending in the store, nothing queued or in flight).
    pub fn is_finished(&self) -> bool {
        let quiet = self.in_flight.is_empty() && self.outstanding.is_none();
        match self.state {
            RunState::Stopped => self.in_flight.is_empty(),
            _ => quiet && self.ready.is_empty() && self.source == Source::Idle(None),
        }
    }

    // ----- inputs ---------------------------------------------------------------------------

    /// Stops new calls until [`Campaign::resume`]; calls in progress go on.
    pub fn pause(&mut self, now: Instant, wall: DateTime<Utc>) {
        self.tick(now, wall);
        if self.state == RunState::Running {
            self.state = RunState::Paused;
        }
    }

    /// Dials again after a pause; the store is read afresh (contacts may have been added).
    pub fn resume(&mut self, now: Instant, wall: DateTime<Utc>) {
        self.tick(now, wall);
        if self.state == RunState::Paused {
            self.state = RunState::Running;
            if matches!(self.source, Source::Idle(_)) {
                self.source = Source::NewPass;
            }
        }
    }

    /// Stops for good: no new calls, the ready queue is dropped (those contacts stay pending
    /// in the store); results of calls in progress are still taken.
    pub fn stop(&mut self, now: Instant, wall: DateTime<Utc>) {
        self.tick(now, wall);
        self.state = RunState::Stopped;
        self.ready.clear();
        self.queued.clear();
    }

    /// The store's answer to the last [`PageRequest`]: the contacts (already-known ones are
    /// ignored) and, when the page is short (the pass is over), the earliest time after the
    /// request's `due_by` a pending contact comes due (`Store::next_due`).
    pub fn handle_page(
        &mut self,
        contacts: Vec<Contact>,
        next_due: Option<DateTime<Utc>>,
        now: Instant,
        wall: DateTime<Utc>,
    ) {
        self.tick(now, wall);
        let Some(request) = self.outstanding.take() else {
            return;
        };
        let full = contacts.len() >= request.limit;
        let last = contacts.last().map(|c| c.id);
        for contact in contacts {
            if self.queued.contains(&contact.id) || self.in_flight.contains_key(&contact.id) {
                continue;
            }
            if self.state == RunState::Stopped {
                continue;
            }
            self.progress.fed += 1;
            self.queued.insert(contact.id);
            self.ready.push_back(contact);
        }
        self.source = match (full, last) {
            (true, Some(after)) => Source::Scanning {
                after,
                due_by: request.due_by,
            },
            _ => Source::Idle(earliest(next_due, self.soonest_written.take())),
        };
    }

    /// The end of an attempt handed out by [`Campaign::poll_dial`]: frees its slot and
    /// decides what becomes of the contact (write the decision to the store).
    pub fn handle_result(
        &mut self,
        contact: ContactId,
        attempt: u32,
        outcome: &Outcome,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<Decision, CampaignError> {
        self.tick(now, wall);
        match self.in_flight.get(&contact) {
            Some(f) if f.attempt == attempt => {}
            _ => return Err(CampaignError::NotInFlight { contact, attempt }),
        }
        let timezone = self.in_flight.remove(&contact).and_then(|f| f.timezone);
        let p = &mut self.progress;
        match &outcome.kind {
            OutcomeKind::Answered(Answered::Human) => p.answered_human += 1,
            OutcomeKind::Answered(Answered::Machine) => p.answered_machine += 1,
            OutcomeKind::Busy => p.busy += 1,
            OutcomeKind::NoAnswer => p.no_answer += 1,
            OutcomeKind::Rejected(_) => p.rejected += 1,
            OutcomeKind::Failed(_) | OutcomeKind::Unknown => p.failed += 1,
        }
        Ok(self.settle(attempt, &outcome.kind, timezone, wall))
    }

    /// The decision for a contact whose attempt `attempt` ended with `kind`, outside the
    /// normal flow (an attempt found `dialing` after a restart, reported as
    /// [`OutcomeKind::Unknown`]); counted like a result.
    pub fn decide_recovered(
        &mut self,
        attempt: u32,
        kind: &OutcomeKind,
        timezone: Option<Tz>,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Decision {
        self.tick(now, wall);
        self.settle(attempt, kind, timezone, wall)
    }

    /// The store refused to begin a dial handed out (the attempt was begun before): it is
    /// not placed; the contact leaves the scheduler and its slot is freed.
    pub fn cancel_dial(
        &mut self,
        contact: ContactId,
        attempt: u32,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<(), CampaignError> {
        self.tick(now, wall);
        match self.in_flight.get(&contact) {
            Some(f) if f.attempt == attempt => {
                self.in_flight.remove(&contact);
                self.progress.cancelled += 1;
                Ok(())
            }
            _ => Err(CampaignError::NotInFlight { contact, attempt }),
        }
    }

    // ----- outputs --------------------------------------------------------------------------

    /// The next page of contacts to fetch from the store, when the ready queue runs low.
    pub fn poll_page(&mut self, now: Instant, wall: DateTime<Utc>) -> Option<PageRequest> {
        self.tick(now, wall);
        if !self.wants_page(wall) {
            return None;
        }
        let limit = self.config.buffer.saturating_sub(self.ready.len()).max(1);
        let (after, due_by) = match self.source {
            Source::Scanning { after, due_by } => (after, due_by),
            Source::NewPass | Source::Idle(_) => {
                self.soonest_written = None;
                (ContactId(0), wall)
            }
        };
        let request = PageRequest {
            after,
            due_by,
            limit,
        };
        self.source = Source::Scanning { after, due_by };
        self.outstanding = Some(request);
        Some(request)
    }

    /// The next call to place, if the campaign runs, a slot is free, the pacer allows a start
    /// and a ready contact is inside its calling window. Contacts found outside their window
    /// on the way are deferred ([`Campaign::poll_deferral`]).
    pub fn poll_dial(&mut self, now: Instant, wall: DateTime<Utc>) -> Option<Dial> {
        self.tick(now, wall);
        if self.state != RunState::Running
            || self.in_flight.len() >= self.config.max_concurrent
            || !self.pacer.is_ready(now)
        {
            return None;
        }
        while let Some(contact) = self.ready.pop_front() {
            self.queued.remove(&contact.id);
            let tz = contact.timezone.unwrap_or(self.config.default_timezone);
            if !self.config.window.is_open(wall, tz) {
                if let Some(until) = self.config.window.next_open(wall, tz) {
                    self.defer(contact.id, until);
                }
                continue;
            }
            let attempt = contact.attempts.saturating_add(1);
            self.pacer.take(now);
            self.progress.dialed += 1;
            self.in_flight.insert(
                contact.id,
                InFlight {
                    attempt,
                    timezone: contact.timezone,
                },
            );
            return Some(Dial {
                contact_id: contact.id,
                attempt,
                number: contact.number,
                vars: contact.vars,
            });
        }
        None
    }

    /// The next contact to put back in the store until its calling window opens.
    pub fn poll_deferral(&mut self) -> Option<Deferral> {
        self.deferrals.pop_front()
    }

    /// When to call [`Campaign::poll_dial`] / [`Campaign::poll_page`] next (the driver
    /// also calls them after every input); `None` while nothing is timed (paused, stopped, or
    /// every slot busy until a result arrives).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state != RunState::Running {
            return None;
        }
        let (now, wall) = self.clock;
        let dial = (!self.ready.is_empty() && self.in_flight.len() < self.config.max_concurrent)
            .then(|| self.pacer.ready_at().unwrap_or(now));
        let page = match self.source {
            _ if self.wants_page(wall) => Some(now),
            // Due contacts not wanted yet (the buffer is full) are asked for once it drains,
            // after a dial: an input, so no timer.
            Source::Idle(Some(t)) if t > wall && self.outstanding.is_none() => {
                Some(now + (t - wall).to_std().unwrap_or_default())
            }
            _ => None,
        };
        [dial, page].into_iter().flatten().min()
    }

    // ----- internals ------------------------------------------------------------------------

    fn tick(&mut self, now: Instant, wall: DateTime<Utc>) {
        self.clock = (now.max(self.clock.0), wall);
    }

    fn wants_page(&self, wall: DateTime<Utc>) -> bool {
        if self.state != RunState::Running || self.outstanding.is_some() {
            return false;
        }
        // Refill when half the buffer is gone, so pages stay large.
        if self.ready.len() > self.config.buffer / 2 {
            return false;
        }
        match self.source {
            Source::NewPass | Source::Scanning { .. } => true,
            Source::Idle(Some(t)) => t <= wall,
            Source::Idle(None) => false,
        }
    }

    fn defer(&mut self, contact_id: ContactId, until: DateTime<Utc>) {
        self.progress.deferred += 1;
        self.note_written(until);
        self.deferrals.push_back(Deferral { contact_id, until });
    }

    /// Remembers that a contact comes due at `t` in the store.
    fn note_written(&mut self, t: DateTime<Utc>) {
        self.soonest_written = earliest(self.soonest_written, Some(t));
        if let Source::Idle(until) = self.source {
            self.source = Source::Idle(earliest(until, Some(t)));
        }
    }

    fn settle(
        &mut self,
        attempt: u32,
        kind: &OutcomeKind,
        timezone: Option<Tz>,
        wall: DateTime<Utc>,
    ) -> Decision {
        let decision = decide(&self.config, attempt, kind, timezone, wall);
        match &decision {
            Decision::Retry { at, .. } => {
                self.progress.retries += 1;
                let at = *at;
                self.note_written(at);
            }
            Decision::Completed => self.progress.completed += 1,
            Decision::GaveUp => self.progress.gave_up += 1,
        }
        decision
    }
}

/// The retry rules applied to attempt `attempt` ending with `kind` at `wall`.
///
/// SIP 486 and 600 count as busy; 408, 480 and 487 as no answer; the policy's
/// `permanent_codes` give up at once.
pub fn decide(
    config: &CampaignConfig,
    attempt: u32,
    kind: &OutcomeKind,
    timezone: Option<Tz>,
    wall: DateTime<Utc>,
) -> Decision {
    let class = match kind {
        OutcomeKind::Answered(Answered::Human) => return Decision::Completed,
        OutcomeKind::Answered(Answered::Machine) => RetryClass::Machine,
        OutcomeKind::Busy | OutcomeKind::Rejected(486 | 600) => RetryClass::Busy,
        OutcomeKind::NoAnswer | OutcomeKind::Rejected(408 | 480 | 487) => RetryClass::NoAnswer,
        OutcomeKind::Rejected(code) if config.retry.permanent_codes.contains(code) => {
            return Decision::GaveUp
        }
        OutcomeKind::Rejected(_) => RetryClass::Rejected,
        OutcomeKind::Failed(_) => RetryClass::Failed,
        OutcomeKind::Unknown => RetryClass::Unknown,
    };
    let rule = config.retry.rule(class);
    if attempt >= rule.max_attempts {
        return match class {
            // A machine took the message on the last try: the contact was reached.
            RetryClass::Machine => Decision::Completed,
            _ => Decision::GaveUp,
        };
    }
    let delay = chrono::Duration::from_std(rule.delay(attempt)).unwrap_or(chrono::Duration::MAX);
    let earliest_retry = wall.checked_add_signed(delay).unwrap_or(wall);
    let tz = timezone.unwrap_or(config.default_timezone);
    let at = config
        .window
        .next_open(earliest_retry, tz)
        .unwrap_or(earliest_retry);
    Decision::Retry {
        attempt: attempt.saturating_add(1),
        at,
        class,
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Weekday;

    use super::super::config::{CallingWindow, RetryRule};
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn always_open() -> CallingWindow {
        CallingWindow {
            start: chrono::NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
            end: chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap(),
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
        }
    }

    fn config() -> CampaignConfig {
        CampaignConfig {
            plan: "reminder".into(),
            caller_id: "+15550100".into(),
            window: always_open(),
            ..CampaignConfig::default()
        }
    }

    fn contact(id: i64, tz: Option<Tz>) -> Contact {
        Contact {
            id: ContactId(id),
            number: format!("+1555{id:07}"),
            timezone: tz,
            attempts: 0,
            vars: Map::new(),
        }
    }

    /// The scheduler over an in-memory "store" of contacts, on virtual time.
    struct Sim {
        campaign: Campaign,
        now: Instant,
        wall: DateTime<Utc>,
        /// id → (contact, due time, pending?)
        store: Vec<(Contact, DateTime<Utc>, bool)>,
        dials: Vec<(Instant, Dial)>,
    }

    impl Sim {
        fn new(config: CampaignConfig, contacts: Vec<Contact>, wall: DateTime<Utc>) -> Sim {
            let now = Instant::now();
            Sim {
                campaign: Campaign::new(config, now, wall).unwrap(),
                now,
                wall,
                store: contacts.into_iter().map(|c| (c, wall, true)).collect(),
                dials: Vec::new(),
            }
        }

        fn advance(&mut self, d: Duration) {
            self.now += d;
            self.wall += chrono::Duration::from_std(d).unwrap();
        }

        /// Answers pages and deferrals, and collects dials, until nothing more happens now.
        fn step(&mut self) {
            loop {
                let mut busy = false;
                while let Some(d) = self.campaign.poll_deferral() {
                    let row = self
                        .store
                        .iter_mut()
                        .find(|r| r.0.id == d.contact_id)
                        .unwrap();
                    row.1 = d.until;
                    row.2 = true;
                    busy = true;
                }
                if let Some(req) = self.campaign.poll_page(self.now, self.wall) {
                    let page: Vec<Contact> = self
                        .store
                        .iter()
                        .filter(|r| r.2 && r.1 <= req.due_by && r.0.id > req.after)
                        .take(req.limit)
                        .map(|r| r.0.clone())
                        .collect();
                    let next_due = self
                        .store
                        .iter()
                        .filter(|r| r.2 && r.1 > req.due_by)
                        .map(|r| r.1)
                        .min();
                    self.campaign
                        .handle_page(page, next_due, self.now, self.wall);
                    busy = true;
                }
                while let Some(d) = self.campaign.poll_dial(self.now, self.wall) {
                    let row = self
                        .store
                        .iter_mut()
                        .find(|r| r.0.id == d.contact_id)
                        .unwrap();
                    row.2 = false; // dialing
                    row.0.attempts = d.attempt;
                    self.dials.push((self.now, d));
                    busy = true;
                }
                if !busy {
                    return;
                }
            }
        }

        fn result(&mut self, id: i64, attempt: u32, kind: OutcomeKind) -> Decision {
            let decision = self
                .campaign
                .handle_result(
                    ContactId(id),
                    attempt,
                    &Outcome::of(kind),
                    self.now,
                    self.wall,
                )
                .unwrap();
            if let Decision::Retry { at, .. } = decision {
                let row = self.store.iter_mut().find(|r| r.0.id.0 == id).unwrap();
                row.1 = at;
                row.2 = true;
            }
            decision
        }

        /// Runs to the next deadline (or `limit`), stepping there.
        fn run_until(&mut self, limit: Instant) {
            self.step();
            while let Some(t) = self.campaign.poll_timeout() {
                if t > limit {
                    break;
                }
                if t > self.now {
                    self.advance(t - self.now);
                }
                self.step();
            }
        }
    }

    #[test]
    fn a_thousand_dials_at_ten_per_second_are_evenly_spaced() {
        let contacts = (1..=1000).map(|i| contact(i, None)).collect();
        let cfg = CampaignConfig {
            max_concurrent: 10_000,
            calls_per_second: 10.0,
            buffer: 300,
            ..config()
        };
        let mut sim = Sim::new(cfg, contacts, utc("2024-03-06T12:00:00Z"));
        let t0 = sim.now;
        sim.run_until(t0 + Duration::from_secs(200));
        assert_eq!(sim.dials.len(), 1000);
        for pair in sim.dials.windows(2) {
            let gap = pair[1].0 - pair[0].0;
            assert!(
                gap >= Duration::from_millis(95) && gap <= Duration::from_millis(105),
                "gap {gap:?}"
            );
        }
        let span = sim.dials[999].0 - sim.dials[0].0;
        let rate = 999.0 / span.as_secs_f64();
        assert!((rate - 10.0).abs() / 10.0 < 0.05, "rate {rate}");
        // Every contact exactly once, in id order.
        let ids: Vec<i64> = sim.dials.iter().map(|(_, d)| d.contact_id.0).collect();
        assert_eq!(ids, (1..=1000).collect::<Vec<_>>());
        assert!(sim.campaign.poll_timeout().is_none() || sim.campaign.ready() == 0);
    }

    #[test]
    fn no_more_calls_than_max_concurrent_are_in_flight() {
        let contacts = (1..=20).map(|i| contact(i, None)).collect();
        let cfg = CampaignConfig {
            max_concurrent: 3,
            calls_per_second: 100.0,
            ..config()
        };
        let mut sim = Sim::new(cfg, contacts, utc("2024-03-06T12:00:00Z"));
        let t0 = sim.now;
        sim.run_until(t0 + Duration::from_secs(10));
        assert_eq!(sim.dials.len(), 3);
        assert_eq!(sim.campaign.in_flight(), 3);
        assert_eq!(
            sim.campaign.poll_timeout(),
            None,
            "nothing to do until a result"
        );
        sim.result(1, 1, OutcomeKind::Answered(Answered::Human));
        sim.run_until(t0 + Duration::from_secs(20));
        assert_eq!(sim.dials.len(), 4);
    }

    #[test]
    fn a_contact_in_shanghai_is_called_while_one_in_new_york_waits_for_morning() {
        let contacts = vec![
            contact(1, Some(chrono_tz::America::New_York)),
            contact(2, Some(chrono_tz::Asia::Shanghai)),
        ];
        let cfg = CampaignConfig {
            window: CallingWindow {
                days: always_open().days,
                ..CallingWindow::default()
            },
            ..config()
        };
        // 02:00 UTC: 10:00 in Shanghai, 21:00/22:00 the evening before in New York.
        let mut sim = Sim::new(cfg, contacts, utc("2024-03-06T02:00:00Z"));
        let t0 = sim.now;
        sim.step();
        assert_eq!(sim.dials.len(), 1);
        assert_eq!(sim.dials[0].1.contact_id, ContactId(2));
        assert_eq!(sim.campaign.progress().deferred, 1);
        let ny = sim.store.iter().find(|r| r.0.id.0 == 1).unwrap();
        assert_eq!(ny.1, utc("2024-03-06T14:00:00Z"), "09:00 EST");
        // The scheduler wakes for New York's morning and calls then, not before.
        sim.result(2, 1, OutcomeKind::Answered(Answered::Human));
        sim.run_until(t0 + Duration::from_secs(13 * 3600));
        assert_eq!(sim.dials.len(), 2);
        assert_eq!(sim.dials[1].1.contact_id, ContactId(1));
        assert_eq!(sim.dials[1].0 - t0, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn busy_is_retried_after_its_back_off_until_the_attempts_are_used_up() {
        let mut cfg = config();
        cfg.retry.set(
            RetryClass::Busy,
            RetryRule::fixed(3, Duration::from_secs(300)),
        );
        let mut sim = Sim::new(cfg, vec![contact(7, None)], utc("2024-03-06T12:00:00Z"));
        let t0 = sim.now;
        sim.step();
        assert_eq!(sim.dials.len(), 1);
        for attempt in 1..=3 {
            let (at, dial) = sim.dials.last().cloned().unwrap();
            assert_eq!(dial.attempt, attempt);
            assert_eq!(at - t0, Duration::from_secs(300 * u64::from(attempt - 1)));
            let decision = sim.result(7, attempt, OutcomeKind::Busy);
            if attempt < 3 {
                assert!(
                    matches!(decision, Decision::Retry { attempt: a, class: RetryClass::Busy, .. } if a == attempt + 1)
                );
                sim.run_until(t0 + Duration::from_secs(3600));
            } else {
                assert_eq!(decision, Decision::GaveUp);
            }
        }
        sim.run_until(t0 + Duration::from_secs(7200));
        assert_eq!(sim.dials.len(), 3, "no fourth call");
        assert!(sim.campaign.is_finished());
        let p = sim.campaign.progress();
        assert_eq!((p.busy, p.retries, p.gave_up), (3, 2, 1));
    }

    #[test]
    fn retry_times_grow_by_the_factor_and_land_inside_the_window() {
        let mut cfg = CampaignConfig {
            window: CallingWindow::default(), // Mon–Sat 09:00–20:00
            ..config()
        };
        cfg.retry.no_answer = RetryRule {
            max_attempts: 4,
            backoff: Duration::from_secs(3600),
            factor: 2.0,
        };
        let wall = utc("2024-03-06T10:00:00Z"); // Wednesday, UTC default zone
        let d1 = decide(&cfg, 1, &OutcomeKind::NoAnswer, None, wall);
        assert!(matches!(d1, Decision::Retry { at, .. } if at == utc("2024-03-06T11:00:00Z")));
        let d3 = decide(&cfg, 3, &OutcomeKind::NoAnswer, None, wall);
        assert!(matches!(d3, Decision::Retry { at, .. } if at == utc("2024-03-06T14:00:00Z")));
        // At 19:30 a one-hour back-off falls after closing: the next morning at 09:00.
        let late = utc("2024-03-06T19:30:00Z");
        let d = decide(&cfg, 1, &OutcomeKind::NoAnswer, None, late);
        assert!(matches!(d, Decision::Retry { at, .. } if at == utc("2024-03-07T09:00:00Z")));
        assert_eq!(
            decide(&cfg, 4, &OutcomeKind::NoAnswer, None, wall),
            Decision::GaveUp
        );
    }

    #[test]
    fn sip_codes_map_to_busy_no_answer_or_a_final_refusal() {
        let cfg = config();
        let wall = utc("2024-03-06T10:00:00Z");
        let class = |code| match decide(&cfg, 1, &OutcomeKind::Rejected(code), None, wall) {
            Decision::Retry { class, .. } => Some(class),
            _ => None,
        };
        assert_eq!(class(486), Some(RetryClass::Busy));
        assert_eq!(class(480), Some(RetryClass::NoAnswer));
        assert_eq!(class(503), Some(RetryClass::Rejected));
        assert_eq!(class(404), None);
        assert_eq!(class(604), None);
        assert_eq!(
            decide(&cfg, 1, &OutcomeKind::Answered(Answered::Human), None, wall),
            Decision::Completed
        );
        // Unknown is not retried by default: the callee may have answered.
        assert_eq!(
            decide(&cfg, 1, &OutcomeKind::Unknown, None, wall),
            Decision::GaveUp
        );
    }

    #[test]
    fn results_for_attempts_not_in_flight_are_refused() {
        let mut sim = Sim::new(
            config(),
            vec![contact(1, None)],
            utc("2024-03-06T12:00:00Z"),
        );
        sim.step();
        let (now, wall) = (sim.now, sim.wall);
        let busy = Outcome::of(OutcomeKind::Busy);
        assert!(sim
            .campaign
            .handle_result(ContactId(1), 2, &busy, now, wall)
            .is_err());
        assert!(sim
            .campaign
            .handle_result(ContactId(1), 1, &busy, now, wall)
            .is_ok());
        assert_eq!(
            sim.campaign
                .handle_result(ContactId(1), 1, &busy, now, wall),
            Err(CampaignError::NotInFlight {
                contact: ContactId(1),
                attempt: 1
            })
        );
    }

    #[test]
    fn pause_holds_new_calls_and_resume_continues_at_the_rate() {
        let contacts = (1..=10).map(|i| contact(i, None)).collect();
        let mut sim = Sim::new(config(), contacts, utc("2024-03-06T12:00:00Z"));
        let t0 = sim.now;
        sim.step();
        assert_eq!(sim.dials.len(), 1);
        sim.campaign.pause(sim.now, sim.wall);
        sim.run_until(t0 + Duration::from_secs(60));
        assert_eq!(sim.dials.len(), 1);
        assert_eq!(sim.campaign.poll_timeout(), None);
        sim.advance(Duration::from_secs(60));
        sim.campaign.resume(sim.now, sim.wall);
        sim.run_until(t0 + Duration::from_secs(121));
        assert_eq!(sim.dials.len(), 10);
        let gap = sim.dials[2].0 - sim.dials[1].0;
        assert_eq!(gap, Duration::from_millis(100), "no burst after the pause");
        sim.campaign.stop(sim.now, sim.wall);
        assert!(!sim.campaign.is_finished(), "ten calls still in flight");
        for (_, d) in sim.dials.clone() {
            sim.result(d.contact_id.0, d.attempt, OutcomeKind::NoAnswer);
        }
        assert!(sim.campaign.is_finished());
        assert!(sim.campaign.poll_dial(sim.now, sim.wall).is_none());
    }

    #[test]
    fn a_contact_fed_twice_is_queued_once() {
        let mut c = Campaign::new(config(), Instant::now(), utc("2024-03-06T12:00:00Z")).unwrap();
        let (now, wall) = (Instant::now(), utc("2024-03-06T12:00:00Z"));
        let req = c.poll_page(now, wall).unwrap();
        assert_eq!(req.after, ContactId(0));
        c.handle_page(vec![contact(1, None), contact(1, None)], None, now, wall);
        assert_eq!(c.ready(), 1);
        let d = c.poll_dial(now, wall).unwrap();
        assert_eq!(d.attempt, 1);
        // A new pass returning the contact while it is in flight does not queue it again.
        c.resume(now, wall);
        c.pause(now, wall);
        c.resume(now, wall);
        let _ = c.poll_page(now, wall);
        c.handle_page(vec![contact(1, None)], None, now, wall);
        assert_eq!(c.ready(), 0);
    }
}
