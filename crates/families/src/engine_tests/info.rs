//! Tests of `server::info` that run real commands (they need the families).

use crate::testkit::Kit;

#[test]
fn default_sections_in_order_and_server_ends_with_our_version() {
    let mut k = Kit::new();
    let text = k.run(&["INFO"]);
    let heads: Vec<&str> = text.split("\r\n").filter(|l| l.starts_with("# ")).collect();
    assert_eq!(
        heads,
        vec![
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Modules",
            "# Errorstats",
            "# Cluster",
            "# Keyspace"
        ]
    );
    let server = k.run(&["INFO", "server"]);
    let names = field_names(&server);
    assert_eq!(names.first().map(String::as_str), Some("redis_version"));
    assert_eq!(names.last().map(String::as_str), Some("redoubt_version"));
    assert!(server.contains("redis_version:7.0.15\r\n"));
}

#[test]
fn unknown_section_is_empty_and_sections_are_not_repeated() {
    let mut k = Kit::new();
    assert_eq!(k.run(&["INFO", "nosuch"]), "$0\r\n\r\n");
    let t = k.run(&["INFO", "cluster", "CLUSTER"]);
    assert_eq!(t, "$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n");
}

#[test]
fn keyspace_errorstats_and_commandstats() {
    let mut k = Kit::new();
    k.run(&["SET", "a", "1"]);
    k.run(&["SET", "b", "1", "EX", "100"]);
    k.run(&["GET", "a", "b"]);
    let t = k.run(&["INFO", "keyspace", "errorstats", "commandstats"]);
    assert!(t.contains("db0:keys=2,expires=1,avg_ttl="), "{t}");
    assert!(t.contains("errorstat_ERR:count=1\r\n"), "{t}");
    assert!(t.contains("cmdstat_set:calls=2,usec="), "{t}");
    assert!(
        t.contains("cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"),
        "{t}"
    );
}

fn field_names(text: &str) -> Vec<String> {
    text.split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('$'))
        .filter_map(|l| l.split(':').next().map(str::to_string))
        .collect()
}
