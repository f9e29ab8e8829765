//! The keyword filter's prefilter: a 64-bit signature of the three-byte
//! windows (trigrams) of a deal's title, brand and ASIN, stored in
//! `deals.search_trigrams`.
//!
//! A keyword matches a deal when it is an ASCII-case-insensitive substring of
//! the title, the brand or the ASIN (`LIKE '%keyword%'`). Every trigram of
//! such a keyword is a trigram of the field it occurs in, so the keyword's bits
//! are a subset of the deal's: `(search_trigrams & :keyword_trigrams) =
//! :keyword_trigrams` never drops a match, and it is an integer test on an
//! index entry where the three `LIKE`s cost most of a keyword count. It decides
//! nothing alone: the `LIKE`s still run on the rows it lets through. A keyword
//! shorter than three bytes has no trigram (mask 0) and lets every row through.
//!
//! The bit of a trigram is part of the stored data: changing [`trigram_bit`]
//! needs a migration that recomputes the column. A row whose signature was
//! never computed holds −1 (every bit), which lets every keyword through.
//! What this does not do: rank, stem, or know anything beyond ASCII case.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

/// The SQL function that computes a signature, for migrations that fill the column.
pub(crate) const SIGNATURE_FUNCTION: &str = "deal_search_trigrams";

/// The bit (0–63) of one trigram, from its ASCII-lowercased bytes.
fn trigram_bit(window: &[u8; 3]) -> u64 {
    let packed = u32::from(window[0].to_ascii_lowercase())
        | u32::from(window[1].to_ascii_lowercase()) << 8
        | u32::from(window[2].to_ascii_lowercase()) << 16;
    // Fibonacci hashing: the top six bits of the product spread similar trigrams.
    1 << (packed.wrapping_mul(0x9E37_79B1) >> 26)
}

/// The bits of every trigram of `text`.
fn text_bits(text: &str) -> u64 {
    text.as_bytes()
        .windows(3)
        .map(|window| trigram_bit(&[window[0], window[1], window[2]]))
        .fold(0, |bits, bit| bits | bit)
}

/// SQLite integers are signed; the signature keeps the same 64 bits.
fn as_stored(bits: u64) -> i64 {
    i64::from_ne_bytes(bits.to_ne_bytes())
}

/// The signature stored for a deal: the trigrams of each field, never across fields.
pub(crate) fn deal_trigrams(title: &str, brand: Option<&str>, asin: &str) -> i64 {
    as_stored(text_bits(title) | brand.map_or(0, text_bits) | text_bits(asin))
}

/// The bits a deal must hold to possibly match `keyword`.
pub(crate) fn keyword_trigrams(keyword: &str) -> i64 {
    as_stored(text_bits(keyword))
}

/// Registers [`SIGNATURE_FUNCTION`]`(title, brand, asin)` on `connection`.
pub(crate) fn register_signature_function(connection: &Connection) -> rusqlite::Result<()> {
    connection.create_scalar_function(
        SIGNATURE_FUNCTION,
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |context| {
            let title: String = context.get(0)?;
            let brand: Option<String> = context.get(1)?;
            let asin: String = context.get(2)?;
            Ok(deal_trigrams(&title, brand.as_deref(), &asin))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::{deal_trigrams, keyword_trigrams};

    #[track_caller]
    fn check(title: &str, brand: Option<&str>, asin: &str, keyword: &str, passes: bool) {
        let deal = deal_trigrams(title, brand, asin);
        let mask = keyword_trigrams(keyword);
        assert_eq!(
            deal & mask == mask,
            passes,
            "{title:?} {brand:?} {asin:?} / {keyword:?}"
        );
    }

    #[test]
    fn substrings_of_any_field_in_any_ascii_case_pass() {
        check("Blue Widget 42", Some("Acme"), "B000000042", "widget", true);
        check("Blue Widget 42", Some("Acme"), "B000000042", "WIDGET", true);
        check("Blue Widget 42", Some("Acme"), "B000000042", "acm", true);
        check("Blue Widget 42", None, "B000000042", "b0000", true);
        check("Grüne Lampe", None, "B000000042", "üne", true);
        check("Blue Widget 42", None, "B000000042", "wi", true);
        check("Blue Widget 42", None, "B000000042", "", true);
    }

    #[test]
    fn most_non_matching_keywords_are_turned_away() {
        check(
            "Blue Widget 42",
            Some("Acme"),
            "B000000042",
            "garden hose",
            false,
        );
        check(
            "Blue Widget 42",
            Some("Acme"),
            "B000000042",
            "paperback",
            false,
        );
    }
}
