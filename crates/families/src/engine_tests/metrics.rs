//! Tests of `server::metrics` that run real commands (they need the families).

use crate::testkit::Kit;
use server::metrics::*;

#[test]
fn server_metrics_cover_the_issue_list() {
    let mut kit = Kit::new();
    kit.run(&["SET", "k", "v"]);
    let text = server_metrics(&mut kit.srv);
    for name in [
        "redoubt_is_master 1",
        "redoubt_master_repl_offset",
        "redoubt_sync_partial_err_total",
        "redoubt_connected_clients",
        "redoubt_command_calls_total{cmd=\"set\"} 1",
        "redoubt_keys{db=\"0\"} 1",
        "redoubt_memory_used_bytes",
        "redoubt_evicted_keys_total",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
}
