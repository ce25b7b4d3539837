//! The router: the sans-IO state machine joining queues, agents and calls.
//!
//! Routing keeps one invariant after every input: no waiting call could be offered to a free
//! agent (leaving aside agents who declined or missed that call). So a new or returning call
//! only looks for an agent for itself, and an agent who becomes free only looks for a call for
//! themselves; neither scans the whole center.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use super::agent::{
    Agent, AgentIdx, AgentProfile, AgentStateKind, Presence, QueueIdx, SkillIdx, St,
};
use super::config::{AcdConfig, ConfigErrors, Strategy};
use super::error::AcdError;
use super::ids::{AgentId, CallId, QueueName, Skill, SkillRequirement};
use super::output::{Action, CallOutcome, Event, FallbackReason};
use super::queue::{Queue, WaitKey};
use super::stats::estimated_wait;

/// A call to put in a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueue<C> {
    /// The call's id (unique among calls the router knows).
    pub call: CallId,
    /// The queue.
    pub queue: QueueName,
    /// Higher is served first; equal priorities are served in arrival order.
    pub priority: i32,
    /// Skills an agent needs to take the call (the first is the primary one for
    /// `skills_based` queues); every strategy honours them.
    pub skills: Vec<SkillRequirement>,
    /// The handoff context (transcript, intent, slots…), carried to the offer for the screen
    /// pop.
    pub context: C,
}

