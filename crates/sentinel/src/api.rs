//! Sentinel's commands: `SENTINEL ...`, and its own `INFO`, `ROLE` and
//! `PUBLISH`. Replies and error texts are Redis Sentinel 7.0's.
//!
//! Handlers read the state and call the core for anything it decides
//! (a vote, a failover, a hello); the actions that come back are performed
//! by the shell before the reply leaves.

use crate::action::Out;
use crate::events::inst_event;
use crate::shell::{self, now_ms};
use crate::state::{Instance, Kind, Master, Reconf, Sentinel};
use crate::{election, failover, hello};
use server::cmd::{Ctx, Handler};
use server::log::Level;
use std::fmt::Write;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("info", info),
    ("role", role),
    ("publish", publish),
    ("sentinel|ckquorum", ckquorum),
    ("sentinel|config", config),
    ("sentinel|debug", debug),
    ("sentinel|failover", failover),
    ("sentinel|flushconfig", flushconfig),
    ("sentinel|get-master-addr-by-name", get_master_addr),
    ("sentinel|help", help),
    ("sentinel|info-cache", info_cache),
    ("sentinel|is-master-down-by-addr", is_master_down),
    ("sentinel|master", master),
    ("sentinel|masters", masters),
    ("sentinel|monitor", monitor_cmd),
    ("sentinel|myid", myid),
    ("sentinel|pending-scripts", pending_scripts),
    ("sentinel|remove", remove),
    ("sentinel|replicas", replicas),
    ("sentinel|reset", reset),
    ("sentinel|sentinels", sentinels),
    ("sentinel|set", set),
    ("sentinel|simulate-failure", simulate_failure),
    ("sentinel|slaves", replicas),
];

const NO_SUCH_MASTER: &str = "ERR No such master with that name";

fn arg(ctx: &Ctx, i: usize) -> String {
    String::from_utf8_lossy(ctx.argv.get(i)).into_owned()
}

/// Runs `f` on the sentinel state (always there in Sentinel mode).
fn with_state(ctx: &mut Ctx, f: impl FnOnce(&mut Ctx, &mut Sentinel)) {
    with_state_out(ctx, |ctx, st, _| f(ctx, st));
}

/// Runs `f` on the sentinel state, then performs the actions it returned.
/// Returns what `f` returned and whether every configuration save among
/// the actions succeeded (`None` when `f` could not run).
fn with_state_out<R>(
    ctx: &mut Ctx,
    f: impl FnOnce(&mut Ctx, &mut Sentinel, &mut Out) -> R,
) -> Option<(R, bool)> {
    let Some(shell) = shell::current(ctx.srv) else {
        ctx.err("ERR Sentinel is not running");
        return None;
    };
    let mut out = Out::new();
    let r = {
        // Never borrowed here: handlers, the timer and the links run one
        // at a time on one thread and none holds the state across a wait.
        let Ok(mut st) = shell.state.try_borrow_mut() else {
            server::log::write(Level::Warning, "Sentinel state busy at a command");
            ctx.err("ERR Sentinel is busy");
            return None;
        };
        st.mono = shell::mono_ms();
        f(ctx, &mut st, &mut out)
    };
    let saved = shell.perform(ctx.srv, out.actions);
    Some((r, saved))
}

/// For a command that changes the configuration and answers with the
/// outcome of saving it (Redis's `sentinelFlushConfigAndReply`): `f`
/// returns true when it queued the save among its actions and left the
/// answer to this function (OK, or an error if the file could not be
/// written), false when it answered already.
fn with_state_saved(ctx: &mut Ctx, f: impl FnOnce(&mut Ctx, &mut Sentinel, &mut Out) -> bool) {
    if let Some((true, saved)) = with_state_out(ctx, f) {
        reply_saved(ctx, saved);
    }
}

fn reply_saved(ctx: &mut Ctx, saved: bool) {
    if saved {
        ctx.out().ok();
    } else {
        ctx.err("ERR Failed to save config file. Check server logs.");
    }
}

fn flags(m: Option<&Master>, i: &Instance) -> String {
    let mut f: Vec<&str> = Vec::new();
    if i.s_down() {
        f.push("s_down");
    }
    if i.o_down() {
        f.push("o_down");
    }
    f.push(i.kind.word());
    if i.disconnected() {
        f.push("disconnected");
    }
    if i.kind == Kind::Sentinel && i.master_down {
        f.push("master_down");
    }
    if let Some(m) = m {
        if m.in_failover() {
            f.push("failover_in_progress");
        }
    }
    if i.promoted {
        f.push("promoted");
    }
    match i.reconf {
        Reconf::Sent(_) => f.push("reconf_sent"),
        Reconf::InProg => f.push("reconf_inprog"),
        Reconf::Done => f.push("reconf_done"),
        Reconf::None => {}
    }
    if let Some(m) = m {
        if m.force_failover {
            f.push("force_failover");
        }
    }
    if i.script_kill_sent {
        f.push("script_kill_sent");
    }
    if i.master_reboot_since != 0 {
        f.push("master_reboot");
    }
    f.join(",")
}

