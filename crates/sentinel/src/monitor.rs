//! The core's two entry points and the monitoring they drive.
//!
//! [`tick`] runs ten times a second: for every instance it opens missing
//! links (at most once per ping period), sends the periodic PING (every
//! second), INFO (every 10 s, every second for replicas while their master
//! is down or being failed over) and hello (every 2 s), then checks
//! subjective and objective down, the failover and the vote requests.
//! [`on_link_event`] takes what a link reports — connected, closed, a
//! reply paired with what it answers, a hello message — and reacts.
//!
//! Both are pure: state and time in, state changed and [`Action`]s out.
//! The model and timings are Redis Sentinel's; the decisions themselves
//! live in `down`, `election`, `failover`, `hello` and `info`.

use crate::action::{Action, Cmd, LinkId, LinkKind, Out};
use crate::link::{LinkEvent, Tag};
use crate::state::{Failover, Instance, Kind, Link, Sentinel};
use crate::{down, failover, hello, info, lease};
use resp::frame::Frame;
use server::log::Level;

/// A link owing this many replies gets no more periodic commands.
const MAX_PENDING: usize = 100;

/// One timer period at `now`.
pub fn tick(st: &mut Sentinel, now: i64) -> Vec<Action> {
    let mut out = Out::new();
    check_tilt(st, &mut out, now);
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
            handle_instance(st, &mut out, &name, id, now);
        }
        if st.masters.get(&name).map(|m| m.failover) == Some(Failover::UpdateConfig) {
            switch.push(name);
        }
    }
    for name in switch {
        failover::switch_to_promoted(st, &mut out, &name, now);
    }
    out.actions
}

/// Something a link reported at `now`. Events of a link that is no longer
/// the instance's current one (closed, replaced) are ignored.
pub fn on_link_event(st: &mut Sentinel, link: LinkId, ev: LinkEvent, now: i64) -> Vec<Action> {
    let mut out = Out::new();
    let Some((master, i)) = st.find_mut(link.inst) else {
        return out.actions;
    };
    let is_master_link = i.kind == Kind::Master;
    let slot = match link.kind {
        LinkKind::Cmd => &mut i.links.cmd,
        LinkKind::PubSub => &mut i.links.pubsub,
    };
    let Some(l) = slot.as_mut().filter(|l| l.gen == link.gen) else {
        return out.actions;
    };
    match ev {
        LinkEvent::Connected { local_ip } => {
            l.connected = true;
            l.since = now;
            l.local_ip = local_ip;
            if link.kind == LinkKind::PubSub {
                i.links.pubsub_last_activity = now;
            }
        }
        LinkEvent::Closed => *slot = None,
        // Replies to AUTH and CLIENT SETNAME come first, whatever they say.
        LinkEvent::Message(_) if l.pending > 0 => l.pending -= 1,
        // After them, an error can only answer SUBSCRIBE (NOAUTH: the
        // credentials are wrong or obsolete; NOPERM). Redis Sentinel's
        // client library drops such a connection, so the instance shows
        // `disconnected` until an attempt with better credentials: the
        // sign operators and the test suite look for.
        LinkEvent::Message(Frame::Error(e)) => {
            out.log(
                Level::Debug,
                format!(
                    "Sentinel: Pub/Sub link to {} refused: {}",
                    i.addr,
                    String::from_utf8_lossy(&e)
                ),
            );
            out.close_pubsub(i);
        }
        LinkEvent::Message(frame) => {
            i.links.pubsub_last_activity = now;
            if let Frame::Array(parts) | Frame::Push(parts) = frame {
                if parts.len() == 3 && parts[0].as_bytes() == Some(b"message") {
                    if let Some(payload) = parts[2].as_bytes() {
                        let payload = String::from_utf8_lossy(payload).into_owned();
                        if let Some(clock) = payload.strip_prefix(lease::RENEW_REQUEST) {
                            // Only from the master itself (replicas pass
                            // their master's messages on).
                            if is_master_link {
                                if let Ok(clock) = clock.parse::<i64>() {
                                    lease::on_renew_request(st, &mut out, &master, clock, now);
                                }
                            }
                        } else {
                            hello::process_hello(st, &mut out, &payload, now);
                        }
                    }
                }
            }
        }
        LinkEvent::Reply(tag, frame) => {
            l.pending = l.pending.saturating_sub(1);
            on_reply(st, &mut out, &master, link.inst, tag, frame, now);
        }
    }
    out.actions
}

