//! `MEMORY` (USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP): how much
//! memory the dataset and the server hold, in Redis's reply shapes. Sizes
//! of single keys are estimated the way Redis's allocator would round
//! them, so figures are comparable with Redis's.

use crate::client::help_reply;
use keyspace::{Entry, Value};
use server::cmd::{Ctx, Handler};
use server::config::Directive;
use server::errors;
use server::info::mem_figures;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("memory|usage", memory_usage),
    ("memory|stats", memory_stats),
    ("memory|doctor", memory_doctor),
    ("memory|malloc-stats", memory_malloc_stats),
    ("memory|purge", memory_purge),
    ("memory|help", memory_help),
];

/// The allocation size class a request of `n` bytes lands in, roughly as
/// jemalloc rounds (8, 16, 32, 48, ... then quarter powers of two).
fn size_class(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.div_ceil(16) * 16;
    }
    let p = n.next_power_of_two();
    let step = p / 8;
    n.div_ceil(step) * step
}

/// Approximate bytes used by a key and its value: the table entry, the
/// key's string and the value object, sized like Redis's so numbers are
/// comparable.
pub fn entry_usage(key: &[u8], e: &Entry) -> usize {
    const DICT_ENTRY: usize = 24;
    const OBJ_HEADER: usize = 16;
    let key_sds = size_class(key.len() + 4);
    #[allow(unreachable_patterns)]
    let value = match &e.value {
        Value::Str(s) => match s {
            keyspace::StrValue::Int(_) => OBJ_HEADER,
            s if !s.is_raw() => size_class(OBJ_HEADER + 3 + s.len() + 1),
            s => OBJ_HEADER + size_class(s.capacity() + 9),
        },
        other => OBJ_HEADER + other.heap_size(),
    };
    DICT_ENTRY + key_sds + value
}

fn memory_usage(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    let mut i = 3;
    while i < argc {
        if ctx.argv.get(i).eq_ignore_ascii_case(b"SAMPLES") && i + 1 < argc {
            if resp::parse_i64(ctx.argv.get(i + 1)).is_none() {
                return ctx.err(errors::NOT_INTEGER);
            }
            i += 2;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let key = ctx.argv.get(2);
    let (db, master) = (ctx.client.db, ctx.client.is_master());
    let Some(idx) = ctx.srv.find_live(db, key, master) else {
        return ctx.out().null();
    };
    let n = ctx.srv.dbs[db]
        .at(idx)
        .map(|e| entry_usage(key, e))
        .unwrap_or(0);
    ctx.out().int(n as i64);
}

fn memory_stats(ctx: &mut Ctx) {
    let m = mem_figures(ctx.srv);
    let dbs: Vec<(usize, usize, usize)> = ctx
        .srv
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, d)| (i, d.len(), d.volatile_len()))
        .collect();
    let out = ctx.out();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let dbl = |out: &mut resp::Reply, v: f64| out.double_str(format!("{v}").as_bytes());
    // 10 counters, one map per non-empty database, 17 totals and ratios.
    out.map(27 + dbs.len());
    let ints: [(&str, u64); 10] = [
        ("peak.allocated", m.peak),
        ("total.allocated", m.used),
        ("startup.allocated", m.startup),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", m.overhead.saturating_sub(m.startup)),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
    ];
    for (k, v) in ints {
        out.bulk(k.as_bytes());
        out.int(v as i64);
    }
    for (i, keys, expires) in dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(3);
        out.bulk(b"overhead.hashtable.main");
        out.int((keys * 48) as i64);
        out.bulk(b"overhead.hashtable.expires");
        out.int((expires * 32) as i64);
        out.bulk(b"overhead.hashtable.slot-to-keys");
        out.int(0);
    }
    out.bulk(b"overhead.total");
    out.int(m.overhead as i64);
    out.bulk(b"keys.count");
    out.int(m.keys as i64);
    out.bulk(b"keys.bytes-per-key");
    out.int(
        m.used
            .saturating_sub(m.startup)
            .checked_div(m.keys)
            .unwrap_or(0) as i64,
    );
    out.bulk(b"dataset.bytes");
    out.int(m.dataset as i64);
    out.bulk(b"dataset.percentage");
    dbl(
        out,
        ratio(m.dataset * 100, m.used.saturating_sub(m.startup)),
    );
    out.bulk(b"peak.percentage");
    dbl(out, ratio(m.used * 100, m.peak));
    for k in ["allocator.allocated", "allocator.active"] {
        out.bulk(k.as_bytes());
        out.int(m.used as i64);
    }
    out.bulk(b"allocator.resident");
    out.int(m.rss as i64);
    out.bulk(b"allocator-fragmentation.ratio");
    dbl(out, 1.0);
    out.bulk(b"allocator-fragmentation.bytes");
    out.int(0);
    out.bulk(b"allocator-rss.ratio");
    dbl(out, ratio(m.rss, m.used));
    out.bulk(b"allocator-rss.bytes");
    out.int(m.rss as i64 - m.used as i64);
    out.bulk(b"rss-overhead.ratio");
    dbl(out, 1.0);
    out.bulk(b"rss-overhead.bytes");
    out.int(0);
    out.bulk(b"fragmentation");
    dbl(out, ratio(m.rss, m.used));
    out.bulk(b"fragmentation.bytes");
    out.int(m.rss as i64 - m.used as i64);
}

