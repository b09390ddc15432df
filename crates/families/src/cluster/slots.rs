//! The CLUSTER subcommands about hash slots: KEYSLOT, COUNTKEYSINSLOT,
//! GETKEYSINSLOT, ADDSLOTS[RANGE], DELSLOTS[RANGE], FLUSHSLOTS and SETSLOT
//! (the steps of a slot migration).

use super::{changed_ok, enabled, parse_slot, BAD_SLOT};
use cluster::{ClusterState, SLOTS};
use server::cluster::bus;
use server::cmd::Ctx;

pub(super) fn keyslot(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let k = ctx.argv.get(2);
    ctx.out().int(keyspace::key_hash_slot(k) as i64);
}

pub(super) fn count_in_slot(ctx: &Ctx, slot: u16) -> u32 {
    ctx.srv
        .dbs
        .first()
        .and_then(|d| d.slot_index())
        .map_or(0, |ix| ix.count(slot))
}

pub(super) fn countkeysinslot(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(slot) = resp::parse_i64(ctx.argv.get(2)) else {
        return ctx.err(server::errors::NOT_INTEGER);
    };
    if !(0..SLOTS as i64).contains(&slot) {
        return ctx.err("ERR Invalid slot");
    }
    let n = count_in_slot(ctx, slot as u16);
    ctx.out().int(n as i64);
}

pub(super) fn getkeysinslot(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let (Some(slot), Some(max)) = (
        resp::parse_i64(ctx.argv.get(2)),
        resp::parse_i64(ctx.argv.get(3)),
    ) else {
        return ctx.err(server::errors::NOT_INTEGER);
    };
    if !(0..SLOTS as i64).contains(&slot) || max < 0 {
        return ctx.err("ERR Invalid slot or number of keys");
    }
    let keys: Vec<Vec<u8>> = ctx
        .srv
        .dbs
        .first()
        .and_then(|d| d.slot_index())
        .map(|ix| {
            ix.keys_in(slot as u16, max as usize)
                .map(|k| k.to_vec())
                .collect()
        })
        .unwrap_or_default();
    let out = ctx.out();
    out.array(keys.len());
    for k in keys {
        out.bulk(&k);
    }
}

/// ADDSLOTS/DELSLOTS and their RANGE forms: every slot is checked before
/// any changes, with Redis's errors.
pub(super) fn update_slots(ctx: &mut Ctx, ranges: &[(usize, usize)], del: bool) {
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    let mut seen = vec![false; SLOTS];
    let mut problem = None;
    for &(a, b) in ranges {
        problem = (a..=b).find_map(|s| slot_problem(&c.state, &mut seen, s, del));
        if problem.is_some() {
            break;
        }
    }
    if let Some(p) = problem {
        return ctx.err(&p);
    }
    let me = c.state.myself;
    for (s, _) in seen.iter().enumerate().filter(|(_, on)| **on) {
        if del {
            c.state.del_slot(s);
        } else {
            // Owning the slot ends its import.
            c.state.importing.remove(&(s as u16));
            c.state.add_slot(s, &me);
        }
    }
    changed_ok(ctx);
}

/// Why `slot` cannot be added (or deleted), Redis's checks in its order.
pub(super) fn slot_problem(
    st: &ClusterState,
    seen: &mut [bool],
    slot: usize,
    del: bool,
) -> Option<String> {
    let owned = st.slots[slot].is_some();
    if del && !owned {
        return Some(format!("ERR Slot {slot} is already unassigned"));
    }
    if !del && owned {
        return Some(format!("ERR Slot {slot} is already busy"));
    }
    if std::mem::replace(&mut seen[slot], true) {
        return Some(format!("ERR Slot {slot} specified multiple times"));
    }
    None
}

pub(super) fn addslots_or_del(ctx: &mut Ctx, del: bool) {
    if enabled(ctx).is_none() {
        return;
    }
    let mut ranges = Vec::new();
    for a in ctx.argv.from(2) {
        match parse_slot(a) {
            Some(s) => ranges.push((s, s)),
            None => return ctx.err(BAD_SLOT),
        }
    }
    update_slots(ctx, &ranges, del);
}

pub(super) fn addslots(ctx: &mut Ctx) {
    addslots_or_del(ctx, false)
}

pub(super) fn delslots(ctx: &mut Ctx) {
    addslots_or_del(ctx, true)
}

