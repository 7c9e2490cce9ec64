//! Feeds arbitrary bytes to `resp::parse_request` the way a connection does: parse at the
//! current position, advance by `consumed`, stop on `Incomplete` or a protocol error.
//!
//! Checks: no panic; every request consumes at least one byte and no more than is left;
//! every argument range lies inside the bytes that request consumed; an owned (unquoted)
//! request's arguments are no longer than its line. It also cuts the stream once (at a
//! point chosen by the input) and checks that the first request parses the same from the
//! cut-off prefix, or is reported Incomplete there: a request that arrives in two reads
//! must mean what it means in one.
//!
//! Input layout: byte 0 picks proto-max-bulk-len, bytes 1-2 the cut, the rest is the stream.

#![no_main]

use holdfast_server::resp::{parse_request, ParseError, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [limit, cut_hi, cut_lo, stream @ ..] = data else {
        return;
    };
    // Small limits reach the "invalid bulk length" path; 255 stands for Redis's default.
    let bulk_bytes_max = if *limit == 255 {
        512 << 20
    } else {
        *limit as u64
    };
    parse_stream(stream, bulk_bytes_max);
    let cut = u16::from_be_bytes([*cut_hi, *cut_lo]) as usize % (stream.len() + 1);
    check_prefix(stream, cut, bulk_bytes_max);
});

fn parse_stream(buf: &[u8], bulk_bytes_max: u64) {
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < buf.len() {
        match parse_request(&buf[start..], start, bulk_bytes_max, &mut ranges) {
            Ok(Parsed::Request { consumed }) => {
                check_consumed(buf, start, consumed);
                for &(from, to) in &ranges {
                    let (from, to) = (from as usize, to as usize);
                    assert!(
                        start <= from && from <= to && to <= start + consumed,
                        "range {from}..{to} outside request {start}..{}",
                        start + consumed
                    );
                }
                start += consumed;
            }
            Ok(Parsed::Owned { consumed, args }) => {
                check_consumed(buf, start, consumed);
                let bytes: usize = args.iter().map(Vec::len).sum();
                assert!(
                    bytes <= consumed,
                    "{bytes} argument bytes from a {consumed}-byte line"
                );
                start += consumed;
            }
            Ok(Parsed::Incomplete) | Err(_) => break,
        }
    }
}

fn check_consumed(buf: &[u8], start: usize, consumed: usize) {
    assert!(
        consumed > 0,
        "a request consumed nothing at {start}: the connection would spin"
    );
    assert!(
        consumed <= buf.len() - start,
        "consumed {consumed} of {} bytes left",
        buf.len() - start
    );
}

/// What a parse says about the first request, with its arguments as bytes.
#[derive(Debug, PartialEq)]
enum Outcome {
    Request(usize, Vec<Vec<u8>>),
    Incomplete,
    Error(Vec<u8>),
}

fn first_request(buf: &[u8], bulk_bytes_max: u64) -> Outcome {
    let mut ranges = Vec::new();
    match parse_request(buf, 0, bulk_bytes_max, &mut ranges) {
        Ok(Parsed::Request { consumed }) => Outcome::Request(
            consumed,
            ranges
                .iter()
                .map(|&(from, to)| buf[from as usize..to as usize].to_vec())
                .collect(),
        ),
        Ok(Parsed::Owned { consumed, args }) => Outcome::Request(consumed, args),
        Ok(Parsed::Incomplete) => Outcome::Incomplete,
        Err(ParseError(text)) => Outcome::Error(text),
    }
}

fn check_prefix(stream: &[u8], cut: usize, bulk_bytes_max: u64) {
    let whole = first_request(stream, bulk_bytes_max);
    let prefix = first_request(&stream[..cut], bulk_bytes_max);
    match &prefix {
        Outcome::Incomplete => {}
        // Size limits depend on how much has arrived, as in Redis.
        Outcome::Error(text) if text.starts_with(b"too big") => {}
        _ => assert_eq!(
            prefix, whole,
            "the first request parses differently from its first {cut} bytes"
        ),
    }
}
