//! Protocol edges over raw sockets, each asserting the exact bytes Redis 7.0.15 sends:
//! pipelining, requests split across writes, inline commands, protocol errors (answered,
//! then the connection is closed), limits, hostile clients, RESP3, CLIENT REPLY, QUIT,
//! RESET, SELECT and maxclients.
//!
//! These guard DESIGN.md invariant 7: bad input gets a Redis-style error and costs nothing
//! but that request (or that connection, for a protocol error); the server keeps serving
//! everyone else (`protocol_errors_are_answered_then_the_connection_closes`,
//! `unknown_commands_and_arity_errors_keep_the_connection`, and the two hostile-client
//! tests `a_client_stalled_inside_a_huge_request_does_not_stall_others` and
//! `a_client_that_never_reads_does_not_stall_others`).
//!
//! The expectations are Redis's own behaviour, and the file can prove it: with
//! `PROTOCOL_TARGET=redis` every test runs against a `redis-server` from PATH instead of
//! Holdfast (`PROTOCOL_TARGET=redis cargo test -p holdfast-server --test protocol`).

mod common;

use common::{Raw, RedisServer, Server};
use holdfast_server::shard::slot::key_core;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The server under test: Holdfast, or redis-server when checking the expectations.
enum Target {
    Holdfast(Server),
    Redis(RedisServer),
}

impl Target {
    fn start() -> Target {
        Target::start_with(&[], &[])
    }

    /// Starts the target with extra flags: `holdfast` ones for Holdfast, `redis` ones for
    /// redis-server.
    fn start_with(holdfast: &[&str], redis: &[&str]) -> Target {
        if std::env::var("PROTOCOL_TARGET").as_deref() != Ok("redis") {
            let mut args = vec!["--threads", "2"];
            args.extend_from_slice(holdfast);
            return Target::Holdfast(Server::start_with(&args));
        }
        Target::Redis(
            RedisServer::start(redis).expect("PROTOCOL_TARGET=redis needs redis-server on PATH"),
        )
    }

    fn port(&self) -> u16 {
        match self {
            Target::Holdfast(server) => server.port,
            Target::Redis(redis) => redis.port,
        }
    }

    fn raw(&self) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", self.port())).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Raw { stream }
    }
}

/// Bytes shown with escapes, so a mismatch in `\r\n` or binary data is visible.
fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// A request as RESP multibulk.
fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn bulk(value: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", value.len()).into_bytes();
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    out
}

/// Reads exactly `expected.len()` bytes and compares them, then checks nothing more came.
fn expect(raw: &mut Raw, expected: &[u8], what: &str) {
    let got = raw.read_exactly(expected.len());
    assert!(
        got == expected,
        "{what}:\nexpected {}\n     got {}",
        show(expected),
        show(&got)
    );
    expect_silence(raw, what);
}

/// Nothing more arrives within a short wait (and the connection is not closed).
fn expect_silence(raw: &mut Raw, what: &str) {
    let stream = &mut raw.stream;
    stream
        .set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let mut byte = [0u8; 256];
    let result = stream.read(&mut byte);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    match result {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Ok(0) => panic!("{what}: the connection was closed"),
        Ok(n) => panic!("{what}: unexpected extra bytes {}", show(&byte[..n])),
        Err(e) => panic!("{what}: read failed: {e}"),
    }
}

/// The server closed the connection (FIN, or RST when our bytes were left unread).
fn expect_closed(raw: &mut Raw, what: &str) {
    let mut byte = [0u8; 256];
    match raw.stream.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Ok(n) => panic!("{what}: expected close, got {}", show(&byte[..n])),
        Err(e) => panic!("{what}: expected close, read failed: {e}"),
    }
}

fn roundtrip(raw: &mut Raw, request: &[u8], reply: &[u8]) {
    raw.send(request);
    expect(raw, reply, &format!("reply to {}", show(request)));
}

