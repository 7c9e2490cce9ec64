//! Differential tests: every command of a case file goes to a real `redis-server` and to
//! Holdfast, and the raw reply bytes must be identical.
//!
//! Case files live in `tests/diff/*.txt`, one test per file (each file gets a fresh
//! redis-server and a fresh Holdfast, so every file starts with empty databases):
//!
//! ```text
//! # a comment
//! SET k "a value"          one command per line, quoted like redis-cli
//! !ignore CLIENT ID        a leading !directive relaxes how the reply is compared
//!
//! HELLO 3                  a blank line starts a new scenario: new connections (RESP2,
//! GET k                    database 0, replies on); keys stay for the rest of the file
//! ```
//!
//! Directives, for replies that legitimately differ between two correct servers:
//! - `!ignore`: only the reply type is compared (TIME, CLIENT ID, INFO, RANDOMKEY).
//! - `!sort`: an aggregate reply whose order is unspecified (KEYS); elements are
//!   compared as a sorted list.
//! - `!sortpairs`: the same for a map (or RESP2 flat pair list), pair by pair (CONFIG GET
//!   of several parameters).
//! - `!approx=N`: an integer reply may differ by up to N (PTTL after a PEXPIRE).
//! - `!except=FIELD`: a map (or RESP2 flat pair list) reply compared exactly except for
//!   FIELD's value, of which only the type is compared (HELLO's `id`).
//! - `!sleep MS` alone on a line waits, for expiry cases.
//!
//! `DIFF_SHOW=1` prints every command with Redis's reply, to check what a case exercises.
//!
//! Every mismatch is collected as `file:line: command`, expected vs got, and the test
//! fails once with the whole list.

mod common;

use common::{RedisServer, Server};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

macro_rules! case_files {
    ($($name:ident),* $(,)?) => {
        const CASE_FILES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_case_file(stringify!($name));
            }
        )*
    };
}

case_files!(
    connection,
    strings,
    keys,
    server,
    hashes,
    lists,
    sets,
    zsets,
    bitmaps,
    wrongtype,
    transactions,
    scripting,
    functions,
    pubsub,
    hll,
    geo,
    streams,
    memory,
    tracking,
    sort,
    blocking_zsets
);

/// Case files that wait for a feature, each with its own ignored test.
const WAITING_CASE_FILES: &[&str] = &[];

/// A case file nobody runs would pass silently; every file needs its line above.
#[test]
fn every_case_file_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(diff_dir())
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            let is_case = path.extension().is_some_and(|e| e == "txt");
            is_case.then(|| path.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASE_FILES
        .iter()
        .chain(WAITING_CASE_FILES)
        .map(|s| s.to_string())
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed, "add new case files to case_files!(...)");
}

fn diff_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diff")
}

// ---------------------------------------------------------------------------------------
// Case files

/// How a reply is compared.
#[derive(Clone, Debug, PartialEq)]
enum Compare {
    Exact,
    TypeOnly,
    Sorted,
    SortedPairs,
    Approx(i64),
    ExceptField(Vec<u8>),
}

#[derive(Debug)]
enum Step {
    Command {
        line: usize,
        args: Vec<Vec<u8>>,
        compare: Compare,
    },
    Sleep(Duration),
}

/// Scenarios of a case file: each runs on new connections.
fn parse_case_file(name: &str, text: &str) -> Vec<Vec<Step>> {
    let mut scenarios = vec![Vec::new()];
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw_line.trim();
        if trimmed.is_empty() {
            if !scenarios.last().unwrap().is_empty() {
                scenarios.push(Vec::new());
            }
            continue;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        let step = parse_step(trimmed.as_bytes(), line)
            .unwrap_or_else(|err| panic!("{name}.txt:{line}: {err}"));
        scenarios.last_mut().unwrap().push(step);
    }
    scenarios.retain(|s| !s.is_empty());
    scenarios
}

