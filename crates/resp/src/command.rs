//! Encoding a command as a client sends it: a RESP multibulk of bulk
//! strings. The one encoder every producer of commands uses — the journal
//! (replication stream and AOF), the AOF rewrite, the replica's handshake,
//! Sentinel's links and the tools' client — so they cannot drift apart.

/// Appends the array header of a command of `argc` arguments.
#[inline]
pub fn push_command_header(out: &mut Vec<u8>, argc: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(argc).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends one argument as a bulk string.
#[inline]
pub fn push_command_arg(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(arg.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

/// Appends `args` as one command.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    push_command_header(out, args.len());
    for a in args {
        push_command_arg(out, a.as_ref());
    }
}

/// `SELECT <db>` as a command, as the replication stream and the AOF
/// write it when the database changes.
pub fn encode_select(out: &mut Vec<u8>, db: usize) {
    encode_command(
        out,
        &[&b"SELECT"[..], itoa::Buffer::new().format(db).as_bytes()],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_a_multibulk_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&mut out, &["SET", "k", ""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        out.clear();
        encode_select(&mut out, 12);
        assert_eq!(out, b"*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n");
    }
}
