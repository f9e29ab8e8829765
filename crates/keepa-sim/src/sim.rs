//! The socket-free simulator core: [`Sim::handle`] turns a [`SimRequest`] into a [`SimResponse`].
//!
//! One mutex guards the mutable state (the token ledger, the knobs, the update process, the
//! counters); a request takes it once, after any configured latency or hang, so admission and
//! charging happen at one simulated instant. Waiting (latency, timeouts, freeze) uses tokio's
//! timers, so it follows a paused clock. Sockets live in `server`; JSON shapes in `wire`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::catalogue::{
    self, Catalogue, History, PRICE_TYPE_COUNT, Profile, UpdateEvent, csv_type,
};
use crate::clock::{SimClock, unix_ms_to_keepa_minute};
use crate::knobs::{Counters, Knobs};
use crate::ledger::{Ledger, TICK_MS};
use crate::rng::{SplitMix64, mix};
use crate::wire::{self, ProductOptions};

/// Deals per `/deal` page, as on Keepa.
pub const DEALS_PER_PAGE: usize = 150;
/// The most ASINs one `/product` request may name.
pub const MAX_ASINS_PER_REQUEST: usize = 100;
/// Base histories kept in memory; the cache is emptied when it grows past this.
const HISTORY_CACHE_LIMIT: usize = 1024;
/// Keepa's Amazon marketplaces (`domain`/`domainId`).
const VALID_DOMAINS: [i64; 11] = [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12];

/// How a simulator is built. `Default` gives a 3,000-product catalogue, 20 tokens/min and a
/// full bucket, starting at 2026-01-01T00:00Z.
#[derive(Clone)]
#[non_exhaustive]
pub struct SimConfig {
    /// The only key the simulator accepts (never printed by `Debug`).
    pub api_key: String,
    /// Seeds the catalogue, the refill phase, deal order, updates and faults.
    pub seed: u64,
    /// Tokens per minute; overrides `knobs.refill_rate`.
    pub refill_rate: u32,
    /// The starting balance; `None` is a full bucket (60 × `refill_rate`).
    pub tokens: Option<i64>,
    /// Products in the generated catalogue.
    pub catalogue_size: usize,
    /// The Unix milliseconds the simulator's start stands for.
    pub start_unix_ms: i64,
    /// The other knobs at the start.
    pub knobs: Knobs,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: "sim-key".to_owned(),
            seed: 1,
            refill_rate: 20,
            tokens: None,
            catalogue_size: 3_000,
            start_unix_ms: 1_767_225_600_000,
            knobs: Knobs::default(),
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SimConfig")
            .field("api_key", &"<redacted>")
            .field("seed", &self.seed)
            .field("refill_rate", &self.refill_rate)
            .field("tokens", &self.tokens)
            .field("catalogue_size", &self.catalogue_size)
            .field("start_unix_ms", &self.start_unix_ms)
            .field("knobs", &self.knobs)
            .finish()
    }
}

/// Builds a [`Sim`] from a [`SimConfig`] one setting at a time.
#[derive(Debug, Default)]
pub struct SimBuilder {
    config: SimConfig,
}

impl SimBuilder {
    /// The key requests must carry in `key`.
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.config.api_key = api_key.into();
        self
    }

    /// The seed of everything random.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Tokens per minute (the plan).
    pub fn refill_rate(mut self, refill_rate: u32) -> Self {
        self.config.refill_rate = refill_rate;
        self
    }

    /// The starting balance (may exceed the cap or be negative; the next tick clamps it).
    pub fn tokens(mut self, tokens: i64) -> Self {
        self.config.tokens = Some(tokens);
        self
    }

    /// Products in the catalogue.
    pub fn catalogue_size(mut self, catalogue_size: usize) -> Self {
        self.config.catalogue_size = catalogue_size;
        self
    }

    /// The Unix milliseconds the start stands for (pass the wall clock for a real-time server).
    pub fn start_unix_ms(mut self, start_unix_ms: i64) -> Self {
        self.config.start_unix_ms = start_unix_ms;
        self
    }

    /// The knobs at the start (`refill_rate` is taken from [`SimBuilder::refill_rate`]).
    pub fn knobs(mut self, knobs: Knobs) -> Self {
        self.config.knobs = knobs;
        self
    }

    /// Generates the catalogue and starts the clock. Call it inside the tokio runtime whose
    /// clock should drive the simulator.
    pub fn build(self) -> Sim {
        Sim::new(self.config)
    }
}

