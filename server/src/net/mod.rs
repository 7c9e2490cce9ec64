//! The network: one listener per core on the same port (SO_REUSEPORT, so the kernel
//! spreads connections over cores), and one task per connection that reads requests,
//! hands them to `command::dispatch`, and writes the replies back in as few sends as
//! possible.

pub mod connection;
pub mod listener;
