//! Typed requests: the `/deal` selection and the `/product` parameters.
//!
//! Preconditions live in the types: a selection holds exactly one price type (a field, not a
//! list), a date range is one of Keepa's four, a product request names 1–100 ASINs
//! ([`AsinBatch`]) and an offer count is 20–100 ([`OfferCount`]). Rendering to Keepa's query
//! parameters and JSON happens here; sending does not.

use std::num::NonZeroU32;

use keepa_model::{Asin, PriceType};
use serde::Serialize;

/// The most ASINs one `/product` request may name.
pub const MAX_ASINS_PER_REQUEST: usize = 100;

/// `dateRange` of a deal selection: the interval whose changes make a deal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DateRange {
    /// Last 24 hours (0).
    #[default]
    Day,
    /// Last 7 days (1).
    Week,
    /// Last 31 days (2).
    Month,
    /// Last 90 days (3).
    Quarter,
}

impl DateRange {
    /// Keepa's number for it.
    pub fn keepa_code(self) -> u8 {
        match self {
            DateRange::Day => 0,
            DateRange::Week => 1,
            DateRange::Month => 2,
            DateRange::Quarter => 3,
        }
    }
}

/// An inclusive `[min, max]` filter range of a deal selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Range {
    /// Lower bound.
    pub min: i64,
    /// Upper bound.
    pub max: i64,
}

/// A `/deal` selection (one page of up to 150 deals; costs 5 tokens).
///
/// ```
/// use keepa_client::{DateRange, DealQuery};
/// use keepa_model::PriceType;
/// let query = DealQuery { page: 2, ..DealQuery::new(PriceType::USED) };
/// let json = String::from_utf8(query.selection_json(1)).unwrap();
/// assert!(json.contains(r#""priceTypes":[2]"#) && json.contains(r#""page":2"#));
/// assert_eq!(query.date_range, DateRange::Day);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealQuery {
    /// The page, from 0.
    pub page: u32,
    /// The one price type the deals are about (Keepa's `priceTypes` takes exactly one).
    pub price_type: PriceType,
    /// The interval of change.
    pub date_range: DateRange,
    /// `sortType`; 4 is "last update", what discovery uses.
    pub sort_type: u8,
    /// `currentRange`: the current value of the price type, in cents.
    pub current_range: Option<Range>,
    /// `deltaRange`: the drop in cents.
    pub delta_range: Option<Range>,
    /// `deltaPercentRange`: the drop in percent.
    pub delta_percent_range: Option<Range>,
    /// `salesRankRange`.
    pub sales_rank_range: Option<Range>,
    /// `includeCategories`: root category ids.
    pub include_categories: Vec<u64>,
    /// `excludeCategories`: root category ids.
    pub exclude_categories: Vec<u64>,
}

/// Sort type 4: newest `lastUpdate` first.
pub const SORT_BY_LAST_UPDATE: u8 = 4;

impl DealQuery {
    /// Page 0 of one price type over the last day, sorted by last update, without filters.
    pub fn new(price_type: PriceType) -> DealQuery {
        DealQuery {
            page: 0,
            price_type,
            date_range: DateRange::Day,
            sort_type: SORT_BY_LAST_UPDATE,
            current_range: None,
            delta_range: None,
            delta_percent_range: None,
            sales_rank_range: None,
            include_categories: Vec::new(),
            exclude_categories: Vec::new(),
        }
    }

