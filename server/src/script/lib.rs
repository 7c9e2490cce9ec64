//! What a script sees besides Lua's own table, string and math libraries: the `redis`
//! table, `bit`, Redis's deterministic `math.random`, and the sandbox (a read-only global
//! table; reading an undefined global is an error, as Redis 7 does).

use super::call;
use mlua::{Lua, MultiValue, Value};
use std::cell::Cell;

/// Runs once per Lua state after `install`, with the full global table. Returns the
/// runner (`xpcall` with Redis's error handler) and the function that gives a compiled
/// script the sandboxed environment.
pub const SANDBOX: &str = r#"
local real = _G
local debug = debug
local raw_call = real.__hf_call
real.__hf_call = nil

local function caller_position()
  for level = 2, 20 do
    local info = debug.getinfo(level, 'Sl')
    if info == nil then break end
    if info.source == '@user_script' or info.source == '@user_function' then
      return info.source, info.currentline
    end
  end
end

local redis = real.redis
local raw_setresp = redis.setresp
redis.setresp = function(version)
  if version ~= 2 and version ~= 3 then error({ err = 'ERR RESP version must be 2 or 3.' }) end
  raw_setresp(version)
end
-- redis.call is Rust (a C function to Lua), so `return redis.call(...)` keeps the script's
-- frame on the stack for the error handler, which a Lua wrapper's tail call would lose.
redis.pcall = function(...)
  local reply = raw_call(...)
  return reply
end

-- Redis's error handler: every error becomes a table with the error text and where in
-- the script it happened.
local function handler(err)
  if type(err) == 'userdata' then
    -- Raised from Rust (redis.call, SCRIPT KILL's hook): the text after the marker.
    local text = tostring(err):match('\1([^\n]*)')
    err = { err = text or ('ERR ' .. tostring(err)) }
  elseif type(err) ~= 'table' then
    err = { err = 'ERR ' .. tostring(err) }
  end
  local source, line = caller_position()
  if source then
    err.source = source
    err.line = line
  end
  return err
end

real.dofile = nil
real.loadfile = nil
real.print = nil
real.debug = nil

local proxy = {}
setmetatable(proxy, {
  __index = function(_, name)
    local value = rawget(real, name)
    if value == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
    end
    return value
  end,
  __newindex = function()
    error('Attempt to modify a readonly table', 2)
  end,
  __metatable = false,
})

local function run(f, keys, args)
  if keys == nil then return xpcall(f, handler) end
  -- A function (FCALL) gets KEYS and ARGV as its arguments.
  return xpcall(function() return f(keys, args) end, handler)
end
local function sandbox(f)
  setfenv(f, proxy)
end
return run, sandbox
"#;

/// Installs the `redis` and `bit` tables and the deterministic random functions.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    let redis = lua.create_table()?;
    globals.set("__hf_call", lua.create_function(call::raw_call)?)?;
    redis.set("call", lua.create_function(call::raising_call)?)?;
    redis.set(
        "sha1hex",
        lua.create_function(|_, body: mlua::String| Ok(super::sha1_hex(&body.as_bytes())))?,
    )?;
    redis.set(
        "error_reply",
        lua.create_function(|lua, text: mlua::String| {
            let table = lua.create_table()?;
            table.set("err", lua.create_string(error_code(&text.as_bytes()))?)?;
            Ok(table)
        })?,
    )?;
    redis.set(
        "status_reply",
        lua.create_function(|lua, text: mlua::String| {
            let table = lua.create_table()?;
            table.set("ok", text)?;
            Ok(table)
        })?,
    )?;
    redis.set("setresp", lua.create_function(call::set_resp)?)?;
    redis.set(
        "set_repl",
        lua.create_function(|_, flags: i64| {
            if !(0..=3).contains(&flags) {
                return Err(mlua::Error::runtime(
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                ));
            }
            Ok(())
        })?,
    )?;
    redis.set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    redis.set("log", lua.create_function(log)?)?;
    for (name, value) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.set(name, value)?;
    }
    redis.set("REDIS_VERSION", crate::command::server::REDIS_VERSION)?;
    globals.set("redis", redis)?;
    globals.set("bit", bit_library(lua)?)?;
    globals.set("cjson", super::json::install(lua)?)?;
    globals.set("cmsgpack", super::msgpack::install(lua)?)?;
    globals.set("struct", super::lstruct::install(lua)?)?;
    let math: mlua::Table = globals.get("math")?;
    math.set("random", lua.create_function(random)?)?;
    math.set(
        "randomseed",
        lua.create_function(|_, seed: i64| {
            RAND48.set(seed48(seed as i32));
            Ok(())
        })?,
    )?;
    Ok(())
}

/// redis.error_reply's text as Redis 7 stores it: without a leading '-', and with the
/// generic code ERR when the text has no code of its own (no space after a first word).
fn error_code(text: &[u8]) -> Vec<u8> {
    let text = text.strip_prefix(b"-").unwrap_or(text);
    if text.contains(&b' ') {
        text.to_vec()
    } else {
        [&b"ERR "[..], text].concat()
    }
}

fn log(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    let mut args = args.into_iter();
    let Some(Value::Integer(_) | Value::Number(_)) = args.next() else {
        return Err(mlua::Error::runtime(
            "First argument must be a number (log level).",
        ));
    };
    let text: Vec<String> = args
        .map(|v| match v {
            Value::String(s) => s.to_string_lossy(),
            other => format!("{other:?}"),
        })
        .collect();
    if text.is_empty() {
        return Err(mlua::Error::runtime(
            "redis.log() requires two arguments or more.",
        ));
    }
    eprintln!("holdfast script: {}", text.join(" "));
    Ok(())
}

