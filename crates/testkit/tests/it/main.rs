//! `PrivateRedis` against the real `redis-server`: it answers once started, a value written
//! before a kill is gone after the restart on the same port, and no server is left behind.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use testkit::PrivateRedis;

/// Sends one inline command and reads the first line of the reply.
fn command(port: u16, line: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.write_all(format!("{line}\r\n").as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    Ok(reply.trim_end().to_owned())
}

#[test]
fn a_killed_server_refuses_connections_and_a_restarted_one_is_empty() {
    let mut server = PrivateRedis::start();
    let port = server.port();
    assert_eq!(server.url(), format!("redis://127.0.0.1:{port}/"));
    assert_eq!(command(port, "SET probe 1").expect("redis answers"), "+OK");

    server.kill();
    assert!(!server.is_running());
    assert!(command(port, "PING").is_err(), "a killed server refuses");

    server.restart();
    assert_eq!(server.port(), port);
    assert_eq!(command(port, "PING").expect("redis answers"), "+PONG");
    assert_eq!(
        command(port, "GET probe").expect("redis answers"),
        "$-1",
        "persistence is off: the restarted server has no data"
    );

    drop(server);
    assert!(command(port, "PING").is_err(), "dropping stops the server");
}
