//! Why a comparison could not run; each message says what to do about it.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// A program the comparison runs is not installed.
    MissingTool {
        tool: String,
        install: &'static str,
    },
    /// The holdfast-server binary is not where we were told to look.
    MissingHoldfast(PathBuf),
    /// The command line asks for something this machine or harness cannot do.
    Usage(String),
    /// A server did not start or stopped answering.
    Server {
        server: String,
        detail: String,
    },
    /// redis-benchmark failed or printed something we cannot read.
    Benchmark {
        command: String,
        detail: String,
    },
    /// Loading keys for the memory measurement failed.
    Load {
        server: String,
        detail: String,
    },
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
            Error::MissingTool { tool, install } => {
                write!(f, "{tool} not found; install it with `{install}`")
            }
            Error::MissingHoldfast(path) => write!(
                f,
                "holdfast-server not found at {}; build it with \
                 `cargo build --release -p holdfast-server` or pass --holdfast-bin PATH",
                path.display()
            ),
            Error::Usage(message) => f.write_str(message),
            Error::Server { server, detail } => write!(f, "{server}: {detail}"),
            Error::Benchmark { command, detail } => {
                write!(f, "redis-benchmark failed: {detail}\n  command: {command}")
            }
            Error::Load { server, detail } => {
                write!(f, "loading keys into {server} failed: {detail}")
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
