//! economy-sim's integration tests: short runs of each policy that show the harness measures
//! what it claims. All time is the paused tokio clock inside each run; nothing sleeps.

mod harness;
mod report;
