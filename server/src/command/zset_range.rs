//! Reading the ranges sorted set commands take, as Redis reads them: numbers (scores,
//! increments, weights and score range ends through C's strtod rules), lex range ends,
//! rank normalisation, and a ZRANGE-style request (`min max` plus BYSCORE/BYLEX, REV,
//! LIMIT, WITHSCORES) resolved against a set into one range of ranks.
//!
//! ```text
//! rank range   start..=end, negative from the end, clamped
//! score range  [count of elements before min, count not after max)
//! lex range    the same with member comparisons (meaningful when scores are equal)
//!   then LIMIT offset count within it, from the top when REV
//! ```

use super::args::{is, parse_i64};
use super::Status;
use crate::shard::zset::Zset;
use std::ops::Range;

/// C's strtod as glibc reads a number from the start of `text`: the value, how many
/// bytes it used (0 when there is no number, as strtod leaves `endptr` at the start) and
/// whether it overflowed to infinity or underflowed to zero (ERANGE). Accepts leading
/// spaces, a sign, decimal and hexadecimal forms, `inf`, `infinity` and `nan`.
pub(super) fn strtod(text: &[u8]) -> (f64, usize, bool) {
    let mut at = text
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .count();
    let start = at;
    let negative = text.get(at) == Some(&b'-');
    if matches!(text.get(at), Some(b'+' | b'-')) {
        at += 1;
    }
    let sign = if negative { -1.0 } else { 1.0 };
    let rest = &text[at..];
    let starts = |word: &str| {
        rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes())
    };
    if starts("infinity") {
        return (sign * f64::INFINITY, at + 8, false);
    }
    if starts("inf") {
        return (sign * f64::INFINITY, at + 3, false);
    }
    if starts("nan") {
        return (f64::NAN, at + 3 + nan_payload(&rest[3..]), false);
    }
    let hex = (starts("0x")).then(|| strtod_hex(&rest[2..])).flatten();
    if let Some((value, used)) = hex {
        return (sign * value, at + 2 + used, value.is_infinite());
    }
    let (used, nonzero) = decimal_extent(rest);
    if used == 0 {
        return (0.0, 0, false);
    }
    let number = std::str::from_utf8(&text[start..at + used]).expect("ASCII digits");
    let value: f64 = number.parse().expect("a decimal number");
    let out_of_range = value.is_infinite() || (value == 0.0 && nonzero);
    (value, at + used, out_of_range)
}

/// strtod's `nan(chars)`: the parenthesised part it also consumes, if well formed.
fn nan_payload(rest: &[u8]) -> usize {
    if rest.first() != Some(&b'(') {
        return 0;
    }
    let inner = rest[1..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    if rest.get(1 + inner) == Some(&b')') {
        inner + 2
    } else {
        0
    }
}

/// The length of a decimal number (digits, point, digits, exponent) at the start of
/// `text`, and whether its mantissa has a non-zero digit.
fn decimal_extent(text: &[u8]) -> (usize, bool) {
    let digits = |from: usize| {
        text[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut at = digits(0);
    let mut mantissa_digits = at;
    if text.get(at) == Some(&b'.') {
        let fraction = digits(at + 1);
        mantissa_digits += fraction;
        at += 1 + fraction;
    }
    if mantissa_digits == 0 {
        return (0, false);
    }
    let nonzero = text[..at].iter().any(|b| (b'1'..=b'9').contains(b));
    if matches!(text.get(at), Some(b'e' | b'E')) {
        let mut exp = at + 1;
        if matches!(text.get(exp), Some(b'+' | b'-')) {
            exp += 1;
        }
        let exp_digits = digits(exp);
        if exp_digits > 0 {
            at = exp + exp_digits;
        }
    }
    (at, nonzero)
}

/// A hexadecimal float after its `0x`: value and bytes used, or None when no hex digit
/// follows (strtod then reads just the `0`).
fn strtod_hex(text: &[u8]) -> Option<(f64, usize)> {
    let (mut value, mut scale, mut at, mut any) = (0f64, 0i32, 0, false);
    let mut fraction = false;
    while let Some(&b) = text.get(at) {
        if b == b'.' && !fraction {
            fraction = true;
        } else if let Some(digit) = (b as char).to_digit(16) {
            value = value * 16.0 + digit as f64;
            scale -= if fraction { 4 } else { 0 };
            any = true;
        } else {
            break;
        }
        at += 1;
    }
    if !any {
        return None;
    }
    if matches!(text.get(at), Some(b'p' | b'P')) {
        let negative = text.get(at + 1) == Some(&b'-');
        let sign_len = matches!(text.get(at + 1), Some(b'+' | b'-')) as usize;
        let digits: Vec<u8> = text[at + 1 + sign_len..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .copied()
            .collect();
        if !digits.is_empty() {
            let exp: i32 = std::str::from_utf8(&digits)
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(i32::MAX / 2);
            scale = scale.saturating_add(if negative { -exp } else { exp });
            at += 1 + sign_len + digits.len();
        }
    }
    Some((value * 2f64.powi(scale), at))
}

/// A score, increment or weight as Redis's getDoubleFromObject reads it: the whole
/// argument, no leading space, no overflow, not NaN.
pub(super) fn parse_score(arg: &[u8]) -> Option<f64> {
    let leading_space = arg
        .first()
        .is_some_and(|b| b.is_ascii_whitespace() || *b == 0x0b);
    let (value, used, out_of_range) = strtod(arg);
    let whole = !arg.is_empty() && used == arg.len();
    (whole && !leading_space && !out_of_range && !value.is_nan()).then_some(value)
}

pub(super) fn score_arg(arg: &[u8]) -> Result<f64, Status> {
    parse_score(arg).ok_or(Status::NotFloat)
}

/// One end of a score range: `(` makes it exclusive.
#[derive(Clone, Copy, Debug)]
pub(super) struct ScoreBound {
    value: f64,
    exclusive: bool,
}

/// Redis's zslParseRange for one end: strtod must use the rest of the argument (an empty
/// one reads as 0, as in Redis), and NaN is refused.
fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, text) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let (value, used, _) = strtod(text);
    (used == text.len() && !value.is_nan()).then_some(ScoreBound { value, exclusive })
}

/// One end of a lex range: `-` and `+` are the ends of the set, `[` inclusive, `(`
/// exclusive.
#[derive(Clone, Debug)]
pub(super) enum LexBound {
    Least,
    Greatest,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

fn lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg {
        b"-" => Some(LexBound::Least),
        b"+" => Some(LexBound::Greatest),
        [b'[', rest @ ..] => Some(LexBound::Inclusive(rest.to_vec())),
        [b'(', rest @ ..] => Some(LexBound::Exclusive(rest.to_vec())),
        _ => None,
    }
}

pub(super) fn score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), Status> {
    match (score_bound(min), score_bound(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(Status::err("ERR min or max is not a float")),
    }
}

pub(super) fn lex_range(min: &[u8], max: &[u8]) -> Result<(LexBound, LexBound), Status> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(Status::err("ERR min or max not valid string range item")),
    }
}

