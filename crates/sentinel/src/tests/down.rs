//! Subjective down after down-after-milliseconds without a valid PING
//! reply; objective down when the quorum agrees.

use super::*;
use crate::state::Down;

/// The time of the first event `kind` from now on, ticking up to `ms`.
fn when(w: &mut World, kind: &str, ms: i64) -> Option<i64> {
    for _ in 0..ms / 100 {
        if World::names(&w.tick()).iter().any(|k| k == kind) {
            return Some(w.now);
        }
    }
    None
}

/// Keeps these tests about down states: a failover of the master is not
/// started for twice `failover-timeout` (Redis's pacing between attempts).
fn no_failover(w: &mut World) {
    let now = w.now;
    w.master_mut().failover_start_time = now;
}

/// The server at `a` stops answering but its connection stays open (a
/// hung process, a partition that drops packets).
fn hang(w: &mut World, a: &str) {
    w.nodes.get_mut(a).unwrap().alive = false;
}

#[test]
fn sdown_after_down_after_without_a_valid_reply() {
    let mut w = World::new(2, 2, 2);
    w.run(3_000);
    let hung_at = w.now;
    hang(&mut w, MASTER_ADDR);
    let at = when(&mut w, "+sdown", 10_000).expect("+sdown");
    // The oldest unanswered PING went out at most a ping period after the
    // hang; SDOWN comes down-after later (one tick of slack).
    let t = &w.st.timing;
    assert!(at - hung_at > DOWN_AFTER, "{}", at - hung_at);
    assert!(
        at - hung_at <= DOWN_AFTER + t.ping_period + 100,
        "{}",
        at - hung_at
    );
    assert!(w.master().inst.s_down());
    assert_eq!(
        w.payload("+sdown").as_deref(),
        Some("master mymaster 10.0.0.1 6379")
    );
    // And the other sentinels are asked at once.
    assert!(!w.sent("10.0.1.1:26379", "SENTINEL").is_empty());
}

#[test]
fn a_disconnected_instance_is_down_from_its_last_valid_reply() {
    let mut w = World::new(1, 1, 1);
    w.run(3_000);
    let last_ok = w.master().inst.links.last_avail_time;
    w.kill(MASTER_ADDR);
    let at = when(&mut w, "+sdown", 10_000).expect("+sdown");
    // Counted from the last valid reply, or from the PING queued on the
    // first reconnection attempt (at most a ping period later).
    let t = &w.st.timing;
    assert!(at - last_ok > DOWN_AFTER, "{}", at - last_ok);
    assert!(
        at - last_ok <= DOWN_AFTER + t.ping_period + 100,
        "{}",
        at - last_ok
    );
}

#[test]
fn loading_and_masterdown_replies_count_as_available() {
    let mut w = World::new(1, 1, 1);
    let mid = w.master().inst.id;
    let now = w.now;
    for (reply, ok) in [
        (Frame::Error(b"LOADING Redis is loading".to_vec()), true),
        (
            Frame::Error(b"MASTERDOWN Link with MASTER is down".to_vec()),
            true,
        ),
        (Frame::Simple(b"PONG".to_vec()), true),
        (Frame::Error(b"ERR unknown command".to_vec()), false),
    ] {
        w.now += 1_000;
        w.inst_mut(mid).links.act_ping_time = now;
        w.reply(mid, Tag::Ping, reply.clone());
        let l = &w.inst(mid).links;
        assert_eq!(l.last_avail_time == w.now, ok, "{reply:?}");
        assert_eq!(l.act_ping_time == 0, ok, "{reply:?}");
    }
}

#[test]
fn sdown_ends_with_a_valid_reply() {
    let mut w = World::new(1, 1, 2);
    hang(&mut w, MASTER_ADDR);
    when(&mut w, "+sdown", 10_000).expect("+sdown");
    w.nodes.get_mut(MASTER_ADDR).unwrap().alive = true;
    when(&mut w, "-sdown", 2_000).expect("-sdown");
    assert_eq!(w.master().inst.down, Down::Up);
}

