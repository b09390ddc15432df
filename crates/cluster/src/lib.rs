//! Redis Cluster as data: the nodes this node knows, who owns which of the
//! 16384 hash slots, the epochs, the `nodes.conf` format, the cluster bus's
//! binary messages, and the decisions Redis 7.0's `cluster.c` makes on
//! them (slot ownership by config epoch, handshakes, redirections). No I/O
//! and no clock: the engine (`server::cluster`) owns the sockets and the
//! time and feeds them in, so every rule here is tested without sockets.
//!
//! - [`node`]: a node's identity, address, flags and slots;
//!   [`state`]: the table of nodes and slots and the rules that change it;
//! - [`conf`]: `CLUSTER NODES` lines and `nodes.conf`;
//! - [`msg`]: the bus messages (PING, PONG, MEET, FAIL, UPDATE) byte for
//!   byte as Redis 7.0 lays them out;
//! - [`failover`]: a replica's election when its master fails;
//! - [`redirect`]: which node serves a command (`-MOVED`, `-ASK`, ...).

pub mod conf;
pub mod failover;
pub mod migration;
pub mod msg;
pub mod node;
pub mod receive;
pub mod redirect;
pub mod state;

pub use node::{flags, Name, Node, SlotBits};
pub use state::ClusterState;

/// Number of hash slots.
pub const SLOTS: usize = 16384;
