//! The Amazon Standard Identification Number, validated once at the boundary
//! so the rest of the system never re-checks a string.

use std::fmt;
use std::str::FromStr;

/// An Amazon Standard Identification Number: exactly 10 ASCII uppercase
/// letters or digits (`B0D8W1YVBX`, `0306406152`).
///
/// `Copy` and cheap to hash; serialises as its string.
///
/// ```
/// let asin: keepa_model::Asin = "B0D8W1YVBX".parse().unwrap();
/// assert_eq!(asin.as_str(), "B0D8W1YVBX");
/// assert!("b0d8w1yvbx".parse::<keepa_model::Asin>().is_err());
/// ```
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Asin([u8; 10]);

/// Why a string is not an [`Asin`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AsinError {
    /// The string does not have exactly 10 bytes.
    #[error("an asin has 10 characters, got {length}")]
    WrongLength {
        /// The length in bytes of the rejected string.
        length: usize,
    },
    /// A character is not an ASCII uppercase letter or digit.
    #[error("an asin holds only A-Z and 0-9, got {character:?} at position {position}")]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its byte position.
        position: usize,
    },
}

impl Asin {
    /// The ASIN as a string slice.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored (checked in `from_str`), so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl FromStr for Asin {
    type Err = AsinError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some((position, character)) = text
            .char_indices()
            .find(|(_, character)| !(character.is_ascii_uppercase() || character.is_ascii_digit()))
        {
            return Err(AsinError::InvalidCharacter {
                character,
                position,
            });
        }
        let bytes: [u8; 10] = text
            .as_bytes()
            .try_into()
            .map_err(|_| AsinError::WrongLength { length: text.len() })?;
        Ok(Asin(bytes))
    }
}

impl TryFrom<String> for Asin {
    type Error = AsinError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Asin> for String {
    fn from(asin: Asin) -> Self {
        asin.as_str().to_owned()
    }
}

impl fmt::Display for Asin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl fmt::Debug for Asin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Asin({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_asins_round_trip_through_display_and_serde() {
        for text in ["B0D8W1YVBX", "0306406152", "ZZZZZZZZZZ"] {
            let asin: Asin = text.parse().unwrap();
            assert_eq!(asin.to_string(), text);
            let json = serde_json::to_string(&asin).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Asin>(&json).unwrap(), asin);
        }
    }

    #[test]
    fn invalid_asins_are_rejected_with_the_reason() {
        assert_eq!(
            "B0D8W1YVB".parse::<Asin>(),
            Err(AsinError::WrongLength { length: 9 })
        );
        assert_eq!(
            "B0D8W1YVBXX".parse::<Asin>(),
            Err(AsinError::WrongLength { length: 11 })
        );
        assert_eq!(
            "b0D8W1YVBX".parse::<Asin>(),
            Err(AsinError::InvalidCharacter {
                character: 'b',
                position: 0
            })
        );
        assert!("B0D8W1YVBÉ".parse::<Asin>().is_err());
        assert!(serde_json::from_str::<Asin>("\"short\"").is_err());
    }
}
