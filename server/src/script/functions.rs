//! Functions (Redis 7): libraries of Lua functions loaded with FUNCTION LOAD and called
//! with FCALL. Unlike EVAL scripts, libraries are data: they are logged (the FUNCTIONS
//! effect op carries the whole set after each change) and come back on restart.
//!
//! ```text
//! FUNCTION LOAD "#!lua name=lib\n redis.register_function('f', function(keys, args) ... end)"
//!   -> run the code once in a loading sandbox (only register_function and redis.log),
//!      check names and flags, store the code under the library name (all cores share it)
//! FCALL f n keys.. args..
//!   -> this core's Lua state loads the libraries it has not seen (same loading run),
//!      then f(KEYS, ARGV) runs exactly as an EVAL script does (scripting.rs)
//! ```

use super::{lib, Flags};
use mlua::{Function, Lua, Table, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One registered function, as FUNCTION LIST shows it.
#[derive(Clone, Debug)]
pub struct Meta {
    pub name: String,
    pub description: Option<String>,
    pub flags: Vec<String>,
}

impl Meta {
    pub fn script_flags(&self) -> Flags {
        Flags {
            declared: true,
            no_writes: self.flags.iter().any(|f| f == "no-writes"),
            allow_cross_slot_keys: self.flags.iter().any(|f| f == "allow-cross-slot-keys"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: Vec<Meta>,
}

/// Libraries by name, shared by every core.
static LIBRARIES: Mutex<BTreeMap<String, Arc<Library>>> = Mutex::new(BTreeMap::new());
/// Bumped by every change, so each core reloads its Lua functions.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// The LSN of the newest record of the library set: an FCALL depends on it.
static LOGGED_LSN: AtomicU64 = AtomicU64::new(0);

pub fn logged_lsn() -> u64 {
    LOGGED_LSN.load(Ordering::Acquire)
}

/// The library set as changed now is logged at `lsn` (or earlier).
pub fn note_logged(lsn: u64) {
    LOGGED_LSN.fetch_max(lsn, Ordering::AcqRel);
}

pub fn libraries() -> Vec<Arc<Library>> {
    let libraries = LIBRARIES.lock().unwrap_or_else(|p| p.into_inner());
    libraries.values().cloned().collect()
}

pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

fn replace(libraries: BTreeMap<String, Arc<Library>>) {
    *LIBRARIES.lock().unwrap_or_else(|p| p.into_inner()) = libraries;
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// The code of every library, for the FUNCTIONS effect op.
pub fn codes() -> Vec<Vec<u8>> {
    libraries().iter().map(|l| l.code.clone()).collect()
}

/// Replay of a FUNCTIONS op: the library set it names. Codes that no longer load are
/// skipped with a message (they loaded when they were logged).
pub fn restore(codes: &[&[u8]]) {
    let lua = Lua::new();
    let mut set = BTreeMap::new();
    for code in codes {
        match parse(&lua, code) {
            Ok((library, _)) => {
                set.insert(library.name.clone(), Arc::new(library));
            }
            Err(e) => eprintln!("holdfast: a logged function library no longer loads: {e}"),
        }
    }
    replace(set);
}

/// FUNCTION LOAD: checks and stores a library; returns its name.
pub fn load(code: &[u8], replace_existing: bool) -> Result<String, String> {
    let lua = Lua::new();
    let (library, _) = parse(&lua, code)?;
    let mut set: BTreeMap<String, Arc<Library>> =
        LIBRARIES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if set.contains_key(&library.name) && !replace_existing {
        return Err(format!("ERR Library '{}' already exists", library.name));
    }
    for other in set.values().filter(|other| other.name != library.name) {
        for function in &library.functions {
            if other.functions.iter().any(|f| f.name == function.name) {
                return Err(format!("ERR Function {} already exists", function.name));
            }
        }
    }
    let name = library.name.clone();
    set.insert(name.clone(), Arc::new(library));
    replace(set);
    Ok(name)
}

/// How FUNCTION RESTORE treats the libraries already loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Refuse the whole payload if any of its libraries exists (the default).
    Append,
    /// Replace the libraries of the same name.
    Replace,
    /// Drop every existing library first.
    Flush,
}

/// FUNCTION RESTORE: adds the libraries of a dump, all or nothing, with Redis's checks and
/// texts (libraryJoin: a library of the payload that exists already, or a function whose
/// name another library uses).
pub fn restore_dump(codes: &[Vec<u8>], policy: RestorePolicy) -> Result<(), String> {
    let lua = Lua::new();
    let mut incoming: BTreeMap<String, Arc<Library>> = BTreeMap::new();
    for code in codes {
        let (library, _) = parse(&lua, code)?;
        if incoming.contains_key(&library.name) {
            return Err(format!("ERR Library '{}' already exists", library.name));
        }
        let names = incoming.values().flat_map(|l| l.functions.iter());
        if let Some(taken) = names
            .map(|f| &f.name)
            .find(|name| library.functions.iter().any(|f| &f.name == *name))
        {
            return Err(format!("ERR Function {taken} already exists"));
        }
        incoming.insert(library.name.clone(), Arc::new(library));
    }
    let mut set = match policy {
        RestorePolicy::Flush => BTreeMap::new(),
        _ => LIBRARIES.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    };
    for name in incoming.keys() {
        if set.contains_key(name) {
            if policy == RestorePolicy::Append {
                return Err(format!("ERR Library {name} already exists"));
            }
            set.remove(name);
        }
    }
    for function in incoming.values().flat_map(|l| l.functions.iter()) {
        if set
            .values()
            .any(|l| l.functions.iter().any(|f| f.name == function.name))
        {
            return Err(format!("ERR Function {} already exists", function.name));
        }
    }
    set.extend(incoming);
    replace(set);
    Ok(())
}

pub fn delete(name: &str) -> Result<(), String> {
    let mut set = LIBRARIES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if set.remove(name).is_none() {
        return Err("ERR Library not found".into());
    }
    replace(set);
    Ok(())
}

pub fn flush() {
    replace(BTreeMap::new());
}

/// The library's name from its `#!lua name=...` line, and the code after that line.
fn metadata(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = memchr::memchr(b'\n', code).unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]).into_owned();
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or("");
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let mut name = None;
    for word in words {
        match word.strip_prefix("name=") {
            Some(value) => name = Some(value.to_string()),
            None => return Err(format!("ERR Invalid metadata value given: {word}")),
        }
    }
    let name = name.ok_or("ERR Library name was not given")?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok(name)
}

/// Runs a library's code once in `lua` with only `redis.register_function` and
/// `redis.log` reachable: its metadata and the functions it registered.
pub fn parse(lua: &Lua, code: &[u8]) -> Result<(Library, Vec<(Meta, Function)>), String> {
    let name = metadata(code)?;
    let end = memchr::memchr(b'\n', code).unwrap_or(code.len());
    let body = &code[end..];
    let registered = run_loader(lua, body).map_err(|e| match e {
        LoadError::Compile(text) => format!("ERR Error compiling function: {text}"),
        LoadError::Register(text) => format!("ERR Error registering functions: {text}"),
    })?;
    if registered.is_empty() {
        return Err("ERR No functions registered".into());
    }
    let library = Library {
        name,
        code: code.to_vec(),
        functions: registered.iter().map(|(meta, _)| meta.clone()).collect(),
    };
    Ok((library, registered))
}

enum LoadError {
    Compile(String),
    Register(String),
}

fn run_loader(lua: &Lua, body: &[u8]) -> Result<Vec<(Meta, Function)>, LoadError> {
    let register = |e: mlua::Error| LoadError::Register(error_text(&e));
    let chunk = lua
        .load(body)
        .set_name("@user_function")
        .into_function()
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => LoadError::Compile(message),
            other => LoadError::Compile(other.to_string()),
        })?;
    let env = loader_env(lua).map_err(register)?;
    let setfenv: Function = lua.globals().get("setfenv").map_err(register)?;
    setfenv
        .call::<()>((chunk.clone(), env.clone()))
        .map_err(register)?;
    chunk.call::<()>(()).map_err(register)?;
    let loaded: Function = env.raw_get("__loaded").map_err(register)?;
    loaded.call::<()>(()).map_err(register)?;
    let registry: Table = env.raw_get("__registered").map_err(register)?;
    let mut out = Vec::new();
    for pair in registry.sequence_values::<Table>() {
        let entry = pair.map_err(register)?;
        let meta = Meta {
            name: entry.get("name").map_err(register)?,
            description: entry.get("description").map_err(register)?,
            flags: entry.get::<Vec<String>>("flags").map_err(register)?,
        };
        let function: Function = entry.get("callback").map_err(register)?;
        out.push((meta, function));
    }
    Ok(out)
}