/// The automatic call distributor: queues, agents and the calls between them.
///
/// Drive it with the `login`/`enqueue`/`handle_*` inputs and [`Acd::handle_timeout`], each
/// given the current time; drain [`Acd::poll_action`] and [`Acd::poll_event`] after each,
/// and sleep until [`Acd::poll_timeout`].
#[derive(Debug)]
pub struct Acd<C> {
    pub(super) max_misses: u32,
    pub(super) queues: Vec<Queue>,
    pub(super) queue_ids: HashMap<QueueName, QueueIdx>,
    pub(super) agents: Vec<Agent>,
    pub(super) agent_ids: HashMap<AgentId, AgentIdx>,
    pub(super) skills: HashMap<Skill, SkillIdx>,
    /// Calls waiting or being offered.
    pub(super) calls: HashMap<CallId, CallEntry<C>>,
    /// Answered calls, until the talk ends.
    pub(super) talking: HashMap<CallId, Talk<C>>,
    pub(super) timers: BTreeSet<(Instant, TimerKey)>,
    pub(super) actions: VecDeque<Action<C>>,
    pub(super) events: VecDeque<Event>,
    pub(super) seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TimerKey {
    Agent(AgentIdx),
    Call(CallId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Leg {
    /// A caller on the line.
    Live,
    /// A callback request: nobody on the line, call this number back.
    Callback(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    Waiting,
    Offering(Vec<AgentIdx>),
}

#[derive(Debug)]
pub(super) struct CallEntry<C> {
    pub(super) queue: QueueIdx,
    pub(super) key: WaitKey,
    pub(super) requirements: Vec<SkillRequirement>,
    pub(super) needs: Vec<(SkillIdx, u8)>,
    pub(super) context: C,
    pub(super) leg: Leg,
    pub(super) phase: Phase,
    /// Agents who rejected or missed this call; it is not offered to them again.
    pub(super) declined: Vec<AgentIdx>,
    pub(super) next_announce: Option<Instant>,
    pub(super) overflow_at: Option<Instant>,
    pub(super) max_wait_at: Option<Instant>,
    pub(super) timer: Option<Instant>,
}

impl<C> CallEntry<C> {
    /// The next instant something is due for this call.
    fn deadline(&self) -> Option<Instant> {
        match (&self.leg, &self.phase) {
            (Leg::Callback(_), _) => None,
            // Overflow and max wait wait for the offer's outcome.
            (Leg::Live, Phase::Offering(_)) => self.next_announce,
            (Leg::Live, Phase::Waiting) => [self.next_announce, self.overflow_at, self.max_wait_at]
                .into_iter()
                .flatten()
                .min(),
        }
    }
}

#[derive(Debug)]
pub(super) struct Talk<C> {
    pub(super) agent: AgentIdx,
    pub(super) queue: QueueIdx,
    pub(super) answered_at: Instant,
    pub(super) priority: i32,
    pub(super) requirements: Vec<SkillRequirement>,
    pub(super) needs: Vec<(SkillIdx, u8)>,
    pub(super) context: C,
}

fn set_timer(
    timers: &mut BTreeSet<(Instant, TimerKey)>,
    slot: &mut Option<Instant>,
    key: TimerKey,
    deadline: Option<Instant>,
) {
    if let Some(old) = slot.take() {
        timers.remove(&(old, key));
    }
    if let Some(d) = deadline {
        timers.insert((d, key));
        *slot = Some(d);
    }
}

impl<C> Acd<C> {
    pub(super) fn agent_ref(&self, a: AgentIdx) -> Option<&Agent> {
        self.agents.get(a as usize)
    }
}

impl<C: Clone> Acd<C> {
    /// A router for `config`'s queues, with no agents logged in.
    pub fn new(config: AcdConfig) -> Result<Self, ConfigErrors> {
        config.validate()?;
        let mut acd = Acd {
            max_misses: config.max_consecutive_misses,
            queues: Vec::new(),
            queue_ids: HashMap::new(),
            agents: Vec::new(),
            agent_ids: HashMap::new(),
            skills: HashMap::new(),
            calls: HashMap::new(),
            talking: HashMap::new(),
            timers: BTreeSet::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            seq: 0,
        };
        for (i, (name, cfg)) in config.queues.iter().enumerate() {
            let idx = i as QueueIdx;
            acd.queue_ids.insert(name.clone(), idx);
            acd.queues.push(Queue::new(
                name.clone(),
                cfg.clone(),
                config.handle_time_window,
            ));
        }
        for (i, (_, cfg)) in config.queues.iter().enumerate() {
            let target = cfg
                .overflow
                .as_ref()
                .and_then(|o| acd.queue_ids.get(&o.to).copied());
            if let Some(q) = acd.queues.get_mut(i) {
                q.overflow_to = target;
            }
        }
        Ok(acd)
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<Action<C>> {
        self.actions.pop_front()
    }

    /// The next notification for observers.
    pub fn poll_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front()?;
        match &ev {
            Event::QueueChanged(name) => {
                if let Some(q) = self
                    .queue_ids
                    .get(name)
                    .and_then(|q| self.queues.get_mut(*q as usize))
                {
                    q.dirty = false;
                }
            }
            Event::AgentChanged(id) => {
                if let Some(a) = self
                    .agent_ids
                    .get(id)
                    .and_then(|a| self.agents.get_mut(*a as usize))
                {
                    a.dirty = false;
                }
            }
            _ => {}
        }
        Some(ev)
    }

    /// When [`Acd::handle_timeout`] must next be called, if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Fires every timer due at `now`: ring-no-answer, wrap-up end, announcements, overflow,
    /// max wait.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, key)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            match key {
                TimerKey::Agent(a) => {
                    if let Some(agent) = self.agents.get_mut(a as usize) {
                        agent.timer = None;
                    }
                    self.on_agent_timer(a, now);
                }
                TimerKey::Call(c) => {
                    if let Some(call) = self.calls.get_mut(&c) {
                        call.timer = None;
                    }
                    self.on_call_timer(c, now);
                }
            }
        }
    }

    // ----- agent inputs --------------------------------------------------------------------

    /// Logs an agent in (creating them on first login) with `profile`'s skills and queues;
    /// the agent becomes available and may be offered a waiting call at once.
    pub fn login(&mut self, profile: AgentProfile, now: Instant) -> Result<(), AcdError> {
        self.login_as(profile, None, now)
    }

    /// Logs an agent in like [`Acd::login`], but paused with `reason`: no call is offered
    /// until the agent asks to be available (the desktop opens its event stream first).
    pub fn login_paused(
        &mut self,
        profile: AgentProfile,
        reason: String,
        now: Instant,
    ) -> Result<(), AcdError> {
        self.login_as(profile, Some(reason), now)
    }

    fn login_as(
        &mut self,
        profile: AgentProfile,
        paused: Option<String>,
        now: Instant,
    ) -> Result<(), AcdError> {
        let mut queues = Vec::with_capacity(profile.queues.len());
        for name in &profile.queues {
            let q = self.queue_idx(name)?;
            if !queues.contains(&q) {
                queues.push(q);
            }
        }
        for (skill, level) in &profile.skills {
            if !(1..=10).contains(level) {
                return Err(AcdError::SkillLevelOutOfRange {
                    skill: skill.clone(),
                    level: *level,
                });
            }
        }
        if let Some(&a) = self.agent_ids.get(&profile.id) {
            let st = self.agent_ref(a).map(|ag| ag.st.kind());
            if let Some(from) = st.filter(|k| *k != AgentStateKind::LoggedOut) {
                return Err(AcdError::InvalidTransition {
                    agent: profile.id,
                    from,
                    to: AgentStateKind::Available,
                });
            }
        }
        let mut skills: Vec<(SkillIdx, u8)> = profile
            .skills
            .iter()
            .map(|(s, l)| (self.intern(s), *l))
            .collect();
        // One entry per skill, keeping the highest level given.
        skills.sort_by_key(|(s, l)| (*s, Reverse(*l)));
        skills.dedup_by_key(|(s, _)| *s);
        let a = match self.agent_ids.get(&profile.id) {
            Some(&a) => a,
            None => {
                let a = self.agents.len() as AgentIdx;
                self.agents.push(Agent::new(profile.id.clone(), now));
                self.agent_ids.insert(profile.id.clone(), a);
                a
            }
        };
        if let Some(agent) = self.agents.get_mut(a as usize) {
            agent.skills = skills;
            agent.queues = queues;
            agent.misses = 0;
            agent.logout_after_call = false;
        }
        match paused {
            Some(reason) => self.set_agent_state(a, St::Paused(reason), None, now),
            None => {
                self.set_agent_state(a, St::Available, None, now);
                self.route_agent(a, now);
            }
        }
        Ok(())
    }

    /// Logs an agent out. A pending offer is cancelled and its call goes to the next agent;
    /// wrap-up ends. Refused while the agent is on a call (use [`Acd::disconnect`]).
    pub fn logout(&mut self, agent: &AgentId, now: Instant) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        let st = self.agent_state(a);
        match st {
            St::LoggedOut | St::OnCall(_) => Err(self.invalid(a, AgentStateKind::LoggedOut)),
            St::Reserved(c) | St::Ringing(c) => {
                self.actions.push_back(Action::CancelOffer {
                    call: c,
                    agent: agent.clone(),
                });
                self.set_agent_state(a, St::LoggedOut, None, now);
                if self.detach_offer(c, a, true) {
                    self.route_call(c, now);
                }
                Ok(())
            }
            St::WrapUp { .. } => {
                self.end_wrap_up(a, None, false, St::LoggedOut, now);
                Ok(())
            }
            St::Available | St::Paused(_) => {
                self.set_agent_state(a, St::LoggedOut, None, now);
                Ok(())
            }
        }
    }

