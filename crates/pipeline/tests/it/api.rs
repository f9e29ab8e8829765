//! The HTTP API against a temporary SQLite store: body shapes, pagination,
//! every filter and sort against a reference computed here in Rust, the
//! validity gate's acceptance cases (DESIGN.md §10), 400s that name their
//! parameter, health, metrics, limits, a store failure, and one run over a
//! real socket with graceful shutdown.

use std::cmp::Ordering;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use deal_filters::{AnalysedDeal, Trend};
use deal_store::{
    DealFilter, DealQuery, DealSource, DealStore, PageLimit, SortColumn, SortOrder, StoreOptions,
    condition_code,
};
use keepa_model::{Asin, Cents, KeepaMinute, OfferCondition, PriceType, UnixSeconds};
use pipeline::api::{self, ApiState, Health, MAX_QUERY_BYTES};
use pipeline::metrics::Metrics;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// A fixed "now" for every write.
const NOW: UnixSeconds = UnixSeconds(1_778_400_000);

/// How many valid deals the fixture holds.
const VALID_DEALS: u32 = 40;

fn asin(index: u32) -> Asin {
    format!("B{index:09}").parse().expect("a valid asin")
}

/// The `index`-th valid deal; its values vary with `index` so that every
/// filter splits the set, unknowns (`None`) occur in every nullable column and
/// sort columns have ties.
fn valid_deal(index: u32) -> AnalysedDeal {
    let i = i64::from(index);
    let every = |n: i64| i % n == 0;
    let title = match index % 4 {
        0 => format!("Garden Hose {index}"),
        1 => format!("widget {index}"),
        2 => format!("Kettle 50% off {index}"),
        _ => format!("Widget Deluxe {index}"),
    };
    AnalysedDeal {
        asin: asin(index),
        title,
        brand: match index % 3 {
            0 => Some("Acme".to_owned()),
            1 => Some("Bolt_Works".to_owned()),
            _ => None,
        },
        root_category: Some(283_155),
        keepa_last_update: Some(KeepaMinute(8_075_762)),
        analysed_at: NOW,
        refreshed_at: NOW,
        buy_price_type: PriceType::USED,
        price_now: Cents(500 + (i * 53) % 2_000),
        buy_shipping: Cents(if every(2) { 0 } else { 399 }),
        seller_id: (!every(5)).then(|| format!("SELLER{index}")),
        seller_is_fba: (!every(5)).then_some(every(2)),
        condition: match index % 5 {
            0 => None,
            1 => Some(OfferCondition::New),
            2 => Some(OfferCondition::UsedGood),
            3 => Some(OfferCondition::UsedLikeNew),
            _ => Some(OfferCondition::Collectible),
        },
        seller_quality: (!every(3)).then(|| ((i * 17) % 100) as f64 / 100.0),
        fba_fee: Cents(550),
        fba_fee_is_default: true,
        referral_fee_percent: 15.0,
        referral_fee_is_default: true,
        tax: Cents(50),
        prep_fee: Cents(275),
        inbound_shipping: Cents(399),
        all_in_cost: Cents(2_000 + i * 10),
        list_at: Some(Cents(3_000 + (i * 71) % 4_000)),
        list_at_implausible: false,
        total_fees: Some(Cents(1_000)),
        // Ties every 25 deals: the asin breaks them.
        profit: Some(Cents(100 + ((i * 37) % 25) * 20)),
        margin_percent: Some((i % 9) as f64 * 3.0),
        roi_percent: (!every(7)).then(|| ((i * 13) % 40) as f64 + 0.5),
        min_listing_price: Some(Cents(3_560)),
        one_year_average: Some(Cents(2_500 + (i * 29) % 3_000)),
        one_year_average_is_estimate: every(6),
        percent_down: (!every(5)).then(|| ((i * 11) % 60) as f64),
        inferred_sales: index % 13,
        inferred_sales_last_year: index % 5,
        offer_drops: 20,
        deal_trust_percent: (!every(4)).then(|| ((i * 3) % 100) as f64),
        price_trend: Some(Trend::Down),
        new_offer_trend: Some(Trend::Flat),
        used_offer_trend: None,
        sales_rank: (!every(8)).then(|| 1_000 * ((i * 7) % 25 + 1)),
        drops_30: (!every(6)).then_some((index % 10) as i32),
        drops_90: Some(20),
        drops_365: Some(70),
        amazon_sells: index % 4 == 1,
    }
}

