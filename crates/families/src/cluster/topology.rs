//! The CLUSTER subcommands that change who is in the cluster and in which
//! role: MEET, FORGET, REPLICATE, FAILOVER, RESET, SAVECONFIG,
//! SET-CONFIG-EPOCH and BUMPEPOCH.

use super::{changed_ok, enabled, lookup_or_err, name_text};
use cluster::{flags, Name, SLOTS};
use server::cluster::bus;
use server::cmd::Ctx;

pub(super) fn reset(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let hard = match ctx.argv.len() {
        2 => false,
        _ => match ctx.argv.get(2).to_ascii_lowercase().as_slice() {
            b"hard" => true,
            b"soft" => false,
            _ => return ctx.err(server::errors::SYNTAX),
        },
    };
    let is_master = ctx
        .srv
        .cluster
        .as_deref()
        .is_some_and(|c| c.state.me().is_master());
    let db_index = ctx.client.db;
    if is_master && ctx.srv.dbs.get(db_index).is_some_and(|d| !d.is_empty()) {
        return ctx.err("ERR CLUSTER RESET can't be called with master nodes containing keys");
    }
    // A replica turns into an empty master first.
    if !is_master {
        if let Some(c) = ctx.srv.cluster.as_deref_mut() {
            let me = c.state.me_mut();
            me.flags = (me.flags & !flags::SLAVE) | flags::MASTER;
            me.master = None;
        }
        server::replication::replica::unset_master(ctx.srv);
        for db in 0..ctx.srv.dbs.len() {
            ctx.srv.touch_all_watched_keys_in_db(db, None);
            ctx.srv.dbs[db].clear();
        }
        ctx.srv.tracking_invalidate_all();
    }
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    c.state.migrating.clear();
    c.state.importing.clear();
    for s in 0..SLOTS {
        c.state.del_slot(s);
    }
    let others: Vec<Name> = c
        .state
        .nodes
        .iter()
        .filter(|n| !n.is_myself())
        .map(|n| n.name)
        .collect();
    for n in others {
        c.state.del_node(&n);
        c.links.remove(&n);
    }
    if hard {
        c.state.current_epoch = 0;
        c.state.last_vote_epoch = 0;
        let new = cluster::node::random_name();
        let me = c.state.me_mut();
        me.config_epoch = 0;
        me.name = new;
        c.state.myself = new;
        server::log_warning!("configEpoch set to 0 via CLUSTER RESET HARD");
        server::log_notice!("Node hard reset, now I'm {}", name_text(&new));
    }
    changed_ok(ctx);
}

pub(super) fn saveconfig(ctx: &mut Ctx) {
    let Some(c) = enabled(ctx) else { return };
    match c.file.save(&c.state) {
        Ok(()) => ctx.out().ok(),
        Err(e) => ctx.err(&format!("ERR error saving the cluster node config: {e}")),
    }
}

pub(super) fn set_config_epoch(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(epoch) = resp::parse_i64(ctx.argv.get(2)) else {
        return ctx.err(server::errors::NOT_INTEGER);
    };
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    if epoch < 0 {
        return ctx.err(&format!("ERR Invalid config epoch specified: {epoch}"));
    }
    if c.state.nodes.len() > 1 {
        return ctx.err("ERR The user can assign a config epoch only when the node does not know any other node.");
    }
    if c.state.me().config_epoch != 0 {
        return ctx.err("ERR Node config epoch is already non-zero");
    }
    c.state.me_mut().config_epoch = epoch as u64;
    c.state.current_epoch = c.state.current_epoch.max(epoch as u64);
    server::log_warning!("configEpoch set to {epoch} via CLUSTER SET-CONFIG-EPOCH");
    changed_ok(ctx);
}

pub(super) fn bumpepoch(ctx: &mut Ctx) {
    let Some(c) = enabled(ctx) else { return };
    let bumped = c.state.bump_epoch();
    let epoch = c.state.me().config_epoch;
    c.changed();
    server::cluster::before_sleep(ctx.srv);
    let text = format!("{} {epoch}", if bumped { "BUMPED" } else { "STILL" });
    ctx.out().simple(text.as_bytes());
}

