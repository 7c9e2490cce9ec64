//! Feeds arbitrary bytes to the record decoder and the segment scanner.
//!
//! Checks: no panic; a decoded record re-encodes to exactly the bytes it came from (so the
//! decoder accepts nothing the encoder would not write); the scanner returns consecutive
//! LSNs at increasing offsets and never stops past the input.

#![no_main]

use holdfast_log::record::{decode, encode};
use holdfast_log::scan::scan;
use holdfast_log::segment::SegmentId;
use holdfast_log::Lsn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((rec, len)) = decode(data) {
        let mut again = Vec::new();
        encode(&mut again, rec.lsn, rec.epoch, rec.engine_version, rec.kind, &rec.payload);
        assert_eq!(&again[..], &data[..len], "decoded record does not re-encode to its bytes");
    }
    let first = data.get(8..16).map_or(1, |b| u64::from_le_bytes(b.try_into().unwrap()).max(1));
    let s = scan(data, SegmentId(Lsn(first)), true);
    let mut prev_offset = None;
    for (i, (offset, rec)) in s.records.iter().enumerate() {
        assert_eq!(rec.lsn.0, first + i as u64);
        assert!(prev_offset.is_none_or(|p| p < *offset));
        prev_offset = Some(*offset);
    }
    assert!(s.end_offset as usize <= data.len().next_multiple_of(4096));
});