/// Runs each `(request, reply)` case on a fresh connection and fails once, listing every
/// case whose reply differs (or that left the connection open or closed wrongly).
fn check_cases(target: &Target, cases: &[(&[u8], &[u8])]) {
    check_all(target, cases, false);
}

/// Protocol errors: each request gets `-ERR Protocol error: <text>`, then the connection
/// is closed, so nothing after the bad request in the same write runs.
fn check_protocol_errors(target: &Target, cases: &[(&[u8], &[u8])]) {
    let cases: Vec<(&[u8], Vec<u8>)> = cases
        .iter()
        .map(|(request, text)| {
            let mut reply = b"-ERR Protocol error: ".to_vec();
            reply.extend_from_slice(text);
            reply.extend_from_slice(b"\r\n");
            (*request, reply)
        })
        .collect();
    let cases: Vec<(&[u8], &[u8])> = cases.iter().map(|(q, r)| (*q, &r[..])).collect();
    check_all(target, &cases, true);
}

fn check_all(target: &Target, cases: &[(&[u8], &[u8])], closes: bool) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(request, reply)| check_one(target, request, reply, closes))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Redis:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn check_one(target: &Target, request: &[u8], reply: &[u8], closes: bool) -> Option<String> {
    let mut raw = target.raw();
    raw.send(request);
    let got = raw.read_exactly(reply.len());
    raw.stream
        .set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let mut chunk = [0u8; 256];
    let after = match raw.stream.read(&mut chunk) {
        Ok(0) => "closed".to_string(),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => "closed".to_string(),
        Ok(n) => format!("extra bytes {}", show(&chunk[..n])),
        Err(_) => "open".to_string(),
    };
    let after_expected = if closes { "closed" } else { "open" };
    if got == reply && after == after_expected {
        return None;
    }
    const SHOWN_BYTES_MAX: usize = 120;
    Some(format!(
        "request {}\n  expected {} then {after_expected}\n       got {} then {after}",
        show(&request[..request.len().min(SHOWN_BYTES_MAX)]),
        show(reply),
        show(&got),
    ))
}

/// What the reply to one pipelined command must be, given the keys set so far.
struct Model {
    request: Vec<u8>,
    reply: Vec<u8>,
    values: HashMap<String, String>,
}

impl Model {
    fn push(&mut self, args: &[&str], reply: &[u8]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.request.extend(resp(&args));
        self.reply.extend_from_slice(reply);
    }

    fn value_reply(&self, key: &str) -> Vec<u8> {
        match self.values.get(key) {
            Some(value) => bulk(value.as_bytes()),
            None => b"$-1\r\n".to_vec(),
        }
    }

    /// One round of mixed commands on `key` and `other` (often on the other core).
    fn round(&mut self, i: usize, key: &str, other: &str) {
        let value = format!("value-{i}");
        self.push(&["SET", key, &value], b"+OK\r\n");
        self.values.insert(key.to_string(), value);
        self.push(&["GET", key], &self.value_reply(key));
        let mut mget = b"*2\r\n".to_vec();
        mget.extend(self.value_reply(key));
        mget.extend(self.value_reply(other));
        self.push(&["MGET", key, other], &mget);
        let present = 1 + self.values.contains_key(other) as usize;
        self.push(
            &["EXISTS", key, other],
            format!(":{present}\r\n").as_bytes(),
        );
        if i % 10 == 0 {
            self.push(&["PING"], b"+PONG\r\n");
            self.push(&["ECHO", "a\r\nb"], b"$4\r\na\r\nb\r\n");
        }
        if i % 50 == 0 {
            self.push(
                &["NOSUCH", key],
                format!("-ERR unknown command 'NOSUCH', with args beginning with: '{key}' \r\n")
                    .as_bytes(),
            );
            self.push(
                &["GET"],
                b"-ERR wrong number of arguments for 'get' command\r\n",
            );
        }
    }
}

