//! CLIENT TRACKING (client-side caching) between connections on both cores
//! (`--threads 2`): what the one-connection differential (diff/tracking.txt) cannot show.
//!
//! Every test talks raw RESP3 (or RESP2 for REDIRECT), as a caching client library does,
//! and checks the exact bytes Redis 7.0 sends: an invalidation reaches the reader whether
//! the key and the writer are on its core or the other one, once per read, after the
//! write's reply on the writer's own connection; and never when the mode says not to
//! (OPTIN without CACHING YES, NOLOOP, keys outside the BCAST prefixes).

mod common;
use common::Server;
use holdfast_server::shard::slot::key_core;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A connection speaking raw RESP.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Conn {
    fn open(server: &Server, resp3: bool) -> Conn {
        let stream = server.raw().stream;
        let mut conn = Conn {
            stream,
            pending: Vec::new(),
        };
        if resp3 {
            conn.send(&["HELLO", "3"]);
            // HELLO's map: read until the server replied, whatever its fields.
            conn.wait_for(b"modules");
            conn.pending.clear();
        }
        conn
    }

    fn send(&mut self, args: &[&str]) {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        self.stream.write_all(&request).unwrap();
    }

    /// Reads until `expected` arrived as the next bytes, and consumes them.
    fn expect(&mut self, expected: &[u8]) {
        self.fill_to(expected.len(), Duration::from_secs(5));
        let got = self.pending.drain(..expected.len().min(self.pending.len()));
        let got: Vec<u8> = got.collect();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected)
        );
    }

    fn call(&mut self, args: &[&str], reply: &[u8]) {
        self.send(args);
        self.expect(reply);
    }

    /// Nothing more arrives within a while.
    fn expect_silence(&mut self) {
        self.fill_to(usize::MAX, Duration::from_millis(300));
        assert!(
            self.pending.is_empty(),
            "unexpected: {}",
            String::from_utf8_lossy(&self.pending)
        );
    }

    fn wait_for(&mut self, needle: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.pending.windows(needle.len()).any(|w| w == needle) {
            assert!(Instant::now() < deadline, "timed out waiting");
            self.read_some(Duration::from_millis(100));
        }
        // The rest of HELLO's reply is short: let it arrive.
        self.read_some(Duration::from_millis(100));
    }

    fn fill_to(&mut self, len: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.pending.len() < len && Instant::now() < deadline {
            self.read_some(deadline.saturating_duration_since(Instant::now()));
        }
    }

    fn read_some(&mut self, within: Duration) {
        self.stream
            .set_read_timeout(Some(within.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 4096];
        if let Ok(n) = self.stream.read(&mut buf) {
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    fn id(&mut self) -> String {
        self.send(&["CLIENT", "ID"]);
        self.fill_to(4, Duration::from_secs(5));
        let end = self.pending.iter().position(|&b| b == b'\r').unwrap();
        let id = String::from_utf8_lossy(&self.pending[1..end]).into_owned();
        self.pending.drain(..end + 2);
        id
    }
}

/// A key owned by `core` (of two).
fn key_on(core: usize, stem: &str) -> String {
    (0..)
        .map(|i| format!("{stem}{i}"))
        .find(|key| key_core(key.as_bytes(), 2) == core)
        .unwrap()
}

fn push(keys: &[&str]) -> Vec<u8> {
    let mut frame = format!(">2\r\n$10\r\ninvalidate\r\n*{}\r\n", keys.len()).into_bytes();
    for key in keys {
        frame.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
    }
    frame
}

fn bulk(value: &str) -> Vec<u8> {
    format!("${}\r\n{value}\r\n", value.len()).into_bytes()
}

#[test]
fn default_mode_invalidates_readers_of_keys_on_both_cores_once() {
    let server = Server::start();
    let mut reader = Conn::open(&server, true);
    let mut writer = Conn::open(&server, true);
    reader.call(&["CLIENT", "TRACKING", "on"], b"+OK\r\n");
    for core in [0, 1] {
        let key = key_on(core, "k");
        writer.call(&["SET", &key, "1"], b"+OK\r\n");
        reader.call(&["GET", &key], &bulk("1"));
        writer.call(&["SET", &key, "2"], b"+OK\r\n");
        reader.expect(&push(&[&key]));
        // Forgotten once told: a second write owes nothing until the key is read again.
        writer.call(&["SET", &key, "3"], b"+OK\r\n");
        reader.expect_silence();
        // The reader's own write: the invalidation follows the write's reply.
        reader.call(&["GET", &key], &bulk("3"));
        reader.send(&["SET", &key, "4"]);
        let mut own = b"+OK\r\n".to_vec();
        own.extend_from_slice(&push(&[&key]));
        reader.expect(&own);
    }
    // A multi-core read (MGET over both cores) remembers every key it names.
    let (a, b) = (key_on(0, "m"), key_on(1, "m"));
    reader.send(&["MGET", &a, &b]);
    reader.expect(b"*2\r\n_\r\n_\r\n");
    writer.call(&["SET", &b, "x"], b"+OK\r\n");
    reader.expect(&push(&[&b]));
    writer.call(&["SET", &a, "y"], b"+OK\r\n");
    reader.expect(&push(&[&a]));
    reader.expect_silence();
    // A multi-core read inside the script (MGET over both cores) remembers both keys.
    let script = "#!lua flags=allow-cross-slot-keys\nreturn redis.call('mget', KEYS[1], KEYS[2])";
    reader.call(
        &["EVAL", script, "2", &a, &b],
        b"*2\r\n$1\r\ny\r\n$1\r\nx\r\n",
    );
    writer.call(&["SET", &a, "z"], b"+OK\r\n");
    reader.expect(&push(&[&a]));
    writer.call(&["SET", &b, "z"], b"+OK\r\n");
    reader.expect(&push(&[&b]));
    reader.expect_silence();
}

#[test]
fn optin_remembers_only_after_caching_yes_and_optout_skips_after_caching_no() {
    let server = Server::start();
    let mut writer = Conn::open(&server, true);
    let (a, b) = (key_on(0, "o"), key_on(1, "o"));
    let mut optin = Conn::open(&server, true);
    optin.call(&["CLIENT", "TRACKING", "on", "OPTIN"], b"+OK\r\n");
    optin.call(&["GET", &a], b"_\r\n");
    optin.call(&["CLIENT", "CACHING", "yes"], b"+OK\r\n");
    optin.call(&["GET", &b], b"_\r\n");
    writer.call(&["MSET", &a, "1", &b, "1"], b"+OK\r\n");
    optin.expect(&push(&[&b]));
    optin.expect_silence();

    let mut optout = Conn::open(&server, true);
    optout.call(&["CLIENT", "TRACKING", "on", "OPTOUT"], b"+OK\r\n");
    optout.call(&["CLIENT", "CACHING", "no"], b"+OK\r\n");
    optout.call(&["GET", &a], &bulk("1"));
    optout.call(&["GET", &b], &bulk("1"));
    writer.call(&["MSET", &a, "2", &b, "2"], b"+OK\r\n");
    optout.expect(&push(&[&b]));
    optout.expect_silence();
}

#[test]
fn bcast_sends_changed_keys_under_the_prefixes_and_noloop_spares_own_writes() {
    let server = Server::start();
    let mut bcast = Conn::open(&server, true);
    let mut writer = Conn::open(&server, true);
    bcast.call(
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "NOLOOP",
        ],
        b"+OK\r\n",
    );
    let (a, b) = (key_on(0, "user:"), key_on(1, "user:"));
    for key in [&a, &b] {
        writer.call(&["SET", key, "1"], b"+OK\r\n");
        bcast.expect(&push(&[key]));
    }
    writer.call(&["SET", "item:1", "1"], b"+OK\r\n");
    bcast.call(&["SET", &a, "mine"], b"+OK\r\n");
    bcast.expect_silence();
    // A transaction's keys under one prefix on one core come in one message.
    let c = key_on(0, "user:x");
    writer.call(&["MULTI"], b"+OK\r\n");
    writer.call(&["SET", &a, "2"], b"+QUEUED\r\n");
    writer.call(&["SET", &c, "2"], b"+QUEUED\r\n");
    writer.call(&["EXEC"], b"*2\r\n+OK\r\n+OK\r\n");
    let mut both = [a.as_str(), c.as_str()];
    both.sort();
    bcast.expect(&push(&both));
}

/// Redis sends a BCAST client one message per prefix (prefixes in byte order, each
/// prefix's keys sorted), not one for everything a command changed.
#[test]
fn bcast_sends_one_message_per_prefix() {
    let server = Server::start();
    let mut bcast = Conn::open(&server, true);
    let mut writer = Conn::open(&server, true);
    bcast.call(
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "PREFIX", "item:",
        ],
        b"+OK\r\n",
    );
    // One hash tag: both keys on one core, changed by one command, gathered together.
    let (user, item) = ("user:{t}1", "item:{t}2");
    writer.call(&["MSET", user, "1", item, "2"], b"+OK\r\n");
    bcast.expect(&push(&[item]));
    bcast.expect(&push(&[user]));
}