fn memory_doctor(ctx: &mut Ctx) {
    let m = mem_figures(ctx.srv);
    let maxmemory = ctx.srv.config.get_int(Directive::Maxmemory).max(0) as u64;
    let mut t = String::new();
    if m.used < 5 << 20 {
        t.push_str("This instance holds very little data; there is nothing to diagnose yet.\n");
    } else {
        if m.peak > m.used * 3 / 2 {
            t.push_str("Memory use peaked at more than 150% of what it is now.\n");
        }
        if m.rss > m.used * 14 / 10 {
            t.push_str(
                "The resident set is more than 1.4 times the allocated memory (fragmentation).\n",
            );
        }
        if maxmemory > 0 && m.used > maxmemory * 9 / 10 {
            t.push_str("Memory use is above 90% of maxmemory.\n");
        }
        if t.is_empty() {
            t.push_str("No memory problems found.\n");
        }
    }
    ctx.out().verbatim(t.as_bytes());
}

fn memory_malloc_stats(ctx: &mut Ctx) {
    ctx.out()
        .verbatim(b"Stats not supported for the current allocator");
}

fn memory_purge(ctx: &mut Ctx) {
    ctx.out().ok();
}

fn memory_help(ctx: &mut Ctx) {
    help_reply(
        ctx,
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "USAGE <key> [SAMPLES <count>]",
            "    Approximate bytes used by <key> and its value.",
            "STATS",
            "    Memory figures of the server, as a map.",
            "DOCTOR",
            "    A short report on memory problems.",
            "MALLOC-STATS",
            "    Allocator statistics, where the allocator provides them.",
            "PURGE",
            "    Asks the allocator to return free pages (no-op here).",
        ],
    );
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn memory_stats_is_one_well_formed_map() {
        let mut k = Kit::new();
        k.run(&["SET", "k", "v"]);
        let r = k.run(&["MEMORY", "STATS"]);
        match resp::parse_frame(r.as_bytes()) {
            Ok(Some((resp::Frame::Array(items), n))) => {
                assert_eq!(n, r.len(), "trailing bytes in {r}");
                assert_eq!(items.len(), 2 * 28);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn memory_usage_is_close_to_redis() {
        let mut k = Kit::new();
        k.run(&["SET", "k", "hello"]);
        k.run(&["SET", "n", "123"]);
        assert_eq!(k.run(&["MEMORY", "USAGE", "k"]), ":64\r\n");
        assert_eq!(k.run(&["MEMORY", "USAGE", "n"]), ":48\r\n");
        assert_eq!(k.run(&["MEMORY", "USAGE", "nokey"]), "$-1\r\n");
        assert_eq!(
            k.run(&["MEMORY", "USAGE", "k", "SAMPLES"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            k.run(&["MEMORY", "USAGE", "k", "SAMPLES", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
    }
}