#[test]
fn hundreds_of_pipelined_commands_in_one_write_reply_in_order() {
    let target = Target::start();
    let keys: Vec<String> = (0..200).map(|i| format!("pipe:{i}")).collect();
    let cores: std::collections::BTreeSet<usize> =
        keys.iter().map(|k| key_core(k.as_bytes(), 2)).collect();
    assert_eq!(cores.len(), 2, "the keys must live on both cores");
    let mut model = Model {
        request: Vec::new(),
        reply: Vec::new(),
        values: HashMap::new(),
    };
    for (i, key) in keys.iter().enumerate() {
        let other = &keys[(i + 7) % keys.len()];
        model.round(i, key, other);
    }
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    model.push(&del, b":200\r\n");
    let mut raw = target.raw();
    raw.send(&model.request);
    expect(&mut raw, &model.reply, "pipelined replies");
}

/// Sends `request` one byte per write; no reply may come before the last byte.
fn send_byte_by_byte(raw: &mut Raw, request: &[u8]) {
    let (last, head) = request.split_last().unwrap();
    for byte in head {
        raw.send(std::slice::from_ref(byte));
        std::thread::sleep(Duration::from_micros(300));
    }
    expect_silence(raw, &format!("before the last byte of {}", show(request)));
    raw.send(std::slice::from_ref(last));
}

#[test]
fn requests_split_byte_by_byte() {
    let target = Target::start();
    let mut raw = target.raw();
    send_byte_by_byte(&mut raw, &resp(&[b"SET", b"split", b"a\r\nvalue"]));
    expect(&mut raw, b"+OK\r\n", "SET sent byte by byte");
    send_byte_by_byte(&mut raw, &resp(&[b"GET", b"split"]));
    expect(&mut raw, b"$8\r\na\r\nvalue\r\n", "GET sent byte by byte");
    send_byte_by_byte(&mut raw, b"ECHO \"x y\"\r\n");
    expect(&mut raw, b"$3\r\nx y\r\n", "inline ECHO sent byte by byte");
    // A bulk argument split exactly between its data and its CRLF.
    raw.send(b"*2\r\n$4\r\nECHO\r\n$2\r\nab");
    expect_silence(&mut raw, "bulk without its CRLF");
    raw.send(b"\r\n");
    expect(&mut raw, b"$2\r\nab\r\n", "bulk completed by its CRLF");
}

#[test]
fn inline_commands_with_quotes_escapes_and_empty_lines() {
    let target = Target::start();
    let cases: &[(&[u8], &[u8])] = &[
        (b"\r\n\r\n\n   \r\nPING\r\n", b"+PONG\r\n"),
        (b"PING\n", b"+PONG\r\n"),
        (b"  \tECHO\t  x   \r\n", b"$1\r\nx\r\n"),
        (b"ECHO \"a b\"\r\n", b"$3\r\na b\r\n"),
        (b"ECHO 'a b'\r\n", b"$3\r\na b\r\n"),
        (b"ECHO \"\"\r\n", b"$0\r\n\r\n"),
        (b"ECHO \"\\x41\\x4a\\x4A\\X41\"\r\n", b"$6\r\nAJJX41\r\n"),
        (b"ECHO \"\\x4\"\r\n", b"$2\r\nx4\r\n"),
        (b"ECHO \"\\xZZ\"\r\n", b"$3\r\nxZZ\r\n"),
        (
            b"ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\\y\"\r\n",
            b"$8\r\n\n\r\t\x08\x07\\\"y\r\n",
        ),
        (b"ECHO 'a\\nb'\r\n", b"$4\r\na\\nb\r\n"),
        (b"ECHO 'it\\'s'\r\n", b"$4\r\nit's\r\n"),
        (b"ECHO a\"b c\"\r\n", b"$4\r\nab c\r\n"),
        (b"ECHO \"x\"\t\r\n", b"$1\r\nx\r\n"),
        (
            b"'' a\r\n",
            b"-ERR unknown command '', with args beginning with: 'a' \r\n",
        ),
        (
            b"ECHO x\ry\r\n",
            b"-ERR wrong number of arguments for 'echo' command\r\n",
        ),
        (b"ECHO x\r\r\n", b"$1\r\nx\r\n"),
        (
            b"set inline:k \"v 1\"\r\nget inline:k\r\n",
            b"+OK\r\n$3\r\nv 1\r\n",
        ),
    ];
    check_cases(&target, cases);
}

