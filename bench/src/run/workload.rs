//! What requests a run sends: command templates with weights and key patterns, and value
//! sizes, encoded straight into a connection's output buffer.
//!
//! A template is memtier's `--command`: words, where `__key__` becomes the key and
//! `__data__` the value (also inside a word: `user:__key__`). `--ratio SET:GET` is the
//! two templates `SET __key__ __data__` and `GET __key__` with those weights.

use super::keys::Pattern;
use crate::resp::encode_bulk;
use fastrand::Rng;

const KEY_PLACEHOLDER: &str = "__key__";
const DATA_PLACEHOLDER: &str = "__data__";

/// One piece of a command word.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Key,
    Data,
}

/// One `--command` with its weight and key pattern.
#[derive(Clone, Debug)]
pub struct Template {
    /// The command type in reports: memtier's "Sets"/"Gets" for --ratio, else the
    /// command's first word.
    pub name: String,
    /// The commands sent for one request: one, or several separated by a lone `;`
    /// (`MULTI ; INCR __key__ ; EXEC`), which count as one operation timed to the last
    /// reply.
    commands: Vec<Vec<Vec<Piece>>>,
    pub weight: u32,
    pub pattern: Pattern,
    /// Reads count hits and misses (a null reply is a miss).
    pub is_read: bool,
}

impl Template {
    pub fn parse(text: &str, weight: u32, pattern: Pattern) -> Result<Template, String> {
        let commands: Vec<Vec<Vec<Piece>>> = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .split(|word| *word == ";")
            .map(|words| words.iter().map(|w| pieces(w)).collect())
            .collect();
        if commands.iter().any(Vec::is_empty) {
            return Err(format!("--command {text:?} has an empty command"));
        }
        let Some(first) = text.split_whitespace().next() else {
            return Err("--command is empty".to_string());
        };
        let name = first.to_ascii_uppercase();
        let is_read = matches!(name.as_str(), "GET" | "MGET" | "HGET" | "HGETALL" | "GETEX");
        Ok(Template {
            name,
            commands,
            weight,
            pattern,
            is_read,
        })
    }

    /// `--ratio SET:GET` with memtier's type names.
    pub fn ratio(sets: u32, gets: u32, patterns: (Pattern, Pattern)) -> Vec<Template> {
        let mut set = Template::parse("SET __key__ __data__", sets, patterns.0)
            .expect("a fixed, non-empty template");
        set.name = "Sets".to_string();
        let mut get =
            Template::parse("GET __key__", gets, patterns.1).expect("a fixed, non-empty template");
        get.name = "Gets".to_string();
        [set, get].into_iter().filter(|t| t.weight > 0).collect()
    }

    pub fn uses_key(&self) -> bool {
        self.commands
            .iter()
            .flatten()
            .flatten()
            .any(|p| *p == Piece::Key)
    }

    /// How many replies one request gets (one per command).
    pub fn replies(&self) -> usize {
        self.commands.len()
    }

    /// Appends the request for `key` and `data` to `out`: each command a RESP array.
    pub fn encode(&self, key: &[u8], data: &[u8], out: &mut Vec<u8>) {
        for words in &self.commands {
            out.push(b'*');
            push_decimal(words.len() as u64, out);
            out.extend_from_slice(b"\r\n");
            for word in words {
                match word.as_slice() {
                    [Piece::Key] => encode_bulk(key, out),
                    [Piece::Data] => encode_bulk(data, out),
                    [Piece::Literal(text)] => encode_bulk(text, out),
                    pieces => encode_bulk(&substitute(pieces, key, data), out),
                }
            }
        }
    }
}

fn pieces(word: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = word;
    while !rest.is_empty() {
        let key_at = rest.find(KEY_PLACEHOLDER);
        let data_at = rest.find(DATA_PLACEHOLDER);
        let (at, piece, len) = match (key_at, data_at) {
            (Some(k), Some(d)) if d < k => (d, Piece::Data, DATA_PLACEHOLDER.len()),
            (Some(k), _) => (k, Piece::Key, KEY_PLACEHOLDER.len()),
            (None, Some(d)) => (d, Piece::Data, DATA_PLACEHOLDER.len()),
            (None, None) => (rest.len(), Piece::Literal(Vec::new()), 0),
        };
        if at > 0 {
            out.push(Piece::Literal(rest.as_bytes()[..at].to_vec()));
        }
        if len > 0 {
            out.push(piece);
        }
        rest = &rest[at + len..];
    }
    out
}

fn substitute(pieces: &[Piece], key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut word = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Literal(text) => word.extend_from_slice(text),
            Piece::Key => word.extend_from_slice(key),
            Piece::Data => word.extend_from_slice(data),
        }
    }
    word
}

/// Appends `n` in decimal, without the formatting machinery: this runs per request.
pub fn push_decimal(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Picks templates by weight.
#[derive(Clone, Debug)]
pub struct Mix {
    pub templates: Vec<Template>,
    cumulative: Vec<u32>,
}

impl Mix {
    pub fn new(templates: Vec<Template>) -> Result<Mix, String> {
        let mut total = 0u32;
        let mut cumulative = Vec::with_capacity(templates.len());
        for template in &templates {
            total = total
                .checked_add(template.weight)
                .ok_or("command ratios add up to more than 2^32")?;
            cumulative.push(total);
        }
        if total == 0 {
            return Err("no command has a non-zero ratio".to_string());
        }
        Ok(Mix {
            templates,
            cumulative,
        })
    }

    pub fn pick(&self, rng: &mut Rng) -> usize {
        let total = *self
            .cumulative
            .last()
            .expect("Mix::new refuses no templates");
        let draw = rng.u32(0..total);
        self.cumulative.partition_point(|&c| c <= draw)
    }
}

/// Value sizes: memtier's --data-size, --data-size-range and --data-size-list.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSize {
    Fixed(usize),
    Range(usize, usize),
    /// (size, weight) pairs.
    List(Vec<(usize, u32)>),
}

