//! INCRBYFLOAT's arithmetic, bit for bit as Redis does it on x86-64: `long double` (the x87
//! 80-bit format, 64-bit significand) parsed by `strtold`, added once, printed with
//! `%.17Lf` and trailing zeros trimmed (`ld2string`'s LD_STR_HUMAN mode).
//!
//! An `f64` cannot reproduce the replies: Redis answers `0.3` to 0.1 + 0.2 and
//! `5005.60000000000000009` to 5.6 + 5.0e3, so the format is emulated exactly: correctly
//! rounded parsing (with a small big-integer for long inputs), one correctly rounded
//! addition, and exact decimal printing.

use std::cmp::Ordering;

/// The smallest exponent of the lowest significand bit: 2^-16445 is the least subnormal.
const EXP_MIN: i64 = -16445;
/// The largest: (2^64 - 1) × 2^16320 is the largest finite value.
const EXP_MAX: i64 = 16320;
/// `string2ld` rejects inputs of MAX_LONG_DOUBLE_CHARS (5 KiB) bytes or more.
const INPUT_BYTES_MAX: usize = 5 * 1024;
/// Decimal exponents beyond any finite value; parsing saturates there.
const EXP10_SATURATE: i64 = 1 << 40;
/// `%.17Lf`: digits after the point.
const FRACTION_DIGITS: u32 = 17;

/// A finite value `mantissa × 2^exp`. Normal values have bit 63 of the mantissa set;
/// subnormals (and zero) have `exp == EXP_MIN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongDouble {
    negative: bool,
    mantissa: u64,
    exp: i64,
}

/// What `strtold` makes of an argument Redis accepts as a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    Finite(LongDouble),
    /// `inf`, `infinity` (any case, either sign): valid input, but any sum with it is
    /// "NaN or Infinity".
    Infinite,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble {
        negative: false,
        mantissa: 0,
        exp: EXP_MIN,
    };

    fn is_zero(&self) -> bool {
        self.mantissa == 0
    }
}

/// Parses `text` as Redis's `string2ld` does; `None` is "not a valid float": empty,
/// 5 KiB or longer, leading space, trailing bytes, NaN, or out of range (overflow, or a
/// non-zero value that rounds to zero).
pub fn parse(text: &[u8]) -> Option<Parsed> {
    if text.is_empty() || text.len() >= INPUT_BYTES_MAX {
        return None;
    }
    let (negative, body) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(Parsed::Infinite);
    }
    let value = match body {
        [b'0', x, hex @ ..] if (x | 0x20) == b'x' => parse_hex(negative, hex)?,
        _ => parse_decimal(negative, body)?,
    };
    Some(Parsed::Finite(value))
}

/// `a + b` rounded to nearest, ties to even; `None` when it overflows to infinity.
pub fn add(a: LongDouble, b: LongDouble) -> Option<LongDouble> {
    if b.is_zero() {
        return Some(a);
    }
    if a.is_zero() {
        return Some(b);
    }
    let (hi, lo) = if a.exp >= b.exp { (a, b) } else { (b, a) };
    // 62 spare bits below `hi` keep every bit of `lo` that can affect rounding; what
    // falls below them is folded into the lowest bit ("sticky"), which can only tip a
    // decision that was otherwise exactly zero or exactly half.
    let wide_hi = (hi.mantissa as u128) << 62;
    let gap = (hi.exp - lo.exp) as u32;
    let wide_lo = (lo.mantissa as u128) << 62;
    let (shifted, lost) = if gap >= 128 {
        (0, wide_lo != 0)
    } else {
        (wide_lo >> gap, wide_lo & ((1u128 << gap) - 1) != 0)
    };
    let lo_wide = shifted | lost as u128;
    let (negative, sum) = if hi.negative == lo.negative {
        (hi.negative, wide_hi + lo_wide)
    } else {
        match wide_hi.cmp(&lo_wide) {
            Ordering::Greater => (hi.negative, wide_hi - lo_wide),
            Ordering::Less => (lo.negative, lo_wide - wide_hi),
            Ordering::Equal => return Some(LongDouble::ZERO),
        }
    };
    round(negative, sum, hi.exp - 62, false)
}