/// Inline splitting follows sdssplitargs exactly: any isspace() byte (including \v and \f)
/// is skipped between arguments, but only space, \t, \r, \n end an unquoted argument; a
/// closing quote may be followed by any isspace() byte.
#[test]
fn inline_whitespace_is_exactly_sdssplitargs() {
    let target = Target::start();
    let cases: &[(&[u8], &[u8])] = &[
        (b"\x0bPING\r\n", b"+PONG\r\n"),
        (b"ECHO \x0cx\r\n", b"$1\r\nx\r\n"),
        (b"ECHO x\x0cy\r\n", b"$3\r\nx\x0cy\r\n"),
        (b"ECHO x\x0by\r\n", b"$3\r\nx\x0by\r\n"),
        (b"ECHO \"x\"\x0b\r\n", b"$1\r\nx\r\n"),
        (b"ECHO 'x'\x0c\r\n", b"$1\r\nx\r\n"),
    ];
    check_cases(&target, cases);
}

#[test]
fn empty_and_negative_multibulk_are_skipped() {
    let target = Target::start();
    let mut raw = target.raw();
    roundtrip(&mut raw, b"*0\r\n*-1\r\n*-5\r\nPING\r\n", b"+PONG\r\n");
    roundtrip(&mut raw, b"*0\r\n", b"");
    roundtrip(&mut raw, b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n");
    roundtrip(
        &mut raw,
        b"*1\r\n$0\r\n\r\n",
        b"-ERR unknown command '', with args beginning with: \r\n",
    );
}

/// Each of these is answered with its error, then the connection is closed; what follows
/// the bad request in the same write is never executed.
#[test]
fn protocol_errors_are_answered_then_the_connection_closes() {
    let target = Target::start();
    let big_inline = vec![b'x'; 70_000];
    let mut big_count = b"*".to_vec();
    big_count.extend(vec![b'1'; 70_000]);
    let mut big_bulk_count = b"*1\r\n$".to_vec();
    big_bulk_count.extend(vec![b'1'; 70_000]);
    let cases: Vec<(&[u8], &[u8])> = vec![
        (b"*x\r\nPING\r\n", b"invalid multibulk length"),
        (b"*+1\r\nPING\r\n", b"invalid multibulk length"),
        (b"*1 \r\nPING\r\n", b"invalid multibulk length"),
        (b"*99999999999999999999\r\n", b"invalid multibulk length"),
        (b"*1\r\nx\r\nPING\r\n", b"expected '$', got 'x'"),
        (b"*2\r\n$4\r\nECHO\r\n:3\r\n", b"expected '$', got ':'"),
        // The byte itself, not its UTF-8 encoding; CR and LF become spaces.
        (b"*1\r\n\xff\r\n", b"expected '$', got '\xff'"),
        (b"*1\r\n\r\nPING\r\n", b"expected '$', got ' '"),
        (b"*1\r\n$x\r\nPING\r\n", b"invalid bulk length"),
        (b"*1\r\n$-1\r\nPING\r\n", b"invalid bulk length"),
        (b"*1\r\n$+4\r\nPING\r\n", b"invalid bulk length"),
        (b"*1\r\n$536870913\r\n", b"invalid bulk length"),
        (b"SET 'a b\r\nPING\r\n", b"unbalanced quotes in request"),
        (b"SET \"a\"b c\r\nPING\r\n", b"unbalanced quotes in request"),
        (b"ECHO \"a\"'b'\r\n", b"unbalanced quotes in request"),
        (b"ECHO \"a\\\"\r\n", b"unbalanced quotes in request"),
        (&big_inline, b"too big inline request"),
        (&big_count, b"too big mbulk count string"),
        (&big_bulk_count, b"too big bulk count string"),
    ];
    check_protocol_errors(&target, &cases);
    // Requests before the bad one in the same write are answered first.
    let mut raw = target.raw();
    raw.send(b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n:4\r\nPING\r\n");
    let reply = b"+PONG\r\n+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n";
    let got = raw.read_exactly(reply.len());
    assert_eq!(show(&got), show(reply));
    expect_closed(&mut raw, "error after pipelined requests");
}

/// Multibulk count lines end at "\r\n" only: Redis reads the number up to the first '\r',
/// so a bare '\n' leaves text that is not a number.
#[test]
fn multibulk_lines_need_crlf() {
    let target = Target::start();
    let cases: [(&[u8], &[u8]); 2] = [
        (b"*1\n$4\r\nPING\r\n", b"invalid multibulk length"),
        (b"*1\r\n$4\nPING\r\n", b"invalid bulk length"),
    ];
    check_protocol_errors(&target, &cases);
}

/// Redis 7.0 accepts any multibulk count up to INT_MAX (it grows argv as arguments
/// arrive); only older versions refused more than 1024*1024.
#[test]
fn multibulk_count_above_a_million_is_accepted() {
    let target = Target::start();
    let mut raw = target.raw();
    raw.send(b"*1048577\r\n");
    expect_silence(&mut raw, "a multibulk of 1048577 arguments");
    let mut rest = resp(&[b"NOSUCH"])[4..].to_vec();
    for _ in 1..1_048_577 {
        rest.extend_from_slice(b"$1\r\na\r\n");
    }
    raw.send(&rest);
    let mut reply = b"-ERR unknown command 'NOSUCH', with args beginning with: ".to_vec();
    // Redis lists arguments only while the list is shorter than 128 bytes.
    for _ in 0..32 {
        reply.extend_from_slice(b"'a' ");
    }
    reply.extend_from_slice(b"\r\n");
    expect(&mut raw, &reply, "unknown command with 1048576 arguments");
}

/// The unknown-command error quotes at most 128 bytes of the name and stops listing
/// arguments once the list reaches 128 bytes, each argument cut to what still fits.
#[test]
fn unknown_command_error_is_truncated_like_redis() {
    let target = Target::start();
    let name = "n".repeat(300);
    let long_arg = "x".repeat(200);
    let args = vec!["abcdefghij"; 30].join(" ");
    let listed = "'abcdefghij' ".repeat(10);
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            format!("{name} a\r\n").into_bytes(),
            format!(
                "-ERR unknown command '{}', with args beginning with: 'a' \r\n",
                &name[..128]
            ),
        ),
        (
            format!("nosuch {long_arg} y\r\n").into_bytes(),
            format!(
                "-ERR unknown command 'nosuch', with args beginning with: '{}' \r\n",
                &long_arg[..128]
            ),
        ),
        (
            format!("nosuch {args}\r\n").into_bytes(),
            format!("-ERR unknown command 'nosuch', with args beginning with: {listed}\r\n"),
        ),
        // Newlines inside the error text would break the protocol: they become spaces.
        (
            resp(&[b"NOSUCH", b"a\r\nb"]),
            "-ERR unknown command 'NOSUCH', with args beginning with: 'a  b' \r\n".into(),
        ),
    ];
    let cases: Vec<(&[u8], &[u8])> = cases
        .iter()
        .map(|(request, reply)| (&request[..], reply.as_bytes()))
        .collect();
    check_cases(&target, &cases);
}

