//! The acceptance cases of DESIGN.md §10 that concern the deal rules, each a
//! test named for what it pins (they were pinned in the system we replace).

use deal_filters::{
    AnalysedDeal, RejectionReason, Settings, SettingsError, analyse, infer_sales, parse_cents,
    price_now, screen, validity_gate,
};
use keepa_model::{
    Cents, Histories, KeepaMinute, Offer, OfferCondition, PriceType, Product, UnixSeconds,
};

use crate::support::{NOW_MINUTE, current, generated_product, now_seconds, series, stats_with};

#[test]
fn dollar_string_with_thousands_separator_parses_to_cents() {
    assert_eq!(parse_cents("$1,200.50"), Some(Cents(120_050)));
}

#[test]
fn invalid_money_string_is_unknown() {
    assert_eq!(parse_cents("invalid"), None);
}

/// A deal that passes every gate condition, to vary one field at a time.
fn valid_deal() -> AnalysedDeal {
    let mut product = generated_product(1);
    product.stats = stats_with(&[(PriceType::USED, current(1_000))]);
    let mut deal =
        analyse(&product, None, &Settings::default(), now_seconds()).expect("has a buy price");
    deal.list_at = Some(Cents(5_000));
    deal.one_year_average = Some(Cents(4_000));
    deal.profit = Some(Cents(1_000));
    deal
}

#[test]
fn api_hides_profit_zero_and_negative() {
    assert!(valid_deal().is_valid());
    for profit in [Some(Cents(0)), Some(Cents(-5)), None] {
        let deal = AnalysedDeal {
            profit,
            ..valid_deal()
        };
        assert_eq!(
            deal.validity(),
            Err(RejectionReason::NotProfitable),
            "profit {profit:?}"
        );
    }
}

#[test]
fn api_hides_list_at_missing_or_zero() {
    for list_at in [None, Some(Cents(0))] {
        let deal = AnalysedDeal {
            list_at,
            ..valid_deal()
        };
        assert_eq!(
            deal.validity(),
            Err(RejectionReason::NoListAt),
            "list at {list_at:?}"
        );
    }
}

#[test]
fn api_hides_one_year_average_dash_zero_and_zero_point_zero_zero() {
    for legacy in ["-", "0", "0.00"] {
        let deal = AnalysedDeal {
            one_year_average: parse_cents(legacy),
            ..valid_deal()
        };
        assert!(!deal.is_valid(), "one-year average {legacy:?}");
        assert_eq!(
            validity_gate(deal.profit, deal.list_at, deal.one_year_average),
            Err(RejectionReason::NoOneYearAverage)
        );
    }
}

#[test]
fn offer_drop_and_rank_drop_in_the_same_minute_make_one_sale() {
    let minute = NOW_MINUTE.0 - 10_000;
    let mut histories = Histories::default();
    histories.insert(
        PriceType::COUNT_USED,
        series(&[(minute - 60, 3), (minute, 2)]),
    );
    histories.insert(
        PriceType::SALES,
        series(&[(minute - 60, 5_000), (minute, 4_000)]),
    );
    histories.insert(PriceType::USED, series(&[(minute - 60, 1_999)]));
    let inference = infer_sales(&histories, NOW_MINUTE);
    assert_eq!(inference.sales.len(), 1);
    assert_eq!(inference.sales[0].at, KeepaMinute(minute));
    assert_eq!(inference.sales[0].price, Cents(1_999));
    assert_eq!(inference.offer_drops, 1);
}

#[test]
fn rank_drop_exactly_240_hours_later_counts_and_one_minute_more_does_not() {
    let minute = NOW_MINUTE.0 - 100_000;
    for (lag, expected_sales) in [(240 * 60, 1), (240 * 60 + 1, 0)] {
        let mut histories = Histories::default();
        histories.insert(
            PriceType::COUNT_USED,
            series(&[(minute - 60, 3), (minute, 2)]),
        );
        histories.insert(
            PriceType::SALES,
            series(&[(minute - 60, 5_000), (minute + lag, 4_000)]),
        );
        histories.insert(PriceType::USED, series(&[(minute, 1_999)]));
        assert_eq!(
            infer_sales(&histories, NOW_MINUTE).sales.len(),
            expected_sales,
            "lag {lag}"
        );
    }
}

#[test]
fn screening_buy_10_sell_20_passes_with_rank_drops_4_3_1_or_unknown() {
    for drops in [Some(4), Some(3), Some(1), None] {
        assert_eq!(
            screen(Some(Cents(1_000)), Some(Cents(2_000)), drops),
            Ok(()),
            "drops {drops:?}"
        );
    }
}

#[test]
fn screening_buy_10_sell_20_fails_with_rank_drops_0() {
    assert_eq!(
        screen(Some(Cents(1_000)), Some(Cents(2_000)), Some(0)),
        Err(RejectionReason::NoRankDrops)
    );
}

