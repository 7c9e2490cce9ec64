//! Conversions between RESP replies and Lua values, as Redis documents them.
//!
//! ```text
//! reply -> Lua (redis.call)         RESP2                 RESP3 (redis.setresp(3))
//!   integer                         number                number
//!   bulk / null bulk                string / false        string / nil
//!   array / null array              table / false         table / nil
//!   status / error                  {ok=..} / {err=..}    the same
//!   map, set, double, boolean, big number, verbatim      {map=}, {set=}, {double=},
//!                                                         boolean, {big_number=}, ...
//! Lua -> reply (the script's result)
//!   number -> integer (truncated), string -> bulk, true -> 1 (RESP3 #t),
//!   false / nil -> null (RESP3 #f / _), {err=} error, {ok=} status, {double=},
//!   {map=}, {set=}, {big_number=}, other tables -> array up to the first nil
//! ```

use crate::resp::{Proto, Reply};
use mlua::{Lua, Table, Value};

/// Parses one encoded reply into a Lua value; Err(table) for an error reply.
pub fn reply_to_lua(lua: &Lua, bytes: &[u8], resp3: bool) -> mlua::Result<Result<Value, Value>> {
    let mut at = 0;
    let value = parse(lua, bytes, &mut at, resp3)?;
    Ok(match value {
        Parsed::Error(table) => Err(table),
        Parsed::Value(value) => Ok(value),
    })
}

enum Parsed {
    Value(Value),
    Error(Value),
}

fn line<'a>(bytes: &'a [u8], at: &mut usize) -> &'a [u8] {
    let start = *at;
    let end = memchr::memmem::find(&bytes[start..], b"\r\n").map_or(bytes.len(), |i| start + i);
    *at = (end + 2).min(bytes.len());
    &bytes[start..end]
}

fn number(text: &[u8]) -> i64 {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

fn table_with(lua: &Lua, field: &str, value: impl mlua::IntoLua) -> mlua::Result<Value> {
    let table = lua.create_table()?;
    table.set(field, value)?;
    Ok(Value::Table(table))
}

fn parse(lua: &Lua, bytes: &[u8], at: &mut usize, resp3: bool) -> mlua::Result<Parsed> {
    let kind = bytes.get(*at).copied().unwrap_or(b'_');
    *at += 1;
    let head = line(bytes, at);
    let value = match kind {
        b'+' => table_with(lua, "ok", lua.create_string(head)?)?,
        b'-' => {
            return Ok(Parsed::Error(table_with(
                lua,
                "err",
                lua.create_string(head)?,
            )?))
        }
        b':' => Value::Number(number(head) as f64),
        b'$' | b'=' => {
            let len = number(head);
            if len < 0 {
                return Ok(Parsed::Value(null(resp3)));
            }
            let start = *at;
            let end = (start + len as usize).min(bytes.len());
            *at = (end + 2).min(bytes.len());
            let body = &bytes[start..end];
            if kind == b'=' && body.len() >= 4 {
                let verbatim = lua.create_table()?;
                verbatim.set("format", lua.create_string(&body[..3])?)?;
                verbatim.set("string", lua.create_string(&body[4..])?)?;
                table_with(lua, "verbatim_string", verbatim)?
            } else {
                Value::String(lua.create_string(body)?)
            }
        }
        b'*' | b'~' | b'%' | b'>' => {
            let len = number(head);
            if len < 0 {
                return Ok(Parsed::Value(null(resp3)));
            }
            let table = lua.create_table()?;
            for i in 0..len as usize {
                match kind {
                    b'%' => {
                        let key = plain(parse(lua, bytes, at, resp3)?);
                        let value = plain(parse(lua, bytes, at, resp3)?);
                        table.raw_set(key, value)?;
                    }
                    b'~' => table.raw_set(plain(parse(lua, bytes, at, resp3)?), true)?,
                    _ => table.raw_set(i + 1, plain(parse(lua, bytes, at, resp3)?))?,
                }
            }
            match kind {
                b'%' => table_with(lua, "map", table)?,
                b'~' => table_with(lua, "set", table)?,
                _ => Value::Table(table),
            }
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(head == b"t"),
        b',' => {
            let text = String::from_utf8_lossy(head);
            let n = match text.as_ref() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                other => other.parse().unwrap_or(f64::NAN),
            };
            table_with(lua, "double", n)?
        }
        b'(' => table_with(lua, "big_number", lua.create_string(head)?)?,
        _ => Value::Nil,
    };
    Ok(Parsed::Value(value))
}

/// An error nested in an aggregate is a value there ({err=...}), not a failure.
fn plain(parsed: Parsed) -> Value {
    match parsed {
        Parsed::Value(v) | Parsed::Error(v) => v,
    }
}

fn null(resp3: bool) -> Value {
    if resp3 {
        Value::Nil
    } else {
        Value::Boolean(false)
    }
}

/// Writes a script's result as the client's reply.
pub fn write_lua(reply: &mut Reply<'_>, value: &Value) {
    match value {
        Value::Nil => reply.null(),
        Value::Boolean(true) => reply.boolean(true),
        Value::Boolean(false) => match reply.proto {
            Proto::Resp2 => reply.null(),
            Proto::Resp3 => reply.boolean(false),
        },
        Value::Integer(n) => reply.int(*n),
        Value::Number(n) => reply.int(lua_number_to_int(*n)),
        Value::String(s) => reply.bulk(&s.as_bytes()),
        Value::Table(table) => write_table(reply, table),
        _ => reply.null(),
    }
}

/// Lua's number to a Redis integer: C's cast, truncating toward zero; what x86's
/// conversion gives for NaN and out-of-range values (the "integer indefinite" i64::MIN),
/// not Rust's saturation.
fn lua_number_to_int(n: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn write_table(reply: &mut Reply<'_>, table: &Table) {
    if let Ok(Value::String(text)) = table.raw_get::<Value>("err") {
        reply.error_bytes(&text.as_bytes());
        return;
    }
    if let Ok(Value::String(text)) = table.raw_get::<Value>("ok") {
        let text = text.as_bytes();
        reply.simple(&String::from_utf8_lossy(&text));
        return;
    }
    if let Ok(Value::Number(n)) = table.raw_get::<Value>("double") {
        reply.double(n);
        return;
    }
    if let Ok(Value::String(text)) = table.raw_get::<Value>("big_number") {
        reply.bulk(&text.as_bytes());
        return;
    }
    if let Ok(Value::Table(map)) = table.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = map.pairs().filter_map(Result::ok).collect();
        reply.map(pairs.len());
        for (key, value) in &pairs {
            write_lua(reply, key);
            write_lua(reply, value);
        }
        return;
    }
    if let Ok(Value::Table(set)) = table.raw_get::<Value>("set") {
        let members: Vec<Value> = set
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| k)
            .collect();
        reply.set(members.len());
        members.iter().for_each(|m| write_lua(reply, m));
        return;
    }
    let items: Vec<Value> = (1..)
        .map_while(|i| match table.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => None,
            Ok(value) => Some(value),
        })
        .collect();
    reply.array(items.len());
    items.iter().for_each(|item| write_lua(reply, item));
}

