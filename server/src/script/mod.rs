//! Lua scripting (EVAL and friends): the Lua 5.1 state of each core, the script store,
//! the sandbox Redis gives scripts, and the bridge from `redis.call` to the command table.
//!
//! ```text
//! EVAL body n keys.. args..   (command/scripting.rs)
//!   -> one script at a time in the whole server (`Turn`), as Redis runs one at a time
//!   -> hold the cores of KEYS (every core with `allow-cross-slot-keys`) as a transaction
//!   -> run the compiled function on this core's Lua state, synchronously:
//!        redis.call -> call.rs -> a step on the held core owning the key
//!   -> one record for everything the script wrote (its commands as CMD ops)
//! ```
//!
//! Why synchronous: Lua 5.1 cannot yield across `pcall`, so `redis.call` cannot be an
//! async function that scripts may wrap in `pcall`. The script blocks its core's thread
//! while it runs (as a Redis script blocks Redis); a step on another core is a message
//! that core's executor runs while the transaction holds it. Only one script runs at a
//! time, so no two threads ever wait on each other.
//!
//! Scripts are logged by their effects: each write `redis.call` is a CMD op of the
//! transaction's record, so replay never runs Lua, and a script that reads the clock or
//! `math.random` (seeded the same each run, as in Redis) replays to the same state.

pub mod call;
pub mod convert;
pub mod functions;
mod json;
mod lib;
mod lstruct;
mod msgpack;
pub mod payload;

use mlua::{Function, Lua, Table};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Script bodies by SHA1 (lowercase hex), shared by every core: SCRIPT LOAD on one core
/// makes EVALSHA work on all of them. Each core compiles a body once, on first use.
fn store() -> &'static Mutex<HashMap<String, std::sync::Arc<Vec<u8>>>> {
    static STORE: OnceLock<Mutex<HashMap<String, std::sync::Arc<Vec<u8>>>>> = OnceLock::new();
    STORE.get_or_init(Default::default)
}

/// Bumped by SCRIPT FLUSH: each core drops its compiled functions when it sees a new one.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// A script is running somewhere (its start in Unix ms; 0: none), for -BUSY and SCRIPT KILL.
pub static RUNNING_SINCE_MS: AtomicU64 = AtomicU64::new(0);
/// SCRIPT KILL asked the running script to stop.
pub static KILL: AtomicBool = AtomicBool::new(false);
/// The running script has written: SCRIPT KILL must refuse (UNKILLABLE).
pub static WROTE: AtomicBool = AtomicBool::new(false);
/// One script at a time in the whole server.
static TURN: AtomicBool = AtomicBool::new(false);

/// The right to run a script, held from before the holds are taken until the script's
/// transaction is released.
pub struct Turn;

impl Turn {
    pub async fn take() -> Turn {
        while TURN
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            glommio::timer::sleep(std::time::Duration::from_micros(50)).await;
        }
        KILL.store(false, Ordering::Relaxed);
        WROTE.store(false, Ordering::Relaxed);
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        RUNNING_SINCE_MS.store(0, Ordering::Relaxed);
        TURN.store(false, Ordering::Release);
    }
}

/// The lowercase hex SHA1 of a script body (written directly: core::fmt's per-byte
/// formatting was as costly as the hash itself for a short script).
pub fn sha1_hex(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = sha1_smol::Sha1::from(body).digest().bytes();
    let mut text = String::with_capacity(40);
    for byte in digest {
        text.push(HEX[(byte >> 4) as usize] as char);
        text.push(HEX[(byte & 15) as usize] as char);
    }
    text
}

/// Stores a body under its SHA1 and returns the SHA1.
pub fn remember(body: &[u8]) -> String {
    let sha = sha1_hex(body);
    store()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(sha.clone())
        .or_insert_with(|| std::sync::Arc::new(body.to_vec()));
    sha
}

pub fn body(sha: &str) -> Option<std::sync::Arc<Vec<u8>>> {
    let store = store().lock().unwrap_or_else(|p| p.into_inner());
    store.get(&sha.to_ascii_lowercase()).cloned()
}

/// SCRIPT FLUSH: forget every body, everywhere.
pub fn flush() {
    store().lock().unwrap_or_else(|p| p.into_inner()).clear();
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// What a script's shebang line declares (`#!lua flags=no-writes,allow-cross-slot-keys`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// The shebang was present (a script in the Redis 7 form).
    pub declared: bool,
    pub no_writes: bool,
    pub allow_cross_slot_keys: bool,
}

/// A compiled script ready to call.
#[derive(Clone)]
pub struct Compiled {
    pub sha: std::rc::Rc<str>,
    pub function: Function,
    pub flags: Flags,
}

/// Function name -> its metadata and its Lua function in this core's state.
type LoadedFunctions = HashMap<String, (functions::Meta, Function)>;

