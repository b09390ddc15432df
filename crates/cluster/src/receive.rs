//! Bus messages coming in: [`ClusterState::receive`] applies one message
//! as Redis's `clusterProcessPacket` does (handshakes, addresses and roles
//! from the header, gossip about third nodes, FAIL, UPDATE, PUBLISH, the
//! votes of an election) and returns the [`Effects`] the engine carries
//! out.

use crate::msg::{self, Body, Gossip, Header, Message};
use crate::node::{flags, random_name, Name, Node};
use crate::state::{ClusterState, Effects, LinkInfo};
use crate::SLOTS;

impl ClusterState {
    /// Processes one message from the bus (Redis's `clusterProcessPacket`
    /// for PING, PONG, MEET, FAIL and UPDATE).
    pub fn receive(
        &mut self,
        m: &Message,
        link: &LinkInfo,
        now: u64,
        own_ip_announced: bool,
    ) -> Effects {
        let mut fx = Effects::default();
        let h = &m.header;
        if let Some(c) = self.stats_received.get_mut(h.kind as usize) {
            *c += 1;
        }
        let sender_known = self.node(&h.sender).is_some_and(|n| !n.in_handshake());
        if sender_known {
            if h.current_epoch > self.current_epoch {
                self.current_epoch = h.current_epoch;
                fx.save = true;
            }
            if let Some(s) = self.node_mut(&h.sender) {
                if h.config_epoch > s.config_epoch && h.slaveof.is_none() {
                    s.config_epoch = h.config_epoch;
                    fx.save = true;
                }
                s.repl_offset = h.offset;
            }
        }
        let is_ping = matches!(h.kind, msg::types::PING | msg::types::MEET);
        if is_ping {
            // Learn our own address from the socket the MEET came on,
            // unless one is announced.
            if !own_ip_announced
                && (h.kind == msg::types::MEET || self.me().ip.is_empty())
                && !link.local_ip.is_empty()
                && self.me().ip != link.local_ip
            {
                self.me_mut().ip = link.local_ip.clone();
                fx.save = true;
            }
            if !sender_known && self.node(&h.sender).is_none() && h.kind == msg::types::MEET {
                let mut n = Node::new(random_name(), flags::HANDSHAKE, now);
                n.ip = if h.myip.is_empty() {
                    link.peer_ip.clone()
                } else {
                    h.myip.clone()
                };
                n.port = h.port;
                n.pport = h.pport;
                n.cport = h.cport;
                self.nodes.push(n);
                fx.save = true;
                if let Body::Ping { gossip, .. } = &m.body {
                    self.process_gossip(gossip, None, now, &mut fx);
                }
            }
            fx.reply = Some(msg::types::PONG);
        }
        match h.kind {
            msg::types::PING | msg::types::PONG | msg::types::MEET => {
                if let Some(link_node) = link.node {
                    let in_handshake = self.node(&link_node).is_some_and(|n| n.in_handshake());
                    if in_handshake {
                        if sender_known {
                            // Already known under its real name: update its
                            // address and drop the handshake duplicate.
                            self.update_address(&h.sender, &link.peer_ip, h, &mut fx);
                            self.del_node(&link_node);
                            fx.removed.push(link_node);
                            fx.drop_link = true;
                            fx.save = true;
                            return fx;
                        }
                        if let Some(n) = self.node_mut(&link_node) {
                            n.name = h.sender;
                            n.flags &= !(flags::HANDSHAKE | flags::MEET);
                            n.flags |= h.flags & (flags::MASTER | flags::SLAVE);
                        }
                        fx.renamed = Some((link_node, h.sender));
                        fx.save = true;
                        fx.update_state = true;
                    } else if link_node != h.sender {
                        // The address now answers with another name: it is
                        // not the node we knew; forget its address.
                        if let Some(n) = self.node_mut(&link_node) {
                            n.flags |= flags::NOADDR;
                            n.ip.clear();
                            n.port = 0;
                            n.cport = 0;
                        }
                        fx.drop_link = true;
                        fx.save = true;
                        return fx;
                    }
                }
                let sender_known = self.node(&h.sender).is_some_and(|n| !n.in_handshake());
                if sender_known && h.kind == msg::types::PING && link.node.is_none() {
                    self.update_address(&h.sender, &link.peer_ip, h, &mut fx);
                }
                if link.node.is_some() && h.kind == msg::types::PONG {
                    let undo_after = self.node_timeout.saturating_mul(2);
                    if let Some(n) = self.node_mut(&h.sender) {
                        n.pong_received = now;
                        n.ping_sent = 0;
                        if n.has(flags::PFAIL) {
                            n.flags &= !flags::PFAIL;
                            fx.update_state = true;
                        } else if n.has(flags::FAIL)
                            && (n.is_replica()
                                || n.slots.count() == 0
                                || now.saturating_sub(n.fail_time) > undo_after)
                        {
                            // Reachable again: a replica or an empty
                            // master at once; a master still serving its
                            // slots once nobody took them over for two
                            // node timeouts (Redis's
                            // clearNodeFailureIfNeeded).
                            n.flags &= !flags::FAIL;
                            fx.update_state = true;
                            fx.save = true;
                        }
                    }
                }
                if !sender_known {
                    return fx;
                }
                // NOFAILOVER is the sender's to say, every time (replicas
                // rank themselves among those that may fail over).
                if let Some(n) = self.node_mut(&h.sender) {
                    let nofailover = h.flags & flags::NOFAILOVER;
                    if n.flags & flags::NOFAILOVER != nofailover {
                        n.flags = (n.flags & !flags::NOFAILOVER) | nofailover;
                        fx.save = true;
                    }
                }
                if let Body::Ping { hostname, .. } = &m.body {
                    let hn = hostname.clone().unwrap_or_default();
                    if let Some(n) = self.node_mut(&h.sender) {
                        if n.hostname != hn {
                            n.hostname = hn;
                            fx.save = true;
                        }
                    }
                }
                // Our master, paused for a manual failover, tells the
                // offset we must reach before the election.
                let from_master = self.me().master == Some(h.sender);
                if from_master
                    && h.mflags[0] & msg::FLAG0_PAUSED != 0
                    && self.election.manual_until != 0
                    && self.election.manual_master_offset.is_none()
                {
                    self.election.manual_master_offset = Some(h.offset);
                }
                self.update_role(h, &mut fx);
                if h.slaveof.is_none() {
                    let differ = self.node(&h.sender).is_some_and(|n| n.slots != h.myslots);
                    if differ {
                        let (changed, dirty) =
                            self.update_slots_with(&h.sender, h.config_epoch, &h.myslots);
                        fx.dirty_slots.extend(dirty);
                        if changed {
                            fx.save = true;
                            fx.update_state = true;
                        }
                    }
                    // The sender claims a slot whose owner has a newer
                    // epoch: tell it (UPDATE). As in Redis, only when its
                    // claim differs from what we hold for it.
                    if differ {
                        let mut owners = self.owners();
                        for s in 0..SLOTS {
                            if !h.myslots.get(s) {
                                continue;
                            }
                            if let Some(owner) = owners.owner(s) {
                                if owner.name != h.sender && owner.config_epoch > h.config_epoch {
                                    fx.send_update_about = Some(owner.name);
                                    break;
                                }
                            }
                        }
                    }
                    if self.handle_epoch_collision(&h.sender) {
                        fx.save = true;
                    }
                }
                if let Body::Ping { gossip, .. } = &m.body {
                    let sender = h.sender;
                    self.process_gossip(gossip, Some(sender), now, &mut fx);
                }
            }
            msg::types::FAIL => {
                if let (true, Body::Fail { about }) = (sender_known, &m.body) {
                    if let Some(n) = self.node_mut(about) {
                        if !n.has(flags::FAIL | flags::MYSELF) {
                            n.flags |= flags::FAIL;
                            n.flags &= !flags::PFAIL;
                            n.fail_time = now;
                            fx.save = true;
                            fx.update_state = true;
                        }
                    }
                }
            }
            msg::types::UPDATE => {
                if let (
                    true,
                    Body::Update {
                        config_epoch,
                        name,
                        slots,
                    },
                ) = (sender_known, &m.body)
                {
                    let newer = self
                        .node(name)
                        .is_some_and(|n| n.config_epoch < *config_epoch);
                    if newer {
                        if let Some(n) = self.node_mut(name) {
                            n.config_epoch = *config_epoch;
                        }
                        let (_, dirty) = self.update_slots_with(name, *config_epoch, slots);
                        fx.dirty_slots.extend(dirty);
                        fx.save = true;
                        fx.update_state = true;
                    }
                }
            }
            msg::types::FAILOVER_AUTH_REQUEST if sender_known => {
                let timeout = self.election.node_timeout.max(1);
                fx.vote = self.grant_vote(h, now, timeout);
            }
            msg::types::PUBLISH | msg::types::PUBLISHSHARD if sender_known => {
                if let Body::Publish { channel, message } = &m.body {
                    let shard = h.kind == msg::types::PUBLISHSHARD;
                    fx.publish = Some((shard, channel.clone(), message.clone()));
                }
            }
            msg::types::MFSTART if sender_known => {
                fx.manual_failover_start = self.manual_failover_requested(&h.sender, now);
            }
            msg::types::FAILOVER_AUTH_ACK if sender_known => {
                self.count_vote(h);
            }
            _ => {}
        }
        fx.follow = self.pending_follow.take();
        fx
    }

