//! A minimal blocking RESP2 client: encode a command, read one reply.
//!
//! The benchmarks talk to Redis and Holdfast alike over plain TCP, so they need nothing
//! more than this; a full client library would hide the bytes we want to control (the
//! bulk loader writes its own pipelined stream with [`encode`]).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Bounds a single bulk string or array we accept, so a corrupt length cannot make
/// the client allocate without limit.
const REPLY_LEN_MAX: usize = 512 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// Appends `args` to `out` as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        encode_bulk(arg, out);
    }
}

/// Appends one bulk string; with a hand-written array header, this lets a caller reuse
/// an argument encoded once (the bulk loader's value).
pub fn encode_bulk(arg: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Reads one line without its CRLF.
fn read_line<R: BufRead>(reader: &mut R) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    match line.strip_suffix("\r\n") {
        Some(body) => Ok(body.to_string()),
        None => Err(invalid(format!("reply line not ended by CRLF: {line:?}"))),
    }
}

/// A length or count: -1 means null, anything else must be within the bound.
fn parse_len(text: &str) -> io::Result<Option<usize>> {
    let n: i64 = text
        .parse()
        .map_err(|_| invalid(format!("bad length in reply: {text:?}")))?;
    match n {
        -1 => Ok(None),
        0.. if (n as u64) <= REPLY_LEN_MAX as u64 => Ok(Some(n as usize)),
        _ => Err(invalid(format!("length out of range in reply: {n}"))),
    }
}

/// Reads one complete reply.
pub fn read_reply<R: BufRead>(reader: &mut R) -> io::Result<Reply> {
    let line = read_line(reader)?;
    let (kind, body) = line.split_at(line.len().min(1));
    match kind {
        "+" => Ok(Reply::Simple(body.to_string())),
        "-" => Ok(Reply::Error(body.to_string())),
        ":" => body
            .parse()
            .map(Reply::Integer)
            .map_err(|_| invalid(format!("bad integer reply: {body:?}"))),
        "$" => read_bulk(reader, parse_len(body)?),
        "*" => match parse_len(body)? {
            None => Ok(Reply::Array(None)),
            Some(count) => (0..count)
                .map(|_| read_reply(reader))
                .collect::<io::Result<Vec<_>>>()
                .map(|items| Reply::Array(Some(items))),
        },
        _ => Err(invalid(format!("unexpected reply: {line:?}"))),
    }
}

fn read_bulk<R: BufRead>(reader: &mut R, len: Option<usize>) -> io::Result<Reply> {
    let Some(len) = len else {
        return Ok(Reply::Bulk(None));
    };
    let mut data = vec![0; len + 2];
    reader.read_exact(&mut data)?;
    if !data.ends_with(b"\r\n") {
        return Err(invalid("bulk string not ended by CRLF".to_string()));
    }
    data.truncate(len);
    Ok(Reply::Bulk(Some(data)))
}

/// One connection, one request at a time.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    pub fn connect(port: u16, timeout: Duration) -> io::Result<Connection> {
        Connection::connect_to(SocketAddr::from(([127, 0, 0, 1], port)), timeout)
    }

    /// Connects to `addr`, waiting at most `timeout` for the connection and each reply.
    pub fn connect_to(addr: SocketAddr, timeout: Duration) -> io::Result<Connection> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    pub fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut request = Vec::new();
        encode(args, &mut request);
        self.writer.write_all(&request)?;
        read_reply(&mut self.reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut Cursor::new(bytes))
    }

    #[test]
    fn encodes_commands_as_bulk_arrays() {
        let mut out = Vec::new();
        encode(&[b"SET", b"k", b""], &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn reads_each_reply_kind() {
        assert_eq!(parse(b"+OK\r\n").unwrap(), Reply::Simple("OK".into()));
        assert_eq!(
            parse(b"-ERR unknown command 'INFO'\r\n").unwrap(),
            Reply::Error("ERR unknown command 'INFO'".into())
        );
        assert_eq!(parse(b":-42\r\n").unwrap(), Reply::Integer(-42));
        assert_eq!(
            parse(b"$5\r\na\r\nbc\r\n").unwrap(),
            Reply::Bulk(Some(b"a\r\nbc".to_vec()))
        );
        assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(
            parse(b"*2\r\n:1\r\n$1\r\nx\r\n").unwrap(),
            Reply::Array(Some(vec![
                Reply::Integer(1),
                Reply::Bulk(Some(b"x".to_vec()))
            ]))
        );
    }

    #[test]
    fn rejects_malformed_replies() {
        assert!(parse(b"?what\r\n").is_err());
        assert!(parse(b"+OK\n").is_err());
        assert!(parse(b"$3\r\nabcde").is_err());
        assert!(parse(b"$-5\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
        assert_eq!(parse(b"").unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
