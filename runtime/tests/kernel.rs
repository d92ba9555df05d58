//! The runtime against the real kernel, each test in network namespaces
//! of its own. Without root (or `ip netns`), tests print why and pass,
//! except under CI=true, where that is a failure.
//!
//! One test binary; its modules are the concepts under test, over the
//! helpers in `api` and `model`.

#[path = "kernel/api.rs"]
mod api;
#[path = "kernel/model.rs"]
mod model;

#[path = "kernel/counters.rs"]
mod counters;
#[path = "kernel/everything.rs"]
mod everything;
#[path = "kernel/packets.rs"]
mod packets;
#[path = "kernel/privileges.rs"]
mod privileges;
#[path = "kernel/round_trip.rs"]
mod round_trip;
#[path = "kernel/transaction.rs"]
mod transaction;
