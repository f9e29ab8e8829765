//! Which process a piece of fleet state belongs to.
//!
//! An [`InstanceId`] is the hostname, the process id and a random suffix (so a process id reused
//! after a restart is still a different instance). It is written beside every lease and
//! heartbeat so that diagnostics can name the holder, and so that flush can tell a lease held by
//! a process that is gone. This module reads the hostname and `/proc`; it sends no signals.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The identity of one process of the fleet: `hostname:pid:suffix`.
///
/// ```
/// let me = fleet::InstanceId::current();
/// assert_eq!(me.pid(), std::process::id());
/// assert!(!me.is_local_and_dead());
/// let parsed: fleet::InstanceId = me.to_string().parse().unwrap();
/// assert_eq!(&parsed, me);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId {
    hostname: String,
    pid: u32,
    suffix: String,
}

impl InstanceId {
    /// This process, with a random suffix chosen once per process.
    pub fn current() -> &'static InstanceId {
        static CURRENT: OnceLock<InstanceId> = OnceLock::new();
        CURRENT.get_or_init(|| InstanceId {
            hostname: local_hostname().to_owned(),
            pid: std::process::id(),
            suffix: crate::random::random_hex(4),
        })
    }

    /// An instance with the given parts; the suffix is random. For tests and tools that act on
    /// behalf of several simulated processes. `:` in the hostname is replaced by `-`.
    pub fn new(hostname: &str, pid: u32) -> InstanceId {
        InstanceId {
            hostname: hostname.replace(':', "-"),
            pid,
            suffix: crate::random::random_hex(4),
        }
    }

    /// The hostname the instance ran on.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The instance's process id on its host.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The random suffix that tells apart two processes that had the same pid.
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// Whether the instance ran on this host.
    pub fn is_local(&self) -> bool {
        self.hostname == local_hostname()
    }

    /// True when the instance ran on this host and its process no longer exists (no
    /// `/proc/<pid>`). False when it is alive, when it ran elsewhere (we cannot tell), or when
    /// `/proc` is not mounted. A pid reused by an unrelated process reads as alive: the
    /// conservative answer for a tool that refuses to remove live state.
    pub fn is_local_and_dead(&self) -> bool {
        if !self.is_local() || !std::path::Path::new("/proc/self").exists() {
            return false;
        }
        !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}:{}", self.hostname, self.pid, self.suffix)
    }
}

/// An instance id that is not `hostname:pid:suffix`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an instance id (expected hostname:pid:suffix): {0:?}")]
pub struct ParseInstanceIdError(String);

impl FromStr for InstanceId {
    type Err = ParseInstanceIdError;

    fn from_str(text: &str) -> Result<InstanceId, ParseInstanceIdError> {
        let error = || ParseInstanceIdError(text.to_owned());
        let mut parts = text.rsplitn(3, ':');
        let suffix = parts.next().ok_or_else(error)?;
        let pid = parts
            .next()
            .ok_or_else(error)?
            .parse()
            .map_err(|_| error())?;
        let hostname = parts
            .next()
            .filter(|host| !host.is_empty())
            .ok_or_else(error)?;
        Ok(InstanceId {
            hostname: hostname.to_owned(),
            pid,
            suffix: suffix.to_owned(),
        })
    }
}

impl serde::Serialize for InstanceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for InstanceId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<InstanceId, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// This host's name: the kernel's, else `/etc/hostname`, else `$HOSTNAME`, else `localhost`.
pub(crate) fn local_hostname() -> &'static str {
    static HOSTNAME: OnceLock<String> = OnceLock::new();
    HOSTNAME.get_or_init(|| {
        let from_file = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .map(|text| text.trim().to_owned())
        };
        from_file("/proc/sys/kernel/hostname")
            .or_else(|| from_file("/etc/hostname"))
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|name| name.trim().replace(':', "-"))
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    })
}