/// The acceptance cases of DESIGN.md §10 that the API must hide, each made
/// attractive enough to top every sort if it leaked: profit 0 and −5 (and
/// unknown), List at unknown or 0, one-year average unknown or 0 (the old
/// system's `'-'`, `'0'` and `'0.00'`).
fn invalid_deals() -> Vec<AnalysedDeal> {
    let attractive = |index: u32| {
        let mut deal = valid_deal(index);
        deal.title = format!("Widget Garden Hose Acme invalid {index}");
        deal.profit = Some(Cents(1_000_000));
        deal.roi_percent = Some(1_000.0);
        deal.percent_down = Some(99.0);
        deal.drops_30 = Some(1_000);
        deal.sales_rank = Some(1);
        deal.deal_trust_percent = Some(100.0);
        deal.seller_quality = Some(1.0);
        deal.amazon_sells = false;
        deal.condition = None;
        deal
    };
    let cases: [fn(&mut AnalysedDeal); 7] = [
        |deal| deal.profit = Some(Cents(0)),
        |deal| deal.profit = Some(Cents(-5)),
        |deal| deal.profit = None,
        |deal| deal.list_at = None,
        |deal| deal.list_at = Some(Cents(0)),
        |deal| deal.one_year_average = None,
        |deal| deal.one_year_average = Some(Cents(0)),
    ];
    cases
        .iter()
        .zip(900..)
        .map(|(spoil, index)| {
            let mut deal = attractive(index);
            spoil(&mut deal);
            assert!(!deal.is_valid(), "case {index} must fail the gate");
            deal
        })
        .collect()
}

/// A temporary store seeded with the fixture, its API state and a health switch.
struct Seeded {
    _directory: tempfile::TempDir,
    state: ApiState,
    router: Router,
    deals: Vec<AnalysedDeal>,
    health: Arc<Mutex<Health>>,
}

async fn seeded() -> Seeded {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let store = DealStore::open(
        directory.path().join("deals.sqlite"),
        StoreOptions::default(),
    )
    .await
    .expect("a new store opens");
    let mut deals: Vec<AnalysedDeal> = (1..=VALID_DEALS).map(valid_deal).collect();
    deals.extend(invalid_deals());
    for deal in &deals {
        store
            .upsert_deal(deal.clone(), DealSource::Analysis, None, NOW)
            .await
            .expect("the deal is stored");
    }
    let health = Arc::new(Mutex::new(Health::Healthy));
    let probe = Arc::clone(&health);
    let state = ApiState::new(store, Metrics::default(), move || {
        probe.lock().expect("the health switch").clone()
    });
    Seeded {
        _directory: directory,
        router: api::router(state.clone()),
        state,
        deals,
        health,
    }
}

/// One request through the router, without a socket.
async fn request(router: &Router, method: Method, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("a valid request");
    send(router, request).await
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a readable body");
    (status, headers, body.to_vec())
}

