//! Tests of `server::persistence::aof` that run real commands (they need the families).

use crate::testkit::Kit;

fn recorded(k: &mut Kit) -> String {
    let f = k.srv.aof.feed.borrow();
    String::from_utf8_lossy(&f.buf).replace("\r\n", " ")
}

#[test]
fn the_aof_has_its_own_selected_db_and_records_effects() {
    let mut k = Kit::new();
    k.srv.aof.feed.borrow_mut().on = true;
    k.run(&["SET", "a", "1"]);
    k.run(&["SELECT", "2"]);
    k.run(&["SETEX", "b", "100", "v"]);
    k.run(&["GET", "b"]);
    let text = recorded(&mut k);
    let parts: Vec<&str> = text.split("*").filter(|s| !s.is_empty()).collect();
    assert_eq!(parts[0], "2 $6 SELECT $1 0 ");
    assert_eq!(parts[1], "3 $3 SET $1 a $1 1 ");
    assert_eq!(parts[2], "2 $6 SELECT $1 2 ");
    assert!(
        parts[3].starts_with("5 $3 SET $1 b $1 v $4 PXAT "),
        "{text}"
    );
    assert_eq!(parts.len(), 4, "{text}");
    assert_eq!(
        k.srv.aof.feed.borrow().appended as usize,
        k.srv.aof.feed.borrow().buf.len()
    );
}

#[test]
fn timestamps_annotate_the_first_command_of_a_second() {
    let mut k = Kit::new();
    {
        let mut f = k.srv.aof.feed.borrow_mut();
        f.on = true;
    }
    k.run(&["CONFIG", "SET", "aof-timestamp-enabled", "yes"]);
    k.run(&["SET", "a", "1"]);
    k.run(&["SET", "a", "2"]);
    let text = recorded(&mut k);
    assert!(text.starts_with("#TS:"), "{text}");
    // One per second: two only if the clock turned between the SETs.
    assert!(text.matches("#TS:").count() <= 2, "{text}");
}

#[test]
fn nothing_is_recorded_while_the_aof_is_off() {
    let mut k = Kit::new();
    k.run(&["SET", "a", "1"]);
    assert_eq!(recorded(&mut k), "");
}