#[test]
fn bulk_length_above_proto_max_bulk_len() {
    let target = Target::start();
    let mut raw = target.raw();
    roundtrip(
        &mut raw,
        b"CONFIG SET proto-max-bulk-len 1048576\r\n",
        b"+OK\r\n",
    );
    // Exactly the limit is fine.
    let value = vec![b'v'; 1_048_576];
    raw.send(&resp(&[b"SET", b"limit", &value]));
    expect(
        &mut raw,
        b"+OK\r\n",
        "SET of exactly proto-max-bulk-len bytes",
    );
    raw.send(b"*3\r\n$3\r\nSET\r\n$5\r\nlimit\r\n$1048577\r\n");
    let reply = b"-ERR Protocol error: invalid bulk length\r\n";
    let got = raw.read_exactly(reply.len());
    assert_eq!(show(&got), show(reply));
    expect_closed(&mut raw, "bulk above proto-max-bulk-len");
}

#[test]
fn unknown_commands_and_arity_errors_keep_the_connection() {
    let target = Target::start();
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"nosuch a b\r\n",
            b"-ERR unknown command 'nosuch', with args beginning with: 'a' 'b' \r\n",
        ),
        (
            b"GET\r\n",
            b"-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            b"PING a b\r\n",
            b"-ERR wrong number of arguments for 'ping' command\r\n",
        ),
        (
            b"RESET x\r\n",
            b"-ERR wrong number of arguments for 'reset' command\r\n",
        ),
        (
            b"CLIENT REPLY\r\n",
            b"-ERR wrong number of arguments for 'client|reply' command\r\n",
        ),
        (
            b"CLIENT\r\n",
            b"-ERR wrong number of arguments for 'client' command\r\n",
        ),
        (
            b"CLIENT NOPE\r\n",
            b"-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n",
        ),
        (b"PING\r\n", b"+PONG\r\n"),
    ];
    check_cases(&target, cases);
}