/// This core's Lua state and compiled scripts.
pub struct Engine {
    pub lua: Lua,
    compiled: RefCell<ahash::AHashMap<String, Compiled>>,
    /// The same scripts by body: EVAL finds its script without hashing the body with SHA1
    /// (which Redis does on every EVAL).
    by_body: RefCell<ahash::AHashMap<Box<[u8]>, Compiled>>,
    generation: std::cell::Cell<u64>,
    /// The functions of every library, loaded into this state (and the library
    /// generation they were loaded at).
    functions: RefCell<(u64, LoadedFunctions)>,
    /// The real global table, behind the read-only proxy scripts see.
    globals: Table,
    /// `xpcall(f, handler)` with Redis's error handler, which notes the line.
    runner: Function,
    set_env: Function,
}

thread_local! {
    static ENGINE: RefCell<Option<std::rc::Rc<Engine>>> = const { RefCell::new(None) };
}

/// This core's engine, created on first use.
pub fn engine() -> Result<std::rc::Rc<Engine>, String> {
    ENGINE.with(|cell| {
        if let Some(engine) = cell.borrow().as_ref() {
            return Ok(engine.clone());
        }
        let engine = std::rc::Rc::new(Engine::new().map_err(|e| e.to_string())?);
        *cell.borrow_mut() = Some(engine.clone());
        Ok(engine)
    })
}

impl Engine {
    fn new() -> mlua::Result<Engine> {
        use mlua::{LuaOptions, StdLib};
        // The debug library is loaded for the error handler only: the sandbox hides it.
        // SAFETY: `debug` is the only unsafe library asked for, and scripts never see it.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::default(),
            )
        };
        lib::install(&lua)?;
        // SCRIPT KILL from another core: checked every 100k instructions, as Redis's hook.
        lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(100_000),
            |_, _| {
                if KILL.load(Ordering::Relaxed) {
                    return Err(call::raised(
                        "ERR Script killed by user with SCRIPT KILL...",
                    ));
                }
                Ok(mlua::VmState::Continue)
            },
        );
        let globals = lua.globals();
        let (runner, set_env): (Function, Function) =
            lua.load(lib::SANDBOX).set_name("@redis_sandbox").call(())?;
        Ok(Engine {
            lua,
            compiled: RefCell::default(),
            by_body: RefCell::default(),
            generation: std::cell::Cell::new(GENERATION.load(Ordering::Acquire)),
            functions: RefCell::new((u64::MAX, HashMap::new())),
            globals,
            runner,
            set_env,
        })
    }

    /// The compiled function for `sha`, compiling its stored body if this core has not.
    pub fn get(&self, sha: &[u8]) -> Option<Result<Compiled, String>> {
        self.forget_if_flushed();
        // EVALSHA's hot path: the compiled script found without allocating.
        let mut lower = [0u8; 40];
        if sha.len() == lower.len() {
            lower.copy_from_slice(sha);
            lower.make_ascii_lowercase();
            let found = std::str::from_utf8(&lower)
                .ok()
                .and_then(|key| self.compiled.borrow().get(key).cloned());
            if let Some(compiled) = found {
                return Some(Ok(compiled));
            }
        }
        let body = body(&String::from_utf8_lossy(sha))?;
        Some(self.compile(&body))
    }

    /// Compiles `body` (and stores it): the error is the reply text for a script that does
    /// not compile.
    pub fn compile(&self, body: &[u8]) -> Result<Compiled, String> {
        self.forget_if_flushed();
        if let Some(compiled) = self.by_body.borrow().get(body) {
            return Ok(compiled.clone());
        }
        let sha = sha1_hex(body);
        if let Some(compiled) = self.compiled.borrow().get(&sha) {
            let compiled = compiled.clone();
            self.by_body
                .borrow_mut()
                .insert(body.into(), compiled.clone());
            return Ok(compiled);
        }
        let (flags, code) = shebang(body)?;
        let function = self
            .lua
            .load(&code[..])
            .set_name("@user_script")
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => {
                    format!("ERR Error compiling script (new function): {message}")
                }
                other => format!("ERR Error compiling script (new function): {other}"),
            })?;
        self.set_env
            .call::<()>(function.clone())
            .map_err(|e| format!("ERR {e}"))?;
        remember(body);
        let compiled = Compiled {
            sha: sha.as_str().into(),
            function,
            flags,
        };
        self.compiled.borrow_mut().insert(sha, compiled.clone());
        self.by_body
            .borrow_mut()
            .insert(body.into(), compiled.clone());
        Ok(compiled)
    }

    /// The function `name` of the loaded libraries, loading them into this state first
    /// if they changed since.
    pub fn function(&self, name: &str) -> Option<(functions::Meta, Function)> {
        let generation = functions::generation();
        let mut loaded = self.functions.borrow_mut();
        if loaded.0 != generation {
            let mut all = HashMap::new();
            for library in functions::libraries() {
                match functions::parse(&self.lua, &library.code) {
                    Ok((_, registered)) => {
                        for (meta, function) in registered {
                            all.insert(meta.name.clone(), (meta, function));
                        }
                    }
                    Err(e) => eprintln!("holdfast: library {} does not load: {e}", library.name),
                }
            }
            *loaded = (generation, all);
        }
        loaded.1.get(name).cloned()
    }

    /// Runs function `function` (FCALL) with its keys and arguments.
    pub fn run_function(
        &self,
        function: &Function,
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
    ) -> mlua::Result<Result<mlua::Value, mlua::Value>> {
        let (ok, value): (bool, mlua::Value) =
            self.runner
                .call((function.clone(), self.list(keys)?, self.list(args)?))?;
        Ok(if ok { Ok(value) } else { Err(value) })
    }

    /// A Lua array of strings: KEYS and ARGV.
    fn list(&self, items: &[Vec<u8>]) -> mlua::Result<Table> {
        let table = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            table.raw_set(i + 1, self.lua.create_string(item)?)?;
        }
        Ok(table)
    }

    fn forget_if_flushed(&self) {
        let now = GENERATION.load(Ordering::Acquire);
        if self.generation.get() != now {
            self.compiled.borrow_mut().clear();
            self.by_body.borrow_mut().clear();
            self.generation.set(now);
        }
    }

    /// Runs a compiled script with KEYS and ARGV set: Ok(value) or Err(error table).
    pub fn run(
        &self,
        script: &Compiled,
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
    ) -> mlua::Result<Result<mlua::Value, mlua::Value>> {
        self.globals.raw_set("KEYS", self.list(keys)?)?;
        self.globals.raw_set("ARGV", self.list(args)?)?;
        let (ok, value): (bool, mlua::Value) = self.runner.call(script.function.clone())?;
        Ok(if ok { Ok(value) } else { Err(value) })
    }
}