/// One instance as `SENTINEL MASTER/REPLICAS/SENTINELS` shows it: a map
/// (a flat array in RESP2) with Redis's fields in Redis's order.
fn write_instance(ctx: &mut Ctx, st: &Sentinel, m: &Master, i: &Instance, now: i64) {
    let mut kv: Vec<(&str, String)> = Vec::with_capacity(32);
    let is_master = i.kind == Kind::Master;
    kv.push(("name", i.name.clone()));
    kv.push(("ip", st.announce(&i.addr).to_string()));
    kv.push(("port", i.addr.port.to_string()));
    kv.push(("runid", i.runid.clone().unwrap_or_default()));
    kv.push(("flags", flags(is_master.then_some(m), i)));
    kv.push(("link-pending-commands", i.links.pending().to_string()));
    kv.push(("link-refcount", "1".into()));
    if is_master && m.in_failover() {
        kv.push(("failover-state", m.failover.name().to_string()));
    }
    let ago = |t: i64| if t != 0 { now - t } else { 0 };
    kv.push(("last-ping-sent", ago(i.links.act_ping_time).to_string()));
    kv.push((
        "last-ok-ping-reply",
        (now - i.links.last_avail_time).to_string(),
    ));
    kv.push((
        "last-ping-reply",
        (now - i.links.last_pong_time).to_string(),
    ));
    if i.s_down() {
        kv.push(("s-down-time", (now - i.down.sdown_since()).to_string()));
    }
    if i.o_down() {
        kv.push(("o-down-time", (now - i.down.odown_since()).to_string()));
    }
    kv.push(("down-after-milliseconds", i.down_after.to_string()));
    if i.kind != Kind::Sentinel {
        kv.push(("info-refresh", ago(i.info_refresh).to_string()));
        let role = if i.role_master { "master" } else { "slave" };
        kv.push(("role-reported", role.into()));
        kv.push((
            "role-reported-time",
            (now - i.role_reported_time).to_string(),
        ));
    }
    if is_master {
        kv.push(("config-epoch", m.config_epoch.to_string()));
        kv.push(("num-slaves", m.replicas.len().to_string()));
        kv.push(("num-other-sentinels", m.sentinels.len().to_string()));
        kv.push(("quorum", m.quorum.to_string()));
        kv.push(("failover-timeout", m.failover_timeout.to_string()));
        kv.push(("parallel-syncs", m.parallel_syncs.to_string()));
        if let Some(s) = &m.notification_script {
            kv.push(("notification-script", s.clone()));
        }
        if let Some(s) = &m.client_reconfig_script {
            kv.push(("client-reconfig-script", s.clone()));
        }
    }
    if i.kind == Kind::Replica {
        kv.push(("master-link-down-time", i.master_link_down_time.to_string()));
        let status = if i.master_link_up { "ok" } else { "err" };
        kv.push(("master-link-status", status.into()));
        let host = if i.slave_master_host.is_empty() {
            "?".to_string()
        } else {
            i.slave_master_host.clone()
        };
        kv.push(("master-host", host));
        kv.push(("master-port", i.slave_master_port.to_string()));
        kv.push(("slave-priority", i.slave_priority.to_string()));
        kv.push(("slave-repl-offset", i.slave_repl_offset.to_string()));
        kv.push((
            "replica-announced",
            u8::from(i.replica_announced).to_string(),
        ));
    }
    if i.kind == Kind::Sentinel {
        kv.push(("last-hello-message", (now - i.last_hello_time).to_string()));
        kv.push((
            "voted-leader",
            i.leader.clone().unwrap_or_else(|| "?".into()),
        ));
        kv.push(("voted-leader-epoch", i.leader_epoch.to_string()));
    }
    let out = ctx.out();
    out.map(kv.len());
    for (k, v) in kv {
        out.bulk(k.as_bytes());
        out.bulk(v.as_bytes());
    }
}

fn master(ctx: &mut Ctx) {
    let name = arg(ctx, 2);
    with_state(ctx, |ctx, st| match st.masters.get(&name) {
        Some(m) => write_instance(ctx, st, m, &m.inst, now_ms()),
        None => ctx.err(NO_SUCH_MASTER),
    });
}

fn masters(ctx: &mut Ctx) {
    with_state(ctx, |ctx, st| {
        let now = now_ms();
        ctx.out().array(st.masters.len());
        for m in st.masters.values() {
            write_instance(ctx, st, m, &m.inst, now);
        }
    });
}