impl DataSize {
    /// "MIN-MAX".
    pub fn parse_range(text: &str) -> Result<DataSize, String> {
        let bad = || format!("invalid --data-size-range {text:?}: expected MIN-MAX");
        let (min, max) = text.split_once('-').ok_or_else(bad)?;
        let min: usize = min.parse().map_err(|_| bad())?;
        let max: usize = max.parse().map_err(|_| bad())?;
        if min > max {
            return Err(bad());
        }
        Ok(DataSize::Range(min, max))
    }

    /// "SIZE:WEIGHT,SIZE:WEIGHT,...".
    pub fn parse_list(text: &str) -> Result<DataSize, String> {
        let bad = || format!("invalid --data-size-list {text:?}: expected SIZE:WEIGHT,...");
        let mut list = Vec::new();
        for entry in text.split(',') {
            let (size, weight) = entry.split_once(':').ok_or_else(bad)?;
            list.push((
                size.parse().map_err(|_| bad())?,
                weight.parse().map_err(|_| bad())?,
            ));
        }
        if list.iter().map(|&(_, w)| w as u64).sum::<u64>() == 0 {
            return Err(bad());
        }
        Ok(DataSize::List(list))
    }

    pub fn max(&self) -> usize {
        match self {
            DataSize::Fixed(n) => *n,
            DataSize::Range(_, max) => *max,
            DataSize::List(list) => list.iter().map(|&(s, _)| s).max().unwrap_or(0),
        }
    }

    pub fn pick(&self, rng: &mut Rng) -> usize {
        match self {
            DataSize::Fixed(n) => *n,
            DataSize::Range(min, max) => rng.usize(*min..=*max),
            DataSize::List(list) => {
                let total: u64 = list.iter().map(|&(_, w)| w as u64).sum();
                let mut draw = rng.u64(0..total);
                for &(size, weight) in list {
                    if draw < weight as u64 {
                        return size;
                    }
                    draw -= weight as u64;
                }
                unreachable!("the draw is below the sum of the weights")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(template: &str, key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Template::parse(template, 1, Pattern::Random)
            .unwrap()
            .encode(key, data, &mut out);
        out
    }

    #[test]
    fn a_transaction_template_sends_every_command() {
        let template =
            Template::parse("MULTI ; INCR c:__key__ ; EXEC", 1, Pattern::Random).unwrap();
        assert_eq!(template.replies(), 3);
        assert_eq!(
            encoded("MULTI ; INCR c:__key__ ; EXEC", b"9", b""),
            b"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$3\r\nc:9\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        assert!(Template::parse("GET a ; ; EXEC", 1, Pattern::Random).is_err());
    }

    #[test]
    fn placeholders_become_key_and_data() {
        assert_eq!(
            encoded("set __key__ __data__", b"k1", b"vv"),
            b"*3\r\n$3\r\nset\r\n$2\r\nk1\r\n$2\r\nvv\r\n"
        );
        assert_eq!(
            encoded("HSET h:__key__ f __data__-__key__", b"7", b"x"),
            b"*4\r\n$4\r\nHSET\r\n$3\r\nh:7\r\n$1\r\nf\r\n$3\r\nx-7\r\n"
        );
    }

    #[test]
    fn names_and_reads() {
        let t = Template::parse("get __key__", 1, Pattern::Random).unwrap();
        assert_eq!(t.name, "GET");
        assert!(t.is_read && t.uses_key());
        assert!(!Template::parse("PING", 1, Pattern::Random)
            .unwrap()
            .uses_key());
        assert!(Template::parse("  ", 1, Pattern::Random).is_err());
        let ratio = Template::ratio(1, 0, (Pattern::Random, Pattern::Random));
        assert_eq!(ratio.len(), 1);
        assert_eq!(ratio[0].name, "Sets");
    }

    #[test]
    fn mix_follows_weights() {
        let mix = Mix::new(Template::ratio(1, 3, (Pattern::Random, Pattern::Random))).unwrap();
        let mut rng = Rng::with_seed(3);
        let gets = (0..40_000).filter(|_| mix.pick(&mut rng) == 1).count();
        assert!((29_000..31_000).contains(&gets), "{gets}");
        assert!(Mix::new(Vec::new()).is_err());
    }

    #[test]
    fn decimal_digits() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(n, &mut out);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn data_sizes() {
        let mut rng = Rng::with_seed(1);
        assert_eq!(DataSize::parse_range("10-20").unwrap().max(), 20);
        assert!(DataSize::parse_range("20-10").is_err());
        let list = DataSize::parse_list("8:1,100:3").unwrap();
        let big = (0..4000).filter(|_| list.pick(&mut rng) == 100).count();
        assert!((2800..3200).contains(&big), "{big}");
        assert!(DataSize::parse_list("8:0").is_err());
    }
}
