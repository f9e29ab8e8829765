//! Deals: the per-deal upsert with its provenance (source, lease, fencing
//! number) and the mapping between [`AnalysedDeal`] and a `deals` row.
//!
//! One call, one transaction, one deal: a deal is durable as soon as the
//! upsert returns, and a crash loses at most the deal in hand. Batching
//! several deals per transaction would be faster and is deliberately not
//! offered (DESIGN.md §1: one commit per deal).

use std::path::Path;

use deal_filters::{AnalysedDeal, Trend};
use keepa_model::{Asin, Cents, KeepaMinute, OfferCondition, PriceType, UnixSeconds};
use rusqlite::{Row, Transaction};

use crate::connection::Writer;
use crate::error::{ResultExt, StoreError, StoreResult};
use crate::search;

/// Which task wrote a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DealSource {
    /// Stored straight from discovery data.
    Discovery,
    /// A full analysis (`/product` with history and offers).
    Analysis,
    /// A light refresh of a recently changed deal.
    Refresh,
    /// A light refresh of a deal not seen for 48 h.
    Rescue,
}

impl DealSource {
    /// The stable code stored in the `source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            DealSource::Discovery => "discovery",
            DealSource::Analysis => "analysis",
            DealSource::Refresh => "refresh",
            DealSource::Rescue => "rescue",
        }
    }

    /// The source for a stored code.
    pub fn from_code(code: &str) -> Option<DealSource> {
        [
            DealSource::Discovery,
            DealSource::Analysis,
            DealSource::Refresh,
            DealSource::Rescue,
        ]
        .into_iter()
        .find(|source| source.as_str() == code)
    }
}

/// The lease guarding a write and its fencing number (DESIGN.md §5). The store
/// keeps the highest number seen per lease and refuses a lower one with
/// [`StoreError::StaleFence`]: a holder that lost its lease cannot overwrite
/// what its successor wrote.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The lease's name, for example `"discovery"`.
    pub lease: String,
    /// The fencing number the lease was granted with (monotonic per lease;
    /// `fleet::Lease::fencing`). Stored as SQLite's signed 64-bit integer:
    /// numbers above `i64::MAX` (never produced by a Redis `INCR`) are stored as `i64::MAX`.
    pub number: u64,
}

/// How a deal write is attributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealWrite<'fence> {
    /// The task writing the deal.
    pub source: DealSource,
    /// The lease guarding the write; `None` for writes no lease guards (the embedded tier).
    pub fence: Option<&'fence Fence>,
    /// The time of the write: `last_seen_at`, and `first_seen_at` for a new deal.
    pub now: UnixSeconds,
}

/// A stored deal: the analysed deal plus what the store knows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDeal {
    /// The deal as analysed.
    pub deal: AnalysedDeal,
    /// When the deal was first stored; kept by every later upsert.
    pub first_seen_at: UnixSeconds,
    /// When the deal was last upserted.
    pub last_seen_at: UnixSeconds,
    /// Which task wrote it last.
    pub source: DealSource,
    /// The lease and fencing number of the last write, if a lease guarded it.
    pub fence: Option<Fence>,
}

/// The fencing number as stored.
fn stored_number(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}

/// Checks `fence` against the highest number stored for its lease and records it.
pub(crate) fn check_and_record_fence(
    transaction: &Transaction<'_>,
    path: &Path,
    fence: &Fence,
    now: UnixSeconds,
) -> StoreResult<()> {
    let given = stored_number(fence.number);
    let stored: Option<i64> = transaction
        .prepare_cached("SELECT fencing_number FROM fences WHERE lease = ?1")
        .and_then(|mut statement| {
            statement
                .query_row([&fence.lease], |row| row.get(0))
                .map(Some)
                .or_else(|error| match error {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    other => Err(other),
                })
        })
        .context(path, "reading the lease fence")?;
    if let Some(stored) = stored
        && stored > given
    {
        return Err(StoreError::StaleFence {
            lease: fence.lease.clone(),
            given: fence.number,
            stored: u64::try_from(stored).unwrap_or(0),
        });
    }
    transaction
        .prepare_cached(
            "INSERT INTO fences (lease, fencing_number, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (lease) DO UPDATE SET fencing_number = excluded.fencing_number,
                                               updated_at = excluded.updated_at",
        )
        .and_then(|mut statement| statement.execute((&fence.lease, given, now.0)))
        .context(path, "recording the lease fence")?;
    Ok(())
}

