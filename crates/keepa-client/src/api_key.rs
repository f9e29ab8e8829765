//! The Keepa API key as a secret: it prints as `ApiKey(***)` everywhere.
//!
//! The key enters the client once, lives only inside this type, and leaves it only when a
//! transport builds the URL it sends (`ApiKey::expose`, crate-private). It is never part of a
//! logged URL, an error or a `Debug` form. [`redact`] is the last line of defence for text
//! that came from elsewhere (an HTTP library's error message).

use std::fmt;
use std::sync::Arc;

/// A Keepa API key. `Debug` and `Display` print `ApiKey(***)`; cloning is cheap.
///
/// ```
/// use keepa_client::ApiKey;
/// let key = ApiKey::new("abcdef0123456789").unwrap();
/// assert_eq!(format!("{key} {key:?}"), "ApiKey(***) ApiKey(***)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Arc<str>);

/// Why a string is not an API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// Nothing was given.
    #[error("the keepa api key is empty: set KEEPA_API_KEY or pass a key file")]
    Empty,
    /// The key holds characters Keepa keys never hold (whitespace, `&`, `=`, …).
    #[error(
        "the keepa api key holds characters keepa keys never hold (only ASCII letters and digits \
         are allowed): check for a trailing newline or quotes in the key file"
    )]
    InvalidCharacters,
}

impl ApiKey {
    /// Wraps a key. Surrounding whitespace (a trailing newline from a key file) is trimmed.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError`] for an empty key or one with characters other than ASCII letters and
    /// digits.
    pub fn new(key: impl AsRef<str>) -> Result<ApiKey, ApiKeyError> {
        let key = key.as_ref().trim();
        if key.is_empty() {
            return Err(ApiKeyError::Empty);
        }
        if !key.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(ApiKeyError::InvalidCharacters);
        }
        Ok(ApiKey(Arc::from(key)))
    }

    /// The key itself, for the one place that puts it on the wire.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Replaces every occurrence of the key in `text` with `***`.
pub(crate) fn redact(text: &str, key: &ApiKey) -> String {
    text.replace(key.expose(), "***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_trimmed_and_validated() {
        assert_eq!(ApiKey::new(" abc123\n").unwrap().expose(), "abc123");
        assert_eq!(ApiKey::new("  "), Err(ApiKeyError::Empty));
        assert_eq!(ApiKey::new("abc&x=1"), Err(ApiKeyError::InvalidCharacters));
    }

    #[test]
    fn redact_hides_every_occurrence() {
        let key = ApiKey::new("secret42").unwrap();
        assert_eq!(
            redact("url?key=secret42&k=secret42", &key),
            "url?key=***&k=***"
        );
    }
}
