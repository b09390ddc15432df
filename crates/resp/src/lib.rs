//! RESP, the Redis serialisation protocol, without I/O.
//!
//! - [`request`]: the incremental, zero-copy parser for what clients send
//!   (multibulk arrays and inline commands), with Redis's limits and error
//!   texts.
//! - [`reply`]: the encoder for what the server answers, in RESP2 or RESP3
//!   depending on the connection's `HELLO` version.
//! - [`command`]: the encoder for commands (what clients, replicas and
//!   the AOF send).
//! - [`split_args`]: Redis's quoting rules for inline commands and config
//!   lines.
//!
//! The parser is written by hand rather than with a parser-combinator crate:
//! the protocol is the product, and its exact error behaviour (which bytes
//! are skipped unchecked, which limits apply before authentication) must
//! match Redis byte for byte.

pub mod command;
pub mod frame;
pub mod reply;
pub mod request;
pub mod split_args;

pub use command::{encode_command, encode_select};
pub use frame::{parse_frame, Frame, FrameError};
pub use reply::Reply;
pub use request::{parse_i64, parse_request, Limits, Parsed, Partial, ProtocolError, Request};
