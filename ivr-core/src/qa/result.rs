//! What an inspection gives: a score and the findings behind it.

use serde::{Deserialize, Serialize};

/// How serious a finding is. `critical` fails the call outright (score 0); the others only
/// weigh through the rule's `weight`, and tell supervisors what to look at first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; usually weight 0.
    Info,
    /// A lapse in form.
    Minor,
    /// A lapse a supervisor should coach.
    Major,
    /// Fails the call: its score is 0 whatever else it did well.
    Critical,
}

impl Severity {
    /// Every severity, mildest first.
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Minor,
        Severity::Major,
        Severity::Critical,
    ];

    /// The name used in rule files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    /// The severity of a name, `None` if unknown.
    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One rule broken by one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule's `id`.
    pub rule_id: String,
    /// The rule's severity.
    pub severity: Severity,
    /// What happened, for a supervisor (never the caller's words).
    pub message: String,
    /// When in the call, in milliseconds from the answer; `None` for the call as a whole.
    pub at: Option<u64>,
}

/// The inspection of one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QaResult {
    /// The call.
    pub call_id: String,
    /// 0 to 100: the share of the applicable rules' weight the call kept (0 after a critical
    /// finding, 100 when no rule applies).
    pub score: u8,
    /// The broken rules, in rule-file order.
    pub findings: Vec<Finding>,
    /// The fingerprint of the rule set used ([`super::Rules::fingerprint`]), so that results of
    /// different rule versions can be told apart.
    pub rules_fingerprint: String,
}

impl QaResult {
    /// The most serious finding's severity, `None` when nothing was found.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}