    /// The agent's desktop or phone went away: like [`Acd::logout`], but never refused; during
    /// a call the agent is logged out when the call ends.
    pub fn disconnect(&mut self, agent: &AgentId, now: Instant) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        match self.agent_state(a) {
            St::LoggedOut => Ok(()),
            St::OnCall(_) => {
                if let Some(ag) = self.agents.get_mut(a as usize) {
                    ag.logout_after_call = true;
                }
                Ok(())
            }
            _ => self.logout(agent, now),
        }
    }

    /// The agent asks to become available (from paused, or ending wrap-up early) or to pause
    /// (from available or wrap-up).
    pub fn set_state(
        &mut self,
        agent: &AgentId,
        presence: Presence,
        now: Instant,
    ) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        let st = self.agent_state(a);
        match (presence, st) {
            (Presence::Available, St::Paused(_)) => {
                if let Some(ag) = self.agents.get_mut(a as usize) {
                    ag.misses = 0;
                }
                self.set_agent_state(a, St::Available, None, now);
                self.route_agent(a, now);
                Ok(())
            }
            (Presence::Available, St::WrapUp { .. }) => {
                self.end_wrap_up(a, None, false, St::Available, now);
                Ok(())
            }
            (Presence::Available, _) => Err(self.invalid(a, AgentStateKind::Available)),
            (Presence::Paused(reason), St::Available | St::Paused(_)) => {
                self.set_agent_state(a, St::Paused(reason), None, now);
                Ok(())
            }
            (Presence::Paused(reason), St::WrapUp { .. }) => {
                self.end_wrap_up(a, None, false, St::Paused(reason), now);
                Ok(())
            }
            (Presence::Paused(_), _) => Err(self.invalid(a, AgentStateKind::Paused)),
        }
    }

    /// The agent finished after-call work early, with an optional disposition.
    pub fn complete_wrap_up(
        &mut self,
        agent: &AgentId,
        disposition: Option<String>,
        now: Instant,
    ) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        match self.agent_state(a) {
            St::WrapUp { .. } => {
                self.end_wrap_up(a, disposition, false, St::Available, now);
                Ok(())
            }
            _ => Err(self.invalid(a, AgentStateKind::Available)),
        }
    }

    // ----- offers --------------------------------------------------------------------------

    /// The agent's phone rings with the offer (SIP 180); repeated reports are accepted.
    pub fn handle_offer_ringing(
        &mut self,
        call: CallId,
        agent: &AgentId,
        now: Instant,
    ) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        match self.agent_state(a) {
            St::Reserved(c) if c == call => {
                let timer = self.agent_ref(a).and_then(|ag| ag.timer);
                self.set_agent_state(a, St::Ringing(call), timer, now);
                Ok(())
            }
            St::Ringing(c) if c == call => Ok(()),
            _ => Err(AcdError::NoSuchOffer {
                call,
                agent: agent.clone(),
            }),
        }
    }

    /// The agent answered the offer (or both ends of a callback are connected): the call's
    /// wait ends, other agents ringing for it are cancelled.
    pub fn handle_offer_answered(
        &mut self,
        call: CallId,
        agent: &AgentId,
        now: Instant,
    ) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        let offered = self.agent_state(a).offered_call() == Some(call);
        let in_offer = self
            .calls
            .get(&call)
            .is_some_and(|e| matches!(&e.phase, Phase::Offering(l) if l.contains(&a)));
        if !offered || !in_offer {
            return Err(AcdError::NoSuchOffer {
                call,
                agent: agent.clone(),
            });
        }
        let Some(mut entry) = self.calls.remove(&call) else {
            return Err(AcdError::UnknownCall(call));
        };
        set_timer(
            &mut self.timers,
            &mut entry.timer,
            TimerKey::Call(call),
            None,
        );
        let q = entry.queue;
        let others: Vec<AgentIdx> = match &entry.phase {
            Phase::Offering(list) => list.iter().copied().filter(|o| *o != a).collect(),
            Phase::Waiting => Vec::new(),
        };
        for &o in &others {
            if let Some(id) = self.agent_ref(o).map(|ag| ag.id.clone()) {
                self.actions
                    .push_back(Action::CancelOffer { call, agent: id });
            }
            self.set_agent_state(o, St::Available, None, now);
        }
        self.set_agent_state(a, St::OnCall(call), None, now);
        if let Some(ag) = self.agents.get_mut(a as usize) {
            ag.misses = 0;
            ag.handled += 1;
        }
        if let Some(queue) = self.queues.get_mut(q as usize) {
            queue.offering = queue.offering.saturating_sub(1);
            match entry.leg {
                Leg::Live => {
                    let wait = now.saturating_duration_since(entry.key.arrived);
                    let c = &mut queue.counters;
                    c.answered += 1;
                    c.answer_wait_total += wait;
                    if wait <= queue.cfg.service_level_threshold {
                        c.answered_in_sl += 1;
                    }
                }
                Leg::Callback(_) => {
                    queue.callbacks = queue.callbacks.saturating_sub(1);
                    queue.counters.callbacks_answered += 1;
                }
            }
        }
        self.mark_queue(q);
        self.events.push_back(Event::CallEnded {
            call,
            queue: self.queue_name(q),
            outcome: CallOutcome::Answered {
                agent: agent.clone(),
            },
        });
        self.talking.insert(
            call,
            Talk {
                agent: a,
                queue: q,
                answered_at: now,
                priority: entry.key.priority.0,
                requirements: entry.requirements,
                needs: entry.needs,
                context: entry.context,
            },
        );
        for o in others {
            self.route_agent(o, now);
        }
        Ok(())
    }

    /// The agent declined the offer: the call goes to the next agent (never back to this one)
    /// and the agent is available again.
    pub fn handle_offer_rejected(
        &mut self,
        call: CallId,
        agent: &AgentId,
        now: Instant,
    ) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        if self.agent_state(a).offered_call() != Some(call) {
            return Err(AcdError::NoSuchOffer {
                call,
                agent: agent.clone(),
            });
        }
        self.set_agent_state(a, St::Available, None, now);
        if self.detach_offer(call, a, true) {
            self.route_call(call, now);
        }
        self.route_agent(a, now);
        Ok(())
    }

    /// The talk ended (either side hung up): the agent enters wrap-up for the queue's
    /// wrap-up time.
    pub fn handle_call_ended(&mut self, call: CallId, now: Instant) -> Result<(), AcdError> {
        let talk = self
            .talking
            .remove(&call)
            .ok_or(AcdError::UnknownCall(call))?;
        self.end_talk(&talk, now);
        Ok(())
    }

    // ----- calls ---------------------------------------------------------------------------

    /// Puts a call in a queue. A closed or full queue answers with [`Action::Fallback`]; a
    /// free agent gets an [`Action::Offer`] at once; otherwise the caller waits (and hears an
    /// [`Action::Announce`] now and at the queue's interval).
    pub fn enqueue(&mut self, req: Enqueue<C>, now: Instant) -> Result<(), AcdError> {
        if self.calls.contains_key(&req.call) || self.talking.contains_key(&req.call) {
            return Err(AcdError::DuplicateCall(req.call));
        }
        let q = self.queue_idx(&req.queue)?;
        let needs = self.needs(&req.skills)?;
        self.admit(
            req.call,
            q,
            req.priority,
            now,
            req.skills,
            needs,
            req.context,
            now,
        );
        Ok(())
    }

    /// The caller hung up while waiting (or the callback request was cancelled). Any ringing
    /// offer is cancelled. A call already answered is treated as [`Acd::handle_call_ended`].
    pub fn handle_abandon(&mut self, call: CallId, now: Instant) -> Result<(), AcdError> {
        if self.talking.contains_key(&call) {
            return self.handle_call_ended(call, now);
        }
        let released = self.cancel_offers(call, now);
        let Some(mut entry) = self.calls.remove(&call) else {
            return Err(AcdError::UnknownCall(call));
        };
        set_timer(
            &mut self.timers,
            &mut entry.timer,
            TimerKey::Call(call),
            None,
        );
        let q = entry.queue;
        if let Some(queue) = self.queues.get_mut(q as usize) {
            queue.waiting.remove(&entry.key);
            match entry.leg {
                Leg::Live => {
                    queue.counters.abandoned += 1;
                    let waited = now.saturating_duration_since(entry.key.arrived);
                    if waited > queue.cfg.service_level_threshold {
                        queue.counters.abandoned_after_sl += 1;
                    }
                }
                Leg::Callback(_) => queue.callbacks = queue.callbacks.saturating_sub(1),
            }
        }
        self.mark_queue(q);
        self.events.push_back(Event::CallEnded {
            call,
            queue: self.queue_name(q),
            outcome: CallOutcome::Abandoned,
        });
        for a in released {
            self.route_agent(a, now);
        }
        Ok(())
    }

    /// Turns a waiting caller into a callback request that keeps its place in line; the
    /// driver hangs up the caller's leg. When the request reaches the head and an agent is
    /// free, [`Action::PlaceCallback`] asks the driver to connect them.
    pub fn convert_to_callback(
        &mut self,
        call: CallId,
        number: String,
        now: Instant,
    ) -> Result<(), AcdError> {
        match self.calls.get(&call) {
            None if self.talking.contains_key(&call) => return Err(AcdError::NotWaiting(call)),
            None => return Err(AcdError::UnknownCall(call)),
            Some(e) if e.leg != Leg::Live => return Err(AcdError::NotWaiting(call)),
            Some(_) => {}
        }
        let released = self.cancel_offers(call, now);
        let mut q = None;
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.leg = Leg::Callback(number);
            entry.next_announce = None;
            entry.overflow_at = None;
            entry.max_wait_at = None;
            set_timer(
                &mut self.timers,
                &mut entry.timer,
                TimerKey::Call(call),
                None,
            );
            q = Some(entry.queue);
        }
        if let Some(q) = q {
            if let Some(queue) = self.queues.get_mut(q as usize) {
                queue.callbacks += 1;
            }
            self.mark_queue(q);
        }
        self.route_call(call, now);
        for a in released {
            self.route_agent(a, now);
        }
        Ok(())
    }

    /// Moves a call to another queue: a waiting call keeps its priority, skills, context and
    /// arrival time (so its place by age); a call talking to an agent ends its talk (the agent
    /// enters wrap-up) and joins the queue as a new arrival. A closed or full target answers
    /// with [`Action::Fallback`].
    pub fn transfer(&mut self, call: CallId, to: &QueueName, now: Instant) -> Result<(), AcdError> {
        let t = self.queue_idx(to)?;
        if let Some(talk) = self.talking.remove(&call) {
            self.end_talk(&talk, now);
            self.admit(
                call,
                t,
                talk.priority,
                now,
                talk.requirements,
                talk.needs,
                talk.context,
                now,
            );
            return Ok(());
        }
        if !self.calls.contains_key(&call) {
            return Err(AcdError::UnknownCall(call));
        }
        let released = self.cancel_offers(call, now);
        let from = self.calls.get(&call).map(|e| e.queue);
        if from != Some(t) {
            match self.refusal(t) {
                Some(reason) => self.fall_back(call, reason, now),
                None => self.move_call(call, t, now),
            }
        }
        for a in released {
            self.route_agent(a, now);
        }
        Ok(())
    }

    /// Hands a call an agent talks with directly to agent `to`: the first agent enters
    /// wrap-up and `to` is offered the call at once, with the call's queue's ring timeout. If
    /// `to` does not answer or declines, the call waits in its queue like a new arrival (keeping
    /// its priority, skills and context) and any agent of the queue may take it.
    pub fn transfer_to_agent(
        &mut self,
        call: CallId,
        to: &AgentId,
        now: Instant,
    ) -> Result<(), AcdError> {
        let t = self.agent_idx(to)?;
        let Some(talk) = self.talking.get(&call) else {
            return Err(AcdError::UnknownCall(call));
        };
        let state = self.agent_state(t);
        if state != St::Available || talk.agent == t {
            return Err(AcdError::AgentNotAvailable {
                agent: to.clone(),
                state: state.kind(),
            });
        }
        let Some(talk) = self.talking.remove(&call) else {
            return Err(AcdError::UnknownCall(call));
        };
        self.end_talk(&talk, now);
        let q = talk.queue;
        let key = WaitKey {
            priority: Reverse(talk.priority),
            arrived: now,
            seq: self.next_seq(),
        };
        let cfg = self.queues.get(q as usize).map(|qq| qq.cfg.clone());
        self.calls.insert(
            call,
            CallEntry {
                queue: q,
                key,
                requirements: talk.requirements,
                needs: talk.needs,
                context: talk.context,
                leg: Leg::Live,
                phase: Phase::Waiting,
                declined: Vec::new(),
                next_announce: None,
                overflow_at: cfg
                    .as_ref()
                    .and_then(|c| c.overflow.as_ref().map(|o| now + o.after)),
                max_wait_at: cfg.as_ref().and_then(|c| c.max_wait.map(|m| now + m)),
                timer: None,
            },
        );
        if let Some(queue) = self.queues.get_mut(q as usize) {
            queue.waiting.insert(key, call);
        }
        self.mark_queue(q);
        self.offer(call, vec![t], now);
        self.reschedule_call(call);
        Ok(())
    }

    /// Opens or closes a queue (business hours). A closed queue sends new arrivals and
    /// overflow to the fallback; callers already waiting keep their place and are served.
    pub fn set_queue_open(&mut self, queue: &QueueName, open: bool) -> Result<(), AcdError> {
        let q = self.queue_idx(queue)?;
        if let Some(queue) = self.queues.get_mut(q as usize) {
            queue.open = open;
        }
        self.mark_queue(q);
        Ok(())
    }

    // ----- internals -----------------------------------------------------------------------

    fn queue_idx(&self, name: &QueueName) -> Result<QueueIdx, AcdError> {
        self.queue_ids
            .get(name)
            .copied()
            .ok_or_else(|| AcdError::UnknownQueue(name.clone()))
    }

    fn agent_idx(&self, id: &AgentId) -> Result<AgentIdx, AcdError> {
        self.agent_ids
            .get(id)
            .copied()
            .ok_or_else(|| AcdError::UnknownAgent(id.clone()))
    }

    fn agent_state(&self, a: AgentIdx) -> St {
        self.agent_ref(a).map_or(St::LoggedOut, |ag| ag.st.clone())
    }

    fn queue_name(&self, q: QueueIdx) -> QueueName {
        self.queues
            .get(q as usize)
            .map_or_else(|| QueueName(String::new()), |qq| qq.name.clone())
    }

    fn invalid(&self, a: AgentIdx, to: AgentStateKind) -> AcdError {
        let (agent, from) = self.agent_ref(a).map_or_else(
            || (AgentId(String::new()), AgentStateKind::LoggedOut),
            |ag| (ag.id.clone(), ag.st.kind()),
        );
        AcdError::InvalidTransition { agent, from, to }
    }

    fn intern(&mut self, skill: &Skill) -> SkillIdx {
        let next = self.skills.len() as SkillIdx;
        *self.skills.entry(skill.clone()).or_insert(next)
    }

    pub(super) fn needs(
        &mut self,
        reqs: &[SkillRequirement],
    ) -> Result<Vec<(SkillIdx, u8)>, AcdError> {
        for r in reqs {
            if r.min_level > 10 {
                return Err(AcdError::SkillLevelOutOfRange {
                    skill: r.skill.clone(),
                    level: r.min_level,
                });
            }
        }
        Ok(reqs
            .iter()
            .map(|r| (self.intern(&r.skill), r.min_level))
            .collect())
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn mark_agent(&mut self, a: AgentIdx) {
        if let Some(ag) = self.agents.get_mut(a as usize) {
            if !ag.dirty {
                ag.dirty = true;
                self.events.push_back(Event::AgentChanged(ag.id.clone()));
            }
        }
    }

    pub(super) fn mark_queue(&mut self, q: QueueIdx) {
        if let Some(queue) = self.queues.get_mut(q as usize) {
            if !queue.dirty {
                queue.dirty = true;
                self.events
                    .push_back(Event::QueueChanged(queue.name.clone()));
            }
        }
    }

    /// Why queue `q` refuses a new call now, if it does.
    fn refusal(&self, q: QueueIdx) -> Option<FallbackReason> {
        let queue = self.queues.get(q as usize)?;
        if !queue.open {
            Some(FallbackReason::Closed)
        } else if queue.cfg.max_length.is_some_and(|m| queue.len() >= m) {
            Some(FallbackReason::Full)
        } else {
            None
        }
    }

    /// Moves agent `a` to `new`, keeping the free-agent indexes, staffing counts and the
    /// agent's timer in step.
    fn set_agent_state(&mut self, a: AgentIdx, new: St, timer: Option<Instant>, now: Instant) {
        let Some(agent) = self.agents.get_mut(a as usize) else {
            return;
        };
        let was_avail = agent.st == St::Available;
        let was_staffed = agent.st.is_staffed();
        let from_offer = agent.st.offered_call().is_some();
        let now_avail = new == St::Available;
        let now_staffed = new.is_staffed();
        if was_avail {
            for q in &agent.queues {
                if let Some(queue) = self.queues.get_mut(*q as usize) {
                    queue.remove_agent(a, agent);
                }
            }
        }
        agent.st = new;
        agent.since = now;
        if now_avail && !from_offer {
            agent.idle_since = now;
        }
        for q in &agent.queues {
            if let Some(queue) = self.queues.get_mut(*q as usize) {
                if was_staffed && !now_staffed {
                    queue.staffed = queue.staffed.saturating_sub(1);
                } else if now_staffed && !was_staffed {
                    queue.staffed += 1;
                }
                if now_avail {
                    queue.insert_agent(a, agent);
                }
            }
        }
        set_timer(
            &mut self.timers,
            &mut agent.timer,
            TimerKey::Agent(a),
            timer,
        );
        let queues = agent.queues.clone();
        self.mark_agent(a);
        for q in queues {
            self.mark_queue(q);
        }
    }

    fn reschedule_call(&mut self, id: CallId) {
        if let Some(entry) = self.calls.get_mut(&id) {
            let d = entry.deadline();
            set_timer(&mut self.timers, &mut entry.timer, TimerKey::Call(id), d);
        }
    }

    /// Adds a call to queue `q`, or sends it to the fallback when the queue refuses it.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &mut self,
        id: CallId,
        q: QueueIdx,
        priority: i32,
        arrived: Instant,
        requirements: Vec<SkillRequirement>,
        needs: Vec<(SkillIdx, u8)>,
        context: C,
        now: Instant,
    ) {
        if let Some(reason) = self.refusal(q) {
            self.fallback_output(id, q, reason);
            return;
        }
        let Some(cfg) = self.queues.get(q as usize).map(|qq| qq.cfg.clone()) else {
            return;
        };
        let key = WaitKey {
            priority: Reverse(priority),
            arrived,
            seq: self.next_seq(),
        };
        let entry = CallEntry {
            queue: q,
            key,
            requirements,
            needs,
            context,
            leg: Leg::Live,
            phase: Phase::Waiting,
            declined: Vec::new(),
            next_announce: None,
            overflow_at: cfg.overflow.as_ref().map(|o| now + o.after),
            max_wait_at: cfg.max_wait.map(|m| now + m),
            timer: None,
        };
        self.calls.insert(id, entry);
        if let Some(queue) = self.queues.get_mut(q as usize) {
            queue.waiting.insert(key, id);
        }
        self.mark_queue(q);
        self.route_call(id, now);
        if let Some(interval) = cfg.announce_interval {
            let waiting = self
                .calls
                .get(&id)
                .is_some_and(|e| e.phase == Phase::Waiting);
            if waiting {
                self.announce(id);
            }
            if let Some(entry) = self.calls.get_mut(&id) {
                entry.next_announce = Some(now + interval);
            }
        }
        self.reschedule_call(id);
    }

    fn fallback_output(&mut self, call: CallId, q: QueueIdx, reason: FallbackReason) {
        if let Some(queue) = self.queues.get_mut(q as usize) {
            queue.counters.fallbacks += 1;
        }
        self.mark_queue(q);
        let queue = self.queue_name(q);
        self.actions.push_back(Action::Fallback {
            call,
            queue: queue.clone(),
            reason,
        });
        self.events.push_back(Event::CallEnded {
            call,
            queue,
            outcome: CallOutcome::Fallback(reason),
        });
    }

    /// Removes a waiting call and sends it to the fallback.
    fn fall_back(&mut self, id: CallId, reason: FallbackReason, _now: Instant) {
        let Some(mut entry) = self.calls.remove(&id) else {
            return;
        };
        set_timer(&mut self.timers, &mut entry.timer, TimerKey::Call(id), None);
        if let Some(queue) = self.queues.get_mut(entry.queue as usize) {
            queue.waiting.remove(&entry.key);
            if matches!(entry.leg, Leg::Callback(_)) {
                queue.callbacks = queue.callbacks.saturating_sub(1);
            }
        }
        self.fallback_output(id, entry.queue, reason);
    }

    /// Moves a waiting call to queue `to` (overflow or transfer), keeping its priority and
    /// arrival time; the target's timers start now.
    fn move_call(&mut self, id: CallId, to: QueueIdx, now: Instant) {
        let Some(cfg) = self.queues.get(to as usize).map(|q| q.cfg.clone()) else {
            return;
        };
        let seq = self.next_seq();
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let from = entry.queue;
        let callback = matches!(entry.leg, Leg::Callback(_));
        if let Some(queue) = self.queues.get_mut(from as usize) {
            queue.waiting.remove(&entry.key);
            if callback {
                queue.callbacks = queue.callbacks.saturating_sub(1);
            }
        }
        entry.queue = to;
        entry.key.seq = seq;
        entry.declined.clear();
        if !callback {
            entry.overflow_at = cfg.overflow.as_ref().map(|o| now + o.after);
            entry.max_wait_at = cfg.max_wait.map(|m| now + m);
            entry.next_announce = cfg.announce_interval.map(|i| now + i);
        }
        let key = entry.key;
        if let Some(queue) = self.queues.get_mut(to as usize) {
            queue.waiting.insert(key, id);
            if callback {
                queue.callbacks += 1;
            }
        }
        self.mark_queue(from);
        self.mark_queue(to);
        self.reschedule_call(id);
        self.route_call(id, now);
    }

    /// Offers a waiting call to `agents` (several only for ring-all).
    fn offer(&mut self, id: CallId, agents: Vec<AgentIdx>, now: Instant) {
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let q = entry.queue;
        let Some(queue) = self.queues.get_mut(q as usize) else {
            return;
        };
        queue.waiting.remove(&entry.key);
        queue.offering += 1;
        if queue.cfg.strategy == Strategy::RoundRobin {
            queue.rr_cursor = agents.last().copied();
        }
        let number = match &entry.leg {
            Leg::Callback(n) => Some(n.clone()),
            Leg::Live => None,
        };
        // A callback rings the caller back before the agent's phone: it gets longer.
        let deadline = match number {
            Some(_) => now + queue.cfg.ring_timeout + queue.cfg.callback_timeout,
            None => now + queue.cfg.ring_timeout,
        };
        let queue_name = queue.name.clone();
        entry.phase = Phase::Offering(agents.clone());
        let context = entry.context.clone();
        self.reschedule_call(id);
        for a in agents {
            self.set_agent_state(a, St::Reserved(id), Some(deadline), now);
            let Some(agent) = self.agent_ref(a).map(|ag| ag.id.clone()) else {
                continue;
            };
            self.actions.push_back(match &number {
                Some(n) => Action::PlaceCallback {
                    call: id,
                    agent,
                    queue: queue_name.clone(),
                    number: n.clone(),
                    context: context.clone(),
                },
                None => Action::Offer {
                    call: id,
                    agent,
                    queue: queue_name.clone(),
                    context: context.clone(),
                },
            });
        }
        self.mark_queue(q);
    }

    /// Takes agent `a` off the offer of call `id`. Returns whether no agent is left ringing,
    /// so the call went back to its place in line.
    fn detach_offer(&mut self, id: CallId, a: AgentIdx, decline: bool) -> bool {
        let Some(entry) = self.calls.get_mut(&id) else {
            return false;
        };
        let Phase::Offering(list) = &mut entry.phase else {
            return false;
        };
        list.retain(|x| *x != a);
        if decline && !entry.declined.contains(&a) {
            entry.declined.push(a);
        }
        if !list.is_empty() {
            return false;
        }
        entry.phase = Phase::Waiting;
        let q = entry.queue;
        if let Some(queue) = self.queues.get_mut(q as usize) {
            queue.waiting.insert(entry.key, id);
            queue.offering = queue.offering.saturating_sub(1);
        }
        self.mark_queue(q);
        self.reschedule_call(id);
        true
    }

    /// Cancels every ringing offer of call `id`; the agents become available (not counted as
    /// misses) and the call is back in line. Returns the agents, to route them afterwards.
    fn cancel_offers(&mut self, id: CallId, now: Instant) -> Vec<AgentIdx> {
        let list = match self.calls.get(&id).map(|e| &e.phase) {
            Some(Phase::Offering(list)) => list.clone(),
            _ => return Vec::new(),
        };
        for &a in &list {
            if let Some(agent) = self.agent_ref(a).map(|ag| ag.id.clone()) {
                self.actions
                    .push_back(Action::CancelOffer { call: id, agent });
            }
            self.set_agent_state(a, St::Available, None, now);
            self.detach_offer(id, a, false);
        }
        list
    }

    /// Looks for free agents for waiting call `id`.
    pub(super) fn route_call(&mut self, id: CallId, now: Instant) {
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        if entry.phase != Phase::Waiting {
            return;
        }
        let Some(queue) = self.queues.get(entry.queue as usize) else {
            return;
        };
        let picks = if queue.cfg.strategy == Strategy::RingAll && entry.leg == Leg::Live {
            queue.pick_all(&self.agents, &entry.needs, &entry.declined)
        } else {
            queue
                .pick(&self.agents, &entry.needs, &entry.declined)
                .into_iter()
                .collect()
        };
        if !picks.is_empty() {
            self.offer(id, picks, now);
        }
    }

    /// Looks for the best waiting call, across its queues, for free agent `a`.
    fn route_agent(&mut self, a: AgentIdx, now: Instant) {
        let Some(agent) = self.agent_ref(a) else {
            return;
        };
        if agent.st != St::Available {
            return;
        }
        let mut best: Option<(WaitKey, CallId)> = None;
        for q in &agent.queues {
            let Some(queue) = self.queues.get(*q as usize) else {
                continue;
            };
            let calls = &self.calls;
            let found = queue.first_call(|c| {
                calls
                    .get(&c)
                    .is_some_and(|e| !e.declined.contains(&a) && agent.meets(&e.needs))
            });
            if let Some((k, c)) = found {
                if best.is_none_or(|(bk, _)| k < bk) {
                    best = Some((k, c));
                }
            }
        }
        if let Some((_, c)) = best {
            self.offer(c, vec![a], now);
        }
    }

    fn announce(&mut self, id: CallId) {
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        let Some(queue) = self.queues.get(entry.queue as usize) else {
            return;
        };
        let position = queue.waiting.range(..entry.key).count() + 1;
        let estimated_wait = estimated_wait(position, queue.handle_times.mean(), queue.staffed);
        self.actions.push_back(Action::Announce {
            call: id,
            position,
            estimated_wait,
        });
    }

    fn on_call_timer(&mut self, id: CallId, now: Instant) {
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        if entry.leg != Leg::Live {
            return;
        }
        let waiting = entry.phase == Phase::Waiting;
        let q = entry.queue;
        if waiting && entry.max_wait_at.is_some_and(|t| t <= now) {
            self.fall_back(id, FallbackReason::MaxWait, now);
            return;
        }
        if waiting && entry.overflow_at.is_some_and(|t| t <= now) {
            if let Some(e) = self.calls.get_mut(&id) {
                e.overflow_at = None;
            }
            let target = self.queues.get(q as usize).and_then(|qq| qq.overflow_to);
            if let Some(t) = target.filter(|t| self.refusal(*t).is_none()) {
                if let Some(queue) = self.queues.get_mut(q as usize) {
                    queue.counters.overflowed += 1;
                }
                self.events.push_back(Event::Overflowed {
                    call: id,
                    from: self.queue_name(q),
                    to: self.queue_name(t),
                });
                self.move_call(id, t, now);
            }
        }
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        if entry.next_announce.is_some_and(|t| t <= now) {
            let waiting = entry.phase == Phase::Waiting;
            let interval = self
                .queues
                .get(entry.queue as usize)
                .and_then(|qq| qq.cfg.announce_interval);
            if waiting {
                self.announce(id);
            }
            if let Some(e) = self.calls.get_mut(&id) {
                e.next_announce = interval.map(|i| now + i);
            }
        }
        self.reschedule_call(id);
    }

    fn on_agent_timer(&mut self, a: AgentIdx, now: Instant) {
        match self.agent_state(a) {
            St::Reserved(c) | St::Ringing(c) => {
                let Some(agent) = self.agents.get_mut(a as usize) else {
                    return;
                };
                agent.misses += 1;
                let misses = agent.misses;
                let id = agent.id.clone();
                self.actions.push_back(Action::CancelOffer {
                    call: c,
                    agent: id.clone(),
                });
                if self.max_misses > 0 && misses >= self.max_misses {
                    let reason = format!("ring-no-answer: missed {misses} offers in a row");
                    self.set_agent_state(a, St::Paused(reason.clone()), None, now);
                    self.events
                        .push_back(Event::AgentAutoPaused { agent: id, reason });
                } else {
                    self.set_agent_state(a, St::Available, None, now);
                }
                if self.detach_offer(c, a, true) {
                    self.route_call(c, now);
                }
                self.route_agent(a, now);
            }
            St::WrapUp { .. } => self.end_wrap_up(a, None, true, St::Available, now),
            _ => {}
        }
    }

    /// The talk of `talk` ended: the agent enters wrap-up (or logs out if they disconnected).
    fn end_talk(&mut self, talk: &Talk<C>, now: Instant) {
        let a = talk.agent;
        let logout = self.agent_ref(a).is_some_and(|ag| ag.logout_after_call);
        if logout {
            if let Some(queue) = self.queues.get_mut(talk.queue as usize) {
                queue
                    .handle_times
                    .push(now.saturating_duration_since(talk.answered_at));
            }
            if let Some(ag) = self.agents.get_mut(a as usize) {
                ag.logout_after_call = false;
            }
            self.set_agent_state(a, St::LoggedOut, None, now);
            return;
        }
        let wrap = self
            .queues
            .get(talk.queue as usize)
            .map_or_else(Default::default, |q| q.cfg.wrap_up);
        let st = St::WrapUp {
            queue: talk.queue,
            answered_at: talk.answered_at,
        };
        self.set_agent_state(a, st, Some(now + wrap), now);
        if wrap.is_zero() {
            self.end_wrap_up(a, None, true, St::Available, now);
        }
    }

    /// Ends agent `a`'s wrap-up into `next`, recording the handle time.
    fn end_wrap_up(
        &mut self,
        a: AgentIdx,
        disposition: Option<String>,
        by_timer: bool,
        next: St,
        now: Instant,
    ) {
        let St::WrapUp { queue, answered_at } = self.agent_state(a) else {
            return;
        };
        if let Some(q) = self.queues.get_mut(queue as usize) {
            q.handle_times
                .push(now.saturating_duration_since(answered_at));
        }
        self.mark_queue(queue);
        if let Some(id) = self.agent_ref(a).map(|ag| ag.id.clone()) {
            self.events.push_back(Event::WrapUpEnded {
                agent: id,
                disposition,
                by_timer,
            });
        }
        self.set_agent_state(a, next, None, now);
        self.route_agent(a, now);
    }
}

