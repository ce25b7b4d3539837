//! One queue as the router keeps it: the line of waiting calls and the indexes of its free
//! agents, one per strategy, so a routing decision never scans every agent.
//!
//! * `waiting` orders calls by priority (higher first), then arrival, then a sequence number.
//! * `idle` orders free agents by when they became free (longest idle first); every strategy
//!   keeps it, ring-all and longest-idle route from it.
//! * `rr` orders free agents by registration order for round-robin, with a cursor.
//! * `fewest` orders free agents by calls answered, then idle time.
//! * `by_skill` orders, per skill, free agents by level (best first), then idle time.
//!
//! An agent's keys (idle-since, answered count, skills) never change while the agent is free,
//! so removal finds exactly what insertion stored.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use super::agent::{Agent, AgentIdx, QueueIdx, SkillIdx};
use super::config::{QueueConfig, Strategy};
use super::ids::{CallId, QueueName};
use super::stats::{Counters, MovingAverage};

/// A waiting call's place in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WaitKey {
    pub(crate) priority: Reverse<i32>,
    pub(crate) arrived: Instant,
    pub(crate) seq: u64,
}

#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) name: QueueName,
    pub(crate) cfg: QueueConfig,
    pub(crate) overflow_to: Option<QueueIdx>,
    pub(crate) open: bool,
    /// Calls waiting for an agent (callbacks included), in serving order.
    pub(crate) waiting: BTreeMap<WaitKey, CallId>,
    /// Calls out of `waiting` because agents are being offered them.
    pub(crate) offering: usize,
    /// Callback requests among the waiting and offered calls.
    pub(crate) callbacks: usize,
    idle: BTreeSet<(Instant, AgentIdx)>,
    rr: BTreeSet<AgentIdx>,
    pub(crate) rr_cursor: Option<AgentIdx>,
    fewest: BTreeSet<(u64, Instant, AgentIdx)>,
    by_skill: HashMap<SkillIdx, BTreeSet<(Reverse<u8>, Instant, AgentIdx)>>,
    /// Logged-in, unpaused agents serving the queue.
    pub(crate) staffed: usize,
    pub(crate) counters: Counters,
    pub(crate) handle_times: MovingAverage,
    /// A `QueueChanged` event is queued and not yet polled.
    pub(crate) dirty: bool,
}

impl Queue {
    pub(crate) fn new(name: QueueName, cfg: QueueConfig, window: usize) -> Self {
        Queue {
            name,
            open: cfg.open,
            handle_times: MovingAverage::new(window, cfg.default_handle_time),
            cfg,
            overflow_to: None,
            waiting: BTreeMap::new(),
            offering: 0,
            callbacks: 0,
            idle: BTreeSet::new(),
            rr: BTreeSet::new(),
            rr_cursor: None,
            fewest: BTreeSet::new(),
            by_skill: HashMap::new(),
            staffed: 0,
            counters: Counters::default(),
            dirty: false,
        }
    }

    /// Calls the queue holds, for `max_length`.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len() + self.offering
    }

    /// Free agents.
    pub(crate) fn available(&self) -> usize {
        self.idle.len()
    }

    /// Whether agent `a` is in the free-agent index.
    #[cfg(test)]
    pub(crate) fn has_available(&self, a: AgentIdx, agent: &Agent) -> bool {
        self.idle.contains(&(agent.idle_since, a))
    }

    /// Adds a free agent to the indexes.
    pub(crate) fn insert_agent(&mut self, a: AgentIdx, agent: &Agent) {
        self.idle.insert((agent.idle_since, a));
        match self.cfg.strategy {
            Strategy::RoundRobin => {
                self.rr.insert(a);
            }
            Strategy::FewestCalls => {
                self.fewest.insert((agent.handled, agent.idle_since, a));
            }
            Strategy::SkillsBased => {
                for (s, l) in &agent.skills {
                    self.by_skill
                        .entry(*s)
                        .or_default()
                        .insert((Reverse(*l), agent.idle_since, a));
                }
            }
            Strategy::RingAll | Strategy::LongestIdle => {}
        }
    }

    /// Removes an agent that stops being free from the indexes.
    pub(crate) fn remove_agent(&mut self, a: AgentIdx, agent: &Agent) {
        self.idle.remove(&(agent.idle_since, a));
        match self.cfg.strategy {
            Strategy::RoundRobin => {
                self.rr.remove(&a);
            }
            Strategy::FewestCalls => {
                self.fewest.remove(&(agent.handled, agent.idle_since, a));
            }
            Strategy::SkillsBased => {
                for (s, l) in &agent.skills {
                    if let Some(set) = self.by_skill.get_mut(s) {
                        set.remove(&(Reverse(*l), agent.idle_since, a));
                    }
                }
            }
            Strategy::RingAll | Strategy::LongestIdle => {}
        }
    }

    /// The free agent the strategy picks for a call needing `needs`, skipping `declined`.
    ///
    /// Index order makes the first eligible agent the right one; only agents lacking a skill
    /// or having declined the call are stepped over.
    pub(crate) fn pick(
        &self,
        agents: &[Agent],
        needs: &[(SkillIdx, u8)],
        declined: &[AgentIdx],
    ) -> Option<AgentIdx> {
        let ok = |a: AgentIdx| eligible(agents, a, needs, declined);
        match self.cfg.strategy {
            Strategy::RingAll | Strategy::LongestIdle => {
                self.idle.iter().map(|(_, a)| *a).find(|a| ok(*a))
            }
            Strategy::RoundRobin => {
                let start = self.rr_cursor.map_or(0, |c| c.saturating_add(1));
                self.rr
                    .range(start..)
                    .chain(self.rr.range(..start))
                    .copied()
                    .find(|a| ok(*a))
            }
            Strategy::FewestCalls => self.fewest.iter().map(|(_, _, a)| *a).find(|a| ok(*a)),
            Strategy::SkillsBased => match needs.first() {
                None => self.idle.iter().map(|(_, a)| *a).find(|a| ok(*a)),
                Some((primary, min)) => {
                    let min = (*min).max(1);
                    self.by_skill
                        .get(primary)?
                        .iter()
                        .take_while(|(Reverse(l), _, _)| *l >= min)
                        .map(|(_, _, a)| *a)
                        .find(|a| ok(*a))
                }
            },
        }
    }

    /// Every free agent eligible for a call (ring-all), longest idle first.
    pub(crate) fn pick_all(
        &self,
        agents: &[Agent],
        needs: &[(SkillIdx, u8)],
        declined: &[AgentIdx],
    ) -> Vec<AgentIdx> {
        self.idle
            .iter()
            .map(|(_, a)| *a)
            .filter(|a| eligible(agents, *a, needs, declined))
            .collect()
    }

    /// The first waiting call, in serving order, that `eligible` accepts.
    pub(crate) fn first_call(
        &self,
        mut eligible: impl FnMut(CallId) -> bool,
    ) -> Option<(WaitKey, CallId)> {
        self.waiting
            .iter()
            .find(|(_, c)| eligible(**c))
            .map(|(k, c)| (*k, *c))
    }
}

fn eligible(
    agents: &[Agent],
    a: AgentIdx,
    needs: &[(SkillIdx, u8)],
    declined: &[AgentIdx],
) -> bool {
    !declined.contains(&a) && agents.get(a as usize).is_some_and(|ag| ag.meets(needs))
}
