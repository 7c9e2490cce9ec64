//! HyperLogLog values, byte for byte as Redis 7.0's hyperloglog.c lays them out, so a
//! value copied from Redis (GET there, SET here) counts the same here and the other way
//! round, and PFADD of the same elements produces the same bytes.
//!
//! An HLL is a plain string value (`Value::Str`); this module owns its layout:
//!
//! ```text
//! header (16 bytes)  "HYLL" | encoding (0 dense, 1 sparse) | 3 unused | cached card (u64 LE)
//!                    the cache's top bit set = invalid, recompute on PFCOUNT
//! dense   16384 registers of 6 bits, packed from each byte's least significant bit
//! sparse  run-length opcodes:  ZERO 00xxxxxx (1..64 zero registers)
//!                              XZERO 01xxxxxx yyyyyyyy (1..16384 zero registers)
//!                              VAL 1vvvvvxx (1..4 registers of value 1..32)
//! ```
//!
//! A sparse value is rewritten in place as Redis does (an opcode split into at most
//! three, then adjacent VALs merged), and becomes dense when a register needs a value
//! above 32 or when it would grow past `hll-sparse-max-bytes`. Every operation that can
//! meet a malformed sparse value reports `Corrupt` (Redis's -INVALIDOBJ) rather than
//! reading past its end.

/// Registers: 2^P, indexed by the low P bits of the element's hash.
pub const P: u32 = 14;
pub const REGISTERS: usize = 1 << P;
/// Hash bits left for the run of zeroes once P bits chose the register.
const Q: usize = 64 - P as usize;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
pub const HDR_BYTES: usize = 16;
pub const DENSE_BYTES: usize = HDR_BYTES + (REGISTERS * BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const MAX_ENCODING: u8 = SPARSE;
/// The seed Redis hashes elements with.
const SEED: u64 = 0xadc8_3b19;
/// 0.5 / ln(2): the estimator's constant as m grows.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

const XZERO_BIT: u8 = 0x40;
const VAL_BIT: u8 = 0x80;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

/// A value that claims to be an HLL but whose registers cannot be read (-INVALIDOBJ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Redis's isHLLObjectOrReply, past the type check: the magic, a known encoding, and the
/// exact length of a dense value.
pub fn is_hll(bytes: &[u8]) -> bool {
    bytes.len() >= HDR_BYTES
        && &bytes[..4] == b"HYLL"
        && bytes[4] <= MAX_ENCODING
        && (bytes[4] != DENSE || bytes.len() == DENSE_BYTES)
}

pub fn encoding(bytes: &[u8]) -> u8 {
    bytes[4]
}

/// An empty HLL: sparse, XZERO opcodes covering every register, a valid cached 0.
pub fn new_sparse() -> Vec<u8> {
    let mut out = Vec::with_capacity(HDR_BYTES + 2 * REGISTERS.div_ceil(XZERO_MAX_LEN));
    out.extend_from_slice(b"HYLL");
    out.push(SPARSE);
    out.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(XZERO_MAX_LEN);
        out.extend_from_slice(&xzero(run));
        left -= run;
    }
    out
}

// ---------------------------------------------------------------------------------------
// The cached cardinality

/// The cached cardinality, if valid.
pub fn cached(bytes: &[u8]) -> Option<u64> {
    let card: [u8; 8] = bytes[8..16].try_into().expect("header checked");
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

pub fn set_cached(bytes: &mut [u8], card: u64) {
    bytes[8..16].copy_from_slice(&card.to_le_bytes());
}

pub fn invalidate(bytes: &mut [u8]) {
    bytes[15] |= 0x80;
}

// ---------------------------------------------------------------------------------------
// Hashing

/// MurmurHash2, 64-bit version, reading 8-byte blocks little endian (Redis made its copy
/// endian neutral, so this is the same function on every machine).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    // Redis computes `len * m` with len an int: the length as a 64-bit product.
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate().rev() {
            h ^= (byte as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Redis's hllPatLen: the register an element falls in, and the length of the run of
/// zeroes (plus one) in the rest of its hash, at most Q + 1.
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The sentinel bit makes the count stop at Q + 1.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------------------
// Dense registers

/// Register `index` of dense `registers`. The last register's second byte lies past the
/// array (Redis reads the string's terminating zero there).
pub fn dense_get(registers: &[u8], index: usize) -> u8 {
    let byte = index * BITS / 8;
    let shift = (index * BITS) & 7;
    let b0 = registers[byte] as u16;
    let b1 = registers.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> shift) | (b1 << (8 - shift))) & REGISTER_MAX as u16) as u8
}

