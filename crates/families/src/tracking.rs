//! `CLIENT TRACKING`, `CLIENT CACHING`, `CLIENT GETREDIR` and `CLIENT
//! TRACKINGINFO`: the client side of client-side caching. The tables and
//! the invalidation messages are in `server::tracking`.

use server::cmd::{Ctx, Handler};
use server::errors;
use server::tracking::{prefix_collision, ClientTracking};
use std::collections::BTreeSet;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("client|tracking", client_tracking),
    ("client|caching", client_caching),
    ("client|getredir", client_getredir),
    ("client|trackinginfo", client_trackinginfo),
];

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]. Checks run in Redis's order, so the first problem
/// reported is the one Redis reports.
fn client_tracking(ctx: &mut Ctx) {
    let mut opts = ClientTracking::default();
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    let argc = ctx.argv.len();
    let mut j = 3;
    while j < argc {
        let a = ctx.argv.get(j);
        let more = j + 1 < argc;
        if a.eq_ignore_ascii_case(b"REDIRECT") && more {
            j += 1;
            if opts.redirect != 0 {
                return ctx.err(errors::TRACKING_SINGLE_REDIRECT);
            }
            let Some(id) = resp::parse_i64(ctx.argv.get(j)) else {
                return ctx.err(errors::NOT_INTEGER);
            };
            // The target must exist now, even if it may leave later.
            let exists = id > 0
                && (id as u64 == ctx.client.id || ctx.srv.clients.contains_key(&(id as u64)));
            if !exists {
                return ctx.err(errors::TRACKING_NO_REDIRECT_TARGET);
            }
            opts.redirect = id as u64;
        } else if a.eq_ignore_ascii_case(b"BCAST") {
            opts.bcast = true;
        } else if a.eq_ignore_ascii_case(b"OPTIN") {
            opts.optin = true;
        } else if a.eq_ignore_ascii_case(b"OPTOUT") {
            opts.optout = true;
        } else if a.eq_ignore_ascii_case(b"NOLOOP") {
            opts.noloop = true;
        } else if a.eq_ignore_ascii_case(b"PREFIX") && more {
            j += 1;
            prefixes.push(ctx.argv.get(j).to_vec());
        } else {
            return ctx.err(errors::SYNTAX);
        }
        j += 1;
    }
    let mode = ctx.argv.get(2);
    if mode.eq_ignore_ascii_case(b"ON") {
        let cur = &ctx.client.tracking;
        if !opts.bcast && !prefixes.is_empty() {
            return ctx.err(errors::TRACKING_PREFIX_NEEDS_BCAST);
        }
        if cur.on && cur.bcast != opts.bcast {
            return ctx.err(errors::TRACKING_BCAST_SWITCH);
        }
        if opts.bcast && (opts.optin || opts.optout) {
            return ctx.err(errors::TRACKING_OPT_WITH_BCAST);
        }
        if opts.optin && opts.optout {
            return ctx.err(errors::TRACKING_OPTIN_AND_OPTOUT);
        }
        if (opts.optin && cur.optout) || (opts.optout && cur.optin) {
            return ctx.err(errors::TRACKING_OPT_SWITCH);
        }
        if opts.bcast {
            if let Some(e) = prefix_collision(&cur.prefixes, &prefixes) {
                return ctx.err(&e);
            }
        }
        opts.prefixes = prefixes.into_iter().collect::<BTreeSet<_>>();
        let (srv, client) = ctx.parts();
        srv.enable_tracking(client, opts);
    } else if mode.eq_ignore_ascii_case(b"OFF") {
        let (srv, client) = ctx.parts();
        srv.disable_tracking(client);
    } else {
        return ctx.err(errors::SYNTAX);
    }
    ctx.out().ok();
}

/// CLIENT CACHING YES|NO: whether the next command's keys are tracked, in
/// OPTIN (yes) or OPTOUT (no) mode.
fn client_caching(ctx: &mut Ctx) {
    let t = &ctx.client.tracking;
    if !t.on {
        return ctx.err(errors::CACHING_NOT_TRACKING);
    }
    let v = ctx.argv.get(2);
    if v.eq_ignore_ascii_case(b"YES") {
        if !t.optin {
            return ctx.err(errors::CACHING_YES_NEEDS_OPTIN);
        }
    } else if v.eq_ignore_ascii_case(b"NO") {
        if !t.optout {
            return ctx.err(errors::CACHING_NO_NEEDS_OPTOUT);
        }
    } else {
        return ctx.err(errors::SYNTAX);
    }
    ctx.client.tracking.caching = true;
    ctx.out().ok();
}

fn client_getredir(ctx: &mut Ctx) {
    let t = &ctx.client.tracking;
    let r = if t.on { t.redirect as i64 } else { -1 };
    ctx.out().int(r);
}

