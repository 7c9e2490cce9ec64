//! What durability the server under test promises, so every run is labelled with it:
//! runs against Holdfast's `--durability local|quorum` (or Redis with and without an
//! AOF) must never be compared unawares.
//!
//! Read from `INFO` before the run: Holdfast's `holdfast_durability` field when present,
//! else Redis's `aof_enabled`.

use crate::resp::{encode, read_reply, Reply};
use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long the INFO probe may take before the run goes on without it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The durability label of the server at `host`:`port`, or why it is unknown.
pub fn probe(host: &str, port: u16) -> String {
    match info(host, port) {
        Ok(text) => from_info(&text),
        Err(e) => format!("unknown (INFO failed: {e})"),
    }
}

fn info(host: &str, port: u16) -> io::Result<String> {
    let stream = TcpStream::connect((host, port))?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
    let mut request = Vec::new();
    encode(&[b"INFO"], &mut request);
    (&stream).write_all(&request)?;
    match read_reply(&mut BufReader::new(&stream))? {
        Reply::Bulk(Some(text)) => Ok(String::from_utf8_lossy(&text).into_owned()),
        Reply::Error(e) => Err(io::Error::other(e)),
        other => Err(io::Error::other(format!("unexpected reply {other:?}"))),
    }
}

/// `holdfast_durability` as Holdfast reports it; for Redis, whether the AOF is on.
pub fn from_info(text: &str) -> String {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    if let Some(mode) = field("holdfast_durability") {
        return mode.to_string();
    }
    match field("aof_enabled") {
        Some("1") => "redis aof".to_string(),
        Some(_) => "redis no aof".to_string(),
        None => "unknown (INFO has neither holdfast_durability nor aof_enabled)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_info() {
        let holdfast =
            "# Server\r\nholdfast_durability:quorum\r\n# Persistence\r\naof_enabled:0\r\n";
        assert_eq!(from_info(holdfast), "quorum");
        assert_eq!(from_info("# Persistence\r\naof_enabled:1\r\n"), "redis aof");
        assert_eq!(
            from_info("# Persistence\r\naof_enabled:0\r\n"),
            "redis no aof"
        );
        assert!(from_info("").starts_with("unknown"));
        // A field whose name merely starts the same is not it.
        assert!(from_info("holdfast_durability_x:y\r\n").starts_with("unknown"));
    }
}
