//! Finding where one reply ends in a byte stream, for RESP2 and RESP3, without building
//! the reply: the generator only needs its length, whether it was an error, a null (a
//! miss) or a MOVED/ASK redirection, so a pipelined stream is counted in place.

use memchr::memchr;

/// Nesting deeper than this is refused: a load generator never asks for such replies,
/// and a bound keeps a corrupt stream from recursing without limit.
const DEPTH_MAX: usize = 32;

/// What the generator learns from one complete reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Anything that is not an error or a null: a hit for a read.
    Value,
    /// `$-1`, `*-1` or RESP3 `_`: a miss for a read.
    Null,
    /// `-...` or RESP3 `!`: counted as an error of its command type.
    Error,
    /// A RESP3 push (`>`): out of band, answers no request.
    Push,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Bytes of the reply, CRLFs included.
    pub len: usize,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "protocol error in the server's reply: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Scans the reply at the start of `buf`: `Ok(None)` while it is incomplete.
pub fn scan(buf: &[u8]) -> Result<Option<Scanned>, ProtocolError> {
    let Some((len, kind)) = scan_at(buf, 0, 0)? else {
        return Ok(None);
    };
    Ok(Some(Scanned { len, kind }))
}

/// The line starting at `at`, without its CRLF, and where the next one starts.
fn line(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let Some(lf) = memchr(b'\n', &buf[at..]) else {
        return Ok(None);
    };
    let end = at + lf;
    if end == at || buf[end - 1] != b'\r' {
        return Err(ProtocolError("a line not ended by CRLF".to_string()));
    }
    Ok(Some((&buf[at..end - 1], end + 1)))
}

fn number(text: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ProtocolError(format!("bad length {:?}", String::from_utf8_lossy(text))))
}

/// Scans one reply starting at `at`; returns where it ends and its kind.
fn scan_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(usize, Kind)>, ProtocolError> {
    if depth > DEPTH_MAX {
        return Err(ProtocolError("replies nested too deeply".to_string()));
    }
    let Some((header, body)) = line(buf, at)? else {
        return Ok(None);
    };
    let Some((&tag, rest)) = header.split_first() else {
        return Err(ProtocolError("an empty line".to_string()));
    };
    match tag {
        b'+' | b':' | b',' | b'#' | b'(' => Ok(Some((body, Kind::Value))),
        b'-' => Ok(Some((body, Kind::Error))),
        b'_' => Ok(Some((body, Kind::Null))),
        b'$' | b'=' => blob(buf, body, number(rest)?, Kind::Value),
        b'!' => blob(buf, body, number(rest)?, Kind::Error),
        b'*' | b'~' => aggregate(buf, body, number(rest)?, 1, depth, Kind::Value),
        b'%' => aggregate(buf, body, number(rest)?, 2, depth, Kind::Value),
        b'>' => aggregate(buf, body, number(rest)?, 1, depth, Kind::Push),
        b'|' => attributed(buf, body, number(rest)?, depth),
        _ => Err(ProtocolError(format!(
            "unknown reply type {:?}",
            tag as char
        ))),
    }
}

fn blob(
    buf: &[u8],
    body: usize,
    len: i64,
    kind: Kind,
) -> Result<Option<(usize, Kind)>, ProtocolError> {
    if len < 0 {
        return Ok(Some((body, Kind::Null)));
    }
    let end = body + len as usize + 2;
    if buf.len() < end {
        return Ok(None);
    }
    if &buf[end - 2..end] != b"\r\n" {
        return Err(ProtocolError("a bulk string not ended by CRLF".to_string()));
    }
    Ok(Some((end, kind)))
}

/// An array, set, map or push of `count` entries of `per_entry` replies each.
fn aggregate(
    buf: &[u8],
    body: usize,
    count: i64,
    per_entry: usize,
    depth: usize,
    kind: Kind,
) -> Result<Option<(usize, Kind)>, ProtocolError> {
    if count < 0 {
        return Ok(Some((body, Kind::Null)));
    }
    let mut at = body;
    for _ in 0..count as usize * per_entry {
        match scan_at(buf, at, depth + 1)? {
            Some((end, _)) => at = end,
            None => return Ok(None),
        }
    }
    Ok(Some((at, kind)))
}

