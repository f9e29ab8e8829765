//! The scenarios of DESIGN.md §10 and issue 6, as plain data: the plan, the knobs that change
//! during the run, and how many workers run. Nothing here runs anything.

use std::time::Duration;

use serde::Serialize;

/// A named situation the quota policies are put through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// The whole run at 5 tokens/min.
    Steady5,
    /// The whole run at 25 tokens/min.
    Steady25,
    /// 5 tokens/min for the first half, 25 after (a plan upgrade while running).
    PlanChange,
    /// Every cost ×10 during the middle third of the run (the "386-token surprise").
    CostSurprise,
    /// Another program spends 40 % of the refill on the same key.
    ForeignConsumer,
    /// Every worker is stopped and started again every 2 simulated hours.
    Restart,
}

impl ScenarioKind {
    /// Every scenario, in the order the table lists them.
    pub const ALL: [ScenarioKind; 6] = [
        ScenarioKind::Steady5,
        ScenarioKind::Steady25,
        ScenarioKind::PlanChange,
        ScenarioKind::CostSurprise,
        ScenarioKind::ForeignConsumer,
        ScenarioKind::Restart,
    ];

    /// The name used on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::Steady5 => "steady-5",
            ScenarioKind::Steady25 => "steady-25",
            ScenarioKind::PlanChange => "plan-change",
            ScenarioKind::CostSurprise => "cost-surprise",
            ScenarioKind::ForeignConsumer => "foreign-consumer",
            ScenarioKind::Restart => "restart",
        }
    }

    /// The scenario called `name`, if any.
    pub fn from_name(name: &str) -> Option<ScenarioKind> {
        ScenarioKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// A scenario with its sizes filled in.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    /// Which one.
    pub kind: ScenarioKind,
    /// Simulated run length.
    #[serde(serialize_with = "as_hours")]
    pub duration: Duration,
    /// Tokens per minute at the start.
    pub refill_rate: u32,
    /// Workers sharing the key.
    pub workers: usize,
    /// Products that change on Keepa per simulated minute: the demand.
    pub deal_updates_per_minute: u32,
    /// Seeds the catalogue and the simulator's refill phase.
    pub seed: u64,
}

/// Something that happens to the simulator or the workers at an instant of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// The plan becomes this many tokens per minute.
    SetRefillRate(u32),
    /// Every cost is multiplied by this.
    SetCostMultiplier(f64),
    /// Every worker is stopped and started again.
    RestartWorkers,
}

/// The scenario's options from the command line; `None` keeps the scenario's own value.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScenarioOptions {
    /// Run length in simulated hours (default 24).
    pub hours: Option<f64>,
    /// The starting refill rate (default: the scenario's, 20 for those without one).
    pub refill_rate: Option<u32>,
    /// Workers (default 3).
    pub workers: Option<usize>,
    /// The simulator's seed (default 7).
    pub seed: Option<u64>,
}

/// The rate of scenarios whose rate is not part of their definition (Keepa's common plan).
pub const DEFAULT_REFILL_RATE: u32 = 20;

impl Scenario {
    /// `kind` with `options` applied.
    pub fn new(kind: ScenarioKind, options: ScenarioOptions) -> Scenario {
        let own_rate = match kind {
            ScenarioKind::Steady5 | ScenarioKind::PlanChange => 5,
            ScenarioKind::Steady25 => 25,
            _ => DEFAULT_REFILL_RATE,
        };
        // The steady and plan-change scenarios are defined by their rate; --refill sets the
        // others.
        let refill_rate = match kind {
            ScenarioKind::Steady5 | ScenarioKind::Steady25 | ScenarioKind::PlanChange => own_rate,
            _ => options.refill_rate.unwrap_or(own_rate),
        };
        let hours = options.hours.unwrap_or(24.0).max(1.0 / 60.0);
        Scenario {
            kind,
            duration: Duration::from_secs_f64(hours * 3600.0),
            refill_rate,
            workers: options.workers.unwrap_or(3).max(1),
            // Enough changes that analysis has work at 25/min too: work exists most of the
            // time, which is when the policies differ.
            deal_updates_per_minute: 20,
            seed: options.seed.unwrap_or(7),
        }
    }

    /// The foreign consumer's tokens per minute (0 outside its scenario).
    pub fn foreign_tokens_per_minute(&self) -> u32 {
        match self.kind {
            ScenarioKind::ForeignConsumer => self.refill_rate * 2 / 5,
            _ => 0,
        }
    }

    /// What happens when, in order.
    pub fn events(&self) -> Vec<(Duration, Event)> {
        let at = |share: f64| Duration::from_secs_f64(self.duration.as_secs_f64() * share);
        match self.kind {
            ScenarioKind::PlanChange => vec![(at(0.5), Event::SetRefillRate(25))],
            ScenarioKind::CostSurprise => vec![
                (at(1.0 / 3.0), Event::SetCostMultiplier(10.0)),
                (at(2.0 / 3.0), Event::SetCostMultiplier(1.0)),
            ],
            ScenarioKind::Restart => {
                let every = Duration::from_secs(2 * 3600);
                let mut events = Vec::new();
                let mut next = every;
                while next < self.duration {
                    events.push((next, Event::RestartWorkers));
                    next += every;
                }
                events
            }
            _ => Vec::new(),
        }
    }
}

fn as_hours<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() / 3600.0)
}
