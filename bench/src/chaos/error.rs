//! Why a chaos run could not run to its verdict; each message says what to do about it.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum Error {
    /// The command line asks for something the harness cannot do.
    Usage(String),
    /// The server did not start, restart or stay up; the text has its log's tail.
    Server(String),
    /// A system tool the run needs (losetup, mount, mkfs.ext4) failed; the text has its
    /// command and stderr.
    Tool(String),
    Io {
        context: String,
        source: io::Error,
    },
}

impl Error {
    /// A `map_err` adapter that names what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) | Error::Server(message) | Error::Tool(message) => {
                f.write_str(message)
            }
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