/// RESP3 attributes (`|`) annotate the reply that follows; together they are one reply.
fn attributed(
    buf: &[u8],
    body: usize,
    count: i64,
    depth: usize,
) -> Result<Option<(usize, Kind)>, ProtocolError> {
    let Some((end, _)) = aggregate(buf, body, count, 2, depth, Kind::Value)? else {
        return Ok(None);
    };
    scan_at(buf, end, depth + 1)
}

/// Which of Redis Cluster's two redirections an error reply is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redirection {
    /// The slot has moved for good: update the slot map.
    Moved,
    /// The slot is being migrated: ask the other node this once, after ASKING.
    Ask,
}

/// A `-MOVED 3999 127.0.0.1:6381` or `-ASK 3999 127.0.0.1:6381` error, as Redis Cluster
/// sends it (CRLF included or not): the redirection, slot and address.
pub fn redirection(reply: &[u8]) -> Option<(Redirection, u16, String)> {
    let (kind, rest) = if let Some(rest) = reply.strip_prefix(b"-MOVED ") {
        (Redirection::Moved, rest)
    } else {
        (Redirection::Ask, reply.strip_prefix(b"-ASK ")?)
    };
    let text = std::str::from_utf8(rest).ok()?;
    let mut words = text.trim_end().split(' ');
    let slot = words.next()?.parse().ok()?;
    let address = words.next()?.to_string();
    Some((kind, slot, address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Scanned {
        let scanned = scan(bytes).unwrap().unwrap();
        assert_eq!(
            scanned.len,
            bytes.len(),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        scanned
    }

    #[test]
    fn scans_resp2_replies() {
        assert_eq!(whole(b"+OK\r\n").kind, Kind::Value);
        assert_eq!(whole(b"-ERR x\r\n").kind, Kind::Error);
        assert_eq!(whole(b":12\r\n").kind, Kind::Value);
        assert_eq!(whole(b"$5\r\na\r\nbc\r\n").kind, Kind::Value);
        assert_eq!(whole(b"$-1\r\n").kind, Kind::Null);
        assert_eq!(whole(b"*-1\r\n").kind, Kind::Null);
        assert_eq!(whole(b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n").kind, Kind::Value);
    }

    #[test]
    fn scans_resp3_replies() {
        assert_eq!(whole(b"_\r\n").kind, Kind::Null);
        assert_eq!(whole(b"%1\r\n+a\r\n#t\r\n").kind, Kind::Value);
        assert_eq!(whole(b"~2\r\n,1.5\r\n(12\r\n").kind, Kind::Value);
        assert_eq!(whole(b"!3\r\nERR\r\n").kind, Kind::Error);
        assert_eq!(whole(b"=7\r\ntxt:abc\r\n").kind, Kind::Value);
        assert_eq!(whole(b">2\r\n+a\r\n+b\r\n").kind, Kind::Push);
        assert_eq!(whole(b"|1\r\n+k\r\n+v\r\n$-1\r\n").kind, Kind::Null);
    }

    #[test]
    fn waits_for_incomplete_replies_at_every_cut() {
        let stream = b"*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n:1\r\n_\r\n";
        for cut in 0..stream.len() {
            assert_eq!(scan(&stream[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(whole(stream).kind, Kind::Value);
    }

    #[test]
    fn finds_the_first_of_several_replies() {
        let scanned = scan(b"+OK\r\n$-1\r\n").unwrap().unwrap();
        assert_eq!(scanned.len, 5);
    }

    #[test]
    fn rejects_malformed_replies() {
        assert!(scan(b"+OK\n").is_err());
        assert!(scan(b"?\r\n").is_err());
        assert!(scan(b"$3\r\nabcde").is_err());
        assert!(scan(b"$x\r\n").is_err());
        let deep = "*1\r\n".repeat(DEPTH_MAX + 2);
        assert!(scan(deep.as_bytes()).is_err());
    }

    #[test]
    fn parses_redirections() {
        assert_eq!(
            redirection(b"-MOVED 3999 127.0.0.1:6381"),
            Some((Redirection::Moved, 3999, "127.0.0.1:6381".to_string()))
        );
        assert_eq!(
            redirection(b"-ASK 12182 10.0.0.2:7000\r\n"),
            Some((Redirection::Ask, 12182, "10.0.0.2:7000".to_string()))
        );
        assert_eq!(redirection(b"-ERR no"), None);
        assert_eq!(redirection(b"-MOVED x 127.0.0.1:6381"), None);
    }
}
