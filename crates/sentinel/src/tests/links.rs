//! The links to an instance as Redis Sentinel keeps them: what makes the
//! instance `disconnected`, and a Pub/Sub link refused by the instance
//! (obsolete credentials) dropped rather than kept half-alive.

use super::*;

/// The current Pub/Sub link of instance `id`.
fn pubsub_link(w: &World, id: u64) -> LinkId {
    let gen = w.inst(id).links.pubsub.as_ref().expect("pubsub link").gen;
    LinkId {
        inst: id,
        kind: LinkKind::PubSub,
        gen,
    }
}

/// Drops the Pub/Sub link of the master and lets the timer make a new
/// one; returns it, connected.
fn new_pubsub_link(w: &mut World) -> LinkId {
    let id = w.master().inst.id;
    w.inst_mut(id).links.pubsub = None;
    w.inst_mut(id).links.last_reconn_time = 0;
    w.tick();
    let link = pubsub_link(w, id);
    w.event(
        link,
        LinkEvent::Connected {
            local_ip: "10.0.9.9".into(),
        },
    );
    link
}

fn simple(s: &str) -> Frame {
    Frame::Simple(s.as_bytes().to_vec())
}

fn error(s: &str) -> Frame {
    Frame::Error(s.as_bytes().to_vec())
}

#[test]
fn a_missing_pubsub_link_makes_a_master_or_replica_disconnected() {
    let mut w = World::new(1, 1, 1);
    let m = w.master().inst.id;
    let r = w.id_of("10.0.0.2:6379");
    let p = w.id_of("10.0.1.1:26379");
    for id in [m, r, p] {
        assert!(!w.inst(id).disconnected());
    }
    w.inst_mut(m).links.pubsub = None;
    w.inst_mut(r).links.cmd = None;
    assert!(w.inst(m).disconnected());
    assert!(w.inst(r).disconnected());
    // Sentinels have no Pub/Sub link: only the command link counts.
    assert!(w.inst(p).links.pubsub.is_none());
    assert!(!w.inst(p).disconnected());
    // A link being established is not missing (as with hiredis).
    w.inst_mut(m).links.pubsub = Some(Link::new(99));
    assert!(!w.inst(m).links.pubsub.as_ref().unwrap().connected);
    assert!(!w.inst(m).disconnected());
}

#[test]
fn a_pubsub_link_whose_subscribe_is_refused_is_dropped() {
    let mut w = World::new(1, 0, 1);
    w.master_mut().auth_pass = Some("secret".into());
    let link = new_pubsub_link(&mut w);
    let m = w.master().inst.id;
    // AUTH, CLIENT SETNAME, SUBSCRIBE went out; two replies are owed
    // before the subscription's.
    let sent = w
        .actions
        .iter()
        .rev()
        .find_map(|a| match a {
            Action::Send { link: l, cmds } if *l == link => Some(cmds.clone()),
            _ => None,
        })
        .expect("commands on the new link");
    let names: Vec<&[u8]> = sent.iter().map(|c| c.args[0].as_slice()).collect();
    assert_eq!(names, [&b"AUTH"[..], b"CLIENT", b"SUBSCRIBE"]);
    assert_eq!(w.inst(m).links.pubsub.as_ref().unwrap().pending, 2);
    // A wrong password and a refused name leave the link up...
    w.event(
        link,
        LinkEvent::Message(error("WRONGPASS invalid username-password pair")),
    );
    w.event(
        link,
        LinkEvent::Message(error("NOAUTH Authentication required.")),
    );
    assert!(w.inst(m).links.pubsub.is_some());
    // ...the refused SUBSCRIBE drops it: the master shows disconnected.
    let acts = w.event(
        link,
        LinkEvent::Message(error("NOAUTH Authentication required.")),
    );
    assert!(acts.contains(&Action::Close { link }), "{acts:?}");
    assert!(w.inst(m).links.pubsub.is_none());
    assert!(w.inst(m).disconnected());
    // The next attempt comes a ping period after the last one.
    let t = w.st.timing.ping_period;
    assert!(w.run_until(t + 100, |w| w.inst(m).links.pubsub.is_some()));
    assert!(!w.inst(m).disconnected());
}

#[test]
fn a_pubsub_link_whose_subscribe_succeeds_stays() {
    let mut w = World::new(1, 0, 1);
    let link = new_pubsub_link(&mut w);
    let m = w.master().inst.id;
    w.event(link, LinkEvent::Message(simple("OK")));
    let confirm = Frame::Array(vec![
        Frame::Bulk(b"subscribe".to_vec()),
        Frame::Bulk(b"__sentinel__:hello".to_vec()),
        Frame::Integer(1),
    ]);
    w.event(link, LinkEvent::Message(confirm));
    assert!(w.inst(m).links.pubsub.is_some());
    assert!(!w.inst(m).disconnected());
}
