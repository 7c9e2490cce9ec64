//! The payload of FUNCTION DUMP / FUNCTION RESTORE, in Redis 7.0's format, so that a dump
//! taken from Redis restores here and one taken here restores in Redis:
//!
//! ```text
//! { 0xF5 (RDB_OPCODE_FUNCTION2)  rdb-string(library code) }*   rdb-version (u16 LE)   crc64 (u64 LE)
//! ```
//!
//! An rdb-string is a length-prefixed string, or (past 20 bytes, when that is smaller) an
//! LZF-compressed one (`0xC3 len(compressed) len(original) bytes`), as `rdbSaveRawString`
//! writes it. The checksum is Redis's CRC-64 (Jones polynomial, reflected) over everything
//! before it. LZF here is a port of liblzf's `lzf_compress`/`lzf_decompress` as Redis ships
//! them; Redis leaves the compressor's hash table uninitialised (its stack holds whatever
//! an earlier call left), so its bytes for the same input can differ from run to run and
//! from ours, while every such output decodes to the same code.

/// The RDB version of Redis 7.0: payloads of a newer version are refused, as Redis does.
const RDB_VERSION: u16 = 10;
const OPCODE_FUNCTION2: u8 = 245;
/// Redis 7.0 release candidates' format, which 7.0 GA refuses with its own message.
const OPCODE_FUNCTION_PRE_GA: u8 = 246;
const ENC_LZF: u8 = 3;

/// FUNCTION DUMP: the libraries' codes as one payload.
pub fn dump<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        save_string(&mut out, code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// FUNCTION RESTORE's reading of a payload: the library codes, or Redis's error text.
pub fn parse(payload: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if !footer_valid(payload) {
        return Err("ERR DUMP payload version or checksum are wrong".into());
    }
    let body = &payload[..payload.len() - 10];
    let mut at = 0;
    let mut codes = Vec::new();
    while at < body.len() {
        let opcode = body[at];
        at += 1;
        match opcode {
            OPCODE_FUNCTION2 => {}
            OPCODE_FUNCTION_PRE_GA => return Err("ERR Pre-GA function format not supported".into()),
            _ => return Err("ERR given type is not a function".into()),
        }
        let code = load_string(body, &mut at).ok_or("ERR Failed loading library payload")?;
        codes.push(code);
    }
    Ok(codes)
}

/// Redis's verifyDumpPayload: at least the 10-byte footer, a version it knows, and a
/// checksum over the rest (a zero checksum means "not computed" only in RDB files, not
/// here, but a zero body checksums to zero anyway).
fn footer_valid(payload: &[u8]) -> bool {
    if payload.len() < 10 {
        return false;
    }
    let footer = &payload[payload.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    version <= RDB_VERSION && crc == crc64(0, &payload[..payload.len() - 8])
}

/// rdbSaveRawString for a string that is never an integer (library code starts with "#!").
fn save_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() > 20 {
        // rdbSaveLzfStringObject: worth it only if it saves at least 4 bytes.
        let mut compressed = vec![0; s.len() - 4];
        let n = lzf_compress(s, &mut compressed);
        if n > 0 {
            out.push(0xC0 | ENC_LZF);
            save_len(out, n as u64);
            save_len(out, s.len() as u64);
            out.extend_from_slice(&compressed[..n]);
            return;
        }
    }
    save_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// rdbSaveLen: 6-bit, 14-bit (big-endian), 32-bit or 64-bit lengths.
fn save_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if len <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

enum Len {
    Plain(u64),
    Encoded(u8),
}

/// rdbLoadLenByRef.
fn load_len(data: &[u8], at: &mut usize) -> Option<Len> {
    let first = *data.get(*at)?;
    *at += 1;
    let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
        let bytes = data.get(*at..*at + n)?;
        *at += n;
        Some(bytes)
    };
    Some(match first >> 6 {
        0 => Len::Plain((first & 0x3F) as u64),
        1 => Len::Plain((((first & 0x3F) as u64) << 8) | take(at, 1)?[0] as u64),
        3 => Len::Encoded(first & 0x3F),
        _ => match first {
            0x80 => Len::Plain(u32::from_be_bytes(take(at, 4)?.try_into().ok()?) as u64),
            0x81 => Len::Plain(u64::from_be_bytes(take(at, 8)?.try_into().ok()?)),
            _ => return None,
        },
    })
}

fn load_plain_len(data: &[u8], at: &mut usize) -> Option<usize> {
    match load_len(data, at)? {
        Len::Plain(n) => usize::try_from(n).ok(),
        Len::Encoded(_) => None,
    }
}

/// rdbGenericLoadStringObject: plain, integer-encoded or LZF-compressed.
fn load_string(data: &[u8], at: &mut usize) -> Option<Vec<u8>> {
    match load_len(data, at)? {
        Len::Plain(n) => {
            let n = usize::try_from(n).ok()?;
            let s = data.get(*at..at.checked_add(n)?)?.to_vec();
            *at += n;
            Some(s)
        }
        Len::Encoded(width @ 0..=2) => {
            let n = 1usize << width;
            let bytes = data.get(*at..*at + n)?;
            *at += n;
            let value = match width {
                0 => bytes[0] as i8 as i64,
                1 => i16::from_le_bytes(bytes.try_into().ok()?) as i64,
                _ => i32::from_le_bytes(bytes.try_into().ok()?) as i64,
            };
            Some(value.to_string().into_bytes())
        }
        Len::Encoded(ENC_LZF) => {
            let compressed_len = load_plain_len(data, at)?;
            let len = load_plain_len(data, at)?;
            let compressed = data.get(*at..at.checked_add(compressed_len)?)?;
            *at += compressed_len;
            let out = lzf_decompress(compressed, len)?;
            (out.len() == len).then_some(out)
        }
        Len::Encoded(_) => None,
    }
}

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// liblzf's hash of three bytes (VERY_FAST, as Redis builds it).
fn lzf_index(h: u32) -> usize {
    ((((h ^ (h << 5)) >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5))) as usize) & (HSIZE - 1)
}

