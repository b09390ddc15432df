//! The sentinel's timer and the replies it reacts to: monitoring (PING,
//! INFO, hello), subjective and objective down, the leader election and
//! the failover state machine. The model and its timings are Redis
//! Sentinel's; where we choose differently to keep confirmed writes, the
//! comment says so (see `select_replica`).

use crate::events::{emit, inst_event};
use crate::link::{self, Event, Tag, Target};
use crate::state::{Addr, Failover, Instance, Kind, Master, Reconf, Sentinel};
use rand::Rng;
use resp::frame::Frame;
use server::config::Directive;
use server::log::Level;
use server::server::Server;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

pub const HELLO_CHANNEL: &str = "__sentinel__:hello";
const MAX_PENDING: usize = 100;
/// After voting for another sentinel, our own failover waits this much
/// longer (randomly), as in Redis.
const MAX_DESYNC: i64 = 1000;
/// A sentinel starting a failover asks for votes after a random delay in
/// this window: sentinels that saw the master fail at the same moment then
/// ask one after the other, and the first one collects the votes instead
/// of each voting for itself (a split vote costs an election timeout).
const VOTE_DESYNC: i64 = 400;

/// The server (weakly: it owns the event loop) and the sentinel state.
type Context = (Weak<RefCell<Server>>, Rc<RefCell<Sentinel>>);

thread_local! {
    static CTX: RefCell<Option<Context>> =
        const { RefCell::new(None) };
}

pub fn install(srv: &Rc<RefCell<Server>>, st: Rc<RefCell<Sentinel>>) {
    CTX.with(|c| *c.borrow_mut() = Some((Rc::downgrade(srv), st)));
}

/// The sentinel state, for command handlers (the server is already
/// borrowed by the caller and passed separately).
pub fn state() -> Option<Rc<RefCell<Sentinel>>> {
    CTX.with(|c| c.borrow().as_ref().map(|(_, s)| s.clone()))
}

/// Runs `f` with the server and the state borrowed, in that order (the
/// only order anyone borrows them in).
fn with_both(f: impl FnOnce(&mut Server, &mut Sentinel)) {
    let Some((srv, st)) = CTX.with(|c| c.borrow().clone()) else {
        return;
    };
    let Some(srv) = srv.upgrade() else { return };
    let Ok(mut srv) = srv.try_borrow_mut() else {
        return;
    };
    let Ok(mut st) = st.try_borrow_mut() else {
        return;
    };
    f(&mut srv, &mut st);
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Saves the state; a failure is logged, as Redis does, and the sentinel
/// goes on (the next change tries again).
pub fn save(st: &Sentinel) {
    match crate::confile::flush(st) {
        Ok(()) => server::log::write(Level::Notice, "Sentinel new configuration saved on disk"),
        Err(e) => server::log::write(
            Level::Warning,
            &format!(
                "WARNING: Sentinel was not able to save the new configuration on disk!!!: {e}"
            ),
        ),
    }
}

/// The timer task: ten times a second, with a little jitter so that
/// sentinels started together do not act in lockstep.
pub async fn timer_task() {
    loop {
        let ms = 100 + rand::thread_rng().gen_range(0..10);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        with_both(tick);
    }
}

fn tick(srv: &mut Server, st: &mut Sentinel) {
    let now = now_ms();
    check_tilt(srv, st, now);
    // `tls-replication yes`: links to instances and sentinels use TLS, as
    // Redis Sentinel's do.
    let tls = if srv.config.get_bool(Directive::TlsReplication) {
        srv.tls.clone()
    } else {
        None
    };
    let names: Vec<String> = st.masters.keys().cloned().collect();
    let mut switch = Vec::new();
    for name in names {
        let Some(m) = st.masters.get(&name) else {
            continue;
        };
        let mut ids = vec![m.inst.id];
        ids.extend(m.replicas.iter().map(|r| r.id));
        ids.extend(m.sentinels.iter().map(|s| s.id));
        for id in ids {
            handle_instance(srv, st, &name, id, now, &tls);
        }
        if st.masters.get(&name).map(|m| m.failover) == Some(Failover::UpdateConfig) {
            switch.push(name);
        }
    }
    for name in switch {
        switch_to_promoted(srv, st, &name);
    }
    crate::events::run_scripts(srv, st, now);
}

fn check_tilt(srv: &mut Server, st: &mut Sentinel, now: i64) {
    let delta = now - st.previous_time;
    if st.previous_time != 0 && (delta < 0 || delta > st.timing.tilt_trigger) {
        st.tilt = true;
        st.tilt_start_time = now;
        emit(srv, Level::Warning, "+tilt", "#tilt mode entered");
    }
    st.previous_time = now;
}

fn inst<'a>(st: &'a mut Sentinel, master: &str, id: u64) -> Option<&'a mut Instance> {
    st.masters.get_mut(master)?.instance_mut(id)
}

fn handle_instance(
    srv: &mut Server,
    st: &mut Sentinel,
    master: &str,
    id: u64,
    now: i64,
    tls: &Option<std::sync::Arc<server::tls::TlsContext>>,
) {
    reconnect(st, master, id, now, tls);
    send_periodic(st, master, id, now);
    if st.tilt {
        if now - st.tilt_start_time < st.timing.tilt_period {
            return;
        }
        st.tilt = false;
        emit(srv, Level::Warning, "-tilt", "#tilt mode exited");
    }
    check_sdown(srv, st, master, id, now);
    let is_master = st
        .masters
        .get(master)
        .map(|m| m.inst.id == id)
        .unwrap_or(false);
    if is_master {
        check_odown(srv, st, master, now);
        start_failover_if_needed(srv, st, master, now);
        failover_state_machine(srv, st, master, now);
        ask_others(st, master, now, false);
    }
}

fn sink(t: Target, ev: Event) {
    with_both(|srv, st| on_event(srv, st, t, ev));
}

