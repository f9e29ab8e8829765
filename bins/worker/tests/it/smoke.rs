//! `worker --simulate` on a fresh directory: it says where the database and the API are, stores
//! a deal that `/api/deal-count` then counts, and exits 0 on SIGTERM. Real time and a real
//! socket; the test waits on the worker's own output lines, never on a sleep.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Generous bounds on events that take about a second: they only turn a hang into a failure.
const STARTUP_LIMIT: Duration = Duration::from_secs(120);

struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lines(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn wait_for_line(
    receiver: &mpsc::Receiver<String>,
    needle: &str,
    seen: &mut Vec<String>,
) -> String {
    loop {
        match receiver.recv_timeout(STARTUP_LIMIT) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(error) => panic!(
                "no line containing {needle:?} ({error}); the worker said:\n{}",
                seen.join("\n")
            ),
        }
    }
}

fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("the api accepts connections");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn simulate_stores_deals_serves_them_and_stops_cleanly_on_sigterm() {
    let directory = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_worker"))
        .args(["--simulate", "--listen", "127.0.0.1:0"])
        .current_dir(directory.path())
        .env("RUST_LOG", "info")
        .env_remove("KEEPA_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the worker binary starts");
    let mut worker = Worker(child);
    let stdout = lines(worker.0.stdout.take().unwrap());
    let stderr = lines(worker.0.stderr.take().unwrap());

    let mut said = Vec::new();
    let started = wait_for_line(&stdout, "API at http://", &mut said);
    assert!(started.contains("keepa-deals.sqlite"), "{started}");
    let address = started
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the start line names the api address")
        .to_owned();

    // Each batch the worker stores is a moment to look: the first visible deal (one that passes
    // the validity gate) must show up within a few batches.
    let mut visible = 0;
    for _ in 0..50 {
        wait_for_line(&stderr, "analysis: stored", &mut said);
        let response = get(&address, "/api/deal-count");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let count: serde_json::Value = serde_json::from_str(body.trim()).expect("json");
        visible = count["count"].as_u64().expect("a count");
        if visible > 0 {
            break;
        }
    }
    assert!(
        visible > 0,
        "no stored deal became visible; the worker said:\n{}",
        said.join("\n")
    );
    assert!(directory.path().join("keepa-deals.sqlite").exists());

    let status = Command::new("kill")
        .args(["-TERM", &worker.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = worker.0.wait().expect("the worker exits");
    assert_eq!(
        exit.code(),
        Some(0),
        "the worker said:\n{}",
        said.join("\n")
    );
}

#[test]
fn without_a_key_it_says_how_to_give_one_or_simulate() {
    let directory = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_worker"))
        .current_dir(directory.path())
        .env_remove("KEEPA_API_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("KEEPA_API_KEY") && stderr.contains("--simulate"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_second_worker_on_the_same_database_names_the_first() {
    let directory = tempfile::tempdir().unwrap();
    let first = Command::new(env!("CARGO_BIN_EXE_worker"))
        .args(["--simulate", "--listen", "127.0.0.1:0"])
        .current_dir(directory.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = Worker(first);
    let stdout = lines(first.0.stdout.take().unwrap());
    wait_for_line(&stdout, "API at http://", &mut Vec::new());

    let second = Command::new(env!("CARGO_BIN_EXE_worker"))
        .args(["--simulate", "--listen", "127.0.0.1:0"])
        .current_dir(directory.path())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("pid {}", first.0.id())),
        "{stderr}"
    );
}

#[test]
fn print_config_redacts_the_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_worker"))
        .arg("--print-config")
        .env("KEEPA_API_KEY", "abcdefghij0123456789")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("[selection]"), "{stdout}");
    assert!(!stdout.contains("abcdefghij0123456789"), "{stdout}");
}

#[test]
fn bad_flags_and_files_are_clear_errors_not_panics() {
    for args in [
        vec!["--no-such-flag"],
        vec!["--simulate", "--listen", "localhost"],
        vec!["--simulate", "--redis-url", "http://nope"],
        vec!["--simulate", "--config", "/nonexistent/keepa-deals.toml"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_worker"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
