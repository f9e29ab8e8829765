//! Property: whatever the request sequence, the balance never exceeds the cap and no request is
//! admitted at a balance ≤ 0.

use std::time::Duration;

use keepa_sim::{Sim, SimRequest};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Wait(u64),
    Products(usize, bool),
    Deal,
    Token,
    RaiseRate(u32),
    Foreign(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u64..180_000).prop_map(Step::Wait),
        (1usize..40, any::<bool>()).prop_map(|(n, offers)| Step::Products(n, offers)),
        Just(Step::Deal),
        Just(Step::Token),
        (0u32..20).prop_map(Step::RaiseRate),
        (0u32..30).prop_map(Step::Foreign),
    ]
}

async fn run(refill_rate: u32, tokens: i64, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let sim = Sim::builder()
        .api_key("k")
        .seed(3)
        .refill_rate(refill_rate)
        .tokens(tokens)
        .catalogue_size(60)
        .build();
    let asins = sim.asins();
    for step in steps {
        let request = match step {
            Step::Wait(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                None
            }
            Step::RaiseRate(extra) => {
                // Plans only go up here: a downgrade leaves the balance above the new cap until
                // the next tick clamps it.
                sim.update_knobs(|knobs| knobs.refill_rate += extra);
                None
            }
            Step::Foreign(per_minute) => {
                sim.update_knobs(|knobs| knobs.foreign_tokens_per_minute = per_minute);
                None
            }
            Step::Products(n, offers) => {
                let list = asins[..n].join(",");
                let mut query = vec![
                    ("key".to_owned(), "k".to_owned()),
                    ("domain".into(), "1".into()),
                    ("asin".into(), list),
                ];
                if offers {
                    query.push(("offers".into(), "20".into()));
                }
                Some(SimRequest {
                    query,
                    ..SimRequest::get("/product", &[])
                })
            }
            Step::Deal => Some(SimRequest::get(
                "/deal",
                &[
                    ("key", "k"),
                    ("selection", r#"{"domainId":1,"priceTypes":[1]}"#),
                ],
            )),
            Step::Token => Some(SimRequest::get("/token", &[("key", "k")])),
        };
        let before = sim.token_status();
        prop_assert!(
            before.tokens_left <= before.cap,
            "balance {} above cap {}",
            before.tokens_left,
            before.cap
        );
        if let Some(request) = request {
            let is_token = request.path == "/token";
            let response = sim.handle(request).await;
            let body = response.json().unwrap();
            let consumed = body["tokensConsumed"].as_i64().unwrap();
            if consumed > 0 {
                prop_assert!(before.tokens_left > 0, "admitted at {}", before.tokens_left);
                prop_assert_eq!(
                    body["tokensLeft"].as_i64().unwrap(),
                    before.tokens_left - consumed
                );
            }
            if before.tokens_left <= 0 && !is_token {
                prop_assert_eq!(response.status, 429);
                prop_assert_eq!(consumed, 0);
            }
        }
    }
    let counters = sim.counters();
    prop_assert!(counters.max_balance <= sim.token_status().cap.max(tokens));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_balance_stays_under_the_cap_and_nothing_is_admitted_at_zero_or_below(
        refill_rate in 1u32..30,
        start_fraction in -1.0f64..1.0,
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let tokens = (start_fraction * 60.0 * f64::from(refill_rate)) as i64;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(run(refill_rate, tokens, steps))?;
    }
}
