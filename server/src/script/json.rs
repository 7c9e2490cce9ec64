//! The `cjson` library Redis gives scripts (lua-cjson 2.1 as Redis builds it):
//! `cjson.encode`, `cjson.decode` and `cjson.null`, with its output and error texts.
//!
//! Encoding: numbers as `%.14g`, `/` escaped as `\/`, control bytes as `\u00XX`, a table
//! is an array when every key is a positive integer and it is not excessively sparse
//! (more than twice as many slots as items, beyond 10), else an object; an empty table
//! is `{}`. Object keys come in Lua's table order, as lua-cjson walks it.

use super::call::raised_at_caller as fail;
use mlua::{LightUserData, Lua, Table, Value};

const MAX_DEPTH: usize = 1000;

/// cjson.null: a NULL light userdata, as lua-cjson's.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub fn install(lua: &Lua) -> mlua::Result<Table> {
    let cjson = lua.create_table()?;
    cjson.set(
        "encode",
        lua.create_function(|lua, value: Value| {
            let mut out = Vec::new();
            encode(lua, &value, 0, &mut out).map_err(|message| fail(lua, &message))?;
            lua.create_string(&out)
        })?,
    )?;
    cjson.set(
        "decode",
        lua.create_function(|lua, text: mlua::String| {
            let bytes = text.as_bytes();
            let mut parser = Parser {
                lua,
                bytes: &bytes,
                at: 0,
            };
            parser.document().map_err(|message| fail(lua, &message))
        })?,
    )?;
    cjson.set("null", null())?;
    Ok(cjson)
}

fn encode(lua: &Lua, value: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(ud) if ud.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Number(n) => {
            if !n.is_finite() {
                return Err("Cannot serialise number: must not be NaN or Inf".into());
            }
            out.extend_from_slice(crate::resp::reply::format_g(*n, 14).as_bytes());
        }
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(table) => {
            if depth >= MAX_DEPTH {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            encode_table(lua, table, depth + 1, out)?;
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

fn encode_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b if b < 0x20 || b == 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// The array length of a table whose keys are all positive integers, None for an object.
fn array_length(table: &Table) -> Result<Option<usize>, String> {
    let (mut max, mut items) = (0usize, 0usize);
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair.map_err(|e| e.to_string())?;
        let index = match key {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return Ok(None),
        };
        max = max.max(index);
        items += 1;
    }
    if max > items * 2 && max > 10 {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok((max > 0).then_some(max))
}

fn encode_table(lua: &Lua, table: &Table, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    if let Some(len) = array_length(table)? {
        out.push(b'[');
        for i in 1..=len {
            if i > 1 {
                out.push(b',');
            }
            let item: Value = table.raw_get(i).map_err(|e| e.to_string())?;
            encode(lua, &item, depth, out)?;
        }
        out.push(b']');
        return Ok(());
    }
    out.push(b'{');
    let mut first = true;
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair.map_err(|e| e.to_string())?;
        if !first {
            out.push(b',');
        }
        first = false;
        match &key {
            Value::String(s) => encode_string(&s.as_bytes(), out),
            Value::Integer(_) | Value::Number(_) => {
                out.push(b'"');
                encode(lua, &key, depth, out)?;
                out.push(b'"');
            }
            other => {
                return Err(format!(
                    "Cannot serialise {}: table key must be a number or string",
                    other.type_name()
                ))
            }
        }
        out.push(b':');
        encode(lua, &value, depth, out)?;
    }
    out.push(b'}');
    Ok(())
}

struct Parser<'a> {
    lua: &'a Lua,
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn document(&mut self) -> Result<Value, String> {
        let value = self.value(0)?;
        self.skip_space();
        if self.at < self.bytes.len() {
            return Err(format!(
                "Expected the end but found invalid token at character {}",
                self.at + 1
            ));
        }
        Ok(value)
    }

    fn skip_space(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn token_error(&self, expected: &str) -> String {
        let found = if self.at >= self.bytes.len() {
            "T_END"
        } else {
            "invalid token"
        };
        format!(
            "Expected {expected} but found {found} at character {}",
            self.at + 1
        )
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "Found too many nested data structures ({depth}) at character {}",
                self.at + 1
            ));
        }
        self.skip_space();
        let lua_err = |e: mlua::Error| e.to_string();
        match self.bytes.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let table = self.lua.create_table().map_err(lua_err)?;
                self.skip_space();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Value::Table(table));
                }
                loop {
                    self.skip_space();
                    if self.bytes.get(self.at) != Some(&b'"') {
                        return Err(self.token_error("object key string"));
                    }
                    let key = self.string()?;
                    self.skip_space();
                    if self.bytes.get(self.at) != Some(&b':') {
                        return Err(self.token_error("colon"));
                    }
                    self.at += 1;
                    let value = self.value(depth + 1)?;
                    let key = self.lua.create_string(&key).map_err(lua_err)?;
                    table.raw_set(key, value).map_err(lua_err)?;
                    self.skip_space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Value::Table(table));
                        }
                        _ => return Err(self.token_error("comma or object end")),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let table = self.lua.create_table().map_err(lua_err)?;
                self.skip_space();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Value::Table(table));
                }
                let mut index = 1;
                loop {
                    let value = self.value(depth + 1)?;
                    table.raw_set(index, value).map_err(lua_err)?;
                    index += 1;
                    self.skip_space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Value::Table(table));
                        }
                        _ => return Err(self.token_error("comma or array end")),
                    }
                }
            }
            Some(b'"') => {
                let text = self.string()?;
                Ok(Value::String(
                    self.lua.create_string(&text).map_err(lua_err)?,
                ))
            }
            Some(b't') if self.bytes[self.at..].starts_with(b"true") => {
                self.at += 4;
                Ok(Value::Boolean(true))
            }
            Some(b'f') if self.bytes[self.at..].starts_with(b"false") => {
                self.at += 5;
                Ok(Value::Boolean(false))
            }
            Some(b'n') if self.bytes[self.at..].starts_with(b"null") => {
                self.at += 4;
                Ok(null())
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.token_error("value")),
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        while self.at < self.bytes.len()
            && matches!(
                self.bytes[self.at],
                b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
            )
        {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("");
        text.parse::<f64>().map(Value::Number).map_err(|_| {
            format!(
                "Expected value but found invalid number at character {}",
                start + 1
            )
        })
    }

    fn string(&mut self) -> Result<Vec<u8>, String> {
        let start = self.at;
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.bytes.get(self.at) else {
                return Err(format!(
                    "Expected value but found invalid string at character {}",
                    start + 1
                ));
            };
            self.at += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&escaped) = self.bytes.get(self.at) else {
                        return Err(format!(
                            "Expected value but found invalid string at character {}",
                            start + 1
                        ));
                    };
                    self.at += 1;
                    match escaped {
                        b'"' | b'\\' | b'/' => out.push(escaped),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let code = self.hex4().ok_or_else(|| {
                                format!("Expected value but found invalid unicode escape code at character {}", start + 1)
                            })?;
                            let code = if (0xD800..0xDC00).contains(&code)
                                && self.bytes[self.at..].starts_with(b"\\u")
                            {
                                self.at += 2;
                                let low = self.hex4().unwrap_or(0);
                                0x10000
                                    + ((code - 0xD800) << 10)
                                    + (low.wrapping_sub(0xDC00) & 0x3ff)
                            } else {
                                code
                            };
                            let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            return Err(format!(
                                "Expected value but found invalid escape code at character {}",
                                start + 1
                            ))
                        }
                    }
                }
                b => out.push(b),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        let code = u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
        self.at += 4;
        Some(code)
    }
}
