//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted numerically or
//! lexicographically, by themselves or by values found through BY patterns, with LIMIT,
//! GET patterns and (SORT only) STORE into a list; Redis 7.0's sortCommandGeneric rules.
//!
//! ```text
//! parse options -> cores: the source's, the destination's, and every core when a BY or
//!                  GET pattern names keys (a `*` in it: the keys it forms hash anywhere)
//! one core   -> one step there does everything
//! several    -> all of them held (MultiCore), in steps:
//!               load the source | fetch BY values per core | sort here |
//!               fetch GET values per core | store the list on the destination's core
//! ```
//!
//! Holding every involved core for the whole command makes it atomic, as SORT is in Redis.
//! STORE writes through `Ctx::set`, so it is recorded as a PUT of the whole destination
//! list (the result depends on keys of other cores, which a replayed command could not
//! see consistently); storing a list also serves clients blocked on the destination.

use super::args::{is, parse_i64};
use super::list::fill;
use super::session::Session;
use super::zset_range::strtod;
use super::{flags::*, Handler, Spec, Status, ONE_KEY};
use crate::core::multi::MultiCore;
use crate::resp::Reply;
use crate::shard::list::{End, List};
use crate::shard::notify::class;
use crate::shard::slot::key_core;
use crate::shard::value::Value;
use crate::shard::Ctx;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::cmp::Ordering;
use std::collections::BTreeMap;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;
/// A looked-up value per element (None: no such key, field, or not a string/hash).
type Values = Vec<Option<Vec<u8>>>;

const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// SORT's options as parsed.
#[derive(Clone, Debug, Default)]
struct Options {
    key: Vec<u8>,
    desc: bool,
    alpha: bool,
    /// LIMIT offset count, as given (a negative count means "to the end").
    limit: Option<(i64, i64)>,
    store: Option<Vec<u8>>,
    /// The BY pattern, when it has a `*` (one without means "don't sort").
    by: Option<Vec<u8>>,
    dontsort: bool,
    gets: Vec<Vec<u8>>,
}