async fn get_json(router: &Router, uri: &str) -> (StatusCode, Value) {
    let (status, headers, body) = request(router, Method::GET, uri).await;
    assert_eq!(
        headers
            .get(header::CONTENT_TYPE)
            .map(|value| value.as_bytes()),
        Some(&b"application/json"[..]),
        "{uri} answers JSON"
    );
    let json = serde_json::from_slice(&body).unwrap_or_else(|error| {
        panic!(
            "{uri}: body is not JSON ({error}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, json)
}

// ---------------------------------------------------------------------------
// The reference: what deal-store must select, computed in Rust.

/// A sort key; only keys of the same column are ever compared.
#[derive(Debug, PartialEq, PartialOrd)]
enum Key {
    Integer(i64),
    Real(f64),
    Text(String),
}

fn sort_key(deal: &AnalysedDeal, column: SortColumn) -> Option<Key> {
    let cents = |value: Option<Cents>| value.map(|cents| Key::Integer(cents.0));
    match column {
        SortColumn::Profit => cents(deal.profit),
        SortColumn::Roi => deal.roi_percent.map(Key::Real),
        SortColumn::Margin => deal.margin_percent.map(Key::Real),
        SortColumn::PercentDown => deal.percent_down.map(Key::Real),
        SortColumn::Drops30 => deal.drops_30.map(|drops| Key::Integer(drops.into())),
        SortColumn::SalesRank => deal.sales_rank.map(Key::Integer),
        SortColumn::DealTrust => deal.deal_trust_percent.map(Key::Real),
        SortColumn::SellerQuality => deal.seller_quality.map(Key::Real),
        SortColumn::ListAt => cents(deal.list_at),
        SortColumn::PriceNow => cents(Some(deal.price_now)),
        SortColumn::OneYearAverage => cents(deal.one_year_average),
        SortColumn::LastSeen | SortColumn::FirstSeen => Some(Key::Integer(NOW.0)),
        SortColumn::Title => Some(Key::Text(deal.title.clone())),
        other => panic!("sort column {other:?} is new: add it to the test's reference"),
    }
}

fn matches(deal: &AnalysedDeal, filter: &DealFilter) -> bool {
    let at_least = |value: Option<f64>, bound: Option<f64>| {
        bound.is_none_or(|bound| value.is_some_and(|value| value >= bound))
    };
    let keyword_matches = filter.keyword.as_deref().is_none_or(|keyword| {
        let needle = keyword.to_ascii_lowercase();
        [
            Some(deal.title.as_str()),
            deal.brand.as_deref(),
            Some(deal.asin.as_str()),
        ]
        .into_iter()
        .flatten()
        .any(|text| text.to_ascii_lowercase().contains(&needle))
    });
    filter
        .profit_gte
        .is_none_or(|bound| deal.profit.is_some_and(|profit| profit >= bound))
        && at_least(deal.roi_percent, filter.roi_gte)
        && at_least(deal.percent_down, filter.percent_down_gte)
        && at_least(deal.deal_trust_percent, filter.deal_trust_gte)
        && at_least(deal.seller_quality, filter.seller_quality_gte)
        && filter
            .drops_30_gte
            .is_none_or(|bound| deal.drops_30.is_some_and(|drops| drops >= bound))
        && filter
            .sales_rank_lte
            .is_none_or(|bound| deal.sales_rank.is_some_and(|rank| rank <= bound))
        && keyword_matches
        && !(filter.hide_amazon && deal.amazon_sells)
        && deal.condition.is_none_or(|condition| {
            !filter
                .exclude_conditions
                .iter()
                .any(|excluded| condition_code(*excluded) == condition_code(condition))
        })
}

/// The total and the page's ASINs the API must return for `query`.
fn reference(deals: &[AnalysedDeal], query: &DealQuery) -> (u64, Vec<String>) {
    let mut selected: Vec<&AnalysedDeal> = deals
        .iter()
        .filter(|deal| deal.is_valid() && matches(deal, &query.filter))
        .collect();
    let descending = query.order == SortOrder::Descending;
    let directed = |ordering: Ordering| {
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    };
    selected.sort_by(|left, right| {
        let by_column = match (sort_key(left, query.sort), sort_key(right, query.sort)) {
            (None, None) => Ordering::Equal,
            // Unknown values sort last in both directions.
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(left), Some(right)) => {
                directed(left.partial_cmp(&right).expect("comparable keys"))
            }
        };
        by_column.then_with(|| directed(left.asin.cmp(&right.asin)))
    });
    let total = selected.len() as u64;
    let asins = selected
        .into_iter()
        .skip(usize::try_from(query.offset()).expect("a small offset"))
        .take(query.limit.get() as usize)
        .map(|deal| deal.asin.as_str().to_owned())
        .collect();
    (total, asins)
}

fn asins_of(body: &Value) -> Vec<String> {
    body["deals"]
        .as_array()
        .expect("a deals array")
        .iter()
        .map(|deal| deal["asin"].as_str().expect("an asin").to_owned())
        .collect()
}

fn all_valid() -> DealQuery {
    DealQuery {
        limit: PageLimit::new(500).expect("500 is a valid limit"),
        ..DealQuery::default()
    }
}

// ---------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn deals_have_the_documented_shape_and_default_order() {
    let seeded = seeded().await;
    let (status, body) = get_json(&seeded.router, "/api/deals").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (total, expected) = reference(&seeded.deals, &DealQuery::default());
    assert_eq!(total, u64::from(VALID_DEALS));
    assert_eq!(
        body["pagination"],
        serde_json::json!({"total": VALID_DEALS, "page": 1, "limit": 50, "pages": 1})
    );
    assert_eq!(asins_of(&body), expected, "profit descending by default");

    // Deal 7: money as cents and display string, percentages as numbers,
    // unknown as null.
    let seven = body["deals"]
        .as_array()
        .expect("deals")
        .iter()
        .find(|deal| deal["asin"] == "B000000007")
        .expect("deal 7 is valid and listed");
    let deal = valid_deal(7);
    let profit = deal.profit.expect("a profit").0;
    assert_eq!(seven["profit_cents"], profit);
    assert_eq!(
        seven["profit_display"],
        format!("${}.{:02}", profit / 100, profit % 100)
    );
    assert_eq!(seven["list_at_cents"], deal.list_at.expect("a list at").0);
    assert_eq!(seven["price_now_cents"], deal.price_now.0);
    assert_eq!(seven["roi_percent"], Value::Null, "deal 7 has no roi");
    assert_eq!(
        seven["percent_down"],
        deal.percent_down.expect("percent down")
    );
    assert_eq!(
        seven["margin_percent"],
        deal.margin_percent.expect("margin")
    );
    assert_eq!(seven["condition"], "used_good");
    assert_eq!(seven["condition_code"], 4);
    assert_eq!(seven["brand"], "Bolt_Works");
    assert_eq!(seven["title"], deal.title);
    assert_eq!(seven["price_trend"], "down");
    assert_eq!(seven["used_offer_trend"], Value::Null);
    assert_eq!(seven["first_seen_at"], NOW.0);
    assert_eq!(seven["amazon_sells"], false);
    assert!(seven["deal_trust_percent"].is_number());
}

#[tokio::test]
async fn the_validity_gate_hides_every_acceptance_case() {
    let seeded = seeded().await;
    let invalid: Vec<String> = invalid_deals()
        .iter()
        .map(|deal| deal.asin.as_str().to_owned())
        .collect();
    for column in SortColumn::ALL {
        for order in ["asc", "desc"] {
            let uri = format!(
                "/api/deals?limit=500&sort={}&order={order}",
                column.as_str()
            );
            let (status, body) = get_json(&seeded.router, &uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {body}");
            let listed = asins_of(&body);
            assert_eq!(listed.len(), VALID_DEALS as usize, "{uri}");
            assert!(
                invalid.iter().all(|asin| !listed.contains(asin)),
                "{uri} shows an invalid deal: {listed:?}"
            );
        }
    }
    // Their title matches this keyword; only valid deals count.
    let (status, body) = get_json(&seeded.router, "/api/deal-count?keyword=invalid").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, serde_json::json!({"count": 0}))
    );
    let (_, body) = get_json(&seeded.router, "/api/deal-count").await;
    assert_eq!(body["count"], VALID_DEALS);
}

