//! Bit commands on string values, with Redis 7.0's replies and error texts (bitops.c).
//!
//! ```text
//! one key, Handler::Shard on the owning core
//!   write  SETBIT BITFIELD           (grow the string with zero bytes as needed)
//!   read   GETBIT BITCOUNT BITPOS BITFIELD_RO
//! keys on any cores, Handler::Multi holding every core they live on
//!   write  BITOP
//! ```
//!
//! Bits are numbered from the most significant bit of the first byte, as in Redis. A
//! missing key reads as an infinite run of zero bits. SETBIT and BITFIELD change the
//! string in place, which makes it `raw` for OBJECT ENCODING as in Redis; both are
//! functions of the keyspace and their arguments, so their CMD effect replays exactly.
//! BITOP computes the whole result and stores it with `Ctx::set` (a PUT effect).

use super::args::{is, parse_i64, Args};
use super::session::Session;
use super::Handler::{Multi, Shard as OnShard};
use super::{flags::*, KeySpec, Spec, Status, ONE_KEY};
use crate::config::Settings;
use crate::core::multi::MultiCore;
use crate::resp::Reply;
use crate::shard::notify::class;
use crate::shard::slot::key_core;
use crate::shard::value::Value;
use crate::shard::Ctx;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::collections::BTreeMap;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

/// The string stored in `value`, or WRONGTYPE.
fn string_of(value: &Value) -> Result<&[u8], Status> {
    match value {
        Value::Str(s) => Ok(s),
        _ => Err(Status::WrongType),
    }
}

/// The string at `key` for a read; None when the key is missing.
fn read<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c [u8]>, Status> {
    ctx.lookup_read(key)
        .map(|entry| string_of(&entry.value))
        .transpose()
}

/// Redis never lets proto-max-bulk-len go below 1 MiB, so an offset within it needs no
/// look at the setting (which shard handlers can only read under the config lock).
const BULK_LEN_FLOOR_BYTES: u64 = 1 << 20;

fn proto_max_bulk_len() -> u64 {
    let configured = crate::server::CONFIG
        .lock()
        .ok()
        .and_then(|store| store.as_ref().map(|s| s.settings().proto_max_bulk_len));
    configured.unwrap_or_else(|| Settings::default().proto_max_bulk_len)
}

/// Redis's getBitOffsetFromArgument: a bit offset whose byte lies within
/// proto-max-bulk-len. With `field_bits` (BITFIELD), `#n` means n fields of that width.
fn bit_offset(arg: &[u8], field_bits: Option<u32>) -> Result<u64, Status> {
    let bad = || Status::err(BAD_OFFSET);
    let offset = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => parse_i64(&arg[1..])
            .map_err(|_| bad())?
            .checked_mul(bits as i64)
            .ok_or_else(bad)?,
        _ => parse_i64(arg).map_err(|_| bad())?,
    };
    let offset = u64::try_from(offset).map_err(|_| bad())?;
    let byte = offset >> 3;
    if byte >= BULK_LEN_FLOOR_BYTES && byte >= proto_max_bulk_len() {
        return Err(bad());
    }
    Ok(offset)
}

/// Redis's lookupStringForBitCommand: the string at `key`, created when missing and grown
/// with zero bytes to hold bit `max_bit`, marked as edited in place (Redis unshares it,
/// which makes it `raw` even when no bit changes).
fn string_for_bits<'c>(
    ctx: &'c mut Ctx,
    key: &[u8],
    max_bit: u64,
) -> Result<&'c mut Vec<u8>, Status> {
    let bytes = (max_bit >> 3) as usize + 1;
    if ctx.lookup_write(key).is_none() {
        ctx.set(key, Value::Str(vec![0; bytes]), 0);
    }
    let entry = ctx.lookup_write(key).expect("present or just created");
    let Value::Str(s) = &mut entry.value else {
        return Err(Status::WrongType);
    };
    entry.edited_in_place = true;
    if s.len() < bytes {
        s.resize(bytes, 0);
    }
    Ok(s)
}

