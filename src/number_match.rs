//! Number matching (`login.number_matching`): the login page shows a
//! two-digit number, the phone offers it among two wrong ones, and only the
//! person who sees that page can pick the right one. A victim shown a
//! relayed QR code (QRLjacking) does not see the attacker's screen, so their
//! pick is a guess, and a wrong pick cancels the login.

use serde::{Deserialize, Serialize};

/// The number shown on the login page: 10 to 99, drawn from the OS CSPRNG.
/// Public by design (it is on the screen), so it is stored as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
// Read from any JSON number: `28.0` is the integer 28 to JSON Schema (and
// so to the OpenAPI document and its clients), though not to serde's `u8`.
#[serde(try_from = "serde_json::Number", into = "u8")]
pub struct MatchNumber(u8);

/// How many numbers the phone offers.
pub const CHOICES: usize = 3;

impl MatchNumber {
    const LOWEST: u8 = 10;
    const HIGHEST: u8 = 99;
    /// How many two-digit numbers there are.
    const SPAN: u8 = Self::HIGHEST - Self::LOWEST + 1;

    /// `n` if it is a two-digit number.
    pub fn new(n: u8) -> Option<Self> {
        (Self::LOWEST..=Self::HIGHEST)
            .contains(&n)
            .then_some(Self(n))
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// A fresh number, uniform over 10..=99.
    pub fn generate() -> Self {
        Self::draw(&mut os_byte)
    }

    /// This number among two distinct wrong ones, in random order.
    pub fn choices(self) -> [Self; CHOICES] {
        self.choices_from(&mut os_byte)
    }

    /// Rejection sampling keeps the draw uniform: 180 is the largest
    /// multiple of 90 a byte reaches.
    fn draw(byte: &mut impl FnMut() -> u8) -> Self {
        let limit = Self::SPAN * 2;
        loop {
            let b = byte();
            if b < limit {
                return Self(Self::LOWEST + b % Self::SPAN);
            }
        }
    }

    fn choices_from(self, byte: &mut impl FnMut() -> u8) -> [Self; CHOICES] {
        let mut out = [self; CHOICES];
        for i in 1..CHOICES {
            out[i] = loop {
                let n = Self::draw(byte);
                if !out[..i].contains(&n) {
                    break n;
                }
            };
        }
        // Fisher–Yates, each index drawn without modulo bias.
        for i in (1..CHOICES).rev() {
            let bound = u8::try_from(i + 1).unwrap_or(u8::MAX);
            let limit = u8::MAX - u8::MAX % bound;
            let j = loop {
                let b = byte();
                if b < limit {
                    break usize::from(b % bound);
                }
            };
            out.swap(i, j);
        }
        out
    }
}

impl TryFrom<serde_json::Number> for MatchNumber {
    type Error = &'static str;
    fn try_from(n: serde_json::Number) -> Result<Self, Self::Error> {
        let whole = match n.as_u64() {
            Some(u) => Some(u),
            // 28.0, not 28.5: an integer written with a fraction part.
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=255.0).contains(f))
                .map(|f| f as u64),
        };
        whole
            .and_then(|u| u8::try_from(u).ok())
            .and_then(Self::new)
            .ok_or("not a two-digit number")
    }
}

impl From<MatchNumber> for u8 {
    fn from(n: MatchNumber) -> u8 {
        n.0
    }
}

fn os_byte() -> u8 {
    let mut b = [0u8; 1];
    crate::secret::os_random(&mut b);
    b[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn only_two_digit_numbers_exist() {
        assert_eq!(MatchNumber::new(9), None);
        assert_eq!(MatchNumber::new(100), None);
        assert_eq!(MatchNumber::new(10).map(MatchNumber::get), Some(10));
        assert_eq!(MatchNumber::new(99).map(MatchNumber::get), Some(99));
        assert!(serde_json::from_str::<MatchNumber>("7").is_err());
        assert_eq!(
            serde_json::from_str::<MatchNumber>("42").ok(),
            MatchNumber::new(42)
        );
    }

    /// JSON Schema's integers include `28.0` (schemathesis sends it); a
    /// fraction, a negative, a huge or a non-number value is still refused.
    #[test]
    fn a_whole_number_written_with_a_fraction_is_that_number() {
        assert_eq!(
            serde_json::from_str::<MatchNumber>("28.0").ok(),
            MatchNumber::new(28)
        );
        assert_eq!(
            serde_json::from_str::<MatchNumber>("2.8e1").ok(),
            MatchNumber::new(28)
        );
        for bad in [
            "28.5", "-28", "-28.0", "1e300", "256", "\"28\"", "null", "9.0",
        ] {
            assert!(serde_json::from_str::<MatchNumber>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn draws_cover_the_range_and_reject_the_biased_tail() {
        // Bytes 180..=255 would favour 10..=85: they are drawn again.
        let mut bytes = [255u8, 180, 0].into_iter();
        assert_eq!(
            MatchNumber::draw(&mut || bytes.next().unwrap_or(0)).get(),
            10
        );
        let mut bytes = [179u8].into_iter();
        assert_eq!(
            MatchNumber::draw(&mut || bytes.next().unwrap_or(0)).get(),
            99
        );
        let seen: HashSet<u8> = (0..5000).map(|_| MatchNumber::generate().get()).collect();
        assert_eq!(seen.len(), 90, "every two-digit number comes up");
    }

    #[test]
    fn choices_hold_the_number_once_among_two_distinct_others() {
        let mut positions = HashSet::new();
        for _ in 0..300 {
            let right = MatchNumber::generate();
            let choices = right.choices();
            assert_eq!(choices.iter().filter(|c| **c == right).count(), 1);
            let distinct: HashSet<_> = choices.iter().collect();
            assert_eq!(distinct.len(), CHOICES, "{choices:?}");
            positions.insert(choices.iter().position(|c| *c == right));
        }
        assert_eq!(positions.len(), CHOICES, "the right one is anywhere");
    }

    #[test]
    fn a_wrong_draw_equal_to_an_earlier_one_is_drawn_again() {
        let right = MatchNumber(10);
        // 0 → 10 (the right one: again), 1 → 11, 1 → 11 (taken: again),
        // 2 → 12, then the shuffle draws 0 and 0.
        let mut bytes = [0u8, 1, 1, 2, 0, 0].into_iter();
        let out = right.choices_from(&mut || bytes.next().unwrap_or(0));
        let mut sorted: Vec<u8> = out.iter().map(|n| n.get()).collect();
        sorted.sort_unstable();
        assert_eq!(sorted, [10, 11, 12]);
    }
}
