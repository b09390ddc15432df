//! The AOF loader's own parsers, as start-up loading, `DEBUG LOADAOF` and
//! `redoubt check-aof` use them: the manifest (`Manifest::parse`) and the
//! command stream (`aof::parser::CommandReader`).
//!
//! - A manifest that parses renders to text that parses to the same
//!   manifest (when its lines fit in the 1024 bytes Redis reads).
//! - The command reader gives the same commands, annotations and outcome
//!   (end, or the error with its offsets) whether the file arrives in one
//!   buffer or through a small read buffer (the first byte picks its
//!   size), as reads deliver a real file.
//! - Offsets stay within the input, and the reader's buffer stays within
//!   a small multiple of the input: a length field in a damaged file
//!   never makes it allocate what the file does not hold.
#![no_main]
use libfuzzer_sys::fuzz_target;
use server::persistence::aof::manifest::Manifest;
use server::persistence::aof::parser::{AofError, CommandReader, Step};
use std::io::BufRead;

#[derive(Debug, PartialEq)]
enum Item {
    Command(Vec<Vec<u8>>),
    Annotation(Vec<u8>),
}

/// Everything the reader yields from `r`, and how it ended.
fn read_all<R: BufRead>(r: R, len: usize) -> (Vec<Item>, Result<u64, AofError>) {
    let mut reader = CommandReader::new(r, 0);
    let mut items = Vec::new();
    loop {
        let before = reader.offset();
        let step = reader.next_step();
        assert!(reader.offset() >= before && reader.offset() <= len as u64);
        // Arguments are kept once, plus the argument being read.
        assert!(
            reader.buf.capacity() <= 2 * len + 128 * 1024,
            "buffer {} for {len} bytes of input",
            reader.buf.capacity()
        );
        match step {
            Ok(Step::Command) => {
                let args: Vec<Vec<u8>> = reader.args().iter().map(|a| a.to_vec()).collect();
                assert!(!args.is_empty());
                items.push(Item::Command(args));
            }
            Ok(Step::Annotation(a)) => items.push(Item::Annotation(a)),
            Ok(Step::Eof) => return (items, Ok(reader.offset())),
            Err(e) => {
                assert!(e.valid_up_to <= e.at || e.truncated, "{e:?}");
                assert!(e.valid_up_to <= len as u64 && e.at <= len as u64, "{e:?}");
                return (items, Err(e));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data) {
        let text = m.render();
        // Rendering an empty manifest gives an empty file, which Redis
        // refuses ("Found an empty AOF manifest"); and a file name long
        // enough (or, read from bytes that are not UTF-8, escaped long
        // enough) makes a line longer than the 1024 bytes Redis reads.
        let fits = text.lines().all(|l| l.len() < 1024);
        if fits && (m.base.is_some() || !m.incrs.is_empty() || !m.history.is_empty()) {
            let back = Manifest::parse(text.as_bytes())
                .unwrap_or_else(|e| panic!("{text:?} does not parse back: {e}"));
            assert_eq!(back.render(), text);
        }
    }

    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let whole = read_all(data, data.len());
    let capacity = 1 + (first as usize % 64);
    let chunked = read_all(
        std::io::BufReader::with_capacity(capacity, data),
        data.len(),
    );
    assert_eq!(whole, chunked);
});
