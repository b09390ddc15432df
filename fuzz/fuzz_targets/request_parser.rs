//! Any bytes fed to the request parser, in any split, must parse, ask for
//! more, or fail with a protocol error: never panic or loop.
#![no_main]
use libfuzzer_sys::fuzz_target;
use resp::{parse_request, Limits, Parsed, Request};

fuzz_target!(|data: &[u8]| {
    let mut req = Request::default();
    for unauthenticated in [false, true] {
        let limits = Limits { max_bulk_len: 1 << 20, unauthenticated };
        let mut pos = 0;
        while pos < data.len() {
            match parse_request(&data[pos..], &limits, &mut req) {
                Parsed::Complete { consumed } => {
                    assert!(consumed > 0);
                    let backing = req.backing(&data[pos..]);
                    for &(s, e) in &req.ranges {
                        assert!(s <= e && e <= backing.len());
                    }
                    pos += consumed;
                }
                _ => break,
            }
        }
    }
});