// `INSERT OR REPLACE` with the old `first_seen_at` read in a subquery rather
// than `ON CONFLICT DO UPDATE SET` every column: the bench measured the
// upsert form at half the speed of a plain replace once rows are updated
// (each SET column makes SQLite re-evaluate and rewrite every index). The
// old rowid is kept too, so a replaced row stays where it was in the table.
// A rescue refreshes the money figures but does not count as seeing the deal
// (DESIGN.md §6: rescued at 48 h, deleted at 72 h unless discovery sees it
// again), so it keeps `last_seen_at`.
const UPSERT_DEAL: &str = r"
INSERT OR REPLACE INTO deals (
    rowid, asin, title, brand, root_category, keepa_last_update_minute, analysed_at, refreshed_at,
    buy_price_type, price_now, buy_shipping, seller_id, seller_is_fba, condition_code, seller_quality,
    fba_fee, fba_fee_is_default, referral_fee_percent, referral_fee_is_default, tax, prep_fee,
    inbound_shipping, all_in_cost, list_at, list_at_implausible, total_fees, profit, margin_percent,
    roi_percent, min_listing_price, one_year_average, one_year_average_is_estimate, percent_down,
    inferred_sales, inferred_sales_last_year, offer_drops, deal_trust_percent, price_trend,
    new_offer_trend, used_offer_trend, sales_rank, drops_30, drops_90, drops_365, amazon_sells,
    first_seen_at, last_seen_at, source, lease, fencing_number, search_trigrams
) VALUES (
    (SELECT rowid FROM deals WHERE asin = ?1), ?1, ?2, ?3, ?4, ?5, ?6, ?7,
    ?8, ?9, ?10, ?11, ?12, ?13, ?14,
    ?15, ?16, ?17, ?18, ?19, ?20,
    ?21, ?22, ?23, ?24, ?25, ?26, ?27,
    ?28, ?29, ?30, ?31, ?32,
    ?33, ?34, ?35, ?36, ?37,
    ?38, ?39, ?40, ?41, ?42, ?43, ?44,
    coalesce((SELECT first_seen_at FROM deals WHERE asin = ?1), ?45),
    CASE WHEN ?46 = 'rescue' THEN coalesce((SELECT last_seen_at FROM deals WHERE asin = ?1), ?45) ELSE ?45 END,
    ?46, ?47, ?48, ?49
)
";

/// The columns [`stored_deal_from_row`] reads, in order, for `SELECT` lists.
pub(crate) const DEAL_COLUMNS: &str = "asin, title, brand, root_category, keepa_last_update_minute, \
    analysed_at, refreshed_at, buy_price_type, price_now, buy_shipping, seller_id, seller_is_fba, \
    condition_code, seller_quality, fba_fee, fba_fee_is_default, referral_fee_percent, \
    referral_fee_is_default, tax, prep_fee, inbound_shipping, all_in_cost, list_at, \
    list_at_implausible, total_fees, profit, margin_percent, roi_percent, min_listing_price, \
    one_year_average, one_year_average_is_estimate, percent_down, inferred_sales, \
    inferred_sales_last_year, offer_drops, deal_trust_percent, price_trend, new_offer_trend, \
    used_offer_trend, sales_rank, drops_30, drops_90, drops_365, amazon_sells, first_seen_at, \
    last_seen_at, source, lease, fencing_number";

/// Keepa's numeric code for a condition, the inverse of
/// [`OfferCondition::from_keepa_code`] (Collectible is stored as 7).
pub fn condition_code(condition: OfferCondition) -> i64 {
    match condition {
        OfferCondition::New => 1,
        OfferCondition::UsedLikeNew => 2,
        OfferCondition::UsedVeryGood => 3,
        OfferCondition::UsedGood => 4,
        OfferCondition::UsedAcceptable => 5,
        OfferCondition::Refurbished => 6,
        OfferCondition::Collectible => 7,
        OfferCondition::Rental => 11,
        OfferCondition::Other(code) => i64::from(code),
    }
}