/// Round trips from several fresh connections (spread over both cores by SO_REUSEPORT),
/// each of which must be answered within `limit`.
fn others_are_served(target: &Target, limit: Duration) {
    for c in 0..6 {
        let mut raw = target.raw();
        for i in 0..20 {
            let started = Instant::now();
            let key = format!("other:{c}:{i}");
            let mut request = resp(&[b"SET", key.as_bytes(), b"x"]);
            request.extend(resp(&[b"MGET", key.as_bytes(), b"other:far"]));
            raw.send(&request);
            let expected = b"+OK\r\n*2\r\n$1\r\nx\r\n$-1\r\n";
            let got = raw.read_exactly(expected.len());
            assert_eq!(show(&got), show(expected));
            let took = started.elapsed();
            assert!(
                took < limit,
                "a round trip took {took:?} while a hostile client was connected"
            );
        }
    }
}

#[test]
fn a_client_stalled_inside_a_huge_request_does_not_stall_others() {
    let target = Target::start();
    let mut stalled = target.raw();
    let value = vec![b'v'; 8_000_000];
    let request = resp(&[b"SET", b"huge", &value]);
    let half = request.len() / 2;
    stalled.send(&request[..half]);
    others_are_served(&target, Duration::from_secs(2));
    expect_silence(&mut stalled, "half a request");
    stalled.send(&request[half..]);
    expect(&mut stalled, b"+OK\r\n", "the huge request completed");
}

#[test]
fn a_client_that_never_reads_does_not_stall_others() {
    let target = Target::start();
    let mut setup = target.raw();
    let value = vec![b'v'; 1 << 20];
    roundtrip(&mut setup, &resp(&[b"SET", b"big", &value]), b"+OK\r\n");
    let mut deaf = target.raw();
    deaf.stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // 60 MiB of replies: far more than the socket buffers hold, so the server's writes
    // to this client block for good.
    let mut requests = Vec::new();
    for _ in 0..60 {
        requests.extend(resp(&[b"GET", b"big"]));
    }
    let _ = deaf.stream.write_all(&requests);
    std::thread::sleep(Duration::from_millis(300));
    others_are_served(&target, Duration::from_secs(2));
    roundtrip(&mut setup, b"PING\r\n", b"+PONG\r\n");
}

