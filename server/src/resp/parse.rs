//! Request parsing: RESP multibulk (`*N\r\n$len\r\narg\r\n...`) and inline commands as
//! typed into telnet.
//!
//! The parser never copies argument bytes: it records `(start, end)` offsets into the
//! connection's read buffer, and handlers read the arguments from there. `Incomplete`
//! means "read more bytes", never failure.

use crate::limits::{INLINE_REQUEST_BYTES_MAX, MULTIBULK_ARGS_MAX};
use memchr::memchr;

/// Offsets of one request's arguments inside the read buffer.
pub type ArgRanges = Vec<(u32, u32)>;

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete request of `consumed` bytes; its arguments are in the ranges vector.
    /// An empty request (`*0`, an empty inline line) has no arguments and is skipped.
    Request { consumed: usize },
    /// An inline request with quotes: its arguments had to be unescaped, so they are owned.
    Owned { consumed: usize, args: Vec<Vec<u8>> },
    /// The buffer ends inside a request: read more.
    Incomplete,
}

/// A protocol violation: the connection gets `-ERR Protocol error: <text>` and is closed,
/// as Redis does, because the stream can no longer be framed. The text is bytes: Redis
/// echoes the offending byte raw ("expected '$', got '\xff'").
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub Vec<u8>);

impl ParseError {
    fn new(text: &str) -> Self {
        ParseError(text.as_bytes().to_vec())
    }
}

/// Parses one request from the start of `buf` (offsets are relative to `base`, the
/// position of `buf` inside the read buffer). `bulk_bytes_max` is proto-max-bulk-len.
pub fn parse_request(
    buf: &[u8],
    base: usize,
    bulk_bytes_max: u64,
    args: &mut ArgRanges,
) -> Result<Parsed, ParseError> {
    args.clear();
    match buf.first() {
        None => Ok(Parsed::Incomplete),
        Some(b'*') => parse_multibulk(buf, base, bulk_bytes_max, args),
        Some(_) => parse_inline(buf, base, args),
    }
}

/// Reads a count line (`*N` or `$N`) starting at `pos`, as Redis does: up to the first
/// `\r`, which must not be the buffer's last byte; the two bytes from the `\r` on are
/// skipped unchecked. A bare `\n` is therefore part of the count and makes it invalid.
fn line_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let cr = memchr(b'\r', &buf[pos..])? + pos;
    if cr + 1 >= buf.len() {
        return None;
    }
    Some((&buf[pos..cr], cr + 2))
}

/// Redis's string2ll for protocol counts: optional '-', digits only, no '+', no spaces.
pub fn parse_count(text: &[u8]) -> Option<i64> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((d - b'0') as i64)?;
    }
    Some(if neg { -value } else { value })
}

fn parse_multibulk(
    buf: &[u8],
    base: usize,
    bulk_bytes_max: u64,
    args: &mut ArgRanges,
) -> Result<Parsed, ParseError> {
    let Some((line, mut pos)) = line_at(buf, 1) else {
        if buf.len() > INLINE_REQUEST_BYTES_MAX {
            return Err(ParseError::new("too big mbulk count string"));
        }
        return Ok(Parsed::Incomplete);
    };
    let count = match parse_count(line) {
        Some(n) if n <= MULTIBULK_ARGS_MAX as i64 => n,
        _ => return Err(ParseError::new("invalid multibulk length")),
    };
    if count <= 0 {
        return Ok(Parsed::Request { consumed: pos });
    }
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(Parsed::Incomplete);
        }
        if buf[pos] != b'$' {
            let mut text = b"expected '$', got '".to_vec();
            text.extend_from_slice(&[buf[pos], b'\'']);
            return Err(ParseError(text));
        }
        let Some((line, after)) = line_at(buf, pos + 1) else {
            if buf.len() - pos > INLINE_REQUEST_BYTES_MAX {
                return Err(ParseError::new("too big bulk count string"));
            }
            return Ok(Parsed::Incomplete);
        };
        let len = match parse_count(line) {
            Some(n) if n >= 0 && (n as u64) <= bulk_bytes_max => n as usize,
            _ => return Err(ParseError::new("invalid bulk length")),
        };
        if buf.len() < after + len + 2 {
            return Ok(Parsed::Incomplete);
        }
        args.push(((base + after) as u32, (base + after + len) as u32));
        pos = after + len + 2;
    }
    Ok(Parsed::Request { consumed: pos })
}