/// A clock that jumped (backwards, or forwards by more than
/// `tilt-trigger`: the process was stopped, the machine suspended) makes
/// every timer unreliable: tilt mode stops acting on them for a while.
fn check_tilt(st: &mut Sentinel, out: &mut Out, now: i64) {
    let delta = now - st.previous_time;
    if st.previous_time != 0 && (delta < 0 || delta > st.timing.tilt_trigger) {
        st.tilt = true;
        st.tilt_start_time = now;
        out.event(Level::Warning, "+tilt", "#tilt mode entered");
    }
    st.previous_time = now;
}

pub(crate) fn inst<'a>(st: &'a mut Sentinel, master: &str, id: u64) -> Option<&'a mut Instance> {
    st.masters.get_mut(master)?.instance_mut(id)
}

fn handle_instance(st: &mut Sentinel, out: &mut Out, master: &str, id: u64, now: i64) {
    reconnect(st, out, master, id, now);
    send_periodic(st, out, master, id, now);
    if st
        .masters
        .get(master)
        .is_some_and(|m| m.inst.id == id && m.inst.links.pending() < MAX_PENDING)
    {
        lease::renew(st, out, master, now);
    }
    if st.tilt {
        if now - st.tilt_start_time < st.timing.tilt_period {
            return;
        }
        st.tilt = false;
        out.event(Level::Warning, "-tilt", "#tilt mode exited");
    }
    down::check_sdown(st, out, master, id, now);
    let is_master = st
        .masters
        .get(master)
        .map(|m| m.inst.id == id)
        .unwrap_or(false);
    if is_master {
        down::check_odown(st, out, master, now);
        failover::start_failover_if_needed(st, out, master, now);
        failover::failover_state_machine(st, out, master, now);
        down::ask_others(st, out, master, now, false);
    }
}

/// Opens the links an instance is missing, at most once per ping period.
fn reconnect(st: &mut Sentinel, out: &mut Out, master: &str, id: u64, now: i64) {
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
    let setname = m.command_name("CLIENT").as_bytes().to_vec();
    let auth = m.command_name("AUTH").as_bytes().to_vec();
    let ping = m.command_name("PING").as_bytes().to_vec();
    let subscribe = m.command_name("SUBSCRIBE").as_bytes().to_vec();
    let gen_cmd = st.next_id();
    let gen_ps = st.next_id();
    let Some(i) = inst(st, master, id) else {
        return;
    };
    i.links.last_reconn_time = now;
    let auth_cmd = || {
        let pass = pass.as_ref()?;
        Some(match &user {
            Some(u) => Cmd::new(&[&auth, u.as_bytes(), pass.as_bytes()], Tag::Ignore),
            None => Cmd::new(&[&auth, pass.as_bytes()], Tag::Ignore),
        })
    };
    if i.links.cmd.is_none() {
        out.connect(
            LinkId {
                inst: id,
                kind: LinkKind::Cmd,
                gen: gen_cmd,
            },
            addr.clone(),
        );
        i.links.cmd = Some(Link::new(gen_cmd));
        if let Some(c) = auth_cmd() {
            out.send(i, vec![c]);
        }
        let name = format!("sentinel-{short_id}-cmd");
        out.send1(i, &[&setname, b"SETNAME", name.as_bytes()], Tag::Ignore);
        // A PING at once, so a new link proves itself quickly.
        if out.send1(i, &[&ping], Tag::Ping) {
            if i.links.act_ping_time == 0 {
                i.links.act_ping_time = now;
            }
            i.links.last_ping_time = now;
        }
    }
    if need_pubsub {
        out.connect(
            LinkId {
                inst: id,
                kind: LinkKind::PubSub,
                gen: gen_ps,
            },
            addr,
        );
        i.links.pubsub = Some(Link::new(gen_ps));
        let mut cmds: Vec<Cmd> = auth_cmd().into_iter().collect();
        let name = format!("sentinel-{short_id}-pubsub");
        cmds.push(Cmd::new(
            &[&setname, b"SETNAME", name.as_bytes()],
            Tag::Ignore,
        ));
        cmds.push(Cmd::new(
            &[&subscribe, hello::HELLO_CHANNEL.as_bytes()],
            Tag::Subscribe,
        ));
        out.send_pubsub(i, cmds);
        i.links.pubsub_last_activity = now;
    }
}