    /// The selection JSON for marketplace `domain_id`, as sent in the POST body.
    pub fn selection_json(&self, domain_id: u8) -> Vec<u8> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Selection<'a> {
            page: u32,
            domain_id: u8,
            price_types: [u16; 1],
            date_range: u8,
            sort_type: u8,
            #[serde(skip_serializing_if = "Option::is_none")]
            current_range: Option<[i64; 2]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            delta_range: Option<[i64; 2]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            delta_percent_range: Option<[i64; 2]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            sales_rank_range: Option<[i64; 2]>,
            #[serde(skip_serializing_if = "<[u64]>::is_empty")]
            include_categories: &'a [u64],
            #[serde(skip_serializing_if = "<[u64]>::is_empty")]
            exclude_categories: &'a [u64],
        }
        let pair = |range: Option<Range>| range.map(|range| [range.min, range.max]);
        let selection = Selection {
            page: self.page,
            domain_id,
            price_types: [self.price_type.0],
            date_range: self.date_range.keepa_code(),
            sort_type: self.sort_type,
            current_range: pair(self.current_range),
            delta_range: pair(self.delta_range),
            delta_percent_range: pair(self.delta_percent_range),
            sales_rank_range: pair(self.sales_rank_range),
            include_categories: &self.include_categories,
            exclude_categories: &self.exclude_categories,
        };
        serde_json::to_vec(&selection).unwrap_or_default()
    }
}

/// 1 to 100 ASINs: what one `/product` request may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsinBatch(Vec<Asin>);

/// Why a list of ASINs is not a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// No ASIN.
    #[error("a product request needs at least one asin")]
    Empty,
    /// Too many.
    #[error("a product request names at most {MAX_ASINS_PER_REQUEST} asins, not {0}: split it")]
    TooMany(usize),
}

impl AsinBatch {
    /// Checks the length.
    ///
    /// # Errors
    ///
    /// [`BatchError`] for an empty list or one of more than 100 ASINs.
    pub fn new(asins: Vec<Asin>) -> Result<AsinBatch, BatchError> {
        match asins.len() {
            0 => Err(BatchError::Empty),
            n if n > MAX_ASINS_PER_REQUEST => Err(BatchError::TooMany(n)),
            _ => Ok(AsinBatch(asins)),
        }
    }

    /// The ASINs.
    pub fn asins(&self) -> &[Asin] {
        &self.0
    }

    /// How many (1–100).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false; here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `offers=N`: how many live offers to fetch, 20–100.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub struct OfferCount(u8);

impl TryFrom<u8> for OfferCount {
    type Error = String;

    fn try_from(count: u8) -> Result<OfferCount, String> {
        OfferCount::new(count).ok_or_else(|| format!("an offer count of {count} is outside 20–100"))
    }
}

impl From<OfferCount> for u8 {
    fn from(count: OfferCount) -> u8 {
        count.0
    }
}

impl OfferCount {
    /// `None` outside 20–100.
    pub fn new(count: u8) -> Option<OfferCount> {
        (20..=100).contains(&count).then_some(OfferCount(count))
    }

    /// The count.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// What a `/product` request asks for besides its ASINs: everything that changes its cost
/// per ASIN. Cost estimates are learned per shape.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ProductShape {
    /// `offers=N` (6 tokens per page of 10 offers found, instead of 1).
    pub offers: Option<OfferCount>,
    /// `buybox=1` (+2).
    pub buybox: bool,
    /// `rating=1` (up to +1).
    pub rating: bool,
    /// `update=N` hours (+1 when the product is older; `Some(0)` always refreshes).
    pub update_hours: Option<u32>,
}

impl ProductShape {
    /// Keepa's documented cost per ASIN, the floor of every estimate: 1, or 6 with offers (one
    /// page), +2 for the buy box, +1 for `update=0`. `rating` costs "up to 1" and is left out.
    pub fn documented_tokens_per_asin(self) -> i64 {
        let base = if self.offers.is_some() { 6 } else { 1 };
        let buybox = if self.buybox { 2 } else { 0 };
        let update = if self.update_hours == Some(0) { 1 } else { 0 };
        base + buybox + update
    }
}

/// A `/product` request.
///
/// ```
/// use keepa_client::{AsinBatch, ProductQuery};
/// let batch = AsinBatch::new(vec!["B0D8W1YVBX".parse().unwrap()]).unwrap();
/// let query = ProductQuery { stats_days: std::num::NonZeroU32::new(365), ..ProductQuery::new(batch) };
/// assert_eq!(query.shape().documented_tokens_per_asin(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductQuery {
    /// The ASINs.
    pub asins: AsinBatch,
    /// `stats=N`: statistics over the last N days (free).
    pub stats_days: Option<NonZeroU32>,
    /// `history`: include the `csv` series (free). Default true.
    pub history: bool,
    /// `days=N`: limit the history to the last N days (free).
    pub days: Option<NonZeroU32>,
    /// See [`ProductShape::offers`].
    pub offers: Option<OfferCount>,
    /// See [`ProductShape::buybox`].
    pub buybox: bool,
    /// See [`ProductShape::rating`].
    pub rating: bool,
    /// See [`ProductShape::update_hours`].
    pub update_hours: Option<u32>,
}