/// Opens the links an instance is missing, at most once per ping period.
fn reconnect(
    st: &mut Sentinel,
    master: &str,
    id: u64,
    now: i64,
    tls: &Option<std::sync::Arc<server::tls::TlsContext>>,
) {
    let ping_period = st.timing.ping_period;
    let short_id: String = st.myid.chars().take(8).collect();
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let Some(i) = m.instance(id) else { return };
    let kind = i.kind;
    let need_pubsub = kind != Kind::Sentinel && i.links.pubsub.is_none();
    if (i.links.cmd.is_some() && !need_pubsub) || i.addr.port == 0 {
        return;
    }
    if now - i.links.last_reconn_time < ping_period {
        return;
    }
    let (user, pass) = st.credentials(m, kind);
    let addr = i.addr.clone();
    let setname = m.command_name("CLIENT").to_string();
    let auth = m.command_name("AUTH").to_string();
    let ping = m.command_name("PING").to_string();
    let subscribe = m.command_name("SUBSCRIBE").to_string();
    let gen_cmd = st.next_id();
    let gen_ps = st.next_id();
    let Some(i) = inst(st, master, id) else {
        return;
    };
    i.links.last_reconn_time = now;
    let auth_cmd = |h: &link::LinkHandle| {
        if let Some(p) = &pass {
            match &user {
                Some(u) => h.send(&[auth.as_bytes(), u.as_bytes(), p.as_bytes()], Tag::Ignore),
                None => h.send(&[auth.as_bytes(), p.as_bytes()], Tag::Ignore),
            };
        }
    };
    if i.links.cmd.is_none() {
        let h = link::open(
            Target {
                inst: id,
                pubsub: false,
                gen: gen_cmd,
            },
            addr.host.clone(),
            addr.port,
            tls.clone(),
            sink,
        );
        auth_cmd(&h);
        let name = format!("sentinel-{short_id}-cmd");
        h.send(
            &[setname.as_bytes(), b"SETNAME", name.as_bytes()],
            Tag::Ignore,
        );
        // A PING at once, so a new link proves itself quickly.
        if h.send(&[ping.as_bytes()], Tag::Ping) {
            if i.links.act_ping_time == 0 {
                i.links.act_ping_time = now;
            }
            i.links.last_ping_time = now;
        }
        i.links.cmd = Some(h);
    }
    if need_pubsub {
        let h = link::open(
            Target {
                inst: id,
                pubsub: true,
                gen: gen_ps,
            },
            addr.host,
            addr.port,
            tls.clone(),
            sink,
        );
        auth_cmd(&h);
        let name = format!("sentinel-{short_id}-pubsub");
        h.send(
            &[setname.as_bytes(), b"SETNAME", name.as_bytes()],
            Tag::Ignore,
        );
        h.send(
            &[subscribe.as_bytes(), HELLO_CHANNEL.as_bytes()],
            Tag::Ignore,
        );
        i.links.pubsub = Some(h);
        i.links.pubsub_last_activity = now;
    }
}

fn send_periodic(st: &mut Sentinel, master: &str, id: u64, now: i64) {
    let t = st.timing.clone();
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let master_busy = m.inst.o_down() || m.in_failover();
    let Some(i) = m.instance(id) else { return };
    let Some(link) = i.links.cmd.as_ref().filter(|l| l.connected()) else {
        return;
    };
    if link.pending() >= MAX_PENDING {
        return;
    }
    let info_period = if i.kind == Kind::Replica && (master_busy || i.master_link_down_time != 0) {
        1000
    } else {
        t.info_period
    };
    let ping_period = i.down_after.min(t.ping_period);
    let want_info =
        i.kind != Kind::Sentinel && (i.info_refresh == 0 || now - i.info_refresh > info_period);
    let want_ping = now - i.links.last_pong_time > ping_period
        && now - i.links.last_ping_time > ping_period / 2;
    let want_hello = now - i.last_pub_time > t.publish_period;
    let info = m.command_name("INFO").to_string();
    let ping = m.command_name("PING").to_string();
    if want_info {
        link.send(&[info.as_bytes()], Tag::Info);
    }
    if want_ping && link.send(&[ping.as_bytes()], Tag::Ping) {
        if let Some(i) = inst(st, master, id) {
            i.links.last_ping_time = now;
            if i.links.act_ping_time == 0 {
                i.links.act_ping_time = now;
            }
        }
    }
    if want_hello {
        send_hello(st, master, id, now);
    }
}

/// Publishes our hello on an instance: who we are and what we believe
/// the master's address and configuration epoch are.
fn send_hello(st: &mut Sentinel, master: &str, id: u64, now: i64) {
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let Some(i) = m.instance(id) else { return };
    let Some(link) = i.links.cmd.as_ref().filter(|l| l.connected()) else {
        return;
    };
    let ip = match &st.globals.announce_ip {
        Some(ip) => ip.clone(),
        None => link.local_ip.borrow().clone(),
    };
    let port = if st.globals.announce_port != 0 {
        st.globals.announce_port
    } else {
        st.port
    };
    let maddr = m.current_addr();
    let payload = format!(
        "{},{},{},{},{},{},{},{}",
        ip, port, st.myid, st.current_epoch, m.inst.name, maddr.host, maddr.port, m.config_epoch
    );
    let publish = m.command_name("PUBLISH").to_string();
    let sent = link.send(
        &[
            publish.as_bytes(),
            HELLO_CHANNEL.as_bytes(),
            payload.as_bytes(),
        ],
        Tag::Publish,
    );
    if sent {
        if let Some(i) = inst(st, master, id) {
            // Marked now so one slow reply does not trigger a resend every
            // tick; the reply refreshes it.
            i.last_pub_time = now;
        }
    }
}

fn on_event(srv: &mut Server, st: &mut Sentinel, t: Target, ev: Event) {
    let now = now_ms();
    let Some((master, i)) = st.find_mut(t.inst) else {
        return;
    };
    let current = if t.pubsub {
        i.links.pubsub.as_ref().map(|l| l.gen)
    } else {
        i.links.cmd.as_ref().map(|l| l.gen)
    };
    if current != Some(t.gen) {
        return;
    }
    match ev {
        Event::Connected { .. } => {
            if t.pubsub {
                i.links.pubsub_since = now;
                i.links.pubsub_last_activity = now;
            } else {
                i.links.cmd_since = now;
            }
        }
        Event::Closed => {
            if t.pubsub {
                i.links.pubsub = None;
            } else {
                i.links.cmd = None;
            }
        }
        Event::Message(frame) => {
            i.links.pubsub_last_activity = now;
            if let Frame::Array(parts) | Frame::Push(parts) = frame {
                if parts.len() == 3 && parts[0].as_bytes() == Some(b"message") {
                    if let Some(payload) = parts[2].as_bytes() {
                        let payload = String::from_utf8_lossy(payload).into_owned();
                        process_hello(srv, st, &payload, now);
                    }
                }
            }
        }
        Event::Reply(tag, frame) => on_reply(srv, st, &master, t.inst, tag, frame, now),
    }
}

