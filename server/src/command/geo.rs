//! Geo commands, with Redis 7.0's replies and error texts, over sorted sets whose scores
//! are 52-bit geohashes (command/geohash.rs does the arithmetic).
//!
//! ```text
//! one key   (Handler::Shard)  GEOADD GEODIST GEOHASH GEOPOS GEOSEARCH
//!                             GEORADIUS_RO GEORADIUSBYMEMBER_RO
//! any keys  (Handler::Multi)  GEOSEARCHSTORE, GEORADIUS / GEORADIUSBYMEMBER (their STORE
//!                             and STOREDIST destination may live on another core)
//! ```
//!
//! A search runs as Redis's does: the nine geohash cells around the centre are scanned
//! in Redis's order, each as a score range of the set, points outside the shape are
//! dropped, then ASC/DESC sort them by distance (a stable sort, as glibc's qsort) and
//! COUNT cuts the list. GEOADD is logged as its own arguments (the score is a function of
//! them). A store builds the destination set and writes it with `Ctx::set`/`delete` on
//! the destination's core, recorded as physical PUT/DEL; when source and destination
//! share a core the search and the store are one step.

use super::args::{is, parse_i64, Args};
use super::geohash::{self, Search, Shape};
use super::session::Session;
use super::zset::{limits, zset_mut, zset_of};
use super::zset_range::score_arg;
use super::{flags::*, Handler, KeySpec, Spec, Status, ONE_KEY};
use crate::core::multi::MultiCore;
use crate::resp::{Proto, Reply};
use crate::shard::notify::class;
use crate::shard::slot::key_core;
use crate::shard::value::Value;
use crate::shard::zset::Zset;
use crate::shard::Ctx;
use futures::future::LocalBoxFuture;
use futures::FutureExt;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

// ---------------------------------------------------------------------------------------
// Arguments

/// A longitude/latitude pair, checked against the indexable area.
fn long_lat(long: &[u8], lat: &[u8]) -> Result<(f64, f64), Status> {
    // Read as Redis's getDoubleFromObject (hex accepted, overflow refused), as scores are.
    let (long, lat) = (score_arg(long)?, score_arg(lat)?);
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&long)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(Status::err(format!(
            "ERR invalid longitude,latitude pair {long:.6},{lat:.6}"
        )));
    }
    Ok((long, lat))
}