/// A request as the simulator sees it, independent of any socket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimRequest {
    /// `GET` or `POST` (any other method is answered 405).
    pub method: String,
    /// The path, for example `/product`.
    pub path: String,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
    /// The request body (the `/deal` selection for POST).
    pub body: Option<Vec<u8>>,
    /// Whether the client sent `Accept-Encoding: gzip`.
    pub accept_gzip: bool,
}

impl SimRequest {
    /// A GET request with the given query parameters.
    pub fn get(path: &str, query: &[(&str, &str)]) -> Self {
        Self {
            method: "GET".to_owned(),
            path: path.to_owned(),
            query: query
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            body: None,
            accept_gzip: false,
        }
    }

    /// A POST request with the given query parameters and body.
    pub fn post(path: &str, query: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        Self {
            method: "POST".to_owned(),
            body: Some(body.into()),
            ..Self::get(path, query)
        }
    }

    /// The same request, accepting a gzipped answer.
    pub fn with_gzip(mut self) -> Self {
        self.accept_gzip = true;
        self
    }
}

/// The simulator's answer: status, headers and body bytes (gzipped when asked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimResponse {
    /// The HTTP status.
    pub status: u16,
    /// Response headers (`Content-Type`, and `Content-Encoding: gzip` when compressed).
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: Vec<u8>,
}

impl SimResponse {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body, gunzipped when it was sent with `Content-Encoding: gzip`.
    pub fn decoded_body(&self) -> std::io::Result<Vec<u8>> {
        if self.header("content-encoding") != Some("gzip") {
            return Ok(self.body.clone());
        }
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(self.body.as_slice()).read_to_end(&mut decoded)?;
        Ok(decoded)
    }

    /// The decoded body parsed as JSON.
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        let body = self.decoded_body().map_err(serde_json::Error::io)?;
        serde_json::from_slice(&body)
    }
}

/// The quota as the simulator holds it right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenStatus {
    /// The balance (may be negative).
    pub tokens_left: i64,
    /// Tokens per minute.
    pub refill_rate: i64,
    /// 60 × `refill_rate`.
    pub cap: i64,
    /// Time to the next refill tick.
    pub refill_in: Duration,
}

/// The Keepa simulator. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct Sim {
    shared: Arc<Shared>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Sim")
            .field("seed", &self.shared.seed)
            .field("catalogue_size", &self.shared.catalogue.profiles.len())
            .finish_non_exhaustive()
    }
}

struct Shared {
    api_key: String,
    seed: u64,
    clock: SimClock,
    catalogue: Catalogue,
    state: Mutex<State>,
    frozen: watch::Sender<bool>,
}

struct State {
    ledger: Ledger,
    knobs: Knobs,
    counters: Counters,
    next_update_ms: u64,
    update_rng: SplitMix64,
    fault_rng: SplitMix64,
    overlays: Vec<Vec<UpdateEvent>>,
    last_update: Vec<i64>,
    history_cache: HashMap<usize, Arc<History>>,
}

/// The faults drawn for one request before it is answered.
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    hang: Option<Duration>,
    server_error: bool,
    truncated: bool,
    non_json: bool,
}

/// A parameter Keepa would reject with 400 `invalidParameter`.
#[derive(Debug)]
struct ParamError {
    details: &'static str,
    message: String,
}

fn param_error(details: &'static str, message: impl Into<String>) -> ParamError {
    ParamError {
        details,
        message: message.into(),
    }
}

enum Call {
    Deal {
        page: usize,
        price_type: usize,
        date_range: usize,
    },
    Product {
        asins: Vec<String>,
        options: ProductOptions,
        update_hours: Option<i64>,
    },
    Token,
}