fn on_reply(
    srv: &mut Server,
    st: &mut Sentinel,
    master: &str,
    id: u64,
    tag: Tag,
    frame: Frame,
    now: i64,
) {
    match tag {
        Tag::Ping => {
            let Some(i) = inst(st, master, id) else {
                return;
            };
            let ok = match &frame {
                Frame::Simple(s) => s.eq_ignore_ascii_case(b"PONG"),
                Frame::Error(e) => e.starts_with(b"LOADING") || e.starts_with(b"MASTERDOWN"),
                _ => false,
            };
            i.links.last_pong_time = now;
            if matches!(&frame, Frame::Simple(s) if s.eq_ignore_ascii_case(b"PONG")) {
                i.master_reboot_since = 0;
            }
            if ok {
                i.links.last_avail_time = now;
                i.links.act_ping_time = 0;
            } else if let Frame::Error(e) = &frame {
                // A script hogging a down master: stop it, once.
                if e.starts_with(b"BUSY") && i.s_down() && !i.script_kill_sent {
                    i.script_kill_sent = true;
                    if let Some(l) = &i.links.cmd {
                        l.send(&[b"SCRIPT", b"KILL"], Tag::Ignore);
                    }
                }
            }
        }
        Tag::Info => {
            let text = match &frame {
                Frame::Bulk(b) | Frame::Verbatim(b) => {
                    let b = if matches!(frame, Frame::Verbatim(_)) && b.len() >= 4 {
                        &b[4..]
                    } else {
                        &b[..]
                    };
                    String::from_utf8_lossy(b).into_owned()
                }
                _ => return,
            };
            refresh_info(srv, st, master, id, &text, now);
        }
        Tag::Publish => {
            if !matches!(frame, Frame::Error(_)) {
                if let Some(i) = inst(st, master, id) {
                    i.last_pub_time = now;
                }
            }
        }
        Tag::MasterDown => {
            let Frame::Array(parts) = frame else { return };
            let (Some(Frame::Integer(down)), Some(leader), Some(Frame::Integer(epoch))) =
                (parts.first(), parts.get(1), parts.get(2))
            else {
                return;
            };
            let Some(leader) = leader.as_bytes() else {
                return;
            };
            let leader = String::from_utf8_lossy(leader).into_owned();
            let Some(i) = inst(st, master, id) else {
                return;
            };
            i.last_master_down_reply_time = now;
            i.asked_at = 0;
            i.master_down = *down == 1;
            if leader != "*" {
                if i.leader.as_deref() != Some(leader.as_str()) || i.leader_epoch != *epoch as u64 {
                    server::log::write(
                        Level::Warning,
                        &format!("{} voted for {} {}", i.name, leader, epoch),
                    );
                }
                i.leader = Some(leader);
                i.leader_epoch = (*epoch).max(0) as u64;
            }
            // React at once rather than on the next tick: the objective
            // down state and the election can advance now.
            if st
                .masters
                .get(master)
                .map(|m| m.inst.s_down())
                .unwrap_or(false)
            {
                check_odown(srv, st, master, now);
                start_failover_if_needed(srv, st, master, now);
                failover_state_machine(srv, st, master, now);
            }
        }
        Tag::Ignore => {}
    }
}

/// Parses an INFO reply and acts on what it shows: replicas to add, role
/// changes, a promotion, replicas to (re)point.
fn refresh_info(srv: &mut Server, st: &mut Sentinel, master: &str, id: u64, text: &str, now: i64) {
    let mut runid = None;
    let mut role_master = None;
    let mut replicas: Vec<Addr> = Vec::new();
    let mut link_down_ms = 0i64;
    let mut m_host = None;
    let mut m_port = None;
    let mut link_up = None;
    let mut priority = None;
    let mut offset = None;
    let mut announced = None;
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k {
            "run_id" if v.len() == 40 => runid = Some(v.to_string()),
            "role" => role_master = Some(v == "master"),
            "master_host" => m_host = Some(v.to_string()),
            "master_port" => m_port = v.parse::<u16>().ok(),
            "master_link_status" => link_up = Some(v == "up"),
            "master_link_down_since_seconds" => {
                link_down_ms = v.parse::<i64>().unwrap_or(0).saturating_mul(1000)
            }
            "slave_priority" | "replica_priority" => priority = v.parse::<i64>().ok(),
            "slave_repl_offset" => offset = v.parse::<u64>().ok(),
            "replica_announced" => announced = Some(v == "1"),
            _ if k.starts_with("slave") && k[5..].bytes().all(|b| b.is_ascii_digit()) => {
                let mut ip = None;
                let mut port = None;
                for kv in v.split(',') {
                    match kv.split_once('=') {
                        Some(("ip", x)) => ip = Some(x.to_string()),
                        Some(("port", x)) => port = x.parse::<u16>().ok(),
                        _ => {}
                    }
                }
                if let (Some(ip), Some(port)) = (ip, port) {
                    replicas.push(Addr::new(&ip, port));
                }
            }
            _ => {}
        }
    }
    let Some(role_master) = role_master else {
        return;
    };
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let is_the_master = m.inst.id == id;
    let failover = m.failover;
    let reboot_period = m.master_reboot_down_after;
    let Some(i) = m.instance_mut(id) else { return };
    let mut rebooted = false;
    if let Some(r) = runid {
        if i.runid.as_deref().is_some_and(|old| old != r) {
            rebooted = true;
            if is_the_master && reboot_period > 0 {
                i.master_reboot_since = now;
            }
        }
        i.runid = Some(r);
    }
    i.info = text.to_string();
    i.info_refresh = now;
    i.master_link_down_time = if role_master { 0 } else { link_down_ms };
    let role_changed = i.role_master != role_master;
    if role_changed {
        i.role_master = role_master;
        i.role_reported_time = now;
    }
    if !role_master {
        let new_host = m_host.unwrap_or_default();
        let new_port = m_port.unwrap_or(0);
        if new_host != i.slave_master_host || new_port != i.slave_master_port {
            i.slave_master_host = new_host;
            i.slave_master_port = new_port;
            i.slave_conf_change_time = now;
        }
        i.master_link_up = link_up.unwrap_or(false);
        if let Some(p) = priority {
            i.slave_priority = p;
        }
        i.slave_repl_offset = offset.unwrap_or(0);
        i.replica_announced = announced.unwrap_or(true);
    }
    let kind = i.kind;
    if rebooted {
        inst_event(srv, st, Level::Notice, "+reboot", master, id, "");
    }
    if role_changed {
        let agrees = (kind == Kind::Master) == role_master;
        let ev = if agrees {
            "+role-change"
        } else {
            "-role-change"
        };
        let extra = format!(
            "new reported role is {}",
            if role_master { "master" } else { "slave" }
        );
        inst_event(srv, st, Level::Verbose, ev, master, id, &extra);
    }
    // Replicas the master lists become known.
    if is_the_master && role_master {
        let mut added = false;
        for a in replicas {
            if let Some(rid) = st.add_replica(master, a, now) {
                inst_event(srv, st, Level::Notice, "+slave", master, rid, "");
                added = true;
            }
        }
        if added {
            save(st);
        }
    }
    if st.tilt {
        return;
    }
    if kind != Kind::Replica {
        return;
    }
    let timing = st.timing.clone();
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let sane = master_looks_sane(m, now, &timing);
    let maddr = m.inst.addr.clone();
    let promoted_addr = m.promoted_replica().map(|p| p.addr.clone());
    let failover_timeout = m.failover_timeout;
    let Some(i) = m.replicas.iter().find(|r| r.id == id) else {
        return;
    };
    let promoted = i.promoted;
    let down_ago = now - i.s_down_since.max(i.o_down_since);
    let role_age = now - i.role_reported_time;
    let conf_age = now - i.slave_conf_change_time;
    let follows = i.slave_master_host == maddr.host && i.slave_master_port == maddr.port;
    let follows_new = promoted_addr
        .as_ref()
        .is_some_and(|p| i.slave_master_host == p.host && i.slave_master_port == p.port);
    let link_up = i.master_link_up;
    let reconf = i.reconf;
    if role_master {
        if promoted && failover == Failover::WaitPromotion {
            promotion_seen(srv, st, master, id, now);
            return;
        }
        // An instance we know as a replica says it is a master (an old
        // master back from the dead): after a while, make it follow.
        let wait = timing.publish_period * 4;
        if !(promoted && failover != Failover::None)
            && sane
            && down_ago >= wait
            && role_age > wait
            && send_replicaof(st, master, id, Some(&maddr))
        {
            inst_event(srv, st, Level::Notice, "+convert-to-slave", master, id, "");
        }
        return;
    }
    // A replica following the wrong master is pointed back, unless a
    // failover is rearranging things.
    if !follows
        && reconf == Reconf::None
        && failover == Failover::None
        && sane
        && down_ago >= failover_timeout
        && conf_age > failover_timeout
        && send_replicaof(st, master, id, Some(&maddr))
    {
        inst_event(srv, st, Level::Notice, "+fix-slave-config", master, id, "");
        return;
    }
    // Progress of a replica being moved to the promoted one.
    if let (Some(_), Reconf::Sent(_) | Reconf::InProg) = (promoted_addr, reconf) {
        if matches!(reconf, Reconf::Sent(_)) && follows_new {
            if let Some(i) = inst(st, master, id) {
                i.reconf = Reconf::InProg;
            }
            inst_event(
                srv,
                st,
                Level::Notice,
                "+slave-reconf-inprog",
                master,
                id,
                "",
            );
        }
        let reconf = inst(st, master, id).map(|i| i.reconf);
        if reconf == Some(Reconf::InProg) && link_up {
            if let Some(i) = inst(st, master, id) {
                i.reconf = Reconf::Done;
            }
            inst_event(srv, st, Level::Notice, "+slave-reconf-done", master, id, "");
        }
    }
}

