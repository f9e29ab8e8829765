//! The worker's validated configuration, and how it is resolved from a TOML file and overrides.
//!
//! The binary turns flags and environment variables into [`Overrides`] and reads the optional
//! file into a [`FileConfig`]; [`WorkerConfig::resolve`] merges them over the defaults
//! (flags and environment win over the file) and validates everything before anything starts,
//! so a bad value is reported with the name of the setting that holds it. This module parses
//! no command line and reads no environment variable itself.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use deal_filters::Settings;
use keepa_model::{Cents, PriceType};

/// Everything the worker needs to run, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerConfig {
    /// Where Keepa answers from.
    pub keepa: KeepaSource,
    /// The SQLite database file.
    pub database: PathBuf,
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// The fleet tier's Redis, if any; `None` is the embedded tier.
    pub redis: Option<RedisUrl>,
    /// The prefix of every Redis key the worker owns.
    pub key_prefix: String,
    /// Which deals to ask Keepa for.
    pub selection: DealSelection,
    /// The seller's cost assumptions.
    pub settings: Settings,
    /// How often each task runs and when deals count as stale.
    pub schedule: Schedule,
    /// An ASIN whose analysis fails this many times is quarantined.
    pub attempt_budget: NonZeroU32,
}

/// Where Keepa answers from.
#[derive(Clone, Debug, PartialEq)]
pub enum KeepaSource {
    /// An in-process `keepa-sim` on real time: no key, no network.
    Simulated {
        /// The catalogue's seed.
        seed: u64,
        /// The simulated plan's tokens per minute.
        refill_rate: u32,
    },
    /// The real Keepa API.
    Live {
        /// The API key.
        api_key: Secret,
        /// Keepa's base URL.
        base_url: String,
    },
}

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: String) -> Secret {
        Secret(secret)
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A Redis URL, checked for its scheme; `Display` hides any password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Checks the scheme (`redis://`, `rediss://` or `unix://`).
    ///
    /// # Errors
    ///
    /// When the scheme is anything else.
    pub fn parse(url: &str) -> Result<RedisUrl, ConfigError> {
        let url = url.trim();
        let known = ["redis://", "rediss://", "unix://"];
        if !known.iter().any(|scheme| url.starts_with(scheme)) || url.len() <= "redis://".len() {
            return Err(ConfigError::Invalid {
                setting: "redis_url",
                problem: format!(
                    "`{}` is not a redis url; expected redis://HOST:PORT/ (or rediss://, unix://)",
                    redact_url(url)
                ),
            });
        }
        // The scheme alone is not enough: `redis://:pw@[bad/` must be refused here, with the
        // other configuration errors, not when the worker first connects.
        if let Err(error) = deadpool_redis::redis::IntoConnectionInfo::into_connection_info(url) {
            return Err(ConfigError::Invalid {
                setting: "redis_url",
                problem: format!(
                    "`{}` is not a valid redis url ({}); expected redis://[:PASSWORD@]HOST:PORT[/DB]",
                    redact_url(url),
                    error.category()
                ),
            });
        }
        Ok(RedisUrl(url.to_owned()))
    }

    /// The URL itself, for the one place that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// `scheme://user:password@host` → `scheme://user:***@host`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

/// The `/deal` query: what the seller wants to hear about.
#[derive(Clone, Debug, PartialEq)]
pub struct DealSelection {
    /// Keepa's marketplace id (1 = amazon.com).
    pub domain_id: u8,
    /// The one price type the query watches.
    pub price_type: PriceType,
    /// Keepa's `dateRange`: 0 day, 1 week, 2 month, 3 three months.
    pub date_range: u8,
    /// Current price bounds.
    pub current_range: Option<(Cents, Cents)>,
    /// Sales rank bounds.
    pub sales_rank_range: Option<(i64, i64)>,
    /// Root categories to include; empty means all.
    pub root_categories: Vec<u64>,
    /// Discovery reads at most this many pages per run.
    pub max_pages_per_run: NonZeroU32,
}

/// How often tasks run and when deals count as stale or gone.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Between discovery runs.
    pub discovery_every: Duration,
    /// Between refresh passes over recent deals.
    pub refresh_every: Duration,
    /// Changed deals seen within this window are refreshed in the urgent lane; older ones in
    /// the bulk lane.
    pub recent_window: Duration,
    /// Deals not seen for this long are rescued with a light refresh first.
    pub rescue_after: Duration,
    /// Deals not seen for this long are deleted by the janitor.
    pub delete_after: Duration,
    /// Between janitor passes.
    pub janitor_every: Duration,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            discovery_every: Duration::from_secs(5 * 60),
            refresh_every: Duration::from_secs(10 * 60),
            recent_window: Duration::from_secs(6 * 3600),
            rescue_after: Duration::from_secs(48 * 3600),
            delete_after: Duration::from_secs(72 * 3600),
            janitor_every: Duration::from_secs(3600),
        }
    }
}

