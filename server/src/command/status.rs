//! What a handler can fail with, and the one function that turns it into Redis's text.

use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Syntax,
    WrongType,
    NotInteger,
    NotFloat,
    Overflow,
    NoSuchKey,
    OutOfRange,
    InvalidExpire(&'static str),
    WrongArity(String),
    /// A complete error line (with its code) for errors that carry context.
    Error(Cow<'static, str>),
}

impl Status {
    pub fn err(text: impl Into<Cow<'static, str>>) -> Self {
        Status::Error(text.into())
    }

    /// The error line Redis sends, without the leading '-'.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Status::Syntax => "ERR syntax error".into(),
            Status::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            Status::NotInteger => "ERR value is not an integer or out of range".into(),
            Status::NotFloat => "ERR value is not a valid float".into(),
            Status::Overflow => "ERR increment or decrement would overflow".into(),
            Status::NoSuchKey => "ERR no such key".into(),
            Status::OutOfRange => "ERR index out of range".into(),
            Status::InvalidExpire(command) => {
                format!("ERR invalid expire time in '{command}' command").into()
            }
            Status::WrongArity(command) => {
                format!("ERR wrong number of arguments for '{command}' command").into()
            }
            Status::Error(text) => Cow::Borrowed(text),
        }
    }
}
