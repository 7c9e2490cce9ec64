//! The memory measurement: exactly N keys with values of the benchmark's size, loaded
//! into a fresh server over one pipelined connection; then the server's own count
//! (`used_memory` from INFO memory) and the kernel's (VmRSS from /proc/PID/status).
//!
//! The loader writes its own RESP stream on one thread while another reads the replies,
//! so the server never waits for the client: a million SETs take about a second.

use super::error::Error;
use super::servers::{Kind, Placement, RunningServer, Tools};
use crate::command_line::CommandLine;
use crate::procfs;
use crate::resp::{self, Connection, Reply};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// SET commands encoded into one buffer before each write.
const LOAD_BATCH_COMMANDS: u64 = 1000;
/// How long the loader waits for any one reply before it gives up on the server.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The key the loader writes as number `i`, shaped like redis-benchmark's keys.
pub fn key(i: u64) -> String {
    format!("key:{i:012}")
}

/// What one server uses for the loaded keys.
#[derive(Debug)]
pub struct Memory {
    pub kind: Kind,
    pub keys: u64,
    /// `used_memory` from INFO memory, or why it is not available.
    pub used_memory_bytes: Result<u64, String>,
    /// DBSIZE after the load, or why it is not available.
    pub dbsize: Result<u64, String>,
    pub rss_empty_bytes: u64,
    pub rss_loaded_bytes: u64,
    pub load_secs: f64,
    pub command: CommandLine,
}

/// Starts a fresh `kind`, loads `keys` keys and measures it.
pub fn measure(
    kind: Kind,
    tools: &Tools,
    placement: &Placement,
    keys: u64,
    value_bytes: usize,
) -> Result<Memory, Error> {
    let server = RunningServer::start(kind, tools, placement)?;
    let rss = |what: &str| {
        procfs::read_rss_bytes(server.pid())
            .map_err(Error::io(format!("reading {what} RSS of {}", kind.title())))
    };
    let rss_empty_bytes = rss("empty")?;
    let started = Instant::now();
    load(server.port, keys, value_bytes).map_err(|detail| Error::Load {
        server: kind.title().to_string(),
        detail,
    })?;
    let load_secs = started.elapsed().as_secs_f64();
    let rss_loaded_bytes = rss("loaded")?;
    let memory = Memory {
        kind,
        keys,
        used_memory_bytes: info_field(server.port, "memory", "used_memory"),
        dbsize: dbsize(server.port),
        rss_empty_bytes,
        rss_loaded_bytes,
        load_secs,
        command: server.command.clone(),
    };
    server.stop()?;
    Ok(memory)
}

/// SETs `key(0)..key(keys)` to `value_bytes`-byte values, pipelined on one connection,
/// and checks that every reply is +OK.
pub fn load(port: u16, keys: u64, value_bytes: usize) -> Result<(), String> {
    load_named(port, keys, value_bytes, key)
}

/// The key memtier-style generators (holdfast-bench, memtier_benchmark) use for number
/// `i + 1` with compare's flags (`--key-minimum 1`, the default prefix `memtier-`).
pub fn memtier_key(i: u64) -> String {
    format!("memtier-{}", i + 1)
}

/// SETs `name(0)..name(keys)` to `value_bytes`-byte values, as [`load`].
pub fn load_named(
    port: u16,
    keys: u64,
    value_bytes: usize,
    name: fn(u64) -> String,
) -> Result<(), String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let writer_stream = stream.try_clone().map_err(|e| e.to_string())?;
    let value = vec![b'x'; value_bytes];
    let control = stream.try_clone().map_err(|e| e.to_string())?;
    let writer = std::thread::spawn(move || write_sets(writer_stream, keys, &value, name));
    let replies = read_ok_replies(stream, keys, name);
    if replies.is_err() {
        // The writer may be blocked on a server that stopped reading: unblock it.
        let _ = control.shutdown(std::net::Shutdown::Both);
    }
    let written = writer
        .join()
        .map_err(|_| "the loader's writer thread panicked".to_string())?;
    // A reply error explains a write error (the server hung up), so report it first.
    replies?;
    written.map_err(|e| format!("writing SETs: {e}"))
}

fn write_sets(
    mut stream: TcpStream,
    keys: u64,
    value: &[u8],
    name: fn(u64) -> String,
) -> std::io::Result<()> {
    // Only the key differs between commands: encode the value once.
    let mut encoded_value = Vec::new();
    resp::encode_bulk(value, &mut encoded_value);
    let mut batch = Vec::new();
    let mut first = 0;
    while first < keys {
        let end = keys.min(first + LOAD_BATCH_COMMANDS);
        batch.clear();
        for i in first..end {
            batch.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
            resp::encode_bulk(name(i).as_bytes(), &mut batch);
            batch.extend_from_slice(&encoded_value);
        }
        stream.write_all(&batch)?;
        first = end;
    }
    Ok(())
}