/// `SENTINEL REPLICAS` / `SENTINELS`: one list of a master's instances.
fn list_instances(ctx: &mut Ctx, pick: fn(&Master) -> &[Instance]) {
    let name = arg(ctx, 2);
    with_state(ctx, |ctx, st| {
        let Some(m) = st.masters.get(&name) else {
            ctx.err(NO_SUCH_MASTER);
            return;
        };
        let now = now_ms();
        let list: Vec<&Instance> = pick(m).iter().filter(|i| listed(i)).collect();
        ctx.out().array(list.len());
        for i in list {
            write_instance(ctx, st, m, i, now);
        }
    });
}

/// Whether `SENTINEL REPLICAS/SENTINELS` shows an instance: a replica
/// whose INFO says `replica_announced:0` stays hidden from clients, as in
/// Redis (it is still monitored, and may still be promoted).
pub(crate) fn listed(i: &Instance) -> bool {
    i.kind != Kind::Replica || i.replica_announced
}

fn replicas(ctx: &mut Ctx) {
    list_instances(ctx, |m| &m.replicas);
}

fn sentinels(ctx: &mut Ctx) {
    list_instances(ctx, |m| &m.sentinels);
}

fn get_master_addr(ctx: &mut Ctx) {
    let name = arg(ctx, 2);
    with_state(ctx, |ctx, st| match st.masters.get(&name) {
        Some(m) => {
            let a = m.current_addr().clone();
            let host = st.announce(&a).to_string();
            let out = ctx.out();
            out.array(2);
            out.bulk(host.as_bytes());
            out.bulk(a.port.to_string().as_bytes());
        }
        None => ctx.out().null_array(),
    });
}

fn myid(ctx: &mut Ctx) {
    with_state(ctx, |ctx, st| {
        let id = st.myid.clone();
        ctx.out().bulk(id.as_bytes());
    });
}

fn flushconfig(ctx: &mut Ctx) {
    with_state(ctx, |ctx, st| {
        let saved = shell::save(st, ctx.srv);
        reply_saved(ctx, saved);
    });
}

/// How many sentinels are usable, and whether the quorum and a majority
/// can be reached (`SENTINEL CKQUORUM`). Usable means not seen down, as
/// Redis counts: a sentinel whose link is being (re)established still
/// counts until it has been silent for `down-after-milliseconds`.
pub(crate) fn quorum_state(m: &Master) -> (usize, bool, bool) {
    let voters = m.sentinels.len() + 1;
    let usable = 1 + m
        .sentinels
        .iter()
        .filter(|s| !s.s_down() && !s.o_down())
        .count();
    (usable, usable >= m.quorum as usize, usable > voters / 2)
}

fn ckquorum(ctx: &mut Ctx) {
    let name = arg(ctx, 2);
    with_state(ctx, |ctx, st| {
        let Some(m) = st.masters.get(&name) else {
            ctx.err(NO_SUCH_MASTER);
            return;
        };
        let (usable, quorum, majority) = quorum_state(m);
        if quorum && majority {
            let s = format!(
                "OK {usable} usable Sentinels. Quorum and failover authorization can be reached"
            );
            ctx.out().simple(s.as_bytes());
            return;
        }
        let mut e = format!("NOQUORUM {usable} usable Sentinels. ");
        if !quorum {
            e.push_str(
                "Not enough available Sentinels to reach the specified quorum for this master",
            );
        }
        if !majority {
            if !quorum {
                e.push_str(". ");
            }
            e.push_str(
                "Not enough available Sentinels to reach the majority and authorize a failover",
            );
        }
        ctx.err(&e);
    });
}

fn failover(ctx: &mut Ctx) {
    let name = arg(ctx, 2);
    with_state_out(ctx, |ctx, st, acts| {
        let Some(m) = st.masters.get(&name) else {
            ctx.err(NO_SUCH_MASTER);
            return;
        };
        if m.in_failover() {
            ctx.err("INPROG Failover already in progress");
            return;
        }
        let now = now_ms();
        if failover::select_replica(m, now, &st.timing).is_none() {
            ctx.err("NOGOODSLAVE No suitable replica to promote");
            return;
        }
        server::log::write(
            Level::Warning,
            &format!("Executing user requested FAILOVER of '{name}'"),
        );
        failover::start_failover(st, acts, &name, now);
        if let Some(m) = st.masters.get_mut(&name) {
            m.force_failover = true;
        }
        ctx.out().ok();
    });
}

fn is_master_down(ctx: &mut Ctx) {
    let host = arg(ctx, 2);
    let port = arg(ctx, 3);
    let runid = arg(ctx, 5);
    let Some(epoch) = resp::parse_i64(ctx.argv.get(4)) else {
        ctx.err("ERR value is not an integer or out of range");
        return;
    };
    with_state_out(ctx, |ctx, st, acts| {
        // The master by address: the same IP, or the same host name.
        let asked = port
            .parse::<u16>()
            .ok()
            .and_then(|p| st.make_addr(&host, p, true));
        let found = st
            .masters
            .iter()
            .find(|(_, m)| asked.as_ref() == Some(&m.inst.addr))
            .map(|(n, m)| (n.clone(), m.inst.s_down()));
        let down = match &found {
            Some((_, sdown)) => *sdown && !st.tilt,
            None => false,
        };
        let mut leader: Option<String> = None;
        let mut leader_epoch = 0u64;
        if let Some((name, _)) = &found {
            if runid != "*" {
                let (l, e) =
                    election::vote_leader(st, acts, name, epoch.max(0) as u64, &runid, now_ms());
                leader = l;
                leader_epoch = e;
            }
        }
        let out = ctx.out();
        out.array(3);
        out.int(i64::from(down));
        out.bulk(leader.as_deref().unwrap_or("*").as_bytes());
        out.int(leader_epoch as i64);
    });
}

