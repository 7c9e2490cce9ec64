//! Key -> hash slot -> owning core: one pure function each.
//!
//! Slots follow Redis Cluster (CRC16-CCITT/XMODEM of the key, or of the first non-empty
//! `{hashtag}`, modulo 16384), so keys that a cluster client co-locates with a hashtag are
//! co-located here on one core too, and multi-key commands on them never cross cores.
//! Each core owns one contiguous range of slots.

use crate::limits::SLOTS;

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC16: [u16; 256] = crc16_table();

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster uses for slots.
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16[((crc >> 8) as u8 ^ b) as usize]
    })
}

/// The part of the key that is hashed: the bytes between the first `{` and the next `}`,
/// when that is non-empty; otherwise the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key) {
        if let Some(len) = memchr::memchr(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS as u16 - 1)
}

/// Core that owns a slot: contiguous ranges, the first `SLOTS % cores` cores one slot more.
pub fn slot_core(slot: u16, cores: usize) -> usize {
    debug_assert!(cores > 0 && cores <= SLOTS);
    let base = SLOTS / cores;
    let extra = SLOTS % cores;
    let slot = slot as usize;
    let boundary = extra * (base + 1);
    if slot < boundary {
        slot / (base + 1)
    } else {
        extra + (slot - boundary) / base
    }
}

/// The slots owned by `core`, as a half-open range.
pub fn core_slots(core: usize, cores: usize) -> std::ops::Range<usize> {
    let base = SLOTS / cores;
    let extra = SLOTS % cores;
    let start = core * base + core.min(extra);
    let len = base + usize::from(core < extra);
    start..start + len
}

pub fn key_core(key: &[u8], cores: usize) -> usize {
    if cores == 1 {
        return 0;
    }
    slot_core(key_slot(key), cores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_redis_cluster_spec_vector() {
        // The Redis Cluster specification's test vector.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_match_redis_cluster_keyslot() {
        // Values from CLUSTER KEYSLOT on Redis 7.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b""), 0);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(
            key_slot(b"{user1000}.followers"),
            key_slot(b"{user1000}.following")
        );
    }

    #[test]
    fn hash_tags_follow_the_first_braces() {
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar"), b"foo{bar");
    }

    #[test]
    fn slot_ranges_are_contiguous_and_cover_everything() {
        for cores in [1, 2, 3, 7, 64] {
            let mut next = 0;
            for core in 0..cores {
                let range = core_slots(core, cores);
                assert_eq!(range.start, next);
                for slot in [range.start, range.end - 1] {
                    assert_eq!(
                        slot_core(slot as u16, cores),
                        core,
                        "cores {cores} slot {slot}"
                    );
                }
                next = range.end;
            }
            assert_eq!(next, SLOTS);
        }
    }
}
