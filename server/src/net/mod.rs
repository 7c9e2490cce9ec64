//! The network: one listener per core on the same port (SO_REUSEPORT, so the kernel
//! spreads connections over cores), and one task per connection that reads requests,
//! hands them to `command::dispatch`, and writes the replies back in as few sends as
//! possible. Socket I/O goes through a network io_uring per core (`ring`), so that one
//! system call serves every connection that was busy in the same tick; glommio's sockets
//! are the fallback where the kernel refuses that ring (`socket`).

pub mod connection;
pub mod listener;
pub mod ring;
pub mod socket;