/// The ranks of the elements within [min, max] by score.
pub(super) fn score_ranks(zset: &Zset, min: ScoreBound, max: ScoreBound) -> Range<usize> {
    let start = zset.count_while(|_, s| s < min.value || (min.exclusive && s == min.value));
    let end = zset.count_while(|_, s| s < max.value || (!max.exclusive && s == max.value));
    start..end.max(start)
}

/// The ranks of the elements within [min, max] by member (meaningful when every score
/// is equal, as in Redis).
pub(super) fn lex_ranks(zset: &Zset, min: &LexBound, max: &LexBound) -> Range<usize> {
    let start = zset.count_while(|m, _| match min {
        LexBound::Least => false,
        LexBound::Greatest => true,
        LexBound::Inclusive(v) => m < &v[..],
        LexBound::Exclusive(v) => m <= &v[..],
    });
    let end = zset.count_while(|m, _| match max {
        LexBound::Least => false,
        LexBound::Greatest => true,
        LexBound::Inclusive(v) => m <= &v[..],
        LexBound::Exclusive(v) => m < &v[..],
    });
    start..end.max(start)
}

/// Redis's start/end normalisation for rank ranges (negative counts from the end, then
/// clamped); None when the range is empty.
pub(super) fn rank_range(len: usize, start: i64, end: i64) -> Option<Range<usize>> {
    let len = len as i64;
    let start = if start < 0 { start + len } else { start }.max(0);
    let end = if end < 0 { end + len } else { end };
    if start > end || start >= len {
        return None;
    }
    Some(start as usize..end.min(len - 1) as usize + 1)
}

// ---------------------------------------------------------------------------------------
// ZRANGE-style requests

