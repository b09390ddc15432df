//! Every error string a client can see, in one place, so that replies stay
//! byte-identical to Redis 7.0. Each text is the whole reply after `-`.

use crate::cmd::Argv;

/// A key holds a value of another type than the command works on; the
/// handler replies with [`WRONGTYPE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const INVALID_DB: &str = "ERR DB index is out of range";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const INVALID_EXPIRE: &str = "ERR invalid expire time in '%s' command";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NOT_CONFIGURED: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
pub const INCR_NAN: &str = "ERR increment would produce NaN or Infinity";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
pub const BIT_ARG: &str = "ERR The bit argument must be 1 or 0.";
pub const BITOP_NOT_ONE_KEY: &str = "ERR BITOP NOT must be called with a single source key.";
pub const BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
pub const BITFIELD_OVERFLOW_TYPE: &str = "ERR Invalid OVERFLOW type specified";
pub const BITFIELD_RO_GET_ONLY: &str = "ERR BITFIELD_RO only supports the GET subcommand";
pub const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
pub const LCS_LEN_AND_IDX: &str =
    "ERR If you want both the length and indexes, please just use IDX.";
pub const LCS_TOO_LONG: &str = "ERR String too long for LCS";
pub const LCS_OVER_LIMIT: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
pub const LCS_ALLOC_FAILED: &str =
    "ERR Insufficient memory, failed allocating transient memory for LCS";

/// `ERR wrong number of arguments for 'get' command`; subcommands use their
/// full name (`config|get`).
pub fn wrong_arity(full_name: &str) -> String {
    format!("ERR wrong number of arguments for '{full_name}' command")
}

/// `ERR invalid expire time in 'set' command`.
pub fn invalid_expire(cmd: &str) -> String {
    INVALID_EXPIRE.replace("%s", cmd)
}

/// Redis prints at most 128 bytes of the name and of the arguments, each
/// argument quoted and followed by a space.
pub fn unknown_command(name: &[u8], argv: Argv) -> String {
    let mut args = String::new();
    for a in argv.from(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push('\'');
        args.push_str(&String::from_utf8_lossy(&a[..a.len().min(room)]));
        args.push_str("' ");
    }
    let name = &name[..name.len().min(128)];
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(name),
        args
    )
}

/// `ERR unknown subcommand 'foo'. Try CONFIG HELP.`
pub fn unknown_subcommand(sub: &[u8], parent: &str) -> String {
    let sub = &sub[..sub.len().min(128)];
    format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        parent.to_ascii_uppercase()
    )
}

/// The error code counted by `INFO errorstats`: the first word of the
/// message.
pub fn code(msg: &str) -> &str {
    msg.split(' ').next().unwrap_or("ERR")
}
