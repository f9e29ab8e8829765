//! What one scenario × policy run measured, and how it is printed: one JSON line per run and an
//! aligned table. The figures are computed here from raw counts, so their definitions live in
//! one place.

use serde::Serialize;

/// The figures of one run. Token counts come from the simulator's own ledger.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: &'static str,
    /// The policy's name (`ours`, `legacy`, `naive`).
    pub policy: &'static str,
    /// Where "ours" kept its bucket and fleet state (`memory` or `redis`); `model` for the
    /// baselines.
    pub backend: &'static str,
    /// Simulated hours.
    pub hours: f64,
    /// Tokens per minute at the start.
    pub refill_rate: u32,
    /// Workers.
    pub workers: usize,
    /// Useful tokens ÷ the tokens that were ours to spend (refilled + starting balance − ending
    /// balance − tokens the foreign consumer took). 1.0 means no token expired at the cap and
    /// none went to a request whose answer was thrown away.
    pub utilization: f64,
    /// Tokens the simulator charged to the policy's requests, all of them answered 200 and used.
    pub useful_tokens: u64,
    /// Tokens the simulator refilled.
    pub tokens_refilled: u64,
    /// Refilled tokens that expired at the cap.
    pub tokens_wasted_at_cap: u64,
    /// Of those, the ones that expired while work was waiting.
    pub wasted_at_cap_with_work: u64,
    /// Share of simulated minutes that began with work waiting.
    pub work_share: f64,
    /// Median wait of an urgent request from asking to admission, simulated ms.
    pub urgent_wait_p50_ms: u64,
    /// 99th percentile of the same.
    pub urgent_wait_p99_ms: u64,
    /// The longest urgent wait.
    pub urgent_wait_max_ms: u64,
    /// Urgent waits measured.
    pub urgent_samples: usize,
    /// Requests the simulator refused with HTTP 429.
    pub responses_429: u64,
    /// The lowest balance the simulator saw.
    pub min_balance: i64,
    /// Distinct deals stored at the end.
    pub deals_stored: u64,
    /// Useful tokens per stored deal.
    pub tokens_per_deal: f64,
    /// Times no token was charged for 15 simulated minutes while work waited and the balance
    /// was above zero.
    pub stalls: u64,
    /// Tokens the foreign consumer spent.
    pub foreign_tokens: u64,
}

/// The value at `quantile` (0..=1) of `samples` (nearest rank); 0 without samples.
pub fn percentile(samples: &[u64], quantile: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The useful share of the tokens that were available: `useful ÷ (refilled + start − end −
/// foreign)`, 0 when nothing was available.
pub fn utilization(
    useful: u64,
    refilled: u64,
    start_balance: i64,
    end_balance: i64,
    foreign: u64,
) -> f64 {
    let available = refilled as i64 + start_balance - end_balance - foreign as i64;
    if available <= 0 {
        return 0.0;
    }
    useful as f64 / available as f64
}

/// The JSON line of a report.
pub fn json_line(report: &Report) -> String {
    serde_json::to_string(report).unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}

/// An aligned text table of `reports`, one row each.
pub fn table(reports: &[Report]) -> String {
    let header = [
        "scenario",
        "policy",
        "util %",
        "useful",
        "wasted@cap",
        "…with work",
        "work %",
        "urgent p50 s",
        "urgent p99 s",
        "429s",
        "min bal",
        "deals",
        "tok/deal",
        "stalls",
    ];
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|report| {
            vec![
                report.scenario.to_owned(),
                report.policy.to_owned(),
                format!("{:.1}", report.utilization * 100.0),
                report.useful_tokens.to_string(),
                report.tokens_wasted_at_cap.to_string(),
                report.wasted_at_cap_with_work.to_string(),
                format!("{:.0}", report.work_share * 100.0),
                format!("{:.1}", report.urgent_wait_p50_ms as f64 / 1000.0),
                format!("{:.1}", report.urgent_wait_p99_ms as f64 / 1000.0),
                report.responses_429.to_string(),
                report.min_balance.to_string(),
                report.deals_stored.to_string(),
                format!("{:.1}", report.tokens_per_deal),
                report.stalls.to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain(std::iter::once(header[column].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(column, cell)| {
                let pad = widths[column] - cell.chars().count();
                if column < 2 {
                    format!("{cell}{}", " ".repeat(pad))
                } else {
                    format!("{}{cell}", " ".repeat(pad))
                }
            })
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let mut out = String::new();
    out.push_str(&line(&header.map(str::to_owned)));
    out.push('\n');
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(column, width)| {
            if column < 2 {
                "-".repeat(*width)
            } else {
                format!("{}:", "-".repeat(width - 1))
            }
        })
        .collect();
    out.push_str(&format!("|-{}-|", rule.join("-|-")));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}