#[test]
fn screening_rejects_each_condition_with_its_reason() {
    let check = |buy: Option<i64>, sell: Option<i64>, expected| {
        assert_eq!(
            screen(buy.map(Cents), sell.map(Cents), Some(5)),
            expected,
            "buy {buy:?} sell {sell:?}"
        );
    };
    check(None, Some(2_000), Err(RejectionReason::NoBuyPrice));
    check(Some(1_000), None, Err(RejectionReason::NoSellEstimate));
    check(
        Some(500),
        Some(1_199),
        Err(RejectionReason::SellEstimateTooLow),
    );
    check(
        Some(2_300),
        Some(2_000),
        Err(RejectionReason::BuyAboveSellEstimate),
    );
    check(Some(1_800), Some(2_000), Err(RejectionReason::GainTooSmall));
    check(Some(1_000), Some(1_200), Ok(()));
}

fn product_with_used_price_and_offers(offers: Vec<Offer>) -> Product {
    let mut product = Product::new("B0TEST0001".parse().unwrap());
    product.stats = stats_with(&[(PriceType::USED, current(1_500))]);
    product.offers = offers;
    product
}

fn offer(seller: &str, price: i64, is_fba: bool) -> Offer {
    Offer {
        seller_id: seller.into(),
        condition: OfferCondition::UsedVeryGood,
        price: Cents(price),
        shipping: Some(Cents(250)),
        is_fba,
        is_prime: is_fba,
        is_amazon: false,
        is_shippable: true,
        last_seen: None,
    }
}

#[test]
fn offer_matching_the_statistics_price_gives_its_seller_and_fba_flag() {
    let settings = Settings::default();
    let product = product_with_used_price_and_offers(vec![
        offer("CHEAP", 1_400, false),
        offer("MATCH", 1_500, true),
    ]);
    let buy = price_now(&product, &settings).unwrap();
    assert_eq!(buy.seller_id.as_deref(), Some("MATCH"));
    assert_eq!(buy.is_fba, Some(true));
    assert_eq!(buy.shipping, Cents(0), "fba ships free");

    let merchant = product_with_used_price_and_offers(vec![offer("MERCHANT", 1_500, false)]);
    let buy = price_now(&merchant, &settings).unwrap();
    assert_eq!(
        (buy.seller_id.as_deref(), buy.is_fba, buy.shipping),
        (Some("MERCHANT"), Some(false), Cents(250))
    );
}

#[test]
fn no_matching_offer_gives_statistics_price_plus_default_shipping_and_unknown_seller() {
    let settings = Settings::default();
    let product = product_with_used_price_and_offers(vec![offer("OTHER", 1_499, true)]);
    let buy = price_now(&product, &settings).unwrap();
    assert_eq!(buy.price, Cents(1_500));
    assert_eq!(buy.shipping, settings.default_merchant_shipping);
    assert_eq!(buy.seller_id, None);
    assert_eq!(buy.is_fba, None);
}

#[test]
fn used_price_missing_falls_back_to_new() {
    let mut product = Product::new("B0TEST0002".parse().unwrap());
    product.stats = stats_with(&[(PriceType::NEW, current(2_000))]);
    let buy = price_now(&product, &Settings::default()).unwrap();
    assert_eq!((buy.price_type, buy.price), (PriceType::NEW, Cents(2_000)));
}

#[test]
fn no_price_at_all_is_not_a_deal() {
    let product = Product::new("B0TEST0003".parse().unwrap());
    assert_eq!(
        analyse(&product, None, &Settings::default(), UnixSeconds(0)),
        Err(RejectionReason::NoBuyPrice)
    );
}

#[test]
fn every_invalid_setting_is_rejected_naming_it() {
    let cases: [(Settings, &str); 5] = [
        (
            Settings {
                prep_fee: Cents(-1),
                ..Settings::default()
            },
            "prep_fee",
        ),
        (
            Settings {
                inbound_shipping: Cents(100_001),
                ..Settings::default()
            },
            "inbound_shipping",
        ),
        (
            Settings {
                tax_percent: f64::NAN,
                ..Settings::default()
            },
            "tax_percent",
        ),
        (
            Settings {
                markup_percent: 100.0,
                ..Settings::default()
            },
            "markup_percent",
        ),
        (
            Settings {
                default_merchant_shipping: Cents(-5),
                ..Settings::default()
            },
            "default_merchant_shipping",
        ),
    ];
    for (settings, field) in cases {
        let error: SettingsError = settings.validate().unwrap_err();
        assert!(
            error.to_string().contains(field),
            "{error} should name {field}"
        );
    }
    let too_much = Settings {
        markup_percent: 50.0,
        default_referral_percent: 50.0,
        ..Settings::default()
    };
    assert!(
        too_much
            .validate()
            .unwrap_err()
            .to_string()
            .contains("markup_percent")
    );
}

#[test]
fn rejection_codes_are_stable_and_round_trip() {
    for reason in RejectionReason::ALL {
        assert_eq!(RejectionReason::from_code(reason.as_str()), Some(reason));
    }
    assert_eq!(RejectionReason::NotProfitable.as_str(), "not_profitable");
}