#[tokio::test]
async fn pages_cover_the_result_once_and_report_totals() {
    let seeded = seeded().await;
    for limit in [1_u32, 7, 40, 500] {
        let pages = u64::from(VALID_DEALS.div_ceil(limit));
        let mut collected = Vec::new();
        for page in 1..=pages + 1 {
            let uri = format!("/api/deals?limit={limit}&page={page}&sort=roi&order=asc");
            let (status, body) = get_json(&seeded.router, &uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {body}");
            assert_eq!(
                body["pagination"],
                serde_json::json!({"total": VALID_DEALS, "page": page, "limit": limit, "pages": pages}),
                "{uri}"
            );
            let listed = asins_of(&body);
            if page > pages {
                assert!(listed.is_empty(), "{uri}: a page past the end is empty");
            }
            collected.extend(listed);
        }
        let query = DealQuery {
            sort: SortColumn::Roi,
            order: SortOrder::Ascending,
            ..all_valid()
        };
        assert_eq!(
            collected,
            reference(&seeded.deals, &query).1,
            "limit {limit}"
        );
    }
    // Nothing matches: zero pages.
    let (_, body) = get_json(&seeded.router, "/api/deals?profit_gte=100000").await;
    assert_eq!(
        body["pagination"],
        serde_json::json!({"total": 0, "page": 1, "limit": 50, "pages": 0})
    );
}

#[tokio::test]
async fn every_sort_column_and_order_matches_the_reference() {
    let seeded = seeded().await;
    for column in SortColumn::ALL {
        for (name, order) in [
            ("asc", SortOrder::Ascending),
            ("desc", SortOrder::Descending),
        ] {
            let uri = format!("/api/deals?limit=500&sort={}&order={name}", column.as_str());
            let (status, body) = get_json(&seeded.router, &uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {body}");
            let query = DealQuery {
                sort: column,
                order,
                ..all_valid()
            };
            assert_eq!(asins_of(&body), reference(&seeded.deals, &query).1, "{uri}");
        }
    }
}

#[tokio::test]
async fn every_filter_matches_the_reference_in_deals_and_count() {
    let seeded = seeded().await;
    let cases: Vec<(&str, DealFilter)> = vec![
        (
            "profit_gte=5.00",
            DealFilter {
                profit_gte: Some(Cents(500)),
                ..DealFilter::default()
            },
        ),
        (
            "profit_gte=2.2",
            DealFilter {
                profit_gte: Some(Cents(220)),
                ..DealFilter::default()
            },
        ),
        (
            "profit_gte=-5",
            DealFilter {
                profit_gte: Some(Cents(-500)),
                ..DealFilter::default()
            },
        ),
        (
            "roi_gte=20.5",
            DealFilter {
                roi_gte: Some(20.5),
                ..DealFilter::default()
            },
        ),
        (
            "percent_down_gte=30",
            DealFilter {
                percent_down_gte: Some(30.0),
                ..DealFilter::default()
            },
        ),
        (
            "drops_30_gte=5",
            DealFilter {
                drops_30_gte: Some(5),
                ..DealFilter::default()
            },
        ),
        (
            "sales_rank_lte=10000",
            DealFilter {
                sales_rank_lte: Some(10_000),
                ..DealFilter::default()
            },
        ),
        (
            "deal_trust_gte=50",
            DealFilter {
                deal_trust_gte: Some(50.0),
                ..DealFilter::default()
            },
        ),
        (
            "seller_quality_gte=0.5",
            DealFilter {
                seller_quality_gte: Some(0.5),
                ..DealFilter::default()
            },
        ),
        (
            "keyword=WIDGET",
            DealFilter {
                keyword: Some("WIDGET".to_owned()),
                ..DealFilter::default()
            },
        ),
        (
            "keyword=acme",
            DealFilter {
                keyword: Some("acme".to_owned()),
                ..DealFilter::default()
            },
        ),
        (
            "keyword=b000000012",
            DealFilter {
                keyword: Some("b000000012".to_owned()),
                ..DealFilter::default()
            },
        ),
        (
            "keyword=garden+hose",
            DealFilter {
                keyword: Some("garden hose".to_owned()),
                ..DealFilter::default()
            },
        ),
        (
            "keyword=50%25+off",
            DealFilter {
                keyword: Some("50% off".to_owned()),
                ..DealFilter::default()
            },
        ),
        (
            "keyword=t_w",
            DealFilter {
                keyword: Some("t_w".to_owned()),
                ..DealFilter::default()
            },
        ),
        (
            "hide_amazon=true",
            DealFilter {
                hide_amazon: true,
                ..DealFilter::default()
            },
        ),
        (
            "hide_amazon=1",
            DealFilter {
                hide_amazon: true,
                ..DealFilter::default()
            },
        ),
        ("hide_amazon=false", DealFilter::default()),
        ("hide_amazon=0", DealFilter::default()),
        (
            "exclude_conditions=new,used_good",
            DealFilter {
                exclude_conditions: vec![OfferCondition::New, OfferCondition::UsedGood],
                ..DealFilter::default()
            },
        ),
        (
            "exclude_conditions=2%2Ccollectible",
            DealFilter {
                exclude_conditions: vec![OfferCondition::UsedLikeNew, OfferCondition::Collectible],
                ..DealFilter::default()
            },
        ),
        (
            "profit_gte=3&roi_gte=10&hide_amazon=1&exclude_conditions=new&sales_rank_lte=20000",
            DealFilter {
                profit_gte: Some(Cents(300)),
                roi_gte: Some(10.0),
                hide_amazon: true,
                exclude_conditions: vec![OfferCondition::New],
                sales_rank_lte: Some(20_000),
                ..DealFilter::default()
            },
        ),
        // Empty values mean "absent", as HTML forms send them.
        (
            "profit_gte=&keyword=&exclude_conditions=",
            DealFilter::default(),
        ),
    ];
    for (parameters, filter) in cases {
        let query = DealQuery {
            filter: filter.clone(),
            ..all_valid()
        };
        let (total, expected) = reference(&seeded.deals, &query);
        let selects_everything = filter == DealFilter::default() || parameters == "profit_gte=-5";
        assert!(
            total < u64::from(VALID_DEALS) || selects_everything,
            "{parameters}: the fixture must make the filter select a strict subset"
        );
        assert!(
            total > 0 || parameters.contains("b000000012"),
            "{parameters} selects something"
        );

        let uri = format!("/api/deals?limit=500&{parameters}");
        let (status, body) = get_json(&seeded.router, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert_eq!(body["pagination"]["total"], total, "{uri}");
        assert_eq!(asins_of(&body), expected, "{uri}");

        let uri = format!("/api/deal-count?{parameters}");
        let (status, body) = get_json(&seeded.router, &uri).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, serde_json::json!({"count": total})),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn bad_parameters_get_400_naming_the_parameter_and_what_is_allowed() {
    let seeded = seeded().await;
    let cases: &[(&str, &[&str])] = &[
        (
            "/api/deals?sort=price",
            &["`sort`", "\"price\"", "profit", "roi", "sales_rank"],
        ),
        ("/api/deals?sort=ROI", &["`sort`", "roi"]),
        ("/api/deals?limit=0", &["`limit`", "1 to 500"]),
        ("/api/deals?limit=501", &["`limit`", "1 to 500", "\"501\""]),
        ("/api/deals?limit=ten", &["`limit`", "1 to 500"]),
        ("/api/deals?page=0", &["`page`", "at least 1"]),
        ("/api/deals?page=-1", &["`page`", "at least 1"]),
        ("/api/deals?page=two", &["`page`"]),
        ("/api/deals?order=up", &["`order`", "`asc`", "`desc`"]),
        ("/api/deals?profit_gte=abc", &["`profit_gte`", "dollars"]),
        (
            "/api/deals?profit_gte=12.505",
            &["`profit_gte`", "two decimals"],
        ),
        ("/api/deals?profit_gte=%2412", &["`profit_gte`", "\"$12\""]),
        ("/api/deals?roi_gte=ten", &["`roi_gte`", "percent"]),
        ("/api/deals?roi_gte=NaN", &["`roi_gte`"]),
        ("/api/deals?roi_gte=inf", &["`roi_gte`"]),
        ("/api/deals?percent_down_gte=x", &["`percent_down_gte`"]),
        (
            "/api/deals?drops_30_gte=1.5",
            &["`drops_30_gte`", "whole number"],
        ),
        (
            "/api/deals?sales_rank_lte=many",
            &["`sales_rank_lte`", "whole number"],
        ),
        ("/api/deals?deal_trust_gte=high", &["`deal_trust_gte`"]),
        (
            "/api/deals?seller_quality_gte=95",
            &["`seller_quality_gte`", "0 to 1"],
        ),
        (
            "/api/deals?hide_amazon=yes",
            &["`hide_amazon`", "`true`", "`0`"],
        ),
        (
            "/api/deals?exclude_conditions=new,mint",
            &["`exclude_conditions`", "\"mint\"", "used_good"],
        ),
        (
            "/api/deals?colour=red",
            &["`colour`", "/api/deals", "profit_gte", "sort"],
        ),
        ("/api/deals?limit=5&limit=6", &["`limit`", "more than once"]),
        ("/api/deals?keyword=%ZZ", &["`keyword`", "%"]),
        ("/api/deals?keyword=%FF", &["`keyword`", "UTF-8"]),
        (
            "/api/deal-count?page=2",
            &["`page`", "/api/deal-count", "profit_gte"],
        ),
        ("/api/deal-count?sort=roi", &["`sort`", "/api/deal-count"]),
        ("/api/deal-count?profit_gte=x", &["`profit_gte`"]),
        ("/api/deal-count?hide_amazon=maybe", &["`hide_amazon`"]),
    ];
    for (uri, needles) in cases {
        let (status, body) = get_json(&seeded.router, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{uri}: {body}"));
        for needle in *needles {
            assert!(
                message.contains(needle),
                "{uri}: {message:?} should mention {needle:?}"
            );
        }
    }
}

#[tokio::test]
async fn healthz_is_200_when_healthy_and_503_with_the_reason_otherwise() {
    let seeded = seeded().await;
    let (status, body) = get_json(&seeded.router, "/healthz").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, serde_json::json!({"status": "ok"}))
    );

    *seeded.health.lock().expect("the health switch") = Health::Unhealthy {
        reason: "discovery has made no progress for 16 min".to_owned(),
    };
    let (status, body) = get_json(&seeded.router, "/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        serde_json::json!({"status": "unhealthy", "reason": "discovery has made no progress for 16 min"})
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_each_routes_latency() {
    let seeded = seeded().await;
    let _ = get_json(&seeded.router, "/api/deals?limit=3").await;
    let _ = get_json(&seeded.router, "/api/deal-count?roi_gte=bad").await;
    let _ = get_json(&seeded.router, "/nowhere/B000000001").await;
    let (status, headers, body) = request(&seeded.router, Method::GET, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .expect("a content type");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = String::from_utf8(body).expect("UTF-8 text");
    assert!(
        text.contains("# TYPE api_request_duration_seconds histogram"),
        "{text}"
    );
    for route in ["/api/deals", "/api/deal-count", "unmatched"] {
        let count = format!("api_request_duration_seconds_count{{route=\"{route}\"}} 1");
        assert!(text.contains(&count), "{count} missing from:\n{text}");
    }
    assert!(
        !text.contains("B000000001"),
        "raw paths never become labels"
    );
    // The metrics request itself is observed once it has answered.
    let (_, _, body) = request(&seeded.router, Method::GET, "/metrics").await;
    let text = String::from_utf8(body).expect("UTF-8 text");
    assert!(
        text.contains("api_request_duration_seconds_count{route=\"/metrics\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_paths_are_404_and_other_methods_405_as_json() {
    let seeded = seeded().await;
    let (status, body) = get_json(&seeded.router, "/api/deal").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let message = body["error"].as_str().expect("an error message");
    assert!(
        message.contains("/api/deals") && message.contains("/healthz"),
        "{message}"
    );

    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        for uri in ["/api/deals", "/api/deal-count", "/healthz", "/metrics"] {
            let (status, headers, body) = request(&seeded.router, method.clone(), uri).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            assert_eq!(
                headers.get(header::ALLOW).map(|value| value.as_bytes()),
                Some(&b"GET, HEAD"[..])
            );
            let body: Value = serde_json::from_slice(&body).expect("a JSON body");
            assert!(
                body["error"]
                    .as_str()
                    .is_some_and(|message| message.contains(method.as_str())),
                "{body}"
            );
        }
    }
    let (status, _, body) = request(&seeded.router, Method::HEAD, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty(), "HEAD has no body");
}

#[tokio::test]
async fn long_query_strings_and_request_bodies_are_refused() {
    let seeded = seeded().await;
    let at_limit = format!(
        "/api/deal-count?keyword={}",
        "a".repeat(MAX_QUERY_BYTES - 8)
    );
    let (status, body) = get_json(&seeded.router, &at_limit).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let over = format!("/api/deals?keyword={}", "a".repeat(MAX_QUERY_BYTES));
    let (status, body) = get_json(&seeded.router, &over).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|message| message.contains("4096")),
        "{body}"
    );

    let with_body = Request::builder()
        .method(Method::GET)
        .uri("/api/deals")
        .header(header::CONTENT_LENGTH, "5")
        .body(Body::from("hello"))
        .expect("a request");
    let (status, _, body) = send(&seeded.router, with_body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|message| message.contains("bodies")),
        "{body}"
    );
}

#[tokio::test]
async fn a_store_that_cannot_be_read_is_a_503_saying_what_failed() {
    let seeded = seeded().await;
    let path = seeded.state.store.path().to_path_buf();
    // Overwrite the database in place (same inode, so the pooled connections
    // see it) with bytes that are not an SQLite database.
    // The committed pages live in the main file and the write-ahead log
    // (not checkpointed yet); both are overwritten, the shared-memory index
    // is left as it is, so the next read follows it into garbage.
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    for file in [path.clone(), wal.into()] {
        let length = std::fs::metadata(&file).map_or(0, |metadata| metadata.len());
        std::fs::write(
            &file,
            vec![0x5a_u8; usize::try_from(length).expect("a small file")],
        )
        .expect("the file is overwritten");
    }
    for uri in ["/api/deals", "/api/deal-count"] {
        let (status, body) = get_json(&seeded.router, uri).await;
        let message = body["error"].as_str().unwrap_or_default();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {message}");
        assert!(message.contains("corrupt"), "{uri}: {message}");
        assert!(!message.contains("SELECT"), "no SQL in {message}");
        assert!(
            !message.contains(&*path.to_string_lossy()),
            "no path in {message}"
        );
    }
}

#[tokio::test]
async fn reads_answer_while_the_writer_is_busy() {
    let seeded = seeded().await;
    let (entered, writer_is_busy) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    // Holds the store's one writer until released, as a long commit would.
    let store = seeded.state.store.clone();
    let busy_writer = tokio::spawn(async move {
        store
            .write(move |_writer| {
                let _ = entered.send(());
                let _ = released.recv();
                Ok(())
            })
            .await
    });
    writer_is_busy.await.expect("the writer is held");

    let (status, body) = get_json(&seeded.router, "/api/deal-count").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, serde_json::json!({"count": VALID_DEALS}))
    );
    let (status, body) = get_json(&seeded.router, "/api/deals?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(asins_of(&body).len(), 2);

    release.send(()).expect("the writer is waiting");
    busy_writer
        .await
        .expect("the writer task completes")
        .expect("the write succeeds");
}

#[tokio::test]
async fn serves_over_a_real_socket_and_shuts_down_gracefully() {
    let seeded = seeded().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("the bound address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, seeded.state.clone(), async move {
        let _ = stopped.await;
    }));

    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("the server accepts");
    stream
        .write_all(
            b"GET /api/deal-count?hide_amazon=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("the request is sent");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("the response is read");
    let response = String::from_utf8(response).expect("a text response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let query = DealQuery {
        filter: DealFilter {
            hide_amazon: true,
            ..DealFilter::default()
        },
        ..all_valid()
    };
    let expected = reference(&seeded.deals, &query).0;
    assert_eq!(
        serde_json::from_str::<Value>(body).expect("a JSON body"),
        serde_json::json!({"count": expected})
    );

    stop.send(()).expect("the server is still running");
    server
        .await
        .expect("the server task completes")
        .expect("the server stops cleanly");
}