fn monitor_cmd(ctx: &mut Ctx) {
    let name = arg(ctx, 2);
    let host = arg(ctx, 3);
    let Some(quorum) = resp::parse_i64(ctx.argv.get(5)) else {
        ctx.err("ERR Invalid quorum");
        return;
    };
    let Some(port) = resp::parse_i64(ctx.argv.get(4)) else {
        ctx.err("ERR Invalid port");
        return;
    };
    if quorum <= 0 {
        ctx.err("ERR Quorum must be 1 or greater.");
        return;
    }
    with_state_saved(ctx, |ctx, st, acts| {
        // An IP, or a hostname that resolves under `resolve-hostnames yes`.
        if st.make_addr(&host, 1, false).is_none() {
            ctx.err("ERR Invalid IP address or hostname specified");
            return false;
        }
        if !(0..=65535).contains(&port) {
            ctx.err("ERR Invalid port number");
            return false;
        }
        if st.masters.contains_key(&name) {
            ctx.err("ERR Duplicate master name.");
            return false;
        }
        let now = now_ms();
        // Port 0 is accepted, as Redis does (the entry stays disconnected).
        // Both reasons add_master refuses for were checked above.
        if let Err(reason) = st.add_master(&name, &host, port.max(1), quorum as u32, now) {
            ctx.err(&format!("ERR {reason}"));
            return false;
        }
        let Some(m) = st.masters.get_mut(&name) else {
            return false;
        };
        if port == 0 {
            m.inst.addr.port = 0;
        }
        let id = m.inst.id;
        acts.save();
        inst_event(
            st,
            acts,
            Level::Warning,
            "+monitor",
            &name,
            id,
            &format!("quorum {quorum}"),
        );
        true
    });
}

fn remove(ctx: &mut Ctx) {
    let name = arg(ctx, 2);
    with_state_saved(ctx, |ctx, st, acts| {
        let Some(m) = st.masters.get(&name) else {
            ctx.err(NO_SUCH_MASTER);
            return false;
        };
        let id = m.inst.id;
        inst_event(st, acts, Level::Warning, "-monitor", &name, id, "");
        if let Some(mut m) = st.masters.remove(&name) {
            let Master {
                inst,
                replicas,
                sentinels,
                ..
            } = &mut m;
            for i in std::iter::once(inst).chain(replicas).chain(sentinels) {
                acts.close_links(i);
            }
        }
        acts.save();
        true
    });
}

fn reset(ctx: &mut Ctx) {
    let pattern = ctx.argv.get(2).to_vec();
    with_state_out(ctx, |ctx, st, acts| {
        let names: Vec<String> = st
            .masters
            .keys()
            .filter(|n| server::util::glob::matches(&pattern, n.as_bytes(), false))
            .cloned()
            .collect();
        let now = now_ms();
        for n in &names {
            let Some(m) = st.masters.get_mut(n) else {
                continue;
            };
            for i in m.replicas.iter_mut().chain(m.sentinels.iter_mut()) {
                acts.close_links(i);
            }
            m.replicas.clear();
            m.sentinels.clear();
            failover::reset_master(m, acts, now);
            let id = m.inst.id;
            inst_event(st, acts, Level::Warning, "+reset-master", n, id, "");
        }
        if !names.is_empty() {
            acts.save();
        }
        ctx.out().int(names.len() as i64);
    });
}

fn info_cache(ctx: &mut Ctx) {
    let names: Vec<String> = ctx
        .argv
        .from(2)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    with_state(ctx, |ctx, st| {
        let now = now_ms();
        let chosen: Vec<&Master> = st
            .masters
            .iter()
            .filter(|(n, _)| names.is_empty() || names.contains(n))
            .map(|(_, m)| m)
            .collect();
        let out = ctx.out();
        out.array(chosen.len() * 2);
        for m in chosen {
            out.bulk(m.inst.name.as_bytes());
            out.array(1 + m.replicas.len());
            for i in std::iter::once(&m.inst).chain(m.replicas.iter()) {
                out.array(2);
                out.int(if i.info_refresh != 0 {
                    now - i.info_refresh
                } else {
                    0
                });
                if i.info.is_empty() {
                    out.null();
                } else {
                    out.bulk(i.info.as_bytes());
                }
            }
        }
    });
}

