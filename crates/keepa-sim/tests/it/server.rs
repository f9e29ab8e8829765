//! The one test over a real socket: `serve` on 127.0.0.1:0, spoken to in plain HTTP/1.1.

use keepa_sim::Sim;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn http(address: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn the_server_answers_plain_http_and_shuts_down() {
    let sim = Sim::builder()
        .api_key("socket-key")
        .refill_rate(5)
        .tokens(50)
        .catalogue_size(50)
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(keepa_sim::serve(listener, sim.clone(), async {
        let _ = stopped.await;
    }));

    let (status, body) = http(
        address,
        "GET /token?key=socket-key HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (body["tokensLeft"].as_i64(), body["refillRate"].as_i64()),
        (Some(50), Some(5))
    );

    let selection = r#"{"domainId":1,"priceTypes":[2],"dateRange":3}"#;
    let post = format!(
        "POST /deal?key=socket-key HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{selection}",
        selection.len()
    );
    let (status, body) = http(address, &post).await;
    assert_eq!(status, 200);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["tokensConsumed"], 5);
    assert!(!body["deals"]["dr"].as_array().unwrap().is_empty());

    let (status, _) = http(
        address,
        "GET /nowhere HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 404);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert_eq!(sim.counters().requests_with("/deal", 200), 1);
}
