//! `holdfast-tune`: host inspection and bare-metal latency tuning.
//!
//! What it will own (the tuning issue): `report` (CPU frequency governor, C-states, IRQ
//! affinity, NIC queues, transparent huge pages, swap, clocksource), `probe` (measured
//! wake-up and cache-line ping-pong latency per core pair), and `apply`/`revert` of a
//! recorded set of changes, each with `--json`.
//!
//! Nothing lives here yet.
