//! `log::Error`: the one error type of the log layer.

use std::fmt;
use std::io;

/// Everything the log can fail with. Corruption always names the file and byte offset, so
/// an operator can look at the bytes.
#[derive(Debug)]
pub enum Error {
    /// An I/O call failed. `file` is the segment or directory it was about.
    Io {
        op: &'static str,
        file: String,
        source: io::Error,
    },
    /// A record failed verification inside the part of the log that must be intact.
    Corrupt {
        file: String,
        offset: u64,
        reason: String,
    },
    /// An earlier write or fdatasync failed: the log accepts nothing more until restarted
    /// and recovered (a failed fsync may have dropped dirty pages; retrying would lie).
    Poisoned,
    /// The log was closed; no more appends.
    Closed,
    /// A payload larger than `RECORD_PAYLOAD_BYTES_MAX`.
    RecordTooLarge { len: usize, max: u32 },
    /// A read asked for an LSN below the first one still kept (trimmed away).
    Trimmed { lsn: u64, first: u64 },
}

impl Error {
    pub(crate) fn io(op: &'static str, file: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            op,
            file: file.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, file, source } => write!(f, "log I/O error: {op} {file}: {source}"),
            Error::Corrupt { file, offset, reason } => write!(
                f,
                "log corrupted in {file} at offset {offset}: {reason}; the damaged record lies inside \
                 the acknowledged part of the log, so it will not be truncated: restore this log \
                 peer from a replica or a snapshot"
            ),
            Error::Poisoned => write!(f, "log poisoned by an earlier failed write or fdatasync; restart to recover"),
            Error::Closed => write!(f, "log closed"),
            Error::RecordTooLarge { len, max } => write!(f, "log record of {len} bytes exceeds the limit of {max}"),
            Error::Trimmed { lsn, first } => write!(f, "LSN {lsn} was trimmed; the log starts at {first}"),
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

pub type Result<T> = std::result::Result<T, Error>;
