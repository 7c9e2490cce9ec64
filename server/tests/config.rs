//! CONFIG through the real server: GET patterns and aliases, SET then GET, Redis's exact
//! errors, settings that visibly take effect on later requests (on every core), redis.conf
//! files given as the positional CONFIG_FILE, and CONFIG REWRITE into that file.

mod common;
use common::{Raw, Server};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A request in RESP, as clients send it.
fn request(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// Sends one command and expects exactly `reply` back.
fn expect(raw: &mut Raw, args: &[&str], reply: &str) {
    raw.roundtrip(&request(args), reply.as_bytes());
}

fn config_get(con: &mut redis::Connection, patterns: &[&str]) -> HashMap<String, String> {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET");
    for pattern in patterns {
        cmd.arg(*pattern);
    }
    cmd.query(con).unwrap()
}

fn config_set(con: &mut redis::Connection, pairs: &[(&str, &str)]) -> redis::RedisResult<()> {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("SET");
    for (name, value) in pairs {
        cmd.arg(*name).arg(*value);
    }
    cmd.query(con)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("holdfast-config-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn get_patterns_names_and_aliases() {
    let server = Server::start();
    let mut con = server.client();
    let all = config_get(&mut con, &["*"]);
    assert_eq!(all.len(), 192, "every Redis 7.0.15 name and alias");
    assert_eq!(all["maxclients"], "10000");
    // Holdfast writes no RDB files, so it has no save points by default.
    assert_eq!(all["save"], "");
    assert_eq!(
        all["client-output-buffer-limit"],
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    let both = config_get(&mut con, &["hash-max-*-entries"]);
    assert_eq!(both.len(), 2);
    assert_eq!(both["hash-max-ziplist-entries"], "512");
    assert_eq!(both["hash-max-listpack-entries"], "512");
    let several = config_get(&mut con, &["maxclients", "timeout", "slowlog-*", "nosuch"]);
    let mut names: Vec<&String> = several.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "maxclients",
            "slowlog-log-slower-than",
            "slowlog-max-len",
            "timeout"
        ]
    );
    // An exact name comes back spelled as asked, once.
    let mut raw = server.raw();
    expect(
        &mut raw,
        &["CONFIG", "GET", "MAXCLIENTS", "maxclients"],
        "*2\r\n$10\r\nMAXCLIENTS\r\n$5\r\n10000\r\n",
    );
    expect(&mut raw, &["CONFIG", "GET", "nosuch"], "*0\r\n");
    // RESP3 clients get a map.
    let mut raw = server.raw();
    let mut pipeline = request(&["HELLO", "3"]);
    pipeline.extend(request(&["CONFIG", "GET", "maxclients"]));
    raw.send(&pipeline);
    let map = "%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n";
    let replies = read_until_suffix(&mut raw, map.as_bytes());
    assert!(
        replies.starts_with(b"%"),
        "{}",
        String::from_utf8_lossy(&replies)
    );
}

/// Reads until what came ends with `suffix` (or the read timeout), returning all of it.
fn read_until_suffix(raw: &mut Raw, suffix: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(suffix) {
        match std::io::Read::read(&mut raw.stream, &mut chunk) {
            Ok(0) | Err(_) => panic!(
                "no {:?} in {:?}",
                String::from_utf8_lossy(suffix),
                String::from_utf8_lossy(&got)
            ),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    got
}

#[test]
fn set_then_get_normalises_values() {
    let server = Server::start();
    let mut con = server.client();
    config_set(
        &mut con,
        &[
            ("maxmemory", "1GB"),
            ("activerehashing", "NO"),
            ("maxmemory-policy", "AllKeys-LRU"),
            ("notify-keyspace-events", "KEA"),
            ("save", "900 1 300 10"),
            ("hash-max-ziplist-entries", "100"),
            ("client-output-buffer-limit", "pubsub 1mb 2k 3"),
        ],
    )
    .unwrap();
    let got = config_get(
        &mut con,
        &[
            "maxmemory",
            "activerehashing",
            "maxmemory-policy",
            "notify-keyspace-events",
            "save",
            "hash-max-listpack-entries",
            "client-output-buffer-limit",
        ],
    );
    assert_eq!(got["maxmemory"], "1073741824");
    assert_eq!(got["activerehashing"], "no");
    assert_eq!(got["maxmemory-policy"], "allkeys-lru");
    assert_eq!(got["notify-keyspace-events"], "AKE");
    assert_eq!(got["save"], "900 1 300 10");
    assert_eq!(got["hash-max-listpack-entries"], "100");
    assert_eq!(
        got["client-output-buffer-limit"],
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 2000 3"
    );
}

#[test]
fn set_errors_are_redis_texts_and_change_nothing() {
    let server = Server::start();
    let mut raw = server.raw();
    expect(
        &mut raw,
        &["CONFIG", "SET", "maxclients", "5", "foo", "bar"],
        "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n",
    );
    expect(
        &mut raw,
        &["CONFIG", "SET", "maxclients", "abc"],
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument \
         couldn't be parsed into an integer\r\n",
    );
    expect(
        &mut raw,
        &["CONFIG", "SET", "maxclients", "0"],
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must \
         be between 1 and 4294967295 inclusive\r\n",
    );
    expect(
        &mut raw,
        &["CONFIG", "SET", "maxclients", "10", "MAXCLIENTS", "5"],
        "-ERR CONFIG SET failed (possibly related to argument 'MAXCLIENTS') - duplicate \
         parameter\r\n",
    );
    for immutable in ["databases", "port", "bind", "daemonize", "slaveof"] {
        expect(
            &mut raw,
            &["CONFIG", "SET", "timeout", "5", immutable, "1"],
            &format!(
                "-ERR CONFIG SET failed (possibly related to argument '{immutable}') - can't \
                 set immutable config\r\n"
            ),
        );
    }
    expect(
        &mut raw,
        &["CONFIG", "SET", "dbfilename", "x.rdb"],
        "-ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set \
         protected config\r\n",
    );
    expect(
        &mut raw,
        &["CONFIG", "SET", "maxmemory-policy", "lru"],
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - \
         argument(s) must be one of the following: volatile-lru, volatile-lfu, \
         volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, \
         noeviction\r\n",
    );
    expect(
        &mut raw,
        &["CONFIG", "SET", "maxclients", "1", "2"],
        "-ERR syntax error\r\n",
    );
    expect(
        &mut raw,
        &["CONFIG", "SET", "maxclients"],
        "-ERR wrong number of arguments for 'config|set' command\r\n",
    );
    expect(
        &mut raw,
        &["CONFIG", "FOO"],
        "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n",
    );
    // The valid pair before each failure was not applied either.
    expect(
        &mut raw,
        &["CONFIG", "GET", "maxclients", "timeout"],
        "*4\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n$7\r\ntimeout\r\n$1\r\n0\r\n",
    );
    expect(
        &mut raw,
        &["CONFIG", "REWRITE"],
        "-ERR The server is running without a config file\r\n",
    );
    expect(&mut raw, &["CONFIG", "RESETSTAT"], "+OK\r\n");
}

#[test]
fn help_lists_the_subcommands() {
    let server = Server::start();
    let mut con = server.client();
    let help: Vec<String> = redis::cmd("CONFIG").arg("HELP").query(&mut con).unwrap();
    assert_eq!(
        help[0],
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    );
    assert_eq!(help.len(), 11);
    assert_eq!(help[10], "    Prints this help.");
}

/// A bulk string above proto-max-bulk-len is refused once the limit is lowered, on every
/// core (new connections are spread over both by SO_REUSEPORT).
#[test]
fn proto_max_bulk_len_takes_effect_on_every_core() {
    let server = Server::start();
    let big = 2_000_000;
    let header = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${big}\r\n");
    let mut raw = server.raw();
    raw.send(header.as_bytes());
    raw.send(&vec![b'x'; big]);
    raw.roundtrip(b"\r\n", b"+OK\r\n");
    let mut con = server.client();
    config_set(&mut con, &[("proto-max-bulk-len", "1mb")]).unwrap();
    for _ in 0..8 {
        let mut raw = server.raw();
        raw.roundtrip(
            header.as_bytes(),
            b"-ERR Protocol error: invalid bulk length\r\n",
        );
        assert!(raw.is_closed());
    }
}

/// Connections past maxclients are refused once it is lowered, whichever core accepts them.
#[test]
fn maxclients_takes_effect_on_later_connections() {
    let server = Server::start();
    let mut admin = server.raw();
    expect(&mut admin, &["CONFIG", "SET", "maxclients", "2"], "+OK\r\n");
    // The harness's probe connection may not have been counted out yet: retry briefly.
    let _second = (0..100)
        .find_map(|_| {
            let mut raw = server.raw();
            raw.send(&request(&["PING"]));
            if raw.read_exactly(7) == b"+PONG\r\n" {
                return Some(raw);
            }
            std::thread::sleep(Duration::from_millis(20));
            None
        })
        .expect("a second client is allowed");
    for _ in 0..4 {
        let mut refused = server.raw();
        refused.roundtrip(b"", b"-ERR max number of clients reached\r\n");
    }
    expect(
        &mut admin,
        &["CONFIG", "SET", "maxclients", "10000"],
        "+OK\r\n",
    );
    let mut later = server.raw();
    expect(&mut later, &["PING"], "+PONG\r\n");
}

#[test]
fn loads_the_positional_config_file_and_rewrites_it() {
    let dir = temp_dir("load");
    let file = dir.join("holdfast.conf");
    std::fs::write(
        &file,
        format!(
            "# test configuration\nmaxclients 77\nhash-max-ziplist-entries 100\n\
             save 900 1\nsave 300 10\nappendonly yes\ndir \"{}\"\nslave-read-only no\n",
            dir.display()
        ),
    )
    .unwrap();
    let path = file.display().to_string();
    // An explicit durability: the harness then adds no --dir, and the file's `dir` holds
    // the log.
    let server = Server::start_with(&["--threads", "2", "--durability", "local", &path]);
    let mut con = server.client();
    assert!(
        std::fs::read_dir(&dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".seg")),
        "the log lives in the config file's dir"
    );
    let got = config_get(
        &mut con,
        &[
            "maxclients",
            "hash-max-listpack-entries",
            "save",
            "appendonly",
            "dir",
            "port",
        ],
    );
    assert_eq!(got["maxclients"], "77");
    assert_eq!(got["hash-max-listpack-entries"], "100");
    assert_eq!(got["save"], "900 1 300 10");
    assert_eq!(got["appendonly"], "yes");
    assert_eq!(
        got["dir"],
        dir.canonicalize().unwrap().display().to_string()
    );
    // The --port flag wins over the file.
    assert_eq!(got["port"], server.port.to_string());

    config_set(&mut con, &[("maxclients", "1234"), ("save", "")]).unwrap();
    let ok: String = redis::cmd("CONFIG").arg("REWRITE").query(&mut con).unwrap();
    assert_eq!(ok, "OK");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.starts_with("# test configuration\nmaxclients 1234\n"),
        "{written}"
    );
    assert!(written.contains("\nsave \"\"\n"), "{written}");
    assert!(written.contains("\nreplica-read-only no\n"), "{written}");
    assert!(
        written.contains(&format!("\nport {}\n", server.port)),
        "{written}"
    );
    drop(server);

    let again = Server::start_with(&["--threads", "2", &path]);
    let mut con = again.client();
    let got = config_get(&mut con, &["maxclients", "save"]);
    assert_eq!(got["maxclients"], "1234");
    assert_eq!(got["save"], "");
    drop(again);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_config_file_stops_the_server_naming_the_line() {
    let dir = temp_dir("bad");
    let file = dir.join("bad.conf");
    for (body, reason) in [
        (
            "maxclients 10\nfoo bar\n",
            "Bad directive or wrong number of arguments",
        ),
        (
            "maxclients 10\nmaxclients abc\n",
            "argument couldn't be parsed into an integer",
        ),
        (
            "maxclients 10\ndatabases 32\n",
            "Holdfast serves exactly 16 databases",
        ),
    ] {
        std::fs::write(&file, body).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_holdfast-server"))
            .args(["--port", &common::free_port().to_string(), "--threads", "1"])
            .arg(&file)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line = body.lines().nth(1).unwrap();
        assert!(
            stderr.contains(&format!(
                "Reading the configuration file, at line 2\n>>> '{line}'\n{reason}"
            )),
            "{stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dir_is_created_whatever_the_durability() {
    let parent = temp_dir("mkdir");
    let dir = parent.join("not-there-yet");
    let server = Server::start_with(&[
        "--threads",
        "1",
        "--durability",
        "none",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let mut con = server.client();
    let got = config_get(&mut con, &["dir"]);
    assert_eq!(
        got["dir"],
        dir.canonicalize().unwrap().display().to_string()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&parent);
}