/// Splits a `#!lua` shebang line off the body: its flags, and the code with the line
/// blanked so line numbers stay those of the body.
fn shebang(body: &[u8]) -> Result<(Flags, Vec<u8>), String> {
    if !body.starts_with(b"#!") {
        return Ok((Flags::default(), body.to_vec()));
    }
    let end = memchr::memchr(b'\n', body).unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[2..end]).into_owned();
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or("");
    if engine != "lua" {
        return Err(format!("ERR Could not find engine '{engine}'"));
    }
    let mut flags = Flags {
        declared: true,
        ..Flags::default()
    };
    for word in words {
        let Some(list) = word.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {word}"));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-cross-slot-keys" => flags.allow_cross_slot_keys = true,
                "allow-oom" | "allow-stale" | "no-cluster" => {}
                other => return Err(format!("ERR Unexpected flag in script shebang: {other}")),
            }
        }
    }
    Ok((flags, body[end..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_flags_and_line_numbers() {
        let (flags, code) =
            shebang(b"#!lua flags=no-writes,allow-cross-slot-keys\nreturn 1").unwrap();
        assert!(flags.declared && flags.no_writes && flags.allow_cross_slot_keys);
        assert_eq!(code, b"\nreturn 1");
        assert!(shebang(b"#!python\nx").is_err());
        assert!(shebang(b"#!lua flags=bogus\nx").is_err());
        let (flags, code) = shebang(b"return 2").unwrap();
        assert_eq!((flags, &code[..]), (Flags::default(), &b"return 2"[..]));
    }
}

#[cfg(test)]
mod engine_tests {
    use super::*;

    fn error_of(body: &str) -> (String, Option<String>, Option<i64>) {
        let engine = Engine::new().unwrap();
        let compiled = engine.compile(body.as_bytes()).unwrap();
        let Err(mlua::Value::Table(t)) = engine.run(&compiled, &[], &[]).unwrap() else {
            panic!("{body} did not fail");
        };
        (
            t.raw_get::<String>("err").unwrap(),
            t.raw_get("source").unwrap(),
            t.raw_get("line").unwrap(),
        )
    }

    #[test]
    fn errors_say_where_they_happened() {
        let (_, source, line) = error_of("\nerror({err='x'})");
        assert_eq!(
            (source.as_deref(), line),
            (Some("@user_script"), Some(2)),
            "plain table"
        );
        let (text, source, line) = error_of("\nreturn redis.call('nosuch')");
        assert_eq!(text, "ERR Unknown Redis command called from script");
        assert_eq!((source.as_deref(), line), (Some("@user_script"), Some(2)));
        let (text, _, line) = error_of("return y");
        assert_eq!(
            text,
            "ERR user_script:1: Script attempted to access nonexistent global variable 'y'"
        );
        assert_eq!(line, Some(1));
    }
}
