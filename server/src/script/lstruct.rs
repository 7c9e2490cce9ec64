//! The `struct` library Redis gives scripts (Roberto Ierusalimschy's lua_struct 0.2, as
//! Redis bundles it): `struct.pack(fmt, ...)`, `struct.unpack(fmt, data[, init])` and
//! `struct.size(fmt)`, converting between Lua values and C-struct-like binary strings.
//!
//! Format: `>` big-endian, `<` little-endian, `!n` maximum alignment (default 1; `!`
//! alone is 8), `x` a zero byte, `b/B h/H l/L T` signed/unsigned 1-, 2-, 8- and 8-byte
//! integers, `i/I[n]` n-byte integers (default 4, at most 32), `f`/`d` float/double,
//! `s` a zero-terminated string, `c[n]` n chars (`c0` in unpack: the previous value is the
//! length; in pack: the whole string), spaces ignored. Integers travel through a 64-bit
//! `long long` and Lua's doubles, exactly as the C library does.

use super::call::raised_at_caller as fail;
use mlua::{Lua, MultiValue, Table, Value};

const MAX_INT_SIZE: usize = 32;
/// `offsetof(struct { char c; double d; }, d)` on the platforms Redis runs on.
const MAX_ALIGN: usize = 8;

pub fn install(lua: &Lua) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.set("pack", lua.create_function(pack)?)?;
    table.set("unpack", lua.create_function(unpack)?)?;
    table.set("size", lua.create_function(size)?)?;
    Ok(table)
}

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }
}

/// A format string being read, option by option.
struct Format<'a> {
    fmt: &'a [u8],
    at: usize,
    header: Header,
    function: &'static str,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8], function: &'static str) -> Self {
        Format {
            fmt,
            at: 0,
            header: Header::default(),
            function,
        }
    }

    fn next_option(&mut self) -> Option<u8> {
        let opt = *self.fmt.get(self.at)?;
        self.at += 1;
        Some(opt)
    }

    /// getnum: an optional decimal count after an option.
    fn number(&mut self, default: usize) -> Result<usize, String> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut n: usize = 0;
        while let Some(d) = self.fmt.get(self.at).filter(|d| d.is_ascii_digit()) {
            let digit = (d - b'0') as usize;
            if n > i32::MAX as usize / 10 || n * 10 > i32::MAX as usize - digit {
                return Err("integral size overflow".into());
            }
            n = n * 10 + digit;
            self.at += 1;
        }
        Ok(n)
    }

    /// optsize: the bytes an option takes (0 for control options and `s`).
    fn size(&mut self, opt: u8) -> Result<usize, String> {
        Ok(match opt {
            b'b' | b'B' | b'x' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let n = self.number(4)?;
                if n > MAX_INT_SIZE {
                    return Err(format!(
                        "integral size {n} is larger than limit of {MAX_INT_SIZE}"
                    ));
                }
                n
            }
            _ => 0,
        })
    }

    /// gettoalign: padding before an option at offset `len`.
    fn padding(&self, len: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.header.align);
        (size - (len & (size - 1))) & (size - 1)
    }

    /// controloptions: endianness, alignment, spaces; anything else is an error.
    fn control(&mut self, opt: u8) -> Result<(), String> {
        match opt {
            b' ' => {}
            b'>' => self.header.little = false,
            b'<' => self.header.little = true,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(format!("alignment {a} is not a power of 2"));
                }
                self.header.align = a;
            }
            other => {
                return Err(self.arg_error(1, &format!("invalid format option '{}'", other as char)))
            }
        }
        Ok(())
    }

    fn arg_error(&self, n: usize, message: &str) -> String {
        format!("bad argument #{n} to '{}' ({message})", self.function)
    }
}

fn number_arg(args: &[Value], n: usize, function: &str) -> Result<f64, String> {
    // pack pushes a nil after its arguments: the first missing one is "got nil".
    let nil = Value::Nil;
    let missing = (function == "pack").then_some(&nil);
    match args.get(n - 1).or(missing) {
        Some(Value::Number(x)) => Ok(*x),
        Some(Value::Integer(x)) => Ok(*x as f64),
        Some(Value::String(s)) => match s.to_str().ok().and_then(|t| t.trim().parse().ok()) {
            Some(x) => Ok(x),
            None => Err(expected(n, function, "number", args.get(n - 1))),
        },
        other => Err(expected(n, function, "number", other)),
    }
}

fn string_arg(args: &[Value], n: usize, function: &str) -> Result<Vec<u8>, String> {
    let nil = Value::Nil;
    let missing = (function == "pack" && n > 1).then_some(&nil);
    match args.get(n - 1).or(missing) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Number(x)) => Ok(lua_number_text(*x).into_bytes()),
        Some(Value::Integer(x)) => Ok(x.to_string().into_bytes()),
        other => Err(expected(n, function, "string", other)),
    }
}

/// Lua 5.1's "%.14g" rendering of a number coerced to a string.
fn lua_number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn expected(n: usize, function: &str, what: &str, got: Option<&Value>) -> String {
    let got = got.map_or("no value", |v| match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Number(_) | Value::Integer(_) => "number",
        Value::String(_) => "string",
        _ => "userdata",
    });
    format!("bad argument #{n} to '{function}' ({what} expected, got {got})")
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    let args: Vec<Value> = args.into_iter().collect();
    let out = pack_values(&args).map_err(|m| fail(lua, &m))?;
    lua.create_string(&out)
}

