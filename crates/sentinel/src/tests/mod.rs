//! Unit tests of the pure core: no sockets, no clock, no files.
//!
//! A [`World`] holds one sentinel's state and plays everything around it:
//! the servers it watches ([`Node`]: role, master, offset, priority) and
//! the other sentinels ([`Peer`]: whether they see the master down, and
//! their votes, first requester per epoch). Time is a number the test
//! advances. [`World::tick`] runs the core's timer once (100 ms later),
//! performs its actions on the fake network — a PING is answered PONG by a
//! live node, INFO with the node's INFO text, `SLAVEOF` changes the node —
//! and hands the replies back to the core, until nothing is in flight.
//! Every action is kept in [`World::actions`] for the test to read.

mod api;
mod confile;
mod down;
mod election;
mod failover;
mod hostnames;
mod lease;
mod links;
mod selection;

use crate::action::{Action, Cmd, LinkId, LinkKind};
use crate::link::{LinkEvent, Tag};
use crate::monitor;
use crate::state::{Addr, Instance, Link, Master, Sentinel};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use resp::frame::Frame;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Any fixed time: the core only ever subtracts times.
pub const T0: i64 = 1_700_000_000_000;
pub const MASTER: &str = "mymaster";
pub const DOWN_AFTER: i64 = 5_000;
pub const FAILOVER_TIMEOUT: i64 = 20_000;
/// Our own run id; peers get `1111...`, `2222...`.
pub const MYID: &str = "0000000000000000000000000000000000000000";
pub const MASTER_ADDR: &str = "10.0.0.1:6379";
/// The sentinel's monotonic clock at [`T0`], and the servers' (another
/// host's clock: any other origin).
pub const MONO0: i64 = 50_000;
pub const SERVER_MONO0: i64 = 9_000_000;

pub fn runid(c: char) -> String {
    std::iter::repeat_n(c, 40).collect()
}

pub fn addr(s: &str) -> Addr {
    let (h, p) = s.rsplit_once(':').unwrap();
    Addr::new(h, p.parse().unwrap())
}

/// A Redis server as the fake network plays it.
#[derive(Debug, Clone)]
pub struct Node {
    pub alive: bool,
    pub runid: String,
    pub role_master: bool,
    /// Whom a replica follows.
    pub master: Option<Addr>,
    pub link_up: bool,
    pub offset: u64,
    pub priority: i64,
    /// Answers INFO (a slow or stuck server does not).
    pub answers_info: bool,
    /// Applies `SLAVEOF` (a server refusing it stays as it is).
    pub obeys_slaveof: bool,
    /// Answers `REPLCONF sentinel-lease` with its clock, as a Redoubt
    /// server does (a real Redis refuses the option).
    pub knows_lease: bool,
    /// The `REPLCONF sentinel-lease` values it received.
    pub grants: Vec<String>,
    /// Answers PING with `-LOADING` (restarted, loading its dataset).
    pub loading: bool,
}

impl Node {
    pub fn master(runid: String) -> Node {
        Node {
            alive: true,
            runid,
            role_master: true,
            master: None,
            link_up: false,
            offset: 0,
            priority: 100,
            answers_info: true,
            obeys_slaveof: true,
            knows_lease: true,
            grants: Vec::new(),
            loading: false,
        }
    }

    pub fn replica_of(runid: String, master: &str, offset: u64) -> Node {
        Node {
            alive: true,
            runid,
            role_master: false,
            master: Some(addr(master)),
            link_up: true,
            offset,
            priority: 100,
            answers_info: true,
            obeys_slaveof: true,
            knows_lease: true,
            grants: Vec::new(),
            loading: false,
        }
    }
}

/// INFO text as a server would print it (the fields the core reads).
pub fn info_text(n: &Node, followers: &[Addr]) -> String {
    let mut t = format!("# Server\r\nrun_id:{}\r\n# Replication\r\n", n.runid);
    if n.role_master {
        t.push_str("role:master\r\n");
        t.push_str(&format!("connected_slaves:{}\r\n", followers.len()));
        t.push_str(&format!("master_repl_offset:{}\r\n", n.offset));
        for (k, a) in followers.iter().enumerate() {
            t.push_str(&format!(
                "slave{k}:ip={},port={},state=online,offset=0,lag=0\r\n",
                a.host, a.port
            ));
        }
    } else {
        let m = n.master.clone().unwrap_or_else(|| Addr::new("?", 0));
        t.push_str(&format!(
            "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n",
            m.host,
            m.port,
            if n.link_up { "up" } else { "down" }
        ));
        if !n.link_up {
            t.push_str("master_link_down_since_seconds:1\r\n");
        }
        t.push_str(&format!(
            "slave_repl_offset:{}\r\nslave_priority:{}\r\nreplica_announced:1\r\n",
            n.offset, n.priority
        ));
    }
    t
}