    fn update_address(&mut self, name: &Name, peer_ip: &str, h: &Header, fx: &mut Effects) {
        let ip = if h.myip.is_empty() { peer_ip } else { &h.myip };
        if let Some(n) = self.node_mut(name) {
            if n.is_myself() {
                return;
            }
            if n.ip != ip || n.port != h.port || n.cport != h.cport || n.pport != h.pport {
                n.ip = ip.to_string();
                n.port = h.port;
                n.pport = h.pport;
                n.cport = h.cport;
                n.flags &= !flags::NOADDR;
                fx.save = true;
            }
        }
    }

    /// Master or replica, as the sender says.
    fn update_role(&mut self, h: &Header, fx: &mut Effects) {
        let Some(n) = self.node_mut(&h.sender) else {
            return;
        };
        match h.slaveof {
            None => {
                if !n.is_master() || n.master.is_some() {
                    // A replica that took over is a master replicas may
                    // migrate to (Redis's `clusterSetNodeAsMaster`).
                    if n.master.is_some() {
                        n.flags |= flags::MIGRATE_TO;
                    }
                    n.flags = (n.flags & !flags::SLAVE) | flags::MASTER;
                    n.master = None;
                    fx.save = true;
                    fx.update_state = true;
                }
            }
            Some(m) => {
                if !n.is_replica() || n.master != Some(m) {
                    n.flags = (n.flags & !flags::MASTER) | flags::SLAVE;
                    n.master = Some(m);
                    fx.save = true;
                    fx.update_state = true;
                }
                // A replica serves no slots of its own.
                let name = n.name;
                if n.slots.count() > 0 {
                    for s in 0..SLOTS {
                        if self.slots[s] == Some(name) {
                            self.del_slot(s);
                        }
                    }
                }
            }
        }
    }