/// `%.17Lf` with trailing zeros (and a bare point) removed, and "-0" written as "0".
pub fn format_human(value: LongDouble, out: &mut Vec<u8>) {
    if value.is_zero() {
        out.push(b'0');
        return;
    }
    if value.exp >= 0 {
        if value.negative {
            out.push(b'-');
        }
        write_integer(value.mantissa, value.exp as u32, out);
        return;
    }
    let scale = 10u128.pow(FRACTION_DIGITS);
    let scaled = value.mantissa as u128 * scale;
    let shift = (-value.exp) as u32;
    let rounded = if shift >= 128 {
        0
    } else {
        let kept = scaled >> shift;
        let rest = scaled & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        kept + (rest > half || (rest == half && kept & 1 == 1)) as u128
    };
    let (whole, fraction) = (rounded / scale, rounded % scale);
    if whole == 0 && fraction == 0 {
        out.push(b'0');
        return;
    }
    let mut text = if value.negative { "-" } else { "" }.to_string();
    text += &whole.to_string();
    if fraction != 0 {
        let digits = format!(".{fraction:017}");
        text += digits.trim_end_matches('0');
    }
    out.extend_from_slice(text.as_bytes());
}

/// The decimal digits of `mantissa × 2^exp`.
fn write_integer(mantissa: u64, exp: u32, out: &mut Vec<u8>) {
    if exp < 64 {
        let value = (mantissa as u128) << exp;
        out.extend_from_slice(value.to_string().as_bytes());
        return;
    }
    let mut big = Big::from_u64(mantissa);
    big.shl(exp as u64);
    big.write_decimal(out);
}

/// Rounds `m × 2^exp` to the nearest value, ties to even. `sticky` says the exact value
/// is a little more than `m × 2^exp` (callers then pass at least 65 bits in `m`, so the
/// rounding point lies above it). `None` on overflow; a zero result means underflow.
fn round(negative: bool, m: u128, exp: i64, sticky: bool) -> Option<LongDouble> {
    if m == 0 {
        debug_assert!(!sticky, "a value below the lowest bit needs more bits");
        return Some(LongDouble {
            negative,
            ..LongDouble::ZERO
        });
    }
    let bits = 128 - m.leading_zeros() as i64;
    let mut target = (exp + bits - 64).max(EXP_MIN);
    let shift = target - exp;
    let mut mantissa = if shift <= 0 {
        debug_assert!(!sticky, "a value below the lowest bit needs more bits");
        m << -shift
    } else if shift > 128 {
        0
    } else {
        let (kept, rest) = if shift == 128 {
            (0, m)
        } else {
            (m >> shift, m & ((1u128 << shift) - 1))
        };
        let half = 1u128 << (shift - 1);
        let up = rest > half || (rest == half && (sticky || kept & 1 == 1));
        kept + up as u128
    };
    if mantissa == 1 << 64 {
        mantissa = 1 << 63;
        target += 1;
    }
    if target > EXP_MAX {
        return None;
    }
    Some(LongDouble {
        negative,
        mantissa: mantissa as u64,
        exp: target,
    })
}

/// Hex digits after "0x": `h*[.h*]` with at least one digit, then `[pP][+-]d+`.
fn parse_hex(negative: bool, text: &[u8]) -> Option<LongDouble> {
    let mut m: u128 = 0;
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut digits = 0;
    let mut seen_point = false;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            digits += 1;
            if m < 1 << 120 {
                m = m * 16 + d as u128;
                if seen_point {
                    exp -= 4;
                }
            } else {
                // 121+ bits kept already: the rest only decides rounding.
                sticky |= d != 0;
                if !seen_point {
                    exp += 4;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < text.len() {
        if text[i] | 0x20 != b'p' {
            return None;
        }
        exp = exp.saturating_add(parse_exponent(&text[i + 1..])?);
    }
    finish(negative, m, exp, sticky)
}

/// `[+-]d+` to the end of the input, saturating far beyond any finite value.
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().fold(0i64, |n, d| {
        (n * 10 + (d - b'0') as i64).min(EXP10_SATURATE)
    });
    Some(if negative { -magnitude } else { magnitude })
}

/// The rounded value of a non-zero exact `m × 2^exp`, or `None` out of range.
fn finish(negative: bool, m: u128, exp: i64, sticky: bool) -> Option<LongDouble> {
    let value = round(negative, m, exp, sticky)?;
    if m != 0 && value.is_zero() {
        return None;
    }
    Some(value)
}

/// `d*[.d*]` with at least one digit, then `[eE][+-]d+`.
fn parse_decimal(negative: bool, text: &[u8]) -> Option<LongDouble> {
    let int_len = text.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut rest = &text[int_len..];
    let mut frac: &[u8] = &[];
    if let Some(after) = rest.strip_prefix(b".") {
        let frac_len = after.iter().take_while(|c| c.is_ascii_digit()).count();
        frac = &after[..frac_len];
        rest = &after[frac_len..];
    }
    if int_len == 0 && frac.is_empty() {
        return None;
    }
    let exp10 = match rest.first() {
        None => 0,
        Some(c) if c | 0x20 == b'e' => parse_exponent(&rest[1..])?,
        Some(_) => return None,
    };
    let digits = Digits {
        int: &text[..int_len],
        frac,
    };
    decimal_value(negative, &digits, exp10)
}

/// The integer and fraction digits of a decimal input, read as one digit sequence.
struct Digits<'a> {
    int: &'a [u8],
    frac: &'a [u8],
}