fn master_looks_sane(m: &Master, now: i64, t: &crate::state::Timing) -> bool {
    m.inst.role_master
        && !m.inst.s_down()
        && !m.inst.o_down()
        && !m.inst.links.disconnected()
        && m.inst.info_refresh != 0
        && now - m.inst.info_refresh < t.info_period * 2
}

/// The promoted replica reports the master role: the failover's point of
/// no return. The new configuration gets the failover's epoch.
fn promotion_seen(srv: &mut Server, st: &mut Sentinel, master: &str, id: u64, now: i64) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    m.config_epoch = m.failover_epoch;
    m.failover = Failover::ReconfSlaves;
    m.failover_state_change_time = now;
    let old = m.inst.addr.clone();
    let new = m
        .promoted_replica()
        .map(|p| p.addr.clone())
        .unwrap_or_else(|| old.clone());
    let script = m.client_reconfig_script.clone();
    let mid = m.inst.id;
    save(st);
    inst_event(srv, st, Level::Warning, "+promoted-slave", master, id, "");
    if st.simfailure_flags & crate::state::SIMFAILURE_CRASH_AFTER_PROMOTION != 0 {
        server::log::write(Level::Warning, "Simulated failure: crash after promotion");
        std::process::exit(99);
    }
    inst_event(
        srv,
        st,
        Level::Warning,
        "+failover-state-reconf-slaves",
        master,
        mid,
        "",
    );
    if let Some(path) = script {
        reconfig_script(st, path, master, "leader", "start", &old, &new);
    }
    // Tell everyone the new configuration at once rather than in up to
    // a publish period.
    let publish_period = st.timing.publish_period;
    if let Some(m) = st.masters.get_mut(master) {
        for i in std::iter::once(&mut m.inst)
            .chain(m.replicas.iter_mut())
            .chain(m.sentinels.iter_mut())
        {
            i.last_pub_time = now - publish_period - 1;
        }
    }
}

fn reconfig_script(
    st: &mut Sentinel,
    path: String,
    master: &str,
    role: &str,
    state: &str,
    from: &Addr,
    to: &Addr,
) {
    crate::events::queue_script(
        st,
        path,
        vec![
            master.to_string(),
            role.to_string(),
            state.to_string(),
            from.host.clone(),
            from.port.to_string(),
            to.host.clone(),
            to.port.to_string(),
        ],
    );
}

/// Sends the reconfiguration batch Redis Sentinel sends: REPLICAOF inside
/// MULTI with a config rewrite and the clients killed, so clients
/// reconnect and ask where the master is now.
fn send_replicaof(st: &mut Sentinel, master: &str, id: u64, to: Option<&Addr>) -> bool {
    let Some(m) = st.masters.get(master) else {
        return false;
    };
    let name = |c: &str| m.command_name(c).as_bytes().to_vec();
    let (host, port) = match to {
        Some(a) => (a.host.as_bytes().to_vec(), a.port.to_string().into_bytes()),
        None => (b"NO".to_vec(), b"ONE".to_vec()),
    };
    let cmds = vec![
        vec![name("MULTI")],
        vec![name("SLAVEOF"), host, port],
        vec![name("CONFIG"), b"REWRITE".to_vec()],
        vec![
            name("CLIENT"),
            b"KILL".to_vec(),
            b"TYPE".to_vec(),
            b"normal".to_vec(),
        ],
        vec![
            name("CLIENT"),
            b"KILL".to_vec(),
            b"TYPE".to_vec(),
            b"pubsub".to_vec(),
        ],
        vec![name("EXEC")],
    ];
    let Some(i) = m
        .replicas
        .iter()
        .chain(std::iter::once(&m.inst))
        .find(|i| i.id == id)
    else {
        return false;
    };
    match i.links.cmd.as_ref().filter(|l| l.connected()) {
        Some(l) => l.send_batch(&cmds),
        None => false,
    }
}