/// Inline commands split exactly like Redis's sdssplitargs: any `isspace` byte separates
/// arguments, an unquoted argument ends only at space, `\t`, `\r` or `\n` (so `\v` and
/// `\f` inside it are kept), "double" quotes take escapes (\n \r \t \b \a \\ \" \xHH),
/// 'single' quotes only \', and the line ends at its first NUL (Redis splits a C string).
/// Quoted arguments may need unescaping, so such a request comes back as
/// [`Parsed::Owned`].
fn parse_inline(buf: &[u8], base: usize, args: &mut ArgRanges) -> Result<Parsed, ParseError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_REQUEST_BYTES_MAX {
            return Err(ParseError::new("too big inline request"));
        }
        return Ok(Parsed::Incomplete);
    };
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = memchr(0, line).map_or(line, |nul| &line[..nul]);
    if line.contains(&b'"') || line.contains(&b'\'') {
        return match split_inline(line) {
            Some(args) => Ok(Parsed::Owned {
                consumed: nl + 1,
                args,
            }),
            None => Err(ParseError::new("unbalanced quotes in request")),
        };
    }
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let start = i;
        while i < line.len() && !ends_unquoted(line[i]) {
            i += 1;
        }
        args.push(((base + start) as u32, (base + i) as u32));
    }
    Ok(Parsed::Request { consumed: nl + 1 })
}

/// C's isspace: what sdssplitargs skips between arguments.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What ends an unquoted argument in sdssplitargs.
fn ends_unquoted(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0)
}