fn trend_from_code(code: Option<String>) -> Result<Option<Trend>, String> {
    match code.as_deref() {
        None => Ok(None),
        Some("up") => Ok(Some(Trend::Up)),
        Some("flat") => Ok(Some(Trend::Flat)),
        Some("down") => Ok(Some(Trend::Down)),
        Some(other) => Err(format!("unknown trend {other:?}")),
    }
}

/// SQLite stores NaN as NULL; store every non-finite percentage as unknown explicitly.
fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|number| number.is_finite())
}

/// Upserts one deal in its own transaction (see [`Writer::upsert_deal`]).
pub(crate) fn upsert_deal(
    writer: &mut Writer,
    deal: &AnalysedDeal,
    write: DealWrite<'_>,
) -> StoreResult<()> {
    writer.write("upserting a deal", |transaction, path| {
        if let Some(fence) = write.fence {
            check_and_record_fence(transaction, path, fence, write.now)?;
        }
        let mut statement = transaction
            .prepare_cached(UPSERT_DEAL)
            .context(path, "preparing the deal upsert")?;
        statement
            .execute::<&[&dyn rusqlite::ToSql]>(&[
                &deal.asin.as_str(),
                &deal.title,
                &deal.brand,
                &(deal
                    .root_category
                    .and_then(|category| i64::try_from(category).ok())),
                &(deal.keepa_last_update.map(|minute| minute.0)),
                &deal.analysed_at.0,
                &deal.refreshed_at.0,
                &deal.buy_price_type.0,
                &deal.price_now.0,
                &deal.buy_shipping.0,
                &deal.seller_id,
                &deal.seller_is_fba,
                &deal.condition.map(condition_code),
                &finite(deal.seller_quality),
                &deal.fba_fee.0,
                &deal.fba_fee_is_default,
                &(if deal.referral_fee_percent.is_finite() {
                    deal.referral_fee_percent
                } else {
                    0.0
                }),
                &deal.referral_fee_is_default,
                &deal.tax.0,
                &deal.prep_fee.0,
                &deal.inbound_shipping.0,
                &deal.all_in_cost.0,
                &(deal.list_at.map(|cents| cents.0)),
                &deal.list_at_implausible,
                &(deal.total_fees.map(|cents| cents.0)),
                &(deal.profit.map(|cents| cents.0)),
                &finite(deal.margin_percent),
                &finite(deal.roi_percent),
                &(deal.min_listing_price.map(|cents| cents.0)),
                &(deal.one_year_average.map(|cents| cents.0)),
                &deal.one_year_average_is_estimate,
                &finite(deal.percent_down),
                &deal.inferred_sales,
                &deal.inferred_sales_last_year,
                &deal.offer_drops,
                &finite(deal.deal_trust_percent),
                &deal.price_trend.map(Trend::as_str),
                &deal.new_offer_trend.map(Trend::as_str),
                &deal.used_offer_trend.map(Trend::as_str),
                &deal.sales_rank,
                &deal.drops_30,
                &deal.drops_90,
                &deal.drops_365,
                &deal.amazon_sells,
                &write.now.0,
                &write.source.as_str(),
                &(write.fence.map(|fence| fence.lease.as_str())),
                &(write.fence.map(|fence| stored_number(fence.number))),
                &search::deal_trigrams(&deal.title, deal.brand.as_deref(), deal.asin.as_str()),
            ])
            .context(path, "upserting a deal")?;
        // A stored deal is no longer a rejection or a failing ASIN.
        transaction
            .prepare_cached("DELETE FROM rejections WHERE asin = ?1")
            .and_then(|mut statement| statement.execute([deal.asin.as_str()]))
            .context(path, "clearing the deal's rejection")?;
        transaction
            .prepare_cached("DELETE FROM quarantine WHERE asin = ?1")
            .and_then(|mut statement| statement.execute([deal.asin.as_str()]))
            .context(path, "clearing the deal's failures")?;
        Ok(())
    })
}

