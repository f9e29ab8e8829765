//! Query-string parsing for `/api/deals` and `/api/deal-count`: the raw query
//! string in, a [`DealQuery`] or a [`ParamError`] naming the offending
//! parameter out.
//!
//! Parsing is done here rather than with axum's `Query` extractor so that
//! every 400 carries our own message: which parameter, what was given, and
//! what is allowed. Rules, for every parameter:
//!
//! - names are exact and lowercase; an unknown name is an error that lists the
//!   known ones, and a name given twice is an error;
//! - `+` is a space and `%XX` a byte; the decoded value must be UTF-8;
//! - an empty value (`profit_gte=`) means the parameter is absent, as HTML
//!   forms send empty fields;
//! - money is dollars as a decimal string with at most two decimals (`12`,
//!   `12.5`, `12.50`, `-5`), turned into integer cents without floating point;
//! - percentages are decimal numbers in percent (`25` = 25 %), finite only;
//!   `seller_quality_gte` is a share between 0 and 1.

use std::fmt::Write as _;
use std::num::NonZeroU32;

use deal_store::{DealFilter, DealQuery, MAX_PAGE_LIMIT, PageLimit, SortColumn, SortOrder};
use keepa_model::{Cents, OfferCondition};

/// The filter parameters, accepted by both deal routes.
pub const FILTER_PARAMETERS: [&str; 10] = [
    "profit_gte",
    "roi_gte",
    "percent_down_gte",
    "drops_30_gte",
    "sales_rank_lte",
    "deal_trust_gte",
    "seller_quality_gte",
    "keyword",
    "hide_amazon",
    "exclude_conditions",
];

/// The paging and sorting parameters, accepted by `/api/deals` only.
pub const PAGE_PARAMETERS: [&str; 4] = ["page", "limit", "sort", "order"];

/// The conditions `exclude_conditions` accepts by name (Keepa's numeric
/// codes are accepted too).
pub const CONDITION_NAMES: [OfferCondition; 8] = [
    OfferCondition::New,
    OfferCondition::UsedLikeNew,
    OfferCondition::UsedVeryGood,
    OfferCondition::UsedGood,
    OfferCondition::UsedAcceptable,
    OfferCondition::Refurbished,
    OfferCondition::Collectible,
    OfferCondition::Rental,
];

/// A bad query parameter: the message names the parameter and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A parameter name the route does not know.
    #[error("unknown parameter `{name}`; {route} accepts: {allowed}")]
    Unknown {
        /// The name as given (decoded).
        name: String,
        /// The route, for the message.
        route: &'static str,
        /// The accepted names, comma-separated.
        allowed: String,
    },
    /// The same parameter given more than once.
    #[error("parameter `{name}` is given more than once; give it once")]
    Repeated {
        /// The parameter's name.
        name: String,
    },
    /// A value that does not parse or is out of range.
    #[error("parameter `{name}` {expected}, got {given:?}")]
    Invalid {
        /// The parameter's name.
        name: &'static str,
        /// What the parameter accepts, as a phrase ("must be …").
        expected: String,
        /// The value as given (decoded, shortened to 64 characters).
        given: String,
    },
    /// A name or value whose percent-encoding is broken or not UTF-8.
    #[error("the query string is not valid: {detail}")]
    Encoding {
        /// What is wrong and where.
        detail: String,
    },
}

/// Which route the parameters are for: they differ in the paging parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/api/deals`: filters, paging and sorting.
    Deals,
    /// `/api/deal-count`: filters only.
    DealCount,
}