fn check_sdown(srv: &mut Server, st: &mut Sentinel, master: &str, id: u64, now: i64) {
    let t = st.timing.clone();
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let is_master = m.inst.id == id;
    let Some(i) = m.instance_mut(id) else { return };
    let l = &i.links;
    let elapsed = if l.act_ping_time != 0 {
        now - l.act_ping_time
    } else if l.disconnected() || !l.cmd.as_ref().is_some_and(|c| c.connected()) {
        now - l.last_avail_time
    } else {
        0
    };
    // A link that stopped answering is recycled so a half-open socket
    // cannot keep the instance "connected".
    if l.cmd.as_ref().is_some_and(|c| c.connected())
        && now - l.cmd_since >= t.min_link_reconnect_period
        && l.act_ping_time != 0
        && now - l.act_ping_time > i.down_after / 2
        && now - l.last_pong_time > i.down_after / 2
    {
        i.links.cmd = None;
    }
    let l = &i.links;
    if l.pubsub.as_ref().is_some_and(|c| c.connected())
        && now - l.pubsub_since >= t.min_link_reconnect_period
        && now - l.pubsub_last_activity > t.publish_period * 3
    {
        i.links.pubsub = None;
    }
    let reports_replica_too_long = is_master
        && !i.role_master
        && now - i.role_reported_time > i.down_after + t.info_period * 2;
    // A master that rebooted and is not answering PONG yet (still loading,
    // say) for longer than `master-reboot-down-after-period`.
    let reboot_period = if is_master {
        st.masters
            .get(master)
            .map(|m| m.master_reboot_down_after)
            .unwrap_or(0)
    } else {
        0
    };
    let Some(i) = inst(st, master, id) else {
        return;
    };
    let rebooting_too_long =
        i.master_reboot_since != 0 && now - i.master_reboot_since > reboot_period;
    if elapsed > i.down_after || reports_replica_too_long || rebooting_too_long {
        if !i.s_down() {
            i.s_down_since = now;
            inst_event(srv, st, Level::Warning, "+sdown", master, id, "");
            if is_master {
                // Ask the others right away instead of on the next period.
                ask_others(st, master, now, true);
            }
        }
    } else if i.s_down() {
        i.s_down_since = 0;
        i.script_kill_sent = false;
        inst_event(srv, st, Level::Warning, "-sdown", master, id, "");
    }
}

fn check_odown(srv: &mut Server, st: &mut Sentinel, master: &str, now: i64) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let mut votes = 0u32;
    let mut odown = false;
    if m.inst.s_down() {
        votes = 1 + m.sentinels.iter().filter(|s| s.master_down).count() as u32;
        odown = votes >= m.quorum;
    }
    let id = m.inst.id;
    let quorum = m.quorum;
    if odown {
        if !m.inst.o_down() {
            m.inst.o_down_since = now;
            let extra = format!("#quorum {votes}/{quorum}");
            inst_event(srv, st, Level::Warning, "+odown", master, id, &extra);
        }
    } else if m.inst.o_down() {
        m.inst.o_down_since = 0;
        inst_event(srv, st, Level::Warning, "-odown", master, id, "");
    }
}

/// Asks the other sentinels whether they see the master down — and, once
/// a failover is ours to try, for their vote.
fn ask_others(st: &mut Sentinel, master: &str, now: i64, forced: bool) {
    let ask_period = st.timing.ask_period;
    let myid = st.myid.clone();
    let epoch = st.current_epoch;
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let sdown = m.inst.s_down();
    let runid = if m.in_failover() {
        myid
    } else {
        "*".to_string()
    };
    let addr = m.inst.addr.clone();
    let cmd = m.command_name("SENTINEL").to_string();
    for s in m.sentinels.iter_mut() {
        let elapsed = now - s.last_master_down_reply_time;
        if elapsed > ask_period * 5 {
            s.master_down = false;
            s.leader = None;
        }
        if !sdown {
            continue;
        }
        let Some(link) = s.links.cmd.as_ref().filter(|l| l.connected()) else {
            continue;
        };
        // One question at a time per peer, at most once per period
        // unless forced.
        if !forced && s.asked_at != 0 && now - s.asked_at < ask_period {
            continue;
        }
        if !forced && elapsed < ask_period {
            continue;
        }
        let port = addr.port.to_string();
        let ep = epoch.to_string();
        if link.send(
            &[
                cmd.as_bytes(),
                b"is-master-down-by-addr",
                addr.host.as_bytes(),
                port.as_bytes(),
                ep.as_bytes(),
                runid.as_bytes(),
            ],
            Tag::MasterDown,
        ) {
            s.asked_at = now;
        }
    }
}

fn start_failover_if_needed(srv: &mut Server, st: &mut Sentinel, master: &str, now: i64) -> bool {
    let Some(m) = st.masters.get_mut(master) else {
        return false;
    };
    if !m.inst.o_down() || m.in_failover() {
        return false;
    }
    if now - m.failover_start_time < m.failover_timeout * 2 {
        if m.failover_delay_logged != m.failover_start_time {
            m.failover_delay_logged = m.failover_start_time;
            let when = m.failover_start_time + m.failover_timeout * 2;
            server::log::write(
                Level::Warning,
                &format!(
                    "Next failover delay: I will not start a failover before {}",
                    ctime(when)
                ),
            );
        }
        return false;
    }
    start_failover(srv, st, master, now);
    true
}

/// `Wed Nov 25 16:57:55 2026`, as Redis prints the next failover time.
fn ctime(ms: i64) -> String {
    let t = (ms / 1000) as libc::time_t;
    let mut buf = [0 as libc::c_char; 64];
    // SAFETY: ctime_r writes at most 26 bytes into the 64-byte buffer and
    // NUL-terminates it; `t` is a plain value.
    unsafe {
        let p = libc::ctime_r(&t, buf.as_mut_ptr());
        if p.is_null() {
            return String::new();
        }
        std::ffi::CStr::from_ptr(p)
            .to_string_lossy()
            .trim_end()
            .to_string()
    }
}

pub fn start_failover(srv: &mut Server, st: &mut Sentinel, master: &str, now: i64) {
    st.current_epoch += 1;
    let epoch = st.current_epoch;
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    m.failover = Failover::WaitStart;
    m.failover_epoch = epoch;
    m.vote_asked = false;
    m.failover_start_time = now + rand::thread_rng().gen_range(0..VOTE_DESYNC);
    m.failover_state_change_time = now;
    let id = m.inst.id;
    emit(srv, Level::Warning, "+new-epoch", &epoch.to_string());
    inst_event(srv, st, Level::Warning, "+try-failover", master, id, "");
}

