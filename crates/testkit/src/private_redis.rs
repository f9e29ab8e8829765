//! A `redis-server` of one test's own, for the tests that kill or restart a server: the suite's
//! shared server (see [`crate::redis_url`]) must never be stopped, since other tests use it.
//!
//! The server listens on a loopback port of its own with persistence off (`--save ""
//! --appendonly no`), so a restart on the same port comes back empty, as a production Redis
//! without persistence does. Readiness is read from the server's own log on stdout ("Ready to
//! accept connections"), not polled: starting returns when the server said it listens. The wait
//! is bounded by [`STARTUP_LIMIT`] only to turn a hung start into a failure.
//!
//! It does not install Redis (`cargo xtask test` does, or says how) and never touches any server
//! it did not start. The server runs under the `bash` of [`KEEPER_SCRIPT`], so that a test
//! process killed before its guards drop (nextest ends a hung test) leaves no server behind.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a starting server may take to say it is ready before the test fails. It bounds a
/// hang; no test waits for it to pass.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// Another process may take a free port between our check and the server's bind: a fresh port
/// is tried this many times.
const START_ATTEMPTS: usize = 3;

/// The `bash` script that runs a server (`$0 "$@"`) as its child and kills it (`SIGKILL`) when
/// its own standard input, a pipe that only the starting process writes to, reaches end of
/// file; it exits when the server does, with the server's status, so a server that fails at
/// start is still seen to (within a second).
///
/// The kernel closes that pipe whenever the starting process ends, however it ends (a panic,
/// `kill -9`), so the server cannot outlive it; a guard that stops the server closes the pipe
/// and reaps the keeper. The keeper ignores `SIGINT`: a Ctrl-C, sent to the whole process group,
/// ends the starting process, and the pipe then ends the server. It kills only a server it has
/// just seen alive and has not reaped yet. Used here and by xtask's suite-wide server; `bash -c
/// KEEPER_SCRIPT redis-server ARGUMENTS…` with standard input piped.
pub const KEEPER_SCRIPT: &str = "trap '' INT; \"$0\" \"$@\" & server=$!; \
    while kill -0 $server 2>/dev/null; do \
        read -r -t 1 _; if [ $? -le 128 ]; then kill -9 $server; break; fi; \
    done; \
    wait $server";

/// bash's exit status for a program it cannot find, which the keeper passes on.
const COMMAND_NOT_FOUND: i32 = 127;

/// What redis-server logs once it accepts connections (Redis 6 and 7).
const READY_LINE: &str = "Ready to accept connections";

/// A running `redis-server` owned by one test; dropping it kills the server and reaps it.
///
/// ```no_run
/// let mut server = testkit::PrivateRedis::start();
/// let url = server.url(); // redis://127.0.0.1:PORT/
/// server.kill(); // clients now see a dead server
/// server.restart(); // the same port, no data
/// # drop(url);
/// ```
#[derive(Debug)]
pub struct PrivateRedis {
    child: Option<Kept>,
    port: u16,
}

/// A server's keeper (see [`KEEPER_SCRIPT`]) and the write end of its input.
#[derive(Debug)]
struct Kept {
    keeper: Child,
    input: ChildStdin,
}

impl Kept {
    /// Closes the keeper's input, so that it kills the server, and reaps the keeper, which
    /// reaps the server first: the port is free when this returns. Answers the keeper's exit
    /// status, which is the server's.
    fn stop(mut self) -> std::io::Result<ExitStatus> {
        drop(self.input);
        self.keeper.wait()
    }
}

impl PrivateRedis {
    /// Starts a server on a free loopback port and returns once it accepts connections.
    ///
    /// # Panics
    ///
    /// When `redis-server` is not installed, or does not start on any of a few free ports.
    #[track_caller]
    pub fn start() -> PrivateRedis {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            match spawn_ready(port) {
                Ok(child) => {
                    return PrivateRedis {
                        child: Some(child),
                        port,
                    };
                }
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "a private redis-server did not start:\n{}",
            failures.join("\n---\n")
        );
    }

    /// The server's URL, `redis://127.0.0.1:PORT/`; it stays the same across [`restart`].
    ///
    /// [`restart`]: PrivateRedis::restart
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server runs (it was started and not killed since).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (SIGKILL, as a crash or an OOM kill would) and reaps it. Its data is
    /// gone; connections to it fail. Does nothing when it is not running.
    pub fn kill(&mut self) {
        if let Some(kept) = self.child.take() {
            let _ = kept.stop();
        }
    }

    /// Kills the server if it runs and starts a new, empty one on the same port.
    ///
    /// # Panics
    ///
    /// When the new server does not start (say, another process took the port meanwhile).
    #[track_caller]
    pub fn restart(&mut self) {
        self.kill();
        match spawn_ready(self.port) {
            Ok(child) => self.child = Some(child),
            Err(failure) => panic!("the private redis-server did not restart: {failure}"),
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port that was free a moment ago: bind port 0, read what the OS chose, release it
/// (redis-server refuses `--port 0`).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
    listener.local_addr().expect("the bound address").port()
}

/// Starts redis-server on `port` and waits for its ready line; on failure, kills it and says
/// what it printed.
fn spawn_ready(port: u16) -> Result<Kept, String> {
    let mut keeper = Command::new("bash")
        .args(["-c", KEEPER_SCRIPT, "redis-server"])
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        // With no log file redis-server logs to stdout, where its ready line is read.
        .args(["--logfile", ""])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run bash to keep redis-server ({error}); install bash")
        });
    let lines = forward_lines(keeper.stdout.take().expect("piped stdout"));
    let input = keeper.stdin.take().expect("piped stdin");
    let kept = Kept { keeper, input };
    let mut said = Vec::new();
    loop {
        match lines.recv_timeout(STARTUP_LIMIT) {
            Ok(line) if line.contains(READY_LINE) => return Ok(kept),
            Ok(line) => said.push(line),
            Err(error) => {
                let status = kept.stop();
                if status.as_ref().ok().and_then(ExitStatus::code) == Some(COMMAND_NOT_FOUND) {
                    panic!("cannot run redis-server; `cargo xtask test` installs it or says how");
                }
                return Err(format!(
                    "redis-server on port {port} never said it was ready ({error}; {status:?}); it said:\n{}",
                    said.join("\n")
                ));
            }
        }
    }
}

/// Reads the server's log lines on a thread of their own. After readiness nobody listens, but
/// the thread keeps draining the pipe so that the server never blocks on a full one; it ends
/// when the server does.
fn forward_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpStream};

    use super::PrivateRedis;

    #[test]
    fn the_server_ends_when_the_process_that_started_it_ends_without_dropping_it() {
        let mut server = PrivateRedis::start();
        let port = server.port();
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("the server listens");
        let kept = server.child.take().expect("running");
        // What the kernel does to every descriptor of a process that ends, however it ends:
        // the write end of the keeper's input closes. No guard's Drop runs for it here.
        drop(kept.input);
        let mut keeper = kept.keeper;
        keeper.wait().expect("the keeper exits");
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
            "redis-server still listens on {port}"
        );
    }
}
