//! The AOF loader reads the file as a stream of RESP commands through the
//! request parser, with no bulk-length limit (as for a master link), and
//! stops at the last whole command of a truncated tail. This target checks
//! that stream parsing is resumable: parsing the bytes in one buffer, or
//! in chunks as reads deliver them, yields the same commands and stops at
//! the same offset with the same outcome.
#![no_main]
use libfuzzer_sys::fuzz_target;
use resp::{parse_request, Limits, Parsed, Request};

#[derive(Debug, PartialEq)]
enum End {
    /// Truncated tail (or clean end) after this many bytes.
    Incomplete(usize),
    Error(String, usize),
}

const LIMITS: Limits = Limits {
    max_bulk_len: i64::MAX,
    unauthenticated: false,
};

/// Commands parsed from the whole buffer at once.
fn whole(data: &[u8]) -> (Vec<Vec<Vec<u8>>>, End) {
    let mut req = Request::default();
    let mut cmds = Vec::new();
    let mut pos = 0;
    loop {
        match parse_request(&data[pos..], &LIMITS, &mut req) {
            Parsed::Incomplete => return (cmds, End::Incomplete(pos)),
            Parsed::Error(e) => return (cmds, End::Error(e.to_string(), pos)),
            Parsed::Complete { consumed } => {
                assert!(consumed > 0 && pos + consumed <= data.len());
                let backing = req.backing(&data[pos..pos + consumed]);
                cmds.push(req.ranges.iter().map(|&(s, e)| backing[s..e].to_vec()).collect());
                pos += consumed;
            }
        }
    }
}

/// The same bytes delivered `chunk` at a time into a growing buffer.
fn chunked(data: &[u8], chunk: usize) -> (Vec<Vec<Vec<u8>>>, End) {
    let mut req = Request::default();
    let mut cmds = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut done = 0;
    loop {
        let next = (fed + chunk).min(data.len());
        buf.extend_from_slice(&data[fed..next]);
        fed = next;
        loop {
            match parse_request(&buf, &LIMITS, &mut req) {
                Parsed::Incomplete => break,
                Parsed::Error(e) => return (cmds, End::Error(e.to_string(), done)),
                Parsed::Complete { consumed } => {
                    let backing = req.backing(&buf[..consumed]);
                    cmds.push(req.ranges.iter().map(|&(s, e)| backing[s..e].to_vec()).collect());
                    buf.drain(..consumed);
                    done += consumed;
                }
            }
        }
        if fed == data.len() {
            return (cmds, End::Incomplete(done));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let chunk = 1 + (first as usize % 64);
    let a = whole(data);
    let b = chunked(data, chunk);
    // An inline request is only judged once its line is complete, so a
    // chunked parse may see a protocol error for a too-long line earlier
    // or later; the commands before it must agree in any case.
    match (&a.1, &b.1) {
        (End::Error(..), _) | (_, End::Error(..)) => {
            let n = a.0.len().min(b.0.len());
            assert_eq!(a.0[..n], b.0[..n]);
        }
        _ => assert_eq!(a, b),
    }
});