impl Route {
    fn path(self) -> &'static str {
        match self {
            Route::Deals => "/api/deals",
            Route::DealCount => "/api/deal-count",
        }
    }

    fn accepts(self, name: &str) -> Option<&'static str> {
        let paging: &[&'static str] = match self {
            Route::Deals => &PAGE_PARAMETERS,
            Route::DealCount => &[],
        };
        paging
            .iter()
            .chain(FILTER_PARAMETERS.iter())
            .find(|known| **known == name)
            .copied()
    }

    fn allowed(self) -> String {
        let paging: &[&str] = match self {
            Route::Deals => &PAGE_PARAMETERS,
            Route::DealCount => &[],
        };
        paging
            .iter()
            .chain(FILTER_PARAMETERS.iter())
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Parses `/api/deals`' query string (`None` when the URI has none).
pub fn parse_deal_query(raw_query: Option<&str>) -> Result<DealQuery, ParamError> {
    let mut query = DealQuery::default();
    for (name, value) in pairs(raw_query, Route::Deals)? {
        match name {
            "page" => {
                let page = parse_integer::<u32>(name, &value, "a whole number of at least 1")?;
                query.page = Some(NonZeroU32::new(page).ok_or_else(|| {
                    invalid(name, "must be a whole number of at least 1", &value)
                })?);
            }
            "limit" => {
                let expected = format!("must be a whole number from 1 to {MAX_PAGE_LIMIT}");
                let limit = value
                    .parse::<u32>()
                    .ok()
                    .and_then(PageLimit::new)
                    .ok_or_else(|| invalid(name, &expected, &value))?;
                query.limit = limit;
            }
            "sort" => {
                query.sort = SortColumn::from_api_name(&value).ok_or_else(|| {
                    let names: Vec<&str> = SortColumn::ALL
                        .iter()
                        .map(|column| column.as_str())
                        .collect();
                    invalid(
                        name,
                        &format!("must be one of {}", names.join(", ")),
                        &value,
                    )
                })?;
            }
            "order" => {
                query.order = match value.as_str() {
                    "asc" => SortOrder::Ascending,
                    "desc" => SortOrder::Descending,
                    _ => return Err(invalid(name, "must be `asc` or `desc`", &value)),
                };
            }
            filter_name => apply_filter(&mut query.filter, filter_name, &value)?,
        }
    }
    Ok(query)
}

/// Parses `/api/deal-count`'s query string (`None` when the URI has none).
pub fn parse_deal_filter(raw_query: Option<&str>) -> Result<DealFilter, ParamError> {
    let mut filter = DealFilter::default();
    for (name, value) in pairs(raw_query, Route::DealCount)? {
        apply_filter(&mut filter, name, &value)?;
    }
    Ok(filter)
}

fn apply_filter(
    filter: &mut DealFilter,
    name: &'static str,
    value: &str,
) -> Result<(), ParamError> {
    match name {
        "profit_gte" => filter.profit_gte = Some(parse_dollars(name, value)?),
        "roi_gte" => filter.roi_gte = Some(parse_percent(name, value)?),
        "percent_down_gte" => filter.percent_down_gte = Some(parse_percent(name, value)?),
        "deal_trust_gte" => filter.deal_trust_gte = Some(parse_percent(name, value)?),
        "seller_quality_gte" => {
            let expected = "must be a number from 0 to 1 (a share of positive ratings)";
            let quality = value
                .parse::<f64>()
                .ok()
                .filter(|quality| (0.0..=1.0).contains(quality))
                .ok_or_else(|| invalid(name, expected, value))?;
            filter.seller_quality_gte = Some(quality);
        }
        "drops_30_gte" => {
            filter.drops_30_gte = Some(parse_integer::<i32>(name, value, "a whole number")?);
        }
        "sales_rank_lte" => {
            filter.sales_rank_lte = Some(parse_integer::<i64>(name, value, "a whole number")?);
        }
        "keyword" => filter.keyword = Some(value.to_owned()),
        "hide_amazon" => {
            filter.hide_amazon = match value {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(invalid(name, "must be `true`, `false`, `1` or `0`", value)),
            };
        }
        "exclude_conditions" => filter.exclude_conditions = parse_conditions(name, value)?,
        // `pairs` only yields names the route accepts, and every accepted
        // name is handled above or by the caller.
        other => unreachable!("parameter `{other}` is accepted but not handled"),
    }
    Ok(())
}

/// Splits, decodes and checks the names of a query string. Empty values are
/// dropped (an empty value means "absent").
fn pairs(raw_query: Option<&str>, route: Route) -> Result<Vec<(&'static str, String)>, ParamError> {
    let mut seen: Vec<(&'static str, String)> = Vec::new();
    let Some(raw_query) = raw_query else {
        return Ok(seen);
    };
    let mut given: Vec<&'static str> = Vec::new();
    for pair in raw_query.split('&').filter(|pair| !pair.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded_name = decode(raw_name, "a parameter name")?;
        let name = route
            .accepts(&decoded_name)
            .ok_or_else(|| ParamError::Unknown {
                name: shorten(&decoded_name),
                route: route.path(),
                allowed: route.allowed(),
            })?;
        if given.contains(&name) {
            return Err(ParamError::Repeated {
                name: name.to_owned(),
            });
        }
        given.push(name);
        let value = decode(raw_value, name)?;
        if !value.is_empty() {
            seen.push((name, value));
        }
    }
    Ok(seen)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn decode(raw: &str, what: &str) -> Result<String, ParamError> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let byte = bytes
                    .get(index + 1..index + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| ParamError::Encoding {
                        detail: format!(
                            "a `%` in {} is not followed by two hexadecimal digits",
                            describe(what)
                        ),
                    })?;
                decoded.push(byte);
                index += 2;
            }
            other => decoded.push(other),
        }
        index += 1;
    }
    String::from_utf8(decoded).map_err(|_| ParamError::Encoding {
        detail: format!("{} does not decode to UTF-8", describe(what)),
    })
}

fn describe(what: &str) -> String {
    if what.contains(' ') {
        what.to_owned()
    } else {
        format!("the value of `{what}`")
    }
}

