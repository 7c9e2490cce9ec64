//! Random sorted set command streams sent to a real redis-server and to Holdfast, raw
//! replies compared byte for byte, under several encoding thresholds so sets cross
//! between listpack and skiplist while the stream runs. It reaches combinations no
//! hand-written case file lists: options mixed with ranges and LIMITs, stores into keys
//! that are also sources, -0 and inf scores through every path. Lex ranges run on a key
//! whose scores are all equal (Redis leaves them unspecified otherwise), and ZSCAN only on
//! listpacks (a skiplist's scan order is the hash table's).
//!
//! Every run prints its seed; `HOLDFAST_ZSET_SEED=<seed>` replays one,
//! `HOLDFAST_ZSET_STEPS` sets the stream length per threshold pair.

mod common;
use common::{RedisServer, Server};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// One connection that sends a command and reads one raw reply.
struct Peer {
    out: TcpStream,
    input: BufReader<TcpStream>,
}

impl Peer {
    fn open(port: u16) -> Peer {
        let out = TcpStream::connect(("127.0.0.1", port)).unwrap();
        Peer {
            input: BufReader::new(out.try_clone().unwrap()),
            out,
        }
    }

    fn call(&mut self, args: &[String]) -> Vec<u8> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend(format!("${}\r\n{arg}\r\n", arg.len()).bytes());
        }
        self.out.write_all(&request).unwrap();
        let mut reply = Vec::new();
        self.read_reply(&mut reply);
        reply
    }

    fn read_reply(&mut self, reply: &mut Vec<u8>) {
        let start = reply.len();
        self.input.read_until(b'\n', reply).unwrap();
        let line = String::from_utf8_lossy(&reply[start..])
            .trim_end()
            .to_string();
        let n: i64 = line[1..].parse().unwrap_or(0);
        match line.as_bytes()[0] {
            b'$' if n >= 0 => {
                let mut body = vec![0; n as usize + 2];
                self.input.read_exact(&mut body).unwrap();
                reply.extend(body);
            }
            b'*' | b'~' => (0..n).for_each(|_| self.read_reply(reply)),
            b'%' => (0..2 * n).for_each(|_| self.read_reply(reply)),
            _ => {}
        }
    }
}

const KEYS: &[&str] = &["za", "zb", "{za}c", "zd", "ze", "str"];
const MEMBERS: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "aa",
    "ab",
    "longmember",
    "x",
];
const SCORES: &[&str] = &[
    "0", "1", "-1", "2.5", "-inf", "+inf", "3", "1e3", "-0", "0.1", "10",
];
const BOUNDS: &[&str] = &[
    "-inf", "+inf", "0", "1", "(1", "2.5", "(2.5", "3", "(-1", "10",
];
const LEX: &[&str] = &[
    "-",
    "+",
    "[a",
    "(a",
    "[b",
    "(c",
    "[aa",
    "(longmember",
    "[x",
    "[h",
];
const WEIGHTS: &[&str] = &["1", "2", "-1", "0", "0.5", "inf"];

struct Gen(Rng);

impl Gen {
    fn key(&mut self) -> String {
        self.0.pick(KEYS).into()
    }
    fn member(&mut self) -> String {
        self.0.pick(MEMBERS).into()
    }
    fn score(&mut self) -> String {
        self.0.pick(SCORES).into()
    }
    fn bound(&mut self) -> String {
        self.0.pick(BOUNDS).into()
    }
    fn lex(&mut self) -> String {
        self.0.pick(LEX).into()
    }
    fn index(&mut self) -> String {
        (self.0.below(17) as i64 - 8).to_string()
    }

    fn limit(&mut self) -> Vec<String> {
        match self.0.below(3) {
            0 => vec!["LIMIT".into(), self.index(), self.index()],
            _ => vec![],
        }
    }

    fn some(&mut self, options: &[&str]) -> Vec<String> {
        options
            .iter()
            .filter(|_| self.0.below(3) == 0)
            .map(|o| o.to_string())
            .collect()
    }