/// HELLO's reply for `proto`, with this connection's `id`.
fn hello_reply(proto: u8, id: &str) -> Vec<u8> {
    let header = if proto == 3 { "%7" } else { "*14" };
    format!(
        "{header}\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n\
         $5\r\nproto\r\n:{proto}\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    )
    .into_bytes()
}

/// The connection's CLIENT ID, as the digits of its reply.
fn client_id(raw: &mut Raw) -> String {
    raw.send(b"CLIENT ID\r\n");
    let mut reply = Vec::new();
    while !reply.ends_with(b"\r\n") {
        let byte = raw.read_exactly(1);
        assert_eq!(byte.len(), 1, "CLIENT ID reply cut short: {}", show(&reply));
        reply.extend(byte);
    }
    assert_eq!(reply[0], b':', "CLIENT ID reply {}", show(&reply));
    String::from_utf8(reply[1..reply.len() - 2].to_vec()).unwrap()
}

#[test]
fn hello_switches_between_resp2_and_resp3() {
    let target = Target::start();
    let mut raw = target.raw();
    let id = client_id(&mut raw);
    roundtrip(&mut raw, b"HELLO\r\n", &hello_reply(2, &id));
    roundtrip(&mut raw, b"HELLO 3\r\n", &hello_reply(3, &id));
    let resp3: &[(&[u8], &[u8])] = &[
        (b"GET hello:none\r\n", b"_\r\n"),
        (b"MGET hello:none other:none\r\n", b"*2\r\n_\r\n_\r\n"),
        (b"CLIENT GETNAME\r\n", b"_\r\n"),
        (
            b"CONFIG GET maxclients\r\n",
            b"%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n",
        ),
        (b"SET hello:k 1\r\nGET hello:k\r\n", b"+OK\r\n$1\r\n1\r\n"),
        (b"EXISTS hello:k\r\n", b":1\r\n"),
        (b"HELLO 4\r\n", b"-NOPROTO unsupported protocol version\r\n"),
        (
            b"HELLO x\r\n",
            b"-ERR Protocol version is not an integer or out of range\r\n",
        ),
        (
            b"HELLO 3 foo\r\n",
            b"-ERR Syntax error in HELLO option 'foo'\r\n",
        ),
        (
            b"HELLO 3 AUTH a b\r\n",
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        ),
    ];
    for (request, reply) in resp3 {
        roundtrip(&mut raw, request, reply);
    }
    roundtrip(&mut raw, b"HELLO 2\r\n", &hello_reply(2, &id));
    roundtrip(&mut raw, b"GET hello:none\r\n", b"$-1\r\n");
    roundtrip(
        &mut raw,
        b"CONFIG GET maxclients\r\n",
        b"*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n",
    );
    roundtrip(&mut raw, b"HELLO 3 SETNAME hi\r\n", &hello_reply(3, &id));
    roundtrip(&mut raw, b"CLIENT GETNAME\r\n", b"$2\r\nhi\r\n");
}

#[test]
fn client_reply_off_skip_on() {
    let target = Target::start();
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"CLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY ON\r\nPING\r\n",
            b"+OK\r\n+PONG\r\n",
        ),
        (b"CLIENT REPLY SKIP\r\nPING\r\nECHO x\r\n", b"$1\r\nx\r\n"),
        (
            b"CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nPING\r\nECHO a\r\n",
            b"$1\r\na\r\n",
        ),
        // Errors are silenced too, and SKIP while OFF stays silent.
        (
            b"CLIENT REPLY OFF\r\nnosuch\r\nGET\r\nCLIENT REPLY SKIP\r\nPING\r\nCLIENT REPLY ON\r\n",
            b"+OK\r\n",
        ),
        // Replies of keys on the other core are silenced as well.
        (
            b"CLIENT REPLY OFF\r\nSET reply:a 1\r\nSET reply:b 2\r\nGET reply:a\r\nCLIENT REPLY ON\r\nMGET reply:a reply:b\r\n",
            b"+OK\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n",
        ),
        (b"CLIENT REPLY foo\r\n", b"-ERR syntax error\r\n"),
    ];
    check_cases(&target, cases);
}