/// Another sentinel as the fake network plays it.
#[derive(Debug, Clone)]
pub struct Peer {
    pub alive: bool,
    pub sees_down: bool,
    /// A Redoubt sentinel (its INFO shows `redoubt_version`), or a real
    /// redis-sentinel.
    pub redoubt: bool,
    /// Its vote per epoch: the first sentinel that asked.
    pub votes: BTreeMap<u64, String>,
}

pub struct World {
    pub st: Sentinel,
    pub now: i64,
    /// The servers, by address.
    pub nodes: HashMap<String, Node>,
    /// The other sentinels, by address.
    pub peers: HashMap<String, Peer>,
    /// Replies and link events not delivered yet.
    inflight: VecDeque<(LinkId, LinkEvent)>,
    /// Every action the core returned, in order.
    pub actions: Vec<Action>,
    /// Every command sent: the instance's address and the arguments.
    pub sends: Vec<(String, Vec<String>)>,
}

impl World {
    /// One master at [`MASTER_ADDR`] with `replicas` replicas (offsets
    /// 100, 200, ...) and `peers` other sentinels, every link up, quorum
    /// `quorum`. Nothing has been said by anyone yet.
    pub fn new(replicas: usize, peers: usize, quorum: u32) -> World {
        let mut st = Sentinel::new("/nonexistent/sentinel.conf".into(), 26379);
        st.myid = MYID.to_string();
        st.rng = SmallRng::seed_from_u64(16);
        let ma = addr(MASTER_ADDR);
        st.add_master(MASTER, &ma.host, i64::from(ma.port), quorum, T0)
            .unwrap();
        let m = st.masters.get_mut(MASTER).unwrap();
        m.inst.down_after = DOWN_AFTER;
        m.failover_timeout = FAILOVER_TIMEOUT;
        let mut nodes = HashMap::new();
        nodes.insert(MASTER_ADDR.to_string(), Node::master(runid('m')));
        for k in 0..replicas {
            let a = format!("10.0.0.{}:6379", k + 2);
            st.add_replica(MASTER, addr(&a), T0).unwrap();
            let rid = char::from(b'a' + k as u8);
            nodes.insert(
                a,
                Node::replica_of(runid(rid), MASTER_ADDR, 100 * (k as u64 + 1)),
            );
        }
        let mut peer_map = HashMap::new();
        for k in 0..peers {
            let a = format!("10.0.1.{}:26379", k + 1);
            let rid = runid(char::from(b'1' + k as u8));
            st.add_sentinel(MASTER, addr(&a), Some(rid), T0).unwrap();
            peer_map.insert(
                a,
                Peer {
                    alive: true,
                    sees_down: false,
                    redoubt: true,
                    votes: BTreeMap::new(),
                },
            );
        }
        let mut w = World {
            st,
            now: T0,
            nodes,
            peers: peer_map,
            inflight: VecDeque::new(),
            actions: Vec::new(),
            sends: Vec::new(),
        };
        let ids: Vec<u64> = w.instances().map(|i| i.id).collect();
        for id in ids {
            w.link_up(id);
        }
        w
    }

    pub fn master(&self) -> &Master {
        &self.st.masters[MASTER]
    }

    pub fn master_mut(&mut self) -> &mut Master {
        self.st.masters.get_mut(MASTER).unwrap()
    }

    fn instances(&self) -> impl Iterator<Item = &Instance> {
        let m = self.master();
        std::iter::once(&m.inst)
            .chain(m.replicas.iter())
            .chain(m.sentinels.iter())
    }

    pub fn inst(&self, id: u64) -> &Instance {
        self.master().instance(id).unwrap()
    }

    pub fn inst_mut(&mut self, id: u64) -> &mut Instance {
        self.master_mut().instance_mut(id).unwrap()
    }

    /// The id of the replica or sentinel at `a` (the master's otherwise).
    pub fn id_of(&self, a: &str) -> u64 {
        let a = addr(a);
        self.instances().find(|i| i.addr == a).unwrap().id
    }

