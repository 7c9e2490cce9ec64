//! Geo end to end against the real redis-server: random points near the equator, the
//! antimeridian and the poles, random radius and box searches of every form with their
//! options, replies compared exactly (including the order of unsorted results, which
//! follows the cells Redis scans); stores whose destination is on the other core than
//! the source; and the stored sets surviving a restart.

mod common;
use common::{RedisServer, Server, TempDir};
use holdfast_server::shard::slot::key_core;
use redis::{Connection, Value};

fn key_on(core: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|key| key_core(key.as_bytes(), 2) == core)
        .unwrap()
}

fn run(con: &mut Connection, args: &[String]) -> Result<Value, String> {
    let mut cmd = redis::cmd(&args[0]);
    for arg in &args[1..] {
        cmd.arg(arg);
    }
    cmd.query::<Value>(con).map_err(|e| e.to_string())
}

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A deterministic generator, so a failure names a seed that replays it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (high - low)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const CENTRES: [(f64, f64); 7] = [
    (0.0, 0.0),
    (179.9, 10.0),
    (-179.9, -10.0),
    (13.0, 38.0),
    (20.0, 70.0),
    (-40.0, 82.0),
    (100.0, -84.5),
];

/// GEOADD of `n` points clustered around the centres, on both servers.
fn populate(rng: &mut Rng, cons: &mut [&mut Connection], key: &str, n: usize) {
    let mut args = words(&["GEOADD", key]);
    for i in 0..n {
        let (cx, cy) = *rng.pick(&CENTRES);
        let spread = *rng.pick(&[0.01, 0.5, 5.0, 40.0]);
        let long = (cx + rng.uniform(-spread, spread)).clamp(-180.0, 180.0);
        let lat = (cy + rng.uniform(-spread, spread)).clamp(-85.05, 85.05);
        args.extend([format!("{long:.6}"), format!("{lat:.6}"), format!("m{i}")]);
    }
    for con in cons.iter_mut() {
        run(con, &args).unwrap();
    }
}

/// A random search of any form over `src`, storing into `dst` for the STORE forms.
fn random_search(rng: &mut Rng, src: &str, dst: &str) -> Vec<String> {
    let (cx, cy) = *rng.pick(&CENTRES);
    let long = format!("{:.5}", (cx + rng.uniform(-1.0, 1.0)).clamp(-180.0, 180.0));
    let lat = format!("{:.5}", (cy + rng.uniform(-1.0, 1.0)).clamp(-85.0, 85.0));
    let (unit, meters_per_unit) = *rng.pick(&[("m", 1.0), ("km", 1000.0), ("mi", 1609.34)]);
    let meters = *rng.pick(&[10.0, 1000.0, 50_000.0, 300_000.0, 2e6, 8e6, 25e6]);
    let radius = format!("{}", meters / meters_per_unit);
    let height = format!("{}", meters / meters_per_unit * rng.uniform(0.3, 2.0));
    let order = *rng.pick(&[
        &[][..],
        &["ASC"],
        &["DESC"],
        &["COUNT", "5"],
        &["COUNT", "3", "ANY"],
    ]);
    let with = *rng.pick(&[
        &[][..],
        &["WITHDIST"],
        &["WITHDIST", "WITHHASH", "WITHCOORD"],
    ]);
    let member = format!("m{}", rng.below(300));
    let mut args = match rng.below(6) {
        0 => words(&[
            "GEOSEARCH",
            src,
            "FROMLONLAT",
            &long,
            &lat,
            "BYRADIUS",
            &radius,
            unit,
        ]),
        1 => words(&[
            "GEOSEARCH",
            src,
            "FROMMEMBER",
            &member,
            "BYBOX",
            &radius,
            &height,
            unit,
        ]),
        2 => words(&["GEORADIUS_RO", src, &long, &lat, &radius, unit]),
        3 => words(&["GEORADIUSBYMEMBER", src, &member, &radius, unit]),
        4 => words(&[
            "GEOSEARCHSTORE",
            dst,
            src,
            "FROMLONLAT",
            &long,
            &lat,
            "BYBOX",
            &radius,
            &height,
            unit,
        ]),
        _ => words(&[
            "GEORADIUS",
            src,
            &long,
            &lat,
            &radius,
            unit,
            "STOREDIST",
            dst,
        ]),
    };
    let stores = args[0] == "GEOSEARCHSTORE" || args.contains(&"STOREDIST".to_string());
    args.extend(order.iter().map(|w| w.to_string()));
    if !stores {
        args.extend(with.iter().map(|w| w.to_string()));
    }
    args
}

#[test]
fn random_searches_match_redis_with_sources_and_destinations_on_both_cores() {
    let seed = std::env::var("GEO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng(seed);
    let redis = RedisServer::start(&[]).expect("redis-server is installed");
    let mut theirs = redis.client();
    let server = Server::start();
    let mut mine = server.client();
    let sources = [key_on(0, "big:"), key_on(1, "big:"), key_on(0, "small:")];
    let destinations = [key_on(0, "dst:"), key_on(1, "dst:")];
    for (source, n) in sources.iter().zip([2000, 1500, 100]) {
        populate(&mut rng, &mut [&mut theirs, &mut mine], source, n);
    }
    for round in 0..300 {
        let src = rng.pick(&sources).clone();
        let dst = rng.pick(&destinations).clone();
        let args = random_search(&mut rng, &src, &dst);
        let expected = run(&mut theirs, &args);
        let got = run(&mut mine, &args);
        assert_eq!(got, expected, "seed {seed}, round {round}: {args:?}");
        if args[0] == "GEOSEARCHSTORE" || args[0] == "GEORADIUS" {
            let range = words(&["ZRANGE", &dst, "0", "-1", "WITHSCORES"]);
            assert_eq!(
                run(&mut mine, &range),
                run(&mut theirs, &range),
                "seed {seed}, round {round}: stored by {args:?}"
            );
        }
    }
}

#[test]
fn geoadd_and_stores_survive_a_restart() {
    let dir = TempDir::new("geo-replay");
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let (src, dst, dst2) = (key_on(0, "src:"), key_on(1, "dst:"), key_on(0, "dst:"));
    let add = words(&[
        "GEOADD",
        &src,
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
        "12.5",
        "37.8",
        "Marsala",
    ]);
    run(&mut con, &add).unwrap();
    let store = words(&[
        "GEOSEARCHSTORE",
        &dst,
        &src,
        "FROMMEMBER",
        "Palermo",
        "BYRADIUS",
        "200",
        "km",
        "STOREDIST",
    ]);
    assert_eq!(run(&mut con, &store), Ok(Value::Int(3)));
    let radius = words(&["GEORADIUS", &src, "15", "37", "100", "km", "STORE", &dst2]);
    assert_eq!(run(&mut con, &radius), Ok(Value::Int(1)));
    let read = |con: &mut Connection| -> Vec<Value> {
        [&src, &dst, &dst2]
            .map(|k| run(con, &words(&["ZRANGE", k, "0", "-1", "WITHSCORES"])).unwrap())
            .to_vec()
    };
    let before = read(&mut con);
    drop(con);
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    assert_eq!(read(&mut con), before);
}