fn send_periodic(st: &mut Sentinel, out: &mut Out, master: &str, id: u64, now: i64) {
    let t = st.timing.clone();
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let master_busy = m.inst.o_down() || m.in_failover();
    let info = m.command_name("INFO").as_bytes().to_vec();
    let ping = m.command_name("PING").as_bytes().to_vec();
    let Some(i) = m.instance_mut(id) else { return };
    if !i.links.cmd_connected() || i.links.pending() >= MAX_PENDING {
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
    if want_info {
        out.send1(i, &[&info], Tag::Info);
    }
    if want_ping && out.send1(i, &[&ping], Tag::Ping) {
        i.links.last_ping_time = now;
        if i.links.act_ping_time == 0 {
            i.links.act_ping_time = now;
        }
    }
    if i.kind == Kind::Sentinel {
        let gen = i.links.cmd.as_ref().map(|l| l.gen);
        if i.redoubt.is_none() && i.redoubt_asked != gen {
            i.redoubt_asked = gen;
            out.send1(i, &[b"INFO", b"server"], Tag::PeerInfo);
        }
    }
    if want_hello {
        hello::send_hello(st, out, master, id, now);
    }
}

fn on_reply(
    st: &mut Sentinel,
    out: &mut Out,
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
            ping_reply(i, out, &frame, now);
        }
        Tag::Info => {
            let text = match &frame {
                Frame::Bulk(b) | Frame::Verbatim(b) => {
                    // A RESP3 verbatim string starts with its format, `txt:`.
                    let b = if matches!(frame, Frame::Verbatim(_)) && b.len() >= 4 {
                        &b[4..]
                    } else {
                        &b[..]
                    };
                    String::from_utf8_lossy(b).into_owned()
                }
                _ => return,
            };
            info::refresh_info(st, out, master, id, &text, now);
        }
        Tag::Publish => {
            if !matches!(frame, Frame::Error(_)) {
                if let Some(i) = inst(st, master, id) {
                    i.last_pub_time = now;
                }
            }
        }
        Tag::MasterDown => down::master_down_reply(st, out, master, id, frame, now),
        Tag::PeerInfo => {
            if let Some(i) = inst(st, master, id) {
                i.redoubt = Some(lease::is_redoubt_info(&frame));
            }
        }
        Tag::Lease => {
            if let Some(m) = st.masters.get_mut(master).filter(|m| m.inst.id == id) {
                lease::on_reply(m, &frame, now);
            }
        }
        Tag::Ignore | Tag::Subscribe => {}
    }
}

/// A PING reply. PONG, and the errors of an instance alive but not ready
/// (LOADING, MASTERDOWN), count as available, as in Redis.
fn ping_reply(i: &mut Instance, out: &mut Out, frame: &Frame, now: i64) {
    let ok = match frame {
        Frame::Simple(s) => s.eq_ignore_ascii_case(b"PONG"),
        Frame::Error(e) => e.starts_with(b"LOADING") || e.starts_with(b"MASTERDOWN"),
        _ => false,
    };
    i.links.last_pong_time = now;
    if matches!(frame, Frame::Simple(s) if s.eq_ignore_ascii_case(b"PONG")) {
        i.master_reboot_since = 0;
    }
    if ok {
        i.links.last_avail_time = now;
        i.links.act_ping_time = 0;
    } else if let Frame::Error(e) = frame {
        // A script hogging a down master: stop it, once.
        if e.starts_with(b"BUSY") && i.s_down() && !i.script_kill_sent {
            i.script_kill_sent = true;
            out.send1(i, &[b"SCRIPT", b"KILL"], Tag::Ignore);
        }
    }
}