/// Splits a quoted inline line into owned arguments (Redis's sdssplitargs); `None` means
/// unbalanced quotes.
pub fn split_inline(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = memchr(0, line).map_or(line, |nul| &line[..nul]);
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            if in_dq {
                let c = *line.get(i)?;
                if c == b'\\'
                    && i + 3 < line.len()
                    && line[i + 1] == b'x'
                    && is_hex_pair(line, i + 2)
                {
                    cur.push(hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                let c = *line.get(i)?;
                if c == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                match line.get(i) {
                    None => break,
                    Some(&c) if ends_unquoted(c) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(&c) => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

fn is_hex_pair(line: &[u8], at: usize) -> bool {
    at + 1 < line.len() && line[at].is_ascii_hexdigit() && line[at + 1].is_ascii_hexdigit()
}

fn hex_val(c: u8) -> u8 {
    (c as char).to_digit(16).unwrap_or(0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<(Parsed, Vec<Vec<u8>>), ParseError> {
        let mut ranges = Vec::new();
        let parsed = parse_request(buf, 0, 512 << 20, &mut ranges)?;
        let args = ranges
            .iter()
            .map(|&(s, e)| buf[s as usize..e as usize].to_vec())
            .collect();
        Ok((parsed, args))
    }

    #[test]
    fn multibulk_complete_and_incomplete() {
        let req = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        let (p, args) = parse(req).unwrap();
        assert_eq!(
            p,
            Parsed::Request {
                consumed: req.len()
            }
        );
        assert_eq!(args, vec![b"GET".to_vec(), b"key".to_vec()]);
        for cut in 0..req.len() {
            assert_eq!(
                parse(&req[..cut]).unwrap().0,
                Parsed::Incomplete,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn binary_safe_arguments() {
        let req = b"*1\r\n$4\r\na\r\nb\r\n";
        let (_, args) = parse(req).unwrap();
        assert_eq!(args, vec![b"a\r\nb".to_vec()]);
    }

    #[test]
    fn empty_and_negative_multibulk_are_skipped() {
        assert_eq!(parse(b"*0\r\n").unwrap().0, Parsed::Request { consumed: 4 });
        assert_eq!(
            parse(b"*-1\r\n").unwrap().0,
            Parsed::Request { consumed: 5 }
        );
    }

    #[test]
    fn protocol_errors_use_redis_texts() {
        let err = |buf: &[u8]| String::from_utf8(parse(buf).unwrap_err().0).unwrap();
        assert_eq!(err(b"*x\r\n"), "invalid multibulk length");
        assert_eq!(err(b"*2147483648\r\n"), "invalid multibulk length");
        assert_eq!(parse(b"*1048577\r\n").unwrap().0, Parsed::Incomplete);
        assert_eq!(err(b"*1\r\n:3\r\n"), "expected '$', got ':'");
        assert_eq!(err(b"*1\r\n$-1\r\n"), "invalid bulk length");
        assert_eq!(err(b"*1\n$4\r\nPING\r\n"), "invalid multibulk length");
        assert_eq!(err(b"*1\r\n$4\nPING\r\n"), "invalid bulk length");
        let raw = parse(b"*1\r\n\xff").unwrap_err().0;
        assert_eq!(raw, b"expected '$', got '\xff'".to_vec());
        let mut ranges = Vec::new();
        let err = parse_request(b"*1\r\n$100\r\n", 0, 10, &mut ranges).unwrap_err();
        assert_eq!(err.0, b"invalid bulk length".to_vec());
    }

    #[test]
    fn inline_commands() {
        let (p, args) = parse(b"set  foo   bar\r\n").unwrap();
        assert_eq!(p, Parsed::Request { consumed: 16 });
        assert_eq!(
            args,
            vec![b"set".to_vec(), b"foo".to_vec(), b"bar".to_vec()]
        );
        assert_eq!(parse(b"PING\n").unwrap().1, vec![b"PING".to_vec()]);
        assert_eq!(parse(b"\r\n").unwrap().1, Vec::<Vec<u8>>::new());
        assert_eq!(parse(b"PING").unwrap().0, Parsed::Incomplete);
        // sdssplitargs: \v and \f are skipped between arguments but kept inside one.
        assert_eq!(parse(b"\x0bPING\r\n").unwrap().1, vec![b"PING".to_vec()]);
        assert_eq!(
            parse(b"ECHO x\x0cy\r\n").unwrap().1,
            vec![b"ECHO".to_vec(), b"x\x0cy".to_vec()]
        );
        assert_eq!(
            parse(b"ECHO a\0b\r\n").unwrap().1,
            vec![b"ECHO".to_vec(), b"a".to_vec()]
        );
    }

    #[test]
    fn quoted_inline_is_owned_and_unbalanced_is_an_error() {
        let mut ranges = Vec::new();
        let parsed = parse_request(b"set 'a b' c\r\n", 0, 100, &mut ranges).unwrap();
        let args = vec![b"set".to_vec(), b"a b".to_vec(), b"c".to_vec()];
        assert_eq!(parsed, Parsed::Owned { consumed: 13, args });
        let err = parse_request(b"set 'a b\r\n", 0, 100, &mut ranges).unwrap_err();
        assert_eq!(err.0, b"unbalanced quotes in request".to_vec());
    }

    #[test]
    fn quoted_inline_is_split_like_redis() {
        let args = split_inline(br#"set "a b" 'c d' "\x41\n" x"#).unwrap();
        assert_eq!(
            args,
            vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c d".to_vec(),
                b"A\n".to_vec(),
                b"x".to_vec()
            ]
        );
        assert_eq!(split_inline(br#"set "abc"#), None);
        assert_eq!(split_inline(br#"set "a"b"#), None);
    }

    #[test]
    fn counts_reject_plus_and_spaces() {
        assert_eq!(parse_count(b"12"), Some(12));
        assert_eq!(parse_count(b"-1"), Some(-1));
        assert_eq!(parse_count(b"+1"), None);
        assert_eq!(parse_count(b" 1"), None);
        assert_eq!(parse_count(b""), None);
        assert_eq!(parse_count(b"99999999999999999999"), None);
    }
}