#[test]
fn quit_replies_ok_then_closes() {
    let target = Target::start();
    for request in [&b"QUIT\r\nPING\r\n"[..], b"QUIT extra args\r\nPING\r\n"] {
        let mut raw = target.raw();
        raw.send(request);
        let got = raw.read_exactly(5);
        assert_eq!(show(&got), "+OK\\r\\n", "reply to {}", show(request));
        expect_closed(&mut raw, "after QUIT");
    }
}

#[test]
fn reset_restores_the_connection_defaults() {
    let target = Target::start();
    let mut raw = target.raw();
    let id = client_id(&mut raw);
    roundtrip(&mut raw, b"HELLO 3\r\n", &hello_reply(3, &id));
    roundtrip(
        &mut raw,
        b"CLIENT SETNAME n\r\nSELECT 1\r\nSET reset:k v\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n",
    );
    roundtrip(&mut raw, b"RESET\r\n", b"+RESET\r\n");
    // Back to RESP2, database 0, no name.
    roundtrip(&mut raw, b"GET reset:k\r\n", b"$-1\r\n");
    roundtrip(&mut raw, b"CLIENT GETNAME\r\n", b"$-1\r\n");
    roundtrip(
        &mut raw,
        b"SELECT 1\r\nGET reset:k\r\n",
        b"+OK\r\n$1\r\nv\r\n",
    );
    // RESET also turns replies back on.
    roundtrip(
        &mut raw,
        b"CLIENT REPLY OFF\r\nRESET\r\nPING\r\n",
        b"+RESET\r\n+PONG\r\n",
    );
}

#[test]
fn select_checks_the_index() {
    let target = Target::start();
    let cases: &[(&[u8], &[u8])] = &[
        (b"SELECT 0\r\n", b"+OK\r\n"),
        (b"SELECT 15\r\n", b"+OK\r\n"),
        (b"SELECT 16\r\n", b"-ERR DB index is out of range\r\n"),
        (b"SELECT -1\r\n", b"-ERR DB index is out of range\r\n"),
        (
            b"SELECT x\r\n",
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (
            b"SELECT 1.5\r\n",
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (
            b"SELECT 99999999999999999999\r\n",
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (
            b"SELECT\r\n",
            b"-ERR wrong number of arguments for 'select' command\r\n",
        ),
    ];
    check_cases(&target, cases);
}

#[test]
fn maxclients_refuses_with_redis_text() {
    let dir = std::env::temp_dir().join(format!("holdfast-protocol-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("maxclients.conf");
    std::fs::write(&config, "maxclients 2\n").unwrap();
    let target = Target::start_with(
        &["--config", config.to_str().unwrap()],
        &["--maxclients", "2"],
    );
    // The start-up probe's connection may take a moment to be counted as gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (_first, _second) = loop {
        let mut first = target.raw();
        let mut second = target.raw();
        first.send(b"PING\r\n");
        second.send(b"PING\r\n");
        if first.read_exactly(7) == b"+PONG\r\n" && second.read_exactly(7) == b"+PONG\r\n" {
            break (first, second);
        }
        assert!(
            Instant::now() < deadline,
            "two clients were never both served"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut third = target.raw();
    let reply = b"-ERR max number of clients reached\r\n";
    let got = third.read_exactly(reply.len());
    assert_eq!(show(&got), show(reply));
    expect_closed(&mut third, "the refused client");
    let _ = std::fs::remove_dir_all(&dir);
}