    /// numkeys and that many keys.
    fn sources(&mut self) -> Vec<String> {
        let n = 1 + self.0.below(3);
        let mut args = vec![n.to_string()];
        args.extend((0..n).map(|_| self.key()));
        args
    }

    fn weights(&mut self, n: usize) -> Vec<String> {
        let mut args = Vec::new();
        if self.0.below(5) < 2 {
            args.push("WEIGHTS".into());
            args.extend((0..n).map(|_| self.0.pick(WEIGHTS).to_string()));
        }
        if self.0.below(5) < 2 {
            args.push("AGGREGATE".into());
            args.push(self.0.pick(&["SUM", "MIN", "MAX"]).into());
        }
        args
    }

    fn command(&mut self) -> Vec<String> {
        let s = |items: &[&str]| items.iter().map(|i| i.to_string()).collect::<Vec<_>>();
        let (k, k2) = (self.key(), self.key());
        // Adds outnumber removals, so sets grow past the thresholds and overlap.
        match self.0.below(31) {
            0..=9 => {
                let mut args = [
                    s(&["ZADD"]),
                    vec![k],
                    self.some(&["NX", "XX", "GT", "LT", "CH", "INCR"]),
                ]
                .concat();
                for _ in 0..1 + self.0.below(4) {
                    args.push(self.score());
                    args.push(self.member());
                }
                args
            }
            10 => vec!["ZINCRBY".into(), k, self.score(), self.member()],
            11 => vec!["ZREM".into(), k, self.member(), self.member()],
            12 => [
                s(&["ZRANGE"]),
                vec![k, self.index(), self.index()],
                self.some(&["REV", "WITHSCORES"]),
            ]
            .concat(),
            13 => [
                s(&["ZRANGE"]),
                vec![k, self.bound(), self.bound(), "BYSCORE".into()],
                self.some(&["REV", "WITHSCORES"]),
                self.limit(),
            ]
            .concat(),
            14 => [
                s(&["ZRANGE", "zl"]),
                vec![self.lex(), self.lex(), "BYLEX".into()],
                self.some(&["REV"]),
                self.limit(),
            ]
            .concat(),
            15 => vec!["ZLEXCOUNT".into(), "zl".into(), self.lex(), self.lex()],
            16 => vec![
                "ZADD".into(),
                "zl".into(),
                "0".into(),
                self.member(),
                "0".into(),
                self.member(),
            ],
            17 => vec!["ZREMRANGEBYLEX".into(), "zl".into(), self.lex(), self.lex()],
            18 => vec!["ZCOUNT".into(), k, self.bound(), self.bound()],
            19 => vec![
                self.0.pick(&["ZRANK", "ZREVRANK", "ZSCORE"]).into(),
                k,
                self.member(),
            ],
            20 => [
                vec![self.0.pick(&["ZPOPMIN", "ZPOPMAX"]).into(), k],
                self.some(&["2"]),
            ]
            .concat(),
            21 => vec!["ZREMRANGEBYRANK".into(), k, self.index(), self.index()],
            22 => vec!["ZREMRANGEBYSCORE".into(), k, self.bound(), self.bound()],
            23..=24 => {
                let store = self.0.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]);
                let sources = self.sources();
                let n = sources.len() - 1;
                let weights = if store == "ZDIFFSTORE" {
                    vec![]
                } else {
                    self.weights(n)
                };
                [vec![store.to_string(), k], sources, weights].concat()
            }
            25..=26 => {
                let op = self.0.pick(&["ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD"]);
                let sources = self.sources();
                let n = sources.len() - 1;
                let options = match op {
                    "ZDIFF" => self.some(&["WITHSCORES"]),
                    "ZINTERCARD" => self.limit_card(),
                    _ => [self.weights(n), self.some(&["WITHSCORES"])].concat(),
                };
                [vec![op.to_string()], sources, options].concat()
            }
            27 => [
                s(&["ZRANGESTORE"]),
                vec![k, k2, self.bound(), self.bound(), "BYSCORE".into()],
                self.some(&["REV"]),
                self.limit(),
            ]
            .concat(),
            28 => [
                s(&["ZRANGESTORE"]),
                vec![k, k2, self.index(), self.index()],
                self.some(&["REV"]),
            ]
            .concat(),
            29 => {
                let end = self.0.pick(&["MIN", "MAX"]).to_string();
                [s(&["ZMPOP"]), self.sources(), vec![end], self.count()].concat()
            }
            _ => vec!["ZRANDMEMBER".into(), k, "20".into(), "WITHSCORES".into()],
        }
    }

    fn limit_card(&mut self) -> Vec<String> {
        match self.0.below(3) {
            0 => vec!["LIMIT".into(), self.0.below(3).to_string()],
            _ => vec![],
        }
    }

    fn count(&mut self) -> Vec<String> {
        match self.0.below(2) {
            0 => vec!["COUNT".into(), (1 + self.0.below(3)).to_string()],
            _ => vec![],
        }
    }
}

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|i| i.to_string()).collect()
}