fn invalid(name: &'static str, expected: &str, given: &str) -> ParamError {
    ParamError::Invalid {
        name,
        expected: expected.to_owned(),
        given: shorten(given),
    }
}

/// At most 64 characters of user text in a message.
fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(64).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

fn parse_integer<T: std::str::FromStr>(
    name: &'static str,
    value: &str,
    expected: &str,
) -> Result<T, ParamError> {
    value
        .parse::<T>()
        .map_err(|_| invalid(name, &format!("must be {expected}"), value))
}

fn parse_percent(name: &'static str, value: &str) -> Result<f64, ParamError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .ok_or_else(|| {
            invalid(
                name,
                "must be a number in percent (for example 25 or 12.5)",
                value,
            )
        })
}

/// Dollars with at most two decimals to cents, by digits (no floating point):
/// `12.5` → 1250, `-5` → −500, `0.07` → 7.
pub fn parse_dollars(name: &'static str, value: &str) -> Result<Cents, ParamError> {
    let expected = "must be an amount in dollars with at most two decimals (for example 12.50)";
    let fail = || invalid(name, expected, value);
    let (negative, unsigned) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty()
        || !all_digits(whole)
        || !all_digits(fraction)
        || fraction.len() > 2
        || (unsigned.contains('.') && fraction.is_empty())
    {
        return Err(fail());
    }
    let whole_cents = whole
        .parse::<i64>()
        .ok()
        .and_then(|dollars| dollars.checked_mul(100))
        .ok_or_else(fail)?;
    let fraction_cents = match fraction.len() {
        0 => 0,
        1 => i64::from(fraction.as_bytes()[0] - b'0') * 10,
        _ => fraction.parse::<i64>().map_err(|_| fail())?,
    };
    let cents = whole_cents.checked_add(fraction_cents).ok_or_else(fail)?;
    Ok(Cents(if negative { -cents } else { cents }))
}

fn parse_conditions(name: &'static str, value: &str) -> Result<Vec<OfferCondition>, ParamError> {
    let mut conditions = Vec::new();
    for item in value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let condition = CONDITION_NAMES
            .into_iter()
            .find(|condition| condition.as_str() == item)
            .or_else(|| {
                item.parse::<u8>()
                    .ok()
                    .map(|code| OfferCondition::from_keepa_code(i64::from(code)))
            })
            .ok_or_else(|| {
                let mut expected =
                    String::from("must be a comma-separated list of conditions, each one of ");
                for (index, condition) in CONDITION_NAMES.iter().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    let _ = write!(expected, "{separator}{}", condition.as_str());
                }
                expected.push_str(" or a Keepa condition code 0-255");
                invalid(name, &expected, item)
            })?;
        if !conditions.contains(&condition) {
            conditions.push(condition);
        }
    }
    Ok(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_become_cents_without_floats() {
        let cents = |text| parse_dollars("profit_gte", text).map(|cents| cents.0);
        assert_eq!(cents("12.50"), Ok(1250));
        assert_eq!(cents("12.5"), Ok(1250));
        assert_eq!(cents("12"), Ok(1200));
        assert_eq!(cents("0.07"), Ok(7));
        assert_eq!(cents("-5"), Ok(-500));
        assert_eq!(cents("-0.01"), Ok(-1));
        // 0.29 is 0.28999… as a float; digits give exactly 29.
        assert_eq!(cents("0.29"), Ok(29));
        assert_eq!(cents("92233720368547758.07"), Ok(i64::MAX));
        for bad in [
            "",
            "-",
            ".5",
            "12.",
            "12.505",
            "1e3",
            "$12",
            "12,50",
            "abc",
            "92233720368547758.08",
        ] {
            assert!(cents(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn decoding_handles_plus_percent_and_bad_escapes() {
        assert_eq!(decode("a+b%20c%2Cd", "x").as_deref(), Ok("a b c,d"));
        assert_eq!(decode("caf%C3%A9", "x").as_deref(), Ok("café"));
        assert!(decode("%zz", "keyword").is_err());
        assert!(decode("%4", "keyword").is_err());
        assert!(decode("%ff", "keyword").is_err());
    }

    #[test]
    fn empty_values_mean_absent_and_repeats_are_refused() {
        assert_eq!(
            parse_deal_query(Some("profit_gte=&limit=")),
            Ok(DealQuery::default())
        );
        assert_eq!(
            parse_deal_query(Some("limit=5&limit=6")),
            Err(ParamError::Repeated {
                name: "limit".to_owned()
            })
        );
    }

    #[test]
    fn conditions_by_name_and_code() {
        assert_eq!(
            parse_conditions("exclude_conditions", "new, used_good,5,new,"),
            Ok(vec![
                OfferCondition::New,
                OfferCondition::UsedGood,
                OfferCondition::UsedAcceptable
            ])
        );
        assert!(parse_conditions("exclude_conditions", "mint").is_err());
    }
}