/// Reads a row selected with [`DEAL_COLUMNS`].
pub(crate) fn stored_deal_from_row(row: &Row<'_>) -> rusqlite::Result<Result<StoredDeal, String>> {
    let asin_text: String = row.get(0)?;
    let Ok(asin) = asin_text.parse::<Asin>() else {
        return Ok(Err(format!("deals.asin {asin_text:?} is not an asin")));
    };
    let cents = |index: usize| -> rusqlite::Result<Option<Cents>> {
        Ok(row.get::<_, Option<i64>>(index)?.map(Cents))
    };
    let required_cents = |index: usize| -> rusqlite::Result<Cents> { Ok(Cents(row.get(index)?)) };
    let trends = (
        trend_from_code(row.get(36)?),
        trend_from_code(row.get(37)?),
        trend_from_code(row.get(38)?),
    );
    let (Ok(price_trend), Ok(new_offer_trend), Ok(used_offer_trend)) = trends else {
        return Ok(Err(format!(
            "deals.*_trend of {asin} holds an unknown trend"
        )));
    };
    let source_code: String = row.get(46)?;
    let Some(source) = DealSource::from_code(&source_code) else {
        return Ok(Err(format!(
            "deals.source {source_code:?} of {asin} is unknown"
        )));
    };
    let lease: Option<String> = row.get(47)?;
    let fencing_number: Option<u64> = row
        .get::<_, Option<i64>>(48)?
        .map(|number| u64::try_from(number).unwrap_or(0));
    let deal = AnalysedDeal {
        asin,
        title: row.get(1)?,
        brand: row.get(2)?,
        root_category: row
            .get::<_, Option<i64>>(3)?
            .and_then(|category| u64::try_from(category).ok()),
        keepa_last_update: row.get::<_, Option<i32>>(4)?.map(KeepaMinute),
        analysed_at: UnixSeconds(row.get(5)?),
        refreshed_at: UnixSeconds(row.get(6)?),
        buy_price_type: PriceType(row.get(7)?),
        price_now: required_cents(8)?,
        buy_shipping: required_cents(9)?,
        seller_id: row.get(10)?,
        seller_is_fba: row.get(11)?,
        condition: row
            .get::<_, Option<i64>>(12)?
            .map(OfferCondition::from_keepa_code),
        seller_quality: row.get(13)?,
        fba_fee: required_cents(14)?,
        fba_fee_is_default: row.get(15)?,
        referral_fee_percent: row.get(16)?,
        referral_fee_is_default: row.get(17)?,
        tax: required_cents(18)?,
        prep_fee: required_cents(19)?,
        inbound_shipping: required_cents(20)?,
        all_in_cost: required_cents(21)?,
        list_at: cents(22)?,
        list_at_implausible: row.get(23)?,
        total_fees: cents(24)?,
        profit: cents(25)?,
        margin_percent: row.get(26)?,
        roi_percent: row.get(27)?,
        min_listing_price: cents(28)?,
        one_year_average: cents(29)?,
        one_year_average_is_estimate: row.get(30)?,
        percent_down: row.get(31)?,
        inferred_sales: row.get(32)?,
        inferred_sales_last_year: row.get(33)?,
        offer_drops: row.get(34)?,
        deal_trust_percent: row.get(35)?,
        price_trend,
        new_offer_trend,
        used_offer_trend,
        sales_rank: row.get(39)?,
        drops_30: row.get(40)?,
        drops_90: row.get(41)?,
        drops_365: row.get(42)?,
        amazon_sells: row.get(43)?,
    };
    Ok(Ok(StoredDeal {
        deal,
        first_seen_at: UnixSeconds(row.get(44)?),
        last_seen_at: UnixSeconds(row.get(45)?),
        source,
        fence: lease
            .zip(fencing_number)
            .map(|(lease, number)| Fence { lease, number }),
    }))
}

/// Collects rows selected with [`DEAL_COLUMNS`], classifying every failure.
pub(crate) fn collect_deals(
    path: &Path,
    rows: rusqlite::MappedRows<
        '_,
        impl FnMut(&Row<'_>) -> rusqlite::Result<Result<StoredDeal, String>>,
    >,
) -> StoreResult<Vec<StoredDeal>> {
    let mut deals = Vec::new();
    for row in rows {
        let deal = row.context(path, "reading a deal")?.map_err(|detail| {
            StoreError::InvalidStoredValue {
                path: path.to_path_buf(),
                detail,
            }
        })?;
        deals.push(deal);
    }
    Ok(deals)
}