#[cfg(test)]
impl<C> Acd<C> {
    /// Asserts the router's internal bookkeeping is consistent and that every timed state
    /// has a timer not yet overdue at `now`.
    pub(super) fn check_invariants(&self, now: Instant) {
        for (i, ag) in self.agents.iter().enumerate() {
            let a = i as AgentIdx;
            for q in &ag.queues {
                let queue = &self.queues[*q as usize];
                assert_eq!(
                    queue.has_available(a, ag),
                    ag.st == St::Available,
                    "{}",
                    ag.id
                );
            }
            match &ag.st {
                St::Reserved(c) | St::Ringing(c) => {
                    let entry = self.calls.get(c).expect("an offered call is known");
                    assert!(matches!(&entry.phase, Phase::Offering(l) if l.contains(&a)));
                    let t = ag.timer.expect("an offer always has a ring timer");
                    assert!(t >= now, "agent {} overstayed its offer", ag.id);
                }
                St::WrapUp { queue, .. } => {
                    let t = ag.timer.expect("wrap-up always has a timer");
                    assert!(t >= now, "agent {} overstayed wrap-up", ag.id);
                    let wrap = self.queues[*queue as usize].cfg.wrap_up;
                    assert!(t <= ag.since + wrap);
                }
                St::OnCall(c) => {
                    assert_eq!(self.talking.get(c).map(|t| t.agent), Some(a));
                    assert!(ag.timer.is_none());
                }
                _ => assert!(ag.timer.is_none()),
            }
            if let Some(t) = ag.timer {
                assert!(self.timers.contains(&(t, TimerKey::Agent(a))));
            }
        }
        for (qi, queue) in self.queues.iter().enumerate() {
            let q = qi as QueueIdx;
            let mine = || self.calls.values().filter(move |e| e.queue == q);
            let offering = mine().filter(|e| e.phase != Phase::Waiting).count();
            assert_eq!(queue.offering, offering, "queue {}", queue.name);
            let callbacks = mine().filter(|e| e.leg != Leg::Live).count();
            assert_eq!(queue.callbacks, callbacks, "queue {}", queue.name);
            let staffed = self
                .agents
                .iter()
                .filter(|ag| ag.queues.contains(&q) && ag.st.is_staffed())
                .count();
            assert_eq!(queue.staffed, staffed, "queue {}", queue.name);
            for (k, c) in &queue.waiting {
                let e = &self.calls[c];
                assert_eq!((e.queue, e.key, &e.phase), (q, *k, &Phase::Waiting));
            }
        }
        for (id, e) in &self.calls {
            let queue = &self.queues[e.queue as usize];
            if e.phase == Phase::Waiting {
                assert_eq!(queue.waiting.get(&e.key), Some(id));
                assert_eq!(
                    queue.pick(&self.agents, &e.needs, &e.declined),
                    None,
                    "call {id} waits while an agent is free for it"
                );
            }
            if let Some(t) = e.timer {
                assert!(self.timers.contains(&(t, TimerKey::Call(*id))));
            }
        }
        assert!(self.calls.keys().all(|c| !self.talking.contains_key(c)));
    }
}