fn pending_scripts(ctx: &mut Ctx) {
    with_state(ctx, |ctx, st| {
        let now = now_ms();
        let out = ctx.out();
        out.array(st.scripts.len());
        for s in &st.scripts {
            out.map(5);
            out.bulk(b"argv");
            out.array(1 + s.args.len());
            out.bulk(s.path.as_bytes());
            for a in &s.args {
                out.bulk(a.as_bytes());
            }
            out.bulk(b"flags");
            out.bulk(if s.running {
                b"running".as_slice()
            } else {
                b"scheduled"
            });
            out.bulk(b"pid");
            out.bulk(s.pid.to_string().as_bytes());
            if s.running {
                out.bulk(b"run-time");
                out.bulk((now - s.start_time).to_string().as_bytes());
            } else {
                out.bulk(b"run-delay");
                let d = if s.start_time > now {
                    s.start_time - now
                } else {
                    0
                };
                out.bulk(d.to_string().as_bytes());
            }
            out.bulk(b"retry-num");
            out.bulk(s.retries.to_string().as_bytes());
        }
    });
}

fn simulate_failure(ctx: &mut Ctx) {
    let args: Vec<String> = ctx
        .argv
        .from(2)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    with_state(ctx, |ctx, st| {
        let mut flags = 0;
        for a in &args {
            match a.as_str() {
                "crash-after-election" => flags |= crate::state::SIMFAILURE_CRASH_AFTER_ELECTION,
                "crash-after-promotion" => flags |= crate::state::SIMFAILURE_CRASH_AFTER_PROMOTION,
                "help" => {
                    let out = ctx.out();
                    out.array(2);
                    out.bulk(b"crash-after-election");
                    out.bulk(b"crash-after-promotion");
                    return;
                }
                _ => {
                    ctx.err("ERR Unknown failure simulation specified");
                    return;
                }
            }
        }
        st.simfailure_flags = flags;
        ctx.out().ok();
    });
}

const DEBUG_PARAMS: &[&str] = &[
    "info-period",
    "ping-period",
    "ask-period",
    "publish-period",
    "default-down-after",
    "default-failover-timeout",
    "tilt-trigger",
    "tilt-period",
    "slave-reconf-timeout",
    "min-link-reconnect-period",
    "election-timeout",
    "script-max-runtime",
    "script-retry-delay",
];

fn debug_slot<'a>(t: &'a mut crate::state::Timing, name: &str) -> Option<&'a mut i64> {
    Some(match name {
        "info-period" => &mut t.info_period,
        "ping-period" => &mut t.ping_period,
        "ask-period" => &mut t.ask_period,
        "publish-period" => &mut t.publish_period,
        "default-down-after" => &mut t.default_down_after,
        "default-failover-timeout" => &mut t.default_failover_timeout,
        "tilt-trigger" => &mut t.tilt_trigger,
        "tilt-period" => &mut t.tilt_period,
        "slave-reconf-timeout" => &mut t.slave_reconf_timeout,
        "min-link-reconnect-period" => &mut t.min_link_reconnect_period,
        "election-timeout" => &mut t.election_timeout,
        "script-max-runtime" => &mut t.script_max_runtime,
        "script-retry-delay" => &mut t.script_retry_delay,
        _ => return None,
    })
}

/// `SENTINEL DEBUG [param value ...]`: shows or changes the timing.
fn debug(ctx: &mut Ctx) {
    let args: Vec<String> = ctx
        .argv
        .from(2)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    with_state(ctx, |ctx, st| {
        if args.is_empty() {
            let mut t = st.timing.clone();
            let out = ctx.out();
            out.map(DEBUG_PARAMS.len());
            for p in DEBUG_PARAMS {
                out.bulk(p.to_ascii_uppercase().as_bytes());
                let v = debug_slot(&mut t, p).map(|v| *v).unwrap_or(0);
                out.bulk(v.to_string().as_bytes());
            }
            return;
        }
        let mut t = st.timing.clone();
        for pair in args.chunks(2) {
            let name = pair[0].to_ascii_lowercase();
            let Some(value) = pair.get(1) else {
                ctx.err(&format!(
                    "ERR Unknown option or number of arguments for SENTINEL DEBUG '{}'",
                    pair[0]
                ));
                return;
            };
            let Some(slot) = debug_slot(&mut t, &name) else {
                ctx.err(&format!(
                    "ERR Unknown option or number of arguments for SENTINEL DEBUG '{}'",
                    pair[0]
                ));
                return;
            };
            match value.parse::<i64>() {
                Ok(v) if v > 0 => *slot = v,
                _ => {
                    ctx.err(&format!(
                        "ERR Invalid argument '{}' for SENTINEL DEBUG '{}'",
                        value, pair[0]
                    ));
                    return;
                }
            }
        }
        st.timing = t;
        ctx.out().ok();
    });
}