    /// Gives instance `id` established links, as if they had connected at
    /// the current time.
    pub fn link_up(&mut self, id: u64) {
        let gen_cmd = self.st.next_id();
        let gen_ps = self.st.next_id();
        let now = self.now;
        let i = self.inst_mut(id);
        let up = |gen| Link {
            gen,
            connected: true,
            since: now,
            pending: 0,
            local_ip: "10.0.9.9".into(),
        };
        i.links.cmd = Some(up(gen_cmd));
        if i.kind != crate::state::Kind::Sentinel {
            i.links.pubsub = Some(up(gen_ps));
        }
        i.links.last_reconn_time = now;
    }

    /// Runs one timer period 100 ms later, then delivers every reply.
    pub fn tick(&mut self) -> Vec<Action> {
        self.now += 100;
        self.st.mono = self.now - T0 + MONO0;
        let a = monitor::tick(&mut self.st, self.now);
        let start = self.actions.len();
        self.perform(a);
        self.deliver();
        self.actions[start..].to_vec()
    }

    /// Ticks for `ms` milliseconds.
    pub fn run(&mut self, ms: i64) -> Vec<Action> {
        let mut all = Vec::new();
        for _ in 0..ms / 100 {
            all.extend(self.tick());
        }
        all
    }

    /// Ticks until `cond` holds, at most `ms`; returns whether it held.
    pub fn run_until(&mut self, ms: i64, mut cond: impl FnMut(&World) -> bool) -> bool {
        for _ in 0..ms / 100 {
            if cond(self) {
                return true;
            }
            self.tick();
        }
        cond(self)
    }

    /// Hands one link event to the core and performs what comes back.
    pub fn event(&mut self, link: LinkId, ev: LinkEvent) -> Vec<Action> {
        self.st.mono = self.now - T0 + MONO0;
        let a = monitor::on_link_event(&mut self.st, link, ev, self.now);
        let start = self.actions.len();
        self.perform(a);
        self.actions[start..].to_vec()
    }

    /// A reply on the command link of `id`, as the link would deliver it.
    pub fn reply(&mut self, id: u64, tag: Tag, frame: Frame) -> Vec<Action> {
        let gen = self.inst(id).links.cmd.as_ref().unwrap().gen;
        let link = LinkId {
            inst: id,
            kind: LinkKind::Cmd,
            gen,
        };
        self.event(link, LinkEvent::Reply(tag, frame))
    }

    /// The server at `a` dies: its connections close, it answers nothing.
    pub fn kill(&mut self, a: &str) {
        self.nodes.get_mut(a).unwrap().alive = false;
        let id = self.id_of(a);
        self.close_links_of(id);
    }

    /// The sentinel at `a` dies.
    pub fn kill_peer(&mut self, a: &str) {
        self.peers.get_mut(a).unwrap().alive = false;
        let id = self.id_of(a);
        self.close_links_of(id);
    }

    fn close_links_of(&mut self, id: u64) {
        let i = self.inst(id);
        let mut links = Vec::new();
        for (kind, l) in [
            (LinkKind::Cmd, &i.links.cmd),
            (LinkKind::PubSub, &i.links.pubsub),
        ] {
            if let Some(l) = l {
                links.push(LinkId {
                    inst: id,
                    kind,
                    gen: l.gen,
                });
            }
        }
        for l in links {
            self.inflight.push_back((l, LinkEvent::Closed));
        }
        self.deliver();
    }

    fn deliver(&mut self) {
        while let Some((link, ev)) = self.inflight.pop_front() {
            let a = monitor::on_link_event(&mut self.st, link, ev, self.now);
            self.perform(a);
        }
    }

    /// The address of instance `inst`, if the state still has it.
    fn addr_of(&self, inst: u64) -> Option<String> {
        self.master().instance(inst).map(|i| i.addr.to_string())
    }

    fn perform(&mut self, actions: Vec<Action>) {
        for a in actions {
            match &a {
                Action::Connect { link, addr } => {
                    let a = addr.to_string();
                    let alive = self.nodes.get(&a).map(|n| n.alive).unwrap_or(false)
                        || self.peers.get(&a).map(|p| p.alive).unwrap_or(false);
                    let ev = if alive {
                        LinkEvent::Connected {
                            local_ip: "10.0.9.9".into(),
                        }
                    } else {
                        LinkEvent::Closed
                    };
                    self.inflight.push_back((*link, ev));
                }
                Action::Send { link, cmds } if link.kind == LinkKind::Cmd => {
                    let a = self.addr_of(link.inst).unwrap_or_default();
                    for c in cmds {
                        let args = c
                            .args
                            .iter()
                            .map(|x| String::from_utf8_lossy(x).into_owned())
                            .collect();
                        self.sends.push((a.clone(), args));
                        if let Some(f) = self.answer(link.inst, c) {
                            self.inflight.push_back((*link, LinkEvent::Reply(c.tag, f)));
                        }
                    }
                }
                _ => {}
            }
            self.actions.push(a);
        }
    }