fn read_ok_replies(stream: TcpStream, keys: u64, name: fn(u64) -> String) -> Result<(), String> {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    for i in 0..keys {
        match resp::read_reply(&mut reader) {
            Ok(Reply::Simple(ok)) if ok == "OK" => {}
            Ok(other) => return Err(format!("SET {} replied {other:?}", name(i))),
            Err(e) => return Err(format!("reading the reply to SET {}: {e}", name(i))),
        }
    }
    Ok(())
}

/// One `field:value` number from INFO text.
pub fn parse_info_field(info: &str, field: &str) -> Option<u64> {
    info.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.trim_end().split_once(':'))
        .find(|(name, _)| *name == field)
        .and_then(|(_, value)| value.parse().ok())
}

/// `field` from `INFO section`, or why it cannot be had (no INFO, no such field).
pub fn info_field(port: u16, section: &str, field: &str) -> Result<u64, String> {
    let reply = Connection::connect(port, REPLY_TIMEOUT)
        .and_then(|mut conn| conn.call(&[b"INFO", section.as_bytes()]))
        .map_err(|e| format!("INFO {section}: {e}"))?;
    match reply {
        Reply::Bulk(Some(text)) => parse_info_field(&String::from_utf8_lossy(&text), field)
            .ok_or_else(|| format!("INFO {section} has no numeric {field} field")),
        Reply::Error(message) => Err(format!("INFO {section}: {message}")),
        other => Err(format!("INFO {section} replied {other:?}")),
    }
}

/// DBSIZE, or why it cannot be had.
pub fn dbsize(port: u16) -> Result<u64, String> {
    let reply = Connection::connect(port, REPLY_TIMEOUT)
        .and_then(|mut conn| conn.call(&[b"DBSIZE"]))
        .map_err(|e| format!("DBSIZE: {e}"))?;
    match reply {
        Reply::Integer(n) if n >= 0 => Ok(n as u64),
        Reply::Error(message) => Err(format!("DBSIZE: {message}")),
        other => Err(format!("DBSIZE replied {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO_MEMORY: &str = "# Memory\r\nused_memory:5429272\r\n\
                               used_memory_human:5.18M\r\nused_memory_rss:12623872\r\n\
                               mem_fragmentation_ratio:2.33\r\n";

    #[test]
    fn info_fields_by_exact_name() {
        assert_eq!(parse_info_field(INFO_MEMORY, "used_memory"), Some(5429272));
        assert_eq!(
            parse_info_field(INFO_MEMORY, "used_memory_rss"),
            Some(12623872)
        );
    }

    #[test]
    fn info_missing_or_non_numeric_field_is_none() {
        assert_eq!(parse_info_field(INFO_MEMORY, "used_memory_peak"), None);
        assert_eq!(parse_info_field(INFO_MEMORY, "used_memory_human"), None);
        assert_eq!(parse_info_field("", "used_memory"), None);
        assert_eq!(parse_info_field("# used_memory:5\r\n", "used_memory"), None);
    }

    #[test]
    fn keys_are_fixed_width() {
        assert_eq!(key(0), "key:000000000000");
        assert_eq!(key(999_999), "key:000000999999");
    }

    /// A fake server on a thread: reads `expected` SETs and answers each with `reply`.
    fn fake_server(expected: u64, reply: &'static [u8]) -> (u16, std::thread::JoinHandle<u64>) {
        fake_server_of(expected, reply, key)
    }

    fn fake_server_of(
        expected: u64,
        reply: &'static [u8],
        name: fn(u64) -> String,
    ) -> (u16, std::thread::JoinHandle<u64>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let mut seen = 0;
            while seen < expected {
                let Ok(Reply::Array(Some(args))) = resp::read_reply(&mut reader) else {
                    break;
                };
                assert_eq!(args.len(), 3);
                assert_eq!(args[1], Reply::Bulk(Some(name(seen).into_bytes())));
                assert_eq!(args[2], Reply::Bulk(Some(vec![b'x'; 100])));
                // The loader hangs up on the first error reply: a write after that may
                // fail, which is not this fake server's failure.
                if writer.write_all(reply).is_err() {
                    break;
                }
                seen += 1;
            }
            seen
        });
        (port, handle)
    }

    #[test]
    fn load_sends_every_key_and_checks_every_reply() {
        let (port, server) = fake_server(2500, b"+OK\r\n");
        load(port, 2500, 100).unwrap();
        assert_eq!(server.join().unwrap(), 2500);
    }

    #[test]
    fn load_reports_an_error_reply() {
        let (port, server) = fake_server(3, b"-OOM command not allowed\r\n");
        let error = load(port, 3, 100).unwrap_err();
        assert!(error.contains("OOM command not allowed"), "{error}");
        assert!(error.contains("key:000000000000"), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn prefill_names_are_the_generators_keys() {
        assert_eq!(memtier_key(0), "memtier-1");
        assert_eq!(memtier_key(999_999), "memtier-1000000");
        let (port, server) = fake_server_of(1200, b"+OK\r\n", memtier_key);
        load_named(port, 1200, 100, memtier_key).unwrap();
        assert_eq!(server.join().unwrap(), 1200);
    }
}