fn bool_word(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

const CONFIG_PARAMS: &[&str] = &[
    "resolve-hostnames",
    "announce-hostnames",
    "announce-ip",
    "announce-port",
    "sentinel-user",
    "sentinel-pass",
];

fn config(ctx: &mut Ctx) {
    let sub = arg(ctx, 2).to_ascii_lowercase();
    let args: Vec<String> = ctx
        .argv
        .from(3)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    with_state_out(ctx, |ctx, st, acts| match (sub.as_str(), args.len()) {
        ("get", 1) => {
            let g = &st.globals;
            let vals: Vec<(&str, String)> = CONFIG_PARAMS
                .iter()
                .filter(|p| server::util::glob::matches(args[0].as_bytes(), p.as_bytes(), true))
                .map(|p| {
                    let v = match *p {
                        "resolve-hostnames" => bool_word(g.resolve_hostnames).to_string(),
                        "announce-hostnames" => bool_word(g.announce_hostnames).to_string(),
                        "announce-ip" => g.announce_ip.clone().unwrap_or_default(),
                        "announce-port" => g.announce_port.to_string(),
                        "sentinel-user" => g.sentinel_user.clone().unwrap_or_default(),
                        _ => g.sentinel_pass.clone().unwrap_or_default(),
                    };
                    (*p, v)
                })
                .collect();
            let out = ctx.out();
            out.map(vals.len());
            for (k, v) in vals {
                out.bulk(k.as_bytes());
                out.bulk(v.as_bytes());
            }
        }
        ("set", 2) => {
            let (name, value) = (args[0].to_ascii_lowercase(), args[1].clone());
            let bad_value = format!(
                "ERR Invalid value '{}' to SENTINEL CONFIG SET '{}'",
                value, args[0]
            );
            let yes_no = |v: &str| match v.to_ascii_lowercase().as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            };
            let g = &mut st.globals;
            match name.as_str() {
                "resolve-hostnames" => match yes_no(&value) {
                    Some(b) => g.resolve_hostnames = b,
                    None => return ctx.err(&bad_value),
                },
                "announce-hostnames" => match yes_no(&value) {
                    Some(b) => g.announce_hostnames = b,
                    None => return ctx.err(&bad_value),
                },
                "announce-ip" => g.announce_ip = Some(value).filter(|v| !v.is_empty()),
                "announce-port" => match value.parse::<u16>() {
                    Ok(p) => g.announce_port = p,
                    Err(_) => return ctx.err(&bad_value),
                },
                "sentinel-user" => g.sentinel_user = Some(value).filter(|v| !v.is_empty()),
                "sentinel-pass" => g.sentinel_pass = Some(value).filter(|v| !v.is_empty()),
                _ => {
                    return ctx.err(&format!(
                        "ERR Invalid argument '{}' to SENTINEL CONFIG SET",
                        args[0]
                    ));
                }
            }
            let saved = shell::save(st, ctx.srv);
            reply_saved(ctx, saved);
            // New credentials between sentinels take effect on new links.
            if name == "sentinel-user" || name == "sentinel-pass" {
                for m in st.masters.values_mut() {
                    for s in m.sentinels.iter_mut() {
                        acts.close_links(s);
                    }
                }
            }
        }
        _ => ctx.err_arity(),
    });
}

/// `SENTINEL SET name option value [option value ...]`, as Redis applies
/// it: options one by one, each announced by a `+set` event as it is
/// applied (the password shown as `******`); the first bad one stops
/// there with its error, the ones before it stay applied and are saved.
/// How one option of `SENTINEL SET` went.
enum SetStep {
    Applied,
    /// A value Redis refuses for it (answered with the value and option).
    BadValue,
    /// No such option, or its value is missing.
    Unknown,
}