fn parse_step(line: &[u8], number: usize) -> Result<Step, String> {
    let mut words = split_args(line).ok_or("unbalanced quotes")?;
    let mut compare = Compare::Exact;
    while words.first().is_some_and(|w| w.starts_with(b"!")) {
        let directive = String::from_utf8_lossy(&words.remove(0)).into_owned();
        compare = match directive.split_once('=') {
            None if directive == "!ignore" => Compare::TypeOnly,
            None if directive == "!sort" => Compare::Sorted,
            None if directive == "!sortpairs" => Compare::SortedPairs,
            None if directive == "!sleep" => {
                let ms = words.first().ok_or("!sleep needs milliseconds")?;
                let ms: u64 = String::from_utf8_lossy(ms)
                    .parse()
                    .map_err(|_| "!sleep needs milliseconds")?;
                return Ok(Step::Sleep(Duration::from_millis(ms)));
            }
            Some(("!approx", n)) => Compare::Approx(n.parse().map_err(|_| "bad !approx=N")?),
            Some(("!except", field)) => Compare::ExceptField(field.as_bytes().to_vec()),
            _ => return Err(format!("unknown directive {directive}")),
        };
    }
    if words.is_empty() {
        return Err("a directive without a command".into());
    }
    Ok(Step::Command {
        line: number,
        args: words,
        compare,
    })
}

/// Splits a line like redis-cli (sdssplitargs): whitespace separated words, "double
/// quotes" with \n \r \t \b \a \\ \" \xHH escapes, 'single quotes' with \' only.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut words = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_ascii_start();
        if rest.is_empty() {
            return Some(words);
        }
        let (word, after) = split_word(rest)?;
        words.push(word);
        rest = after;
    }
}

fn split_word(mut rest: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut word = Vec::new();
    while let Some((&c, tail)) = rest.split_first() {
        match c {
            b'"' => {
                rest = double_quoted(tail, &mut word)?;
                break;
            }
            b'\'' => {
                rest = single_quoted(tail, &mut word)?;
                break;
            }
            c if c.is_ascii_whitespace() => break,
            c => {
                word.push(c);
                rest = tail;
            }
        }
    }
    // A closing quote must end the word.
    if rest.first().is_some_and(|c| !c.is_ascii_whitespace()) {
        return None;
    }
    Some((word, rest))
}

fn double_quoted<'a>(mut rest: &'a [u8], word: &mut Vec<u8>) -> Option<&'a [u8]> {
    loop {
        match rest {
            [b'"', tail @ ..] => return Some(tail),
            [b'\\', b'x', h, l, tail @ ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let hex = std::str::from_utf8(&[*h, *l]).unwrap().to_string();
                word.push(u8::from_str_radix(&hex, 16).unwrap());
                rest = tail;
            }
            [b'\\', c, tail @ ..] => {
                word.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    other => *other,
                });
                rest = tail;
            }
            [c, tail @ ..] => {
                word.push(*c);
                rest = tail;
            }
            [] => return None,
        }
    }
}

fn single_quoted<'a>(mut rest: &'a [u8], word: &mut Vec<u8>) -> Option<&'a [u8]> {
    loop {
        match rest {
            [b'\'', tail @ ..] => return Some(tail),
            [b'\\', b'\'', tail @ ..] => {
                word.push(b'\'');
                rest = tail;
            }
            [c, tail @ ..] => {
                word.push(*c);
                rest = tail;
            }
            [] => return None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Replies

/// One complete RESP2/RESP3 reply: its exact bytes, its type byte, and for aggregates its
/// elements (a map's keys and values alternate).
#[derive(Clone, Debug)]
struct Reply {
    raw: Vec<u8>,
    kind: u8,
    children: Vec<Reply>,
}

impl Reply {
    /// The payload of a bulk or simple string, for matching map keys.
    fn text(&self) -> &[u8] {
        let body = &self.raw[1..self.raw.len() - 2];
        match self.kind {
            b'$' => &body[body.iter().position(|&c| c == b'\n').map_or(0, |p| p + 1)..],
            _ => body,
        }
    }

    fn int(&self) -> Option<i64> {
        (self.kind == b':')
            .then(|| std::str::from_utf8(self.text()).ok()?.parse().ok())
            .flatten()
    }
}

enum ReadError {
    Closed,
    TimedOut,
    Io(std::io::Error),
    Malformed(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Closed => write!(f, "(connection closed)"),
            ReadError::TimedOut => write!(f, "(no reply within {REPLY_TIMEOUT:?})"),
            ReadError::Io(e) => write!(f, "(read failed: {e})"),
            ReadError::Malformed(text) => write!(f, "(malformed reply: {text})"),
        }
    }
}

const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// Reads one reply, keeping every byte it is made of.
fn read_reply(reader: &mut BufReader<TcpStream>) -> Result<Reply, ReadError> {
    let mut raw = Vec::new();
    let line = read_line(reader, &mut raw)?;
    let (kind, header) = (line[0], &line[1..]);
    let count = |header: &[u8]| -> Result<i64, ReadError> {
        std::str::from_utf8(header)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| ReadError::Malformed(String::from_utf8_lossy(&line).into_owned()))
    };
    let mut children = Vec::new();
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
        b'$' | b'!' | b'=' => {
            let len = count(header)?;
            if len >= 0 {
                let mut body = vec![0u8; len as usize + 2];
                reader.read_exact(&mut body).map_err(io_error)?;
                raw.extend_from_slice(&body);
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = count(header)?;
            let n = if matches!(kind, b'%' | b'|') {
                n * 2
            } else {
                n
            };
            for _ in 0..n.max(0) {
                let child = read_reply(reader)?;
                raw.extend_from_slice(&child.raw);
                children.push(child);
            }
            if kind == b'|' {
                // An attribute precedes the reply it describes: keep both.
                let reply = read_reply(reader)?;
                raw.extend_from_slice(&reply.raw);
                return Ok(Reply { raw, ..reply });
            }
        }
        other => {
            return Err(ReadError::Malformed(format!(
                "unknown type byte {:?}",
                other as char
            )))
        }
    }
    Ok(Reply {
        raw,
        kind,
        children,
    })
}

