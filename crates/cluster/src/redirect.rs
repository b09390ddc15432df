//! Which node serves a command, from the slots of its keys (Redis's
//! `getNodeByQuery`), and the error a redirected client gets
//! (`clusterRedirectClient`).

use crate::node::{Name, Node};
use crate::state::ClusterState;

/// What the command's keys and the cluster state decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Run it here.
    Here,
    Moved {
        slot: u16,
        to: Name,
    },
    Ask {
        slot: u16,
        to: Name,
    },
    CrossSlot,
    /// Several keys of a slot being migrated, not all present.
    TryAgain,
    /// The cluster is down.
    Down,
    /// Down, and the command writes while reads are allowed.
    DownReadOnly,
    /// The slot of the first key has no owner.
    Unbound,
}

/// One key of the request and whether it exists here (needed only for a
/// slot being migrated or imported).
pub struct Key<'a> {
    pub name: &'a [u8],
    pub slot: u16,
}

/// The facts about the client and command that the route depends on.
pub struct Query<'a> {
    pub keys: &'a [Key<'a>],
    pub is_write: bool,
    /// The client sent ASKING (or the command is flagged `asking`).
    pub asking: bool,
    /// The client sent READONLY.
    pub readonly: bool,
    pub is_pubsubshard: bool,
    pub is_migrate: bool,
    pub allow_reads_when_down: bool,
    pub allow_pubsubshard_when_down: bool,
}

/// Decides the route; `exists` says whether a key is present in db 0.
pub fn route(st: &ClusterState, q: &Query, mut exists: impl FnMut(&[u8]) -> bool) -> Route {
    let mut first: Option<&Key> = None;
    let mut multiple = false;
    let (mut migrating, mut importing) = (false, false);
    let (mut missing, mut existing) = (0, 0);
    let mut owner: Option<&Node> = None;
    for k in q.keys {
        match first {
            None => {
                first = Some(k);
                owner = st.owner(k.slot as usize);
                let Some(n) = owner else {
                    return Route::Unbound;
                };
                if n.name == st.myself && st.migrating.contains_key(&k.slot) {
                    migrating = true;
                } else if st.importing.contains_key(&k.slot) {
                    importing = true;
                }
            }
            Some(f) => {
                if f.name != k.name {
                    if f.slot != k.slot {
                        return Route::CrossSlot;
                    }
                    multiple = true;
                }
            }
        }
        if (migrating || importing) && !q.is_pubsubshard {
            if exists(k.name) {
                existing += 1;
            } else {
                missing += 1;
            }
        }
    }
    let (Some(first), Some(n)) = (first, owner) else {
        return Route::Here;
    };
    let slot = first.slot;
    if !st.ok {
        if q.is_pubsubshard {
            if !q.allow_pubsubshard_when_down {
                return Route::Down;
            }
        } else if !q.allow_reads_when_down {
            return Route::Down;
        } else if q.is_write {
            return Route::DownReadOnly;
        }
    }
    if (migrating || importing) && q.is_migrate {
        return Route::Here;
    }
    if migrating && missing > 0 {
        if existing > 0 {
            return Route::TryAgain;
        }
        if let Some(to) = st.migrating.get(&slot) {
            return Route::Ask { slot, to: *to };
        }
    }
    if importing && q.asking {
        if multiple && missing > 0 {
            return Route::TryAgain;
        }
        return Route::Here;
    }
    let me = st.me();
    if (q.readonly || q.is_pubsubshard)
        && !q.is_write
        && me.is_replica()
        && me.master == Some(n.name)
    {
        return Route::Here;
    }
    if n.name != st.myself {
        return Route::Moved { slot, to: n.name };
    }
    Route::Here
}

