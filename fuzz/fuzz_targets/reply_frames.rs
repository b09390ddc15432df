//! The reply-frame parser used by replica links and Sentinel must survive
//! any bytes a peer sends.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_, n))) = resp::parse_frame(data) {
        assert!(n <= data.len());
    }
});
