//! One log record: its byte layout (see the crate doc), encoding and verified decoding.

use crate::config::RECORD_PAYLOAD_BYTES_MAX;
use crate::{Epoch, Lsn};

/// Bytes of the fixed header before the payload.
pub const HEADER_BYTES: usize = 32;

/// Version of the record header layout itself (not the engine's effect format).
pub const FORMAT_VERSION: u8 = 1;

/// A decoded, verified record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub lsn: Lsn,
    pub epoch: Epoch,
    /// Version of the engine that produced the payload, so replay can refuse formats it
    /// does not know.
    pub engine_version: u16,
    /// What the payload is; meaning belongs to the layer above (the log never looks).
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Why bytes at some position are not a valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header or the length field claims: read more (or torn tail).
    Incomplete,
    /// The length field exceeds `RECORD_PAYLOAD_BYTES_MAX`.
    Length(u32),
    /// The stored crc32c does not match the bytes.
    Checksum { stored: u32, computed: u32 },
    /// The checksum matched but the header holds values no writer produces.
    Header,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Incomplete => write!(f, "record truncated"),
            DecodeError::Length(len) => {
                write!(f, "payload length {len} exceeds {RECORD_PAYLOAD_BYTES_MAX}")
            }
            DecodeError::Checksum { stored, computed } => {
                write!(
                    f,
                    "crc32c mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            DecodeError::Header => write!(f, "invalid header fields"),
        }
    }
}

/// Bytes a record with this payload occupies.
pub fn encoded_len(payload_len: usize) -> usize {
    HEADER_BYTES + payload_len
}

/// Appends the encoded record to `out`. The payload length must already be checked
/// against `RECORD_PAYLOAD_BYTES_MAX`.
pub fn encode(
    out: &mut Vec<u8>,
    lsn: Lsn,
    epoch: Epoch,
    engine_version: u16,
    kind: u8,
    payload: &[u8],
) {
    assert!(payload.len() <= RECORD_PAYLOAD_BYTES_MAX as usize);
    assert!(
        lsn.0 > 0,
        "LSN 0 is never written: an all-zero header must never verify"
    );
    // The header is built on the stack and checksummed together with the payload in
    // place: one append of each, no second pass over the bytes in `out`.
    let mut header = [0u8; HEADER_BYTES];
    header[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[8..16].copy_from_slice(&lsn.0.to_le_bytes());
    header[16..24].copy_from_slice(&epoch.0.to_le_bytes());
    header[24..26].copy_from_slice(&engine_version.to_le_bytes());
    header[26] = kind;
    header[27] = FORMAT_VERSION;
    // 28..32: reserved, zero.
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[4..]), payload);
    header[..4].copy_from_slice(&crc.to_le_bytes());
    let start = out.len();
    out.reserve(HEADER_BYTES + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    // Check right after encoding, as the reader will check right after reading.
    debug_assert!(decode(&out[start..]).is_ok());
}

/// A verified record borrowed from the bytes it was decoded from: scans that only count or
/// skip records (recovery, a reader seeking its first LSN) never copy a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub lsn: Lsn,
    pub epoch: Epoch,
    pub engine_version: u16,
    pub kind: u8,
    pub payload: &'a [u8],
}

impl RecordRef<'_> {
    pub fn to_record(&self) -> Record {
        Record {
            lsn: self.lsn,
            epoch: self.epoch,
            engine_version: self.engine_version,
            kind: self.kind,
            payload: self.payload.to_vec(),
        }
    }
}

/// Decodes and verifies the record at the start of `buf`; returns it and its length.
pub fn decode(buf: &[u8]) -> Result<(Record, usize), DecodeError> {
    decode_ref(buf).map(|(rec, len)| (rec.to_record(), len))
}

/// [`decode`] without copying the payload.
pub fn decode_ref(buf: &[u8]) -> Result<(RecordRef<'_>, usize), DecodeError> {
    if buf.len() < HEADER_BYTES {
        return Err(DecodeError::Incomplete);
    }
    let len = u32_at(buf, 4);
    if len > RECORD_PAYLOAD_BYTES_MAX {
        return Err(DecodeError::Length(len));
    }
    let total = encoded_len(len as usize);
    if buf.len() < total {
        return Err(DecodeError::Incomplete);
    }
    let stored = u32_at(buf, 0);
    let computed = crc32c::crc32c(&buf[4..total]);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    let lsn = u64_at(buf, 8);
    if lsn == 0 || buf[27] != FORMAT_VERSION || buf[28..32] != [0; 4] {
        return Err(DecodeError::Header);
    }
    let record = RecordRef {
        lsn: Lsn(lsn),
        epoch: Epoch(u64_at(buf, 16)),
        engine_version: u16::from_le_bytes([buf[24], buf[25]]),
        kind: buf[26],
        payload: &buf[HEADER_BYTES..total],
    };
    Ok((record, total))
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, Lsn(7), Epoch(3), 2, 9, b"hello");
        out
    }

    #[test]
    fn round_trips_every_field() {
        let bytes = sample();
        assert_eq!(bytes.len(), HEADER_BYTES + 5);
        let (rec, n) = decode(&bytes).unwrap();
        assert_eq!(n, bytes.len());
        assert_eq!(
            rec,
            Record {
                lsn: Lsn(7),
                epoch: Epoch(3),
                engine_version: 2,
                kind: 9,
                payload: b"hello".to_vec()
            }
        );
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = sample();
        assert_eq!(u32_at(&bytes, 0), crc32c::crc32c(&bytes[4..]));
        assert_eq!(u32_at(&bytes, 4), 5);
        assert_eq!(u64_at(&bytes, 8), 7);
        assert_eq!(u64_at(&bytes, 16), 3);
        assert_eq!(&bytes[24..26], &2u16.to_le_bytes());
        assert_eq!(bytes[26], 9);
        assert_eq!(bytes[27], FORMAT_VERSION);
        assert_eq!(&bytes[32..], b"hello");
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let bytes = sample();
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode(&damaged).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn zeros_and_short_buffers_never_decode() {
        assert_eq!(
            decode(&[0; 64]).unwrap_err(),
            DecodeError::Checksum {
                stored: 0,
                computed: crc32c::crc32c(&[0; 28])
            }
        );
        assert_eq!(
            decode(&sample()[..HEADER_BYTES - 1]).unwrap_err(),
            DecodeError::Incomplete
        );
        assert_eq!(
            decode(&sample()[..HEADER_BYTES + 2]).unwrap_err(),
            DecodeError::Incomplete
        );
        let mut huge = sample();
        huge[4..8].copy_from_slice(&(RECORD_PAYLOAD_BYTES_MAX + 1).to_le_bytes());
        assert_eq!(
            decode(&huge).unwrap_err(),
            DecodeError::Length(RECORD_PAYLOAD_BYTES_MAX + 1)
        );
    }
}
