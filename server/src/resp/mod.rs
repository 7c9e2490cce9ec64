//! RESP: the wire protocol. Parsing requests out of a connection's read buffer (borrowed,
//! no copies) and encoding replies for RESP2 or RESP3. Knows nothing of commands or shards.

pub mod parse;
pub mod reply;

pub use parse::{parse_request, ArgRanges, ParseError, Parsed};
pub use reply::{Proto, Reply};