#[test]
fn redirect_to_a_resp2_subscriber_on_either_core_and_broken_redirect() {
    let server = Server::start();
    let mut writer = Conn::open(&server, false);
    // Connections alternate between the two cores: a few make both placements likely.
    for round in 0..3 {
        let mut listener = Conn::open(&server, false);
        let listener_id = listener.id();
        listener.call(
            &["SUBSCRIBE", "__redis__:invalidate"],
            b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
        );
        let mut tracker = Conn::open(&server, false);
        tracker.call(
            &["CLIENT", "TRACKING", "on", "REDIRECT", &listener_id],
            b"+OK\r\n",
        );
        tracker.call(
            &["CLIENT", "GETREDIR"],
            format!(":{listener_id}\r\n").as_bytes(),
        );
        let key = key_on(round % 2, "r");
        tracker.call(&["GET", &key], b"$-1\r\n");
        writer.call(&["SET", &key, "1"], b"+OK\r\n");
        let message = format!(
            "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n${}\r\n{key}\r\n",
            key.len()
        );
        listener.expect(message.as_bytes());
        writer.call(&["FLUSHALL"], b"+OK\r\n");
        listener.expect(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n");

        drop(listener);
        let info = format!("*6\r\n$5\r\nflags\r\n*2\r\n$2\r\non\r\n$15\r\nbroken_redirect\r\n$8\r\nredirect\r\n:{listener_id}\r\n$8\r\nprefixes\r\n*0\r\n");
        // Generous: a debug build under a parallel test run once needed more than 5 s.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Until the server has seen the listener go, invalidations still reach it:
            // read and change the key again each round.
            tracker.send(&["GET", &key]);
            tracker.fill_to(1, Duration::from_secs(5));
            tracker.pending.clear();
            writer.call(&["SET", &key, "2"], b"+OK\r\n");
            std::thread::sleep(Duration::from_millis(20));
            tracker.send(&["CLIENT", "TRACKINGINFO"]);
            tracker.fill_to(info.len(), Duration::from_secs(5));
            let got: Vec<u8> = tracker.pending.drain(..).collect();
            if got == info.as_bytes() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}",
                String::from_utf8_lossy(&got)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn resp3_client_with_a_gone_redirect_is_told() {
    let server = Server::start();
    let mut listener = Conn::open(&server, true);
    let listener_id = listener.id();
    listener.call(&["CLIENT", "TRACKING", "on"], b"+OK\r\n");
    let mut tracker = Conn::open(&server, true);
    tracker.call(
        &["CLIENT", "TRACKING", "on", "REDIRECT", &listener_id],
        b"+OK\r\n",
    );
    let key = key_on(1, "g");
    drop(listener);
    let mut writer = Conn::open(&server, false);
    let broken = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{listener_id}\r\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    // Until the server has seen the listener go, invalidations still reach it: read and
    // change the key again each round.
    while !tracker
        .pending
        .windows(broken.len())
        .any(|w| w == broken.as_bytes())
    {
        assert!(Instant::now() < deadline, "no tracking-redir-broken push");
        tracker.send(&["GET", &key]);
        writer.call(&["SET", &key, "1"], b"+OK\r\n");
        tracker.read_some(Duration::from_millis(100));
    }
}

#[test]
fn flushes_expiry_and_scripts_invalidate() {
    let server = Server::start();
    let mut reader = Conn::open(&server, true);
    let mut writer = Conn::open(&server, true);
    reader.call(&["CLIENT", "TRACKING", "on"], b"+OK\r\n");
    // FLUSHALL and FLUSHDB: one null each, even with nothing remembered.
    writer.call(&["FLUSHALL"], b"+OK\r\n");
    reader.expect(b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    writer.call(&["FLUSHDB"], b"+OK\r\n");
    reader.expect(b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    reader.expect_silence();
    // Expiry, found by the active cycle (nobody reads the key again).
    let key = key_on(1, "e");
    writer.call(&["SET", &key, "v", "PX", "400"], b"+OK\r\n");
    reader.call(&["GET", &key], &bulk("v"));
    reader.expect(&push(&[&key]));
    // A script's writes, on both cores, from a script allowed to cross them.
    let (a, b) = (key_on(0, "s"), key_on(1, "s"));
    reader.send(&["MGET", &a, &b]);
    reader.expect(b"*2\r\n_\r\n_\r\n");
    let script = "#!lua flags=allow-cross-slot-keys\nredis.call('set', KEYS[1], 'x') redis.call('set', KEYS[2], 'y') return 1";
    writer.call(&["EVAL", script, "2", &a, &b], b":1\r\n");
    let mut got = Vec::new();
    for _ in 0..2 {
        reader.fill_to(push(&[&a]).len(), Duration::from_secs(5));
        let frame: Vec<u8> = reader.pending.drain(..push(&[&a]).len()).collect();
        got.push(frame);
    }
    got.sort();
    let mut want = vec![push(&[&a]), push(&[&b])];
    want.sort();
    assert_eq!(got, want);
    // The INFO counters see the tables and the tracking client.
    reader.call(&["GET", &a], &bulk("x"));
    writer.send(&["INFO", "everything"]);
    writer.wait_for(b"tracking_total_prefixes");
    let info = String::from_utf8_lossy(&writer.pending).into_owned();
    assert!(info.contains("tracking_clients:1\r\n"), "{info}");
    assert!(info.contains("tracking_total_keys:1\r\n"), "{info}");
    assert!(info.contains("tracking_total_items:1\r\n"), "{info}");
}

/// GETDEL, GETEX, EXPIRE/PERSIST and MOVE change the key a client read: it is told, on
/// either core, as Redis tells it (they look the key up as a read and change it after).
#[test]
fn getdel_getex_expiry_and_move_invalidate() {
    let server = Server::start();
    let mut reader = Conn::open(&server, true);
    let mut writer = Conn::open(&server, true);
    reader.call(&["CLIENT", "TRACKING", "on"], b"+OK\r\n");
    for core in [0, 1] {
        let key = key_on(core, "g");
        let changes: [(&[&str], &[u8]); 6] = [
            (&["GETEX", &key, "EX", "100"], b"$1\r\nv\r\n"),
            (&["GETEX", &key, "PERSIST"], b"$1\r\nv\r\n"),
            (&["EXPIRE", &key, "100"], b":1\r\n"),
            (&["PERSIST", &key], b":1\r\n"),
            (&["MOVE", &key, "5"], b":1\r\n"),
            (&["GETDEL", &key], b"$1\r\nv\r\n"),
        ];
        for (change, reply) in changes {
            writer.call(&["SELECT", "0"], b"+OK\r\n");
            writer.call(&["SET", &key, "v", "EX", "100"], b"+OK\r\n");
            reader.call(&["GET", &key], &bulk("v"));
            writer.call(change, reply);
            reader.expect(&push(&[&key]));
            // MOVE's copy in database 5 goes (the DEL replies 0 or 1).
            writer.call(&["SELECT", "5"], b"+OK\r\n");
            writer.send(&["DEL", &key]);
            writer.fill_to(4, Duration::from_secs(5));
            writer.pending.clear();
        }
        // GETEX without options changes nothing: the reader keeps its copy.
        writer.call(&["SELECT", "0"], b"+OK\r\n");
        writer.call(&["SET", &key, "v"], b"+OK\r\n");
        reader.call(&["GET", &key], &bulk("v"));
        writer.call(&["GETEX", &key], &bulk("v"));
        reader.expect_silence();
    }
}

#[test]
fn tracking_table_max_keys_evicts_with_invalidations() {
    let server = Server::start();
    let mut reader = Conn::open(&server, true);
    let mut admin = Conn::open(&server, false);
    admin.call(
        &["CONFIG", "SET", "tracking-table-max-keys", "1"],
        b"+OK\r\n",
    );
    reader.call(&["CLIENT", "TRACKING", "on"], b"+OK\r\n");
    let (a, b) = (key_on(0, "t"), format!("{{{}}}2", key_on(0, "t")));
    reader.call(&["GET", &a], b"_\r\n");
    // Remembering a second key goes past the limit: one key is dropped, its reader told.
    reader.send(&["GET", &b]);
    reader.expect(b"_\r\n");
    reader.fill_to(
        push(&[&a]).len().min(push(&[&b]).len()),
        Duration::from_secs(5),
    );
    let told = String::from_utf8_lossy(&reader.pending).into_owned();
    assert!(
        told.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n"),
        "{told}"
    );
}

#[test]
fn reads_in_a_transaction_are_remembered_and_reads_invalidate_nothing() {
    let server = Server::start();
    let mut reader = Conn::open(&server, true);
    let mut writer = Conn::open(&server, true);
    let (a, b) = (key_on(0, "x"), key_on(1, "x"));
    writer.call(&["MSET", &a, "1", &b, "1"], b"+OK\r\n");
    reader.call(&["CLIENT", "TRACKING", "on"], b"+OK\r\n");
    reader.call(&["MULTI"], b"+OK\r\n");
    reader.call(&["MGET", &a, &b], b"+QUEUED\r\n");
    reader.call(&["EXEC"], b"*1\r\n*2\r\n$1\r\n1\r\n$1\r\n1\r\n");
    // Reads of every kind by any client change nothing: no invalidation.
    let reads: [(&[&str], &[u8]); 6] = [
        (&["GET", &a], b"$1\r\n1\r\n"),
        (&["STRLEN", &a], b":1\r\n"),
        (&["TYPE", &a], b"+string\r\n"),
        (&["TTL", &a], b":-1\r\n"),
        (&["EXISTS", &a, &b], b":2\r\n"),
        (&["OBJECT", "ENCODING", &a], b"$3\r\nint\r\n"),
    ];
    for (args, reply) in reads {
        writer.call(args, reply);
        reader.call(args, reply);
    }
    // Deleting a key that is not there changes nothing either.
    let missing = key_on(1, "missing");
    reader.call(&["GET", &missing], b"_\r\n");
    writer.call(&["DEL", &missing], b":0\r\n");
    reader.expect_silence();
    writer.call(&["SET", &a, "2"], b"+OK\r\n");
    reader.expect(&push(&[&a]));
    writer.call(&["SET", &b, "2"], b"+OK\r\n");
    reader.expect(&push(&[&b]));
}

/// A script's reads are remembered for the client that ran it, as Redis's call() does for
/// the commands a script executes, whichever core owns the key: EVAL and EVAL_RO, one
/// key per core, and a script allowed to cross cores that reads both.
#[test]
fn keys_a_script_reads_are_remembered_on_their_own_core() {
    let server = Server::start();
    let mut reader = Conn::open(&server, true);
    let mut writer = Conn::open(&server, true);
    reader.call(&["CLIENT", "TRACKING", "on"], b"+OK\r\n");
    let read = "return redis.call('get', KEYS[1])";
    for command in ["EVAL", "EVAL_RO"] {
        for core in [0, 1] {
            let key = key_on(core, &format!("{command}-s"));
            writer.call(&["SET", &key, "1"], b"+OK\r\n");
            reader.call(&[command, read, "1", &key], &bulk("1"));
            writer.call(&["SET", &key, "2"], b"+OK\r\n");
            reader.expect(&push(&[&key]));
            reader.expect_silence();
        }
    }
    let (a, b) = (key_on(0, "both"), key_on(1, "both"));
    let script = "#!lua flags=allow-cross-slot-keys\nreturn {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}";
    writer.call(&["MSET", &a, "1", &b, "1"], b"+OK\r\n");
    reader.call(
        &["EVAL", script, "2", &a, &b],
        b"*2\r\n$1\r\n1\r\n$1\r\n1\r\n",
    );
    writer.call(&["SET", &b, "x"], b"+OK\r\n");
    reader.expect(&push(&[&b]));
    writer.call(&["SET", &a, "y"], b"+OK\r\n");
    reader.expect(&push(&[&a]));
    reader.expect_silence();
    // A multi-core read inside the script (MGET over both cores) remembers both keys.
    let script = "#!lua flags=allow-cross-slot-keys\nreturn redis.call('mget', KEYS[1], KEYS[2])";
    reader.call(
        &["EVAL", script, "2", &a, &b],
        b"*2\r\n$1\r\ny\r\n$1\r\nx\r\n",
    );
    writer.call(&["SET", &a, "z"], b"+OK\r\n");
    reader.expect(&push(&[&a]));
    writer.call(&["SET", &b, "z"], b"+OK\r\n");
    reader.expect(&push(&[&b]));
    reader.expect_silence();
}

/// A RESP3 connection that neither tracks nor subscribes still gets the invalidations
/// redirected to it, as pushes, while it sits idle (Redis's sendTrackingMessage), on
/// either core; one that went back to RESP2 gets nothing, as in Redis.
#[test]
fn redirect_to_an_idle_resp3_connection() {
    let server = Server::start();
    let mut writer = Conn::open(&server, false);
    // Connections alternate between the two cores: four rounds place the listener and the
    // tracker on both, and the key on both.
    for round in 0..4 {
        let mut listener = Conn::open(&server, true);
        let listener_id = listener.id();
        let mut tracker = Conn::open(&server, false);
        tracker.call(
            &["CLIENT", "TRACKING", "on", "REDIRECT", &listener_id],
            b"+OK\r\n",
        );
        let key = key_on(round % 2, "i");
        tracker.call(&["GET", &key], b"$-1\r\n");
        writer.call(&["SET", &key, "1"], b"+OK\r\n");
        listener.expect(&push(&[&key]));
        writer.call(&["FLUSHALL"], b"+OK\r\n");
        listener.expect(b">2\r\n$10\r\ninvalidate\r\n$-1\r\n");
        listener.expect_silence();

        listener.call(&["HELLO", "2"], b"*14\r\n");
        listener.fill_to(usize::MAX, Duration::from_millis(200));
        listener.pending.clear();
        tracker.call(&["GET", &key], b"$-1\r\n");
        writer.call(&["SET", &key, "2"], b"+OK\r\n");
        listener.expect_silence();
    }
}