/// Reads one CRLF-terminated line into `raw`; returns it without the CRLF.
fn read_line(reader: &mut BufReader<TcpStream>, raw: &mut Vec<u8>) -> Result<Vec<u8>, ReadError> {
    let mut line = Vec::new();
    let n = reader.read_until(b'\n', &mut line).map_err(io_error)?;
    if n == 0 {
        return Err(ReadError::Closed);
    }
    raw.extend_from_slice(&line);
    if !line.ends_with(b"\r\n") || line.len() < 3 {
        if !line.ends_with(b"\n") {
            return Err(ReadError::Closed);
        }
        return Err(ReadError::Malformed(show(&line)));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn io_error(e: std::io::Error) -> ReadError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ReadError::TimedOut,
        ErrorKind::UnexpectedEof => ReadError::Closed,
        _ => ReadError::Io(e),
    }
}

/// Whether `got` passes for `expected` under `compare`.
fn same(expected: &Reply, got: &Reply, compare: &Compare) -> bool {
    match compare {
        Compare::Exact => expected.raw == got.raw,
        Compare::TypeOnly => expected.kind == got.kind,
        Compare::Sorted => expected.kind == got.kind && sorted_items(expected) == sorted_items(got),
        Compare::SortedPairs => {
            expected.kind == got.kind && sorted_pairs(expected) == sorted_pairs(got)
        }
        Compare::Approx(delta) => match (expected.int(), got.int()) {
            (Some(a), Some(b)) => (a - b).abs() <= *delta,
            _ => expected.raw == got.raw,
        },
        Compare::ExceptField(field) => {
            expected.kind == got.kind
                && expected.children.len() == got.children.len()
                && pairs_match(&expected.children, &got.children, field)
        }
    }
}

fn sorted_items(reply: &Reply) -> Vec<&[u8]> {
    let mut items: Vec<&[u8]> = reply.children.iter().map(|c| &c.raw[..]).collect();
    items.sort();
    items
}

fn sorted_pairs(reply: &Reply) -> Vec<Vec<u8>> {
    let mut pairs: Vec<Vec<u8>> = reply
        .children
        .chunks(2)
        .map(|p| p.iter().flat_map(|c| c.raw.clone()).collect())
        .collect();
    pairs.sort();
    pairs
}

fn pairs_match(expected: &[Reply], got: &[Reply], field: &[u8]) -> bool {
    expected
        .chunks(2)
        .zip(got.chunks(2))
        .all(|(e, g)| match (e, g) {
            ([ek, ev], [gk, gv]) if ek.raw == gk.raw && ek.text() == field => ev.kind == gv.kind,
            _ => e.iter().zip(g).all(|(a, b)| a.raw == b.raw),
        })
}

/// Bytes with escapes, cut to a readable length.
fn show(bytes: &[u8]) -> String {
    const SHOWN_BYTES_MAX: usize = 400;
    if bytes.len() <= SHOWN_BYTES_MAX {
        return bytes.escape_ascii().to_string();
    }
    format!(
        "{}... ({} bytes)",
        bytes[..SHOWN_BYTES_MAX].escape_ascii(),
        bytes.len()
    )
}

// ---------------------------------------------------------------------------------------
// Servers and connections

/// The reference: a redis-server of our own; None when it is not installed.
fn start_redis() -> Option<RedisServer> {
    let version = Command::new("redis-server")
        .arg("--version")
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&version.stdout);
    if !version.contains("v=7.0.") {
        println!("warning: the reference is {version}; cases are written for 7.0.15");
    }
    RedisServer::start(&[])
}

