//! The hello protocol: every two seconds each sentinel publishes on every
//! instance's `__sentinel__:hello` channel who it is (address, run id,
//! current epoch) and what it believes of the master (name, address,
//! configuration epoch). Reading the others' hellos is how sentinels find
//! each other, learn newer epochs, and learn the outcome of a failover
//! another sentinel led. Payload and rules are Redis Sentinel's, so mixed
//! groups work.

use crate::action::Out;
use crate::events::inst_event;
use crate::failover::{reconfig_script, reset_master_and_change_address};
use crate::link::Tag;
use crate::monitor::inst;
use crate::state::{Addr, Sentinel};
use server::log::Level;

pub const HELLO_CHANNEL: &str = "__sentinel__:hello";

/// Publishes our hello on an instance: who we are and what we believe
/// the master's address and configuration epoch are.
pub(crate) fn send_hello(st: &mut Sentinel, out: &mut Out, master: &str, id: u64, now: i64) {
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let Some(i) = m.instance(id) else { return };
    let Some(link) = i.links.cmd.as_ref().filter(|l| l.connected) else {
        return;
    };
    let ip = match &st.globals.announce_ip {
        Some(ip) => ip.clone(),
        None => link.local_ip.clone(),
    };
    let port = if st.globals.announce_port != 0 {
        st.globals.announce_port
    } else {
        st.port
    };
    let maddr = m.current_addr();
    let payload = format!(
        "{},{},{},{},{},{},{},{}",
        ip,
        port,
        st.myid,
        st.current_epoch,
        m.inst.name,
        st.announce(maddr),
        maddr.port,
        m.config_epoch
    );
    let publish = m.command_name("PUBLISH").as_bytes().to_vec();
    let Some(i) = inst(st, master, id) else {
        return;
    };
    if out.send1(
        i,
        &[&publish, HELLO_CHANNEL.as_bytes(), payload.as_bytes()],
        Tag::Publish,
    ) {
        // Marked now so one slow reply does not trigger a resend every
        // tick; the reply refreshes it.
        i.last_pub_time = now;
    }
}

/// A hello from another sentinel, via an instance's channel or PUBLISH to
/// us: learn the sentinel, the epoch, and a newer master configuration.
pub fn process_hello(st: &mut Sentinel, out: &mut Out, payload: &str, now: i64) {
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
    // A sentinel announcing a host name is kept even if it does not
    // resolve yet (with `resolve-hostnames yes`), as Redis does.
    let Some(addr) = st.make_addr(ip, port, true) else {
        return;
    };
    let (mhost, mp) = match st.masters.get(mname) {
        Some(m) => (st.announce(&m.inst.addr).to_string(), m.inst.addr.port),
        None => return,
    };
    let Some(m) = st.masters.get_mut(mname) else {
        return;
    };
    let known = m
        .sentinels
        .iter()
        .any(|s| s.addr == addr && s.runid.as_deref() == Some(runid));
    if !known {
        // The same sentinel at a new address, or another one reusing an
        // address: the old entries go (and so do their links).
        let moved: Vec<Addr> = m
            .sentinels
            .iter()
            .filter(|s| s.runid.as_deref() == Some(runid))
            .map(|s| s.addr.clone())
            .collect();
        for s in m.sentinels.iter_mut() {
            if s.runid.as_deref() == Some(runid) || s.addr == addr {
                out.close_links(s);
            }
        }
        m.sentinels
            .retain(|s| s.runid.as_deref() != Some(runid) && s.addr != addr);
        for old in moved {
            let text = format!(
                "master {} {} {} ip {} port {} for {}",
                mname,
                mhost,
                mp,
                st.announce(&old),
                old.port,
                runid
            );
            out.event(Level::Notice, "+sentinel-address-switch", &text);
        }
        if let Some(id) = st.add_sentinel(mname, addr.clone(), Some(runid.to_string()), now) {
            inst_event(st, out, Level::Notice, "+sentinel", mname, id, "");
        }
        out.save();
    }
    if cur_epoch > st.current_epoch {
        st.current_epoch = cur_epoch;
        out.save();
        out.event(Level::Warning, "+new-epoch", &cur_epoch.to_string());
    }
    // The master's address as the hello gives it (a host name that does
    // not resolve here cannot be switched to).
    let new = st.make_addr(mip, mport, false);
    let moved = st
        .masters
        .get(mname)
        .is_some_and(|m| mport != m.inst.addr.port || !st.addr_is(&m.inst.addr, mip));
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
        let Some(new) = new else {
            out.save();
            return;
        };
        // A newer configuration wins over ours, including a failover of
        // ours still in progress (it lost: someone else's is newer).
        if moved || m.in_failover() {
            let old = m.inst.addr.clone();
            let script = m.client_reconfig_script.clone();
            if let Some(sid) = sid {
                inst_event(
                    st,
                    out,
                    Level::Warning,
                    "+config-update-from",
                    mname,
                    sid,
                    "",
                );
            }
            if moved {
                let text = format!(
                    "{} {} {} {} {}",
                    mname,
                    st.announce(&old),
                    old.port,
                    mip,
                    new.port
                );
                out.event(Level::Warning, "+switch-master", &text);
                if let Some(path) = script {
                    reconfig_script(st, path, mname, "observer", "start", &old, &new);
                }
            }
            reset_master_and_change_address(st, out, mname, new, now);
        } else {
            out.save();
        }
    }
    if let Some(sid) = sid {
        if let Some(s) = inst(st, mname, sid) {
            s.last_hello_time = now;
        }
    }
}