fn set(ctx: &mut Ctx) {
    let name = arg(ctx, 2);
    let args: Vec<String> = ctx
        .argv
        .from(3)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    with_state_saved(ctx, |ctx, st, acts| {
        if !st.masters.contains_key(&name) {
            ctx.err(NO_SUCH_MASTER);
            return false;
        }
        let deny = st.globals.deny_scripts_reconfig;
        let mut changes = 0;
        let mut j = 0;
        while j < args.len() {
            let option = &args[j];
            let more = args.len() - 1 - j;
            let Some(m) = st.masters.get_mut(&name) else {
                return false;
            };
            let bad = |ctx: &mut Ctx, v: &str| {
                ctx.err(&format!(
                    "ERR Invalid argument '{v}' for SENTINEL SET '{option}'"
                ));
            };
            let positive = |v: &str| resp::parse_i64(v.as_bytes()).filter(|n| *n > 0);
            let mut redacted = false;
            let mut used = 2;
            let step = match (option.to_ascii_lowercase().as_str(), more) {
                (_, 0) => SetStep::Unknown,
                ("down-after-milliseconds", _) => match positive(&args[j + 1]) {
                    Some(n) => {
                        m.inst.down_after = n;
                        for i in m.replicas.iter_mut().chain(m.sentinels.iter_mut()) {
                            i.down_after = n;
                        }
                        SetStep::Applied
                    }
                    None => SetStep::BadValue,
                },
                ("failover-timeout", _) => match positive(&args[j + 1]) {
                    Some(n) => {
                        m.failover_timeout = n;
                        SetStep::Applied
                    }
                    None => SetStep::BadValue,
                },
                ("parallel-syncs", _) => match positive(&args[j + 1]) {
                    Some(n) => {
                        m.parallel_syncs = n;
                        SetStep::Applied
                    }
                    None => SetStep::BadValue,
                },
                ("quorum", _) => match positive(&args[j + 1]) {
                    Some(n) => {
                        m.quorum = u32::try_from(n).unwrap_or(u32::MAX);
                        SetStep::Applied
                    }
                    None => SetStep::BadValue,
                },
                ("master-reboot-down-after-period", _) => {
                    match resp::parse_i64(args[j + 1].as_bytes()).filter(|n| *n >= 0) {
                        Some(n) => {
                            m.master_reboot_down_after = n;
                            SetStep::Applied
                        }
                        None => SetStep::BadValue,
                    }
                }
                ("notification-script" | "client-reconfig-script", _) => {
                    let v = &args[j + 1];
                    let notification = option.eq_ignore_ascii_case("notification-script");
                    if deny {
                        ctx.err("ERR Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig configuration directive in your Sentinel configuration");
                        break;
                    }
                    use std::os::unix::fs::PermissionsExt;
                    let ok = v.is_empty()
                        || std::fs::metadata(v)
                            .map(|md| md.is_file() && md.permissions().mode() & 0o111 != 0)
                            .unwrap_or(false);
                    if !ok {
                        ctx.err(if notification {
                            "ERR Notification script seems non existing or non executable"
                        } else {
                            "ERR Client reconfiguration script seems non existing or non executable"
                        });
                        break;
                    }
                    let slot = if notification {
                        &mut m.notification_script
                    } else {
                        &mut m.client_reconfig_script
                    };
                    *slot = Some(v.clone()).filter(|s| !s.is_empty());
                    SetStep::Applied
                }
                // New credentials: the links to the master and its
                // replicas are dropped and made again with them.
                ("auth-pass", _) => {
                    m.auth_pass = Some(args[j + 1].clone()).filter(|s| !s.is_empty());
                    acts.close_links(&mut m.inst);
                    for r in m.replicas.iter_mut() {
                        acts.close_links(r);
                    }
                    redacted = true;
                    SetStep::Applied
                }
                ("auth-user", _) => {
                    m.auth_user = Some(args[j + 1].clone()).filter(|s| !s.is_empty());
                    acts.close_links(&mut m.inst);
                    for r in m.replicas.iter_mut() {
                        acts.close_links(r);
                    }
                    SetStep::Applied
                }
                ("rename-command", 2..) => {
                    let (from, to) = (&args[j + 1], &args[j + 2]);
                    used = 3;
                    if from.is_empty() || to.is_empty() {
                        bad(ctx, if to.is_empty() { to } else { from });
                        break;
                    }
                    m.renamed.retain(|(f, _)| !f.eq_ignore_ascii_case(from));
                    // A command renamed to itself needs no entry.
                    if !from.eq_ignore_ascii_case(to) {
                        m.renamed.push((from.clone(), to.clone()));
                    }
                    SetStep::Applied
                }
                _ => SetStep::Unknown,
            };
            match step {
                SetStep::Unknown => {
                    ctx.err(&format!(
                        "ERR Unknown option or number of arguments for SENTINEL SET '{option}'"
                    ));
                    break;
                }
                SetStep::BadValue => {
                    bad(ctx, &args[j + 1]);
                    break;
                }
                SetStep::Applied => {}
            }
            changes += 1;
            let id = m.inst.id;
            let shown = if redacted { "******" } else { &args[j + 1] };
            let extra = match used {
                3 => format!("{option} {} {}", args[j + 1], args[j + 2]),
                _ => format!("{option} {shown}"),
            };
            inst_event(st, acts, Level::Warning, "+set", &name, id, &extra);
            j += used;
        }
        if changes > 0 {
            acts.save();
        }
        // Answered with an error already when stopped early.
        changes > 0 && j >= args.len()
    });
}