thread_local! {
    static RAND48: Cell<u64> = const { Cell::new(0) };
}

/// Redis's redisSrand48: the 48-bit state from a 32-bit seed.
fn seed48(seed: i32) -> u64 {
    ((seed as u32 as u64) << 16) | 0x330E
}

/// Every script starts from the same random state (Redis seeds with 0 before each run), so
/// a script's random choices are the same on replay.
#[cfg(test)]
pub fn reset_random() {
    RAND48.set(seed48(0));
}

/// Redis's redisLrand48: 31 random bits.
fn lrand48() -> i32 {
    let next = RAND48.get().wrapping_mul(0x5DEE_CE66D).wrapping_add(0xB) & ((1 << 48) - 1);
    RAND48.set(next);
    (next >> 17) as i32
}

/// `math.random` as Redis's scripting engine defines it (Lua 5.1's, on redisLrand48).
fn random(_: &Lua, args: MultiValue) -> mlua::Result<f64> {
    const MAX: i32 = i32::MAX;
    let r = (lrand48() % MAX) as f64 / MAX as f64;
    let number = |v: &Value| match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    };
    let args: Vec<Value> = args.into_iter().collect();
    match args.len() {
        0 => Ok(r),
        1 => {
            let upper = number(&args[0]).ok_or_else(|| bad_arg(1))?.floor();
            if upper < 1.0 {
                return Err(mlua::Error::runtime(
                    "bad argument #1 to 'random' (interval is empty)",
                ));
            }
            Ok((r * upper).floor() + 1.0)
        }
        2 => {
            let lower = number(&args[0]).ok_or_else(|| bad_arg(1))?.floor();
            let upper = number(&args[1]).ok_or_else(|| bad_arg(2))?.floor();
            if lower > upper {
                return Err(mlua::Error::runtime(
                    "bad argument #2 to 'random' (interval is empty)",
                ));
            }
            Ok((r * (upper - lower + 1.0)).floor() + lower)
        }
        _ => Err(mlua::Error::runtime("wrong number of arguments")),
    }
}

fn bad_arg(n: usize) -> mlua::Error {
    mlua::Error::runtime(format!("bad argument #{n} to 'random' (number expected)"))
}

/// Lua BitOp (the `bit` library Redis bundles): 32-bit operations on numbers.
fn bit_library(lua: &Lua) -> mlua::Result<mlua::Table> {
    fn to_bit(n: f64) -> i32 {
        // LuaBitOp normalises through a double with 2^52 + 2^51 added: the low 32 bits.
        (n.rem_euclid(4_294_967_296.0) as u64) as u32 as i32
    }
    let bit = lua.create_table()?;
    let fold = |lua: &Lua, op: fn(i32, i32) -> i32| {
        lua.create_function(move |_, args: mlua::Variadic<f64>| {
            let mut iter = args.iter().map(|&n| to_bit(n));
            let first = iter.next().ok_or_else(|| {
                mlua::Error::runtime("bad argument #1 (number expected, got no value)")
            })?;
            Ok(iter.fold(first, op) as f64)
        })
    };
    bit.set("band", fold(lua, |a, b| a & b)?)?;
    bit.set("bor", fold(lua, |a, b| a | b)?)?;
    bit.set("bxor", fold(lua, |a, b| a ^ b)?)?;
    bit.set(
        "tobit",
        lua.create_function(|_, n: f64| Ok(to_bit(n) as f64))?,
    )?;
    bit.set(
        "bnot",
        lua.create_function(|_, n: f64| Ok(!to_bit(n) as f64))?,
    )?;
    bit.set(
        "bswap",
        lua.create_function(|_, n: f64| Ok(to_bit(n).swap_bytes() as f64))?,
    )?;
    let shift = |lua: &Lua, op: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (n, by): (f64, f64)| {
            Ok(op(to_bit(n), to_bit(by) as u32 & 31) as f64)
        })
    };
    bit.set("lshift", shift(lua, |a, s| ((a as u32) << s) as i32)?)?;
    bit.set("rshift", shift(lua, |a, s| ((a as u32) >> s) as i32)?)?;
    bit.set("arshift", shift(lua, |a, s| a >> s)?)?;
    bit.set("rol", shift(lua, |a, s| (a as u32).rotate_left(s) as i32)?)?;
    bit.set("ror", shift(lua, |a, s| (a as u32).rotate_right(s) as i32)?)?;
    bit.set(
        "tohex",
        lua.create_function(|_, (n, digits): (f64, Option<f64>)| {
            let digits = digits.map_or(8, |d| d as i32);
            let (upper, width) = (digits < 0, digits.unsigned_abs().min(8) as usize);
            let value = to_bit(n) as u32 as u64;
            let text = if upper {
                format!("{value:08X}")
            } else {
                format!("{value:08x}")
            };
            Ok(text[8 - width..].to_string())
        })?,
    )?;
    Ok(bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_random_number_of_a_script_is_redis_s() {
        reset_random();
        let first = (lrand48() % i32::MAX) as f64 / i32::MAX as f64;
        // What EVAL "return tostring(math.random())" 0 answers on Redis 7.0.
        assert_eq!(format!("{first:.14}"), "0.17082803611217");
    }
}