pub fn dense_set(registers: &mut [u8], index: usize, value: u8) {
    let byte = index * BITS / 8;
    let shift = (index * BITS) & 7;
    let value = value as u16;
    let low = registers[byte] as u16 & !((REGISTER_MAX as u16) << shift);
    registers[byte] = (low | (value << shift)) as u8;
    if let Some(next) = registers.get_mut(byte + 1) {
        let high = *next as u16 & !((REGISTER_MAX as u16) >> (8 - shift));
        *next = (high | (value >> (8 - shift))) as u8;
    }
}

/// Raises a dense register to `count`: whether it changed.
fn dense_raise(registers: &mut [u8], index: usize, count: u8) -> bool {
    if count > dense_get(registers, index) {
        dense_set(registers, index, count);
        return true;
    }
    false
}

// ---------------------------------------------------------------------------------------
// Sparse opcodes

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// A run of zero registers, from a ZERO (1 byte) or XZERO (2 bytes) opcode.
    Zero {
        len: usize,
        bytes: usize,
    },
    Val {
        value: u8,
        len: usize,
    },
}

impl Op {
    /// The opcode at the start of `at`; an XZERO cut short reads its second byte as 0,
    /// as Redis reads the terminating zero of its string.
    fn read(at: &[u8]) -> Op {
        let byte = at[0];
        if byte & VAL_BIT != 0 {
            Op::Val {
                value: ((byte >> 2) & 0x1f) + 1,
                len: (byte & 0x3) as usize + 1,
            }
        } else if byte & 0xc0 == XZERO_BIT {
            let low = at.get(1).copied().unwrap_or(0) as usize;
            Op::Zero {
                len: ((((byte & 0x3f) as usize) << 8) | low) + 1,
                bytes: 2,
            }
        } else {
            Op::Zero {
                len: (byte & 0x3f) as usize + 1,
                bytes: 1,
            }
        }
    }

    fn bytes(self) -> usize {
        match self {
            Op::Zero { bytes, .. } => bytes,
            Op::Val { .. } => 1,
        }
    }

    fn span(self) -> usize {
        match self {
            Op::Zero { len, .. } | Op::Val { len, .. } => len,
        }
    }
}

fn val(value: u8, len: usize) -> u8 {
    debug_assert!((1..=VAL_MAX_VALUE).contains(&value) && (1..=VAL_MAX_LEN).contains(&len));
    VAL_BIT | ((value - 1) << 2) | (len as u8 - 1)
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | XZERO_BIT, (l & 0xff) as u8]
}

/// A run of `len` zero registers as the shortest opcode (ZERO up to 64).
fn push_zeroes(seq: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        seq.extend_from_slice(&xzero(len));
    } else {
        seq.push((len - 1) as u8);
    }
}

/// The opcodes of a sparse body with each one's first register, stopping at the end.
fn ops(body: &[u8]) -> impl Iterator<Item = (usize, Op)> + '_ {
    let mut at = 0;
    let mut first = 0;
    std::iter::from_fn(move || {
        if at >= body.len() {
            return None;
        }
        let op = Op::read(&body[at..]);
        let start = first;
        at += op.bytes();
        first += op.span();
        Some((start, op))
    })
}

/// Redis's hllSparseSet: raises register `index` of the sparse value `hll` to `count`
/// (no change when it already holds as much). Promotes to dense when `count` does not
/// fit a VAL opcode or the value would grow past `sparse_max_bytes`.
fn sparse_set(
    hll: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max_bytes: u64,
) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(hll, index, count);
    }
    // Step 1: the opcode covering the register, and the one before it.
    let (mut at, mut first, mut prev) = (HDR_BYTES, 0usize, None);
    let mut found = None;
    while at < hll.len() {
        let op = Op::read(&hll[at..]);
        if index < first + op.span() {
            found = Some(op);
            break;
        }
        prev = Some(at);
        at += op.bytes();
        first += op.span();
    }
    let Some(op) = found else {
        return Err(Corrupt);
    };
    // Step 2: cases that change one byte in place, else the split sequence.
    match op {
        Op::Val { value, .. } if value >= count => return Ok(false),
        Op::Val { len: 1, .. } | Op::Zero { len: 1, bytes: 1 } => {
            hll[at] = val(count, 1);
        }
        _ => {
            let seq = split(op, first, index, count);
            let delta = seq.len() as isize - op.bytes() as isize;
            if delta > 0 && (hll.len() as isize + delta) as u64 > sparse_max_bytes {
                return promote(hll, index, count);
            }
            hll.splice(at..at + op.bytes(), seq);
        }
    }
    // Step 4: merge adjacent VAL opcodes of equal value around the change.
    merge_vals(hll, prev.unwrap_or(HDR_BYTES));
    invalidate(hll);
    Ok(true)
}

