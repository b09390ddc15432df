//! Property tests of the request parser: any encoded command parses back to
//! the same arguments, split at any point; random bytes never panic.

use proptest::prelude::*;
use resp::{parse_request, Limits, Parsed, Request};

fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

proptest! {
    #[test]
    fn multibulk_round_trips(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8), cut in 0usize..400) {
        let wire = encode(&args);
        let mut req = Request::default();
        let limits = Limits::default();
        let cut = cut.min(wire.len());
        if cut < wire.len() {
            prop_assert_eq!(parse_request(&wire[..cut], &limits, &mut req), Parsed::Incomplete);
        }
        prop_assert_eq!(parse_request(&wire, &limits, &mut req), Parsed::Complete { consumed: wire.len() });
        let backing = req.backing(&wire);
        let got: Vec<Vec<u8>> = req.ranges.iter().map(|&(s, e)| backing[s..e].to_vec()).collect();
        prop_assert_eq!(got, args);
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512), unauth in any::<bool>()) {
        let mut req = Request::default();
        let limits = Limits { unauthenticated: unauth, ..Limits::default() };
        let mut pos = 0;
        while pos < data.len() {
            match parse_request(&data[pos..], &limits, &mut req) {
                Parsed::Complete { consumed } => { prop_assert!(consumed > 0); pos += consumed; }
                _ => break,
            }
        }
    }
}
