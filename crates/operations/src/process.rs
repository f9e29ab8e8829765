//! The one module through which the operators' tools touch other processes: running the
//! configured restart command through `sh -c`, sending signals with `kill(1)`, and telling
//! whether a pid is still alive.
//!
//! Signals go through the `kill` program rather than `libc::kill`: the workspace forbids
//! `unsafe`, and a restart is rare enough that one extra process costs nothing. This module
//! decides nothing: which pid to signal, and when, is the watchdog's business.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A signal the tools send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// Ask the process to stop (the worker finishes the deal in hand and exits 0).
    Terminate,
    /// Stop the process now.
    Kill,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Terminate => "TERM",
            Signal::Kill => "KILL",
        }
    }
}

/// What a shell command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutcome {
    /// Its exit code; `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// The last line it wrote on stderr (or stdout when stderr was empty), for the incident.
    pub last_line: String,
}

impl CommandOutcome {
    /// Whether it exited 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Runs `command` through `sh -c` and waits for it.
///
/// # Errors
///
/// When `sh` cannot be started.
pub fn run_shell(command: &str) -> std::io::Result<CommandOutcome> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .output()?;
    let last_line = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .map(|line| line.trim().to_owned())
    };
    Ok(CommandOutcome {
        exit_code: output.status.code(),
        last_line: last_line(&output.stderr)
            .or_else(|| last_line(&output.stdout))
            .unwrap_or_default(),
    })
}

/// Sends `signal` to `pid` with `kill -s`.
///
/// # Errors
///
/// A one-line reason when `kill` cannot be run or refuses (no such process, not permitted).
pub fn send_signal(pid: u32, signal: Signal) -> Result<(), String> {
    let output = Command::new("kill")
        .args(["-s", signal.name(), &pid.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run kill: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!(
        "kill -s {} {pid} failed: {}",
        signal.name(),
        stderr.trim()
    ))
}

/// Whether `pid` is a live process on this host. A zombie (exited, not yet reaped by its
/// parent) counts as gone. Without `/proc`, asks `kill -0`.
pub fn is_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if proc_root.join("self").exists() {
        let Ok(stat) = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")) else {
            return false;
        };
        // `pid (comm) S …`: the state follows the last `)`, since comm may hold one.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        return !matches!(state, Some("Z" | "X"));
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Waits until `pid` is gone or `grace` has passed, looking every 100 ms; answers whether it
/// is gone. This is the operators' tool waiting on a real process, not a test: it reads the
/// wall clock on purpose.
pub fn wait_for_exit(pid: u32, grace: Duration) -> bool {
    let deadline = Instant::now() + grace;
    loop {
        if !is_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Terminates `pid`: SIGTERM, then SIGKILL when it is still alive after `grace`.
///
/// # Errors
///
/// When a signal cannot be sent, or the process survives SIGKILL for another `grace`.
pub fn terminate(pid: u32, grace: Duration) -> Result<Termination, String> {
    send_signal(pid, Signal::Terminate)?;
    if wait_for_exit(pid, grace) {
        return Ok(Termination::Stopped);
    }
    send_signal(pid, Signal::Kill)?;
    if wait_for_exit(pid, grace.max(Duration::from_secs(1))) {
        return Ok(Termination::Killed);
    }
    Err(format!("pid {pid} survived SIGKILL"))
}

/// How [`terminate`] ended a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// It exited after SIGTERM, within the grace period.
    Stopped,
    /// It had to be killed with SIGKILL.
    Killed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(is_alive(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!is_alive(pid));
    }

    #[test]
    fn an_exited_but_unreaped_child_counts_as_gone() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        // `kill -0` cannot tell a zombie from a live process; /proc can.
        let gone = wait_for_exit(pid, Duration::from_secs(30));
        child.wait().unwrap();
        assert!(gone);
    }

    #[test]
    fn terminate_stops_a_process_that_obeys_sigterm() {
        let mut child = Command::new("sleep").arg("600").spawn().unwrap();
        let ended = terminate(child.id(), Duration::from_secs(30)).unwrap();
        assert_eq!(ended, Termination::Stopped);
        child.wait().unwrap();
    }

    #[test]
    fn a_shell_command_reports_its_exit_code_and_last_line() {
        let outcome = run_shell("echo first; echo 'it broke' >&2; exit 3").unwrap();
        assert_eq!(outcome.exit_code, Some(3));
        assert_eq!(outcome.last_line, "it broke");
        assert!(run_shell("true").unwrap().succeeded());
    }

    #[test]
    fn signalling_a_missing_process_is_an_error_not_a_panic() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(send_signal(pid, Signal::Terminate).is_err());
    }
}
