//! Reply encoding for RESP2 and RESP3.
//!
//! Handlers describe replies in RESP3 terms (map, set, double, null, push); the writer
//! downgrades them for RESP2 clients exactly as Redis does: maps become flat arrays, sets
//! arrays, doubles bulk strings, null `$-1` (or `*-1` for a null array), booleans integers.

/// Protocol version of a connection, chosen with HELLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Resp2 = 2,
    Resp3 = 3,
}

/// Appends encoded replies to an output buffer.
pub struct Reply<'a> {
    pub out: &'a mut Vec<u8>,
    pub proto: Proto,
}

impl<'a> Reply<'a> {
    pub fn new(out: &'a mut Vec<u8>, proto: Proto) -> Self {
        Reply { out, proto }
    }

    fn header(&mut self, kind: u8, n: i64) {
        self.out.push(kind);
        self.out.extend_from_slice(itoa_buf(n).as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.out.extend_from_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, text: &str) {
        self.out.push(b'+');
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// An error line; `text` starts with its code (`ERR ...`, `WRONGTYPE ...`).
    pub fn error(&mut self, text: &str) {
        self.error_bytes(text.as_bytes());
    }

    /// An error line whose text may hold any bytes (echoed client input).
    pub fn error_bytes(&mut self, text: &[u8]) {
        self.out.push(b'-');
        // CR and LF inside an error would break framing; Redis replaces them with spaces.
        self.out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn bulk_str(&mut self, data: &str) {
        self.bulk(data.as_bytes());
    }

    pub fn bulk_int(&mut self, n: i64) {
        self.bulk(itoa_buf(n).as_bytes());
    }

    /// A null bulk string (`$-1` in RESP2, `_` in RESP3).
    pub fn null(&mut self) {
        match self.proto {
            Proto::Resp2 => self.out.extend_from_slice(b"$-1\r\n"),
            Proto::Resp3 => self.out.extend_from_slice(b"_\r\n"),
        }
    }

    /// A null array (`*-1` in RESP2, `_` in RESP3).
    pub fn null_array(&mut self) {
        match self.proto {
            Proto::Resp2 => self.out.extend_from_slice(b"*-1\r\n"),
            Proto::Resp3 => self.out.extend_from_slice(b"_\r\n"),
        }
    }

    pub fn array(&mut self, len: usize) {
        self.header(b'*', len as i64);
    }

    /// A map of `len` pairs; RESP2 sees a flat array of `2 * len` elements.
    pub fn map(&mut self, len: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', 2 * len as i64),
            Proto::Resp3 => self.header(b'%', len as i64),
        }
    }

    pub fn set(&mut self, len: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', len as i64),
            Proto::Resp3 => self.header(b'~', len as i64),
        }
    }

    pub fn push(&mut self, len: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', len as i64),
            Proto::Resp3 => self.header(b'>', len as i64),
        }
    }

    /// A double, formatted as Redis does (`%.17g`, inf, -inf).
    pub fn double(&mut self, value: f64) {
        let text = format_double(value);
        match self.proto {
            Proto::Resp2 => self.bulk(text.as_bytes()),
            Proto::Resp3 => {
                self.out.push(b',');
                self.out.extend_from_slice(text.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
        }
    }

    pub fn boolean(&mut self, value: bool) {
        match self.proto {
            Proto::Resp2 => self.int(value as i64),
            Proto::Resp3 => self
                .out
                .extend_from_slice(if value { b"#t\r\n" } else { b"#f\r\n" }),
        }
    }

    /// Verbatim text (INFO, CLIENT LIST, LOLWUT); a bulk string in RESP2.
    pub fn verbatim(&mut self, text: &str) {
        match self.proto {
            Proto::Resp2 => self.bulk(text.as_bytes()),
            Proto::Resp3 => {
                self.header(b'=', text.len() as i64 + 4);
                self.out.extend_from_slice(b"txt:");
                self.out.extend_from_slice(text.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
        }
    }
}

/// An integer's decimal digits, written right to left into a stack buffer: every array,
/// bulk and integer header goes through here, and core::fmt's machinery (dynamic dispatch
/// into a writer) was 4% of an HSET in a profile.
fn itoa_buf(n: i64) -> SmallText {
    let mut text = SmallText {
        start: 24,
        bytes: [0; 24],
    };
    let mut rest = n.unsigned_abs();
    loop {
        text.start -= 1;
        text.bytes[text.start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        text.start -= 1;
        text.bytes[text.start] = b'-';
    }
    text
}

/// Up to 20 digits and a sign, at the end of the buffer.
struct SmallText {
    start: usize,
    bytes: [u8; 24],
}

impl SmallText {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// C's `%.17g`, which Redis 7.0 uses for double replies (ZSCORE, INCRBYFLOAT on hashes,
/// RESP3 doubles): 17 significant digits, trailing zeros removed, exponent form outside
/// 1e-4..1e17, and `inf`/`-inf`/`nan`.
pub fn format_double(value: f64) -> String {
    format_g(value, 17)
}

/// C's `%.<precision>g`.
pub fn format_g(value: f64, precision: usize) -> String {
    if value.is_infinite() {
        return if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if value.is_nan() {
        return "nan".into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.*e}", precision - 1, value);
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent digits");
    if exp < -4 || exp >= precision as i32 {
        let mantissa = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = (precision as i32 - 1 - exp).max(0) as usize;
    strip_zeros(&format!("{value:.decimals$}")).to_string()
}

fn strip_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn integers_format_as_display_does() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            12345,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            assert_eq!(super::itoa_buf(n).as_bytes(), n.to_string().as_bytes());
        }
    }

    use super::*;

    fn encode(proto: Proto, f: impl FnOnce(&mut Reply)) -> String {
        let mut out = Vec::new();
        f(&mut Reply::new(&mut out, proto));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn resp2_downgrades_resp3_types() {
        assert_eq!(encode(Proto::Resp2, |r| r.null()), "$-1\r\n");
        assert_eq!(encode(Proto::Resp3, |r| r.null()), "_\r\n");
        assert_eq!(encode(Proto::Resp2, |r| r.map(2)), "*4\r\n");
        assert_eq!(encode(Proto::Resp3, |r| r.map(2)), "%2\r\n");
        assert_eq!(encode(Proto::Resp2, |r| r.double(1.5)), "$3\r\n1.5\r\n");
        assert_eq!(encode(Proto::Resp3, |r| r.double(1.5)), ",1.5\r\n");
        assert_eq!(encode(Proto::Resp3, |r| r.boolean(true)), "#t\r\n");
        assert_eq!(encode(Proto::Resp2, |r| r.verbatim("a")), "$1\r\na\r\n");
        assert_eq!(encode(Proto::Resp3, |r| r.verbatim("a")), "=5\r\ntxt:a\r\n");
    }

    #[test]
    fn integers_bulks_and_errors() {
        assert_eq!(encode(Proto::Resp2, |r| r.int(-42)), ":-42\r\n");
        assert_eq!(
            encode(Proto::Resp2, |r| r.int(i64::MIN)),
            ":-9223372036854775808\r\n"
        );
        assert_eq!(encode(Proto::Resp2, |r| r.bulk(b"ab")), "$2\r\nab\r\n");
        assert_eq!(
            encode(Proto::Resp2, |r| r.error("ERR a\r\nb")),
            "-ERR a  b\r\n"
        );
    }

    #[test]
    fn doubles_format_like_redis() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-0.5), "-0.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(1.1), "1.1000000000000001");
        assert_eq!(format_double(0.5), "0.5");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_g(10.1, 17), "10.1");
    }
}