/// The error text for a route that is not [`Route::Here`] (without the
/// leading '-'); `endpoint` gives a node's `host:port` as clients see it.
/// Where a client blocked on keys of these `slots` (BLPOP, BZPOPMIN, XREAD ...) should
/// go now that the cluster changed: `Here` to keep waiting, `Down` when
/// the cluster is down, `Unbound` or `Moved` when a key's slot is no
/// longer ours and we are not importing it (Redis's
/// `clusterRedirectBlockedClientIfNeeded`). A READONLY client blocked by a
/// read keeps waiting on a replica of the slot's owner.
pub fn route_blocked(st: &ClusterState, slots: &[u16], readonly_read: bool) -> Route {
    if !st.ok {
        return Route::Down;
    }
    let me = st.me();
    for &slot in slots {
        let owner = st.slots.get(slot as usize).copied().flatten();
        let served_here = owner == Some(me.name)
            || (readonly_read && me.is_replica() && owner.is_some() && me.master == owner);
        if served_here || st.importing.contains_key(&slot) {
            continue;
        }
        return match owner {
            None => Route::Unbound,
            Some(to) => Route::Moved { slot, to },
        };
    }
    Route::Here
}

pub fn error_text(st: &ClusterState, r: &Route, endpoint: impl Fn(&Node) -> String) -> String {
    match r {
        Route::Here => String::new(),
        Route::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
        Route::TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
        Route::Down => "CLUSTERDOWN The cluster is down".into(),
        Route::DownReadOnly => {
            "CLUSTERDOWN The cluster is down and only accepts read commands".into()
        }
        Route::Unbound => "CLUSTERDOWN Hash slot not served".into(),
        Route::Moved { slot, to } | Route::Ask { slot, to } => {
            let kind = if matches!(r, Route::Ask { .. }) {
                "ASK"
            } else {
                "MOVED"
            };
            let ep = st.node(to).map(&endpoint).unwrap_or_default();
            format!("{kind} {slot} {ep}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::flags;

    fn q<'a>(keys: &'a [Key<'a>]) -> Query<'a> {
        Query {
            keys,
            is_write: true,
            asking: false,
            readonly: false,
            is_pubsubshard: false,
            is_migrate: false,
            allow_reads_when_down: false,
            allow_pubsubshard_when_down: true,
        }
    }

    #[test]
    fn routes_as_redis() {
        let a = [b'a'; 40];
        let b = [b'b'; 40];
        let mut st = ClusterState::new(a, 1);
        st.nodes.push(Node::new(b, flags::MASTER, 1));
        st.add_slot(1, &a);
        st.add_slot(2, &b);
        let k1 = [Key {
            name: b"x",
            slot: 1,
        }];
        assert_eq!(route(&st, &q(&[]), |_| true), Route::Here);
        assert_eq!(
            route(
                &st,
                &q(&[Key {
                    name: b"x",
                    slot: 3
                }]),
                |_| true
            ),
            Route::Unbound
        );
        assert_eq!(route(&st, &q(&k1), |_| true), Route::Down);
        st.ok = true;
        assert_eq!(route(&st, &q(&k1), |_| true), Route::Here);
        let k2 = [Key {
            name: b"y",
            slot: 2,
        }];
        assert_eq!(
            route(&st, &q(&k2), |_| true),
            Route::Moved { slot: 2, to: b }
        );
        let cross = [
            Key {
                name: b"x",
                slot: 1,
            },
            Key {
                name: b"y",
                slot: 2,
            },
        ];
        assert_eq!(route(&st, &q(&cross), |_| true), Route::CrossSlot);
        st.migrating.insert(1, b);
        assert_eq!(
            route(&st, &q(&k1), |_| false),
            Route::Ask { slot: 1, to: b }
        );
        let two = [
            Key {
                name: b"x",
                slot: 1,
            },
            Key {
                name: b"x2",
                slot: 1,
            },
        ];
        assert_eq!(route(&st, &q(&two), |k| k == b"x"), Route::TryAgain);
        st.migrating.clear();
        st.importing.insert(2, b);
        let mut asking = q(&k2);
        asking.asking = true;
        assert_eq!(route(&st, &asking, |_| false), Route::Here);
        let txt = error_text(&st, &Route::Moved { slot: 2, to: b }, |_| {
            "127.0.0.1:7001".into()
        });
        assert_eq!(txt, "MOVED 2 127.0.0.1:7001");
    }
}