impl Sim {
    /// A builder starting from [`SimConfig::default`].
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    /// Builds a simulator from a full configuration.
    pub fn new(config: SimConfig) -> Self {
        let clock = SimClock::starting_now(config.start_unix_ms);
        let start_minute = unix_ms_to_keepa_minute(config.start_unix_ms);
        let catalogue = Catalogue::generate(config.seed, config.catalogue_size, start_minute);
        let mut knobs = config.knobs;
        knobs.refill_rate = config.refill_rate;
        let refill_rate = i64::from(config.refill_rate);
        // The per-key phase: the first refill lands 1..=59,999 ms after the start.
        let phase_ms = 1 + SplitMix64::new(mix(config.seed, 2)).below(TICK_MS - 1);
        let mut ledger = Ledger::new(
            config.tokens.unwrap_or(60 * refill_rate),
            refill_rate,
            phase_ms,
        );
        ledger.foreign_tokens_per_minute = i64::from(knobs.foreign_tokens_per_minute);
        let last_update = catalogue
            .profiles
            .iter()
            .map(|profile| profile.base_last_update)
            .collect();
        let state = State {
            ledger,
            counters: Counters::default(),
            next_update_ms: update_interval_ms(knobs.deal_updates_per_minute).unwrap_or(u64::MAX),
            update_rng: SplitMix64::new(mix(config.seed, 3)),
            fault_rng: SplitMix64::new(mix(config.seed, 4)),
            overlays: vec![Vec::new(); catalogue.profiles.len()],
            last_update,
            history_cache: HashMap::new(),
            knobs: knobs.clone(),
        };
        let (frozen, _) = watch::channel(knobs.freeze);
        Self {
            shared: Arc::new(Shared {
                api_key: config.api_key,
                seed: config.seed,
                clock,
                catalogue,
                state: Mutex::new(state),
                frozen,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough test state; keep serving.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Locks the state and brings it up to the current simulated instant.
    fn lock_now(&self) -> (MutexGuard<'_, State>, u64) {
        let mut state = self.lock();
        let elapsed_ms = self.shared.clock.elapsed_ms();
        self.advance(&mut state, elapsed_ms);
        (state, elapsed_ms)
    }

    fn advance(&self, state: &mut State, elapsed_ms: u64) {
        state.ledger.advance_to(elapsed_ms);
        let n_products = self.shared.catalogue.profiles.len() as u64;
        while state.next_update_ms <= elapsed_ms {
            let event_ms = state.next_update_ms;
            let Some(interval) = update_interval_ms(state.knobs.deal_updates_per_minute) else {
                state.next_update_ms = u64::MAX;
                break;
            };
            state.next_update_ms = event_ms + interval;
            if n_products == 0 {
                continue;
            }
            let index = state.update_rng.below(n_products) as usize;
            let minute = unix_ms_to_keepa_minute(self.shared.clock.unix_ms_at(event_ms));
            let seed = state.update_rng.next_u64();
            state.overlays[index].push(UpdateEvent { minute, seed });
            state.last_update[index] = state.last_update[index].max(minute);
            state.counters.deal_updates += 1;
        }
    }

    /// The knobs in force.
    pub fn knobs(&self) -> Knobs {
        self.lock().knobs.clone()
    }

    /// Replaces the knobs. Everything due before now is settled under the old knobs first, so a
    /// plan change affects only later refill ticks, and the balance is kept.
    pub fn set_knobs(&self, knobs: Knobs) {
        let (mut state, elapsed_ms) = self.lock_now();
        state.ledger.set_refill_rate(i64::from(knobs.refill_rate));
        state.ledger.foreign_tokens_per_minute = i64::from(knobs.foreign_tokens_per_minute);
        let interval = update_interval_ms(knobs.deal_updates_per_minute);
        match interval {
            None => state.next_update_ms = u64::MAX,
            Some(interval) if state.next_update_ms == u64::MAX => {
                state.next_update_ms = elapsed_ms + interval;
            }
            Some(_) => {}
        }
        let freeze = knobs.freeze;
        state.knobs = knobs;
        drop(state);
        self.shared.frozen.send_replace(freeze);
    }

    /// Changes some knobs: `sim.update_knobs(|knobs| knobs.refill_rate = 25)`.
    pub fn update_knobs(&self, change: impl FnOnce(&mut Knobs)) {
        let mut knobs = self.knobs();
        change(&mut knobs);
        self.set_knobs(knobs);
    }

    /// What the simulator has counted so far.
    pub fn counters(&self) -> Counters {
        let (state, _) = self.lock_now();
        let mut counters = state.counters.clone();
        counters.tokens_charged = state.ledger.tokens_charged;
        counters.tokens_refilled = state.ledger.tokens_refilled;
        counters.tokens_wasted_at_cap = state.ledger.tokens_wasted_at_cap;
        counters.foreign_tokens_spent = state.ledger.foreign_tokens_spent;
        counters.min_balance = state.ledger.min_balance;
        counters.max_balance = state.ledger.max_balance;
        counters
    }

    /// The quota now (refill ticks up to now applied).
    pub fn token_status(&self) -> TokenStatus {
        let (state, elapsed_ms) = self.lock_now();
        TokenStatus {
            tokens_left: state.ledger.balance(),
            refill_rate: state.ledger.refill_rate(),
            cap: state.ledger.cap(),
            refill_in: Duration::from_millis(state.ledger.refill_in_ms(elapsed_ms)),
        }
    }

    /// Sets the balance now, as if another program had spent or Keepa had granted tokens.
    pub fn set_tokens_left(&self, tokens_left: i64) {
        let (mut state, _) = self.lock_now();
        state.ledger.set_balance(tokens_left);
    }

    /// The simulated Unix time in milliseconds (the `timestamp` of a response sent now).
    pub fn now_unix_ms(&self) -> i64 {
        self.shared.clock.unix_ms_at(self.shared.clock.elapsed_ms())
    }

    /// The Unix milliseconds the simulator's start stands for.
    pub fn start_unix_ms(&self) -> i64 {
        self.shared.clock.start_unix_ms()
    }

    /// Every ASIN of the catalogue, in catalogue order.
    pub fn asins(&self) -> Vec<String> {
        self.shared
            .catalogue
            .profiles
            .iter()
            .map(|profile| profile.asin.clone())
            .collect()
    }

    /// Answers one request, exactly as the HTTP server would.
    pub async fn handle(&self, request: SimRequest) -> SimResponse {
        if let Some(admin_path) = request.path.strip_prefix("/_sim/") {
            return self.handle_admin(admin_path, &request);
        }
        let mut frozen = self.shared.frozen.subscribe();
        // The sender lives as long as `self`, so this only returns once unfrozen. The guard it
        // returns is dropped at once: it must not be held across the awaits below.
        drop(frozen.wait_for(|is_frozen| !*is_frozen).await);
        let (latency, faults) = {
            let mut state = self.lock();
            let faults = draw_faults(&mut state);
            (state.knobs.latency, faults)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(hang) = faults.hang {
            tokio::time::sleep(hang).await;
        }
        self.respond(&request, faults, latency)
    }

    fn respond(&self, request: &SimRequest, faults: Faults, latency: Duration) -> SimResponse {
        let (mut state, elapsed_ms) = self.lock_now();
        let processing_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        let endpoint = match request.path.as_str() {
            "/deal" | "/product" | "/token" => request.path.as_str(),
            _ => {
                state.counters.record("other", 404);
                let body = self.envelope(&state, elapsed_ms, 0, processing_ms);
                return json_response(
                    404,
                    with_error(body, "notFound", "unknown path", &request.path),
                    request,
                );
            }
        };
        let method_allowed = match endpoint {
            "/deal" => matches!(request.method.as_str(), "GET" | "POST"),
            _ => request.method == "GET",
        };
        if !method_allowed {
            state.counters.record(endpoint, 405);
            let body = self.envelope(&state, elapsed_ms, 0, processing_ms);
            return json_response(
                405,
                with_error(body, "methodNotAllowed", "method not allowed", "method"),
                request,
            );
        }
        let query = Query(&request.query);
        if query.get("key") != Some(self.shared.api_key.as_str()) {
            state.counters.record(endpoint, 400);
            return json_response(400, self.invalid_key_body(elapsed_ms), request);
        }
        let call = match parse_call(endpoint, &query, request) {
            Ok(call) => call,
            Err(error) => {
                state.counters.record(endpoint, 400);
                let body = self.envelope(&state, elapsed_ms, 0, processing_ms);
                return json_response(
                    400,
                    with_error(body, "invalidParameter", &error.message, error.details),
                    request,
                );
            }
        };
        // `/token` costs nothing and answers at any balance: it is how a client learns the quota.
        if !matches!(call, Call::Token) && !state.ledger.admits(elapsed_ms) {
            state.counters.record(endpoint, 429);
            let body = self.envelope(&state, elapsed_ms, 0, processing_ms);
            return json_response(
                429,
                with_error(body, "notEnoughToken", "not enough tokens", "tokensLeft"),
                request,
            );
        }
        if faults.server_error {
            state.counters.record(endpoint, 500);
            let body = self.envelope(&state, elapsed_ms, 0, processing_ms);
            return json_response(
                500,
                with_error(body, "serverError", "internal server error", "server"),
                request,
            );
        }
        if faults.non_json {
            state.counters.record(endpoint, 200);
            return SimResponse {
                status: 200,
                headers: vec![(
                    "Content-Type".to_owned(),
                    "text/html; charset=UTF-8".to_owned(),
                )],
                body: b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
            };
        }
        let now_minute = unix_ms_to_keepa_minute(self.shared.clock.unix_ms_at(elapsed_ms));
        let (payload, cost) = match call {
            Call::Token => (Map::new(), 0),
            Call::Deal {
                page,
                price_type,
                date_range,
            } => (
                self.deal_page(&mut state, now_minute, page, price_type, date_range),
                5,
            ),
            Call::Product {
                asins,
                options,
                update_hours,
            } => self.products(&mut state, now_minute, &asins, &options, update_hours),
        };
        let charged = charged_cost(cost, state.knobs.cost_multiplier);
        state.ledger.charge(charged);
        if state.knobs.lockout_enabled {
            let duration_ms =
                u64::try_from(state.knobs.lockout_duration.as_millis()).unwrap_or(u64::MAX);
            let threshold = state.knobs.lockout_threshold;
            state
                .ledger
                .apply_lockout(threshold, elapsed_ms, duration_ms);
        }
        state.counters.record(endpoint, 200);
        let mut body = self.envelope(&state, elapsed_ms, charged, processing_ms);
        body.extend(payload);
        drop(state);
        let mut bytes = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
        if faults.truncated {
            bytes.truncate(bytes.len() / 2);
        }
        finish_response(200, bytes, request)
    }

    fn envelope(
        &self,
        state: &State,
        elapsed_ms: u64,
        tokens_consumed: i64,
        processing_ms: u64,
    ) -> Map<String, Value> {
        let mut envelope = Map::new();
        envelope.insert(
            "timestamp".into(),
            json!(self.shared.clock.unix_ms_at(elapsed_ms)),
        );
        envelope.insert("tokensLeft".into(), json!(state.ledger.balance()));
        envelope.insert(
            "refillIn".into(),
            json!(state.ledger.refill_in_ms(elapsed_ms)),
        );
        envelope.insert("refillRate".into(), json!(state.ledger.refill_rate()));
        envelope.insert("tokenFlowReduction".into(), json!(0.0));
        envelope.insert("tokensConsumed".into(), json!(tokens_consumed));
        envelope.insert("processingTimeInMs".into(), json!(processing_ms));
        envelope
    }

    /// An invalid key answers with an envelope that carries no token information.
    fn invalid_key_body(&self, elapsed_ms: u64) -> Map<String, Value> {
        let mut envelope = Map::new();
        envelope.insert(
            "timestamp".into(),
            json!(self.shared.clock.unix_ms_at(elapsed_ms)),
        );
        for zero in [
            "tokensLeft",
            "refillIn",
            "refillRate",
            "tokensConsumed",
            "processingTimeInMs",
        ] {
            envelope.insert(zero.into(), json!(0));
        }
        envelope.insert("tokenFlowReduction".into(), json!(0.0));
        with_error(envelope, "invalidKey", "invalid API key", "key")
    }

    fn history(&self, state: &mut State, index: usize) -> History {
        let profile = &self.shared.catalogue.profiles[index];
        if state.history_cache.len() >= HISTORY_CACHE_LIMIT
            && !state.history_cache.contains_key(&index)
        {
            state.history_cache.clear();
        }
        let base = Arc::clone(
            state
                .history_cache
                .entry(index)
                .or_insert_with(|| Arc::new(catalogue::base_history(profile))),
        );
        let mut history = History::clone(&base);
        for &event in &state.overlays[index] {
            catalogue::apply_update(&mut history, profile, event);
        }
        history
    }

    fn deal_page(
        &self,
        state: &mut State,
        now_minute: i64,
        page: usize,
        price_type: usize,
        date_range: usize,
    ) -> Map<String, Value> {
        let profiles = &self.shared.catalogue.profiles;
        let window_start = now_minute - wire::DEAL_INTERVAL_DAYS[date_range] * 1440;
        let mut eligible: Vec<usize> = (0..profiles.len())
            .filter(|&index| {
                has_price_type(&profiles[index], price_type)
                    && state.last_update[index] >= window_start
            })
            .collect();
        eligible.sort_by_key(|&index| (std::cmp::Reverse(state.last_update[index]), index));

        let mut by_category: BTreeMap<i64, (&str, u64)> = BTreeMap::new();
        for &index in &eligible {
            let entry = by_category
                .entry(profiles[index].root_category)
                .or_insert((profiles[index].root_category_name, 0));
            entry.1 += 1;
        }
        let mut categories: Vec<(i64, &str, u64)> = by_category
            .into_iter()
            .map(|(id, (name, count))| (id, name, count))
            .collect();
        categories.sort_by_key(|&(id, _, count)| (std::cmp::Reverse(count), id));

        let mut on_page: Vec<usize> = eligible
            .into_iter()
            .skip(page * DEALS_PER_PAGE)
            .take(DEALS_PER_PAGE)
            .collect();
        loosen_order(
            &mut on_page,
            mix(self.shared.seed, 300) ^ ((page as u64) << 40) ^ now_minute as u64,
        );
        let deals: Vec<Value> = on_page
            .into_iter()
            .map(|index| {
                let history = self.history(state, index);
                wire::deal_json(
                    &profiles[index],
                    &history,
                    state.last_update[index],
                    now_minute,
                    date_range,
                )
            })
            .collect();
        let mut payload = Map::new();
        payload.insert(
            "deals".into(),
            json!({
                "dr": deals,
                "drDateIndex": [],
                "categoryIds": categories.iter().map(|c| c.0).collect::<Vec<_>>(),
                "categoryNames": categories.iter().map(|c| c.1).collect::<Vec<_>>(),
                "categoryCount": categories.iter().map(|c| c.2).collect::<Vec<_>>(),
            }),
        );
        payload.insert("dealsCached".into(), json!(false));
        payload
    }

    fn products(
        &self,
        state: &mut State,
        now_minute: i64,
        asins: &[String],
        options: &ProductOptions,
        update_hours: Option<i64>,
    ) -> (Map<String, Value>, i64) {
        let catalogue = &self.shared.catalogue;
        let mut cost = 0;
        let mut products = Vec::with_capacity(asins.len());
        for asin in asins {
            let Some(index) = catalogue.index_of(asin) else {
                products.push(json!({"asin": asin, "domainId": options.domain, "productType": 4, "title": null, "csv": null, "lastUpdate": 0}));
                continue;
            };
            let profile = &catalogue.profiles[index];
            let history = self.history(state, index);
            let mut offers = catalogue::live_offers(profile, &history, &catalogue.sellers);
            if let Some(wanted) = options.offers {
                offers.truncate(wanted);
                cost += 6 * offers.len().div_ceil(10).max(1) as i64;
            } else {
                cost += 1;
            }
            if options.buybox {
                cost += 2;
            }
            if options.rating && profile.has_reviews {
                cost += 1;
            }
            let last_update = state.last_update[index];
            if update_hours.is_some_and(|hours| {
                hours >= 0 && (hours == 0 || now_minute - last_update > hours * 60)
            }) {
                cost += 1;
            }
            let shown_offers: &[catalogue::Offer] = if options.offers.is_some() || options.buybox {
                &offers
            } else {
                &[]
            };
            products.push(wire::product_json(
                profile,
                &history,
                shown_offers,
                last_update,
                now_minute,
                options,
            ));
        }
        let mut payload = Map::new();
        payload.insert("products".into(), Value::Array(products));
        (payload, cost)
    }

    fn handle_admin(&self, admin_path: &str, request: &SimRequest) -> SimResponse {
        let ok = |value: Value| {
            finish_response(200, serde_json::to_vec(&value).unwrap_or_default(), request)
        };
        let bad = |message: String| {
            finish_response(
                400,
                serde_json::to_vec(&json!({"error": message})).unwrap_or_default(),
                request,
            )
        };
        let body_json = || -> Result<Value, String> {
            serde_json::from_slice(request.body.as_deref().unwrap_or(b"{}"))
                .map_err(|error| format!("invalid JSON body: {error}"))
        };
        match (request.method.as_str(), admin_path) {
            ("GET", "knobs") => ok(serde_json::to_value(self.knobs()).unwrap_or_default()),
            ("POST", "knobs") => {
                let changes = match body_json() {
                    Ok(Value::Object(changes)) => changes,
                    Ok(_) => return bad("expected a JSON object of knobs".to_owned()),
                    Err(message) => return bad(message),
                };
                let mut merged = match serde_json::to_value(self.knobs()) {
                    Ok(Value::Object(current)) => current,
                    _ => Map::new(),
                };
                merged.extend(changes);
                match serde_json::from_value::<Knobs>(Value::Object(merged)) {
                    Ok(knobs) => {
                        self.set_knobs(knobs.clone());
                        ok(serde_json::to_value(knobs).unwrap_or_default())
                    }
                    Err(error) => bad(format!("invalid knobs: {error}")),
                }
            }
            ("GET", "counters") => ok(serde_json::to_value(self.counters()).unwrap_or_default()),
            ("GET", "tokens") => ok(self.token_status_json()),
            ("POST", "tokens") => {
                match body_json().map(|body| body.get("tokensLeft").and_then(Value::as_i64)) {
                    Ok(Some(tokens_left)) => {
                        self.set_tokens_left(tokens_left);
                        ok(self.token_status_json())
                    }
                    Ok(None) => bad("expected {\"tokensLeft\": <integer>}".to_owned()),
                    Err(message) => bad(message),
                }
            }
            _ => finish_response(404, br#"{"error":"unknown admin route"}"#.to_vec(), request),
        }
    }

    fn token_status_json(&self) -> Value {
        let status = self.token_status();
        json!({
            "tokensLeft": status.tokens_left,
            "refillRate": status.refill_rate,
            "cap": status.cap,
            "refillIn": status.refill_in.as_millis() as u64,
        })
    }
}

fn update_interval_ms(updates_per_minute: u32) -> Option<u64> {
    (updates_per_minute > 0).then(|| (TICK_MS / u64::from(updates_per_minute)).max(1))
}

fn draw_faults(state: &mut State) -> Faults {
    let knobs = &state.knobs;
    let rng = &mut state.fault_rng;
    // Draw only for enabled faults, so a scenario without faults never consumes the stream.
    let mut draw = |rate: f64| rate > 0.0 && rng.chance(rate);
    let hang = draw(knobs.timeout_rate).then_some(knobs.timeout_duration);
    Faults {
        hang,
        server_error: draw(knobs.server_error_rate),
        truncated: draw(knobs.truncated_body_rate),
        non_json: draw(knobs.non_json_body_rate),
    }
}

fn charged_cost(cost: i64, multiplier: f64) -> i64 {
    if cost == 0 || !(multiplier.is_finite() && multiplier > 0.0) {
        return cost;
    }
    (cost as f64 * multiplier).ceil() as i64
}

fn has_price_type(profile: &Profile, price_type: usize) -> bool {
    match price_type {
        csv_type::AMAZON => profile.amazon_sells,
        csv_type::USED | csv_type::COUNT_USED => profile.has_used,
        csv_type::SALES => !profile.missing_rank,
        csv_type::USED_NEW_SHIPPING..=22 => profile.has_used,
        _ => true,
    }
}

/// Keepa's order within a page is newest first but loose: a few neighbours swapped, and
/// sometimes an older deal up front.
fn loosen_order(indices: &mut [usize], seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let len = indices.len();
    if len < 2 {
        return;
    }
    for position in 0..len {
        if rng.chance(0.15) {
            let other = (position + rng.between(1, 8) as usize).min(len - 1);
            indices.swap(position, other);
        }
    }
    if rng.chance(0.3) {
        let older = rng.between(len as i64 / 2, len as i64 - 1) as usize;
        indices[..=older].rotate_right(1);
    }
}

struct Query<'a>(&'a [(String, String)]);

impl Query<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn integer(&self, name: &'static str) -> Result<Option<i64>, ParamError> {
        self.get(name)
            .map(|value| {
                value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| param_error(name, format!("{name} must be an integer")))
            })
            .transpose()
    }

    fn flag(&self, name: &'static str) -> Result<bool, ParamError> {
        match self.integer(name)? {
            None | Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(_) => Err(param_error(name, format!("{name} must be 0 or 1"))),
        }
    }
}

fn parse_call(endpoint: &str, query: &Query<'_>, request: &SimRequest) -> Result<Call, ParamError> {
    match endpoint {
        "/deal" => parse_deal(query, request),
        "/product" => parse_product(query),
        _ => Ok(Call::Token),
    }
}

fn parse_deal(query: &Query<'_>, request: &SimRequest) -> Result<Call, ParamError> {
    let text = match (&request.body, query.get("selection")) {
        (Some(body), _) if request.method == "POST" && !body.is_empty() => {
            String::from_utf8(body.clone())
                .map_err(|_| param_error("selection", "the selection is not UTF-8"))?
        }
        (_, Some(selection)) => selection.to_owned(),
        _ => return Err(param_error("selection", "a deal selection is required")),
    };
    let selection: Value = serde_json::from_str(&text)
        .map_err(|error| param_error("selection", format!("invalid selection JSON: {error}")))?;
    let Value::Object(selection) = selection else {
        return Err(param_error(
            "selection",
            "the selection must be a JSON object",
        ));
    };
    let price_type = match selection.get("priceTypes") {
        Some(Value::Array(types)) if types.len() == 1 => types[0]
            .as_u64()
            .filter(|&kind| (kind as usize) < PRICE_TYPE_COUNT)
            .ok_or_else(|| param_error("priceTypes", "priceTypes must hold one valid price type"))?
            as usize,
        _ => {
            return Err(param_error(
                "priceTypes",
                "priceTypes must contain exactly one price type",
            ));
        }
    };
    let date_range = match selection.get("dateRange") {
        None => 0,
        Some(value) => value
            .as_u64()
            .filter(|&range| range <= 3)
            .ok_or_else(|| param_error("dateRange", "dateRange must be 0, 1, 2 or 3"))?
            as usize,
    };
    let page = match selection.get("page") {
        None => 0,
        Some(value) => value
            .as_u64()
            .ok_or_else(|| param_error("page", "page must be a non-negative integer"))?
            as usize,
    };
    let domain = match selection.get("domainId") {
        Some(value) => value.as_i64(),
        None => query.integer("domain")?,
    };
    if !domain.is_some_and(|domain| VALID_DOMAINS.contains(&domain)) {
        return Err(param_error(
            "domainId",
            "domainId must name a Keepa marketplace",
        ));
    }
    Ok(Call::Deal {
        page,
        price_type,
        date_range,
    })
}

fn parse_product(query: &Query<'_>) -> Result<Call, ParamError> {
    let domain = query.integer("domain")?;
    let Some(domain) = domain.filter(|domain| VALID_DOMAINS.contains(domain)) else {
        return Err(param_error(
            "domain",
            "domain must name a Keepa marketplace",
        ));
    };
    let asins: Vec<String> = query
        .get("asin")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|asin| !asin.is_empty())
        .map(str::to_owned)
        .collect();
    if asins.is_empty() {
        return Err(param_error("asin", "at least one ASIN is required"));
    }
    if asins.len() > MAX_ASINS_PER_REQUEST {
        return Err(param_error(
            "asin",
            format!("at most {MAX_ASINS_PER_REQUEST} ASINs per request"),
        ));
    }
    let positive = |name: &'static str| -> Result<Option<i64>, ParamError> {
        match query.integer(name)? {
            Some(days) if days <= 0 => Err(param_error(
                name,
                format!("{name} must be a positive number of days"),
            )),
            other => Ok(other),
        }
    };
    let offers = match query.integer("offers")? {
        None => None,
        Some(count @ 20..=100) => Some(count as usize),
        Some(_) => return Err(param_error("offers", "offers must be between 20 and 100")),
    };
    let update_hours = match query.integer("update")? {
        Some(hours) if hours < -1 => {
            return Err(param_error("update", "update must be -1 or more"));
        }
        other => other,
    };
    let options = ProductOptions {
        stats_days: positive("stats")?,
        history: match query.integer("history")? {
            None | Some(1) => true,
            Some(0) => false,
            Some(_) => return Err(param_error("history", "history must be 0 or 1")),
        },
        days: positive("days")?,
        offers,
        buybox: query.flag("buybox")?,
        rating: query.flag("rating")?,
        domain,
    };
    Ok(Call::Product {
        asins,
        options,
        update_hours,
    })
}

fn with_error(
    mut body: Map<String, Value>,
    kind: &str,
    message: &str,
    details: &str,
) -> Map<String, Value> {
    body.insert(
        "error".into(),
        json!({"type": kind, "message": message, "details": details}),
    );
    body
}

fn json_response(status: u16, body: Map<String, Value>, request: &SimRequest) -> SimResponse {
    finish_response(
        status,
        serde_json::to_vec(&Value::Object(body)).unwrap_or_default(),
        request,
    )
}

fn finish_response(status: u16, body: Vec<u8>, request: &SimRequest) -> SimResponse {
    let mut headers = vec![(
        "Content-Type".to_owned(),
        "application/json;charset=UTF-8".to_owned(),
    )];
    if !request.accept_gzip {
        return SimResponse {
            status,
            headers,
            body,
        };
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let compressed = encoder.write_all(&body).and_then(|()| encoder.finish());
    match compressed {
        Ok(compressed) => {
            headers.push(("Content-Encoding".to_owned(), "gzip".to_owned()));
            SimResponse {
                status,
                headers,
                body: compressed,
            }
        }
        Err(_) => SimResponse {
            status,
            headers,
            body,
        },
    }
}
