//! `holdfast-bench check`: histories of operations against a key-value store, checked
//! for linearizability and for lost writes.
pub mod history;
pub mod model;
pub mod search;