/// The optional TOML file, every field optional. Unknown keys are errors, so a typo is caught.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The SQLite database file.
    pub database: Option<PathBuf>,
    /// Where the HTTP API listens, `HOST:PORT`.
    pub listen: Option<String>,
    /// The fleet tier's Redis URL.
    pub redis_url: Option<String>,
    /// The prefix of every Redis key.
    pub key_prefix: Option<String>,
    /// A file holding the Keepa key (one line).
    pub keepa_key_file: Option<PathBuf>,
    /// Keepa's base URL.
    pub keepa_base_url: Option<String>,
    /// The deal query.
    #[serde(default)]
    pub selection: FileSelection,
    /// The seller's cost assumptions (see `deal_filters::Settings`).
    pub settings: Option<Settings>,
    /// Task intervals and ages, as durations like `90s`, `5m`, `48h`, `3d`.
    #[serde(default)]
    pub schedule: FileSchedule,
    /// Failed analyses before an ASIN is quarantined.
    pub attempt_budget: Option<u32>,
}

/// The `[selection]` table.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSelection {
    /// Keepa's marketplace id.
    pub domain_id: Option<u8>,
    /// `used`, `new`, `amazon`, or a Keepa price-type index.
    pub price_type: Option<String>,
    /// 0–3.
    pub date_range: Option<u8>,
    /// `[min, max]` current price in cents.
    pub current_range_cents: Option<[i64; 2]>,
    /// `[min, max]` sales rank.
    pub sales_rank_range: Option<[i64; 2]>,
    /// Root category ids.
    pub root_categories: Option<Vec<u64>>,
    /// Pages per discovery run.
    pub max_pages_per_run: Option<u32>,
}

/// The `[schedule]` table.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSchedule {
    /// Between discovery runs.
    pub discovery_every: Option<String>,
    /// Between refresh passes.
    pub refresh_every: Option<String>,
    /// Deals seen within this window are refreshed urgently.
    pub recent_window: Option<String>,
    /// Age after which deals are rescued.
    pub rescue_after: Option<String>,
    /// Age after which deals are deleted.
    pub delete_after: Option<String>,
    /// Between janitor passes.
    pub janitor_every: Option<String>,
}