/// lzf_compress with a zeroed hash table: the compressed length, or 0 when the output
/// would not fit in `out` (the caller then stores the string as it is).
fn lzf_compress(input: &[u8], out: &mut [u8]) -> usize {
    let (in_len, out_len) = (input.len(), out.len());
    if in_len == 0 || out_len == 0 {
        return 0;
    }
    // Positions of earlier three-byte sequences; 0 means none (a match at 0 is refused
    // by the `reference > 0` test, exactly as liblzf's `ref > in_data`).
    let mut table = vec![0u32; HSIZE];
    let (mut ip, mut op, mut lit) = (0usize, 1usize, 0usize);
    let first = |p: usize| ((input[p] as u32) << 8) | input[p + 1] as u32;
    let next = |v: u32, p: usize| (v << 8) | input[p + 2] as u32;
    let mut hval = if in_len >= 2 { first(0) } else { 0 };
    while in_len > 2 && ip < in_len - 2 {
        hval = next(hval, ip);
        let slot = lzf_index(hval);
        let reference = table[slot] as usize;
        table[slot] = ip as u32;
        let off = ip.wrapping_sub(reference).wrapping_sub(1);
        if off < MAX_OFF
            && reference > 0
            && input[reference + 2] == input[ip + 2]
            && input[reference..reference + 2] == input[ip..ip + 2]
        {
            let mut len = 2;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_len && op - (lit == 0) as usize + 3 + 1 >= out_len {
                return 0;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1);
            op -= (lit == 0) as usize;
            len = match_length(input, reference, ip, len, maxlen);
            len -= 2;
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // and start a new literal run
            lit = 0;
            ip += len + 1;
            if ip >= in_len - 2 {
                break;
            }
            // VERY_FAST: hash the two positions before the new one.
            ip -= 2;
            hval = first(ip);
            for _ in 0..2 {
                hval = next(hval, ip);
                table[lzf_index(hval)] = ip as u32;
                ip += 1;
            }
        } else {
            if op >= out_len {
                return 0;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
    }
    if op + 3 > out_len {
        return 0;
    }
    while ip < in_len {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op - (lit == 0) as usize
}

/// liblzf's match extension, including its 16-byte unrolled step (which may compare past
/// `maxlen` by design: the caller's bound leaves room for it).
fn match_length(input: &[u8], reference: usize, ip: usize, mut len: usize, maxlen: usize) -> usize {
    if maxlen > 16 {
        for _ in 0..16 {
            len += 1;
            if input[reference + len] != input[ip + len] {
                return len;
            }
        }
    }
    loop {
        len += 1;
        if !(len < maxlen && input[reference + len] == input[ip + len]) {
            return len;
        }
    }
}

/// lzf_decompress into exactly `len` bytes; None on a malformed stream.
fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 1 << 5 {
            let run = input.get(ip..ip + ctrl + 1)?;
            if out.len() + run.len() > len {
                return None;
            }
            out.extend_from_slice(run);
            ip += ctrl + 1;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *input.get(ip)? as usize;
                ip += 1;
            }
            let back = ((ctrl & 0x1F) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            let start = out.len().checked_sub(back)?;
            if out.len() + n + 2 > len {
                return None;
            }
            // Byte by byte: the reference may overlap what it produces.
            for i in 0..n + 2 {
                out.push(out[start + i]);
            }
        }
    }
    Some(out)
}

/// Redis's crc64 (Jones polynomial 0xad93d23594c935a9, reflected, no final xor).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    const REFLECTED: u64 = 0x95AC_9329_AC4B_C9B5;
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u64; 256];
        for (i, entry) in table.iter_mut().enumerate() {
            let mut c = i as u64;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ REFLECTED
                } else {
                    c >> 1
                };
            }
            *entry = c;
        }
        table
    });
    for &byte in data {
        crc = table[((crc ^ byte as u64) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_matches_redis_check_value() {
        // crc64.c's own test: crc64(0, "123456789") == 0xe9c6d914c4b8d9ca.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn payload_taken_from_redis_restores() {
        // FUNCTION DUMP from redis-server 7.0.15 after loading this library (LZF inside).
        let code = b"#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return args[1] end)";
        let dumped = b"\xf5\xc3@V@[\x1f#!lua name=mylib\nredis.register_\x0bfunction('my@\x0b\x02', @\x06`\x12\x11keys, args) return`\x0c\x07[1] end)\n\x00\x8dY6\xad\xc6\xe7\x07\xda";
        assert_eq!(parse(dumped).unwrap(), vec![code.to_vec()]);
        // Our compressor makes the same bytes for it.
        assert_eq!(&dump([&code[..]])[..], &dumped[..]);
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let codes: Vec<Vec<u8>> = vec![
            b"#!lua name=a\nredis.register_function('f', function() return 1 end)".to_vec(),
            b"#!lua name=b\n"
                .iter()
                .chain([b'x'; 20_000].iter())
                .copied()
                .collect(),
            (0..3000u32).flat_map(|i| (i % 251).to_le_bytes()).collect(),
        ];
        let payload = dump(codes.iter().map(Vec::as_slice));
        assert_eq!(parse(&payload).unwrap(), codes);
        let mut damaged = payload.clone();
        damaged[5] ^= 1;
        assert!(parse(&damaged).is_err());
        assert!(parse(&payload[..9]).is_err());
        let mut newer = dump([]);
        newer[0] = 11;
        assert!(parse(&newer).is_err());
        assert_eq!(parse(&dump([])).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn lzf_round_trips_random_inputs() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..300 {
            let len = round * 7 % 5000;
            let alphabet = 1 + round % 20;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b'a' + (seed % alphabet as u64) as u8
                })
                .collect();
            let mut out = vec![0; len + 64];
            let n = lzf_compress(&input, &mut out);
            assert!(n > 0 || len == 0);
            assert_eq!(
                lzf_decompress(&out[..n], len).unwrap(),
                input,
                "round {round}"
            );
        }
    }
}
