//! Feeds arbitrary lines to `resp::parse::split_inline` (Redis's sdssplitargs for quoted
//! inline commands).
//!
//! Checks: no panic; unescaping never produces more bytes than the line had; and on a line
//! without quotes it splits exactly as the parser's unquoted fast path does, so a request
//! means the same whichever path parses it.

#![no_main]

use holdfast_server::resp::parse::split_inline;
use holdfast_server::resp::{parse_request, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let split = split_inline(line);
    if let Some(args) = &split {
        let bytes: usize = args.iter().map(Vec::len).sum();
        assert!(
            bytes <= line.len(),
            "{bytes} argument bytes from a {}-byte line",
            line.len()
        );
    }
    let unquoted = !line.iter().any(|c| matches!(c, b'"' | b'\'' | b'\n'));
    if unquoted && line.first() != Some(&b'*') {
        let fast = fast_path(line);
        assert_eq!(
            split,
            Some(fast),
            "the two inline paths split {line:?} differently"
        );
    }
});

/// The arguments the parser's unquoted path finds in `line` sent as one inline request.
fn fast_path(line: &[u8]) -> Vec<Vec<u8>> {
    let mut request = line.to_vec();
    request.push(b'\n');
    let mut ranges = Vec::new();
    match parse_request(&request, 0, 512 << 20, &mut ranges) {
        Ok(Parsed::Request { .. }) => ranges
            .iter()
            .map(|&(from, to)| request[from as usize..to as usize].to_vec())
            .collect(),
        other => panic!("an unquoted line parsed as {other:?}"),
    }
}