const HELP: &[&str] = &[
    "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CKQUORUM <master-name>",
    "    Tell whether the sentinels this one knows can reach the quorum and",
    "    the majority needed to authorize a failover of this master.",
    "CONFIG SET <param> <value>",
    "    Change a global sentinel parameter.",
    "CONFIG GET <param>",
    "    Show global sentinel parameters matching a pattern.",
    "DEBUG [<param> <value> ...]",
    "    Show the timing parameters (milliseconds), or change some of them.",
    "GET-MASTER-ADDR-BY-NAME <master-name>",
    "    The address clients should use for this master.",
    "FAILOVER <master-name>",
    "    Fail the master over now, without the agreement of other sentinels.",
    "FLUSHCONFIG",
    "    Write the configuration file again, with the current state.",
    "INFO-CACHE <master-name>",
    "    The last INFO replies of the master and its replicas.",
    "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
    "    Whether this sentinel sees that master down; with a run id, a vote.",
    "MASTER <master-name>",
    "    State of one monitored master.",
    "MASTERS",
    "    State of every monitored master.",
    "MONITOR <name> <ip> <port> <quorum>",
    "    Start monitoring a master.",
    "MYID",
    "    This sentinel's id.",
    "PENDING-SCRIPTS",
    "    Scripts waiting to run or running.",
    "REMOVE <master-name>",
    "    Stop monitoring a master.",
    "REPLICAS <master-name>",
    "    State of the replicas of a master.",
    "RESET <pattern>",
    "    Forget the replicas and sentinels of the masters matching the pattern.",
    "SENTINELS <master-name>",
    "    State of the other sentinels watching a master.",
    "SET <master-name> <option> <value> [<option> <value> ...]",
    "    Change settings of a monitored master.",
    "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
    "    Make this sentinel crash at a chosen point of a failover (testing).",
    "HELP",
    "    Print this help.",
];

fn help(ctx: &mut Ctx) {
    let out = ctx.out();
    out.array(HELP.len());
    for l in HELP {
        out.simple(l.as_bytes());
    }
}

fn role(ctx: &mut Ctx) {
    with_state(ctx, |ctx, st| {
        let out = ctx.out();
        out.array(2);
        out.bulk(b"sentinel");
        out.array(st.masters.len());
        for n in st.masters.keys() {
            out.bulk(n.as_bytes());
        }
    });
}

/// Sentinel accepts only hello messages, which it processes itself.
fn publish(ctx: &mut Ctx) {
    if ctx.argv.get(1) != hello::HELLO_CHANNEL.as_bytes() {
        ctx.err("ERR Only HELLO messages are accepted by Sentinel instances.");
        return;
    }
    let payload = arg(ctx, 2);
    with_state_out(ctx, |ctx, st, acts| {
        hello::process_hello(st, acts, &payload, now_ms());
        ctx.out().int(1);
    });
}

/// Sections of a sentinel's INFO: the server's generic ones plus ours.
fn info(ctx: &mut Ctx) {
    const DEFAULT: &[&str] = &["server", "clients", "stats", "cpu", "sentinel"];
    // Redis Sentinel has no other sections, even for `all`.
    const ALL: &[&str] = DEFAULT;
    let mut wanted: Vec<&str> = Vec::new();
    let args: Vec<String> = ctx
        .argv
        .from(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if args.is_empty() {
        wanted.extend_from_slice(DEFAULT);
    }
    for a in &args {
        match a.as_str() {
            "default" => wanted.extend_from_slice(DEFAULT),
            "all" | "everything" => wanted.extend_from_slice(ALL),
            other => {
                if let Some(s) = ALL.iter().find(|s| **s == other) {
                    wanted.push(s);
                }
            }
        }
    }
    let mut text = server::info::render(ctx.srv, &wanted);
    if wanted.contains(&"sentinel") {
        with_state(ctx, |_, st| {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let running = st.scripts.iter().filter(|s| s.running).count();
            let tilt_since = if st.tilt {
                (now_ms() - st.tilt_start_time) / 1000
            } else {
                -1
            };
            let _ = write!(
                text,
                "# Sentinel\r\nsentinel_masters:{}\r\nsentinel_tilt:{}\r\nsentinel_tilt_since_seconds:{}\r\nsentinel_running_scripts:{}\r\nsentinel_scripts_queue_length:{}\r\nsentinel_simulate_failure_flags:{}\r\n",
                st.masters.len(),
                u8::from(st.tilt),
                tilt_since,
                running,
                st.scripts.len() - running,
                st.simfailure_flags
            );
            for (n, (name, m)) in st.masters.iter().enumerate() {
                let status = m.status_word();
                let a = m.current_addr();
                let _ = write!(
                    text,
                    "master{n}:name={name},status={status},address={}:{},slaves={},sentinels={}\r\n",
                    st.announce(a),
                    a.port,
                    m.replicas.len(),
                    m.sentinels.len() + 1
                );
            }
        });
    }
    ctx.out().verbatim(text.as_bytes());
}

/// The `+monitor` events of the masters read from the config, at start-up.
pub fn monitor_started(st: &mut Sentinel, out: &mut Out) {
    let names: Vec<(String, u64, u32)> = st
        .masters
        .iter()
        .map(|(n, m)| (n.clone(), m.inst.id, m.quorum))
        .collect();
    for (n, id, q) in names {
        inst_event(
            st,
            out,
            Level::Warning,
            "+monitor",
            &n,
            id,
            &format!("quorum {q}"),
        );
    }
}