fn pack_values(args: &[Value]) -> Result<Vec<u8>, String> {
    let fmt = string_arg(args, 1, "pack")?;
    let mut format = Format::new(&fmt, "pack");
    let mut out = Vec::new();
    let mut arg = 2;
    while let Some(opt) = format.next_option() {
        let mut size = format.size(opt)?;
        out.resize(out.len() + format.padding(out.len(), opt, size), 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = number_arg(args, arg, "pack")?;
                arg += 1;
                // (Uinttype)(Inttype)n for negatives, (Uinttype)n otherwise.
                let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = [0u8; MAX_INT_SIZE];
                for byte in bytes.iter_mut().take(size) {
                    *byte = value as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                }
                let bytes = &mut bytes[..size];
                if !format.header.little {
                    bytes.reverse();
                }
                out.extend_from_slice(bytes);
            }
            b'x' => out.push(0),
            b'f' | b'd' => {
                let n = number_arg(args, arg, "pack")?;
                arg += 1;
                let mut bytes = if opt == b'f' {
                    (n as f32).to_le_bytes().to_vec()
                } else {
                    n.to_le_bytes().to_vec()
                };
                if !format.header.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'c' | b's' => {
                let s = string_arg(args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // luaL_argcheck after arg++ names the next argument, as the C code does.
                    return Err(format!("bad argument #{arg} to 'pack' (string too short)"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => format.control(opt)?,
        }
    }
    Ok(out)
}

fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args: Vec<Value> = args.into_iter().collect();
    let values = unpack_values(lua, &args).map_err(|m| fail(lua, &m))?;
    Ok(MultiValue::from_iter(values))
}

/// One unpacked value before it becomes a Lua value.
enum Item {
    Number(f64),
    Bytes(Vec<u8>),
}

fn unpack_values(lua: &Lua, args: &[Value]) -> Result<Vec<Value>, String> {
    let fmt = string_arg(args, 1, "unpack")?;
    let data = string_arg(args, 2, "unpack")?;
    let init = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        Some(_) => number_arg(args, 3, "unpack")?,
    };
    // luaL_optinteger truncates into a size_t: only 0 is refused here; a negative offset
    // wraps past the end and fails as "data string too short", as in Redis.
    let init = init as i64;
    let ld = data.len();
    let mut format = Format::new(&fmt, "unpack");
    if init == 0 {
        return Err(format.arg_error(3, "offset must be 1 or greater"));
    }
    let mut pos = (init as u64 as usize).wrapping_sub(1);
    let mut items: Vec<Item> = Vec::new();
    while let Some(opt) = format.next_option() {
        let mut size = format.size(opt)?;
        pos = pos.wrapping_add(format.padding(pos, opt, size));
        let short = |size: usize, pos: usize| size > ld || pos > ld - size;
        if short(size, pos) {
            return Err(format.arg_error(2, "data string too short"));
        }
        let bytes = |size: usize| {
            let mut b = data[pos..pos + size].to_vec();
            if format.header.little {
                b.reverse();
            }
            b // most significant byte first
        };
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut value: u64 = 0;
                for byte in bytes(size) {
                    value = value.checked_shl(8).unwrap_or(0) | byte as u64;
                }
                let signed = opt.is_ascii_lowercase();
                let n = if signed {
                    let mask = u64::MAX.checked_shl(size as u32 * 8 - 1).unwrap_or(0);
                    if value & mask != 0 {
                        value |= mask;
                    }
                    value as i64 as f64
                } else {
                    value as f64
                };
                items.push(Item::Number(n));
            }
            b'x' => {}
            b'f' => {
                let mut b = data[pos..pos + 4].to_vec();
                if !format.header.little {
                    b.reverse();
                }
                let f = f32::from_le_bytes(b.try_into().expect("4 bytes"));
                items.push(Item::Number(f as f64));
            }
            b'd' => {
                let mut b = data[pos..pos + 8].to_vec();
                if !format.header.little {
                    b.reverse();
                }
                items.push(Item::Number(f64::from_le_bytes(
                    b.try_into().expect("8 bytes"),
                )));
            }
            b'c' => {
                if size == 0 {
                    size = match items.pop() {
                        Some(Item::Number(n)) => n as usize,
                        _ => return Err("format 'c0' needs a previous size".into()),
                    };
                    if short(size, pos) {
                        return Err(format.arg_error(2, "data string too short"));
                    }
                }
                items.push(Item::Bytes(data[pos..pos + size].to_vec()));
            }
            b's' => {
                let Some(end) = memchr::memchr(0, &data[pos..]) else {
                    return Err("unfinished string in data".into());
                };
                items.push(Item::Bytes(data[pos..pos + end].to_vec()));
                size = end + 1;
            }
            _ => format.control(opt)?,
        }
        pos += size;
    }
    let mut values = Vec::with_capacity(items.len() + 1);
    for item in items {
        values.push(match item {
            Item::Number(n) => Value::Number(n),
            Item::Bytes(b) => Value::String(lua.create_string(&b).map_err(|e| e.to_string())?),
        });
    }
    values.push(Value::Number((pos + 1) as f64));
    Ok(values)
}

fn size(lua: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let args: Vec<Value> = args.into_iter().collect();
    size_of(&args).map_err(|m| fail(lua, &m))
}

fn size_of(args: &[Value]) -> Result<f64, String> {
    let fmt = string_arg(args, 1, "size")?;
    let mut format = Format::new(&fmt, "size");
    let mut pos = 0;
    while let Some(opt) = format.next_option() {
        let size = format.size(opt)?;
        pos += format.padding(pos, opt, size);
        if opt == b's' {
            return Err(format.arg_error(1, "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(format.arg_error(1, "option 'c0' has no fixed size"));
        }
        // As the C library: letters it does not know are skipped here, not refused.
        if !opt.is_ascii_alphanumeric() {
            format.control(opt)?;
        }
        pos += size;
    }
    Ok(pos as f64)
}