fn client_trackinginfo(ctx: &mut Ctx) {
    let t = ctx.client.tracking.clone();
    let mut flags: Vec<&[u8]> = Vec::new();
    if !t.on {
        flags.push(b"off");
    } else {
        flags.push(b"on");
        if t.bcast {
            flags.push(b"bcast");
        }
        if t.optin {
            flags.push(b"optin");
            if t.caching {
                flags.push(b"caching-yes");
            }
        }
        if t.optout {
            flags.push(b"optout");
            if t.caching {
                flags.push(b"caching-no");
            }
        }
        if t.noloop {
            flags.push(b"noloop");
        }
        if t.broken_redirect {
            flags.push(b"broken_redirect");
        }
    }
    let out = ctx.out();
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for f in flags {
        out.bulk(f);
    }
    out.bulk(b"redirect");
    out.int(if t.on { t.redirect as i64 } else { -1 });
    out.bulk(b"prefixes");
    out.array(t.prefixes.len());
    for p in &t.prefixes {
        out.bulk(p);
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn option_errors_follow_redis() {
        let mut k = Kit::new();
        let e = |s: &str| format!("-{s}\r\n");
        assert_eq!(
            k.run(&["CLIENT", "TRACKING", "on", "optin", "optout"]),
            e("ERR You can't specify both OPTIN mode and OPTOUT mode")
        );
        assert_eq!(
            k.run(&["CLIENT", "TRACKING", "on", "prefix", "a"]),
            e("ERR PREFIX option requires BCAST mode to be enabled")
        );
        assert_eq!(
            k.run(&["CLIENT", "TRACKING", "on", "bcast", "prefix", "foo", "prefix", "fo"]),
            e("ERR Prefix 'foo' overlaps with another provided prefix 'fo'. Prefixes for a single client must not overlap.")
        );
        assert_eq!(
            k.run(&["CLIENT", "TRACKING", "on", "redirect", "99"]),
            e("ERR The client ID you want redirect to does not exist")
        );
        assert_eq!(
            k.run(&["CLIENT", "CACHING", "yes"]),
            e("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
        );
        assert_eq!(
            k.run(&["CLIENT", "TRACKING", "on", "bcast", "prefix", "fo"]),
            "+OK\r\n"
        );
        assert_eq!(
            k.run(&["CLIENT", "TRACKING", "on", "bcast", "prefix", "foo"]),
            e("ERR Prefix 'foo' overlaps with an existing prefix 'fo'. Prefixes for a single client must not overlap.")
        );
        assert_eq!(
            k.run(&["CLIENT", "TRACKINGINFO"]),
            "*6\r\n$5\r\nflags\r\n*2\r\n$2\r\non\r\n$5\r\nbcast\r\n$8\r\nredirect\r\n:0\r\n\
             $8\r\nprefixes\r\n*1\r\n$2\r\nfo\r\n"
        );
        assert_eq!(k.run(&["CLIENT", "TRACKING", "off"]), "+OK\r\n");
        assert_eq!(k.run(&["CLIENT", "GETREDIR"]), ":-1\r\n");
        assert_eq!(k.srv.tracking.totals(), (0, 0, 0));
    }

    #[test]
    fn resp3_self_invalidation_follows_the_reply() {
        let mut k = Kit::new();
        k.run(&["HELLO", "3"]);
        k.run(&["CLIENT", "TRACKING", "on"]);
        k.run(&["GET", "k"]);
        assert_eq!(k.srv.tracking.totals(), (1, 1, 0));
        assert_eq!(
            k.run(&["SET", "k", "v"]),
            "+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        // Forgotten until read again.
        assert_eq!(k.run(&["SET", "k", "v"]), "+OK\r\n");
        k.run(&["GET", "k"]);
        assert_eq!(
            k.run(&["FLUSHALL"]),
            "+OK\r\n>2\r\n$10\r\ninvalidate\r\n_\r\n"
        );
        k.run(&["CLIENT", "TRACKING", "on", "noloop"]);
        k.run(&["GET", "k"]);
        assert_eq!(k.run(&["SET", "k", "v"]), "+OK\r\n");
    }

    #[test]
    fn optin_tracks_only_after_caching_yes() {
        let mut k = Kit::new();
        k.run(&["HELLO", "3"]);
        k.run(&["CLIENT", "TRACKING", "on", "optin"]);
        k.run(&["GET", "a"]);
        assert_eq!(k.srv.tracking.totals().0, 0);
        k.run(&["CLIENT", "CACHING", "yes"]);
        k.run(&["MGET", "a", "b"]);
        assert_eq!(k.srv.tracking.totals().0, 2);
        k.run(&["GET", "c"]);
        assert_eq!(k.srv.tracking.totals().0, 2);
    }

    #[test]
    fn bcast_sends_keys_under_the_prefixes() {
        let mut k = Kit::new();
        k.run(&["HELLO", "3"]);
        k.run(&[
            "CLIENT", "TRACKING", "on", "bcast", "prefix", "a:", "prefix", "b:",
        ]);
        assert_eq!(
            k.run(&["MSET", "a:1", "x", "c:1", "y", "a:0", "z"]),
            "+OK\r\n>2\r\n$10\r\ninvalidate\r\n*2\r\n$3\r\na:0\r\n$3\r\na:1\r\n"
        );
    }
}