/// The opcodes replacing `op` (covering registers from `first`) once register `index`
/// holds `count`: at most XZERO VAL XZERO.
fn split(op: Op, first: usize, index: usize, count: u8) -> Vec<u8> {
    let last = first + op.span() - 1;
    let mut seq = Vec::with_capacity(5);
    match op {
        Op::Zero { .. } => {
            if index != first {
                push_zeroes(&mut seq, index - first);
            }
            seq.push(val(count, 1));
            if index != last {
                push_zeroes(&mut seq, last - index);
            }
        }
        Op::Val { value, .. } => {
            if index != first {
                seq.push(val(value, index - first));
            }
            seq.push(val(count, 1));
            if index != last {
                seq.push(val(value, last - index));
            }
        }
    }
    seq
}

/// Merges adjacent VALs of one value whose lengths fit one opcode, looking at up to five
/// opcodes from `from`, as Redis does after each change.
fn merge_vals(hll: &mut Vec<u8>, from: usize) {
    let mut at = from;
    let mut scan = 5;
    while at < hll.len() && scan > 0 {
        scan -= 1;
        let op = Op::read(&hll[at..]);
        let Op::Val { value, len } = op else {
            at += op.bytes();
            continue;
        };
        if let Some(&next) = hll.get(at + 1) {
            if next & VAL_BIT != 0 {
                if let Op::Val {
                    value: next_value,
                    len: next_len,
                } = Op::read(&hll[at + 1..])
                {
                    if next_value == value && len + next_len <= VAL_MAX_LEN {
                        hll[at + 1] = val(value, len + next_len);
                        hll.remove(at);
                        // Stay here: the merged opcode may merge with the next one too.
                        continue;
                    }
                }
            }
        }
        at += 1;
    }
}

/// Converts to dense, then raises the register there (which must change: the reason to
/// promote was a register to raise).
fn promote(hll: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(hll)?;
    let changed = dense_raise(&mut hll[HDR_BYTES..], index, count);
    debug_assert!(changed);
    Ok(changed)
}

/// Redis's hllSparseToDense: the header is kept (magic, unused bytes and cached
/// cardinality), the encoding becomes dense. Whether it converted anything. Opcodes
/// must cover exactly every register: a VAL past the last one is corrupt (redis-server
/// 7.0.15 as shipped rejects it too, rather than ignoring it as the 7.0 source reads).
pub fn to_dense(hll: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if encoding(hll) == DENSE {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_BYTES];
    dense[..HDR_BYTES].copy_from_slice(&hll[..HDR_BYTES]);
    dense[4] = DENSE;
    let registers = &mut dense[HDR_BYTES..];
    let mut index = 0;
    for (first, op) in ops(&hll[HDR_BYTES..]) {
        index = first;
        match op {
            Op::Zero { len, .. } => index += len,
            Op::Val { value, len } => {
                if index + len > REGISTERS {
                    return Err(Corrupt);
                }
                for i in index..index + len {
                    dense_set(registers, i, value);
                }
                index += len;
            }
        }
    }
    if index != REGISTERS {
        return Err(Corrupt);
    }
    *hll = dense;
    Ok(true)
}

// ---------------------------------------------------------------------------------------
// Adding and merging

/// Raises register `index` to `count` in either encoding: whether it changed.
pub fn set_register(
    hll: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max_bytes: u64,
) -> Result<bool, Corrupt> {
    match encoding(hll) {
        DENSE => Ok(dense_raise(&mut hll[HDR_BYTES..], index, count)),
        SPARSE => sparse_set(hll, index, count, sparse_max_bytes),
        _ => Err(Corrupt),
    }
}

/// PFADD of one element: whether a register changed.
pub fn add(hll: &mut Vec<u8>, element: &[u8], sparse_max_bytes: u64) -> Result<bool, Corrupt> {
    let (index, count) = pattern(element);
    set_register(hll, index, count, sparse_max_bytes)
}