/// The server compared with Redis: Holdfast, or with `DIFF_TARGET=redis` a second
/// redis-server, which checks that the case files are deterministic (every file must pass).
enum Candidate {
    Holdfast(Server),
    Redis(RedisServer),
}

impl Candidate {
    fn start() -> Candidate {
        if std::env::var("DIFF_TARGET").as_deref() == Ok("redis") {
            Candidate::Redis(start_redis().expect("DIFF_TARGET=redis needs redis-server"))
        } else {
            Candidate::Holdfast(Server::start())
        }
    }

    fn port(&self) -> u16 {
        match self {
            Candidate::Holdfast(server) => server.port,
            Candidate::Redis(redis) => redis.port,
        }
    }
}

/// One connection, with the CLIENT REPLY state that decides whether a reply comes.
struct Conn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    replies_off: bool,
    skip_next: bool,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        Conn {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
            replies_off: false,
            skip_next: false,
        }
    }

    /// Sends a command; returns its reply, or None when CLIENT REPLY says none comes.
    fn call(&mut self, args: &[Vec<u8>]) -> Option<Result<Reply, ReadError>> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        if let Err(e) = self.writer.write_all(&request) {
            let closed = matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset);
            return Some(Err(if closed {
                ReadError::Closed
            } else {
                ReadError::Io(e)
            }));
        }
        self.expects_reply(args)
            .then(|| read_reply(&mut self.reader))
    }

    /// Bytes that arrived although no reply was due (an extra reply), if any.
    fn stray_bytes(&mut self) -> Option<Vec<u8>> {
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let stray = match self.reader.fill_buf() {
            Ok(bytes) if !bytes.is_empty() => Some(bytes.to_vec()),
            _ => None,
        };
        let _ = self.reader.get_ref().set_read_timeout(Some(REPLY_TIMEOUT));
        stray
    }

    /// Redis's CLIENT REPLY rules: OFF silences everything until ON; SKIP silences itself
    /// and the next command; RESET turns replies back on.
    fn expects_reply(&mut self, args: &[Vec<u8>]) -> bool {
        let word = |i: usize| args.get(i).map(|a| a.to_ascii_uppercase());
        let reply_mode = (word(0).as_deref() == Some(b"CLIENT")
            && word(1).as_deref() == Some(b"REPLY")
            && args.len() == 3)
            .then(|| word(2).unwrap());
        let skipped = std::mem::take(&mut self.skip_next);
        match reply_mode.as_deref() {
            Some(b"ON") => {
                self.replies_off = false;
                return true;
            }
            Some(b"OFF") => self.replies_off = true,
            Some(b"SKIP") => self.skip_next = !self.replies_off,
            _ if word(0).as_deref() == Some(b"RESET") && args.len() == 1 => {
                self.replies_off = false;
                return true;
            }
            _ => {}
        }
        let silenced = matches!(reply_mode.as_deref(), Some(b"OFF" | b"SKIP"));
        !(self.replies_off || skipped || silenced)
    }
}

// ---------------------------------------------------------------------------------------
// Running a case file

struct Run {
    file: String,
    commands: usize,
    mismatches: Vec<String>,
}

impl Run {
    fn mismatch(&mut self, line: usize, args: &[Vec<u8>], expected: &str, got: &str) {
        let command: Vec<String> = args.iter().map(|a| quote(a)).collect();
        self.mismatches.push(format!(
            "{}:{line}: {}\n    expected: {expected}\n    got:      {got}",
            self.file,
            command.join(" ")
        ));
    }
}

/// An argument the way a case file would write it.
fn quote(arg: &[u8]) -> String {
    let plain = !arg.is_empty()
        && arg
            .iter()
            .all(|c| c.is_ascii_graphic() && !matches!(c, b'"' | b'\'' | b'\\'));
    if plain {
        String::from_utf8_lossy(arg).into_owned()
    } else {
        format!("\"{}\"", arg.escape_ascii())
    }
}