impl Digits<'_> {
    fn len(&self) -> usize {
        self.int.len() + self.frac.len()
    }
    fn at(&self, i: usize) -> u8 {
        let c = if i < self.int.len() {
            self.int[i]
        } else {
            self.frac[i - self.int.len()]
        };
        c - b'0'
    }
}

fn decimal_value(negative: bool, digits: &Digits, exp10: i64) -> Option<LongDouble> {
    let Some(first) = (0..digits.len()).find(|&i| digits.at(i) != 0) else {
        return Some(LongDouble {
            negative,
            ..LongDouble::ZERO
        });
    };
    let last = (0..digits.len()).rev().find(|&i| digits.at(i) != 0)?;
    let count = (last - first + 1) as i64;
    // value = D × 10^scale, D the significant digits as an integer.
    let scale = digits.int.len() as i64 - 1 - last as i64 + exp10;
    if count - 1 + scale >= 4933 {
        return None; // at least 1e4933: beyond the largest long double
    }
    if count + scale <= -4951 {
        return None; // below 1e-4951: under half the least subnormal, rounds to zero
    }
    if count <= 19 && (-27..=27).contains(&scale) {
        let d = (first..=last).fold(0u64, |n, i| n * 10 + digits.at(i) as u64);
        return small_decimal(negative, d, scale);
    }
    let mut d = Big::zero();
    for i in first..=last {
        d.mul_add_small(10, digits.at(i) as u32);
    }
    big_decimal(negative, d, scale)
}

/// `d × 10^scale` for `d < 10^19` and `|scale| <= 27`, where 5^27 < 2^63 keeps all
/// the work in 128 bits.
fn small_decimal(negative: bool, d: u64, scale: i64) -> Option<LongDouble> {
    let pow5 = 5u128.pow(scale.unsigned_abs() as u32);
    if scale >= 0 {
        return finish(negative, d as u128 * pow5, scale, false);
    }
    // d / 5^k: shift d to the top so the quotient keeps 65+ bits.
    let lead = (d as u128).leading_zeros() as i64;
    let n = (d as u128) << lead;
    let (q, r) = (n / pow5, n % pow5);
    finish(negative, q, scale - lead, r != 0)
}

/// `d × 10^scale` for any size, exactly, with big integers.
fn big_decimal(negative: bool, mut d: Big, scale: i64) -> Option<LongDouble> {
    if scale >= 0 {
        d.mul_pow5(scale as u64);
        let (m, below, sticky) = d.top_bits();
        return finish(negative, m, scale + below as i64, sticky);
    }
    let k = -scale as u64;
    let mut den = Big::from_u64(1);
    den.mul_pow5(k);
    // Align so the quotient has 66 or 67 bits: num has 66 bits more than den.
    let shift = d.bit_len() as i64 - den.bit_len() as i64 - 66;
    if shift >= 0 {
        den.shl(shift as u64);
    } else {
        d.shl((-shift) as u64);
    }
    let (q, exact) = d.div_small_quotient(&den, 67);
    finish(negative, q, shift - k as i64, !exact)
}

/// Just enough of an unsigned big integer for exact parsing and printing
/// (little-endian 32-bit limbs, no trailing zero limbs).
#[derive(Clone, Debug)]
struct Big(Vec<u32>);