/// Our vote for the leader of `req_epoch`: the first sentinel to ask in an
/// epoch gets it. Returns (leader, epoch) of our vote.
pub fn vote_leader(
    srv: &mut Server,
    st: &mut Sentinel,
    master: &str,
    req_epoch: u64,
    req_runid: &str,
    now: i64,
) -> (Option<String>, u64) {
    if req_epoch > st.current_epoch {
        st.current_epoch = req_epoch;
        save(st);
        emit(srv, Level::Warning, "+new-epoch", &req_epoch.to_string());
    }
    let current = st.current_epoch;
    let myid = st.myid.clone();
    let Some(m) = st.masters.get_mut(master) else {
        return (None, 0);
    };
    if m.leader_epoch < req_epoch && current <= req_epoch {
        m.leader = Some(req_runid.to_string());
        m.leader_epoch = current;
        let text = format!("{} {}", req_runid, current);
        // Voting for someone else: do not start our own failover soon.
        if req_runid != myid {
            m.failover_start_time = now + rand::thread_rng().gen_range(0..MAX_DESYNC);
        }
        save(st);
        emit(srv, Level::Warning, "+vote-for-leader", &text);
    }
    let m = &st.masters[master];
    (m.leader.clone(), m.leader_epoch)
}

/// The leader for `epoch`, if some sentinel has the votes of a majority of
/// all known sentinels and at least the quorum.
fn get_leader(
    srv: &mut Server,
    st: &mut Sentinel,
    master: &str,
    epoch: u64,
    now: i64,
) -> Option<String> {
    let m = st.masters.get(master)?;
    let voters = m.sentinels.len() + 1;
    let quorum = m.quorum as usize;
    let mut counts: Vec<(String, usize)> = Vec::new();
    let add = |counts: &mut Vec<(String, usize)>, who: &str| match counts
        .iter_mut()
        .find(|(w, _)| w == who)
    {
        Some((_, n)) => *n += 1,
        None => counts.push((who.to_string(), 1)),
    };
    for s in &m.sentinels {
        if let Some(l) = &s.leader {
            if s.leader_epoch == epoch {
                add(&mut counts, l);
            }
        }
    }
    let best = |counts: &Vec<(String, usize)>| {
        counts
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .cloned()
    };
    let winner = best(&counts).map(|(w, _)| w);
    let myid = st.myid.clone();
    let candidate = winner.unwrap_or(myid);
    let (my_vote, my_epoch) = vote_leader(srv, st, master, epoch, &candidate, now);
    if let Some(v) = my_vote {
        if my_epoch == epoch {
            add(&mut counts, &v);
        }
    }
    let (w, n) = best(&counts)?;
    if n < voters / 2 + 1 || n < quorum {
        return None;
    }
    Some(w)
}

/// Ends a failover attempt with its `-failover-abort-*` event.
fn abort_with(srv: &mut Server, st: &mut Sentinel, master: &str, event: &str, now: i64) {
    let Some(mid) = st.masters.get(master).map(|m| m.inst.id) else {
        return;
    };
    inst_event(srv, st, Level::Warning, event, master, mid, "");
    abort_failover(st, master, now);
}

fn abort_failover(st: &mut Sentinel, master: &str, now: i64) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    m.failover = Failover::None;
    m.force_failover = false;
    m.failover_state_change_time = now;
    m.promoted = None;
    for r in m.replicas.iter_mut() {
        r.promoted = false;
        r.reconf = Reconf::None;
    }
}

#[allow(clippy::too_many_arguments)]
fn set_state(
    srv: &mut Server,
    st: &mut Sentinel,
    master: &str,
    to: Failover,
    ev: &str,
    id: u64,
    level: Level,
    now: i64,
) {
    if let Some(m) = st.masters.get_mut(master) {
        m.failover = to;
        m.failover_state_change_time = now;
    }
    inst_event(srv, st, level, ev, master, id, "");
}

fn failover_state_machine(srv: &mut Server, st: &mut Sentinel, master: &str, now: i64) {
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let mid = m.inst.id;
    match m.failover {
        Failover::None | Failover::UpdateConfig => {}
        Failover::WaitStart => {
            let epoch = m.failover_epoch;
            let force = m.force_failover;
            let start = m.failover_start_time;
            let timeout = st.timing.election_timeout.min(m.failover_timeout);
            if now < start && !force {
                return;
            }
            if !m.vote_asked {
                if let Some(m) = st.masters.get_mut(master) {
                    m.vote_asked = true;
                }
                ask_others(st, master, now, true);
            }
            let leader = get_leader(srv, st, master, epoch, now);
            let is_leader = leader.as_deref() == Some(st.myid.as_str());
            if !is_leader && !force {
                if now - start > timeout {
                    abort_with(srv, st, master, "-failover-abort-not-elected", now);
                }
                return;
            }
            inst_event(srv, st, Level::Warning, "+elected-leader", master, mid, "");
            if st.simfailure_flags & crate::state::SIMFAILURE_CRASH_AFTER_ELECTION != 0 {
                server::log::write(Level::Warning, "Simulated failure: crash after election");
                std::process::exit(99);
            }
            set_state(
                srv,
                st,
                master,
                Failover::SelectSlave,
                "+failover-state-select-slave",
                mid,
                Level::Warning,
                now,
            );
            // Fresh offsets before choosing (see `select_replica`).
            ask_fresh_info(st, master, now);
        }
        Failover::SelectSlave => {
            if !fresh_info_ready(st, master, now) {
                return;
            }
            let t = st.timing.clone();
            let Some(m) = st.masters.get_mut(master) else {
                return;
            };
            match select_replica(m, now, &t) {
                None => {
                    abort_with(srv, st, master, "-failover-abort-no-good-slave", now);
                }
                Some(rid) => {
                    m.promoted = Some(rid);
                    if let Some(r) = m.replicas.iter_mut().find(|r| r.id == rid) {
                        r.promoted = true;
                    }
                    inst_event(srv, st, Level::Warning, "+selected-slave", master, rid, "");
                    set_state(
                        srv,
                        st,
                        master,
                        Failover::SendSlaveofNoone,
                        "+failover-state-send-slaveof-noone",
                        rid,
                        Level::Notice,
                        now,
                    );
                }
            }
        }
        Failover::SendSlaveofNoone => {
            let Some(p) = m.promoted_replica() else {
                abort_failover(st, master, now);
                return;
            };
            let pid = p.id;
            let connected = p.links.cmd.as_ref().is_some_and(|l| l.connected());
            if !connected {
                if now - m.failover_state_change_time > m.failover_timeout {
                    abort_with(srv, st, master, "-failover-abort-slave-timeout", now);
                }
                return;
            }
            if !send_replicaof(st, master, pid, None) {
                return;
            }
            // Ask for INFO right behind the batch: the promotion is seen
            // as soon as it happened instead of a second later.
            if let Some(m) = st.masters.get(master) {
                if let Some(l) = m.promoted_replica().and_then(|p| p.links.cmd.as_ref()) {
                    l.send(&[m.command_name("INFO").as_bytes()], Tag::Info);
                }
            }
            set_state(
                srv,
                st,
                master,
                Failover::WaitPromotion,
                "+failover-state-wait-promotion",
                pid,
                Level::Notice,
                now,
            );
        }
        Failover::WaitPromotion => {
            if now - m.failover_state_change_time > m.failover_timeout {
                abort_with(srv, st, master, "-failover-abort-slave-timeout", now);
                return;
            }
            // Keep asking: each INFO reply may show the promotion.
            if let Some(l) = m.promoted_replica().and_then(|p| p.links.cmd.as_ref()) {
                if l.pending() == 0 {
                    l.send(&[m.command_name("INFO").as_bytes()], Tag::Info);
                }
            }
        }
        Failover::ReconfSlaves => reconf_replicas(srv, st, master, now),
    }
}

