//! The `cmsgpack` library Redis gives scripts (lua_cmsgpack 0.4 as Redis builds it):
//! `pack(...)`, `unpack(data)`, `unpack_one(data[, offset])`, `unpack_limit(data, limit
//! [, offset])`, with its encodings: integral numbers in the smallest integer form, other
//! numbers as float 32 when exact and float 64 otherwise, strings as str8/16/32, tables
//! with keys 1..n and no holes as arrays, other tables as maps, nesting past 16 as nil.

use super::call::raised_at_caller as fail;
use mlua::{Lua, MultiValue, Table, Value};

const MAX_NESTING: usize = 16;

pub fn install(lua: &Lua) -> mlua::Result<Table> {
    let cmsgpack = lua.create_table()?;
    cmsgpack.set(
        "pack",
        lua.create_function(|lua, values: MultiValue| {
            if values.is_empty() {
                return Err(fail(
                    lua,
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for value in values.iter() {
                encode(value, 0, &mut out);
            }
            lua.create_string(&out)
        })?,
    )?;
    cmsgpack.set(
        "unpack",
        lua.create_function(|lua, data: mlua::String| {
            let (_, values) = unpack(lua, &data.as_bytes(), 0, 0).map_err(|m| fail(lua, &m))?;
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    cmsgpack.set(
        "unpack_one",
        lua.create_function(|lua, (data, offset): (mlua::String, Option<i64>)| {
            let data = data.as_bytes();
            unpack_limited(lua, &data, 1, offset.unwrap_or(0))
        })?,
    )?;
    cmsgpack.set(
        "unpack_limit",
        lua.create_function(
            |lua, (data, limit, offset): (mlua::String, i64, Option<i64>)| {
                let data = data.as_bytes();
                unpack_limited(lua, &data, limit.max(0) as usize, offset.unwrap_or(0))
            },
        )?,
    )?;
    Ok(cmsgpack)
}

/// unpack_one / unpack_limit: the offset after what was read (-1 at the end), then the
/// values.
fn unpack_limited(lua: &Lua, data: &[u8], limit: usize, offset: i64) -> mlua::Result<MultiValue> {
    if offset < 0 || offset as usize > data.len() {
        return Err(fail(lua, "Start offset greater than input length."));
    }
    let (end, values) = unpack(lua, data, offset as usize, limit).map_err(|m| fail(lua, &m))?;
    let next = if end >= data.len() { -1 } else { end as i64 };
    let mut out = vec![Value::Number(next as f64)];
    out.extend(values);
    Ok(MultiValue::from_iter(out))
}

fn encode(value: &Value, depth: usize, out: &mut Vec<u8>) {
    match value {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => encode_int(*n, out),
        Value::Number(n) => encode_number(*n, out),
        Value::String(s) => encode_bytes(&s.as_bytes(), out),
        Value::Table(table) if depth < MAX_NESTING => encode_table(table, depth + 1, out),
        _ => out.push(0xc0),
    }
}

fn encode_number(n: f64, out: &mut Vec<u8>) {
    if n.is_finite() && n.fract() == 0.0 && n >= i64::MIN as f64 && n < i64::MAX as f64 {
        encode_int(n as i64, out);
    } else if (n as f32) as f64 == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        match n {
            0..=127 => out.push(n as u8),
            128..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            _ => {
                out.push(0xcf);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    let len = bytes.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(bytes);
}

/// The array length when the keys are exactly 1..n, as lua_cmsgpack's test.
fn array_length(table: &Table) -> Option<usize> {
    let (mut count, mut max) = (0usize, 0usize);
    for (key, _) in table.pairs::<Value, Value>().filter_map(Result::ok) {
        let index = match key {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return None,
        };
        max = max.max(index);
        count += 1;
    }
    (max == count).then_some(count)
}

fn encode_header(len: usize, fix: u8, code16: u8, out: &mut Vec<u8>) {
    if len <= 15 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(code16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(code16 + 1);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode_table(table: &Table, depth: usize, out: &mut Vec<u8>) {
    if let Some(len) = array_length(table) {
        encode_header(len, 0x90, 0xdc, out);
        for i in 1..=len {
            let item: Value = table.raw_get(i).unwrap_or(Value::Nil);
            encode(&item, depth, out);
        }
        return;
    }
    let pairs: Vec<(Value, Value)> = table.pairs().filter_map(Result::ok).collect();
    encode_header(pairs.len(), 0x80, 0xde, out);
    for (key, value) in &pairs {
        encode(key, depth, out);
        encode(value, depth, out);
    }
}

/// Decodes up to `limit` values (0: all) from `data[at..]`: where it stopped, the values.
fn unpack(lua: &Lua, data: &[u8], at: usize, limit: usize) -> Result<(usize, Vec<Value>), String> {
    let mut reader = Reader { lua, data, at };
    let mut values = Vec::new();
    while reader.at < data.len() && (limit == 0 || values.len() < limit) {
        values.push(reader.value()?);
    }
    Ok((reader.at, values))
}

struct Reader<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.data.len());
        let Some(end) = end else {
            return Err("Missing bytes in input.".into());
        };
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    fn string(&mut self, len: usize) -> Result<Value, String> {
        let bytes = self.take(len)?.to_vec();
        self.lua
            .create_string(&bytes)
            .map(Value::String)
            .map_err(|e| e.to_string())
    }

    fn array(&mut self, len: usize) -> Result<Value, String> {
        let table = self.lua.create_table().map_err(|e| e.to_string())?;
        for i in 1..=len {
            let value = self.value()?;
            table.raw_set(i, value).map_err(|e| e.to_string())?;
        }
        Ok(Value::Table(table))
    }

    fn map(&mut self, len: usize) -> Result<Value, String> {
        let table = self.lua.create_table().map_err(|e| e.to_string())?;
        for _ in 0..len {
            let key = self.value()?;
            let value = self.value()?;
            if key != Value::Nil {
                table.raw_set(key, value).map_err(|e| e.to_string())?;
            }
        }
        Ok(Value::Table(table))
    }

    fn value(&mut self) -> Result<Value, String> {
        let code = self.take(1)?[0];
        let number = |n: f64| Ok(Value::Number(n));
        match code {
            0x00..=0x7f => number(code as f64),
            0x80..=0x8f => self.map((code & 0x0f) as usize),
            0x90..=0x9f => self.array((code & 0x0f) as usize),
            0xa0..=0xbf => self.string((code & 0x1f) as usize),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Boolean(false)),
            0xc3 => Ok(Value::Boolean(true)),
            0xc4 | 0xd9 => {
                let len = self.uint(1)? as usize;
                self.string(len)
            }
            0xc5 | 0xda => {
                let len = self.uint(2)? as usize;
                self.string(len)
            }
            0xc6 | 0xdb => {
                let len = self.uint(4)? as usize;
                self.string(len)
            }
            0xca => number(f32::from_bits(self.uint(4)? as u32) as f64),
            0xcb => number(f64::from_bits(self.uint(8)?)),
            0xcc => number(self.uint(1)? as f64),
            0xcd => number(self.uint(2)? as f64),
            0xce => number(self.uint(4)? as f64),
            0xcf => number(self.uint(8)? as f64),
            0xd0 => number(self.uint(1)? as u8 as i8 as f64),
            0xd1 => number(self.uint(2)? as u16 as i16 as f64),
            0xd2 => number(self.uint(4)? as u32 as i32 as f64),
            0xd3 => number(self.uint(8)? as i64 as f64),
            0xdc => {
                let len = self.uint(2)? as usize;
                self.array(len)
            }
            0xdd => {
                let len = self.uint(4)? as usize;
                self.array(len)
            }
            0xde => {
                let len = self.uint(2)? as usize;
                self.map(len)
            }
            0xdf => {
                let len = self.uint(4)? as usize;
                self.map(len)
            }
            0xe0..=0xff => number(code as i8 as f64),
            _ => Err("Bad data format in input.".into()),
        }
    }
}