/// Redis's hllMerge: `max[i] = max(max[i], register i of hll)`.
pub fn merge_into(max: &mut [u8], hll: &[u8]) -> Result<(), Corrupt> {
    let body = &hll[HDR_BYTES..];
    if encoding(hll) == DENSE {
        for (i, slot) in max.iter_mut().enumerate() {
            *slot = (*slot).max(dense_get(body, i));
        }
        return Ok(());
    }
    let mut index = 0;
    for (first, op) in ops(body) {
        index = first;
        match op {
            Op::Zero { len, .. } => index += len,
            Op::Val { value, len } => {
                if index + len > REGISTERS {
                    return Err(Corrupt);
                }
                for slot in &mut max[index..index + len] {
                    *slot = (*slot).max(value);
                }
                index += len;
            }
        }
    }
    if index == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

// ---------------------------------------------------------------------------------------
// Counting: Otmar Ertl's estimator over the register histogram, as Redis 7.0's hllCount

/// How many registers hold each value.
type Histogram = [u32; 64];

fn dense_histogram(body: &[u8]) -> Histogram {
    let mut histogram = [0; 64];
    for i in 0..REGISTERS {
        histogram[dense_get(body, i) as usize] += 1;
    }
    histogram
}

/// A sparse body's histogram; corrupt unless its opcodes cover exactly every register.
fn sparse_histogram(body: &[u8]) -> Result<Histogram, Corrupt> {
    let mut histogram = [0; 64];
    let mut covered = 0;
    for (_, op) in ops(body) {
        match op {
            Op::Zero { len, .. } => histogram[0] += len as u32,
            Op::Val { value, len } => histogram[value as usize] += len as u32,
        }
        covered += op.span();
    }
    if covered == REGISTERS {
        Ok(histogram)
    } else {
        Err(Corrupt)
    }
}

/// The histogram of plain registers, one byte each (PFCOUNT of several keys).
fn raw_histogram(registers: &[u8]) -> Histogram {
    let mut histogram = [0; 64];
    for &register in registers {
        histogram[register as usize & 63] += 1;
    }
    histogram
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

fn estimate(histogram: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histogram[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += histogram[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    // llroundl: halves away from zero.
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimated cardinality of an HLL value (ignoring its cache).
pub fn count(hll: &[u8]) -> Result<u64, Corrupt> {
    let body = &hll[HDR_BYTES..];
    let histogram = match encoding(hll) {
        DENSE => dense_histogram(body),
        _ => sparse_histogram(body)?,
    };
    Ok(estimate(&histogram))
}

/// The estimated cardinality of one-byte-per-register `registers` (a merge).
pub fn count_registers(registers: &[u8]) -> u64 {
    estimate(&raw_histogram(registers))
}

/// PFDEBUG DECODE: a sparse value's opcodes as `z:len`, `Z:len` and `v:value,len`.
pub fn decode(hll: &[u8]) -> String {
    let mut out = Vec::new();
    for (_, op) in ops(&hll[HDR_BYTES..]) {
        out.push(match op {
            Op::Zero { len, bytes: 1 } => format!("z:{len}"),
            Op::Zero { len, .. } => format!("Z:{len}"),
            Op::Val { value, len } => format!("v:{value},{len}"),
        });
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every register of an HLL in either encoding.
    fn registers(hll: &[u8]) -> Vec<u8> {
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, hll).unwrap();
        max
    }

    #[test]
    fn pfadd_builds_the_bytes_redis_builds() {
        // redis-server 7.0.15: PFADD h a b c, then GET h.
        let mut hll = new_sparse();
        for element in [&b"a"[..], b"b", b"c"] {
            assert_eq!(add(&mut hll, element, 3000), Ok(true));
        }
        invalidate(&mut hll);
        let mut expected = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
        expected.extend_from_slice(&[
            0x60, 0xf3, 0x80, 0x50, 0xb1, 0x84, 0x4b, 0xfb, 0x80, 0x42, 0x5a,
        ]);
        assert_eq!(hll, expected);
        assert_eq!(decode(&hll), "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603");
        assert_eq!(murmur64a(b"", 0), 0);
    }

    #[test]
    fn new_value_is_sparse_and_counts_zero() {
        let hll = new_sparse();
        assert!(is_hll(&hll));
        assert_eq!(hll.len(), HDR_BYTES + 2);
        assert_eq!(decode(&hll), "Z:16384");
        assert_eq!(cached(&hll), Some(0));
        assert_eq!(count(&hll), Ok(0));
    }

    #[test]
    fn dense_registers_round_trip_without_touching_neighbours() {
        let mut body = vec![0u8; DENSE_BYTES - HDR_BYTES];
        let mut model = vec![0u8; REGISTERS];
        let mut seed = 12345u64;
        for _ in 0..20000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let index = (seed % REGISTERS as u64) as usize;
            let value = ((seed >> 20) % 64) as u8;
            dense_set(&mut body, index, value);
            model[index] = value;
        }
        for (i, &value) in model.iter().enumerate() {
            assert_eq!(dense_get(&body, i), value, "register {i}");
        }
    }

    #[test]
    fn sparse_promotes_past_its_limit_or_a_large_count() {
        let mut hll = new_sparse();
        let mut n = 0;
        while encoding(&hll) == SPARSE {
            add(&mut hll, format!("e{n}").as_bytes(), 300).unwrap();
            n += 1;
            assert!(hll.len() <= 300 || encoding(&hll) == DENSE);
        }
        assert_eq!(hll.len(), DENSE_BYTES);
        let mut big = new_sparse();
        assert_eq!(set_register(&mut big, 5, 40, 3000), Ok(true));
        assert_eq!(encoding(&big), DENSE);
        assert_eq!(dense_get(&big[HDR_BYTES..], 5), 40);
    }

    #[test]
    fn estimates_are_close() {
        for n in [10usize, 1000, 20000, 200000] {
            let mut hll = new_sparse();
            for i in 0..n {
                add(&mut hll, format!("element:{i}").as_bytes(), 3000).unwrap();
            }
            let estimate = count(&hll).unwrap() as f64;
            let error = (estimate - n as f64).abs() / n as f64;
            assert!(error < 0.03, "{n}: {estimate}");
        }
    }

    #[test]
    fn corrupt_sparse_values_are_detected() {
        let mut short = new_sparse();
        short[HDR_BYTES + 1] = 0; // XZERO:16384 becomes XZERO:16129
        assert_eq!(count(&short), Err(Corrupt));
        assert_eq!(to_dense(&mut short.clone()), Err(Corrupt));
        assert_eq!(merge_into(&mut [0; REGISTERS], &short), Err(Corrupt));
        let mut truncated = new_sparse();
        truncated.pop();
        assert!(count(&truncated).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Register writes clustered in a few hundred registers (so VAL opcodes split
        /// and merge), counts up to 40 (past the 32 a VAL holds), any sparse limit.
        fn writes() -> impl Strategy<Value = (Vec<(usize, u8)>, u64)> {
            let write = (0usize..400, 1u8..=40).prop_map(|(i, c)| (i * 41 % REGISTERS, c));
            (proptest::collection::vec(write, 0..300), 20u64..4000)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            /// Whatever the encoding ends in, the registers are the model's maxima, each
            /// write reports whether it raised one, and a sparse value stays within its
            /// limit and converts to the same dense registers.
            #[test]
            fn registers_follow_a_model((ops, limit) in writes()) {
                let mut hll = new_sparse();
                let mut model = vec![0u8; REGISTERS];
                for (index, count) in ops {
                    let changed = set_register(&mut hll, index, count, limit).unwrap();
                    prop_assert_eq!(changed, count > model[index]);
                    model[index] = model[index].max(count);
                    prop_assert!(encoding(&hll) == DENSE || hll.len() as u64 <= limit.max(18));
                }
                prop_assert_eq!(registers(&hll), model.clone());
                let mut dense = hll.clone();
                to_dense(&mut dense).unwrap();
                prop_assert_eq!(registers(&dense), model.clone());
                prop_assert_eq!(count(&dense), count(&hll));
                prop_assert_eq!(count(&hll).unwrap(), count_registers(&model));
            }
        }
    }

    #[test]
    fn is_hll_checks_magic_encoding_and_dense_length() {
        let mut hll = new_sparse();
        assert!(is_hll(&hll));
        hll[4] = 2;
        assert!(!is_hll(&hll));
        let mut dense = new_sparse();
        to_dense(&mut dense).unwrap();
        assert!(is_hll(&dense));
        dense.push(0);
        assert!(!is_hll(&dense));
        assert!(!is_hll(b"HYLL"));
    }
}