    fn process_gossip(
        &mut self,
        gossip: &[Gossip],
        sender: Option<Name>,
        now: u64,
        fx: &mut Effects,
    ) {
        let sender_is_master = sender
            .and_then(|s| self.node(&s))
            .is_some_and(|n| n.is_master());
        for g in gossip {
            if self.node(&g.name).is_some() {
                if let (true, Some(s)) = (sender_is_master, sender) {
                    if g.name != self.myself {
                        let failing = g.flags & (flags::FAIL | flags::PFAIL) != 0;
                        if let Some(n) = self.node_mut(&g.name) {
                            if failing {
                                n.fail_reports.retain(|(r, _)| *r != s);
                                n.fail_reports.push((s, now));
                            } else {
                                n.fail_reports.retain(|(r, _)| *r != s);
                            }
                        }
                        if failing && self.mark_failing_if_needed(&g.name, now, u64::MAX) {
                            fx.broadcast_fail.push(g.name);
                            fx.save = true;
                            fx.update_state = true;
                        }
                    }
                }
                if let Some(n) = self.node_mut(&g.name).filter(|n| !n.is_myself()) {
                    if g.flags & (flags::FAIL | flags::PFAIL) == 0
                        && n.ping_sent == 0
                        && n.fail_reports.is_empty()
                    {
                        let pong = g.pong_received as u64 * 1000;
                        if pong <= now + 500 && pong > n.pong_received {
                            n.pong_received = pong;
                        }
                    }
                    if n.has(flags::FAIL | flags::PFAIL)
                        && g.flags & (flags::NOADDR | flags::FAIL | flags::PFAIL) == 0
                        && (!n.ip.eq_ignore_ascii_case(&g.ip)
                            || n.port != g.port
                            || n.cport != g.cport)
                    {
                        n.ip = g.ip.clone();
                        n.port = g.port;
                        n.pport = g.pport;
                        n.cport = g.cport;
                        n.flags &= !flags::NOADDR;
                        n.link_up = false;
                    }
                }
            } else if sender.is_some()
                && g.flags & flags::NOADDR == 0
                && !self.blacklisted(&g.name, now)
            {
                let mut n = Node::new(g.name, g.flags & !(flags::MYSELF), now);
                n.ip = g.ip.clone();
                n.port = g.port;
                n.pport = g.pport;
                n.cport = g.cport;
                self.nodes.push(n);
                fx.save = true;
            }
        }
    }
}