    /// What the instance answers to `c`, if it answers.
    fn answer(&mut self, inst: u64, c: &Cmd) -> Option<Frame> {
        let a = self.addr_of(inst)?;
        let arg = |k: usize| {
            String::from_utf8_lossy(c.args.get(k).map(Vec::as_slice).unwrap_or(b"")).into_owned()
        };
        let name = arg(0).to_ascii_uppercase();
        if let Some(p) = self.peers.get_mut(&a) {
            if !p.alive {
                return None;
            }
            return Some(match name.as_str() {
                "SENTINEL" => {
                    let epoch: u64 = arg(4).parse().unwrap();
                    let req = arg(5);
                    let (leader, ep) = if req == "*" {
                        ("*".to_string(), 0)
                    } else {
                        let v = p.votes.entry(epoch).or_insert(req).clone();
                        (v, epoch)
                    };
                    Frame::Array(vec![
                        Frame::Integer(i64::from(p.sees_down)),
                        Frame::Bulk(leader.into_bytes()),
                        Frame::Integer(ep as i64),
                    ])
                }
                "PING" => Frame::Simple(b"PONG".to_vec()),
                "INFO" if p.redoubt => Frame::Bulk(
                    b"# Server\r\nredis_version:7.0.15\r\nredoubt_version:0.1.0\r\n".to_vec(),
                ),
                "INFO" => Frame::Bulk(b"# Server\r\nredis_version:7.0.15\r\n".to_vec()),
                _ => Frame::Simple(b"OK".to_vec()),
            });
        }
        let followers: Vec<Addr> = {
            let me = addr(&a);
            let mut f: Vec<(&String, &Node)> = self
                .nodes
                .iter()
                .filter(|(_, n)| n.alive && !n.role_master && n.master.as_ref() == Some(&me))
                .collect();
            f.sort_by_key(|(k, _)| (*k).clone());
            f.into_iter().map(|(k, _)| addr(k)).collect()
        };
        let server_clock = self.now - T0 + SERVER_MONO0;
        let n = self.nodes.get_mut(&a)?;
        if !n.alive {
            return None;
        }
        if name == "REPLCONF" && arg(1) == "sentinel-lease" {
            if !n.knows_lease {
                return Some(Frame::Error(
                    b"ERR Unrecognized REPLCONF option: sentinel-lease".to_vec(),
                ));
            }
            n.grants.push(arg(2));
            return Some(Frame::Integer(server_clock));
        }
        Some(match name.as_str() {
            "PING" if n.loading => {
                Frame::Error(b"LOADING Redis is loading the dataset in memory".to_vec())
            }
            "PING" => Frame::Simple(b"PONG".to_vec()),
            "INFO" if !n.answers_info => return None,
            "INFO" => Frame::Bulk(info_text(n, &followers).into_bytes()),
            "PUBLISH" => Frame::Integer(1),
            "SLAVEOF" if !n.obeys_slaveof => Frame::Simple(b"QUEUED".to_vec()),
            "SLAVEOF" if arg(1) == "NO" => {
                n.role_master = true;
                n.master = None;
                Frame::Simple(b"QUEUED".to_vec())
            }
            "SLAVEOF" => {
                n.role_master = false;
                n.master = Some(Addr::new(&arg(1), arg(2).parse().unwrap()));
                n.link_up = true;
                Frame::Simple(b"QUEUED".to_vec())
            }
            _ => Frame::Simple(b"OK".to_vec()),
        })
    }

    /// Event names (`+sdown`, ...) in `actions`, in order.
    pub fn names(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Event { kind, .. } => Some(kind.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every event name emitted so far.
    pub fn all_names(&self) -> Vec<String> {
        World::names(&self.actions)
    }

    /// The payload of the last event `kind`.
    pub fn payload(&self, kind: &str) -> Option<String> {
        self.actions.iter().rev().find_map(|a| match a {
            Action::Event {
                kind: k, payload, ..
            } if k == kind => Some(payload.clone()),
            _ => None,
        })
    }

    /// Commands named `name` sent so far to the instance at `a`.
    pub fn sent(&self, a: &str, name: &str) -> Vec<Vec<String>> {
        self.sends
            .iter()
            .filter(|(to, args)| to == a && args[0].eq_ignore_ascii_case(name))
            .map(|(_, args)| args.clone())
            .collect()
    }
}