fn run_case_file(name: &str) {
    let Some(redis) = start_redis() else {
        println!(
            "skipping differential test: redis-server not found (apt-get install redis-server)"
        );
        return;
    };
    let path = diff_dir().join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let scenarios = parse_case_file(name, &text);
    let holdfast = Candidate::start();
    let mut run = Run {
        file: format!("{name}.txt"),
        commands: 0,
        mismatches: Vec::new(),
    };
    for scenario in &scenarios {
        run_scenario(&mut run, scenario, redis.port, holdfast.port());
    }
    println!(
        "{}: {} commands in {} scenarios, {} mismatches",
        run.file,
        run.commands,
        scenarios.len(),
        run.mismatches.len()
    );
    assert!(
        run.mismatches.is_empty(),
        "{}: {} of {} replies differ from redis-server:\n\n{}\n",
        run.file,
        run.mismatches.len(),
        run.commands,
        run.mismatches.join("\n")
    );
}

fn run_scenario(run: &mut Run, steps: &[Step], redis_port: u16, holdfast_port: u16) {
    let mut redis = Conn::open(redis_port);
    let mut holdfast = Conn::open(holdfast_port);
    for (index, step) in steps.iter().enumerate() {
        let (line, args, compare) = match step {
            Step::Sleep(pause) => {
                std::thread::sleep(*pause);
                continue;
            }
            Step::Command {
                line,
                args,
                compare,
            } => (*line, args, compare),
        };
        run.commands += 1;
        let expected = redis.call(args);
        let got = holdfast.call(args);
        if std::env::var_os("DIFF_SHOW").is_some() {
            show_step(&run.file, line, args, &expected);
        }
        let desynced = compare_step(run, line, args, compare, expected, got);
        if desynced {
            let left = steps[index + 1..]
                .iter()
                .filter(|s| matches!(s, Step::Command { .. }))
                .count();
            if left > 0 {
                run.mismatches.push(format!(
                    "{}:{line}: the connection is out of step; the {left} commands after it in this scenario were not compared",
                    run.file
                ));
            }
            return;
        }
    }
    if let Some(bytes) = redis.stray_bytes() {
        panic!(
            "{}: redis-server sent a reply the tester did not expect (CLIENT REPLY rules?): {}",
            run.file,
            show(&bytes)
        );
    }
    if let Some(bytes) = holdfast.stray_bytes() {
        let line = steps.iter().rev().find_map(|s| match s {
            Step::Command { line, .. } => Some(*line),
            Step::Sleep(_) => None,
        });
        run.mismatches.push(format!(
            "{}:{}: extra bytes after the scenario's last reply: {}",
            run.file,
            line.unwrap_or(0),
            show(&bytes)
        ));
    }
}

/// Prints a command and Redis's reply (`DIFF_SHOW=1`), to check what a case exercises.
fn show_step(file: &str, line: usize, args: &[Vec<u8>], reply: &Option<Result<Reply, ReadError>>) {
    let command: Vec<String> = args.iter().map(|a| quote(a)).collect();
    let reply = match reply {
        None => "(no reply due)".to_string(),
        Some(Ok(reply)) => show(&reply.raw),
        Some(Err(e)) => e.to_string(),
    };
    println!("{file}:{line}: {} -> {reply}", command.join(" "));
}

/// Records a mismatch if any; returns true when Holdfast's connection can no longer be
/// trusted to be in step (no reply, closed, or a reply where none was due).
fn compare_step(
    run: &mut Run,
    line: usize,
    args: &[Vec<u8>],
    compare: &Compare,
    expected: Option<Result<Reply, ReadError>>,
    got: Option<Result<Reply, ReadError>>,
) -> bool {
    let expected = match expected {
        None => return false,
        Some(Ok(reply)) => reply,
        Some(Err(ReadError::Closed)) => {
            // QUIT and the like: Holdfast must close as well.
            return match got {
                Some(Err(ReadError::Closed)) => false,
                Some(Ok(reply)) => {
                    run.mismatch(line, args, "(connection closed)", &show(&reply.raw));
                    true
                }
                other => {
                    let got = other.map_or("(no reply)".into(), |r| r.err().unwrap().to_string());
                    run.mismatch(line, args, "(connection closed)", &got);
                    true
                }
            };
        }
        Some(Err(e)) => panic!("{}:{line}: redis-server gave no reply: {e}", run.file),
    };
    match got {
        Some(Ok(reply)) if same(&expected, &reply, compare) => false,
        Some(Ok(reply)) => {
            let expected_text = match compare {
                Compare::Exact => show(&expected.raw),
                other => format!("{} (compared {other:?})", show(&expected.raw)),
            };
            run.mismatch(line, args, &expected_text, &show(&reply.raw));
            false
        }
        Some(Err(e)) => {
            run.mismatch(line, args, &show(&expected.raw), &e.to_string());
            true
        }
        None => unreachable!("both connections follow the same CLIENT REPLY rules"),
    }
}