pub(super) fn meet(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let argc = ctx.argv.len();
    if argc != 4 && argc != 5 {
        return ctx.err_arity();
    }
    let host = String::from_utf8_lossy(ctx.argv.get(2)).into_owned();
    let port_arg = String::from_utf8_lossy(ctx.argv.get(3)).into_owned();
    let Some(port) = resp::parse_i64(ctx.argv.get(3)) else {
        return ctx.err(&format!("ERR Invalid TCP base port specified: {port_arg}"));
    };
    let cport = if argc == 5 {
        match resp::parse_i64(ctx.argv.get(4)) {
            Some(p) => p,
            None => {
                let a = String::from_utf8_lossy(ctx.argv.get(4)).into_owned();
                return ctx.err(&format!("ERR Invalid TCP bus port specified: {a}"));
            }
        }
    } else {
        port + 10000
    };
    // Redis accepts numeric addresses only, and ports in range.
    let ip: Option<std::net::IpAddr> = host.parse().ok();
    let (Some(ip), true, true) = (
        ip,
        (1..=65535).contains(&port),
        (1..=65535).contains(&cport),
    ) else {
        return ctx.err(&format!(
            "ERR Invalid node address specified: {host}:{port_arg}"
        ));
    };
    let now = ctx.srv.now_ms.max(0) as u64;
    if let Some(c) = ctx.srv.cluster.as_deref_mut() {
        c.state
            .start_handshake(&ip.to_string(), port as u16, cport as u16, now);
    }
    ctx.out().ok();
}

pub(super) fn forget(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(n) = lookup_or_err(ctx, 2) else {
        return;
    };
    let now = ctx.srv.now_ms.max(0) as u64;
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    if n == c.state.myself {
        return ctx.err("ERR I tried hard but I can't forget myself...");
    }
    if c.state.me().is_replica() && c.state.me().master == Some(n) {
        return ctx.err("ERR Can't forget my master!");
    }
    c.state.forget(&n, now);
    c.links.remove(&n);
    changed_ok(ctx);
}

pub(super) fn replicate(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(n) = lookup_or_err(ctx, 2) else {
        return;
    };
    let db_empty = ctx.srv.dbs.first().is_none_or(|d| d.is_empty());
    let Some(c) = ctx.srv.cluster.as_deref() else {
        return;
    };
    if n == c.state.myself {
        return ctx.err("ERR Can't replicate myself");
    }
    if c.state.node(&n).is_some_and(|n| n.is_replica()) {
        return ctx.err("ERR I can only replicate a master, not a replica.");
    }
    let me = c.state.me();
    if me.is_master() && (me.slots.count() != 0 || !db_empty) {
        return ctx.err("ERR To set a master the node must be empty and without assigned slots.");
    }
    server::cluster::set_my_master(ctx.srv, n);
    changed_ok(ctx);
}

/// CLUSTER FAILOVER [FORCE|TAKEOVER]: plain, the master pauses its
/// writers and the replica takes over once it applied everything; FORCE
/// skips the master's part; TAKEOVER skips the election too.
pub(super) fn failover(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let (force, takeover) = match ctx.argv.len() {
        2 => (false, false),
        _ => match ctx.argv.get(2).to_ascii_lowercase().as_slice() {
            b"force" => (true, false),
            b"takeover" => (true, true),
            _ => return ctx.err(server::errors::SYNTAX),
        },
    };
    let now = ctx.srv.now_ms.max(0) as u64;
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    let me = c.state.me();
    if me.is_master() {
        return ctx.err("ERR You should send CLUSTER FAILOVER to a replica");
    }
    let Some(master) = me.master.and_then(|m| c.state.node(&m)) else {
        return ctx.err("ERR I'm a replica but my master is unknown to me");
    };
    if !force && (master.failed() || !master.link_up) {
        return ctx.err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE");
    }
    let master_name = master.name;
    if takeover {
        server::log_warning!("Taking over the master (user request).");
        c.state.takeover();
        server::cluster::replica::promoted(ctx.srv);
    } else if force {
        server::log_warning!("Forced failover user request accepted.");
        c.state.start_manual_failover(now, true);
    } else {
        server::log_warning!("Manual failover user request accepted.");
        c.state.start_manual_failover(now, false);
        // The master pauses its writers and tells us its final offset.
        bus::send_to(ctx.srv, &master_name, cluster::msg::types::MFSTART);
    }
    ctx.out().ok();
}