/// The bit at `offset` (0 past the end).
fn get_bit(bytes: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    bytes
        .get(byte)
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

// ---------------------------------------------------------------------------------------
// SETBIT GETBIT

fn setbit(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let offset = bit_offset(args.required()?, None)?;
    let on = match parse_i64(args.required()?) {
        Ok(0) => false,
        Ok(1) => true,
        _ => return Err(Status::err("ERR bit is not an integer or out of range")),
    };
    let s = string_for_bits(ctx, key, offset)?;
    let was = get_bit(s, offset);
    let mask = 0x80 >> (offset & 7);
    let byte = &mut s[(offset >> 3) as usize];
    *byte = if on { *byte | mask } else { *byte & !mask };
    // Redis 7.0.15 raises `setbit` only when the bit changed.
    if was != on {
        ctx.notify(class::STRING, "setbit", key);
    }
    reply.int(was as i64);
    Ok(())
}

fn getbit(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let offset = bit_offset(args.required()?, None)?;
    let bit = read(ctx, key)?.is_some_and(|s| get_bit(s, offset));
    reply.int(bit as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// BITCOUNT BITPOS

/// A start/end range in bytes or bits, resolved against a string of `len` bytes as
/// Redis does (negative indexes from the end, clamped): the bits `first..=last`, or None
/// when the range is empty.
fn resolve_range(start: i64, end: i64, len: usize, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits { len as i64 * 8 } else { len as i64 };
    let from_end = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (from_end(start), from_end(end).min(total - 1));
    if start > end {
        return None;
    }
    Some(match in_bits {
        true => (start as u64, end as u64),
        false => (start as u64 * 8, end as u64 * 8 + 7),
    })
}

/// BYTE or BIT, the unit of a range.
fn range_unit(arg: &[u8]) -> Result<bool, Status> {
    if is(arg, "BIT") {
        Ok(true)
    } else if is(arg, "BYTE") {
        Ok(false)
    } else {
        Err(Status::Syntax)
    }
}

/// BITCOUNT key [start end [BYTE|BIT]]. As in Redis 7.0, a missing key answers 0 before
/// the range is read.
fn bitcount(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let Some(s) = read(ctx, key)? else {
        reply.int(0);
        return Ok(());
    };
    let range = match args.remaining() {
        0 => resolve_range(0, -1, s.len(), false),
        2 | 3 => {
            let (start, end) = (args.i64()?, args.i64()?);
            if start < 0 && end < 0 && start > end {
                reply.int(0);
                return Ok(());
            }
            let in_bits = args.next().map(range_unit).transpose()?.unwrap_or(false);
            resolve_range(start, end, s.len(), in_bits)
        }
        _ => return Err(Status::Syntax),
    };
    reply.int(range.map_or(0, |(first, last)| count_ones(s, first, last)) as i64);
    Ok(())
}

/// Set bits among bits `first..=last` (within the string).
fn count_ones(s: &[u8], first: u64, last: u64) -> u64 {
    let (first_byte, last_byte) = ((first >> 3) as usize, (last >> 3) as usize);
    let bytes = &s[first_byte..=last_byte];
    let mut count: u64 = bytes
        .chunks(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from_ne_bytes(word).count_ones() as u64
        })
        .sum();
    // Bits of the edge bytes outside the range.
    count -= (s[first_byte] & !(0xffu8 >> (first & 7))).count_ones() as u64;
    count -= (s[last_byte] & (0x7fu8 >> (last & 7))).count_ones() as u64;
    count
}

/// BITPOS key bit [start [end [BYTE|BIT]]]. The bit is checked first, then the key (a
/// missing one is all zeros: 0 for a clear bit, -1 for a set one), then the range.
fn bitpos(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let bit = match args.i64()? {
        0 => false,
        1 => true,
        _ => return Err(Status::err("ERR The bit argument must be 1 or 0.")),
    };
    let Some(s) = read(ctx, key)? else {
        reply.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let (range, end_given) = match args.remaining() {
        0 => (resolve_range(0, -1, s.len(), false), false),
        1..=3 => {
            let start = args.i64()?;
            let end = args.next();
            let in_bits = args.next().map(range_unit).transpose()?.unwrap_or(false);
            let end_given = end.is_some();
            let end = end.map(parse_i64).transpose()?.unwrap_or(-1);
            (resolve_range(start, end, s.len(), in_bits), end_given)
        }
        _ => return Err(Status::Syntax),
    };
    let Some((first, last)) = range else {
        reply.int(-1);
        return Ok(());
    };
    let found = match first_bit(s, bit, first, last) {
        Some(at) => at as i64,
        // Past the end of the string every bit is clear, unless the caller bounded the
        // range: then a range of set bits has no clear one.
        None if !bit && !end_given => (last + 1) as i64,
        None => -1,
    };
    reply.int(found);
    Ok(())
}

/// The first bit equal to `bit` among bits `first..=last`: whole bytes (eight at a time)
/// that cannot hold it are skipped.
fn first_bit(s: &[u8], bit: bool, first: u64, last: u64) -> Option<u64> {
    let skip = if bit { 0u8 } else { 0xff };
    let mut at = first;
    while at <= last {
        let byte = (at >> 3) as usize;
        if at & 7 == 0 && at + 63 <= last && s[byte..byte + 8].iter().all(|&b| b == skip) {
            at += 64;
        } else if at & 7 == 0 && at + 7 <= last && s[byte] == skip {
            at += 8;
        } else {
            if get_bit(s, at) == bit {
                return Some(at);
            }
            at += 1;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// BITFIELD BITFIELD_RO

/// OVERFLOW behaviour of BITFIELD's SET and INCRBY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One parsed BITFIELD operation on a field of `bits` bits at `offset`.
#[derive(Clone, Copy, Debug)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Redis's getBitfieldTypeFromArgument: i1..i64 or u1..u63.
fn field_type(arg: &[u8]) -> Result<(bool, u32), Status> {
    let bad = || Status::err(BAD_TYPE);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(bad()),
    };
    let bits = parse_i64(&arg[1..]).map_err(|_| bad())?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(bad());
    }
    Ok((signed, bits as u32))
}

/// Every operation of a BITFIELD request, parsed (and checked) before any runs.
fn parse_fields(args: &mut Args) -> Result<Vec<Field>, Status> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    while let Some(word) = args.next() {
        let needs = |n| args.remaining() >= n;
        let op = if is(word, "GET") && needs(2) {
            FieldOp::Get
        } else if is(word, "SET") && needs(3) {
            FieldOp::Set(0)
        } else if is(word, "INCRBY") && needs(3) {
            FieldOp::IncrBy(0)
        } else if is(word, "OVERFLOW") && needs(1) {
            let kind = args.required()?;
            overflow = if is(kind, "WRAP") {
                Overflow::Wrap
            } else if is(kind, "SAT") {
                Overflow::Sat
            } else if is(kind, "FAIL") {
                Overflow::Fail
            } else {
                return Err(Status::err("ERR Invalid OVERFLOW type specified"));
            };
            continue;
        } else {
            return Err(Status::Syntax);
        };
        let (signed, bits) = field_type(args.required()?)?;
        let offset = bit_offset(args.required()?, Some(bits))?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) => FieldOp::Set(args.i64()?),
            FieldOp::IncrBy(_) => FieldOp::IncrBy(args.i64()?),
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
    }
    Ok(fields)
}

/// The `bits`-bit unsigned field at bit `offset` (bits past the end read as zero).
fn get_field(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0, |value, i| value << 1 | get_bit(s, offset + i) as u64)
}

/// Writes the low `bits` bits of `value` at bit `offset` (the string holds them).
fn set_field(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits as u64 {
        let on = value >> (bits as u64 - 1 - i) & 1 != 0;
        let at = offset + i;
        let mask = 0x80 >> (at & 7);
        let byte = &mut s[(at >> 3) as usize];
        *byte = if on { *byte | mask } else { *byte & !mask };
    }
}

/// The field's value sign-extended from `bits` bits.
fn as_signed(raw: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((raw << shift) as i64) >> shift
}

/// Redis's checkUnsignedBitfieldOverflow: Some(value to store) or None when it overflows
/// under FAIL.
fn unsigned_result(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1; // bits <= 63
    let sum = value.wrapping_add(incr as u64);
    let over = value > max || (incr > 0 && incr as u64 > max - value);
    let under = !over && incr < 0 && incr.unsigned_abs() > value;
    if !over && !under {
        return Some(sum);
    }
    match overflow {
        Overflow::Wrap => Some(sum & max),
        Overflow::Sat => Some(if over { max } else { 0 }),
        Overflow::Fail => None,
    }
}

/// Redis's checkSignedBitfieldOverflow for a `bits`-bit signed field.
fn signed_result(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let sum = value as i128 + incr as i128;
    if (min as i128..=max as i128).contains(&sum) {
        return Some(sum as i64);
    }
    match overflow {
        Overflow::Wrap => Some(as_signed((value as u64).wrapping_add(incr as u64), bits)),
        Overflow::Sat => Some(if sum > max as i128 { max } else { min }),
        Overflow::Fail => None,
    }
}

/// Runs one SET or INCRBY on `s` and replies: the old value for SET, the new for INCRBY,
/// null (and no write) when FAIL refuses an overflow.
/// Whether the field was written (OVERFLOW FAIL leaves it).
fn write_field(s: &mut [u8], field: &Field, reply: &mut Reply) -> bool {
    let raw = get_field(s, field.offset, field.bits);
    let (set_to, incr) = match field.op {
        FieldOp::Set(value) => (Some(value), 0),
        FieldOp::IncrBy(incr) => (None, incr),
        FieldOp::Get => unreachable!("GET is a read"),
    };
    let outcome = if field.signed {
        let old = as_signed(raw, field.bits);
        let stored = signed_result(set_to.unwrap_or(old), incr, field.bits, field.overflow);
        stored.map(|new| (new as u64, if set_to.is_some() { old } else { new }))
    } else {
        let start = set_to.map_or(raw, |v| v as u64);
        let stored = unsigned_result(start, incr, field.bits, field.overflow);
        stored.map(|new| {
            (
                new,
                if set_to.is_some() {
                    raw as i64
                } else {
                    new as i64
                },
            )
        })
    };
    match outcome {
        Some((stored, answer)) => {
            set_field(s, field.offset, field.bits, stored);
            reply.int(answer);
            true
        }
        None => {
            reply.null();
            false
        }
    }
}

fn read_field(s: Option<&[u8]>, field: &Field, reply: &mut Reply) {
    let raw = s.map_or(0, |s| get_field(s, field.offset, field.bits));
    match field.signed {
        true => reply.int(as_signed(raw, field.bits)),
        false => reply.int(raw as i64),
    }
}

/// BITFIELD and BITFIELD_RO: every operation is parsed first; a request of GETs only is a
/// read (a missing key reads as zeros), otherwise the string is created and grown to the
/// farthest bit written before the operations run in order.
fn bitfield_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    reply: &mut Reply,
    read_only: bool,
) -> Result<(), Status> {
    let key = args.required()?;
    let fields = parse_fields(args)?;
    let writes = fields.iter().filter(|f| f.op != FieldOp::Get);
    let Some(max_bit) = writes.map(|f| f.offset + f.bits as u64 - 1).max() else {
        let s = read(ctx, key)?;
        reply.array(fields.len());
        fields.iter().for_each(|f| read_field(s, f, reply));
        return Ok(());
    };
    if read_only {
        return Err(Status::err(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let s = string_for_bits(ctx, key, max_bit)?;
    reply.array(fields.len());
    let mut changed = false;
    for field in &fields {
        match field.op {
            FieldOp::Get => read_field(Some(s), field, reply),
            _ => changed |= write_field(s, field, reply),
        }
    }
    // One event for the command, and none when every write failed on overflow.
    if changed {
        ctx.notify(class::STRING, "setbit", key);
    }
    Ok(())
}

fn bitfield(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    bitfield_generic(ctx, args, reply, false)
}

fn bitfield_ro(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    bitfield_generic(ctx, args, reply, true)
}

// ---------------------------------------------------------------------------------------
// BITOP

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn parse_bitop(argv: &Argv) -> Result<BitOp, Status> {
    let name = &argv[1];
    let op = if is(name, "AND") {
        BitOp::And
    } else if is(name, "OR") {
        BitOp::Or
    } else if is(name, "XOR") {
        BitOp::Xor
    } else if is(name, "NOT") {
        BitOp::Not
    } else {
        return Err(Status::Syntax);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(Status::err(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    Ok(op)
}

/// The result of `op` over `sources` (missing keys are empty strings), as long as the
/// longest; shorter strings read as zero bytes past their end.
fn compute_bitop(op: BitOp, sources: &[Option<&[u8]>]) -> Vec<u8> {
    let len = sources.iter().flatten().map(|s| s.len()).max().unwrap_or(0);
    let byte = |s: &Option<&[u8]>, i: usize| s.and_then(|s| s.get(i).copied()).unwrap_or(0);
    let mut out: Vec<u8> = (0..len).map(|i| byte(&sources[0], i)).collect();
    match op {
        BitOp::Not => out.iter_mut().for_each(|b| *b = !*b),
        _ => {
            for source in &sources[1..] {
                for (i, b) in out.iter_mut().enumerate() {
                    let other = byte(source, i);
                    *b = match op {
                        BitOp::And => *b & other,
                        BitOp::Or => *b | other,
                        _ => *b ^ other,
                    };
                }
            }
        }
    }
    out
}

/// The strings at `keys` on one shard (None for a missing key), or WRONGTYPE.
fn lookup_strings(ctx: &mut Ctx, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, Status> {
    keys.iter()
        .map(|key| read(ctx, key).map(|s| s.map(<[u8]>::to_vec)))
        .collect()
}

/// Stores BITOP's result (a raw string, as Redis creates it), or deletes the destination
/// when every source was empty; the length stored.
fn store_bitop(ctx: &mut Ctx, dst: &[u8], result: Vec<u8>) -> usize {
    let len = result.len();
    if len == 0 {
        if ctx.delete(dst) {
            ctx.notify(class::GENERIC, "del", dst);
        }
        return 0;
    }
    ctx.set(dst, Value::Str(result), 0);
    ctx.notify(class::STRING, "set", dst);
    // Cosmetic (OBJECT ENCODING): the PUT effect cannot carry it, so a replayed copy
    // reports embstr or int where a short result would.
    if let Some(entry) = ctx.lookup_write(dst) {
        entry.edited_in_place = true;
    }
    len
}

/// BITOP op destkey key [key ...]. With every key on one core it is one step there;
/// otherwise the sources are read on their cores (each held from its read on), the
/// result computed here and stored on the destination's core while every core is still
/// held.
fn bitop(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let op = parse_bitop(&argv)?;
        let (db, cores) = (s.db, s.core.cores);
        let dst_core = key_core(&argv[2], cores);
        let mut by_core: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        for key in &argv[3..] {
            by_core
                .entry(key_core(key, cores))
                .or_default()
                .push(key.clone());
        }
        let involved: Vec<usize> = by_core.keys().copied().chain([dst_core]).collect();
        let mut cores_held = MultiCore::new(s, involved.iter().copied());
        let stored = if involved.iter().all(|&core| core == dst_core) {
            let (dst, keys) = (argv[2].clone(), argv[3..].to_vec());
            cores_held
                .run(dst_core, move |shard| {
                    let mut ctx = Ctx::new(shard, db);
                    let sources = lookup_strings(&mut ctx, &keys)?;
                    let borrowed: Vec<Option<&[u8]>> =
                        sources.iter().map(Option::as_deref).collect();
                    let result = compute_bitop(op, &borrowed);
                    Ok(store_bitop(&mut ctx, &dst, result))
                })
                .await
        } else {
            bitop_across_cores(&mut cores_held, db, op, &argv, by_core, dst_core).await
        };
        cores_held.finish().await;
        s.reply().int(stored? as i64);
        Ok(())
    }
    .boxed_local()
}

async fn bitop_across_cores(
    cores_held: &mut MultiCore,
    db: usize,
    op: BitOp,
    argv: &Argv,
    by_core: BTreeMap<usize, Vec<Vec<u8>>>,
    dst_core: usize,
) -> Result<usize, Status> {
    let mut found: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    let mut failed = None;
    for (core, keys) in by_core {
        let read = cores_held
            .run(core, move |shard| {
                let values = lookup_strings(&mut Ctx::new(shard, db), &keys)?;
                Ok::<_, Status>(keys.into_iter().zip(values).collect::<Vec<_>>())
            })
            .await;
        match read {
            Ok(pairs) => found.extend(pairs),
            Err(status) => failed = Some(status),
        }
    }
    if let Some(status) = failed {
        return Err(status);
    }
    let sources: Vec<Option<&[u8]>> = argv[3..]
        .iter()
        .map(|key| found.get(key).and_then(Option::as_deref))
        .collect();
    let result = compute_bitop(op, &sources);
    let dst = argv[2].clone();
    Ok(cores_held
        .run(dst_core, move |shard| {
            store_bitop(&mut Ctx::new(shard, db), &dst, result)
        })
        .await)
}

// ---------------------------------------------------------------------------------------
// Table rows

const G: &str = "bitmap";

/// BITOP's keys: the destination and every source (Redis reports 2 -1 1).
const BITOP_KEYS: KeySpec = KeySpec {
    first: 2,
    last: -1,
    step: 1,
};

const fn shard(
    name: &'static str,
    arity: i16,
    flags: u32,
    handler: super::ShardFn,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec::row(
        name,
        arity,
        flags,
        ONE_KEY,
        OnShard(handler),
        G,
        summary,
        since,
    )
}

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    shard("setbit", 4, WRITE | DENYOOM, setbit, "Sets or clears the bit at offset in the string value stored at key", "2.2.0"),
    shard("getbit", 3, READONLY | FAST, getbit, "Returns the bit value at offset in the string value stored at key", "2.2.0"),
    shard("bitcount", -2, READONLY, bitcount, "Count set bits in a string", "2.6.0"),
    shard("bitpos", -3, READONLY, bitpos, "Find first bit set or clear in a string", "2.8.7"),
    shard("bitfield", -2, WRITE | DENYOOM, bitfield, "Perform arbitrary bitfield integer operations on strings", "3.2.0"),
    shard("bitfield_ro", -2, READONLY | FAST, bitfield_ro, "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD", "6.0.0"),
    Spec::row("bitop", -4, WRITE | DENYOOM, BITOP_KEYS, Multi(bitop), G, "Perform bitwise operations between strings", "2.6.0"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_like_redis() {
        assert_eq!(resolve_range(0, -1, 3, false), Some((0, 23)));
        assert_eq!(resolve_range(1, 1, 3, false), Some((8, 15)));
        assert_eq!(resolve_range(-100, 100, 3, false), Some((0, 23)));
        assert_eq!(resolve_range(5, 2, 3, true), None);
        assert_eq!(resolve_range(3, 12, 3, true), Some((3, 12)));
        assert_eq!(resolve_range(0, -1, 0, false), None);
    }

    #[test]
    fn counting_and_finding_bits() {
        let s = [0b1010_0000, 0xff, 0x00, 0x01];
        assert_eq!(count_ones(&s, 0, 31), 11);
        assert_eq!(count_ones(&s, 1, 2), 1);
        assert_eq!(count_ones(&s, 2, 30), 9);
        assert_eq!(first_bit(&s, true, 0, 31), Some(0));
        assert_eq!(first_bit(&s, true, 1, 31), Some(2));
        assert_eq!(first_bit(&s, false, 8, 15), None);
        assert_eq!(first_bit(&s, true, 16, 30), None);
        assert_eq!(first_bit(&s, true, 16, 31), Some(31));
        let long = [vec![0u8; 100], vec![0x10]].concat();
        assert_eq!(first_bit(&long, true, 0, 807), Some(803));
        assert_eq!(first_bit(&long, false, 3, 807), Some(3));
    }

    #[test]
    fn fields_read_and_write_most_significant_bit_first() {
        let mut s = vec![0u8; 3];
        set_field(&mut s, 4, 8, 0xab);
        assert_eq!(s, [0x0a, 0xb0, 0x00]);
        assert_eq!(get_field(&s, 4, 8), 0xab);
        assert_eq!(as_signed(get_field(&s, 4, 4), 4), -6);
        assert_eq!(get_field(&s, 20, 8), 0, "past the end reads zeros");
    }

    #[test]
    fn overflow_modes_match_redis() {
        use Overflow::*;
        assert_eq!(unsigned_result(250, 10, 8, Wrap), Some(4));
        assert_eq!(unsigned_result(250, 10, 8, Sat), Some(255));
        assert_eq!(unsigned_result(250, 10, 8, Fail), None);
        assert_eq!(unsigned_result(5, -10, 8, Wrap), Some(251));
        assert_eq!(unsigned_result(5, -10, 8, Sat), Some(0));
        assert_eq!(unsigned_result(u64::MAX, 0, 8, Wrap), Some(255));
        assert_eq!(signed_result(120, 10, 8, Wrap), Some(-126));
        assert_eq!(signed_result(120, 10, 8, Sat), Some(127));
        assert_eq!(signed_result(-120, -10, 8, Sat), Some(-128));
        assert_eq!(signed_result(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(signed_result(i64::MIN, -1, 64, Fail), None);
        assert_eq!(signed_result(-3, 1, 2, Wrap), Some(-2));
    }

    #[test]
    fn bitop_pads_shorter_strings_with_zeros() {
        let (a, b): (&[u8], &[u8]) = (&[0xf0, 0x0f], &[0xff]);
        assert_eq!(compute_bitop(BitOp::And, &[Some(a), Some(b)]), [0xf0, 0x00]);
        assert_eq!(compute_bitop(BitOp::Or, &[Some(b), Some(a)]), [0xff, 0x0f]);
        assert_eq!(
            compute_bitop(BitOp::Xor, &[Some(a), Some(b), None]),
            [0x0f, 0x0f]
        );
        assert_eq!(compute_bitop(BitOp::Not, &[Some(a)]), [0x0f, 0xf0]);
        assert_eq!(compute_bitop(BitOp::And, &[None, Some(a)]), [0, 0]);
        assert!(compute_bitop(BitOp::Or, &[None, None]).is_empty());
    }
}
