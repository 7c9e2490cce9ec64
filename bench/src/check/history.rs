//! The history format: one operation per line of JSON, as the workloads record it and
//! `holdfast-bench check` reads it.
//!
//! ```text
//! {"process":3,"key":"reg:17","kind":"write","input":"3:41","output":null,
//!  "invoke_ns":1200345,"complete_ns":1290077,"outcome":"ok"}
//! ```
//!
//! - `process`: the client that issued the operation. A client issues one operation at a
//!   time, but after an operation of unknown outcome it goes on with a new connection,
//!   so the checker never assumes a process's operations are ordered.
//! - `kind`: `write` (SET key input), `read` (GET key; output is the value or null),
//!   `incr` (INCR key; output is the new value, in decimal), `append` (RPUSH key input;
//!   output is the list's new length, in decimal) or `read-list` (LRANGE key 0 -1;
//!   `elements` is the list, `[]` for a missing key).
//! - `elements`: only on `read-list`, and left out of every other line, so histories of
//!   the other kinds read as they always did.
//! - `invoke_ns`, `complete_ns`: a monotonic clock, nanoseconds since the run started;
//!   invoke is read just before the request is sent, complete just after the reply is
//!   read (or, for an unknown outcome, when the client gave up).
//! - `outcome`: `ok` (the reply says it took effect), `fail` (it certainly did not, e.g.
//!   `-LOADING`), `unknown` (the connection broke or timed out, or the server answered an
//!   error that does not rule the effect out): it may take effect at any time after
//!   invoke, or never.
//!
//! Every key starts missing (GET answers null), as on a fresh server.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{self, BufRead, Write};

/// What an operation did to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Write,
    Read,
    Incr,
    Append,
    #[serde(rename = "read-list")]
    ReadList,
    /// Compare-and-set: set `input` if the value is `expected` (absent when null);
    /// output "1" when it set, "0" when it did not.
    Cas,
}

/// Whether an operation took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    Unknown,
}

/// One recorded operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    pub process: u32,
    pub key: String,
    pub kind: Kind,
    /// The value written (`write`); null for `read` and `incr`.
    pub input: Option<String>,
    /// The value read, the counter's new value or the list's new length; null when
    /// missing or unknown.
    pub output: Option<String>,
    /// The list a `read-list` returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elements: Option<Vec<String>>,
    /// The value a `cas` expected (null: the key absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    pub invoke_ns: u64,
    pub complete_ns: u64,
    pub outcome: Outcome,
}

/// A line that is not an operation.
#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    Line { line: usize, detail: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "reading the history: {e}"),
            Error::Line { line, detail } => write!(f, "history line {line}: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

impl Op {
    /// Refuses what the checker could not interpret: a write without a value, an
    /// operation that completes before it starts, an ok incr whose output is no number.
    fn validate(&self) -> Result<(), String> {
        if self.complete_ns < self.invoke_ns {
            return Err("complete_ns is before invoke_ns".to_string());
        }
        match (self.kind, self.outcome) {
            (Kind::Write | Kind::Append, _) if self.input.is_none() => {
                Err(format!("{:?} needs an input", self.kind))
            }
            (Kind::Incr | Kind::Append, Outcome::Ok) => {
                match self.output.as_deref().map(str::parse::<i64>) {
                    Some(Ok(_)) => Ok(()),
                    _ => Err(format!("an ok {:?} needs an integer output", self.kind)),
                }
            }
            (Kind::ReadList, Outcome::Ok) if self.elements.is_none() => {
                Err("an ok read-list needs its elements".into())
            }
            _ => Ok(()),
        }
    }
}

/// Reads a history: one JSON operation per line; blank lines are skipped.
pub fn read(reader: impl BufRead) -> Result<Vec<Op>, Error> {
    let mut ops = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(Error::Io)?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |detail: String| Error::Line {
            line: index + 1,
            detail,
        };
        let op: Op = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        op.validate().map_err(bad)?;
        ops.push(op);
    }
    Ok(ops)
}

/// Writes `ops` one per line.
pub fn write<'a>(mut writer: impl Write, ops: impl IntoIterator<Item = &'a Op>) -> io::Result<()> {
    for op in ops {
        serde_json::to_writer(&mut writer, op)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: Kind, outcome: Outcome) -> Op {
        Op {
            process: 1,
            key: "k".into(),
            kind,
            input: (kind == Kind::Write).then(|| "v".to_string()),
            output: (kind == Kind::Incr).then(|| "1".to_string()),
            elements: None,
            expected: None,
            invoke_ns: 10,
            complete_ns: 20,
            outcome,
        }
    }

    #[test]
    fn round_trips_through_json_lines() {
        let mut list_read = op(Kind::ReadList, Outcome::Ok);
        list_read.elements = Some(vec!["a".into(), "b".into()]);
        let ops = vec![
            op(Kind::Write, Outcome::Ok),
            op(Kind::Read, Outcome::Unknown),
            op(Kind::Incr, Outcome::Fail),
            list_read,
        ];
        let mut bytes = Vec::new();
        write(&mut bytes, &ops).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(!text.lines().next().unwrap().contains("elements"));
        assert!(text.contains(r#""kind":"read-list","#));
        assert!(text.contains(r#""elements":["a","b"]"#));
        assert!(text.starts_with(r#"{"process":1,"key":"k","kind":"write","input":"v","#));
        assert!(text.contains(r#""outcome":"unknown""#));
        assert_eq!(read(&bytes[..]).unwrap(), ops);
    }

    #[test]
    fn refuses_lines_the_checker_cannot_interpret() {
        let line_of = |op: &Op| serde_json::to_string(op).unwrap();
        let mut backwards = op(Kind::Read, Outcome::Ok);
        backwards.complete_ns = 5;
        let mut no_value = op(Kind::Write, Outcome::Ok);
        no_value.input = None;
        let mut not_a_number = op(Kind::Incr, Outcome::Ok);
        not_a_number.output = Some("x".into());
        let no_list = op(Kind::ReadList, Outcome::Ok);
        for bad in [backwards, no_value, not_a_number, no_list] {
            let text = format!("\n{}\n", line_of(&bad));
            match read(text.as_bytes()) {
                Err(Error::Line { line: 2, .. }) => {}
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert!(matches!(
            read(&b"{\"process\":1}\n"[..]),
            Err(Error::Line { line: 1, .. })
        ));
    }
}
