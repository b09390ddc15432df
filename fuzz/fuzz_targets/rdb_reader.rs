//! A corrupt RDB file or DUMP payload must give an error with an offset,
//! never a panic or an unbounded allocation, with shallow and deep checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = b"REDIS0010".to_vec();
    input.extend_from_slice(data);
    for deep in [false, true] {
        let s = rdb::Sanitize {
            deep,
            ..rdb::Sanitize::default()
        };
        if let Ok(r) = rdb::Reader::new(input.as_slice()) {
            let mut r = r.with_sanitize(s);
            for _ in 0..10_000 {
                match r.next_item() {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }
        // The same bytes as a DUMP payload, its checksum not checked.
        let _ = rdb::restore_value(data, true, s);
    }
});