/// Meters per unit.
fn unit(arg: &[u8]) -> Result<f64, Status> {
    match () {
        _ if is(arg, "m") => Ok(1.0),
        _ if is(arg, "km") => Ok(1000.0),
        _ if is(arg, "ft") => Ok(0.3048),
        _ if is(arg, "mi") => Ok(1609.34),
        _ => Err(Status::err(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// A non-negative number with Redis's wording when it is not one.
fn number(arg: &[u8], what: &'static str) -> Result<f64, Status> {
    score_arg(arg).map_err(|_| Status::err(format!("ERR need numeric {what}")))
}

/// `radius unit`: the radius and meters per unit.
fn radius(args: &[&[u8]]) -> Result<(f64, f64), Status> {
    let radius = number(args[0], "radius")?;
    if radius < 0.0 {
        return Err(Status::err("ERR radius cannot be negative"));
    }
    Ok((radius, unit(args[1])?))
}

/// `width height unit`.
fn box_size(args: &[&[u8]]) -> Result<(f64, f64, f64), Status> {
    let width = number(args[0], "width")?;
    let height = number(args[1], "height")?;
    if height < 0.0 || width < 0.0 {
        return Err(Status::err("ERR height or width cannot be negative"));
    }
    Ok((width, height, unit(args[2])?))
}

/// The position of `member` of `zset`.
fn member_position(zset: &Zset, member: &[u8]) -> Result<(f64, f64), Status> {
    let score = zset
        .score(member)
        .ok_or(Status::err("ERR could not decode requested zset member"))?;
    Ok(geohash::position_of(score))
}

// ---------------------------------------------------------------------------------------
// Replies

fn reply_distance(reply: &mut Reply, d: f64) {
    reply.bulk(geohash::format_distance(d).as_bytes());
}

/// A coordinate: a bulk string in RESP2, a double in RESP3, printed as Redis's
/// addReplyHumanLongDouble.
fn reply_coordinate(reply: &mut Reply, value: f64) {
    let text = geohash::format_coordinate(value);
    match reply.proto {
        Proto::Resp2 => reply.bulk(text.as_bytes()),
        Proto::Resp3 => {
            reply.out.push(b',');
            reply.out.extend_from_slice(text.as_bytes());
            reply.out.extend_from_slice(b"\r\n");
        }
    }
}

// ---------------------------------------------------------------------------------------
// GEOADD GEODIST GEOHASH GEOPOS

/// GEOADD key [NX|XX] [CH] long lat member ...: ZADD of the geohash scores. Every pair is
/// checked before the key is looked at, as Redis builds the whole ZADD first.
fn geoadd(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let (mut nx, mut xx, mut ch) = (false, false, false);
    while let Some(word) = args.peek() {
        if is(word, "nx") {
            nx = true;
        } else if is(word, "xx") {
            xx = true;
        } else if is(word, "ch") {
            ch = true;
        } else {
            break;
        }
        args.next();
    }
    let words: Vec<&[u8]> = args.rest().collect();
    if words.is_empty() || words.len() % 3 != 0 || (nx && xx) {
        return Err(Status::Syntax);
    }
    let mut elements = Vec::with_capacity(words.len() / 3);
    for triple in words.chunks(3) {
        let (long, lat) = long_lat(triple[0], triple[1])?;
        let score = geohash::score_of(long, lat).expect("checked to be indexable");
        elements.push((score, triple[2]));
    }
    let limits = limits(ctx);
    let (added, changed) = match ctx.lookup_write(key) {
        Some(entry) => add_all(zset_mut(&mut entry.value)?, &elements, nx, xx, limits),
        None if xx => (0, 0),
        None => {
            let mut zset = Zset::default();
            let outcome = add_all(&mut zset, &elements, nx, xx, limits);
            ctx.set(key, Value::Zset(zset), 0);
            outcome
        }
    };
    // GEOADD is Redis's ZADD underneath: `zadd` when anything was added or moved.
    if added + changed > 0 {
        ctx.notify(class::ZSET, "zadd", key);
    }
    reply.int(if ch { added + changed } else { added });
    Ok(())
}

/// ZADD's NX/XX rules for each element: how many were added and how many moved.
fn add_all(
    zset: &mut Zset,
    elements: &[(f64, &[u8])],
    nx: bool,
    xx: bool,
    limits: crate::shard::zset::ZsetLimits,
) -> (i64, i64) {
    let (mut added, mut changed) = (0, 0);
    for &(score, member) in elements {
        match zset.score(member) {
            None if xx => {}
            None => {
                zset.insert(member, score, limits);
                added += 1;
            }
            Some(_) if nx => {}
            Some(current) if current == score => {}
            Some(_) => {
                zset.insert(member, score, limits);
                changed += 1;
            }
        }
    }
    (added, changed)
}

/// The set at `key` for a read; None when missing.
fn read<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c Zset>, Status> {
    ctx.lookup_read(key)
        .map(|entry| zset_of(&entry.value))
        .transpose()
}

/// GEODIST key a b [unit]: the unit is checked before the key, as in Redis.
fn geodist(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let (a, b) = (args.required()?, args.required()?);
    let to_meters = match args.next() {
        Some(arg) => unit(arg)?,
        None => 1.0,
    };
    args.finish()?;
    let Some(zset) = read(ctx, key)? else {
        reply.null();
        return Ok(());
    };
    match (zset.score(a), zset.score(b)) {
        (Some(sa), Some(sb)) => {
            let (pa, pb) = (geohash::position_of(sa), geohash::position_of(sb));
            reply_distance(reply, geohash::distance(pa.0, pa.1, pb.0, pb.1) / to_meters);
        }
        _ => reply.null(),
    }
    Ok(())
}

fn geohash_cmd(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let zset = read(ctx, key)?;
    reply.array(args.remaining());
    for member in args.rest() {
        match zset
            .and_then(|z| z.score(member))
            .and_then(geohash::standard_geohash)
        {
            Some(text) => reply.bulk(&text),
            None => reply.null(),
        }
    }
    Ok(())
}

fn geopos(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let zset = read(ctx, key)?;
    reply.array(args.remaining());
    for member in args.rest() {
        match zset.and_then(|z| z.score(member)) {
            Some(score) => {
                let (long, lat) = geohash::position_of(score);
                reply.array(2);
                reply_coordinate(reply, long);
                reply_coordinate(reply, lat);
            }
            None => reply.null_array(),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Searches: GEOSEARCH GEOSEARCHSTORE GEORADIUS GEORADIUSBYMEMBER (+_RO)

/// Which command a search is (Redis's RADIUS_COORDS / RADIUS_MEMBER / NOSTORE / GEOSEARCH
/// / GEOSEARCHSTORE flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Radius { store: bool },
    ByMember { store: bool },
    Search,
    SearchStore,
}

impl Form {
    fn source_at(self) -> usize {
        match self {
            Form::SearchStore => 2,
            _ => 1,
        }
    }

    fn geosearch(self) -> bool {
        matches!(self, Form::Search | Form::SearchStore)
    }

    /// Whether STORE/STOREDIST key may follow (GEORADIUS and GEORADIUSBYMEMBER).
    fn store_keyword(self) -> bool {
        matches!(
            self,
            Form::Radius { store: true } | Form::ByMember { store: true }
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// Where a search's result goes instead of the reply.
#[derive(Clone)]
struct Store {
    key: Vec<u8>,
    dist: bool,
}

/// What a search asked for, besides its area.
struct Options {
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    sort: Sort,
    /// 0: no COUNT.
    count: usize,
    any: bool,
    store: Option<Store>,
}

struct Point {
    member: Vec<u8>,
    long: f64,
    lat: f64,
    /// In meters until the reply divides it by the unit.
    dist: f64,
    score: f64,
}

/// A finished search: the points to reply with or store (sorted and cut), or None when
/// the source key does not exist.
struct Found {
    options: Options,
    points: Option<Vec<Point>>,
    conversion: f64,
}

/// The options after the fixed arguments, parsed in order as Redis does (a FROMMEMBER
/// is looked up where it appears, so its error comes before later syntax errors).
struct Parser<'a> {
    words: &'a [&'a [u8]],
    form: Form,
    zset: Option<&'a Zset>,
    centre: Option<(f64, f64)>,
    shape: Option<(Shape, f64)>,
    from_member: bool,
    from_lonlat: bool,
}

impl<'a> Parser<'a> {
    fn options(&mut self, store: Option<Store>) -> Result<Options, Status> {
        let mut options = Options {
            with_dist: false,
            with_hash: false,
            with_coord: false,
            sort: Sort::None,
            count: 0,
            any: false,
            store,
        };
        let words = self.words;
        let mut i = 0;
        while i < words.len() {
            let (word, left) = (words[i], words.len() - i - 1);
            let geosearch = self.form.geosearch();
            if is(word, "withdist") {
                options.with_dist = true;
            } else if is(word, "withhash") {
                options.with_hash = true;
            } else if is(word, "withcoord") {
                options.with_coord = true;
            } else if is(word, "any") {
                options.any = true;
            } else if is(word, "asc") {
                options.sort = Sort::Asc;
            } else if is(word, "desc") {
                options.sort = Sort::Desc;
            } else if is(word, "count") && left >= 1 {
                let count = parse_i64(words[i + 1])?;
                if count <= 0 {
                    return Err(Status::err("ERR COUNT must be > 0"));
                }
                options.count = usize::try_from(count).unwrap_or(usize::MAX);
                i += 1;
            } else if (is(word, "store") || is(word, "storedist"))
                && left >= 1
                && self.form.store_keyword()
            {
                options.store = Some(Store {
                    key: words[i + 1].to_vec(),
                    dist: is(word, "storedist"),
                });
                i += 1;
            } else if is(word, "storedist") && self.form == Form::SearchStore {
                if let Some(store) = &mut options.store {
                    store.dist = true;
                }
            } else if is(word, "frommember") && left >= 1 && geosearch && !self.from_lonlat {
                if let Some(zset) = self.zset {
                    self.centre = Some(member_position(zset, words[i + 1])?);
                }
                self.from_member = true;
                i += 1;
            } else if is(word, "fromlonlat") && left >= 2 && geosearch && !self.from_member {
                self.centre = Some(long_lat(words[i + 1], words[i + 2])?);
                self.from_lonlat = true;
                i += 2;
            } else if is(word, "byradius")
                && left >= 2
                && geosearch
                && !matches!(self.shape, Some((Shape::Box { .. }, _)))
            {
                let (r, conversion) = radius(&words[i + 1..])?;
                self.shape = Some((Shape::Radius(r), conversion));
                i += 2;
            } else if is(word, "bybox")
                && left >= 3
                && geosearch
                && !matches!(self.shape, Some((Shape::Radius(_), _)))
            {
                let (width, height, conversion) = box_size(&words[i + 1..])?;
                self.shape = Some((Shape::Box { width, height }, conversion));
                i += 3;
            } else {
                return Err(Status::Syntax);
            }
            i += 1;
        }
        Ok(options)
    }
}

/// Redis's georadiusGeneric up to the reply: type check, the centre and shape of the
/// fixed arguments, the options, their checks, then the scan.
fn search(ctx: &mut Ctx, argv: &[&[u8]], form: Form) -> Result<Found, Status> {
    let zset = read(ctx, argv[form.source_at()])?;
    let (base, centre, shape) = match form {
        Form::Radius { .. } => {
            let centre = long_lat(argv[2], argv[3])?;
            let (r, conversion) = radius(&argv[4..6])?;
            (6, Some(centre), Some((Shape::Radius(r), conversion)))
        }
        Form::ByMember { .. } => match zset {
            // Without a source the options are still parsed, for the right reply.
            None => (5, None, None),
            Some(zset) => {
                let centre = member_position(zset, argv[2])?;
                let (r, conversion) = radius(&argv[3..5])?;
                (5, Some(centre), Some((Shape::Radius(r), conversion)))
            }
        },
        Form::Search => (2, None, None),
        Form::SearchStore => (3, None, None),
    };
    let store = (form == Form::SearchStore).then(|| Store {
        key: argv[1].to_vec(),
        dist: false,
    });
    let mut parser = Parser {
        words: &argv[base..],
        form,
        zset,
        centre,
        shape,
        from_member: false,
        from_lonlat: false,
    };
    let options = parser.options(store)?;
    check(&options, &parser, argv[0])?;
    let Some(zset) = zset else {
        return Ok(Found {
            options,
            points: None,
            conversion: 1.0,
        });
    };
    let (long, lat) = parser.centre.expect("checked");
    let (shape, conversion) = parser.shape.expect("checked");
    let area = Search {
        long,
        lat,
        shape,
        conversion,
    };
    let mut options = options;
    // COUNT without an order means the nearest ones (unless ANY).
    if options.count != 0 && options.sort == Sort::None && !options.any {
        options.sort = Sort::Asc;
    }
    let limit = if options.any { options.count } else { 0 };
    let mut points = scan(zset, &area, limit);
    order(&mut points, options.sort);
    if options.count != 0 {
        points.truncate(options.count);
    }
    Ok(Found {
        options,
        points: Some(points),
        conversion,
    })
}

/// The checks Redis makes once every option is read.
fn check(options: &Options, parser: &Parser, name: &[u8]) -> Result<(), Status> {
    if options.store.is_some() && (options.with_dist || options.with_hash || options.with_coord) {
        let what = match parser.form {
            Form::SearchStore => "GEOSEARCHSTORE",
            _ => "STORE option in GEORADIUS",
        };
        return Err(Status::err(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(name);
    if parser.form.geosearch() && !(parser.from_member || parser.from_lonlat) {
        return Err(Status::err(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if parser.form.geosearch() && parser.shape.is_none() {
        return Err(Status::err(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if options.any && options.count == 0 {
        return Err(Status::err("ERR the ANY argument requires COUNT argument"));
    }
    Ok(())
}

/// The points of the nine cells inside the area, in Redis's scan order; with `limit`
/// (COUNT ANY) the scan stops once it has that many.
fn scan(zset: &Zset, area: &Search, limit: usize) -> Vec<Point> {
    let cells = area.cells();
    let mut points = Vec::new();
    // Redis compares a cell with the last one scanned only once that is not the centre.
    let mut last_scanned = 0;
    for (i, &cell) in cells.iter().enumerate() {
        if geohash::is_zero(cell) {
            continue;
        }
        if last_scanned != 0 && geohash::same(cell, cells[last_scanned]) {
            continue;
        }
        if limit != 0 && points.len() >= limit {
            break;
        }
        scan_cell(zset, cell, area, limit, &mut points);
        last_scanned = i;
    }
    points
}

/// The set's elements with scores in the cell's range [min, max) that fall inside the
/// area.
fn scan_cell(
    zset: &Zset,
    cell: geohash::Hash,
    area: &Search,
    limit: usize,
    points: &mut Vec<Point>,
) {
    let (min, max) = geohash::score_range(cell);
    let from = zset.count_while(|_, score| score < min);
    let to = zset.count_while(|_, score| score < max);
    let mut full = false;
    zset.for_range(from..to, false, |member, score| {
        if full {
            return;
        }
        let (long, lat) = geohash::position_of(score);
        if let Some(dist) = area.within(long, lat) {
            points.push(Point {
                member: member.to_vec(),
                long,
                lat,
                dist,
                score,
            });
        }
        full = limit != 0 && points.len() >= limit;
    });
}

/// ASC/DESC by distance; a stable sort, so equal distances keep the scan order, as
/// glibc's merge-sorting qsort leaves them.
fn order(points: &mut [Point], sort: Sort) {
    let by_dist = |a: &Point, b: &Point| a.dist.partial_cmp(&b.dist).expect("no NaN distance");
    match sort {
        Sort::None => {}
        Sort::Asc => points.sort_by(by_dist),
        Sort::Desc => points.sort_by(|a, b| by_dist(b, a)),
    }
}

fn reply_points(reply: &mut Reply, found: &Found) {
    let options = &found.options;
    let points = found.points.as_deref().unwrap_or_default();
    let extras =
        options.with_dist as usize + options.with_hash as usize + options.with_coord as usize;
    reply.array(points.len());
    for point in points {
        if extras > 0 {
            reply.array(extras + 1);
        }
        reply.bulk(&point.member);
        if options.with_dist {
            reply_distance(reply, point.dist / found.conversion);
        }
        if options.with_hash {
            reply.int(point.score as i64);
        }
        if options.with_coord {
            reply.array(2);
            reply_coordinate(reply, point.long);
            reply_coordinate(reply, point.lat);
        }
    }
}

/// Replaces the destination with the points (score: the geohash, or the distance in the
/// unit with STOREDIST), or deletes it when there are none; the count stored. `event`
/// is what Redis raises for the store (`geosearchstore` or `georadiusstore`).
fn store_points(ctx: &mut Ctx, store: &Store, found: &Found, event: &'static str) -> usize {
    let points = found.points.as_deref().unwrap_or_default();
    if points.is_empty() {
        if ctx.delete(&store.key) {
            ctx.notify(class::GENERIC, "del", &store.key);
        }
        return 0;
    }
    let mut seen = std::collections::HashSet::with_capacity(points.len());
    let elements: Vec<(&[u8], f64)> = points
        .iter()
        .filter(|p| seen.insert(&p.member[..]))
        .map(|p| {
            let score = if store.dist {
                p.dist / found.conversion
            } else {
                p.score
            };
            (&p.member[..], score)
        })
        .collect();
    let zset = Zset::build(elements, limits(ctx));
    ctx.set(&store.key, Value::Zset(zset), 0);
    ctx.notify(class::ZSET, event, &store.key);
    points.len()
}

fn search_shard(ctx: &mut Ctx, args: &Args, reply: &mut Reply, form: Form) -> Result<(), Status> {
    let argv: Vec<&[u8]> = args.all().collect();
    let found = search(ctx, &argv, form)?;
    reply_points(reply, &found);
    Ok(())
}

fn geosearch(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    search_shard(ctx, args, reply, Form::Search)
}

fn georadius_ro(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    search_shard(ctx, args, reply, Form::Radius { store: false })
}

fn georadiusbymember_ro(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    search_shard(ctx, args, reply, Form::ByMember { store: false })
}

/// What the source's step hands back: a result to reply with or to store elsewhere, or
/// the count it already stored on its own core.
enum Step {
    Found(Found),
    Stored(usize),
}

/// COMMAND GETKEYS for GEORADIUS/GEORADIUSBYMEMBER, from Redis 7.0's key specs: the
/// source, then the key after the first STORE, then the one after the first STOREDIST,
/// each keyword searched from the first argument after the unit (a keyword as the last
/// argument names nothing).
pub fn key_positions(name: &str, args: &[Vec<u8>]) -> Vec<usize> {
    let startfrom = if name == "georadius" { 6 } else { 5 };
    let mut positions = vec![1];
    for keyword in ["STORE", "STOREDIST"] {
        positions.extend(super::after_keyword(args, keyword, startfrom));
    }
    positions
}

/// The cores a search may write: GEOSEARCHSTORE's destination, or every key that follows
/// a STORE/STOREDIST word (the parse, on the source's core, decides which one counts).
fn store_cores(argv: &Argv, form: Form, cores: usize) -> Vec<usize> {
    match form {
        Form::SearchStore => vec![key_core(&argv[1], cores)],
        _ => argv
            .windows(2)
            .skip(form.source_at() + 1)
            .filter(|pair| is(&pair[0], "store") || is(&pair[0], "storedist"))
            .map(|pair| key_core(&pair[1], cores))
            .collect(),
    }
}

async fn search_multi(s: &mut Session, argv: Argv, form: Form) -> Result<(), Status> {
    let (cores, db) = (s.core.cores, s.db);
    let source_core = key_core(&argv[form.source_at()], cores);
    let targets = store_cores(&argv, form, cores);
    let event = match form {
        Form::SearchStore => "geosearchstore",
        _ => "georadiusstore",
    };
    let mut op = MultiCore::new(s, targets.iter().copied().chain([source_core]));
    let step = op
        .run(source_core, move |shard| {
            let mut ctx = Ctx::new(shard, db);
            let words: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            let found = search(&mut ctx, &words, form)?;
            match &found.options.store {
                Some(store) if key_core(&store.key, cores) == source_core => {
                    Ok(Step::Stored(store_points(&mut ctx, store, &found, event)))
                }
                _ => Ok::<_, Status>(Step::Found(found)),
            }
        })
        .await;
    let outcome = match step {
        Ok(Step::Found(found)) if found.options.store.is_some() => {
            let store = found.options.store.clone().expect("checked");
            let target = key_core(&store.key, cores);
            let stored = op
                .run(target, move |shard| {
                    store_points(&mut Ctx::new(shard, db), &store, &found, event)
                })
                .await;
            Ok(Step::Stored(stored))
        }
        other => other,
    };
    op.finish().await;
    let mut reply = s.reply();
    match outcome? {
        Step::Stored(n) => reply.int(n as i64),
        Step::Found(found) => reply_points(&mut reply, &found),
    }
    Ok(())
}

pub fn geosearchstore(s: &mut Session, argv: Argv) -> Done<'_> {
    search_multi(s, argv, Form::SearchStore).boxed_local()
}

pub fn georadius(s: &mut Session, argv: Argv) -> Done<'_> {
    search_multi(s, argv, Form::Radius { store: true }).boxed_local()
}

pub fn georadiusbymember(s: &mut Session, argv: Argv) -> Done<'_> {
    search_multi(s, argv, Form::ByMember { store: true }).boxed_local()
}

// ---------------------------------------------------------------------------------------
// Table rows

const DST_SRC: KeySpec = KeySpec {
    first: 1,
    last: 2,
    step: 1,
};

const fn row(
    name: &'static str,
    arity: i16,
    flags: u32,
    keys: KeySpec,
    handler: Handler,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec::row(name, arity, flags, keys, handler, "geo", summary, since)
}

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    row("geoadd", -5, WRITE | DENYOOM, ONE_KEY, Handler::Shard(geoadd), "Add one or more geospatial items in the geospatial index represented using a sorted set", "3.2.0"),
    row("geodist", -4, READONLY, ONE_KEY, Handler::Shard(geodist), "Returns the distance between two members of a geospatial index", "3.2.0"),
    row("geohash", -2, READONLY, ONE_KEY, Handler::Shard(geohash_cmd), "Returns members of a geospatial index as standard geohash strings", "3.2.0"),
    row("geopos", -2, READONLY, ONE_KEY, Handler::Shard(geopos), "Returns longitude and latitude of members of a geospatial index", "3.2.0"),
    row("geosearch", -7, READONLY, ONE_KEY, Handler::Shard(geosearch), "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.", "6.2.0"),
    row("geosearchstore", -8, WRITE | DENYOOM, DST_SRC, Handler::Multi(geosearchstore), "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.", "6.2.0"),
    row("georadius", -6, WRITE | DENYOOM, ONE_KEY, Handler::Multi(georadius), "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point", "3.2.0"),
    row("georadiusbymember", -5, WRITE | DENYOOM, ONE_KEY, Handler::Multi(georadiusbymember), "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member", "3.2.0"),
    row("georadius_ro", -6, READONLY, ONE_KEY, Handler::Shard(georadius_ro), "A read-only variant for GEORADIUS", "3.2.10"),
    row("georadiusbymember_ro", -5, READONLY, ONE_KEY, Handler::Shard(georadiusbymember_ro), "A read-only variant for GEORADIUSBYMEMBER", "3.2.10"),
];
