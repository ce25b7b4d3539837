//! Names of the things the router tracks: calls, agents, queues and skills.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A call's identifier, chosen by the driver; unique among the calls the router knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub u64);

/// An agent's identifier (the login name the agent desktop uses).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub String);

/// A queue's name as written in the configuration and in dial plans (`enqueue: { queue: … }`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueName(pub String);

/// A skill name, such as `spanish` or `mortgages`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Skill(pub String);

/// A skill a call needs, with the lowest acceptable level (1–10; 0 or 1 both mean "any level").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SkillRequirement {
    /// The skill.
    pub skill: Skill,
    /// The lowest level an agent may have in it to take the call.
    pub min_level: u8,
}

impl SkillRequirement {
    /// A requirement for `skill` at any level.
    pub fn any(skill: &str) -> Self {
        SkillRequirement {
            skill: Skill(skill.to_string()),
            min_level: 1,
        }
    }

    /// A requirement for `skill` at `min_level` or better.
    pub fn at_least(skill: &str, min_level: u8) -> Self {
        SkillRequirement {
            skill: Skill(skill.to_string()),
            min_level,
        }
    }
}

macro_rules! string_id {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $t {
            fn from(s: &str) -> Self {
                $t(s.to_string())
            }
        }

        impl $t {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(AgentId);
string_id!(QueueName);
string_id!(Skill);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
