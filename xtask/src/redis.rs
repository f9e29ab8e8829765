//! The private `redis-server` that `test` and `bench` run against.
//!
//! Makes sure the program is installed (installing the Debian package when running as root),
//! starts it on a free loopback port with persistence off, waits until it answers `PING`, and
//! stops it when the [`PrivateRedis`] guard is dropped — on success, on error and on panic —
//! or when xtask itself ends without dropping it (killed by any signal, `SIGKILL` included):
//! the server runs under a small `bash` that holds the read end of a pipe from xtask and kills
//! the server when that pipe closes, which the kernel does whenever xtask's process ends.
//! It never touches any other Redis server, and the tests themselves never poll for readiness:
//! the server is up before they start.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process;

/// The environment variable through which the tests receive the server's URL.
pub(crate) use testkit::REDIS_URL_ENV;

const PROGRAM: &str = "redis-server";
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const READY_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Another process can take the free port between our check and redis-server's bind; retry then.
const START_ATTEMPTS: usize = 3;

/// Makes sure `redis-server` is on PATH, installing the Debian package when running as root.
pub(crate) fn ensure_installed() -> Result<()> {
    if process::find_on_path(PROGRAM).is_some() {
        return Ok(());
    }
    if !running_as_root() {
        bail!(
            "{PROGRAM} is not on PATH and xtask is not running as root, so it cannot install it; \
             run `sudo apt-get install redis-server` (or install Redis with your package manager) \
             and try again"
        );
    }
    eprintln!(
        "xtask: {PROGRAM} is not on PATH; installing the Debian package redis-server (running as root)"
    );
    let apt_hint =
        "the automatic install needs Debian's apt-get; install redis-server yourself and try again";
    process::run_checked(
        process::command("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context(apt_hint)?;
    process::run_checked(
        process::command("apt-get")
            .args(["install", "-y", "redis-server"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context(apt_hint)?;
    if process::find_on_path(PROGRAM).is_none() {
        bail!(
            "apt-get installed redis-server but {PROGRAM} is still not on PATH; add /usr/bin to PATH and try again"
        );
    }
    Ok(())
}

/// Whether this process runs with effective user id 0, read from `/proc/self/status`.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| effective_uid(&status))
        == Some(0)
}

/// The effective uid from the text of `/proc/<pid>/status` (`Uid: real effective saved fs`).
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A loopback port that was free a moment ago: bind port 0, read what the OS chose, release it.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("could not bind a loopback port to find a free one")?;
    Ok(listener
        .local_addr()
        .context("could not read the bound port")?
        .port())
}

/// A running private redis-server, under the `bash` of [`testkit::KEEPER_SCRIPT`]; dropping it
/// ends both.
#[derive(Debug)]
pub(crate) struct PrivateRedis {
    /// The `bash` keeping the server.
    child: Child,
    /// The write end of the keeper's standard input: closing it ends the server.
    keeper_input: Option<ChildStdin>,
    port: u16,
}

impl PrivateRedis {
    /// Starts redis-server on a free port with persistence off, logging to `log_dir`, and returns
    /// once it answers `PING`.
    pub(crate) fn start(log_dir: &Path) -> Result<PrivateRedis> {
        ensure_installed()?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let log_path = log_dir.join(format!("redis-{port}.log"));
            let mut command = process::command("bash");
            command.args(["-c", testkit::KEEPER_SCRIPT, PROGRAM]);
            command.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]);
            command.args(["--daemonize", "no"]);
            command.arg("--dir").arg(log_dir);
            let mut child = process::spawn_logged(&mut command, Stdio::piped(), &log_path)?;
            let keeper_input = child.stdin.take();
            // From here on the guard owns the child: an early return still stops it.
            let mut server = PrivateRedis {
                child,
                keeper_input,
                port,
            };
            match server.wait_until_ready(&log_path) {
                Ok(()) => {
                    eprintln!(
                        "xtask: private redis-server ready at {} (pid {})",
                        server.url(),
                        server.child.id()
                    );
                    return Ok(server);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one attempt was made"))
    }

    /// `redis://127.0.0.1:PORT/`
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_until_ready(&mut self, log_path: &Path) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("could not check on redis-server")?
            {
                bail!(
                    "redis-server exited at start ({}); its log {} says:\n{}",
                    process::describe_status(status),
                    log_path.display(),
                    log_tail(log_path)
                );
            }
            let last_reply = match ping(self.port) {
                Ok(PingReply::Pong) => return Ok(()),
                Ok(other) => format!("{other:?}"),
                Err(error) => format!("{error:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "redis-server on port {} did not answer PING within {READY_TIMEOUT:?} (last: {last_reply}); \
                     see its log {}",
                    self.port,
                    log_path.display()
                );
            }
            std::thread::sleep(READY_POLL_INTERVAL);
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        // End of file on the keeper's input: it kills the server (persistence is off, so there
        // is nothing to flush), waits for it and exits.
        drop(self.keeper_input.take());
        match self.child.wait() {
            Ok(_) => eprintln!(
                "xtask: stopped the private redis-server (keeper pid {}, port {})",
                self.child.id(),
                self.port
            ),
            Err(error) => eprintln!(
                "xtask: could not wait for redis-server pid {}: {error}",
                self.child.id()
            ),
        }
    }
}

/// The last lines of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| format!("(could not read the log: {error})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// What a Redis server answered to an inline `PING`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PingReply {
    /// `+PONG`: ready.
    Pong,
    /// An error reply such as `-LOADING …`: up but not ready.
    Error(String),
    /// No complete line yet.
    Incomplete,
    /// Anything else: not a Redis server we understand.
    Unexpected(String),
}

/// Parses the reply to `PING\r\n` from the bytes read so far.
pub(crate) fn parse_ping_reply(bytes: &[u8]) -> PingReply {
    let Some(end) = bytes.windows(2).position(|pair| pair == b"\r\n") else {
        return PingReply::Incomplete;
    };
    let line = String::from_utf8_lossy(&bytes[..end]);
    if line == "+PONG" {
        PingReply::Pong
    } else if let Some(message) = line.strip_prefix('-') {
        PingReply::Error(message.to_owned())
    } else {
        PingReply::Unexpected(line.into_owned())
    }
}

/// Sends one inline `PING` to 127.0.0.1:`port` and reads the reply line.
fn ping(port: u16) -> Result<PingReply> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let timeout = Duration::from_millis(200);
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("could not connect to {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream
        .write_all(b"PING\r\n")
        .context("could not send PING")?;
    let mut reply = Vec::new();
    let mut buffer = [0_u8; 256];
    loop {
        let n = stream
            .read(&mut buffer)
            .context("could not read the reply to PING")?;
        if n == 0 {
            return Ok(parse_ping_reply(&reply));
        }
        reply.extend_from_slice(&buffer[..n]);
        match parse_ping_reply(&reply) {
            PingReply::Incomplete => continue,
            complete => return Ok(complete),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the redis-server logs go when no workspace metadata is at hand (tests only).
    fn temp_log_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[track_caller]
    fn check_ping(bytes: &[u8], expected: PingReply) {
        assert_eq!(
            parse_ping_reply(bytes),
            expected,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }

    #[test]
    fn ping_replies_parse() {
        check_ping(b"+PONG\r\n", PingReply::Pong);
        check_ping(b"+PONG\r\nextra", PingReply::Pong);
        check_ping(b"+PON", PingReply::Incomplete);
        check_ping(b"", PingReply::Incomplete);
        check_ping(
            b"-LOADING Redis is loading the dataset in memory\r\n",
            PingReply::Error("LOADING Redis is loading the dataset in memory".into()),
        );
        check_ping(
            b"HTTP/1.1 400 Bad Request\r\n",
            PingReply::Unexpected("HTTP/1.1 400 Bad Request".into()),
        );
    }

    #[test]
    fn effective_uid_is_the_second_uid_field() {
        let status =
            "Name:\tcat\nUmask:\t0022\nUid:\t1000\t0\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t0\t1000\t0\t0\n"), Some(1000));
        assert_eq!(effective_uid("Name:\tcat\n"), None);
        assert_eq!(effective_uid("Uid:\tgarbage\n"), None);
    }

    #[test]
    fn this_process_has_an_effective_uid() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(effective_uid(&status).is_some());
    }

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }

    #[test]
    fn the_private_server_answers_ping_and_is_gone_after_drop() {
        let dir = temp_log_dir("private-server");
        let server = PrivateRedis::start(&dir).unwrap();
        assert_eq!(ping(server.port).unwrap(), PingReply::Pong);
        assert!(server.url().starts_with("redis://127.0.0.1:"));
        let (pid, port) = (server.child.id(), server.port);
        drop(server);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the keeper pid {pid} still exists"
        );
        assert!(ping(port).is_err(), "redis-server still answers on {port}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_server_ends_when_xtask_ends_without_dropping_the_guard() {
        let dir = temp_log_dir("killed-xtask");
        let mut server = PrivateRedis::start(&dir).unwrap();
        // What the kernel does to every descriptor of a process that ends, however it ends: the
        // write end of the keeper's pipe closes. No Drop runs for it here.
        drop(server.keeper_input.take());
        server.child.wait().unwrap();
        assert!(
            ping(server.port).is_err(),
            "redis-server still answers on {}",
            server.port
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = temp_log_dir("log-tail");
        let path = dir.join("log.txt");
        let text: String = (1..=20).map(|n| format!("line {n}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let tail = log_tail(&path);
        assert!(
            tail.starts_with("line 6\n") && tail.ends_with("line 20"),
            "{tail}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