/// Runs one stream under one pair of thresholds; returns the mismatches found.
fn run_stream(
    theirs: &mut Peer,
    ours: &mut Peer,
    gen: &mut Gen,
    limits: (&str, &str),
    steps: usize,
) -> Vec<String> {
    let mut both = |args: &[String]| (theirs.call(args), ours.call(args));
    both(&words(&["FLUSHALL"]));
    both(&words(&[
        "CONFIG",
        "SET",
        "zset-max-listpack-entries",
        limits.0,
    ]));
    both(&words(&[
        "CONFIG",
        "SET",
        "zset-max-listpack-value",
        limits.1,
    ]));
    both(&words(&["SET", "str", "x"]));
    let mut mismatches = Vec::new();
    for step in 0..steps {
        let args = gen.command();
        let (expected, got) = both(&args);
        if expected != got {
            mismatches.push(format!(
                "limits {limits:?} step {step}: {}\n    redis: {:?}\n    ours:  {:?}",
                args.join(" "),
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&got)
            ));
        }
        if step % 50 == 49 {
            for key in KEYS.iter().chain(&["zl"]) {
                let (expected, got) = both(&words(&["ZRANGE", key, "0", "-1", "WITHSCORES"]));
                let packed = both(&words(&["OBJECT", "ENCODING", key]));
                if expected != got || packed.0 != packed.1 {
                    mismatches.push(format!("limits {limits:?} step {step}: {key} differs"));
                }
                if packed.0 == b"$8\r\nlistpack\r\n" {
                    let (expected, got) = both(&words(&["ZSCAN", key, "0"]));
                    if expected != got {
                        mismatches.push(format!(
                            "limits {limits:?} step {step}: ZSCAN {key} differs"
                        ));
                    }
                }
            }
        }
        if mismatches.len() >= 10 {
            break;
        }
    }
    mismatches
}

#[test]
fn random_command_streams_reply_as_redis_server_does() {
    let Some(redis) = RedisServer::start(&[]) else {
        eprintln!("skipped: redis-server is not installed, nothing to compare with");
        return;
    };
    let server = Server::start();
    let seed = std::env::var("HOLDFAST_ZSET_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let steps = std::env::var("HOLDFAST_ZSET_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    println!("seed {seed} (HOLDFAST_ZSET_SEED={seed} replays it)");
    let mut gen = Gen(Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1));
    let mut theirs = Peer::open(redis.port);
    let mut ours = Peer::open(server.port);
    let mut mismatches = Vec::new();
    for limits in [("6", "6"), ("0", "64"), ("128", "64"), ("2", "3")] {
        mismatches.extend(run_stream(&mut theirs, &mut ours, &mut gen, limits, steps));
    }
    assert!(
        mismatches.is_empty(),
        "seed {seed}:\n{}",
        mismatches.join("\n")
    );
}