/// A `redis.call` argument: strings as they are, numbers as Redis prints them (integers
/// plainly, others with 17 significant digits); anything else is refused.
pub fn lua_to_arg(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        Value::Number(n) => Some(crate::resp::reply::format_g(*n, 17).into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(lua: &Lua, encoded: &[u8], proto: Proto) -> Vec<u8> {
        let value = match reply_to_lua(lua, encoded, proto == Proto::Resp3).unwrap() {
            Ok(v) | Err(v) => v,
        };
        let mut out = Vec::new();
        write_lua(&mut Reply::new(&mut out, proto), &value);
        out
    }

    #[test]
    fn replies_survive_the_trip_through_lua() {
        let lua = Lua::new();
        for encoded in [
            &b":42\r\n"[..],
            b"$3\r\nabc\r\n",
            b"+OK\r\n",
            b"-ERR bad thing\r\n",
            b"*3\r\n:1\r\n$1\r\nx\r\n*1\r\n:2\r\n",
            b"*0\r\n",
        ] {
            assert_eq!(roundtrip(&lua, encoded, Proto::Resp2), encoded);
        }
        // A null bulk is false in Lua, which is a null bulk again.
        assert_eq!(roundtrip(&lua, b"$-1\r\n", Proto::Resp2), b"$-1\r\n");
        // RESP3 doubles and booleans keep their types.
        assert_eq!(roundtrip(&lua, b",1.5\r\n", Proto::Resp3), b",1.5\r\n");
        assert_eq!(roundtrip(&lua, b"#t\r\n", Proto::Resp3), b"#t\r\n");
    }

    #[test]
    fn numbers_truncate_and_print_like_redis() {
        let lua = Lua::new();
        let mut out = Vec::new();
        write_lua(
            &mut Reply::new(&mut out, Proto::Resp2),
            &Value::Number(-3.99),
        );
        assert_eq!(out, b":-3\r\n");
        assert_eq!(lua_to_arg(&Value::Number(3.0)).unwrap(), b"3");
        assert_eq!(lua_to_arg(&Value::Number(0.5)).unwrap(), b"0.5");
        assert!(lua_to_arg(&Value::Boolean(true)).is_none());
        drop(lua);
    }
}