/// A Lua error as Redis words it in "Error registering functions: ...".
fn error_text(e: &mlua::Error) -> String {
    let text = match e {
        mlua::Error::RuntimeError(text) => text.clone(),
        mlua::Error::CallbackError { cause, .. } => return error_text(cause),
        other => other.to_string(),
    };
    let text = text.lines().next().unwrap_or_default().to_string();
    match text.find('\u{1}') {
        Some(at) => text[at + 1..].to_string(),
        None if text.starts_with("ERR ") => text,
        None => format!("ERR {text}"),
    }
}

/// The environment a library's code loads in: the standard libraries, and a `redis`
/// table with only register_function, log and its constants; any other global is an
/// error, as in Redis.
fn loader_env(lua: &Lua) -> mlua::Result<Table> {
    let code = r#"
local real = _G
local registered = {}
local valid_flags = { ['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
  ['no-cluster'] = true, ['allow-cross-slot-keys'] = true }
local names = {}
local function register(name, callback, flags, description)
  if type(name) ~= 'string' or name == '' or not name:match('^[%w_]+$') then
    error('Function names can only contain letters, numbers, or underscores(_) and must be at least one character long', 0)
  end
  if type(callback) ~= 'function' then error('callback argument given to redis.register_function must be a function', 0) end
  if names[name] then error('Function already exists in the library', 0) end
  local list = {}
  for _, flag in ipairs(flags or {}) do
    if not valid_flags[flag] then error('unknown flag given', 0) end
    list[#list + 1] = flag
  end
  names[name] = true
  registered[#registered + 1] = { name = name, callback = callback, flags = list, description = description }
end
local redis = {
  register_function = function(a, b)
    if type(a) == 'table' then
      register(a.function_name, a.callback, a.flags, a.description)
    else
      register(a, b)
    end
  end,
  log = real.redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
}
-- While the code loads, `redis` is the registration API; once loaded, the library's
-- functions see the full one, as EVAL scripts do.
local loading = true
local env = { __registered = registered, __loaded = function() loading = false end }
setmetatable(env, {
  __index = function(_, name)
    if name == 'redis' then return loading and redis or real.redis end
    local value = rawget(real, name)
    if value == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
    end
    return value
  end,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
})
setmetatable(redis, { __index = function(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end })
return env
"#;
    if lua.globals().get::<Value>("redis")? == Value::Nil {
        // A bare state (FUNCTION LOAD's check, replay): give it the scripting libraries.
        lib::install(lua)?;
    }
    lua.load(code).set_name("@redis_function_loader").call(())
}
