//! Tests of `server::evict` that run real commands (they need the families).

use crate::testkit::Kit;
use keyspace::lru;
use keyspace::{StrValue, Value, NO_EXPIRE};
use server::evict::*;
use std::cell::RefCell;
use std::rc::Rc;

/// What `CONFIG SET` does (the command is served by another module).
fn set_cfg(k: &mut Kit, name: &str, v: &str) {
    let r = k.srv.config.set(name, &[v.to_string()]);
    assert_eq!(r, Ok(()), "CONFIG SET {name} {v}");
    k.srv.apply_config();
}

// Used memory is process-wide and other tests allocate concurrently,
// so these tests use a limit nothing can meet (1 byte): every
// candidate gets evicted, in the policy's order, and then the round
// fails.

#[test]
fn eviction_propagates_a_del_per_key_and_counts_it() {
    let mut k = Kit::new();
    for i in 0..8 {
        k.run(&["SET", &format!("k{i}"), "v"]);
    }
    k.propagated();
    set_cfg(&mut k, "maxmemory-policy", "allkeys-random");
    set_cfg(&mut k, "maxmemory", "1");
    // CONFIG SET only starts the background eviction (as Redis starts its
    // eviction timer); the next command's check evicts.
    assert_eq!(k.srv.stats.evicted_keys, 0);
    k.run(&["PING"]);
    assert_eq!(k.srv.stats.evicted_keys, 8);
    let mut p = k.propagated();
    p.sort();
    let want: Vec<String> = (0..8).map(|i| format!("DEL k{i}")).collect();
    assert_eq!(p, want);
    assert_eq!(k.srv.dbs[0].len(), 0);
    assert!(k.run(&["INFO", "stats"]).contains("\r\nevicted_keys:8\r\n"));
    set_cfg(&mut k, "maxmemory", "0");
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiry_first() {
    let mut k = Kit::new();
    k.run(&["SET", "forever", "v"]);
    for (key, secs) in [("late", "3000"), ("soon", "100"), ("mid", "2000")] {
        k.run(&["SET", key, "v", "EX", secs]);
    }
    set_cfg(&mut k, "maxmemory-policy", "volatile-ttl");
    k.propagated();
    set_cfg(&mut k, "maxmemory", "1");
    k.run(&["PING"]);
    assert_eq!(k.propagated(), ["DEL soon", "DEL mid", "DEL late"]);
    assert_eq!(k.run(&["EXISTS", "forever"]), ":1\r\n");
    set_cfg(&mut k, "maxmemory", "0");
}

/// A 1-byte limit with enough samples to see every key, so the
/// eviction order is exact; the next command runs the round.
/// (`maxmemory-samples` may not be settable in this build, so the
/// cached settings are set directly.)
fn limit_with_full_samples(k: &mut Kit) {
    k.srv.evictor.samples = 16;
    k.srv.evictor.maxmemory = 1;
    assert_eq!(k.run(&["PING"]), "+PONG\r\n");
}

#[test]
fn lru_and_lfu_evict_in_rank_order_and_lazy_propagates_unlink() {
    let mut k = Kit::new();
    let now = k.srv.now_ms;
    for i in 0..10i64 {
        let key = format!("k{i}");
        k.srv.dbs[0].insert(
            key.as_bytes(),
            val(),
            NO_EXPIRE,
            lru::clock_at(now - 1000 * i),
        );
    }
    set_cfg(&mut k, "maxmemory-policy", "allkeys-lru");
    limit_with_full_samples(&mut k);
    let want: Vec<String> = (0..10).rev().map(|i| format!("DEL k{i}")).collect();
    assert_eq!(k.propagated(), want);

    set_cfg(&mut k, "maxmemory", "0");
    set_cfg(&mut k, "maxmemory-policy", "allkeys-lfu");
    // `lazyfree-lazy-eviction`.
    k.srv.evictor.lazy = true;
    let clock = k.srv.access_clock;
    for i in 0..10u32 {
        let key = format!("f{i}");
        let stamp = (clock.new_stamp(now) & !0xFF) | (10 + i);
        k.srv.dbs[0].insert(key.as_bytes(), val(), NO_EXPIRE, stamp);
    }
    k.propagated();
    limit_with_full_samples(&mut k);
    let want: Vec<String> = (0..10).map(|i| format!("UNLINK f{i}")).collect();
    assert_eq!(k.propagated(), want);
    set_cfg(&mut k, "maxmemory", "0");
}

#[test]
fn noeviction_refuses_denyoom_commands_only() {
    let mut k = Kit::new();
    k.run(&["SET", "a", "1"]);
    set_cfg(&mut k, "maxmemory", "1");
    assert_eq!(
        k.run(&["SET", "b", "2"]),
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(k.run(&["GET", "a"]), "$1\r\n1\r\n");
    assert_eq!(k.run(&["DEL", "a"]), ":1\r\n");
    assert_eq!(k.srv.stats.errors.get("OOM"), Some(&1));
    // volatile policies with no TTL keys have nothing to evict either.
    set_cfg(&mut k, "maxmemory", "0");
    k.run(&["SET", "a", "1"]);
    set_cfg(&mut k, "maxmemory-policy", "volatile-lru");
    set_cfg(&mut k, "maxmemory", "1");
    assert!(k.run(&["SET", "b", "2"]).starts_with("-OOM "));
    assert_eq!(k.srv.stats.evicted_keys, 0);
    assert!(k.srv.stats.eviction_exceeded_since.is_some());
    set_cfg(&mut k, "maxmemory", "0");
    assert_eq!(k.run(&["SET", "b", "2"]), "+OK\r\n");
}

#[test]
fn a_round_out_of_time_hands_over_to_the_background_task() {
    let mut k = Kit::new();
    for i in 0..100 {
        k.run(&["SET", &format!("k{i}"), "v"]);
    }
    k.propagated();
    set_cfg(&mut k, "maxmemory-policy", "allkeys-random");
    // Tenacity 0: a round stops after its first 16 evictions.
    k.srv.evictor.tenacity = 0;
    k.srv.evictor.maxmemory = 1;
    assert_eq!(perform_evictions(&mut k.srv), Outcome::Running);
    assert_eq!(k.srv.stats.evicted_keys, 16);
    assert!(k.srv.evictor.proc_running);
    // Commands are admitted while the task works.
    assert_eq!(k.run(&["SET", "new", "v"]), "+OK\r\n");

    let Kit { srv, .. } = k;
    let srv = Rc::new(RefCell::new(srv));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        tokio::task::spawn_local(eviction_task(srv.clone()));
        for _ in 0..1000 {
            if !srv.borrow().evictor.proc_running {
                break;
            }
            tokio::task::yield_now().await;
        }
    });
    let s = srv.borrow();
    assert!(!s.evictor.proc_running);
    // Everything went (the limit cannot be met), one DEL each.
    assert_eq!(s.dbs[0].len(), 0);
    assert_eq!(s.stats.evicted_keys, 101);
}

fn val() -> Value {
    Value::Str(StrValue::from_bytes(b"v"))
}

/// The AOF buffer and replicas' queues are left out of the count, as in
/// Redis: a master does not evict keys to pay for replicating them.
#[test]
fn replication_and_aof_buffers_are_not_counted_for_eviction() {
    let k = Kit::new();
    let base = not_counted(&k.srv);
    {
        let mut feed = k.srv.aof.feed.borrow_mut();
        feed.buf.reserve(1 << 20);
    }
    // Off: an AOF buffer is not there to leave out.
    assert_eq!(not_counted(&k.srv), base);
    let mut k = k;
    k.srv.aof.enabled = true;
    assert!(not_counted(&k.srv) >= base + (1 << 20));
    let used = used_for_eviction(&k.srv);
    assert!(used < server::alloc::allocated() as u64);
}