#[derive(Clone, Debug)]
pub(super) enum Kind {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// A parsed ZRANGE-style request: what to select, in which direction, which part of it.
#[derive(Clone, Debug)]
pub(super) struct RangeQuery {
    kind: Kind,
    rev: bool,
    offset: i64,
    /// Negative: no limit (Redis's -1 default; any negative count means all).
    limit: i64,
    pub withscores: bool,
}

/// What the command name fixes before the options are read (Redis's rangetype and
/// direction arguments to zrangeGenericCommand; None is "AUTO", settable by options).
#[derive(Clone, Copy)]
pub(super) enum By {
    Rank,
    Score,
    Lex,
}

impl RangeQuery {
    /// Parses `min max [options]` as zrangeGenericCommand does: options first, then the
    /// conflicts, then the two ends (swapped for a reverse score or lex range, which is
    /// given as max, min). `store`: ZRANGESTORE, where WITHSCORES is not an option.
    pub(super) fn parse(
        words: &[&[u8]],
        mut by: Option<By>,
        mut rev: Option<bool>,
        store: bool,
    ) -> Result<RangeQuery, Status> {
        let (mut withscores, mut offset, mut limit) = (false, 0, -1);
        let mut at = 2;
        while at < words.len() {
            let word = words[at];
            let left = words.len() - at - 1;
            if !store && is(word, "WITHSCORES") {
                withscores = true;
            } else if is(word, "LIMIT") && left >= 2 {
                offset = parse_i64(words[at + 1])?;
                limit = parse_i64(words[at + 2])?;
                at += 2;
            } else if rev.is_none() && is(word, "REV") {
                rev = Some(true);
            } else if by.is_none() && is(word, "BYLEX") {
                by = Some(By::Lex);
            } else if by.is_none() && is(word, "BYSCORE") {
                by = Some(By::Score);
            } else {
                return Err(Status::Syntax);
            }
            at += 1;
        }
        let (by, rev) = (by.unwrap_or(By::Rank), rev.unwrap_or(false));
        if limit != -1 && matches!(by, By::Rank) {
            return Err(Status::err(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
        if withscores && matches!(by, By::Lex) {
            return Err(Status::err(
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ));
        }
        let (min, max) = match (by, rev) {
            (By::Rank, _) | (_, false) => (words[0], words[1]),
            _ => (words[1], words[0]),
        };
        let kind = match by {
            By::Rank => Kind::Rank(parse_i64(min)?, parse_i64(max)?),
            By::Score => {
                let (min, max) = score_range(min, max)?;
                Kind::Score(min, max)
            }
            By::Lex => {
                let (min, max) = lex_range(min, max)?;
                Kind::Lex(min, max)
            }
        };
        Ok(RangeQuery {
            kind,
            rev,
            offset,
            limit,
            withscores,
        })
    }

    /// The ascending ranks selected (walked from the top when `rev`).
    pub(super) fn ranks(&self, zset: &Zset) -> Range<usize> {
        let len = zset.len();
        match &self.kind {
            Kind::Rank(start, end) => match rank_range(len, *start, *end) {
                Some(r) if self.rev => len - r.end..len - r.start,
                Some(r) => r,
                None => 0..0,
            },
            Kind::Score(min, max) => self.limited(score_ranks(zset, *min, *max)),
            Kind::Lex(min, max) => self.limited(lex_ranks(zset, min, max)),
        }
    }

    /// LIMIT offset count within a score or lex range: a negative offset selects
    /// nothing, a negative count everything after the offset (as Redis's loops do).
    fn limited(&self, range: Range<usize>) -> Range<usize> {
        let available = range.len() as u64;
        if self.offset < 0 || self.offset as u64 >= available {
            return 0..0;
        }
        let offset = self.offset as usize;
        let left = range.len() - offset;
        let take = match usize::try_from(self.limit) {
            Ok(limit) => limit.min(left),
            Err(_) => left,
        };
        if self.rev {
            range.end - offset - take..range.end - offset
        } else {
            range.start + offset..range.start + offset + take
        }
    }

    pub(super) fn rev(&self) -> bool {
        self.rev
    }

    /// Whether the range is by rank (its length is known before it is walked).
    pub(super) fn by_rank(&self) -> bool {
        matches!(self.kind, Kind::Rank(..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_as_redis_reads_them() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"0x1.8p1"), Some(3.0));
        assert_eq!(parse_score(b"1e3"), Some(1000.0));
        assert_eq!(parse_score(b".5"), Some(0.5));
        assert_eq!(parse_score(b"5."), Some(5.0));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"abc",
            b"1e400",
            b"1e-400",
            b"1e",
            b".",
        ] {
            assert_eq!(parse_score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn range_ends_accept_what_strtod_accepts() {
        let bound = |arg: &[u8]| score_bound(arg).map(|b| (b.value, b.exclusive));
        assert_eq!(bound(b"(1"), Some((1.0, true)));
        assert_eq!(bound(b""), Some((0.0, false)));
        assert_eq!(bound(b"("), Some((0.0, true)));
        assert_eq!(bound(b" 2"), Some((2.0, false)));
        assert_eq!(bound(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(bound(b"nan"), None);
        assert_eq!(bound(b"x"), None);
        assert_eq!(bound(b"1x"), None);
    }

    #[test]
    fn rank_ranges_normalise_like_redis() {
        assert_eq!(rank_range(5, 0, -1), Some(0..5));
        assert_eq!(rank_range(5, -2, -1), Some(3..5));
        assert_eq!(rank_range(5, -100, 1), Some(0..2));
        assert_eq!(rank_range(5, 3, 100), Some(3..5));
        assert_eq!(rank_range(5, 5, 10), None);
        assert_eq!(rank_range(5, 2, 1), None);
        assert_eq!(rank_range(0, 0, -1), None);
    }
}
