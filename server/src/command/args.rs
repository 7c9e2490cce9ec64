//! The argument cursor handlers pull their arguments from.
//!
//! Arguments are `(start, end)` offsets into one byte buffer: the connection's read buffer
//! for commands run where they were parsed (no copies), or a cross-core batch's buffer for
//! commands that travelled to the core owning their keys.

use super::status::Status;
use crate::shard::value::parse_i64_strict;

pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [(u32, u32)],
    pos: usize,
}

impl<'a> Args<'a> {
    pub fn new(buf: &'a [u8], ranges: &'a [(u32, u32)]) -> Self {
        Args {
            buf,
            ranges,
            pos: 1,
        }
    }

    /// Number of arguments including the command name.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn get(&self, index: usize) -> &'a [u8] {
        let (start, end) = self.ranges[index];
        &self.buf[start as usize..end as usize]
    }

    pub fn name(&self) -> &'a [u8] {
        self.get(0)
    }

    /// Arguments not yet consumed.
    pub fn remaining(&self) -> usize {
        self.ranges.len() - self.pos
    }

    // A cursor, not an Iterator: handlers mix `next` with typed pulls (`i64`, `required`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<&'a [u8]> {
        (self.pos < self.ranges.len()).then(|| {
            self.pos += 1;
            self.get(self.pos - 1)
        })
    }

    /// The next argument; a syntax error when there is none (arity already guaranteed the
    /// mandatory ones, so a missing optional value is a syntax error, as in Redis).
    pub fn required(&mut self) -> Result<&'a [u8], Status> {
        self.next().ok_or(Status::Syntax)
    }

    pub fn peek(&self) -> Option<&'a [u8]> {
        (self.pos < self.ranges.len()).then(|| self.get(self.pos))
    }

    /// Rejects extra arguments.
    pub fn finish(&self) -> Result<(), Status> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(Status::Syntax)
        }
    }

    pub fn i64(&mut self) -> Result<i64, Status> {
        parse_i64(self.required()?)
    }

    pub fn all(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Remaining arguments, consuming them.
    pub fn rest(&mut self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let from = self.pos;
        self.pos = self.ranges.len();
        (from..self.ranges.len()).map(|i| self.get(i))
    }

    /// Owned copies of every argument (for work that must travel to other cores).
    pub fn to_vec(&self) -> Vec<Vec<u8>> {
        self.all().map(<[u8]>::to_vec).collect()
    }
}

/// An integer argument as Redis parses it ("value is not an integer or out of range").
pub fn parse_i64(arg: &[u8]) -> Result<i64, Status> {
    parse_i64_strict(arg).ok_or(Status::NotInteger)
}

/// A float argument as Redis's string2ld/strtold accepts it (no spaces, not NaN).
pub fn parse_f64(arg: &[u8]) -> Result<f64, Status> {
    let text = std::str::from_utf8(arg).map_err(|_| Status::NotFloat)?;
    if text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
    {
        return Err(Status::NotFloat);
    }
    let value = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => text.parse::<f64>().map_err(|_| Status::NotFloat)?,
    };
    if value.is_nan() {
        return Err(Status::NotFloat);
    }
    Ok(value)
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_pulls_and_rejects_extras() {
        let buf = b"SETxy10";
        let ranges = [(0, 3), (3, 4), (4, 5), (5, 7)];
        let mut args = Args::new(buf, &ranges);
        assert_eq!(args.name(), b"SET");
        assert_eq!(args.next(), Some(&b"x"[..]));
        assert_eq!(args.remaining(), 2);
        assert!(args.finish().is_err());
        assert_eq!(args.next(), Some(&b"y"[..]));
        assert_eq!(args.i64(), Ok(10));
        assert!(args.finish().is_ok());
        assert_eq!(args.required(), Err(Status::Syntax));
    }

    #[test]
    fn floats_like_redis() {
        assert_eq!(parse_f64(b"1.5"), Ok(1.5));
        assert_eq!(parse_f64(b"-inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"1e3"), Ok(1000.0));
        assert!(parse_f64(b"nan").is_err());
        assert!(parse_f64(b" 1").is_err());
        assert!(parse_f64(b"abc").is_err());
    }
}