#[test]
fn a_master_reporting_the_replica_role_goes_down() {
    let mut w = World::new(1, 1, 2);
    w.tick();
    // Someone made the master a replica; INFO shows it at once, and after
    // down-after plus two INFO periods it is considered down.
    let n = w.nodes.get_mut(MASTER_ADDR).unwrap();
    n.role_master = false;
    n.master = Some(addr("10.0.0.2:6379"));
    let changed = w.now;
    let at = when(&mut w, "+sdown", 60_000).expect("+sdown");
    let limit = DOWN_AFTER + 2 * w.st.timing.info_period;
    // INFO comes every 10 s, so the role is seen up to a period late.
    assert!(at - changed > limit, "{}", at - changed);
    assert!(at - changed <= limit + w.st.timing.info_period + 300);
}

#[test]
fn odown_when_the_quorum_agrees() {
    // Three sentinels, quorum 3: both others must agree.
    let mut w = World::new(1, 2, 3);
    w.run(1_000);
    no_failover(&mut w);
    hang(&mut w, MASTER_ADDR);
    w.peers.get_mut("10.0.1.1:26379").unwrap().sees_down = true;
    when(&mut w, "+sdown", 10_000).expect("+sdown");
    w.run(3_000);
    assert!(!w.master().inst.o_down(), "two of three is not the quorum");
    assert!(!w.all_names().contains(&"+odown".to_string()));
    w.peers.get_mut("10.0.1.2:26379").unwrap().sees_down = true;
    when(&mut w, "+odown", 2_000).expect("+odown");
    assert_eq!(
        w.payload("+odown").as_deref(),
        Some("master mymaster 10.0.0.1 6379 #quorum 3/3")
    );
}

/// Three sentinels, quorum 2: the master hangs, everyone sees it, and it
/// is ODOWN (no failover is started).
fn hung_master_odown() -> World {
    let mut w = World::new(1, 2, 2);
    w.run(1_000);
    no_failover(&mut w);
    hang(&mut w, MASTER_ADDR);
    for p in w.peers.values_mut() {
        p.sees_down = true;
    }
    when(&mut w, "+odown", 10_000).expect("+odown");
    w
}

#[test]
fn only_recent_answers_count_toward_odown() {
    let mut w = hung_master_odown();
    // The peers fall silent: their answers expire after five ask periods,
    // and ODOWN goes with them.
    w.kill_peer("10.0.1.1:26379");
    w.kill_peer("10.0.1.2:26379");
    let odown_at = w.now;
    let at = when(&mut w, "-odown", 10_000).expect("-odown");
    assert!(w.master().inst.s_down());
    assert!(
        at - odown_at > 5 * w.st.timing.ask_period,
        "{}",
        at - odown_at
    );
}

#[test]
fn odown_ends_with_sdown() {
    let mut w = hung_master_odown();
    w.nodes.get_mut(MASTER_ADDR).unwrap().alive = true;
    let acts = w.run(2_000);
    let names = World::names(&acts);
    let s = names.iter().position(|n| n == "-sdown").expect("-sdown");
    assert_eq!(names.get(s + 1).map(String::as_str), Some("-odown"));
    assert_eq!(w.master().inst.down, Down::Up);
}

#[test]
fn a_replica_or_sentinel_is_never_objectively_down() {
    let mut w = World::new(1, 2, 1);
    w.run(1_000);
    hang(&mut w, "10.0.0.2:6379");
    w.kill_peer("10.0.1.1:26379");
    w.run(10_000);
    let r = w.id_of("10.0.0.2:6379");
    let s = w.id_of("10.0.1.1:26379");
    assert!(w.inst(r).s_down() && !w.inst(r).o_down());
    assert!(w.inst(s).s_down() && !w.inst(s).o_down());
    assert!(!w.master().inst.s_down());
}

#[test]
fn a_clock_jump_enters_tilt_and_suspends_down_decisions() {
    let mut w = World::new(1, 1, 2);
    w.run(1_000);
    hang(&mut w, MASTER_ADDR);
    w.now += 5_000; // the process was stopped for five seconds
    let names = World::names(&w.tick());
    assert_eq!(names, ["+tilt"]);
    w.run(DOWN_AFTER + 2_000);
    assert!(!w.master().inst.s_down(), "no SDOWN while in tilt");
    // Tilt lasts `tilt-period` (30 s) without another jump; then the
    // pending decision is taken in the same period.
    let mut names = Vec::new();
    for _ in 0..310 {
        names = World::names(&w.tick());
        if names.iter().any(|n| n == "-tilt") {
            break;
        }
    }
    assert_eq!(names, ["-tilt", "+sdown"]);
}
