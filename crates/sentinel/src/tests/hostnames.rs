//! Host names (`resolve-hostnames`, `announce-hostnames`): an address
//! keeps the name it was given and the IP it resolved to; links use the
//! IP, and what the sentinel shows and tells others is the IP, or the
//! name with `announce-hostnames yes`, as Redis Sentinel does.

use super::*;
use crate::action::Out;
use crate::events::describe;
use crate::info::refresh_info;
use crate::state::Addr;

/// The DNS of these tests.
fn dns(host: &str) -> Option<String> {
    match host {
        "db1.example" => Some("10.0.0.1".into()),
        "db2.example" => Some("10.0.0.2".into()),
        _ => None,
    }
}

fn sentinel(resolve: bool, announce: bool) -> Sentinel {
    let mut st = Sentinel::new("/nonexistent/sentinel.conf".into(), 26379);
    st.resolver = dns;
    st.globals.resolve_hostnames = resolve;
    st.globals.announce_hostnames = announce;
    st
}

#[test]
fn a_host_name_needs_resolve_hostnames() {
    let st = sentinel(false, false);
    assert_eq!(
        st.make_addr("10.0.0.9", 6379, false),
        Some(addr("10.0.0.9:6379"))
    );
    assert_eq!(st.make_addr("db1.example", 6379, true), None);
    let mut st = Sentinel::new("/x".into(), 26379);
    assert!(st.add_master("m", "db1.example", 6379, 1, T0).is_err());
    st.resolver = dns;
    st.globals.resolve_hostnames = true;
    st.add_master("m", "db1.example", 6379, 1, T0).unwrap();
    let a = &st.masters["m"].inst.addr;
    assert_eq!(
        (a.host.as_str(), a.ip.as_str()),
        ("db1.example", "10.0.0.1")
    );
    assert_eq!(a.connect_host(), "10.0.0.1");
}

#[test]
fn an_unresolved_name_is_kept_only_where_redis_keeps_it() {
    let st = sentinel(true, false);
    assert_eq!(st.make_addr("gone.example", 6379, false), None);
    let a = st.make_addr("gone.example", 6379, true).unwrap();
    assert_eq!((a.host.as_str(), a.ip.as_str()), ("gone.example", ""));
    assert_eq!(a.connect_host(), "gone.example");
}

#[test]
fn the_same_address_by_ip_or_by_name() {
    let st = sentinel(true, false);
    let by_name = st.make_addr("db1.example", 6379, false).unwrap();
    assert_eq!(by_name, addr("10.0.0.1:6379"));
    assert_ne!(by_name, addr("10.0.0.1:6380"));
    assert!(st.addr_is(&by_name, "db1.example"));
    assert!(st.addr_is(&by_name, "10.0.0.1"));
    assert!(!st.addr_is(&by_name, "db2.example"));
    // Without resolve-hostnames a name is compared as it is.
    let st = sentinel(false, false);
    assert!(!st.addr_is(&by_name, "db1.example"));
    assert!(st.addr_is(&by_name, "10.0.0.1"));
}

/// The master lists a replica by the name it announces
/// (`replica-announce-ip db2.example`): it is resolved, named and shown
/// by IP, or by name with `announce-hostnames yes`.
#[test]
fn replicas_announced_by_name_are_shown_as_announce_hostnames_says() {
    for (announce, shown) in [(false, "10.0.0.2"), (true, "db2.example")] {
        let mut st = sentinel(true, announce);
        st.add_master(MASTER, "db1.example", 6379, 1, T0).unwrap();
        let id = st.masters[MASTER].inst.id;
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n\
                    slave0:ip=db2.example,port=6380,state=online,offset=0,lag=0\r\n";
        let mut out = Out::new();
        refresh_info(&mut st, &mut out, MASTER, id, info, T0 + 100);
        let m = &st.masters[MASTER];
        assert_eq!(m.replicas.len(), 1);
        let r = &m.replicas[0];
        assert_eq!(r.addr.ip, "10.0.0.2");
        assert_eq!(r.name, format!("{shown}:6380"));
        let master_shown = if announce { "db1.example" } else { "10.0.0.1" };
        assert_eq!(
            describe(&st, m, r),
            format!("slave {shown}:6380 {shown} 6380 @ {MASTER} {master_shown} 6379")
        );
        assert_eq!(World::names(&out.actions), ["+slave"]);
    }
}

/// A replica whose INFO names its master by host name follows it: it is
/// not "fixed"; one following another address is, after the wait.
#[test]
fn a_replica_naming_its_master_by_name_follows_it() {
    for (its_master, fixed) in [("db1.example", false), ("10.0.0.9", true)] {
        let mut w = World::new(1, 0, 1);
        w.st.resolver = dns;
        w.st.globals.resolve_hostnames = true;
        w.nodes.get_mut("10.0.0.2:6379").unwrap().master = Some(Addr::new(its_master, 6379));
        w.run(2 * FAILOVER_TIMEOUT + 11_000);
        assert_eq!(
            w.all_names().contains(&"+fix-slave-config".to_string()),
            fixed,
            "{its_master}"
        );
    }
}