/// Parses `SORT key [option...]` with Redis's loop: the last ASC/DESC, LIMIT, BY and
/// STORE win, GETs accumulate, anything else is a syntax error; SORT_RO knows no STORE.
fn parse(argv: &Argv, readonly: bool) -> Result<Options, Status> {
    let mut options = Options {
        key: argv[1].clone(),
        ..Options::default()
    };
    let mut at = 2;
    while at < argv.len() {
        let (arg, left) = (&argv[at], argv.len() - at - 1);
        if is(arg, "ASC") {
            options.desc = false;
        } else if is(arg, "DESC") {
            options.desc = true;
        } else if is(arg, "ALPHA") {
            options.alpha = true;
        } else if is(arg, "LIMIT") && left >= 2 {
            options.limit = Some((parse_i64(&argv[at + 1])?, parse_i64(&argv[at + 2])?));
            at += 2;
        } else if !readonly && is(arg, "STORE") && left >= 1 {
            options.store = Some(argv[at + 1].clone());
            at += 1;
        } else if is(arg, "BY") && left >= 1 {
            let pattern = &argv[at + 1];
            options.dontsort = !pattern.contains(&b'*');
            options.by = (!options.dontsort).then(|| pattern.clone());
            at += 1;
        } else if is(arg, "GET") && left >= 1 {
            options.gets.push(argv[at + 1].clone());
            at += 1;
        } else {
            return Err(Status::Syntax);
        }
        at += 1;
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------
// Patterns

/// What a BY or GET pattern names for one element.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Lookup {
    /// `#`: the element itself.
    Element(Vec<u8>),
    /// A string key, or a hash field (`key->field`).
    Key {
        key: Vec<u8>,
        field: Option<Vec<u8>>,
    },
    /// A pattern without `*`: never anything (Redis: a fixed key makes no sense).
    Nothing,
}

/// Whether `pattern` forms key names (and so may reach any core).
fn names_keys(pattern: &[u8]) -> bool {
    pattern != b"#" && pattern.contains(&b'*')
}

/// Redis's lookupKeyByPattern, without the lookup: the first `*` is replaced by the
/// element; a `->` after it with something following splits off a hash field.
fn resolve(pattern: &[u8], element: &[u8]) -> Lookup {
    if pattern == b"#" {
        return Lookup::Element(element.to_vec());
    }
    let Some(star) = pattern.iter().position(|&c| c == b'*') else {
        return Lookup::Nothing;
    };
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&at| at + 2 < after.len());
    let (postfix, field) = match arrow {
        Some(at) => (&after[..at], Some(after[at + 2..].to_vec())),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(star + element.len() + postfix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(postfix);
    Lookup::Key { key, field }
}

/// Reads what `lookup` names on this shard: a string's value, or a hash field's.
fn fetch_one(ctx: &mut Ctx, lookup: &Lookup, write: bool) -> Option<Vec<u8>> {
    let Lookup::Key { key, field } = lookup else {
        return match lookup {
            Lookup::Element(element) => Some(element.clone()),
            _ => None,
        };
    };
    let entry = if write {
        ctx.lookup_write(key)
    } else {
        ctx.lookup_read(key)
    }?;
    match (&entry.value, field) {
        (Value::Str(value), None) => Some(value.clone()),
        (Value::Hash(hash), Some(field)) => hash.get(field).map(<[u8]>::to_vec),
        _ => None,
    }
}

fn fetch_here(ctx: &mut Ctx, lookups: &[Lookup], write: bool) -> Values {
    lookups
        .iter()
        .map(|lookup| fetch_one(ctx, lookup, write))
        .collect()
}

/// Fetches every lookup on the core owning its key (the operation holds them all).
async fn fetch_everywhere(
    op: &mut MultiCore,
    db: usize,
    cores: usize,
    lookups: Vec<Lookup>,
    write: bool,
) -> Values {
    let mut values: Values = vec![None; lookups.len()];
    let mut by_core: BTreeMap<usize, (Vec<usize>, Vec<Lookup>)> = BTreeMap::new();
    for (index, lookup) in lookups.into_iter().enumerate() {
        match &lookup {
            Lookup::Key { key, .. } => {
                let (indexes, batch) = by_core.entry(key_core(key, cores)).or_default();
                indexes.push(index);
                batch.push(lookup);
            }
            Lookup::Element(element) => values[index] = Some(element.clone()),
            Lookup::Nothing => {}
        }
    }
    for (core, (indexes, batch)) in by_core {
        let found = op
            .run(core, move |shard| {
                fetch_here(&mut Ctx::new(shard, db), &batch, write)
            })
            .await;
        for (index, value) in indexes.into_iter().zip(found) {
            values[index] = value;
        }
    }
    values
}

// ---------------------------------------------------------------------------------------
// Loading the source

/// The elements to sort and the output range over them (Redis's vector, start, end).
#[derive(Debug)]
struct Loaded {
    elements: Vec<Vec<u8>>,
    start: i64,
    end: i64,
    /// Sort them (false: keep the order they were loaded in).
    sort: bool,
    /// ALPHA, or forced for a set stored unsorted (its order would be arbitrary).
    alpha: bool,
}

/// LIMIT applied to `len` elements as Redis does: (start, end), end inclusive.
fn limit_range(limit: Option<(i64, i64)>, len: i64) -> (i64, i64) {
    let (offset, count) = limit.unwrap_or((0, -1));
    let start = offset.max(0);
    let mut end = if count < 0 {
        len - 1
    } else {
        start.saturating_add(count) - 1
    };
    if start >= len {
        return (len - 1, len - 2);
    }
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

/// Reads the source key: a list or sorted set left unsorted yields just the LIMIT range,
/// in its own order (reversed by DESC); everything else yields all its elements.
fn load(ctx: &mut Ctx, options: &Options) -> Result<Loaded, Status> {
    let empty = Value::List(List::default());
    let entry = ctx.lookup_read(&options.key);
    let value = entry.map_or(&empty, |entry| &entry.value);
    let len = match value {
        Value::List(list) => list.len(),
        Value::Set(set) => set.len(),
        Value::Zset(zset) => zset.len(),
        _ => return Err(Status::WrongType),
    } as i64;
    let (start, end) = limit_range(options.limit, len);
    let is_set = matches!(value, Value::Set(_));
    // A set read unsorted into a list would store an arbitrary order: sorted instead.
    let forced = options.dontsort && is_set && options.store.is_some();
    let sort = !options.dontsort || forced;
    let alpha = options.alpha || forced;
    if sort || is_set {
        let elements = all_elements(value);
        return Ok(Loaded {
            elements,
            start,
            end,
            sort,
            alpha,
        });
    }
    // An unsorted list or sorted set: only the range, already in output order.
    let count = (end - start + 1).max(0) as usize;
    let elements = range_in_order(value, start.max(0) as usize, count, options.desc);
    Ok(Loaded {
        elements,
        start: 0,
        end: end - start,
        sort,
        alpha,
    })
}

fn all_elements(value: &Value) -> Vec<Vec<u8>> {
    match value {
        Value::List(list) => list.iter().map(<[u8]>::to_vec).collect(),
        Value::Set(set) => set.iter().map(|member| member.to_vec()).collect(),
        Value::Zset(zset) => zset.iter().map(|(member, _)| member.to_vec()).collect(),
        _ => unreachable!("the type was checked"),
    }
}

/// `count` elements from position `start` of a list or sorted set, counted from the end
/// when `desc`.
fn range_in_order(value: &Value, start: usize, count: usize, desc: bool) -> Vec<Vec<u8>> {
    if count == 0 {
        return Vec::new();
    }
    match value {
        Value::List(list) if desc => list
            .iter()
            .rev()
            .skip(start)
            .take(count)
            .map(<[u8]>::to_vec)
            .collect(),
        Value::List(list) => list
            .iter_from(start)
            .take(count)
            .map(<[u8]>::to_vec)
            .collect(),
        Value::Zset(zset) => {
            let len = zset.len();
            let ranks = if desc {
                len - start - count..len - start
            } else {
                start..start + count
            };
            let mut elements = Vec::with_capacity(count);
            zset.for_range(ranks, desc, |member, _| elements.push(member.to_vec()));
            elements
        }
        _ => unreachable!("only lists and sorted sets are read in range"),
    }
}

// ---------------------------------------------------------------------------------------
// Sorting and output

/// The BY lookups, one per element (None: the elements sort by themselves).
fn by_lookups(options: &Options, loaded: &Loaded) -> Option<Vec<Lookup>> {
    let pattern = options.by.as_ref().filter(|_| loaded.sort)?;
    Some(
        loaded
            .elements
            .iter()
            .map(|element| resolve(pattern, element))
            .collect(),
    )
}

/// What an element sorts by.
enum Key {
    Score(f64),
    /// ALPHA BY: the looked-up value; a missing one sorts first.
    Text(Option<Vec<u8>>),
    /// ALPHA without BY: the element itself.
    Element,
}

/// C's strtod over the whole text, as SORT reads a score: no trailing bytes, no range
/// error, not NaN. An empty text reads as 0, as strtod leaves it.
fn score_of(text: &[u8]) -> Option<f64> {
    let (value, used, out_of_range) = strtod(text);
    (used == text.len() && !out_of_range && !value.is_nan()).then_some(value)
}

/// The output order of `loaded.elements` (indexes), sorted as Redis's sortCompare does:
/// numbers ascending with equal scores ordered by element bytes, or bytes (ALPHA); DESC
/// reverses the whole comparison. `by`: the BY values, when a pattern gave them.
fn order(options: &Options, loaded: &Loaded, by: Option<Values>) -> Result<Vec<usize>, Status> {
    let count = loaded.elements.len();
    let mut indexes: Vec<usize> = (0..count).collect();
    if !loaded.sort {
        return Ok(indexes);
    }
    let mut keys = Vec::with_capacity(count);
    let mut not_double = false;
    for (index, element) in loaded.elements.iter().enumerate() {
        let by_value = by.as_ref().map(|values| values[index].as_deref());
        keys.push(match (loaded.alpha, by_value) {
            (true, Some(value)) => Key::Text(value.map(<[u8]>::to_vec)),
            (true, None) => Key::Element,
            // A missing BY value leaves the score at 0, no error.
            (false, Some(None)) => Key::Score(0.0),
            (false, by_value) => {
                let text = by_value.flatten().unwrap_or(element);
                Key::Score(score_of(text).unwrap_or_else(|| {
                    not_double = true;
                    0.0
                }))
            }
        });
    }
    if not_double {
        return Err(Status::err(NOT_DOUBLE));
    }
    let elements = &loaded.elements;
    indexes.sort_by(|&a, &b| {
        let ordering = compare(&keys[a], &keys[b], &elements[a], &elements[b]);
        if options.desc {
            ordering.reverse()
        } else {
            ordering
        }
    });
    Ok(indexes)
}

fn compare(a: &Key, b: &Key, element_a: &[u8], element_b: &[u8]) -> Ordering {
    match (a, b) {
        (Key::Score(x), Key::Score(y)) => x
            .partial_cmp(y)
            .unwrap_or(Ordering::Equal)
            .then_with(|| element_a.cmp(element_b)),
        (Key::Text(x), Key::Text(y)) => x.cmp(y),
        _ => element_a.cmp(element_b),
    }
}

/// The GET lookups for the output range, element by element, pattern by pattern.
fn get_lookups(options: &Options, loaded: &Loaded, order: &[usize]) -> Vec<Lookup> {
    let mut lookups = Vec::new();
    for &index in output_indexes(loaded, order) {
        let element = &loaded.elements[index];
        lookups.extend(options.gets.iter().map(|pattern| resolve(pattern, element)));
    }
    lookups
}

fn output_indexes<'o>(loaded: &Loaded, order: &'o [usize]) -> &'o [usize] {
    if loaded.end < loaded.start {
        return &[];
    }
    &order[loaded.start as usize..=loaded.end as usize]
}

/// The result: the elements of the range, or the GET values for each.
fn output(options: &Options, loaded: &Loaded, order: &[usize], gets: Values) -> Values {
    if options.gets.is_empty() {
        let indexes = output_indexes(loaded, order);
        return indexes
            .iter()
            .map(|&index| Some(loaded.elements[index].clone()))
            .collect();
    }
    gets
}

/// STORE: the result as a list under `dst` (a missing GET value stored as ""), or `dst`
/// deleted when the result is empty.
fn store(ctx: &mut Ctx, dst: &[u8], result: &Values) {
    if result.is_empty() {
        if ctx.delete(dst) {
            ctx.notify(class::GENERIC, "del", dst);
        }
        return;
    }
    let fill = fill(ctx);
    let mut list = List::default();
    for value in result {
        list.push(End::Right, value.as_deref().unwrap_or(b""), fill);
    }
    ctx.set(dst, Value::List(list), 0);
    ctx.notify(class::LIST, "sortstore", dst);
}

fn reply_result(reply: &mut Reply, result: &Values) {
    reply.array(result.len());
    for value in result {
        match value {
            Some(value) => reply.bulk(value),
            None => reply.null(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running it

/// The whole command on one core (every key it touches lives there): Ok(result).
fn sort_here(ctx: &mut Ctx, options: &Options) -> Result<Values, Status> {
    let write = options.store.is_some();
    let loaded = load(ctx, options)?;
    let by = by_lookups(options, &loaded).map(|lookups| fetch_here(ctx, &lookups, write));
    let order = order(options, &loaded, by)?;
    let lookups = get_lookups(options, &loaded, &order);
    let gets = fetch_here(ctx, &lookups, write);
    let result = output(options, &loaded, &order, gets);
    if let Some(dst) = &options.store {
        store(ctx, dst, &result);
    }
    Ok(result)
}

/// The command over several cores, all held from the first step to the last.
async fn sort_spanning(
    op: &mut MultiCore,
    db: usize,
    cores: usize,
    options: Options,
) -> Result<Values, Status> {
    let write = options.store.is_some();
    let src_core = key_core(&options.key, cores);
    let source = options.clone();
    let loaded = op
        .run(src_core, move |shard| {
            load(&mut Ctx::new(shard, db), &source)
        })
        .await?;
    let by = match by_lookups(&options, &loaded) {
        Some(lookups) => Some(fetch_everywhere(op, db, cores, lookups, write).await),
        None => None,
    };
    let order = order(&options, &loaded, by)?;
    let lookups = get_lookups(&options, &loaded, &order);
    let gets = fetch_everywhere(op, db, cores, lookups, write).await;
    let result = output(&options, &loaded, &order, gets);
    let Some(dst) = options.store else {
        return Ok(result);
    };
    // The values travel to the destination's core and back (the reply needs their count
    // only, but a step's input must be owned).
    let stored = op
        .run(key_core(&dst, cores), move |shard| {
            store(&mut Ctx::new(shard, db), &dst, &result);
            result
        })
        .await;
    Ok(stored)
}

/// The cores SORT touches: the source's, the destination's, and all of them when a
/// pattern forms key names.
fn involved_cores(options: &Options, cores: usize) -> Vec<usize> {
    let patterns = options.by.is_some() || options.gets.iter().any(|p| names_keys(p));
    if patterns {
        return (0..cores).collect();
    }
    let mut involved = vec![key_core(&options.key, cores)];
    if let Some(dst) = &options.store {
        involved.push(key_core(dst, cores));
    }
    involved.sort_unstable();
    involved.dedup();
    involved
}

async fn sort_generic(s: &mut Session, argv: Argv, readonly: bool) -> Result<(), Status> {
    let options = parse(&argv, readonly)?;
    let (db, cores) = (s.db, s.core.cores);
    let involved = involved_cores(&options, cores);
    if let Some(scope) = &s.exec {
        // A script holds only the cores of its declared keys.
        if !involved.iter().all(|&core| scope.holds(core)) {
            return Err(Status::err(
                "ERR Script attempted to access a non local key in a cluster node script",
            ));
        }
    }
    let store = options.store.is_some();
    let result = if let [core] = involved[..] {
        let mut op = MultiCore::new(s, [core]);
        let result = op
            .run(core, move |shard| {
                sort_here(&mut Ctx::new(shard, db), &options)
            })
            .await;
        op.finish().await;
        result
    } else {
        let mut op = MultiCore::new(s, involved);
        let result = sort_spanning(&mut op, db, cores, options).await;
        op.finish().await;
        result
    }?;
    let mut reply = s.reply();
    if store {
        reply.int(result.len() as i64);
    } else {
        reply_result(&mut reply, &result);
    }
    Ok(())
}

fn sort(s: &mut Session, argv: Argv) -> Done<'_> {
    sort_generic(s, argv, false).boxed_local()
}

fn sort_ro(s: &mut Session, argv: Argv) -> Done<'_> {
    sort_generic(s, argv, true).boxed_local()
}

/// COMMAND GETKEYS for SORT (Redis's sortGetKeys): the key, and the last STORE's
/// destination, skipping the arguments of LIMIT, GET and BY (not the ones of unknown
/// words). `args` starts with the command name.
pub fn key_positions(args: &[Vec<u8>]) -> Vec<usize> {
    let mut positions = vec![1];
    let mut store = None;
    let mut at = 2;
    while at < args.len() {
        let arg = &args[at];
        if is(arg, "LIMIT") {
            at += 2;
        } else if is(arg, "GET") || is(arg, "BY") {
            at += 1;
        } else if is(arg, "STORE") && at + 1 < args.len() {
            store = Some(at + 1);
        }
        at += 1;
    }
    positions.extend(store);
    positions
}

// ---------------------------------------------------------------------------------------
// Table rows

const fn row(
    name: &'static str,
    flags: u32,
    handler: super::AsyncFn,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec::row(
        name,
        -2,
        flags,
        ONE_KEY,
        Handler::Multi(handler),
        "generic",
        summary,
        since,
    )
}

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    row("sort", WRITE | DENYOOM | MOVABLEKEYS, sort, "Sort the elements in a list, set or sorted set", "1.0.0"),
    row("sort_ro", READONLY | MOVABLEKEYS, sort_ro, "Sort the elements in a list, set or sorted set. Read-only variant of SORT.", "7.0.0"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(text: &str) -> Argv {
        text.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn patterns_substitute_the_first_star_and_split_a_hash_field() {
        let key = |k: &str, f: Option<&str>| Lookup::Key {
            key: k.into(),
            field: f.map(Into::into),
        };
        assert_eq!(resolve(b"w_*", b"3"), key("w_3", None));
        assert_eq!(resolve(b"h_*->f", b"3"), key("h_3", Some("f")));
        assert_eq!(resolve(b"h_*->", b"3"), key("h_3->", None));
        assert_eq!(resolve(b"a*b*->x->y", b"3"), key("a3b*", Some("x->y")));
        assert_eq!(resolve(b"->f*", b"3"), key("->f3", None));
        assert_eq!(resolve(b"#", b"3"), Lookup::Element(b"3".to_vec()));
        assert_eq!(resolve(b"nosort", b"3"), Lookup::Nothing);
        assert!(!names_keys(b"#") && !names_keys(b"fixed") && names_keys(b"k*"));
    }

    #[test]
    fn limit_clamps_like_redis() {
        assert_eq!(limit_range(None, 5), (0, 4));
        assert_eq!(limit_range(Some((1, 2)), 5), (1, 2));
        assert_eq!(limit_range(Some((-3, 2)), 5), (0, 1));
        assert_eq!(limit_range(Some((3, -1)), 5), (3, 4));
        assert_eq!(limit_range(Some((3, 100)), 5), (3, 4));
        assert_eq!(limit_range(Some((5, 1)), 5), (4, 3));
        assert_eq!(limit_range(Some((0, 0)), 5), (0, -1));
        assert_eq!(limit_range(None, 0), (-1, -2));
        assert_eq!(limit_range(Some((1, i64::MAX)), 5), (1, 4));
    }

    #[test]
    fn scores_read_as_strtod_over_the_whole_text() {
        assert_eq!(score_of(b"1.5"), Some(1.5));
        assert_eq!(score_of(b" 2"), Some(2.0));
        assert_eq!(score_of(b""), Some(0.0));
        assert_eq!(score_of(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(score_of(b"0x10"), Some(16.0));
        assert_eq!(score_of(b"1e400"), None);
        assert_eq!(score_of(b"nan"), None);
        assert_eq!(score_of(b"1 "), None);
        assert_eq!(score_of(b"abc"), None);
    }

    #[test]
    fn options_parse_in_redis_order() {
        let options = parse(
            &argv("sort k by w_* limit 1 2 get # get h_*->f desc alpha store d"),
            false,
        )
        .unwrap();
        assert_eq!(options.by.as_deref(), Some(&b"w_*"[..]));
        assert!(options.desc && options.alpha && !options.dontsort);
        assert_eq!(options.limit, Some((1, 2)));
        assert_eq!(options.gets.len(), 2);
        assert_eq!(options.store.as_deref(), Some(&b"d"[..]));
        assert!(parse(&argv("sort k by nosort"), false).unwrap().dontsort);
        assert_eq!(
            parse(&argv("sort k store d"), true).unwrap_err(),
            Status::Syntax
        );
        assert_eq!(
            parse(&argv("sort k limit 1"), false).unwrap_err(),
            Status::Syntax
        );
        assert_eq!(
            parse(&argv("sort k limit a 1"), false).unwrap_err(),
            Status::NotInteger
        );
    }

    #[test]
    fn getkeys_follows_sort_get_keys() {
        assert_eq!(key_positions(&argv("sort a")), vec![1]);
        assert_eq!(key_positions(&argv("sort a store d store e")), vec![1, 5]);
        assert_eq!(key_positions(&argv("sort a limit 0 store d")), vec![1]);
        assert_eq!(key_positions(&argv("sort a foo store d")), vec![1, 4]);
        assert_eq!(
            key_positions(&argv("sort a by x get y store d")),
            vec![1, 7]
        );
        assert_eq!(key_positions(&argv("sort a store")), vec![1]);
    }
}