/// Asks every connected replica for INFO now, so the choice below sees
/// offsets taken after the master stopped, not up to an INFO period old.
fn ask_fresh_info(st: &mut Sentinel, master: &str, now: i64) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    m.select_started = now;
    let info = m.command_name("INFO").to_string();
    for r in m.replicas.iter_mut() {
        if let Some(l) = r.links.cmd.as_ref().filter(|l| l.connected()) {
            if l.send(&[info.as_bytes()], Tag::Info) {
                r.fresh_info_asked = now;
            }
        }
    }
}

fn fresh_info_ready(st: &Sentinel, master: &str, now: i64) -> bool {
    let Some(m) = st.masters.get(master) else {
        return true;
    };
    if now - m.select_started > st.timing.ping_period {
        return true;
    }
    m.replicas
        .iter()
        .filter(|r| {
            r.fresh_info_asked >= m.select_started
                && r.links.cmd.as_ref().is_some_and(|l| l.connected())
        })
        .all(|r| r.info_refresh >= m.select_started)
}

/// Chooses the replica to promote.
///
/// Eligibility is Redis's: up, answering pings, INFO recent, link to the
/// old master not down for too long, priority not 0 — plus: it must
/// report itself a replica (a restarted old master that has not been
/// converted yet holds none of the newer writes).
///
/// Ordering departs from Redis on purpose: the largest replication offset
/// comes first, priority second, run id last. A write confirmed with
/// `WAIT n` (n >= 1) reached at least one replica; all replicas of one
/// master share one history, so the replica with the largest offset holds
/// every write any reachable replica acknowledged. Redis puts priority
/// first and can promote a replica that lacks confirmed writes. Offsets
/// are fresh: INFO was asked of every replica when the election was won.
pub fn select_replica(m: &Master, now: i64, t: &crate::state::Timing) -> Option<u64> {
    let mut max_master_down = 0;
    if m.inst.s_down() {
        max_master_down += now - m.inst.s_down_since;
    }
    max_master_down += m.inst.down_after * 10;
    let validity = if m.inst.s_down() {
        t.ping_period * 5
    } else {
        t.info_period * 3
    };
    let mut cands: Vec<&Instance> = m
        .replicas
        .iter()
        .filter(|r| {
            !r.s_down()
                && !r.o_down()
                && r.links.cmd.as_ref().is_some_and(|l| l.connected())
                && now - r.links.last_avail_time <= t.ping_period * 5
                && r.slave_priority != 0
                && r.replica_announced
                && !r.role_master
                && r.info_refresh != 0
                && now - r.info_refresh <= validity
                && r.master_link_down_time <= max_master_down
        })
        .collect();
    cands.sort_by(|a, b| {
        b.slave_repl_offset
            .cmp(&a.slave_repl_offset)
            .then(a.slave_priority.cmp(&b.slave_priority))
            .then_with(|| match (&a.runid, &b.runid) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
    });
    cands.first().map(|r| r.id)
}

fn reconf_replicas(srv: &mut Server, st: &mut Sentinel, master: &str, now: i64) {
    let reconf_timeout = st.timing.slave_reconf_timeout;
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let Some(paddr) = m.promoted_replica().map(|p| p.addr.clone()) else {
        return;
    };
    let parallel = m.parallel_syncs.max(1) as usize;
    let mut timed_out = Vec::new();
    for r in m.replicas.iter_mut() {
        if let Reconf::Sent(t) = r.reconf {
            if now - t > reconf_timeout {
                r.reconf = Reconf::None;
                timed_out.push(r.id);
            }
        }
    }
    for id in timed_out {
        inst_event(
            srv,
            st,
            Level::Notice,
            "-slave-reconf-sent-timeout",
            master,
            id,
            "",
        );
    }
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let mut in_progress = m
        .replicas
        .iter()
        .filter(|r| matches!(r.reconf, Reconf::Sent(_) | Reconf::InProg))
        .count();
    let todo: Vec<u64> = m
        .replicas
        .iter()
        .filter(|r| !r.promoted && r.reconf == Reconf::None && !r.links.disconnected())
        .map(|r| r.id)
        .collect();
    for id in todo {
        if in_progress >= parallel {
            break;
        }
        if send_replicaof(st, master, id, Some(&paddr)) {
            if let Some(i) = inst(st, master, id) {
                i.reconf = Reconf::Sent(now);
            }
            inst_event(srv, st, Level::Notice, "+slave-reconf-sent", master, id, "");
            in_progress += 1;
        }
    }
    detect_end(srv, st, master, now);
}

fn detect_end(srv: &mut Server, st: &mut Sentinel, master: &str, now: i64) {
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let Some(p) = m.promoted_replica() else {
        return;
    };
    if p.s_down() {
        return;
    }
    let timeout = now - m.failover_state_change_time > m.failover_timeout;
    let not_done = m
        .replicas
        .iter()
        .filter(|r| !r.promoted && r.reconf != Reconf::Done && !r.s_down())
        .count();
    if not_done > 0 && !timeout {
        return;
    }
    let mid = m.inst.id;
    let paddr = p.addr.clone();
    if timeout {
        inst_event(
            srv,
            st,
            Level::Warning,
            "+failover-end-for-timeout",
            master,
            mid,
            "",
        );
    }
    set_state(
        srv,
        st,
        master,
        Failover::UpdateConfig,
        "+failover-end",
        mid,
        Level::Warning,
        now,
    );
    if timeout {
        // Best effort for the replicas left behind.
        let left: Vec<u64> = st.masters[master]
            .replicas
            .iter()
            .filter(|r| !r.promoted && !matches!(r.reconf, Reconf::Done | Reconf::Sent(_)))
            .map(|r| r.id)
            .collect();
        for id in left {
            if send_replicaof(st, master, id, Some(&paddr)) {
                inst_event(
                    srv,
                    st,
                    Level::Notice,
                    "+slave-reconf-sent-be",
                    master,
                    id,
                    "",
                );
                if let Some(i) = inst(st, master, id) {
                    i.reconf = Reconf::Sent(now);
                }
            }
        }
    }
}

fn switch_to_promoted(srv: &mut Server, st: &mut Sentinel, master: &str) {
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let old = m.inst.addr.clone();
    let new = m
        .promoted_replica()
        .map(|p| p.addr.clone())
        .unwrap_or_else(|| old.clone());
    let text = format!(
        "{} {} {} {} {}",
        master, old.host, old.port, new.host, new.port
    );
    let script = m.notification_script.clone();
    emit(srv, Level::Warning, "+switch-master", &text);
    if let Some(path) = script {
        crate::events::queue_script(st, path, vec!["+switch-master".into(), text]);
    }
    reset_master_and_change_address(srv, st, master, new);
}

/// Points a master entry at a new address: replicas become the old
/// replicas minus the new master plus the old master, and all state
/// about the old instance is dropped.
pub fn reset_master_and_change_address(
    srv: &mut Server,
    st: &mut Sentinel,
    master: &str,
    new: Addr,
) {
    let now = now_ms();
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let old = m.inst.addr.clone();
    let mut addrs: Vec<Addr> = m
        .replicas
        .iter()
        .map(|r| r.addr.clone())
        .filter(|a| *a != new)
        .collect();
    if old != new {
        addrs.push(old);
        m.failovers += 1;
    }
    m.replicas.clear();
    reset_master(m, now);
    m.inst.addr = new;
    for a in addrs {
        if let Some(id) = st.add_replica(master, a, now) {
            inst_event(srv, st, Level::Notice, "+slave", master, id, "");
        }
    }
    save(st);
}

/// Forgets what was learnt about a master's instance (not its sentinels).
pub fn reset_master(m: &mut Master, now: i64) {
    m.inst.close_links();
    m.inst.runid = None;
    m.inst.s_down_since = 0;
    m.inst.o_down_since = 0;
    m.inst.info_refresh = 0;
    m.inst.info.clear();
    m.inst.role_master = true;
    m.inst.role_reported_time = now;
    m.inst.links.act_ping_time = now;
    m.inst.links.last_ping_time = 0;
    m.inst.links.last_avail_time = now;
    m.inst.links.last_pong_time = now;
    m.inst.links.last_reconn_time = 0;
    m.leader = None;
    m.failover = Failover::None;
    m.failover_state_change_time = 0;
    m.failover_start_time = 0;
    m.promoted = None;
    m.force_failover = false;
}

/// A hello from another sentinel, via an instance's channel or PUBLISH to
/// us: learn the sentinel, the epoch, and a newer master configuration.
pub fn process_hello(srv: &mut Server, st: &mut Sentinel, payload: &str, now: i64) {
    let tok: Vec<&str> = payload.split(',').collect();
    if tok.len() != 8 {
        return;
    }
    let (Ok(port), Ok(cur_epoch), Ok(mport), Ok(mepoch)) = (
        tok[1].parse::<u16>(),
        tok[3].parse::<u64>(),
        tok[6].parse::<u16>(),
        tok[7].parse::<u64>(),
    ) else {
        return;
    };
    let (ip, runid, mname, mip) = (tok[0], tok[2], tok[4], tok[5]);
    if runid == st.myid {
        return;
    }
    let Some(m) = st.masters.get_mut(mname) else {
        return;
    };
    let addr = Addr::new(ip, port);
    let known = m
        .sentinels
        .iter()
        .any(|s| s.addr == addr && s.runid.as_deref() == Some(runid));
    if !known {
        // The same sentinel at a new address, or another one reusing an
        // address: the old entries go.
        let before = m.sentinels.len();
        let moved: Vec<Addr> = m
            .sentinels
            .iter()
            .filter(|s| s.runid.as_deref() == Some(runid))
            .map(|s| s.addr.clone())
            .collect();
        m.sentinels
            .retain(|s| s.runid.as_deref() != Some(runid) && s.addr != addr);
        let removed = before != m.sentinels.len();
        let (mhost, mp) = (m.inst.addr.host.clone(), m.inst.addr.port);
        for old in moved {
            let text = format!(
                "master {} {} {} ip {} port {} for {}",
                mname, mhost, mp, old.host, old.port, runid
            );
            emit(srv, Level::Notice, "+sentinel-address-switch", &text);
        }
        let _ = removed;
        if let Some(id) = st.add_sentinel(mname, addr.clone(), Some(runid.to_string()), now) {
            inst_event(srv, st, Level::Notice, "+sentinel", mname, id, "");
        }
        save(st);
    }
    if cur_epoch > st.current_epoch {
        st.current_epoch = cur_epoch;
        save(st);
        emit(srv, Level::Warning, "+new-epoch", &cur_epoch.to_string());
    }
    let Some(m) = st.masters.get_mut(mname) else {
        return;
    };
    let sid = m
        .sentinels
        .iter()
        .find(|s| s.addr == addr && s.runid.as_deref() == Some(runid))
        .map(|s| s.id);
    if m.config_epoch < mepoch {
        m.config_epoch = mepoch;
        let new = Addr::new(mip, mport);
        // A newer configuration wins over ours, including a failover of
        // ours still in progress (it lost: someone else's is newer).
        if m.inst.addr != new || m.in_failover() {
            let old = m.inst.addr.clone();
            let script = m.client_reconfig_script.clone();
            if let Some(sid) = sid {
                inst_event(
                    srv,
                    st,
                    Level::Warning,
                    "+config-update-from",
                    mname,
                    sid,
                    "",
                );
            }
            if old != new {
                let text = format!(
                    "{} {} {} {} {}",
                    mname, old.host, old.port, new.host, new.port
                );
                emit(srv, Level::Warning, "+switch-master", &text);
                if let Some(path) = script {
                    reconfig_script(st, path, mname, "observer", "start", &old, &new);
                }
            }
            reset_master_and_change_address(srv, st, mname, new);
        } else {
            save(st);
        }
    }
    if let Some(sid) = sid {
        if let Some(s) = inst(st, mname, sid) {
            s.last_hello_time = now;
        }
    }
}