/// What flags and environment variables set; they win over the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// `--simulate`.
    pub simulate: bool,
    /// `--sim-seed`.
    pub sim_seed: Option<u64>,
    /// `--sim-refill-rate`.
    pub sim_refill_rate: Option<u32>,
    /// `KEEPA_API_KEY`.
    pub keepa_api_key: Option<Secret>,
    /// `--keepa-key-file`.
    pub keepa_key_file: Option<PathBuf>,
    /// `--database`.
    pub database: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--redis-url`.
    pub redis_url: Option<String>,
    /// `--key-prefix`.
    pub key_prefix: Option<String>,
}

/// Why a configuration was refused. Each variant names the setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting holds a value that cannot work.
    #[error("setting `{setting}`: {problem}")]
    Invalid {
        /// The setting's name, as written in the file or flag.
        setting: &'static str,
        /// What is wrong and what would be right.
        problem: String,
    },
    /// No Keepa key was given and the worker is not simulating.
    #[error(
        "no keepa api key: set KEEPA_API_KEY, or pass --keepa-key-file PATH (or keepa_key_file in \
         the config file); to try the worker without a key, run it with --simulate"
    )]
    MissingKey,
    /// A file named by the configuration could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Unreadable {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML file is not valid.
    #[error("config file {path} is not valid: {message}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said, with the line.
        message: String,
    },
}

/// The default database file, in the working directory.
pub const DEFAULT_DATABASE: &str = "keepa-deals.sqlite";
/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default Redis key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "keepa-deals:";
/// Keepa's API.
pub const DEFAULT_KEEPA_BASE_URL: &str = "https://api.keepa.com";
/// A simulated plan generous enough that a newcomer sees deals within a minute.
pub const DEFAULT_SIM_REFILL_RATE: u32 = 60;

impl FileConfig {
    /// Reads and parses a TOML config file.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or is not valid TOML of this shape.
    pub fn read(path: &std::path::Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            what: "config file",
            path: path.to_owned(),
            source,
        })?;
        FileConfig::parse(&text).map_err(|message| ConfigError::BadFile {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text.
    ///
    /// # Errors
    ///
    /// The parser's message, naming the line and the key.
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        toml::from_str(text).map_err(|error| error.to_string().trim().to_owned())
    }
}

impl WorkerConfig {
    /// Merges the file and the overrides over the defaults and validates the result.
    ///
    /// # Errors
    ///
    /// The first setting found invalid, or [`ConfigError::MissingKey`].
    pub fn resolve(file: FileConfig, overrides: Overrides) -> Result<WorkerConfig, ConfigError> {
        let keepa = if overrides.simulate {
            KeepaSource::Simulated {
                seed: overrides.sim_seed.unwrap_or(1),
                refill_rate: positive_u32(
                    "sim_refill_rate",
                    overrides.sim_refill_rate.unwrap_or(DEFAULT_SIM_REFILL_RATE),
                )?,
            }
        } else {
            let api_key = match (
                overrides.keepa_api_key,
                overrides.keepa_key_file.or(file.keepa_key_file),
            ) {
                (Some(key), _) => key,
                (None, Some(path)) => read_key_file(&path)?,
                (None, None) => return Err(ConfigError::MissingKey),
            };
            if api_key.expose().trim().is_empty()
                || api_key.expose().chars().any(char::is_whitespace)
            {
                return Err(ConfigError::Invalid {
                    setting: "keepa_api_key",
                    problem: "the key is empty or contains whitespace".to_owned(),
                });
            }
            KeepaSource::Live {
                api_key,
                base_url: file
                    .keepa_base_url
                    .unwrap_or_else(|| DEFAULT_KEEPA_BASE_URL.to_owned()),
            }
        };

        let listen_text = overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::Invalid {
                setting: "listen",
                problem: format!(
                    "`{listen_text}` is not HOST:PORT with a numeric host, e.g. 127.0.0.1:8080"
                ),
            })?;
        let redis = overrides
            .redis_url
            .or(file.redis_url)
            .map(|url| RedisUrl::parse(&url))
            .transpose()?;
        let key_prefix = overrides
            .key_prefix
            .or(file.key_prefix)
            .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_owned());
        if key_prefix.is_empty() || key_prefix.contains(['*', '?', '[', ']', ' ']) {
            return Err(ConfigError::Invalid {
                setting: "key_prefix",
                problem: format!(
                    "`{key_prefix}` must be non-empty and free of spaces and glob characters"
                ),
            });
        }
        let settings = file.settings.unwrap_or_default();
        settings.validate().map_err(|error| ConfigError::Invalid {
            setting: "settings",
            problem: error.to_string(),
        })?;
        let attempt_budget =
            NonZeroU32::new(file.attempt_budget.unwrap_or(3)).ok_or(ConfigError::Invalid {
                setting: "attempt_budget",
                problem: "must be at least 1".to_owned(),
            })?;

        Ok(WorkerConfig {
            keepa,
            database: overrides
                .database
                .or(file.database)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATABASE)),
            listen,
            redis,
            key_prefix,
            selection: resolve_selection(file.selection)?,
            settings,
            schedule: resolve_schedule(file.schedule)?,
            attempt_budget,
        })
    }
}

impl WorkerConfig {
    /// The effective configuration as a TOML-like listing, the key redacted, for
    /// `--print-config`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let keepa = match &self.keepa {
            KeepaSource::Simulated { seed, refill_rate } => {
                format!("simulated (in-process keepa-sim, seed {seed}, {refill_rate} tokens/min)")
            }
            KeepaSource::Live { api_key, base_url } => format!("{base_url} (key {api_key})"),
        };
        let redis = self.redis.as_ref().map_or_else(
            || "none: embedded tier, in-process token bucket".to_owned(),
            ToString::to_string,
        );
        let selection = &self.selection;
        let schedule = &self.schedule;
        let lines = [
            format!("# keepa: {keepa}"),
            format!("database = {:?}", self.database.display().to_string()),
            format!("listen = \"{}\"", self.listen),
            format!("# redis_url: {redis}"),
            format!("key_prefix = {:?}", self.key_prefix),
            format!("attempt_budget = {}", self.attempt_budget),
            String::new(),
            "[selection]".to_owned(),
            format!("domain_id = {}", selection.domain_id),
            format!("price_type = \"{}\"", selection.price_type.0),
            format!("date_range = {}", selection.date_range),
            format!(
                "current_range_cents = {}",
                selection
                    .current_range
                    .map_or("none".to_owned(), |(low, high)| format!(
                        "[{}, {}]",
                        low.0, high.0
                    ))
            ),
            format!(
                "sales_rank_range = {}",
                selection
                    .sales_rank_range
                    .map_or("none".to_owned(), |(low, high)| format!("[{low}, {high}]"))
            ),
            format!("root_categories = {:?}", selection.root_categories),
            format!("max_pages_per_run = {}", selection.max_pages_per_run),
            String::new(),
            "[schedule]".to_owned(),
            format!(
                "discovery_every = \"{}s\"",
                schedule.discovery_every.as_secs()
            ),
            format!("refresh_every = \"{}s\"", schedule.refresh_every.as_secs()),
            format!("recent_window = \"{}s\"", schedule.recent_window.as_secs()),
            format!("rescue_after = \"{}s\"", schedule.rescue_after.as_secs()),
            format!("delete_after = \"{}s\"", schedule.delete_after.as_secs()),
            format!("janitor_every = \"{}s\"", schedule.janitor_every.as_secs()),
            String::new(),
            "[settings]".to_owned(),
        ];
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(
            &toml::to_string(&self.settings)
                .unwrap_or_else(|error| format!("# unprintable: {error}\n")),
        );
        out
    }
}

fn read_key_file(path: &std::path::Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        what: "keepa key file",
        path: path.to_owned(),
        source,
    })?;
    Ok(Secret::new(text.trim().to_owned()))
}

fn positive_u32(setting: &'static str, value: u32) -> Result<u32, ConfigError> {
    if value == 0 {
        return Err(ConfigError::Invalid {
            setting,
            problem: "must be at least 1".to_owned(),
        });
    }
    Ok(value)
}

fn resolve_selection(file: FileSelection) -> Result<DealSelection, ConfigError> {
    let price_type = match file.price_type.as_deref().map(str::trim) {
        None | Some("used") => PriceType::USED,
        Some("new") => PriceType::NEW,
        Some("amazon") => PriceType::AMAZON,
        Some(other) => other
            .parse::<u16>()
            .map(PriceType)
            .map_err(|_| ConfigError::Invalid {
                setting: "selection.price_type",
                problem: format!("`{other}` is not used, new, amazon or a keepa price-type index"),
            })?,
    };
    let date_range = file.date_range.unwrap_or(0);
    if date_range > 3 {
        return Err(ConfigError::Invalid {
            setting: "selection.date_range",
            problem: format!(
                "{date_range} is outside 0–3 (0 day, 1 week, 2 month, 3 three months)"
            ),
        });
    }
    let current_range = file
        .current_range_cents
        .map(|[low, high]| {
            ordered_range("selection.current_range_cents", low, high)
                .map(|(l, h)| (Cents(l), Cents(h)))
        })
        .transpose()?;
    let sales_rank_range = file
        .sales_rank_range
        .map(|[low, high]| ordered_range("selection.sales_rank_range", low, high))
        .transpose()?;
    let max_pages_per_run =
        NonZeroU32::new(file.max_pages_per_run.unwrap_or(10)).ok_or(ConfigError::Invalid {
            setting: "selection.max_pages_per_run",
            problem: "must be at least 1".to_owned(),
        })?;
    Ok(DealSelection {
        domain_id: file.domain_id.unwrap_or(1),
        price_type,
        date_range,
        current_range,
        sales_rank_range,
        root_categories: file.root_categories.unwrap_or_default(),
        max_pages_per_run,
    })
}

fn ordered_range(setting: &'static str, low: i64, high: i64) -> Result<(i64, i64), ConfigError> {
    if low < 0 || low > high {
        return Err(ConfigError::Invalid {
            setting,
            problem: format!("[{low}, {high}] must be [min, max] with 0 ≤ min ≤ max"),
        });
    }
    Ok((low, high))
}

fn resolve_schedule(file: FileSchedule) -> Result<Schedule, ConfigError> {
    let defaults = Schedule::default();
    let pick = |setting: &'static str, text: Option<String>, default: Duration| match text {
        None => Ok(default),
        Some(text) => {
            parse_duration(&text).map_err(|problem| ConfigError::Invalid { setting, problem })
        }
    };
    let schedule = Schedule {
        discovery_every: pick(
            "schedule.discovery_every",
            file.discovery_every,
            defaults.discovery_every,
        )?,
        refresh_every: pick(
            "schedule.refresh_every",
            file.refresh_every,
            defaults.refresh_every,
        )?,
        recent_window: pick(
            "schedule.recent_window",
            file.recent_window,
            defaults.recent_window,
        )?,
        rescue_after: pick(
            "schedule.rescue_after",
            file.rescue_after,
            defaults.rescue_after,
        )?,
        delete_after: pick(
            "schedule.delete_after",
            file.delete_after,
            defaults.delete_after,
        )?,
        janitor_every: pick(
            "schedule.janitor_every",
            file.janitor_every,
            defaults.janitor_every,
        )?,
    };
    if schedule.rescue_after >= schedule.delete_after {
        return Err(ConfigError::Invalid {
            setting: "schedule.rescue_after",
            problem: "must be shorter than schedule.delete_after, or stale deals are deleted before they are rescued"
                .to_owned(),
        });
    }
    Ok(schedule)
}

/// Parses `1500ms`, `90s`, `5m`, `48h` or `3d` (a whole number and one unit).
///
/// # Errors
///
/// A message saying what was expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let expected = || format!("`{text}` is not a duration like 1500ms, 90s, 5m, 48h or 3d");
    let number: u64 = number.parse().map_err(|_| expected())?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(expected()),
    };
    let millis = number.checked_mul(millis_per_unit).ok_or_else(expected)?;
    if millis == 0 {
        return Err(format!(
            "`{text}` is zero; a task interval must be positive"
        ));
    }
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simulate() -> Overrides {
        Overrides {
            simulate: true,
            ..Overrides::default()
        }
    }

    #[track_caller]
    fn check_refused(file: &str, overrides: Overrides, setting_or_text: &str) {
        let file = FileConfig::parse(file).expect("valid toml");
        let error = WorkerConfig::resolve(file, overrides).expect_err("refused");
        assert!(error.to_string().contains(setting_or_text), "{error}");
    }

    #[test]
    fn simulate_needs_nothing_else() {
        let config = WorkerConfig::resolve(FileConfig::default(), simulate()).unwrap();
        assert_eq!(config.database, PathBuf::from(DEFAULT_DATABASE));
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert!(config.redis.is_none());
        assert!(matches!(
            config.keepa,
            KeepaSource::Simulated {
                refill_rate: 60,
                ..
            }
        ));
    }

    #[test]
    fn live_without_a_key_says_how_to_give_one() {
        check_refused("", Overrides::default(), "KEEPA_API_KEY");
        check_refused("", Overrides::default(), "--simulate");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file =
            FileConfig::parse("database = \"file.sqlite\"\nlisten = \"127.0.0.1:9000\"").unwrap();
        let overrides = Overrides {
            database: Some(PathBuf::from("flag.sqlite")),
            ..simulate()
        };
        let config = WorkerConfig::resolve(file, overrides).unwrap();
        assert_eq!(config.database, PathBuf::from("flag.sqlite"));
        assert_eq!(config.listen.port(), 9000);
    }

    #[test]
    fn bad_values_name_their_setting() {
        check_refused("listen = \"localhost\"", simulate(), "setting `listen`");
        check_refused(
            "redis_url = \"http://x\"",
            simulate(),
            "setting `redis_url`",
        );
        check_refused(
            "[selection]\ndate_range = 4",
            simulate(),
            "selection.date_range",
        );
        check_refused(
            "[selection]\nprice_type = \"cheap\"",
            simulate(),
            "selection.price_type",
        );
        check_refused(
            "[selection]\ncurrent_range_cents = [500, 100]",
            simulate(),
            "current_range_cents",
        );
        check_refused(
            "[schedule]\ndiscovery_every = \"5 minutes\"",
            simulate(),
            "schedule.discovery_every",
        );
        check_refused(
            "[schedule]\nrescue_after = \"4d\"",
            simulate(),
            "schedule.rescue_after",
        );
        check_refused("[settings]\ntax_percent = 150.0", simulate(), "tax_percent");
        check_refused("key_prefix = \"a*\"", simulate(), "key_prefix");
        check_refused("attempt_budget = 0", simulate(), "attempt_budget");
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let error = FileConfig::parse("databse = \"x\"").unwrap_err();
        assert!(error.contains("databse"), "{error}");
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2hunter2".to_owned());
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
        let url = RedisUrl::parse("redis://user:hunter2@127.0.0.1:6379/").unwrap();
        assert_eq!(url.to_string(), "redis://user:***@127.0.0.1:6379/");
        assert!(!format!("{url:?}").contains("hunter2"));
        let error = RedisUrl::parse("http://user:hunter2@host").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn print_config_redacts_the_key_and_shows_every_section() {
        let overrides = Overrides {
            keepa_api_key: Some(Secret::new("hunter2hunter2".to_owned())),
            ..Overrides::default()
        };
        let text = WorkerConfig::resolve(FileConfig::default(), overrides)
            .unwrap()
            .describe();
        assert!(!text.contains("hunter2"), "{text}");
        for section in [
            "[selection]",
            "[schedule]",
            "[settings]",
            "prep_fee",
            "listen = \"127.0.0.1:8080\"",
        ] {
            assert!(text.contains(section), "{section} missing from\n{text}");
        }
    }

    #[test]
    fn durations_take_one_unit() {
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("48h"), Ok(Duration::from_secs(48 * 3600)));
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(3 * 86_400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
