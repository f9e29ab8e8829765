//! The key layout: every key this crate owns, its name under the prefix, and its description.
//!
//! Both backends name their entries with these keys, so [`crate::Fleet::list_keys`] reads the
//! same in memory and in Redis. The layout is documented in the crate docs; this module only
//! builds and recognises names, it reads nothing.

use std::fmt;

/// The namespace under the prefix: the token bucket and others share the prefix, not this.
pub(crate) const NAMESPACE: &str = "fleet:";

/// Builds key names under one prefix.
#[derive(Clone, Debug)]
pub(crate) struct KeyLayout {
    prefix: String,
}

impl KeyLayout {
    pub(crate) fn new(prefix: &str) -> KeyLayout {
        KeyLayout {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Everything this crate owns starts with this.
    pub(crate) fn owned_start(&self) -> String {
        format!("{}{NAMESPACE}", self.prefix)
    }

    pub(crate) fn lease(&self, name: &str) -> String {
        format!("{}{NAMESPACE}lease:{name}", self.prefix)
    }

    pub(crate) fn fencing(&self, name: &str) -> String {
        format!("{}{NAMESPACE}fencing:{name}", self.prefix)
    }

    pub(crate) fn heartbeats(&self) -> String {
        format!("{}{NAMESPACE}heartbeats", self.prefix)
    }

    pub(crate) fn pause(&self) -> String {
        format!("{}{NAMESPACE}pause", self.prefix)
    }

    pub(crate) fn calls(&self, minute: i64) -> String {
        format!("{}{NAMESPACE}calls:{minute}", self.prefix)
    }

    pub(crate) fn incidents(&self) -> String {
        format!("{}{NAMESPACE}incidents", self.prefix)
    }

    /// A `SCAN MATCH` pattern for every owned key, with the prefix's glob characters escaped.
    pub(crate) fn scan_pattern(&self) -> String {
        let mut pattern = String::new();
        for character in self.owned_start().chars() {
            if matches!(character, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(character);
        }
        pattern.push('*');
        pattern
    }

    /// Describes `key`, or `None` when it is not under this layout's namespace.
    pub(crate) fn describe(&self, key: &str) -> Option<KeyDescription> {
        let rest = key.strip_prefix(&self.owned_start())?;
        let kind = if let Some(name) = rest.strip_prefix("lease:") {
            KeyKind::Lease {
                name: name.to_owned(),
            }
        } else if let Some(name) = rest.strip_prefix("fencing:") {
            KeyKind::LeaseFencing {
                name: name.to_owned(),
            }
        } else if let Some(minute) = rest
            .strip_prefix("calls:")
            .and_then(|minute| minute.parse().ok())
        {
            KeyKind::CallCounts { minute }
        } else {
            match rest {
                "heartbeats" => KeyKind::Heartbeats,
                "pause" => KeyKind::PauseFlag,
                "incidents" => KeyKind::Incidents,
                _ => KeyKind::Unrecognised,
            }
        };
        Some(KeyDescription {
            key: key.to_owned(),
            kind,
        })
    }
}

/// What a fleet key holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum KeyKind {
    /// The lease `name` (holder, token, fencing number, expiry). Deleting it frees the lease.
    Lease {
        /// The lease's name.
        name: String,
    },
    /// The fencing counter of lease `name`. It never expires; deleting it restarts fencing
    /// numbers at 1, so delete it only together with the data the lease guarded.
    LeaseFencing {
        /// The lease's name.
        name: String,
    },
    /// Every task's last progress report.
    Heartbeats,
    /// The operator's pause flag.
    PauseFlag,
    /// Per-client call counts of one minute (`minute` = Unix ms / 60 000).
    CallCounts {
        /// The minute counted.
        minute: i64,
    },
    /// The capped list of watchdog incidents.
    Incidents,
    /// A key in the fleet namespace this version does not know (written by a newer version?).
    Unrecognised,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Lease { name } => write!(formatter, "lease {name}"),
            KeyKind::LeaseFencing { name } => write!(
                formatter,
                "fencing counter of lease {name} (deleting it restarts fencing at 1)"
            ),
            KeyKind::Heartbeats => formatter.write_str("task progress heartbeats"),
            KeyKind::PauseFlag => formatter.write_str("the operator's pause flag"),
            KeyKind::CallCounts { minute } => {
                write!(formatter, "per-client call counts of minute {minute}")
            }
            KeyKind::Incidents => formatter.write_str("watchdog incidents"),
            KeyKind::Unrecognised => formatter.write_str("unrecognised fleet key"),
        }
    }
}

/// One key this crate owns: its full name and what it holds. Made only by
/// [`crate::Fleet::list_keys`]; handed back to [`crate::Fleet::delete`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyDescription {
    key: String,
    kind: KeyKind,
}

impl KeyDescription {
    /// The full key, prefix included.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What it holds.
    pub fn kind(&self) -> &KeyKind {
        &self.kind
    }
}

impl fmt::Display for KeyDescription {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} ({})", self.key, self.kind)
    }
}