impl Big {
    fn zero() -> Big {
        Big(Vec::new())
    }

    fn from_u64(v: u64) -> Big {
        let mut big = Big(vec![v as u32, (v >> 32) as u32]);
        big.trim();
        big
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => self.0.len() as u64 * 32 - top.leading_zeros() as u64,
        }
    }

    fn bit(&self, i: u64) -> bool {
        let limb = (i / 32) as usize;
        limb < self.0.len() && self.0[limb] >> (i % 32) & 1 == 1
    }

    /// self = self × mul + add.
    fn mul_add_small(&mut self, mul: u32, add: u32) {
        let mut carry = add as u64;
        for limb in self.0.iter_mut() {
            let v = *limb as u64 * mul as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow5(&mut self, mut k: u64) {
        const POW5_13: u32 = 1_220_703_125; // the largest power of 5 in 32 bits
        while k >= 13 {
            self.mul_add_small(POW5_13, 0);
            k -= 13;
        }
        self.mul_add_small(5u32.pow(k as u32), 0);
    }

    /// self /= div; returns the remainder.
    fn div_rem_small(&mut self, div: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let v = (rem << 32) | *limb as u64;
            *limb = (v / div as u64) as u32;
            rem = v % div as u64;
        }
        self.trim();
        rem as u32
    }

    fn shl(&mut self, bits: u64) {
        let (limbs, bits) = ((bits / 32) as usize, (bits % 32) as u32);
        if bits > 0 {
            let mut carry = 0u32;
            for limb in self.0.iter_mut() {
                let v = *limb;
                *limb = (v << bits) | carry;
                carry = v >> (32 - bits);
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        if !self.is_zero() {
            self.0.splice(0..0, std::iter::repeat_n(0, limbs));
        }
    }

    fn shr1(&mut self) {
        let mut carry = 0u32;
        for limb in self.0.iter_mut().rev() {
            let v = *limb;
            *limb = (v >> 1) | (carry << 31);
            carry = v & 1;
        }
        self.trim();
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// self -= other, for self >= other.
    fn sub(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let v = *limb as i64 - other.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            *limb = v.rem_euclid(1 << 32) as u32;
            borrow = (v < 0) as i64;
        }
        debug_assert_eq!(borrow, 0);
        self.trim();
    }

    /// The top 128 bits (all of them if fewer), how many bits lie below them, and
    /// whether any of those is set.
    fn top_bits(&self) -> (u128, u64, bool) {
        let below = self.bit_len().saturating_sub(128);
        let mut m = 0u128;
        for i in (below..self.bit_len()).rev() {
            m = (m << 1) | self.bit(i) as u128;
        }
        let sticky = (0..below).any(|i| self.bit(i));
        (m, below, sticky)
    }

    /// floor(self / den), known to be below 2^bits, and whether it was exact; consumes
    /// self as the remainder. Schoolbook bit by bit: only ~67 quotient bits are needed.
    fn div_small_quotient(&mut self, den: &Big, bits: u32) -> (u128, bool) {
        let mut step = den.clone();
        step.shl(bits as u64 - 1);
        let mut q = 0u128;
        for i in (0..bits).rev() {
            if self.cmp(&step) != Ordering::Less {
                self.sub(&step);
                q |= 1 << i;
            }
            step.shr1();
        }
        (q, self.is_zero())
    }

    fn write_decimal(mut self, out: &mut Vec<u8>) {
        const CHUNK: u32 = 1_000_000_000;
        let mut chunks = Vec::new();
        while !self.is_zero() {
            chunks.push(self.div_rem_small(CHUNK));
        }
        let mut text = chunks.pop().unwrap_or(0).to_string();
        for chunk in chunks.iter().rev() {
            text += &format!("{chunk:09}");
        }
        out.extend_from_slice(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What INCRBYFLOAT replies when `value` holds `current`.
    fn incr(current: &str, by: &str) -> Result<String, &'static str> {
        let finite = |text: &str| match parse(text.as_bytes()) {
            None => Err("not a valid float"),
            Some(Parsed::Infinite) => Err("NaN or Infinity"),
            Some(Parsed::Finite(v)) => Ok(v),
        };
        let sum = add(finite(current)?, finite(by)?).ok_or("NaN or Infinity")?;
        let mut out = Vec::new();
        format_human(sum, &mut out);
        Ok(String::from_utf8(out).unwrap())
    }

    /// Replies of redis-server 7.0.15 (x86-64) to `SET x a; INCRBYFLOAT x b`.
    #[test]
    fn sums_match_redis_byte_for_byte() {
        for (a, b, redis) in [
            ("0.1", "0.2", "0.3"),
            ("10.5", "0.1", "10.6"),
            ("5.6", "5.0e3", "5005.60000000000000009"),
            ("5.0e3", "2.0e2", "5200"),
            ("1e20", "0.1", "100000000000000000000"),
            ("3.0e3", "1e-30", "3000"),
            ("17179869184", "1.5", "17179869185.5"),
            ("1", "-1", "0"),
            ("1", "-1e-20", "1"),
            ("0", "0.000003814697265625", "0.00000381469726562"),
            ("0", "0.000003814697265635", "0.00000381469726563"),
            ("-0", "-0", "0"),
            ("0x1p-2", "0x10", "16.25"),
            ("1e-4950", "0", "0"),
            ("1.18e4932", "-1.18e4932", "0"),
            ("0.1", "-0.1", "0"),
            ("9223372036854775807", "1", "9223372036854775808"),
            ("-9223372036854775808", "-1", "-9223372036854775809"),
            ("1.5", ".5e1", "6.5"),
            ("+.5", "5.", "5.5"),
            (
                "3.14159265358979323846264338327950288",
                "0",
                "3.14159265358979324",
            ),
            ("0.30000000000000000001", "0", "0.3"),
            ("1e-17", "0", "0.00000000000000001"),
            ("5e-18", "0", "0"),
            ("5.000000000000000001e-18", "0", "0.00000000000000001"),
            ("15e-18", "0", "0.00000000000000002"),
            ("25e-18", "0", "0.00000000000000002"),
            (
                "123456789012345678901234567890",
                "1",
                "123456789012345678899921813504",
            ),
            ("0x1p64", "0", "18446744073709551616"),
            ("2.5", "-2.5000000000000000001", "0"),
            ("1E3", "1e-3", "1000.001"),
            ("0X1A", "0x.8p1", "27"),
            (
                "99999999999999999.999999999999",
                "0.000000000000000001",
                "100000000000000000",
            ),
            (
                "0.00000000000000001",
                "0.00000000000000001",
                "0.00000000000000002",
            ),
        ] {
            assert_eq!(incr(a, b).as_deref(), Ok(redis), "{a} + {b}");
        }
        let doubled = incr("1e308", "1e308").unwrap();
        assert!(doubled.starts_with("199999999999999999993371759311691291321120199694831"));
        assert_eq!(doubled.len(), 309);
        let top = incr("0x1p16383", "0").unwrap();
        assert!(top.starts_with("594865747678615882542879663314003565381722343548255118"));
        assert_eq!(top.len(), 4932);
    }

    #[test]
    fn out_of_range_and_malformed_inputs_are_refused() {
        for text in [
            "",
            " 1",
            "1 ",
            "abc",
            "1e",
            "1e+",
            ".",
            "e5",
            "-",
            "0x",
            "0xg",
            "0x1p",
            "1.2.3",
            "nan",
            "-nan",
            "NaN(1)",
            "infinit",
            "1e5000",
            "-1e5000",
            "1e-5000",
            "0x1p16384",
            "0x1p-16446",
            "1\u{0}2",
        ] {
            assert_eq!(parse(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(incr("1.18e4932", "1.18e4932"), Err("NaN or Infinity"));
        assert_eq!(incr("inf", "1"), Err("NaN or Infinity"));
        assert_eq!(incr("0", "-INFINITY"), Err("NaN or Infinity"));
        // Subnormals, and zero however written, are valid.
        assert!(matches!(parse(b"0x1p-16445"), Some(Parsed::Finite(_))));
        assert!(matches!(
            parse(b"0e99999999999999999999"),
            Some(Parsed::Finite(_))
        ));
        // string2ld's buffer: 5 KiB inputs are refused, one byte less is parsed.
        let mut long = vec![b'0'; 5 * 1024 - 4];
        long.extend_from_slice(b"1.5");
        assert!(parse(&long).is_some());
        long.insert(0, b'0');
        assert_eq!(parse(&long), None);
    }
}
