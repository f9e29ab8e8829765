//! The API key never appears in logs, errors (`Display`, `Debug`, source chains) or `Debug`
//! forms, whatever fails: 500s, timeouts, truncated and non-JSON bodies, invalid keys and
//! parameters. A tracing subscriber captures everything at TRACE level meanwhile.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepa_client::{ApiKey, DealQuery, Error, HttpRequest, Method};
use keepa_model::PriceType;
use token_bucket::Lane;
use tracing_subscriber::fmt::MakeWriter;

use crate::support::{KEY, client, client_with_key, sim_builder, stats_query};

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

pub(crate) struct CapturedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = CapturedWriter;
    fn make_writer(&'a self) -> CapturedWriter {
        CapturedWriter(Arc::clone(&self.0))
    }
}

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Installs a TRACE subscriber for this thread (the current-thread test runtime's).
    pub(crate) fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

/// Every way an error prints: `Display`, `Debug`, alternate `Debug`, and each source.
pub(crate) fn all_forms(error: &Error) -> String {
    let mut text = format!("{error}\n{error:?}\n{error:#?}\n");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!("{cause}\n{cause:?}\n"));
        source = cause.source();
    }
    text
}

#[tokio::test(start_paused = true)]
async fn the_key_never_appears_in_logs_or_errors() {
    let captured = Captured::default();
    let _guard = captured.install();
    let sim = sim_builder().build();
    let client = client(&sim);
    let mut printed = String::new();

    client.token_status().await.unwrap();
    let faults: [fn(&mut keepa_sim::Knobs); 4] = [
        |knobs| knobs.server_error_rate = 1.0,
        |knobs| {
            knobs.timeout_rate = 1.0;
            knobs.timeout_duration = Duration::from_secs(600);
        },
        |knobs| knobs.truncated_body_rate = 1.0,
        |knobs| knobs.non_json_body_rate = 1.0,
    ];
    for fault in faults {
        sim.set_knobs(keepa_sim::Knobs {
            refill_rate: sim.knobs().refill_rate,
            ..keepa_sim::Knobs::default()
        });
        sim.update_knobs(fault);
        let error = client
            .products(&stats_query(&sim, 0, 3), Lane::Bulk)
            .await
            .unwrap_err();
        printed.push_str(&all_forms(&error));
        let error = client
            .deals(&DealQuery::new(PriceType::USED), Lane::Urgent)
            .await
            .unwrap_err();
        printed.push_str(&all_forms(&error));
    }
    sim.set_knobs(keepa_sim::Knobs {
        refill_rate: sim.knobs().refill_rate,
        ..keepa_sim::Knobs::default()
    });
    let error = client
        .deals(&DealQuery::new(PriceType(99)), Lane::Urgent)
        .await
        .unwrap_err();
    printed.push_str(&all_forms(&error));

    let wrong_key = "WrongKeyQ1W2E3R4T5";
    let stranger = client_with_key(&sim, wrong_key);
    let error = stranger
        .products(&stats_query(&sim, 0, 1), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidKey { .. }));
    printed.push_str(&all_forms(&error));
    printed.push_str(&format!("{client:?}\n{stranger:?}\n"));

    let request = HttpRequest {
        method: Method::Get,
        path: "/token",
        query: vec![],
        body: None,
        api_key: ApiKey::new(KEY).unwrap(),
    };
    printed.push_str(&format!("{request:?}\n"));

    let logs = captured.text();
    assert!(
        logs.contains("keepa answered a server error"),
        "the failures were logged:\n{logs}"
    );
    assert!(
        logs.contains("malformed body") && logs.contains("Timeout"),
        "{logs}"
    );
    for secret in [KEY, wrong_key] {
        assert!(
            !logs.contains(secret),
            "the key leaked into the logs:\n{logs}"
        );
        assert!(
            !printed.contains(secret),
            "the key leaked into an error:\n{printed}"
        );
    }
    assert!(printed.contains("ApiKey(***)"));
}
