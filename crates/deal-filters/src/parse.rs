//! A lenient parser for the numbers users and legacy exports write
//! (`"$1,200.50"`, `"23%"`, `"-"`, `"N/A"`, `""`). It never panics and says
//! "unknown" (`None`) for anything it cannot read, instead of a 0 that would
//! look like a real price.

use keepa_model::Cents;

/// Words and marks that legacy exports write for "unknown".
const UNKNOWN_MARKERS: [&str; 8] = ["", "-", "--", "—", "n/a", "na", "none", "null"];

/// Parses an amount of money into cents.
///
/// Accepts an optional sign (before or after `$`), an optional `$`,
/// digits with optional `,` thousands separators, and an optional decimal
/// part (more than two decimals are rounded half away from zero). Everything
/// else — including the unknown markers `-`, `N/A`, empty — is `None`.
/// Reads back everything [`Cents`]'s `Display` writes.
///
/// ```
/// use deal_filters::parse_cents;
/// use keepa_model::Cents;
/// assert_eq!(parse_cents("$1,200.50"), Some(Cents(120_050)));
/// assert_eq!(parse_cents("-$5.00"), Some(Cents(-500)));
/// assert_eq!(parse_cents("12"), Some(Cents(1_200)));
/// assert_eq!(parse_cents("N/A"), None);
/// assert_eq!(parse_cents("invalid"), None);
/// ```
pub fn parse_cents(text: &str) -> Option<Cents> {
    let text = text.trim();
    if is_unknown_marker(text) {
        return None;
    }
    let (negative, rest) = strip_sign(text);
    let rest = rest.strip_prefix('$').unwrap_or(rest);
    let (negative, rest) = match strip_sign(rest) {
        (true, _) if negative => return None,
        (inner_negative, inner) => (negative || inner_negative, inner),
    };
    let (whole, fraction) = match rest.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (rest, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let dollars = parse_grouped_digits(whole)?;
    if !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let mut digits = fraction.bytes().map(|byte| i64::from(byte - b'0'));
    let tenths = digits.next().unwrap_or(0);
    let hundredths = digits.next().unwrap_or(0);
    let round_up = i64::from(digits.next().unwrap_or(0) >= 5);
    let magnitude = dollars
        .checked_mul(100)?
        .checked_add(tenths * 10 + hundredths + round_up)?;
    Some(Cents(if negative { -magnitude } else { magnitude }))
}

/// Parses a percentage: `"23%"`, `"23.5"`, `"-4 %"` → the number in percent.
/// Unknown markers, non-numbers and non-finite values are `None`. Reads back
/// everything [`format_percent`] writes.
///
/// ```
/// use deal_filters::parse_percent;
/// assert_eq!(parse_percent("23%"), Some(23.0));
/// assert_eq!(parse_percent("N/A"), None);
/// ```
pub fn parse_percent(text: &str) -> Option<f64> {
    let text = text.trim();
    let text = text.strip_suffix('%').unwrap_or(text).trim_end();
    if is_unknown_marker(text) {
        return None;
    }
    // Rust's float parser accepts "inf" and "NaN"; a percentage is finite.
    let only_number_characters = text
        .bytes()
        .all(|byte| byte.is_ascii_digit() || matches!(byte, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !only_number_characters {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// Formats a percentage so that [`parse_percent`] reads back exactly the same
/// number (`23.5` → `"23.5%"`).
pub fn format_percent(value: f64) -> String {
    format!("{value}%")
}

fn is_unknown_marker(text: &str) -> bool {
    UNKNOWN_MARKERS
        .iter()
        .any(|marker| text.eq_ignore_ascii_case(marker))
}

fn strip_sign(text: &str) -> (bool, &str) {
    if let Some(rest) = text.strip_prefix('-') {
        (true, rest)
    } else {
        (false, text.strip_prefix('+').unwrap_or(text))
    }
}

/// Digits with optional `,` between groups of three (`1,200`); an empty string is 0.
fn parse_grouped_digits(text: &str) -> Option<i64> {
    let mut groups = text.split(',');
    let first = groups.next().unwrap_or("");
    if !first.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let mut value: i64 = 0;
    let mut push_digits = |digits: &str| -> Option<()> {
        for byte in digits.bytes() {
            value = value.checked_mul(10)?.checked_add(i64::from(byte - b'0'))?;
        }
        Some(())
    };
    push_digits(first)?;
    for group in groups {
        if first.is_empty() || group.len() != 3 || !group.bytes().all(|byte| byte.is_ascii_digit())
        {
            return None;
        }
        push_digits(group)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: Option<i64>) {
        assert_eq!(parse_cents(text), expected.map(Cents), "parsing {text:?}");
    }

    #[test]
    fn money_forms() {
        check("$1,200.50", Some(120_050));
        check("1200.5", Some(120_050));
        check("  $246.26 ", Some(24_626));
        check("$0.05", Some(5));
        check(".5", Some(50));
        check("5.", Some(500));
        check("$-5.00", Some(-500));
        check("-$5.00", Some(-500));
        check("1.005", Some(101));
        check("1.004", Some(100));
        check("+3", Some(300));
    }

    #[test]
    fn unknown_and_garbage() {
        for text in [
            "", "-", "N/A", "n/a", "invalid", "$", ".", "1,20", ",100", "1.2.3", "--5", "-$-5",
            "1e3", "$ 5",
        ] {
            check(text, None);
        }
        check("99999999999999999999", None);
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("23%"), Some(23.0));
        assert_eq!(parse_percent("23.5 %"), Some(23.5));
        assert_eq!(parse_percent("-4"), Some(-4.0));
        for text in ["", "-", "N/A", "%", "inf", "NaN", "abc%"] {
            assert_eq!(parse_percent(text), None, "parsing {text:?}");
        }
    }
}