pub(super) fn range_or_del(ctx: &mut Ctx, del: bool) {
    if enabled(ctx).is_none() {
        return;
    }
    if ctx.argv.len() % 2 == 1 {
        return ctx.err_arity();
    }
    let mut ranges = Vec::new();
    let args: Vec<&[u8]> = ctx.argv.from(2).collect();
    for pair in args.chunks(2) {
        let Some(a) = parse_slot(pair[0]) else {
            return ctx.err(BAD_SLOT);
        };
        let Some(b) = parse_slot(pair[1]) else {
            return ctx.err(BAD_SLOT);
        };
        if a > b {
            return ctx.err(&format!(
                "ERR start slot number {a} is greater than end slot number {b}"
            ));
        }
        ranges.push((a, b));
    }
    update_slots(ctx, &ranges, del);
}

pub(super) fn addslotsrange(ctx: &mut Ctx) {
    range_or_del(ctx, false)
}

pub(super) fn delslotsrange(ctx: &mut Ctx) {
    range_or_del(ctx, true)
}

pub(super) fn flushslots(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    if ctx.srv.dbs.first().is_some_and(|d| !d.is_empty()) {
        return ctx.err("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.");
    }
    if let Some(c) = ctx.srv.cluster.as_deref_mut() {
        let me = c.state.myself;
        for s in 0..SLOTS {
            if c.state.slots[s] == Some(me) {
                c.state.del_slot(s);
            }
        }
    }
    changed_ok(ctx);
}

pub(super) fn setslot(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let is_replica = ctx
        .srv
        .cluster
        .as_deref()
        .is_some_and(|c| c.state.me().is_replica());
    if is_replica {
        return ctx.err("ERR Please use SETSLOT only with masters.");
    }
    let Some(slot) = parse_slot(ctx.argv.get(2)) else {
        return ctx.err(BAD_SLOT);
    };
    let action = ctx.argv.get(3).to_ascii_lowercase();
    let argc = ctx.argv.len();
    let target = if argc > 4 {
        ctx.argv.get(4).to_vec()
    } else {
        Vec::new()
    };
    let keys = count_in_slot(ctx, slot as u16);
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    let me = c.state.myself;
    let lookup = |st: &ClusterState| st.node_by_text(&target).map(|n| (n.name, n.is_replica()));
    let shown = String::from_utf8_lossy(&target).into_owned();
    match (action.as_slice(), argc) {
        (b"migrating", 5) => {
            if c.state.slots[slot] != Some(me) {
                return ctx.err(&format!("ERR I'm not the owner of hash slot {slot}"));
            }
            match lookup(&c.state) {
                None => return ctx.err(&format!("ERR I don't know about node {shown}")),
                Some((_, true)) => return ctx.err("ERR Target node is not a master"),
                Some((n, false)) => {
                    c.state.migrating.insert(slot as u16, n);
                }
            }
        }
        (b"importing", 5) => {
            if c.state.slots[slot] == Some(me) {
                return ctx.err(&format!("ERR I'm already the owner of hash slot {slot}"));
            }
            match lookup(&c.state) {
                None => return ctx.err(&format!("ERR I don't know about node {shown}")),
                Some((_, true)) => return ctx.err("ERR Target node is not a master"),
                Some((n, false)) => {
                    c.state.importing.insert(slot as u16, n);
                }
            }
        }
        (b"stable", 4) => {
            c.state.migrating.remove(&(slot as u16));
            c.state.importing.remove(&(slot as u16));
        }
        (b"node", 5) => {
            let n = match lookup(&c.state) {
                None => return ctx.err(&format!("ERR Unknown node {shown}")),
                Some((_, true)) => return ctx.err("ERR Target node is not a master"),
                Some((n, false)) => n,
            };
            if c.state.slots[slot] == Some(me) && n != me && keys != 0 {
                return ctx.err(&format!(
                    "ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                ));
            }
            if keys == 0 {
                c.state.migrating.remove(&(slot as u16));
            }
            let was_mine = c.state.slots[slot] == Some(me);
            c.state.del_slot(slot);
            c.state.add_slot(slot, &n);
            // A master that gave away its last slot becomes a replica of
            // the node that took it (with cluster-allow-replica-migration,
            // as Redis's SETSLOT NODE does).
            if was_mine
                && n != me
                && c.state.me().slots.count() == 0
                && ctx
                    .srv
                    .config
                    .get_bool(server::config::Directive::ClusterAllowReplicaMigration)
            {
                c.changed();
                server::cluster::set_my_master(ctx.srv, n);
                return changed_ok(ctx);
            }
            // The import is over: take a new config epoch so the cluster
            // learns this node now owns the slot, and tell everyone.
            if n == me && c.state.importing.remove(&(slot as u16)).is_some() {
                if c.state.bump_epoch() {
                    server::log_warning!("configEpoch updated after importing slot {slot}");
                }
                c.changed();
                server::cluster::before_sleep(ctx.srv);
                bus::broadcast_pong(ctx.srv);
                ctx.out().ok();
                return;
            }
        }
        _ => {
            return ctx.err(
                "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
            );
        }
    }
    changed_ok(ctx);
}
