//! A corrupt RDB file must give an error with an offset, never a panic or
//! an unbounded allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = b"REDIS0010".to_vec();
    input.extend_from_slice(data);
    if let Ok(mut r) = rdb::Reader::new(input.as_slice()) {
        for _ in 0..10_000 {
            match r.next_item() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
});