impl ProductQuery {
    /// History for the batch, nothing else.
    pub fn new(asins: AsinBatch) -> ProductQuery {
        ProductQuery {
            asins,
            stats_days: None,
            history: true,
            days: None,
            offers: None,
            buybox: false,
            rating: false,
            update_hours: None,
        }
    }

    /// The parameters that set its cost.
    pub fn shape(&self) -> ProductShape {
        ProductShape {
            offers: self.offers,
            buybox: self.buybox,
            rating: self.rating,
            update_hours: self.update_hours,
        }
    }

    /// Query parameters for marketplace `domain_id`, without the key.
    pub(crate) fn query_pairs(&self, domain_id: u8) -> Vec<(String, String)> {
        let asins = self
            .asins
            .asins()
            .iter()
            .map(Asin::as_str)
            .collect::<Vec<_>>()
            .join(",");
        let mut pairs = vec![
            ("domain".to_owned(), domain_id.to_string()),
            ("asin".to_owned(), asins),
            (
                "history".to_owned(),
                if self.history { "1" } else { "0" }.to_owned(),
            ),
        ];
        let mut push = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                pairs.push((name.to_owned(), value));
            }
        };
        push("stats", self.stats_days.map(|days| days.to_string()));
        push("days", self.days.map(|days| days.to_string()));
        push("offers", self.offers.map(|count| count.get().to_string()));
        push("buybox", self.buybox.then(|| "1".to_owned()));
        push("rating", self.rating.then(|| "1".to_owned()));
        push("update", self.update_hours.map(|hours| hours.to_string()));
        pairs
    }
}

/// What a request is, for cost learning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// One `/deal` page.
    Deal,
    /// A `/product` request of this shape; costs are per ASIN.
    Product(ProductShape),
}

impl RequestKind {
    /// Keepa's documented cost per unit (page or ASIN).
    pub fn documented_tokens_per_unit(self) -> i64 {
        match self {
            RequestKind::Deal => 5,
            RequestKind::Product(shape) => shape.documented_tokens_per_asin(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_bounds() {
        assert_eq!(AsinBatch::new(vec![]), Err(BatchError::Empty));
        let asin: Asin = "B0D8W1YVBX".parse().unwrap();
        assert_eq!(
            AsinBatch::new(vec![asin; 101]),
            Err(BatchError::TooMany(101))
        );
        assert_eq!(AsinBatch::new(vec![asin; 100]).unwrap().len(), 100);
    }

    #[test]
    fn documented_costs() {
        let offers = ProductShape {
            offers: OfferCount::new(20),
            buybox: true,
            rating: true,
            update_hours: Some(0),
        };
        assert_eq!(offers.documented_tokens_per_asin(), 9);
        assert_eq!(ProductShape::default().documented_tokens_per_asin(), 1);
        assert_eq!(OfferCount::new(19), None);
        assert_eq!(RequestKind::Deal.documented_tokens_per_unit(), 5);
    }

    #[test]
    fn selection_json_has_one_price_type() {
        let query = DealQuery {
            date_range: DateRange::Quarter,
            current_range: Some(Range { min: 100, max: 200 }),
            ..DealQuery::new(PriceType::USED)
        };
        let json: serde_json::Value = serde_json::from_slice(&query.selection_json(1)).unwrap();
        assert_eq!(json["priceTypes"], serde_json::json!([2]));
        assert_eq!(json["dateRange"], 3);
        assert_eq!(json["domainId"], 1);
        assert_eq!(json["sortType"], 4);
        assert_eq!(json["currentRange"], serde_json::json!([100, 200]));
        assert!(json.get("deltaRange").is_none());
    }
}
